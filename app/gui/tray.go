package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/assets"
)

// Keeping running: with a system tray (fyne's desktop.App), closing the
// window can leave Peerflow sharing in the background, and the tray menu
// brings the window back or quits. What closing does is a setting; by
// default the first close asks, and the answer becomes the setting.

// closeMode says what closing the window does.
type closeMode string

const (
	closeAsk        closeMode = "ask"        // ask, once; the answer is kept
	closeBackground closeMode = "background" // hide the window, keep sharing
	closeQuit       closeMode = "quit"
)

// closeModes are the choices of what closing the window does.
var closeModes = choices[closeMode]{
	{closeAsk, "Asks what to do"},
	{closeBackground, "Keeps sharing in the background (system tray)"},
	{closeQuit, "Quits Peerflow"},
}

// Tray menu items, as the menu shows them.
const (
	trayShow = "Show Peerflow"
	trayQuit = "Quit Peerflow"
)

// setUpTray puts Peerflow in the system tray, if the desktop has one.
func (u *UI) setUpTray() {
	if u.tray == nil {
		return
	}
	show := fyne.NewMenuItem(trayShow, u.showWindow)
	quit := fyne.NewMenuItem(trayQuit, u.Quit)
	quit.IsQuit = true // fyne adds no Quit of its own, which would skip the clean stop
	u.tray.SetSystemTrayMenu(fyne.NewMenu("Peerflow", show, fyne.NewMenuItemSeparator(), quit))
	u.tray.SetSystemTrayIcon(assets.Icon)
}

// showWindow brings the window back (from the tray, or for a second
// start of the app).
func (u *UI) showWindow() {
	u.win.Show()
	u.win.RequestFocus()
}

// closeWindow is what the window's close button does: quit, or hide the
// window and keep sharing, as the setting says; the first time, ask.
func (u *UI) closeWindow() {
	if !u.hasTray() || u.node == nil { // no way back to a hidden window
		u.Quit()
		return
	}
	switch u.prefs.load().onClose {
	case closeBackground:
		u.win.Hide()
	case closeQuit:
		u.Quit()
	default:
		u.askOnClose()
	}
}

// askOnClose asks what closing should do and keeps the answer; Cancel
// (or Escape) leaves the window open and asks again next time.
func (u *UI) askOnClose() {
	msg := widget.NewLabel("Peerflow can keep sharing your files and finish your downloads while its window is closed: " +
		"it stays in the system tray, where you can open it again or quit (starting Peerflow again opens it too). " +
		"You can change this on the Settings tab.")
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomWithoutButtons("Keep sharing in the background?", msg, u.win)
	answer := func(mode closeMode) {
		d.Hide()
		st := u.prefs.load()
		st.onClose = mode
		u.prefs.save(st)
		u.settings.show(st)
		u.closeWindow()
	}
	keep := widget.NewButtonWithIcon("Keep sharing", theme.ConfirmIcon(), func() { answer(closeBackground) })
	keep.Importance = widget.HighImportance
	d.SetButtons([]fyne.CanvasObject{
		widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), d.Hide),
		widget.NewButtonWithIcon("Quit", theme.LogoutIcon(), func() { answer(closeQuit) }),
		keep,
	})
	d.Resize(fyne.NewSize(520, 0))
	u.showAnswerable(d, func() { answer(closeBackground) }, d.Hide)
}

// Run shows the window and runs the app until it quits; with the setting
// to start in the background (and a tray to come back from), the window
// stays hidden, unless a link is to be opened.
func (u *UI) Run() {
	if u.startsHidden() {
		u.app.Run()
		return
	}
	u.win.ShowAndRun()
}

// startsHidden reports whether Run leaves the window hidden.
func (u *UI) startsHidden() bool {
	return u.node != nil && u.hasTray() && u.prefs.load().startHidden && u.cfg.Open == ""
}

// hasTray reports whether Peerflow's tray icon is there to bring a hidden
// window back.
func (u *UI) hasTray() bool { return u.tray != nil && u.trayShown() }

// trayOf is a's system tray, or nil when its driver has none.
func trayOf(a fyne.App) desktop.App {
	if d, ok := a.(desktop.App); ok {
		return d
	}
	return nil
}
