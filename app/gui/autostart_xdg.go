//go:build linux || freebsd || netbsd || openbsd || dragonfly

package gui

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"peerflow/core"
)

// Start with the session, on desktops that follow the XDG autostart
// specification: an entry in $XDG_CONFIG_HOME/autostart (the Linux
// package's `make uninstall` removes it too).

const autostartSupported = true

func autostartPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "autostart", core.AppID+".desktop"), nil
}

// autostartEnabled reports whether the session starts Peerflow.
func autostartEnabled() bool {
	p, err := autostartPath()
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// setAutostart makes the session start exe at login, or stops it.
func setAutostart(on bool, exe string) error {
	p, err := autostartPath()
	if err != nil {
		return err
	}
	if !on {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	entry := "[Desktop Entry]\nType=Application\nName=Peerflow\nComment=Share and download files from many peers at once\n" +
		"Exec=" + quoteExec(exe) + "\nIcon=" + core.AppID + "\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(entry), 0o644)
}

// quoteExec quotes a program path for a desktop entry's Exec key: in
// double quotes, with ", `, $ and \ escaped, as the specification asks.
func quoteExec(path string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`)
	// The file's own escaping doubles each backslash once more.
	return strings.ReplaceAll(`"`+r.Replace(path)+`"`, `\`, `\\`)
}
