//go:build !linux

package store

import "os"

// startWriteback is a no-op where sync_file_range does not exist; the
// next fsync writes everything.
func startWriteback(*os.File) {}
