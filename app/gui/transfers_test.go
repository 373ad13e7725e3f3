package gui

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/coretest"
)

// openNode opens a plain node (no window) on loopback for the test.
func openNode(t *testing.T, tr string, upLimit int64) *core.Node {
	t.Helper()
	n, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0", Trackers: []string{tr}, UpLimit: upLimit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// pausedPart starts a plain node that downloads link and pauses once it
// holds at least chunks chunks: a peer that is downloading the file
// itself and serves what it has.
func pausedPart(t *testing.T, tr string, link content.Link, chunks int) {
	t.Helper()
	d, err := openNode(t, tr, 0).Download(t.Context(), link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	coretest.PauseAt(t, d, chunks)
}

// Transfers says, while a download runs and after it ends, how many bytes
// came from seeders and how many from peers that were downloading too.
// The swarm: a sharer capped at 2 MB/s and a peer that paused with part
// of the file.
func TestTransferSaysBytesFromSeedersAndPeers(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	tr := startTracker(t)
	const size = 4 << 20 // 16 chunks of 256 KiB
	sharer := openNode(t, tr, 2<<20)
	shared, err := sharer.Share(context.Background(), randomFile(t, t.TempDir(), "concert.mkv", size), core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pausedPart(t, tr, shared.Link, 6)

	leech := startNode(t, a, q, nodeOptions{trackers: []string{tr}, open: shared.Link.String()})
	tapDialogButton(t, leech.win, "Download")
	q.until(t, "Transfers shows the download", func() bool { return leech.transfers.rows[shared.Link.ID] != nil })
	row := leech.transfers.rows[shared.Link.ID]
	// Play, while it runs, opens the gateway's URL of the file.
	var opened []string
	leech.openURL = func(u *url.URL) error { opened = append(opened, u.String()); return nil }
	test.Tap(row.play)
	if len(opened) != 1 || opened[0] != leech.gw.URL(shared.Manifest) {
		t.Errorf("Play opened %q", opened)
	}
	// Live: while it runs, the row shows the bytes that arrived so far.
	var live []string
	q.until(t, "the download ends", func() bool {
		if !row.ended && row.from.Text != sourcesText(core.Progress{}) {
			live = append(live, row.from.Text)
		}
		return row.ended
	})
	if len(live) == 0 {
		t.Error("the row showed no bytes from seeders or peers while the download ran")
	}
	for _, l := range live {
		if !strings.HasPrefix(l, "From seeders ") || !strings.Contains(l, "  ·  from other peers ") {
			t.Errorf("while running the row said %q", l)
		}
	}
	res, err := row.d.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != size || res.SeederBytes+res.PeerBytes+res.OriginBytes != res.Bytes || res.SeederBytes == 0 || res.PeerBytes == 0 {
		t.Fatalf("%d bytes = %d from seeders + %d from peers + %d from the origin server; want %d, both sources",
			res.Bytes, res.SeederBytes, res.PeerBytes, res.OriginBytes, size)
	}
	want := "From seeders " + formatBytes(res.SeederBytes) + "  ·  from other peers " + formatBytes(res.PeerBytes)
	if row.from.Text != want {
		t.Errorf("the finished row says %q, want %q", row.from.Text, want)
	}
	if !row.from.Visible() || !strings.HasPrefix(row.status.Text, "Done:") {
		t.Errorf("after the end: status %q, sources shown %v", row.status.Text, row.from.Visible())
	}
}

func TestSourcesText(t *testing.T) {
	const mb = 1_000_000
	tests := []struct {
		p    core.Progress
		want string
	}{
		{core.Progress{}, "From seeders 0 B  ·  from other peers 0 B"},
		{core.Progress{Bytes: 256 * mb, SeederBytes: 120 * mb, PeerBytes: 136 * mb},
			"From seeders 120.0 MB  ·  from other peers 136.0 MB"},
		{core.Progress{Bytes: 60 * mb, SeederBytes: 20 * mb, PeerBytes: 30 * mb, OriginBytes: 10 * mb},
			"From seeders 20.0 MB  ·  from other peers 30.0 MB  ·  from the origin server 10.0 MB"},
		// Resumed: what earlier runs fetched is neither.
		{core.Progress{Bytes: 50 * mb, SeederBytes: 5 * mb, PeerBytes: 15 * mb},
			"From seeders 5.0 MB  ·  from other peers 15.0 MB  ·  before this run 30.0 MB"},
	}
	for _, tt := range tests {
		if got := sourcesText(tt.p); got != tt.want {
			t.Errorf("sourcesText(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
