// Package gui is Peerflow's desktop front end, built with Fyne. It talks only
// to core.Node: never to sockets or the database.
//
// The package does not import fyne.io/fyne/v2/app (main does), so its tests
// run on fyne's headless test driver without cgo or a display.
package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// Tab titles, in the order the window shows them.
const (
	TabShare     = "Share"
	TabNetwork   = "Network"
	TabTransfers = "Transfers"
	TabTrackers  = "Trackers"
	TabSettings  = "Settings"
)

// UI is the main window and the screens inside it.
type UI struct {
	app  fyne.App
	win  fyne.Window
	tabs *container.AppTabs
}

// New builds the main window of a.
func New(a fyne.App) *UI {
	u := &UI{app: a, win: a.NewWindow("Peerflow")}
	u.tabs = container.NewAppTabs()
	for _, title := range []string{TabShare, TabNetwork, TabTransfers, TabTrackers, TabSettings} {
		u.tabs.Append(container.NewTabItem(title, widget.NewLabel("")))
	}
	u.win.SetContent(u.tabs)
	u.win.Resize(fyne.NewSize(960, 640))
	return u
}

// Window is the main window.
func (u *UI) Window() fyne.Window { return u.win }
