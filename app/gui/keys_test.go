package gui

import (
	"reflect"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// press types Ctrl (⌘) + key on w as the keyboard would: through the
// shortcuts the canvas holds (the test canvas wraps the one that
// dispatches them, and has no way of its own to type one).
func press(w fyne.Window, key fyne.KeyName) {
	inner := reflect.ValueOf(w.Canvas()).Elem().FieldByName("WindowlessCanvas").Interface()
	inner.(interface{ TypedShortcut(fyne.Shortcut) }).TypedShortcut(
		&desktop.CustomShortcut{KeyName: key, Modifier: fyne.KeyModifierShortcutDefault})
}

// typeKey types one key with nothing focused, as on a dialog.
func typeKey(w fyne.Window, key fyne.KeyName) { w.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: key}) }

// TestKeyboard: the shortcuts switch screens and open a copied link;
// the dialog that asks about it answers Escape and Enter.
func TestKeyboard(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	link := sharedLink(t, a, q, "poster.png", 100<<10)
	n := startNode(t, a, q, nodeOptions{})
	for i, tab := range []string{TabShare, TabNetwork, TabTransfers, TabTrackers, TabSettings} {
		press(n.win, fyne.KeyName(rune('1'+i)))
		if got := n.tabs.Selected().Text; got != tab {
			t.Errorf("Ctrl+%d shows %s, want %s", i+1, got, tab)
		}
	}
	// A screen with a field to type into has the focus there.
	press(n.win, fyne.Key2)
	if n.win.Canvas().Focused() != n.network.link {
		t.Errorf("Network: the focus is on %v, not the link field", n.win.Canvas().Focused())
	}
	press(n.win, fyne.Key4)
	if n.win.Canvas().Focused() != n.trackers.addr {
		t.Errorf("Trackers: the focus is on %v, not the address field", n.win.Canvas().Focused())
	}

	press(n.win, fyne.KeyL) // the link copied above
	if n.win.Canvas().Overlays().Top() == nil {
		t.Fatal("Ctrl+L with a link on the clipboard asks nothing")
	}
	// Keys go to the dialog, not to the field focused behind it.
	if f := n.win.Canvas().Focused(); f != nil {
		t.Fatalf("with the dialog open the focus is on %v", f)
	}
	typeKey(n.win, fyne.KeyEscape)
	if n.win.Canvas().Overlays().Top() != nil || len(n.transfers.rows) != 0 {
		t.Fatalf("Escape: the dialog %q stays, %d downloads", dialogText(n.win), len(n.transfers.rows))
	}
	press(n.win, fyne.KeyL)
	typeKey(n.win, fyne.KeyReturn)
	q.until(t, "Enter downloads the link", func() bool {
		r := n.transfers.rows[link.ID]
		return r != nil && r.ended
	})
	if n.tabs.Selected().Text != TabTransfers {
		t.Errorf("the download shows on %s, not Transfers", n.tabs.Selected().Text)
	}
	// Once the dialog is gone, Enter is the window's again.
	if n.win.Canvas().OnTypedKey() != nil {
		t.Error("the dialog's keys outlived it")
	}
}

// TestEveryControlIsLabelled: on every screen, each button and check
// box says what it does, and each text field says what goes in it (its
// form label, or a placeholder), for a screen reader and for the eye.
func TestEveryControlIsLabelled(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	for _, tab := range n.tabs.Items {
		objects := test.LaidOutObjects(tab.Content)
		inForm := map[fyne.CanvasObject]bool{}
		for _, o := range objects {
			if f, ok := o.(*widget.Form); ok {
				for _, it := range f.Items {
					if it.Text == "" {
						t.Errorf("%s: a form field has no label", tab.Text)
					}
					inForm[it.Widget] = true
				}
			}
		}
		for _, o := range objects {
			if !o.Visible() {
				continue
			}
			switch w := o.(type) {
			case *widget.Button:
				if w.Text == "" {
					t.Errorf("%s: a button shows only an icon (%s)", tab.Text, w.Icon.Name())
				}
			case *widget.Check:
				if w.Text == "" {
					t.Errorf("%s: a check box has no text", tab.Text)
				}
			case *widget.Entry:
				if !inForm[w] && w.PlaceHolder == "" {
					t.Errorf("%s: a text field (%q) has neither label nor placeholder", tab.Text, w.Text)
				}
			}
		}
	}
}

// TestWithoutAMouse: a link typed into the Network screen is downloaded
// with the keyboard alone: Ctrl+2, type, Tab to the button, Space.
func TestWithoutAMouse(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	link := sharedLink(t, a, q, "slides.pdf", 150<<10)
	n := startNode(t, a, q, nodeOptions{})
	press(n.win, fyne.Key2)
	field, ok := n.win.Canvas().Focused().(*widget.Entry)
	if !ok || field != n.network.link {
		t.Fatalf("the focus is on %v, not the link field", n.win.Canvas().Focused())
	}
	test.Type(field, link.String())
	test.FocusNext(n.win.Canvas())
	if got := n.win.Canvas().Focused(); got != n.network.getLink {
		t.Fatalf("Tab from the link field goes to %v, not %q", got, n.network.getLink.Text)
	}
	n.win.Canvas().Focused().TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace})
	q.until(t, "the typed link downloads", func() bool {
		r := n.transfers.rows[link.ID]
		return r != nil && r.ended
	})
}
