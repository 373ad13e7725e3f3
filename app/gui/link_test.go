package gui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"peerflow/core"
)

// TestLinkOpensAfterAsking: a link the desktop hands the app (on its
// command line, or to the running app through HandOver) is downloaded
// only once the user says so in a dialog that names it and its folder.
func TestLinkOpensAfterAsking(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	link := sharedLink(t, a, q, "lecture.webm", 200<<10)

	leech := startNode(t, a, q, nodeOptions{open: link.String()})
	if got := dialogText(leech.win); !strings.Contains(got, "lecture.webm") || !strings.Contains(got, leech.downloads) {
		t.Errorf("the dialog says %q; want the name and the download folder", got)
	}
	tapDialogButton(t, leech.win, "Not now")
	if len(leech.transfers.rows) != 0 || leech.win.Canvas().Overlays().Top() != nil {
		t.Fatalf("Not now: %d downloads, dialog %q", len(leech.transfers.rows), dialogText(leech.win))
	}

	// A second start of the app on the same data folder hands it over.
	if !HandOver(leech.cfg.DataDir, link.String()) {
		t.Fatal("the running app did not take the link")
	}
	q.until(t, "the running app asks about the link", func() bool { return leech.win.Canvas().Overlays().Top() != nil })
	tapDialogButton(t, leech.win, "Download")
	q.until(t, "the download from the link ends", func() bool {
		r := leech.transfers.rows[link.ID]
		return r != nil && r.ended
	})

	// What is not a link: the running window says what to do.
	if !HandOver(leech.cfg.DataDir, "peerflow://nonsense") {
		t.Fatal("the running app did not take the bad link")
	}
	q.until(t, "the running app says what is wrong", func() bool { return leech.win.Canvas().Overlays().Top() != nil })
	if got := dialogText(leech.win); !strings.Contains(got, "paste the whole link") {
		t.Errorf("the running app says %q", got)
	}
	// With no app on the folder, or a terminal command holding it, this
	// start opens its own window.
	if HandOver(t.TempDir(), link.String()) {
		t.Error("HandOver with no app running says it was taken")
	}
	cli, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if HandOver(cli.DataDir(), link.String()) {
		t.Error("HandOver to a node without a window says it was taken")
	}
}
