//go:build !(linux || freebsd || netbsd || openbsd || dragonfly)

package gui

// trayHostRunning reports whether the desktop shows tray icons: Windows
// and macOS always do.
func trayHostRunning() bool { return true }
