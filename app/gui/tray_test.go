package gui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"peerflow/core"
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

// TestCloseWithoutTrayQuits: with no tray to come back from, closing the
// window quits at once, whatever the setting.
func TestCloseWithoutTrayQuits(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	st := n.prefs.load()
	st.onClose = closeBackground
	n.prefs.save(st)
	n.closeWindow()
	q.until(t, "the node closes", n.isClosed)
}

// TestKeepRunningSettings: the Settings form keeps what closing does,
// starting in the background and starting with the session (an XDG
// autostart entry that runs this program), and reads them back.
func TestKeepRunningSettings(t *testing.T) {
	if !autostartSupported {
		t.Skip("no autostart on this system")
	}
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{tray: &fakeTray{}})
	s := n.settings
	s.onClose.SetSelected(closeModes[2].label)
	s.startHidden.SetChecked(true)
	s.autostart.SetChecked(true)
	s.form.OnSubmit()
	if n.win.Canvas().Overlays().Top() != nil {
		t.Fatalf("saving failed: %s", dialogText(n.win))
	}
	if st := n.prefs.load(); st.onClose != closeQuit || !st.startHidden {
		t.Errorf("kept %+v", st)
	}
	entry, err := os.ReadFile(filepath.Join(config, "autostart", core.AppID+".desktop"))
	exe, _ := os.Executable()
	if err != nil || !strings.Contains(string(entry), "\nExec=\""+exe+"\"\n") {
		t.Fatalf("the autostart entry (%v):\n%s", err, entry)
	}
	if !n.startsHidden() {
		t.Error("with a tray and the setting on, the window would show at start")
	}
	s.show(n.prefs.load()) // as at the next start
	if s.onClose.Selected != closeModes[2].label || !s.startHidden.Checked || !s.autostart.Checked {
		t.Errorf("the form shows %q, %v, %v", s.onClose.Selected, s.startHidden.Checked, s.autostart.Checked)
	}
	s.autostart.SetChecked(false)
	s.form.OnSubmit()
	if autostartEnabled() {
		t.Error("the autostart entry is still there")
	}
}

func TestQuoteExec(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/peerflow":         `"/usr/bin/peerflow"`,
		"/home/a b/peerflow":        `"/home/a b/peerflow"`,
		`/odd/$x"y` + "`z" + `\w/p`: `"/odd/\\$x\\"y\\` + "`" + `z\\\\w/p"`,
	} {
		if got := quoteExec(in); got != want {
			t.Errorf("quoteExec(%q) = %s, want %s", in, got, want)
		}
	}
}
