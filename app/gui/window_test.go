package gui

import (
	"testing"

	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
)

func TestMainWindow(t *testing.T) {
	a := test.NewTempApp(t)
	u := New(a)
	if got := u.Window().Title(); got != "Peerflow" {
		t.Errorf("title = %q, want Peerflow", got)
	}
	tabs, ok := u.Window().Content().(*container.AppTabs)
	if !ok {
		t.Fatalf("window content is %T, want *container.AppTabs", u.Window().Content())
	}
	want := []string{"Share", "Network", "Transfers", "Trackers", "Settings"}
	if len(tabs.Items) != len(want) {
		t.Fatalf("%d tabs, want %d", len(tabs.Items), len(want))
	}
	for i, item := range tabs.Items {
		if item.Text != want[i] {
			t.Errorf("tab %d = %q, want %q", i, item.Text, want[i])
		}
	}
}

// BenchmarkBuildWindow builds the main window with every screen, as the
// app does at start, and lays it out.
func BenchmarkBuildWindow(b *testing.B) {
	a := test.NewTempApp(b)
	b.ReportAllocs()
	for b.Loop() {
		u := New(a)
		u.Window().Content().MinSize()
		u.Window().Close()
	}
}
