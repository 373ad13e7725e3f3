//go:build unix

package store

import (
	"os"
	"syscall"
)

// oNoFollow makes an open fail on a symlink in the last path element.
const oNoFollow = syscall.O_NOFOLLOW

// fileIDOf returns the device and inode numbers of fi.
func fileIDOf(fi os.FileInfo) FileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}
	}
	return FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
}
