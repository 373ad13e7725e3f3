package gui

import (
	"context"
	"maps"
	"slices"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"peerflow/core"
)

// A second node finds the file on the Network tab, downloads it with the
// Download button, and Transfers shows it through to the end with a chunk
// map coloured by the peers core named.
func TestDownloadFromNetworkTab(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	tr := startTracker(t)
	path := randomFile(t, t.TempDir(), "lecture.mkv", 6<<20+4321)

	sharer := startNode(t, a, q, nodeOptions{trackers: []string{tr}})
	dropAndWait(t, sharer, path)
	// A second holder, a plain node, so chunks can come from two peers.
	other, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0", Trackers: []string{tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if _, err := other.Share(context.Background(), path, core.ShareOptions{}); err != nil {
		t.Fatal(err)
	}

	leech := startNode(t, a, q, nodeOptions{trackers: []string{tr}})
	leech.tabs.Select(leech.network.tabItem())
	q.until(t, "Network lists the shared file", func() bool { return len(leech.network.contents) == 1 })
	if c := leech.network.contents[0]; c.Name != "lecture.mkv" || c.Holders != 2 || c.Availability != 1 {
		t.Errorf("Network lists %+v; want lecture.mkv with 2 holders, fully available", c)
	}
	if !leech.network.download.Disabled() {
		t.Error("Download is enabled with nothing selected")
	}
	leech.network.list.Select(0)
	test.Tap(leech.network.download)

	q.until(t, "Transfers shows the download", func() bool { return len(leech.transfers.rows) == 1 })
	if leech.tabs.Selected().Text != TabTransfers {
		t.Errorf("tab %q is shown after Download, want Transfers", leech.tabs.Selected().Text)
	}
	var row *transferRow
	for _, r := range leech.transfers.rows {
		row = r
	}
	q.until(t, "the download ends", func() bool { return row.ended })
	if row.bar.Value != 1 || row.d.Progress().State != core.StateComplete {
		t.Fatalf("progress %v, state %s; want 1, complete (%s)", row.bar.Value, row.d.Progress().State, row.status.Text)
	}
	if row.open.Hidden || !row.pause.Hidden {
		t.Error("a finished download should offer Open folder, not Pause")
	}
	res, err := row.d.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkChunkMap(t, row.chunks, res)
	q.until(t, "Share lists the downloaded file", func() bool { return len(leech.share.rows) == 1 })
}

// checkChunkMap checks that every chunk's cell has the colour of the peer
// core named for it: each source's bytes in the map are what the result
// says it sent, and the drawn pixels carry the sources' colours.
func checkChunkMap(t *testing.T, c *chunkMap, res core.Result) {
	t.Helper()
	c.mu.Lock()
	mapped := map[string]int64{}
	for _, s := range c.slots[firstSourceSlot:] {
		mapped[s.name] = s.bytes
	}
	owner := slices.Clone(c.owner)
	slots := slices.Clone(c.slots)
	c.mu.Unlock()
	if !maps.Equal(mapped, res.Sources) {
		t.Errorf("chunk map counts %v per source; core says %v", mapped, res.Sources)
	}
	const w, h = 600, chunkMapHeight
	img := c.draw(w, h)
	g := layoutChunks(len(owner), w, h)
	if g.per != 1 {
		t.Fatalf("%d chunks share cells at %dx%d", len(owner), w, h)
	}
	for i, slot := range owner {
		if slot < firstSourceSlot {
			t.Fatalf("chunk %d is %s after a complete download", i, slots[slot].name)
		}
		p := g.cellOrigin(i)
		if got, want := img.At(p.X+g.cell/2, p.Y+g.cell/2), themeColors().slot(int(slot), slots[slot].color); got != want {
			t.Errorf("chunk %d from %s drawn %v, want %v", i, slots[slot].name, got, want)
		}
	}
	for src := range res.Sources {
		if _, ok := colorOf(c, src); !ok {
			t.Errorf("source %s has no colour", src)
		}
	}
}

// A share link given at start (peerflow LINK) is downloaded, and its
// completion is notified.
func TestDownloadLinkGivenAtStart(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	link := sharedLink(t, a, q, "notes.txt", 300<<10)

	var leech *testNode
	want := fyne.NewNotification("Download complete", "notes.txt is in ")
	test.AssertNotificationSent(t, want, func() {
		// The leech knows no tracker but the one the link names.
		leech = startNode(t, a, q, nodeOptions{open: link.String()})
		tapDialogButton(t, leech.win, "Download")
		want.Content += leech.downloads
		q.until(t, "the download from the link ends", func() bool {
			r := leech.transfers.rows[link.ID]
			return r != nil && r.ended
		})
	})
	if got := leech.transfers.rows[link.ID].d.Progress().State; got != core.StateComplete {
		t.Errorf("state %s, want complete", got)
	}
}
