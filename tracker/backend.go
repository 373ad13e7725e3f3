package tracker

import (
	"time"

	"peerflow/core/content"
)

// backend is where a tracker keeps what must outlive the process: its
// ID, the manifests published to it (each written once, before the
// publish is answered), the access records of private swarms, and the
// live peers' leases and holdings, written behind in batches of what
// changed (write). The live state itself is in memory (state.go); a
// backend is read whole once, at open (load).
//
// boltStore (store.go) is the embedded one, a file of one tracker's.
// etcdStore (etcdstore.go) is shared by a fleet of trackers: each follows
// what the others write into its own memory (follow).
type backend interface {
	// trackerID is the tracker's ID: a fleet's trackers share one.
	trackerID() string
	// String names the store, for logs and the health endpoint.
	String() string
	// putManifest stores a manifest (its canonical bytes) under its ID,
	// and a private swarm's access record; created is false when it was
	// there already (errAccessConflict if with other access). It returns
	// once the manifest is durable.
	putManifest(id content.ID, body []byte, access *[32]byte) (created bool, err error)
	// manifest returns a stored manifest's canonical bytes.
	manifest(id content.ID) ([]byte, error)
	// load reads every record.
	load() (*stored, error)
	// follow starts applying to st what other trackers write, from what
	// load read; close stops it.
	follow(st *state, now func() time.Time)
	// write stores the leases and holdings of the peers that changed, and
	// removes those of the peers that left.
	write(snaps []peerSnapshot) error
	// ping reports whether the store answers.
	ping() error
	close() error
}
