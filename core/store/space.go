package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"peerflow/core/content"
)

// SpaceError says that a download does not fit where it goes: the folder,
// what the download still has to write there, and what is free. It wraps
// ENOSPC, so errors.Is(err, syscall.ENOSPC) holds.
type SpaceError struct {
	Folder string
	Name   string
	Needed int64 // bytes the download still has to write in Folder
	Free   int64 // bytes free there; -1 when the system does not say
}

func (e *SpaceError) Error() string {
	free := "free space unknown"
	if e.Free >= 0 {
		free = content.FormatBytes(e.Free) + " free"
	}
	return fmt.Sprintf("no room in %s for %s: %s more is needed, %s: %v", e.Folder, e.Name, content.FormatBytes(e.Needed), free, syscall.ENOSPC)
}

func (e *SpaceError) Unwrap() error { return syscall.ENOSPC }

// freeSpace is the space free to this user in dir's file system, ok false
// where the system does not say; a variable so tests can fill a disk.
var freeSpace = diskFree

// spaceError describes the lack of room for the rest of m's part file f
// in folder: what the file still needs beyond the blocks it holds.
func spaceError(folder string, m *content.Manifest, f *os.File) *SpaceError {
	needed := m.Size
	if fi, err := f.Stat(); err == nil {
		needed = max(0, m.Size-allocated(fi))
	}
	free, ok := freeSpace(folder)
	if !ok {
		free = -1
	}
	return &SpaceError{Folder: folder, Name: m.Name, Needed: needed, Free: free}
}

// checkRoom refuses to start writing m's part file f in folder when the
// file system has less free space than the file still needs.
func checkRoom(folder string, m *content.Manifest, f *os.File) error {
	e := spaceError(folder, m, f)
	if e.Free >= 0 && e.Free < e.Needed {
		return e
	}
	return nil
}

// isNoSpace reports whether err is a write that failed for lack of space.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
