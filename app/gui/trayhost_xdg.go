//go:build linux || freebsd || netbsd || openbsd || dragonfly

package gui

import "github.com/godbus/dbus/v5"

// trayHostRunning reports whether the desktop shows tray icons: on these
// systems fyne's tray is a StatusNotifierItem, which only a running
// org.kde.StatusNotifierWatcher shows (KDE, XFCE, most panels; GNOME
// only with an extension). Without one, a window hidden "to the tray"
// could not be found again.
func trayHostRunning() bool {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return false
	}
	defer conn.Close()
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has)
	return err == nil && has
}
