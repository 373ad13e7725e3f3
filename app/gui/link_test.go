package gui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
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
	handed, err := HandOver(leech.cfg.DataDir, link.String())
	if err != nil || !handed {
		t.Fatalf("HandOver to the running app: %v, %v", handed, err)
	}
	q.until(t, "the running app asks about the link", func() bool { return leech.win.Canvas().Overlays().Top() != nil })
	tapDialogButton(t, leech.win, "Download")
	q.until(t, "the download from the link ends", func() bool {
		r := leech.transfers.rows[link.ID]
		return r != nil && r.ended
	})

	// What is not a link is refused, back to the second start.
	if handed, err := HandOver(leech.cfg.DataDir, "peerflow://nonsense"); handed || err == nil || !strings.Contains(err.Error(), "link") {
		t.Errorf("HandOver of a bad link: %v, %v", handed, err)
	}
	// With no app on the folder, this start goes on.
	if handed, err := HandOver(t.TempDir(), link.String()); handed || err != nil {
		t.Errorf("HandOver with no app running: %v, %v", handed, err)
	}
}
