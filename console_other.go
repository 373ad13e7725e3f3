//go:build !windows

package main

// attachConsole does nothing: elsewhere a terminal command has the
// terminal it was started from (see console_windows.go).
func attachConsole() {}
