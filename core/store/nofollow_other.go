//go:build !unix

package store

// oNoFollow is not available here; callers also check that what they
// opened is a regular file.
const oNoFollow = 0
