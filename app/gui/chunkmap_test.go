package gui

import (
	"fmt"
	"image"
	"image/color"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/flow/chunkset"
)

// manifestOf describes a file of n chunks of 16 KiB, the last one short.
func manifestOf(n int) *content.Manifest {
	return &content.Manifest{Name: "big.iso", ChunkSize: 16 << 10, Size: int64(n)*16<<10 - 100, Hashes: make([][32]byte, n)}
}

func chunkEvent(i int, source string, m *content.Manifest) core.Event {
	return core.Event{Kind: core.EventChunk, Chunk: i, Source: source, Bytes: m.ChunkLen(i)}
}

// colorOf is the colour the map shows source in on the current theme,
// if it delivered a chunk.
func colorOf(c *chunkMap, source string) (color.NRGBA, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot, ok := c.bySource[source]
	return themeColors().slot(int(slot), c.slots[slot].color), ok
}

// pixel is the colour at the centre of chunk i's cell.
func pixel(img image.Image, g chunkGrid, i int) color.Color {
	p := g.cellOrigin(i)
	return img.At(p.X+g.cell/2, p.Y+g.cell/2)
}

func TestChunkMapColours(t *testing.T) {
	m := manifestOf(40)
	c := newChunkMap(m)
	c.record(chunkEvent(0, "10.0.0.1:4000", m))
	c.record(chunkEvent(1, core.OriginSource, m))
	c.record(chunkEvent(2, "10.0.0.2:4000", m))
	c.record(chunkEvent(3, "10.0.0.1:4000", m))
	have := chunkset.New(40)
	have.Set(3) // named by an event already: stays the peer's
	have.Set(4)
	c.markEarlier(have)

	const w, h = 400, 60
	img := c.draw(w, h)
	g := layoutChunks(40, w, h)
	peer1, _ := colorOf(c, "10.0.0.1:4000")
	peer2, _ := colorOf(c, "10.0.0.2:4000")
	origin, _ := colorOf(c, core.OriginSource)
	mc := themeColors()
	want := map[int]color.NRGBA{0: peer1, 1: origin, 2: peer2, 3: peer1, 4: mc.earlier, 5: mc.missing, 39: mc.missing}
	for i, col := range want {
		if got := pixel(img, g, i); got != col {
			t.Errorf("chunk %d drawn %v, want %v", i, got, col)
		}
	}
	if peer1 == peer2 || peer1 == origin || peer1 == mc.earlier || peer1 == mc.missing {
		t.Errorf("peer colours %v, %v are not distinct from each other and the fixed ones", peer1, peer2)
	}

	c.flush()
	var legend []string
	for _, e := range c.swatches {
		if e.box.Visible() {
			legend = append(legend, e.label.Text)
		}
	}
	wantLegend := []string{"10.0.0.1:4000  ·  32.8 KB", "origin  ·  16.4 KB", "10.0.0.2:4000  ·  16.4 KB", "earlier  ·  16.4 KB", "missing  ·  573.3 KB"}
	if fmt.Sprint(legend) != fmt.Sprint(wantLegend) {
		t.Errorf("legend %q, want %q", legend, wantLegend)
	}
}

// Too many chunks for one cell each: cells stand for several, coloured by
// the source of most of them, paled by the share still missing.
func TestChunkMapDownsamples(t *testing.T) {
	m := manifestOf(100_000)
	c := newChunkMap(m)
	const w, h = 900, chunkMapHeight
	g := layoutChunks(100_000, w, h)
	if g.per < 2 || g.cells*g.per < 100_000 || (g.cells-1)/g.cols*g.pitch+g.cell > h {
		t.Fatalf("layout %+v does not fit 100,000 chunks in %dx%d", g, w, h)
	}
	for i := range g.per { // the first cell: all from one peer
		c.record(chunkEvent(i, "10.0.0.1:4000", m))
	}
	for i := g.per; i < g.per+g.per/2; i++ { // the second: half there
		c.record(chunkEvent(i, "10.0.0.1:4000", m))
	}
	img := c.draw(w, h)
	peer, _ := colorOf(c, "10.0.0.1:4000")
	if got := pixel(img, g, 0); got != peer {
		t.Errorf("full cell drawn %v, want %v", got, peer)
	}
	missing := themeColors().missing
	if got, want := pixel(img, g, 1), blend(missing, peer, float64(g.per/2)/float64(g.per)); got != want {
		t.Errorf("half cell drawn %v, want %v", got, want)
	}
	if got := pixel(img, g, 2); got != missing {
		t.Errorf("empty cell drawn %v, want %v", got, missing)
	}
}

