//go:build linux || freebsd || netbsd || openbsd || dragonfly

package gui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"peerflow/core"
)

// TestKeepRunningSettings: the Settings form keeps what closing does,
// starting in the background and starting with the session (an XDG
// autostart entry that runs this program), and reads them back.
func TestKeepRunningSettings(t *testing.T) {
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
