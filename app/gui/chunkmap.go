package gui

import (
	"image"
	"image/color"
	"math"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/flow/chunkset"
)

// Colours of the chunk map. Peers take the palette in the order they first
// deliver a chunk, the origin a colour of its own; each is shown as
// mapColors makes it stand out from the theme's background (light or dark,
// as the desktop says). Missing chunks and those verified before this run
// are shades between the background and the text.
var (
	colorOrigin = color.NRGBA{R: 0xf2, G: 0xb7, B: 0x05, A: 0xff}
	peerPalette = []color.NRGBA{
		{R: 0x2f, G: 0x6f, B: 0xd6, A: 0xff}, // blue
		{R: 0xe4, G: 0x57, B: 0x2e, A: 0xff}, // orange-red
		{R: 0x2a, G: 0xa1, B: 0x5a, A: 0xff}, // green
		{R: 0x9b, G: 0x59, B: 0xd0, A: 0xff}, // purple
		{R: 0x16, G: 0xa6, B: 0xb6, A: 0xff}, // teal
		{R: 0xd6, G: 0x3a, B: 0x8a, A: 0xff}, // magenta
		{R: 0x8c, G: 0x5a, B: 0x2b, A: 0xff}, // brown
		{R: 0x5c, G: 0x6b, B: 0xc0, A: 0xff}, // indigo
		{R: 0x7c, G: 0xb3, B: 0x42, A: 0xff}, // olive
	}
)

// minContrast is the least contrast ratio a source's colour keeps with
// the background: WCAG's for the parts of a graphic that carry meaning.
const minContrast = 3.0

// mapColors are the chunk map's colours on one theme.
type mapColors struct {
	bg, fg           color.NRGBA
	missing, earlier color.NRGBA
}

// themeColors are the map's colours on the theme the app shows now.
func themeColors() mapColors {
	return newMapColors(theme.Color(theme.ColorNameBackground), theme.Color(theme.ColorNameForeground))
}

func newMapColors(bg, fg color.Color) mapColors {
	b, f := toNRGBA(bg), toNRGBA(fg)
	return mapColors{bg: b, fg: f, missing: blend(b, f, 0.2), earlier: blend(b, f, 0.45)}
}

// slot is how slot i, of base colour base, is shown.
func (mc mapColors) slot(i int, base color.NRGBA) color.NRGBA {
	switch i {
	case slotMissing:
		return mc.missing
	case slotEarlier:
		return mc.earlier
	}
	return mc.readable(base)
}

// readable moves col toward the text colour (lighter on a dark
// background, darker on a light one) until it keeps minContrast with
// the background.
func (mc mapColors) readable(col color.NRGBA) color.NRGBA {
	for f := 0.0; f < 1; f += 0.05 {
		if c := blend(col, mc.fg, f); contrast(c, mc.bg) >= minContrast {
			return c
		}
	}
	return mc.fg
}

// contrast is the WCAG contrast ratio of two colours (1 to 21).
func contrast(a, b color.NRGBA) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// luminance is a colour's relative luminance (sRGB, as WCAG defines it).
func luminance(c color.NRGBA) float64 {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

func toNRGBA(c color.Color) color.NRGBA {
	return color.NRGBAModel.Convert(c).(color.NRGBA)
}

// Slots of the chunk map: every chunk is in one. Sources (peers and the
// origin) follow the two fixed ones, in the order they first deliver.
const (
	slotMissing = iota
	slotEarlier
	firstSourceSlot
)

// Chunk cells are drawn between these sizes (pixels, with a 1 px gap);
// when even the smallest cells cannot give every chunk its own, each cell
// stands for several chunks.
const (
	maxCellPx = 24
	minCellPx = 3
	cellGapPx = 1
)

// chunkMapHeight is the height of the map's drawing area.
const chunkMapHeight = 120

// chunkMap shows which peer each chunk of a download came from. All chunks
// are one raster (a widget per chunk would not scale to 100,000 chunks);
// record may be called from any goroutine, flush redraws on the UI
// goroutine.
type chunkMap struct {
	manifest *content.Manifest
	raster   *canvas.Raster
	legend   *fyne.Container // see legendGrid
	swatches []*legendEntry  // UI goroutine: the legend's entries, by slot

	mu       sync.Mutex
	owner    []uint16 // per chunk: its slot
	slots    []chunkSlot
	bySource map[string]uint16
	changed  bool
	img      *image.NRGBA  // reused between draws
	counts   []int         // per slot, reused while drawing
	shown    []color.NRGBA // per slot, as drawn on the current theme
	drawnOn  color.NRGBA   // the background the legend was shown on
}

// chunkSlot is one colour of the map and what it stands for.
type chunkSlot struct {
	name   string
	color  color.NRGBA // its base colour (mapColors.slot shows it)
	bytes  int64
	chunks int
}

// newChunkMap returns the map of a download of m with every chunk missing.
func newChunkMap(m *content.Manifest) *chunkMap {
	c := &chunkMap{
		manifest: m,
		owner:    make([]uint16, m.NumChunks()),
		slots: []chunkSlot{
			slotMissing: {name: "missing", bytes: m.Size, chunks: m.NumChunks()},
			slotEarlier: {name: "earlier"},
		},
		bySource: make(map[string]uint16),
		changed:  true,
	}
	c.raster = canvas.NewRaster(c.draw)
	c.raster.ScaleMode = canvas.ImageScalePixels
	c.raster.SetMinSize(fyne.NewSize(0, chunkMapHeight))
	return c
}

// object is the map with its legend below. UI goroutine only.
func (c *chunkMap) object() fyne.CanvasObject {
	return container.NewVBox(c.raster, c.legendGrid())
}

// legendGrid is the legend's container, made on first use on the UI
// goroutine (sizing a label off it races with fyne's font caches), in
// cells as tall as a label, so the text sits level with its swatch.
func (c *chunkMap) legendGrid() *fyne.Container {
	if c.legend == nil {
		c.legend = container.NewGridWrap(fyne.NewSize(240, widget.NewLabel("").MinSize().Height))
	}
	return c.legend
}

// replay records where the chunks verified so far in this run came from,
// for a map that subscribed after they arrived.
func (c *chunkMap) replay(names []string, perChunk []int32) {
	for i, k := range perChunk {
		if k >= 0 && int(k) < len(names) && i < len(c.owner) {
			c.record(core.Event{Kind: core.EventChunk, Chunk: i, Source: names[k]})
		}
	}
}

// markEarlier gives the chunks of have that no event has named yet the
// "earlier" colour: they were verified before this run.
func (c *chunkMap) markEarlier(have *chunkset.Set) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range have.All() {
		if c.owner[i] == slotMissing {
			c.move(i, slotEarlier)
		}
	}
	c.changed = true
}

