//go:build !unix

package store

import "os"

// oNoFollow is not available here; callers also check that what they
// opened is a regular file.
const oNoFollow = 0

// fileIDOf has no device and inode numbers to give here: the zero FileID
// leaves files compared by size and modification time only.
func fileIDOf(os.FileInfo) FileID { return FileID{} }
