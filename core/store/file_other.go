//go:build !unix

package store

import "os"

// oNoFollow is not available here; callers also check that what they
// opened is a regular file.
const oNoFollow = 0

// fileIDOf has no device and inode numbers to give here: the zero FileID
// leaves files compared by size and modification time only.
func fileIDOf(os.FileInfo) FileID { return FileID{} }

// diskFree does not know the free space here.
func diskFree(string) (int64, bool) { return 0, false }

// allocated takes a file's size for the space it takes.
func allocated(fi os.FileInfo) int64 { return fi.Size() }
