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

// diskFree returns the bytes free to an unprivileged user in dir's file
// system.
func diskFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// allocated is the space fi's blocks take on disk: less than its size for
// a part file whose missing chunks were never written.
func allocated(fi os.FileInfo) int64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.Size()
	}
	return st.Blocks * 512
}
