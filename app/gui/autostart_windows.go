package gui

import (
	"errors"

	"golang.org/x/sys/windows/registry"
)

// Start with the session on Windows: a value under the user's Run key.

const autostartSupported = true

const (
	runKey   = `Software\Microsoft\Windows\CurrentVersion\Run`
	runValue = "Peerflow"
)

// autostartEnabled reports whether the session starts Peerflow.
func autostartEnabled() bool {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	defer k.Close()
	_, _, err = k.GetStringValue(runValue)
	return err == nil
}

// setAutostart makes the session start exe at login, or stops it.
func setAutostart(on bool, exe string) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if !on {
		if err := k.DeleteValue(runValue); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return err
		}
		return nil
	}
	return k.SetStringValue(runValue, `"`+exe+`"`)
}