// The raster draws through the canvas too, at whatever size it is given.
func TestChunkMapRendersOnCanvas(t *testing.T) {
	test.NewTempApp(t)
	m := manifestOf(10)
	c := newChunkMap(m)
	c.record(chunkEvent(0, "10.0.0.1:4000", m))
	w := test.NewWindow(c.object())
	defer w.Close()
	img := w.Canvas().Capture()
	peer, _ := colorOf(c, "10.0.0.1:4000")
	found := false
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y && !found; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); uint8(r>>8) == peer.R && uint8(g>>8) == peer.G && uint8(b>>8) == peer.B {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("the captured window shows no cell in the peer's colour")
	}
}

// BenchmarkChunkMapRedraw draws a 100,000-chunk map, half fetched from
// five peers and the origin, at the size the window gives it.
func BenchmarkChunkMapRedraw(b *testing.B) {
	const n = 100_000
	m := manifestOf(n)
	c := newChunkMap(m)
	sources := []string{"10.0.0.1:4000", "10.0.0.2:4000", "10.0.0.3:4000", "10.0.0.4:4000", "10.0.0.5:4000", core.OriginSource}
	for i := 0; i < n; i += 2 {
		c.record(chunkEvent(i, sources[i/2%len(sources)], m))
	}
	c.draw(960, chunkMapHeight) // the buffer is reused from then on
	// The reference, alternated: every pixel of the same image written
	// once, the least a redraw does.
	ref := image.NewNRGBA(image.Rect(0, 0, 960, chunkMapHeight))
	col := themeColors().missing
	b.ReportAllocs()
	var ratios []float64
	for b.Loop() {
		start := time.Now()
		c.draw(960, chunkMapHeight)
		took := time.Since(start)
		b.StopTimer()
		start = time.Now()
		for i := 0; i < len(ref.Pix); i += 4 {
			ref.Pix[i], ref.Pix[i+1], ref.Pix[i+2], ref.Pix[i+3] = col.R, col.G, col.B, col.A
		}
		ratios = append(ratios, took.Seconds()/time.Since(start).Seconds())
		col.R++
		b.StartTimer()
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-fill")
}

// TestChunkMapColoursReadable: on the light and the dark theme, every
// source's colour keeps 3:1 contrast with the background (WCAG, for
// graphics), and the sources, the missing and the earlier chunks stay
// apart from each other and from the background.
func TestChunkMapColoursReadable(t *testing.T) {
	for _, variant := range []fyne.ThemeVariant{theme.VariantLight, theme.VariantDark} {
		th := theme.DefaultTheme()
		mc := newMapColors(th.Color(theme.ColorNameBackground, variant), th.Color(theme.ColorNameForeground, variant))
		shown := []color.NRGBA{mc.missing, mc.earlier}
		for i, base := range append([]color.NRGBA{colorOrigin}, peerPalette...) {
			col := mc.slot(firstSourceSlot+i, base)
			if c := contrast(col, mc.bg); c < minContrast {
				t.Errorf("variant %v: %v (from %v) has contrast %.2f with the background", variant, col, base, c)
			}
			shown = append(shown, col)
		}
		for _, c := range []color.NRGBA{mc.missing, mc.earlier} {
			if contrast(c, mc.bg) < 1.2 {
				t.Errorf("variant %v: %v hardly differs from the background", variant, c)
			}
		}
		for i, a := range shown {
			for _, b := range shown[i+1:] {
				if a == b {
					t.Errorf("variant %v: two slots share %v", variant, a)
				}
			}
		}
	}
}
