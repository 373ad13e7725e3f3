package gui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/core/trackerapi"
)

// networkColumns are the widths of the content table after the name:
// size, holders, availability.
var networkColumns = columns{90, 130, 100}

// networkPage is how many contents one listing shows; the filter narrows
// it down.
const networkPage = 200

// networkScreen lists what the connected trackers offer and downloads a
// content picked from the list or a pasted share link.
type networkScreen struct {
	u        *UI
	link     *widget.Entry
	getLink  *widget.Button
	filter   *widget.Entry
	list     *widget.List
	download *widget.Button
	status   *widget.Label
	tab      *container.TabItem

	contents []trackerapi.ContentInfo
	selected int // index into contents, -1 for none
	asked    int // number of the latest listing asked for; older answers are dropped
}

func newNetworkScreen(u *UI) *networkScreen {
	s := &networkScreen{u: u, selected: -1}
	s.buildUI()
	return s
}

func (s *networkScreen) buildUI() {
	s.link = widget.NewEntry()
	s.link.SetPlaceHolder("Paste a share link: peerflow://…")
	s.link.OnSubmitted = func(string) { s.openLink() }
	s.getLink = widget.NewButtonWithIcon("Download link", theme.DownloadIcon(), s.openLink)

	s.filter = widget.NewEntry()
	s.filter.SetPlaceHolder("Filter by name")
	s.filter.ActionItem = widget.NewIcon(theme.SearchIcon())
	s.filter.OnChanged = func(string) { s.reload() }
	refresh := widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), s.reload)
	s.download = widget.NewButtonWithIcon("Download", theme.DownloadIcon(), s.downloadSelected)
	s.download.Importance = widget.HighImportance
	s.download.Disable()

	s.list = widget.NewList(
		func() int { return len(s.contents) },
		func() fyne.CanvasObject { return networkColumns.row(cell(), cell(), cell(), cell()) },
		s.updateRow,
	)
	s.list.OnSelected = func(id widget.ListItemID) { s.selected = id; s.download.Enable() }
	s.list.OnUnselected = func(widget.ListItemID) { s.selected = -1; s.download.Disable() }
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord

	top := container.NewVBox(
		widget.NewLabelWithStyle("Open a share link", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewBorder(nil, nil, nil, s.getLink, s.link),
		widget.NewSeparator(),
		widget.NewLabelWithStyle("On the network", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewBorder(nil, nil, nil, container.NewHBox(refresh, s.download), s.filter),
		networkColumns.header("Name", "Size", "Holders", "Availability"),
	)
	s.tab = container.NewTabItemWithIcon(TabNetwork, theme.SearchIcon(), container.NewPadded(container.NewBorder(top, s.status, nil, nil, s.list)))
}

func (s *networkScreen) tabItem() *container.TabItem { return s.tab }

func (s *networkScreen) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(s.contents) {
		return
	}
	c := s.contents[id]
	cells := o.(*fyne.Container).Objects
	cells[0].(*widget.Label).SetText(c.Name)
	cells[1].(*widget.Label).SetText(formatBytes(c.Size))
	cells[2].(*widget.Label).SetText(fmt.Sprintf("%d (%d complete)", c.Holders, c.Seeders))
	cells[3].(*widget.Label).SetText(fmt.Sprintf("%.0f%%", 100*c.Availability))
}

// reload asks the trackers for the contents matching the filter.
func (s *networkScreen) reload() {
	s.asked++
	asked, query := s.asked, strings.TrimSpace(s.filter.Text)
	background(s.u, func(ctx context.Context) (trackerapi.ContentList, error) {
		return s.u.node.Network(ctx, query, 0, networkPage)
	}, func(list trackerapi.ContentList, err error) {
		if asked != s.asked {
			return // the filter changed meanwhile
		}
		if err != nil {
			// Shown in place: listings start by themselves, a dialog
			// each time would be in the way.
			s.show(nil, explain(err).Error())
			return
		}
		s.show(list.Contents, listSummary(list, query))
	})
}

func (s *networkScreen) show(contents []trackerapi.ContentInfo, status string) {
	s.contents = contents
	s.list.UnselectAll()
	s.list.Refresh()
	s.status.SetText(status)
}

// listSummary says what a listing holds.
func listSummary(list trackerapi.ContentList, query string) string {
	switch {
	case len(list.Contents) == 0 && query != "":
		return fmt.Sprintf("Nothing on the network matches %q.", query)
	case len(list.Contents) == 0:
		return "The trackers know no content yet. Share a file, or ask someone to."
	case list.Total > len(list.Contents):
		return fmt.Sprintf("Showing %d of %d contents: type in the filter to narrow them down.", len(list.Contents), list.Total)
	}
	return fmt.Sprintf("%s. Select one and press Download.", count(len(list.Contents), "content"))
}

// downloadSelected downloads the selected content.
func (s *networkScreen) downloadSelected() {
	if s.selected < 0 || s.selected >= len(s.contents) {
		return
	}
	s.u.download(s.contents[s.selected].ID.String())
}

// openLink downloads the pasted share link.
func (s *networkScreen) openLink() { s.u.download(s.link.Text) }
