// Package tracker is the Peerflow tracker: it keeps, per content, which
// chunks each live peer holds, and answers peers over HTTP + JSON (the
// protocol is package core/trackerapi).
//
// A Server is opened on a store (Open): a bbolt file of its own, or an
// etcd cluster that a fleet of trackers shares (etcdstore.go: the key
// layout, one etcd lease per peer; etcdsync.go: the write path and the
// watch through which each tracker follows the others into memory). It
// serves its API on listeners
// (Serve) and is closed with Close. Live state is in memory, guarded by one
// RWMutex: an announce is decoded and validated outside the lock and
// applied in about a microsecond inside it. Peers hold a lease (three
// missed heartbeats); an expired peer stops counting at once and is
// pruned from memory and the store by the janitor goroutine, which also
// writes announces behind to the store once a second. store.go says what a crash can
// lose and why that is harmless.
//
// Advertise announces a tracker on the LAN over mDNS; it is separate from
// the Server so the desktop app can switch it on and off.
package tracker
