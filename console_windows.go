package main

import (
	"os"
	"syscall"
)

// attachConsole gives a terminal command a console to write to. The
// Windows build is a GUI program, so that no console window opens when
// the app starts from the Start menu or a clicked link; run from a
// console, it attaches to that one, and writes there unless its output
// already goes to a file or a pipe.
func attachConsole() {
	const attachParentProcess = ^uintptr(0) // ATTACH_PARENT_PROCESS, (DWORD)-1
	attach := syscall.NewLazyDLL("kernel32.dll").NewProc("AttachConsole")
	if ok, _, _ := attach.Call(attachParentProcess); ok == 0 {
		return // no console to attach to: started from a shortcut
	}
	for _, f := range []**os.File{&os.Stdout, &os.Stderr} {
		if _, err := (*f).Stat(); err == nil {
			continue // redirected: keep it
		}
		if out, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0); err == nil {
			*f = out
		}
	}
}
