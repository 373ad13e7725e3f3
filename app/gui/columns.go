package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// columns lays out one row of a table: the first cell takes the width the
// others leave, each other cell gets the fixed width listed. A screen's
// header and rows share one value, so their columns line up.
type columns []float32

func (c columns) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var size fyne.Size
	for i, o := range objects {
		min := o.MinSize()
		size.Height = max(size.Height, min.Height)
		if i == 0 {
			size.Width += min.Width
		} else {
			size.Width += c.width(i) + theme.Padding()
		}
	}
	return size
}

func (c columns) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	x := size.Width
	for i := len(objects) - 1; i > 0; i-- {
		x -= c.width(i)
		objects[i].Move(fyne.NewPos(x, 0))
		objects[i].Resize(fyne.NewSize(c.width(i), size.Height))
		x -= theme.Padding()
	}
	if len(objects) > 0 {
		objects[0].Move(fyne.NewPos(0, 0))
		objects[0].Resize(fyne.NewSize(max(x, 0), size.Height))
	}
}

// width is the width of cell i (i ≥ 1).
func (c columns) width(i int) float32 {
	if i-1 < len(c) {
		return c[i-1]
	}
	return 0
}

// row lays cells out as one row of the table c.
func (c columns) row(cells ...fyne.CanvasObject) *fyne.Container {
	return container.New(c, cells...)
}

// header is the bold title row of the table c.
func (c columns) header(titles ...string) *fyne.Container {
	cells := make([]fyne.CanvasObject, len(titles))
	for i, t := range titles {
		cells[i] = widget.NewLabelWithStyle(t, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	return c.row(cells...)
}

// cell is a label for a table cell: one line, cut with an ellipsis when
// the column is too narrow, so rows keep their height.
func cell() *widget.Label {
	l := widget.NewLabel("")
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// setText sets the text of l if it changed: a screen refreshed every
// second then redraws only the labels whose numbers moved.
func setText(l *widget.Label, text string) {
	if l.Text != text {
		l.SetText(text)
	}
}
