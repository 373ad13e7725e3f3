package gui

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"peerflow/core/content"
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

func TestDropFolderSharesFilesInside(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	dir := t.TempDir()
	randomFile(t, dir, "a.bin", 40<<10)
	randomFile(t, dir, "b.bin", 50<<10)

	n.share.drop([]fyne.URI{storage.NewFileURI(dir)})
	n.q.until(t, "Share lists both files", func() bool { return len(n.share.rows) == 2 })
	n.q.until(t, "Share says subfolders are not shared", func() bool { return n.share.status.Visible() && n.share.status.Text != "" })
	if want := "not its subfolders"; !strings.Contains(n.share.status.Text, want) {
		t.Errorf("status %q does not say %q", n.share.status.Text, want)
	}
}
