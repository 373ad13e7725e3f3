// Package store keeps a node's state on disk: one bbolt database per data
// folder holding the node's peer ID, its library (what it shares and
// downloads, surviving restarts), every known manifest, and per download
// the set of chunks that are verified and durably written.
//
// Shared files are served in place, never copied; a file that changed on
// disk since it was shared is detected and no longer served. A download is
// written to a hidden part file in its destination folder, at chunk
// offsets; only chunks whose SHA-256 matched are written, and a chunk
// counts as durable only after the part file was fsynced. On completion the
// part file is fsynced and moved into place without overwriting anything.
package store
