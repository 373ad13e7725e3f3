package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing f's dirty pages to disk
// without waiting for them.
func startWriteback(f *os.File) {
	unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
