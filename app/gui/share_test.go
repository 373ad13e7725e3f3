package gui

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

// dropAndWait drops path on n's window and waits until Share lists it.
func dropAndWait(t *testing.T, n *testNode, path string) *shareRow {
	t.Helper()
	n.share.drop([]fyne.URI{storage.NewFileURI(path)})
	n.q.until(t, "Share lists the dropped file", func() bool { return len(n.share.rows) == 1 })
	for _, r := range n.share.rows {
		return r
	}
	return nil
}

func TestDropSharesFileWithWorkingLink(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	tr := startTracker(t)
	n := startNode(t, a, q, nodeOptions{trackers: []string{tr}})
	path := randomFile(t, t.TempDir(), "talk.webm", 1<<20+77)

	r := dropAndWait(t, n, path)
	if r.name.Text != "talk.webm" || r.size.Text != "1.0 MB" {
		t.Errorf("row shows %q, %q; want talk.webm, 1.0 MB", r.name.Text, r.size.Text)
	}
	test.Tap(r.copyLink)
	link, err := content.ParseLink(a.Clipboard().Content())
	if err != nil {
		t.Fatalf("copied link %q: %v", a.Clipboard().Content(), err)
	}
	if link.Name != "talk.webm" || !slices.Contains(link.Trackers, tr) || link.ID.Short() != r.id.Text {
		t.Errorf("link %s: want name talk.webm, tracker %s, ID %s", link, tr, r.id.Text)
	}
	list, err := n.node.Network(t.Context(), "", 0, 10)
	if err != nil || len(list.Contents) != 1 || list.Contents[0].ID != link.ID {
		t.Errorf("the tracker lists %+v (%v), want the shared file", list.Contents, err)
	}
}

// A dropped folder is shared whole, nested folders and all, as one
// content.
func TestDropFolderSharesItWhole(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	dir := filepath.Join(t.TempDir(), "album")
	for _, sub := range []string{"", "disc 1", "disc 1/bonus"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		randomFile(t, filepath.Join(dir, sub), "track.flac", 40<<10+len(sub))
	}

	r := dropAndWait(t, n, dir)
	if r.name.Text != "album" || len(r.manifest.Files) != 3 || r.manifest.Size != 3*40<<10+6+12 {
		t.Errorf("the row shows %q, %d files, %d bytes; want album, 3 files, %d bytes", r.name.Text, len(r.manifest.Files), r.manifest.Size, 3*40<<10+18)
	}
	q.until(t, "the hashing bar goes once the share is done", func() bool { return !n.share.hashing.Visible() })
}

// A drop of folders holding more than confirmFiles files asks first;
// Not now shares nothing.
func TestBigFolderAsksFirst(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	dir := filepath.Join(t.TempDir(), "photos")
	for i := range confirmFiles + 1 {
		sub := filepath.Join(dir, fmt.Sprint("day", i%3))
		os.MkdirAll(sub, 0o755)
		randomFile(t, sub, fmt.Sprintf("img%03d.jpg", i), 100)
	}
	n.share.drop([]fyne.URI{storage.NewFileURI(dir)})
	q.until(t, "a question shows", func() bool { return n.win.Canvas().Overlays().Top() != nil })
	if got := dialogText(n.win); !strings.Contains(got, fmt.Sprintf("%d files", confirmFiles+1)) {
		t.Errorf("the question says %q; want the file count", got)
	}
	tapDialogButton(t, n.win, "Not now")
	if n.share.hashing.Visible() || len(n.share.rows) != 0 {
		t.Fatal("Not now shared something")
	}
	n.share.drop([]fyne.URI{storage.NewFileURI(dir)})
	q.until(t, "a question shows", func() bool { return n.win.Canvas().Overlays().Top() != nil })
	tapDialogButton(t, n.win, "Share")
	q.until(t, "Share lists the folder", func() bool { return len(n.share.rows) == 1 })
}

// The hashing of a big share shows its progress, and Cancel stops it:
// nothing is shared.
func TestShareCancel(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	// Sparse: 32 GiB take seconds to hash, far longer than the test takes
	// to press Cancel.
	big := filepath.Join(t.TempDir(), "disk.img")
	if f, err := os.Create(big); err != nil || f.Truncate(32<<30) != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	n.share.sharePaths([]string{big})
	q.until(t, "the bar shows the hashing", func() bool {
		return n.share.hashing.Visible() && strings.HasPrefix(n.share.busyText.Text, "Hashing disk.img")
	})
	test.Tap(n.share.cancel)
	q.until(t, "the share job ends", func() bool { return !n.share.hashing.Visible() })
	if !strings.Contains(n.share.status.Text, "cancelled") || len(n.share.rows) != 0 || n.win.Canvas().Overlays().Top() != nil {
		t.Errorf("after Cancel: status %q, %d shares, dialog %q", n.share.status.Text, len(n.share.rows), dialogText(n.win))
	}
}

