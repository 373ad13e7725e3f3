package gui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// TestTray: with a system tray, the first close of the window asks, and
// "Keep sharing" hides the window while the node runs on, from then on
// without asking; the tray shows the window again, and its Quit stops
// the node cleanly.
func TestTray(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	tray := &fakeTray{}
	n := startNode(t, a, q, nodeOptions{tray: tray})
	if tray.icon == nil || tray.menu == nil {
		t.Fatal("Peerflow is not in the system tray")
	}
	if !tray.item(t, trayQuit).IsQuit {
		t.Error("the tray's Quit is not marked as the quit item: fyne would add one that skips the clean stop")
	}

	n.closeWindow()
	if got := dialogText(n.win); !strings.Contains(got, "system tray") {
		t.Fatalf("the first close says %q; want it to ask about the background", got)
	}
	typeKey(n.win, "Escape") // Cancel: nothing changes, it asks again next time
	if n.win.Canvas().Overlays().Top() != nil || n.prefs.load().onClose != closeAsk || n.isClosed() {
		t.Fatalf("Escape on the question: dialog %q, setting %q, closed %v", dialogText(n.win), n.prefs.load().onClose, n.isClosed())
	}
	n.closeWindow()
	tapDialogButton(t, n.win, "Keep sharing")
	if n.prefs.load().onClose != closeBackground || n.settings.onClose.Selected != closeModes[1].label {
		t.Errorf("the answer was not kept: %q, the form shows %q", n.prefs.load().onClose, n.settings.onClose.Selected)
	}
	if n.isClosed() {
		t.Fatal("keeping sharing in the background closed the node")
	}
	n.closeWindow() // asks no more
	if n.win.Canvas().Overlays().Top() != nil || n.isClosed() {
		t.Fatalf("the second close: dialog %q, closed %v", dialogText(n.win), n.isClosed())
	}
	tray.item(t, trayShow).Action()

	tray.item(t, trayQuit).Action()
	q.until(t, "the node closes", n.isClosed)
}

// TestCloseWithoutTrayQuits: with no tray icon to come back from (a
// driver without a tray, or a desktop that shows no tray icons, as GNOME
// without its extension), closing the window quits at once, whatever the
// setting.
func TestCloseWithoutTrayQuits(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{tray: &fakeTray{}})
	n.trayShown = func() bool { return false }
	st := n.prefs.load()
	st.onClose = closeBackground
	n.prefs.save(st)
	n.closeWindow()
	q.until(t, "the node closes", n.isClosed)
}
