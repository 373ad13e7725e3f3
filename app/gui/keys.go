package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
)

// The keyboard: every common action has a shortcut (Ctrl, or ⌘ on a Mac;
// README lists them), and every dialog that asks something answers Enter
// and Escape. Fyne moves the focus with Tab and
// Shift+Tab through the screen's controls in reading order, and Space
// presses the focused button.

// shortcut is a window-wide key with Ctrl (⌘ on a Mac).
type shortcut struct {
	key  fyne.KeyName
	what string // as README's table says it
	do   func(u *UI)
}

// shortcuts are the window's keys.
var shortcuts = []shortcut{
	{fyne.KeyO, "share a file", func(u *UI) { u.tabs.Select(u.share.tab); u.share.pickFile() }},
	{fyne.KeyL, "download the link on the clipboard (after asking)", func(u *UI) { u.askToDownload(u.app.Clipboard().Content()) }},
	{fyne.Key1, "show Share", func(u *UI) { u.tabs.SelectIndex(0) }},
	{fyne.Key2, "show Network", func(u *UI) { u.tabs.SelectIndex(1) }},
	{fyne.Key3, "show Transfers", func(u *UI) { u.tabs.SelectIndex(2) }},
	{fyne.Key4, "show Trackers", func(u *UI) { u.tabs.SelectIndex(3) }},
	{fyne.Key5, "show Settings", func(u *UI) { u.tabs.SelectIndex(4) }},
	{fyne.KeyQ, "quit", func(u *UI) { u.Quit() }},
}

// addShortcuts puts the shortcuts on the window.
func (u *UI) addShortcuts() {
	for _, s := range shortcuts {
		u.win.Canvas().AddShortcut(&desktop.CustomShortcut{KeyName: s.key, Modifier: fyne.KeyModifierShortcutDefault},
			func(fyne.Shortcut) { s.do(u) })
	}
}

// showConfirm shows d and lets the keyboard answer it: Enter confirms,
// Escape dismisses (as its buttons do), while it is open.
func (u *UI) showConfirm(d *dialog.ConfirmDialog) {
	u.showAnswerable(d, d.Confirm, d.Dismiss)
}

// showAnswerable shows d with enter and escape run by those keys while
// it is open; both must close d.
func (u *UI) showAnswerable(d dialog.Dialog, enter, escape func()) {
	c := u.win.Canvas()
	before := c.OnTypedKey()
	c.SetOnTypedKey(func(ev *fyne.KeyEvent) {
		switch ev.Name {
		case fyne.KeyReturn, fyne.KeyEnter:
			enter()
		case fyne.KeyEscape:
			escape()
		default:
			if before != nil {
				before(ev)
			}
		}
	})
	d.SetOnClosed(func() { c.SetOnTypedKey(before) })
	d.Show()
}