// record notes a chunk event. It is called from core's goroutines and
// only updates state; flush shows it.
func (c *chunkMap) record(ev core.Event) {
	if ev.Kind != core.EventChunk || ev.Chunk < 0 || ev.Chunk >= len(c.owner) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	slot, ok := c.bySource[ev.Source]
	if !ok {
		slot = uint16(len(c.slots))
		c.bySource[ev.Source] = slot
		c.slots = append(c.slots, chunkSlot{name: ev.Source, color: sourceColor(ev.Source, len(c.slots)-firstSourceSlot)})
	}
	c.move(ev.Chunk, slot)
	c.changed = true
}

// move puts chunk i into slot; c.mu held.
func (c *chunkMap) move(i int, slot uint16) {
	n := c.manifest.ChunkLen(i)
	from := &c.slots[c.owner[i]]
	from.bytes -= n
	from.chunks--
	c.owner[i] = slot
	c.slots[slot].bytes += n
	c.slots[slot].chunks++
}

// sourceColor is the colour of the k-th source to deliver a chunk.
func sourceColor(source string, k int) color.NRGBA {
	if source == core.OriginSource {
		return colorOrigin
	}
	return peerPalette[k%len(peerPalette)]
}

// flush redraws the map and its legend if anything changed since the last
// flush, or the theme did (light and dark). UI goroutine only.
func (c *chunkMap) flush() {
	mc := themeColors()
	c.mu.Lock()
	if !c.changed && c.drawnOn == mc.bg {
		c.mu.Unlock()
		return
	}
	c.changed, c.drawnOn = false, mc.bg
	slots := append([]chunkSlot(nil), c.slots...)
	c.mu.Unlock()
	c.raster.Refresh()
	c.showLegend(slots, mc)
}

// showLegend lists the sources in the order they joined, then the chunks
// from earlier runs and the missing ones, each with its bytes.
func (c *chunkMap) showLegend(slots []chunkSlot, mc mapColors) {
	order := make([]int, 0, len(slots))
	for i := firstSourceSlot; i < len(slots); i++ {
		order = append(order, i)
	}
	if slots[slotEarlier].chunks > 0 {
		order = append(order, slotEarlier)
	}
	if slots[slotMissing].chunks > 0 {
		order = append(order, slotMissing)
	}
	for len(c.swatches) < len(order) {
		e := newLegendEntry()
		c.swatches = append(c.swatches, e)
		c.legendGrid().Add(e.box)
	}
	for i, e := range c.swatches {
		if i >= len(order) {
			e.box.Hide()
			continue
		}
		s := slots[order[i]]
		e.show(mc.slot(order[i], s.color), s.name+"  ·  "+formatBytes(s.bytes))
	}
}

// legendEntry is one colour of the legend and what it stands for.
type legendEntry struct {
	swatch *canvas.Rectangle
	label  *widget.Label
	box    *fyne.Container
}

