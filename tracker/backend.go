package tracker

import "peerflow/core/content"

// backend is where a tracker keeps what must outlive the process: its
// ID, the manifests published to it (each written once, before the
// publish is answered), the access records of private swarms, and the
// live peers' leases and holdings, written behind in batches of what
// changed (write). The live state itself is in memory (state.go); a
// backend is read whole once, at open (load). boltStore (store.go) is the
// embedded one.
type backend interface {
	trackerID() string
	// putManifest stores a manifest (its canonical bytes) under its ID,
	// and a private swarm's access record; created is false when it was
	// there already. It returns once the manifest is durable.
	putManifest(id content.ID, body []byte, access *[32]byte) (created bool, err error)
	// manifest returns a stored manifest's canonical bytes.
	manifest(id content.ID) ([]byte, error)
	// load reads every record.
	load() (*stored, error)
	// write stores the leases and holdings of the peers that changed, and
	// removes those of the peers that left.
	write(snaps []peerSnapshot) error
	close() error
}
