package gui

import (
	"testing"

	"fyne.io/fyne/v2/test"
)

// TestParseLimit: the rate fields take MB/s, 0 for unlimited, and refuse
// what is not a usable rate (NaN passes every "< 0" check).
func TestParseLimit(t *testing.T) {
	for text, want := range map[string]int64{"0": 0, "2.5": 2_500_000, " 1 ": 1_000_000, "0.000001": 1} {
		if got, err := parseLimit("upload", text); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", text, got, err, want)
		}
	}
	for _, text := range []string{"NaN", "nan", "-NaN", "Inf", "+Inf", "-1", "1e7", "0.0000001", "", "fast"} {
		if got, err := parseLimit("upload", text); err == nil {
			t.Errorf("%q accepted as %d B/s", text, got)
		}
	}
}

// TestScopeSetting: what trackers not added by hand hear of is a setting
// the form shows, saves and applies.
func TestScopeSetting(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	if got := n.settings.scope.Selected; got != scopes[0].label {
		t.Fatalf("default choice %q, want %q", got, scopes[0].label)
	}
	for _, l := range scopes {
		n.settings.scope.SetSelected(l.label)
		n.settings.form.OnSubmit()
		if got := n.prefs.load().scope; got != l.value {
			t.Errorf("chose %q, saved %v", l.label, got)
		}
	}
}