func newLegendEntry() *legendEntry {
	e := &legendEntry{swatch: canvas.NewRectangle(color.Transparent), label: cell()}
	e.swatch.SetMinSize(fyne.NewSize(14, 14))
	e.swatch.CornerRadius = 3
	e.box = container.NewBorder(nil, nil, container.NewCenter(e.swatch), nil, e.label)
	return e
}

func (e *legendEntry) show(col color.NRGBA, text string) {
	e.box.Show()
	if e.swatch.FillColor != col {
		e.swatch.FillColor = col
		e.swatch.Refresh()
	}
	e.label.SetText(text)
}

// chunkGrid is how chunks are laid out in a w×h drawing: cols cells per
// row, cell pixels square, pitch pixels apart, each standing for per
// chunks (the last cell maybe fewer).
type chunkGrid struct {
	cols, cells, per, cell, pitch int
}

// layoutChunks picks the largest cells that give each of n chunks its own
// cell in w×h pixels, or else the smallest cells, each for several chunks.
func layoutChunks(n, w, h int) chunkGrid {
	if n <= 0 || w <= 0 || h <= 0 {
		return chunkGrid{}
	}
	for size := maxCellPx; size >= minCellPx; size-- {
		pitch := size + cellGapPx
		if cols := w / pitch; cols > 0 && cols*(h/pitch) >= n {
			return chunkGrid{cols: cols, cells: n, per: 1, cell: size, pitch: pitch}
		}
	}
	pitch := minCellPx + cellGapPx
	cols, rows := max(w/pitch, 1), max(h/pitch, 1)
	per := (n + cols*rows - 1) / (cols * rows)
	return chunkGrid{cols: cols, cells: (n + per - 1) / per, per: per, cell: minCellPx, pitch: pitch}
}

// cellOrigin is the top-left pixel of cell i.
func (g chunkGrid) cellOrigin(i int) image.Point {
	return image.Pt(i%g.cols*g.pitch, i/g.cols*g.pitch)
}

// draw renders the map into a w×h image, reusing the last one's pixels.
// A cell that stands for several chunks takes the colour of the source
// that delivered most of them, paled by the share still missing.
func (c *chunkMap) draw(w, h int) image.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.img == nil || c.img.Rect.Dx() != w || c.img.Rect.Dy() != h {
		c.img = image.NewNRGBA(image.Rect(0, 0, w, h))
	} else {
		clear(c.img.Pix)
	}
	mc := themeColors()
	c.shown = c.shown[:0]
	for i, sl := range c.slots {
		c.shown = append(c.shown, mc.slot(i, sl.color))
	}
	g := layoutChunks(len(c.owner), w, h)
	for i := range g.cells {
		lo := i * g.per
		col := c.cellColor(c.owner[lo:min(lo+g.per, len(c.owner))])
		fillSquare(c.img, g.cellOrigin(i), g.cell, col)
	}
	return c.img
}

// cellColor is the colour of a cell standing for the chunks owned; c.mu
// held, c.shown filled for this draw.
func (c *chunkMap) cellColor(owned []uint16) color.NRGBA {
	if len(owned) == 1 {
		return c.shown[owned[0]]
	}
	if cap(c.counts) < len(c.slots) {
		c.counts = make([]int, len(c.slots))
	}
	counts := c.counts[:len(c.slots)]
	clear(counts)
	for _, s := range owned {
		counts[s]++
	}
	best := slotMissing
	for s := slotEarlier; s < len(counts); s++ {
		if counts[s] > counts[best] || best == slotMissing && counts[s] > 0 {
			best = s
		}
	}
	return blend(c.shown[slotMissing], c.shown[best], float64(len(owned)-counts[slotMissing])/float64(len(owned)))
}

// blend mixes from into to by f (0: from, 1: to).
func blend(from, to color.NRGBA, f float64) color.NRGBA {
	mix := func(a, b uint8) uint8 { return uint8(float64(a) + (float64(b)-float64(a))*f + 0.5) }
	return color.NRGBA{R: mix(from.R, to.R), G: mix(from.G, to.G), B: mix(from.B, to.B), A: 0xff}
}

// fillSquare paints the size×size square at p, clipped to img.
func fillSquare(img *image.NRGBA, p image.Point, size int, col color.NRGBA) {
	r := image.Rectangle{Min: p, Max: p.Add(image.Pt(size, size))}.Intersect(img.Rect)
	if r.Empty() {
		return
	}
	px := [4]uint8{col.R, col.G, col.B, col.A}
	first := img.PixOffset(r.Min.X, r.Min.Y)
	row := img.Pix[first : first+4*r.Dx()]
	for i := 0; i < len(row); i += 4 {
		copy(row[i:i+4], px[:])
	}
	for y := r.Min.Y + 1; y < r.Max.Y; y++ {
		off := img.PixOffset(r.Min.X, y)
		copy(img.Pix[off:off+len(row)], row)
	}
}
