//go:build !(linux || freebsd || netbsd || openbsd || dragonfly || windows)

package gui

import "errors"

// No "start with the session" here yet (macOS would need a launch agent):
// the setting is shown disabled.

const autostartSupported = false

func autostartEnabled() bool { return false }

func setAutostart(bool, string) error { return errors.ErrUnsupported }