// Share says how many copies of a file the node uploaded and to how many
// peers, and the refresh loop keeps it current while the app runs.
func TestShareSaysCopiesUploaded(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	tr := startTracker(t)
	n := startNode(t, a, q, nodeOptions{trackers: []string{tr}})
	const size = 1<<20 + 77
	r := dropAndWait(t, n, randomFile(t, t.TempDir(), "talk.webm", size))
	if r.uploaded.Text != "not uploaded yet" {
		t.Errorf("before any download the row says %q, want \"not uploaded yet\"", r.uploaded.Text)
	}
	var id content.ID
	for k := range n.share.rows {
		id = k
	}
	link, err := n.node.Link(id)
	if err != nil {
		t.Fatal(err)
	}

	// One peer downloads the whole file, from this node alone: one copy.
	d, err := openNode(t, tr, 0).Download(t.Context(), link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := "1.00 copies to 1 peer · 1.0 MB"
	q.until(t, "Share shows the copy uploaded", func() bool { return r.uploaded.Text == want })
	items, err := n.node.Library()
	if err != nil || len(items) != 1 || items[0].Stats.Uploaded != size || items[0].Stats.PeersServed != 1 {
		t.Errorf("library %+v (%v); want %d bytes uploaded to 1 peer", items, err, size)
	}
}

func TestUploadedText(t *testing.T) {
	const size = 50_000_000
	tests := []struct {
		uploaded int64
		peers    int
		want     string
	}{
		{0, 0, "not uploaded yet"},
		{51_000_000, 4, "1.02 copies to 4 peers · 51.0 MB"},
		{size, 1, "1.00 copies to 1 peer · 50.0 MB"},
		{size / 2, 3, "0.50 copies to 3 peers · 25.0 MB"},
		{100_000, 1, "under 0.01 copies to 1 peer · 100.0 KB"},
		{12*size + size/3, 128, "12.33 copies to 128 peers · 616.7 MB"},
	}
	for _, tt := range tests {
		if got := uploadedText(tt.uploaded, tt.peers, size); got != tt.want {
			t.Errorf("uploadedText(%d, %d) = %q, want %q", tt.uploaded, tt.peers, got, tt.want)
		}
	}
}

// The Uploaded column is wide enough for its text, even with many copies
// to many peers: nothing is cut off.
func TestUploadedColumnFits(t *testing.T) {
	test.NewTempApp(t)
	for _, text := range []string{"not uploaded yet", "1.02 copies to 4 peers · 51.3 MB", "12.33 copies to 128 peers · 616.7 GB"} {
		l := widget.NewLabel(text)
		if w := l.MinSize().Width; w > shareColumns.width(3) {
			t.Errorf("%q needs %.0f px; the column is %.0f", text, w, shareColumns.width(3))
		}
	}
}

// With "Private" ticked, a dropped file is shared as a private swarm: its
// row says so, its link carries the secret, and the tracker lists nothing.
func TestDropSharesPrivately(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	tr := startTracker(t)
	n := startNode(t, a, q, nodeOptions{trackers: []string{tr}})
	n.share.private.SetChecked(true)
	r := dropAndWait(t, n, randomFile(t, t.TempDir(), "family.mkv", 300<<10))
	if r.name.Text != "family.mkv (private)" {
		t.Errorf("row shows %q", r.name.Text)
	}
	test.Tap(r.copyLink)
	link, err := content.ParseLink(a.Clipboard().Content())
	if err != nil || link.Secret == nil {
		t.Fatalf("copied link %q (%v) has no secret", a.Clipboard().Content(), err)
	}
	if list, err := n.node.Network(t.Context(), "", 0, 10); err != nil || list.Total != 0 {
		t.Errorf("the tracker lists %+v (%v)", list.Contents, err)
	}
}

// Play on a shared file opens its gateway URL, which serves the file.
func TestPlayOpensTheGateway(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	path := randomFile(t, t.TempDir(), "clip.webm", 200<<10)
	var opened []*url.URL
	n.openURL = func(u *url.URL) error { opened = append(opened, u); return nil }
	r := dropAndWait(t, n, path)
	test.Tap(r.play)
	if len(opened) != 1 || !strings.HasSuffix(opened[0].Path, "/clip.webm") || opened[0].Scheme != "http" {
		t.Fatalf("Play opened %v", opened)
	}
	resp, err := http.Get(opened[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	want, _ := os.ReadFile(path)
	if resp.StatusCode != 200 || !bytes.Equal(got, want) || resp.Header.Get("Content-Type") != "video/webm" {
		t.Fatalf("the URL answered %d, %d bytes, %q", resp.StatusCode, len(got), resp.Header.Get("Content-Type"))
	}
}

// A shared file with an origin server says how much the swarm spared it,
// as the trackers report its viewers' downloads.
func TestShareSaysOriginOffload(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	tr := startTracker(t)
	n := startNode(t, a, q, nodeOptions{trackers: []string{tr}})
	path := randomFile(t, t.TempDir(), "show.mp4", 100<<10)
	sh, err := n.node.Share(t.Context(), path, core.ShareOptions{Origin: "https://cdn.example/show.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	q.until(t, "Share lists the file", func() bool { return n.share.rows[sh.Manifest.ID()] != nil })
	r := n.share.rows[sh.Manifest.ID()]
	q.until(t, "the row says no viewer yet", func() bool { return strings.HasSuffix(r.name.Text, "origin: no viewer yet") })
	n.share.swarms = map[content.ID]trackerapi.ContentInfo{sh.Manifest.ID(): {ID: sh.Manifest.ID(), Downloaded: 10 << 20, FromOrigin: 1 << 20}}
	n.share.show([]core.Item{{ID: sh.Manifest.ID(), Manifest: sh.Manifest, Complete: true}})
	if want := "show.mp4 — origin spared 90% of 10.5 MB"; r.name.Text != want {
		t.Errorf("the row says %q, want %q", r.name.Text, want)
	}
}
