package gui

import (
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
)

// Bad input ends in a dialog that says what to do, never in a crash.
func TestBadInputShowsDialog(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	tests := []struct {
		name string
		do   func()
		want string
	}{
		{"bad link", func() {
			n.network.link.SetText("peerflow://not-a-content-id")
			test.Tap(n.network.getLink)
		}, "paste the whole link"},
		{"bad tracker address", func() {
			n.trackers.addr.SetText("tracker.example")
			test.Tap(n.trackers.addButton)
		}, "host:port"},
		{"missing download folder", func() {
			n.settings.folder.SetText("/nonexistent/peerflow-downloads")
			n.settings.form.OnSubmit()
		}, "create it, or choose another"},
		{"missing file", func() {
			n.share.sharePaths([]string{"/nonexistent/file.bin"})
		}, "check that it still exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do()
			q.until(t, "a dialog shows", func() bool { return n.win.Canvas().Overlays().Top() != nil })
			if got := dialogText(n.win); !strings.Contains(got, tt.want) {
				t.Errorf("dialog says %q; want it to say %q", got, tt.want)
			}
			typeKey(n.win, "Return") // the keyboard closes it
			if n.win.Canvas().Overlays().Top() != nil {
				t.Error("Enter does not close the error")
			}
		})
	}
}

// A node that cannot open leaves the window saying why and what to do.
func TestStartFailureSaysWhatToDo(t *testing.T) {
	a := test.NewTempApp(t)
	dir := t.TempDir()
	held, err := core.Open(dir, core.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	u := New(a)
	defer u.Close()
	if err := u.Start(Config{DataDir: dir, ListenHost: "127.0.0.1"}); !errors.Is(err, core.ErrInUse) {
		t.Fatalf("Start on a data folder in use: %v, want ErrInUse", err)
	}
	var shown []string
	for _, o := range test.LaidOutObjects(u.win.Content()) {
		if l, ok := o.(*widget.Label); ok {
			shown = append(shown, l.Text)
		}
	}
	if got := strings.Join(shown, "\n"); !strings.Contains(got, "--data DIR") {
		t.Errorf("window says %q; want it to suggest --data DIR", got)
	}
}
