package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"peerflow/core/content"
	"peerflow/core/store"
	"peerflow/core/transfer"
	"peerflow/flow/chunkset"
)

// Types the front ends see, from the transfer engine.
type (
	Event    = transfer.Event
	Progress = transfer.Progress
	Result   = transfer.Result
	State    = transfer.State
	PeerInfo = transfer.PeerInfo
)

// Event kinds and download states, for the front ends.
const (
	EventChunk = transfer.EventChunk
	EventState = transfer.EventState
	EventPeer  = transfer.EventPeer

	StateConnecting  = transfer.StateConnecting
	StateDownloading = transfer.StateDownloading
	StateStalled     = transfer.StateStalled
	StatePaused      = transfer.StatePaused
	StateComplete    = transfer.StateComplete
	StateFailed      = transfer.StateFailed
	StateStopped     = transfer.StateStopped

	OriginSource = transfer.OriginSource
)

// Download is a running download, as the front ends hold it.
type Download struct {
	n  *Node
	id content.ID
	m  *content.Manifest
	t  *transfer.Download

	mu      sync.Mutex
	subs    map[int]func(Event)
	nextSub int
	// readers are the open Readers that waited for a chunk, with the
	// chunk each last waited for and when (a sequence number): the
	// download fetches in order from the latest one's.
	readers map[*Reader]wanted
	seq     int
}

// wanted is where a Reader last waited.
type wanted struct{ chunk, seq int }

// want notes that r waits for chunk c: the download fetches in order
// from the latest waiting reader's chunk, and asks for c at once if it is
// not in flight. A closed Reader is not noted again.
func (d *Download) want(r *Reader, c int) {
	d.mu.Lock()
	if r.closed {
		d.mu.Unlock()
		return
	}
	if w, ok := d.readers[r]; !ok || w.chunk != c {
		if d.readers == nil {
			d.readers = make(map[*Reader]wanted)
		}
		d.seq++
		d.readers[r] = wanted{c, d.seq}
	}
	from := d.latestLocked()
	d.mu.Unlock()
	d.t.StreamFrom(from)   // a no-op unless the latest reader moved
	d.t.Urgent(r.id, c, 0) // waited for: as soon as can be
}

// latestLocked is the chunk the latest reader waited for, or -1.
func (d *Download) latestLocked() int {
	latest := wanted{chunk: -1}
	for _, w := range d.readers {
		if w.seq > latest.seq {
			latest = w
		}
	}
	return latest.chunk
}

// unwant forgets r, which is closed: the download fetches from the latest
// remaining reader's chunk, or in its usual order if none is left.
func (d *Download) unwant(r *Reader) {
	d.mu.Lock()
	r.closed = true
	if _, ok := d.readers[r]; !ok {
		d.mu.Unlock()
		return
	}
	delete(d.readers, r)
	from := d.latestLocked()
	d.mu.Unlock()
	d.t.Forget(r.id)
	d.t.StreamFrom(from)
}

// ID is the content being downloaded.
func (d *Download) ID() content.ID { return d.id }

// Manifest describes the content being downloaded.
func (d *Download) Manifest() *content.Manifest { return d.m }

// Progress returns a snapshot.
func (d *Download) Progress() Progress { return d.t.Progress() }

// Have returns the chunks verified so far.
func (d *Download) Have() *chunkset.Set { return d.t.Have() }

// Sources tells, for every chunk verified in this run, where it came from:
// names[perChunk[i]] (a peer's listen address or OriginSource), or -1 for
// a chunk not verified in this run. Subscribe first, then call Sources:
// together they miss nothing.
func (d *Download) Sources() (names []string, perChunk []int32) { return d.t.Sources() }

// Peers returns the peers connected for this content.
func (d *Download) Peers() []PeerInfo { return d.n.engine.Connected(d.id) }

// Done is closed when the download ends: complete, failed or stopped.
func (d *Download) Done() <-chan struct{} { return d.t.Done() }

// Wait blocks until the download ends or ctx is done.
func (d *Download) Wait(ctx context.Context) (Result, error) { return d.t.Wait(ctx) }

// Subscribe calls fn for every event from now on (fn must return quickly
// and not call back into the Download); cancel stops it.
func (d *Download) Subscribe(fn func(Event)) (cancel func()) {
	d.mu.Lock()
	k := d.nextSub
	d.nextSub++
	d.subs[k] = fn
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.subs, k)
		d.mu.Unlock()
	}
}

func (d *Download) dispatch(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, fn := range d.subs {
		fn(ev)
	}
}

// Pause stops fetching (peers are still served); it is remembered across
// restarts.
func (d *Download) Pause() error {
	d.t.Pause()
	return d.setPaused(true)
}

// Resume continues a paused download.
func (d *Download) Resume() error {
	d.t.Resume()
	return d.setPaused(false)
}

func (d *Download) setPaused(p bool) error {
	e, err := d.n.store.Get(d.id)
	if err != nil {
		return err
	}
	if e.Complete() {
		return nil
	}
	e.Paused = p
	return d.n.store.Put(e)
}

// Cancel stops the download for good: the part file is deleted and the
// library forgets it.
func (d *Download) Cancel() error {
	if d.t.Progress().State == StateComplete {
		return errors.New("the download is complete; remove the file instead")
	}
	d.t.Stop()
	d.n.engine.Unseed(d.id)
	e, err := d.n.store.Get(d.id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err == nil && !e.Complete() {
		if err := store.RemovePart(e.Folder, e.Manifest); err != nil {
			return fmt.Errorf("remove the part file: %w", err)
		}
	}
	d.n.mu.Lock()
	if d.n.downloads[d.id] == d {
		delete(d.n.downloads, d.id)
	}
	d.n.mu.Unlock()
	d.n.announceSoon()
	return d.n.store.Remove(d.id)
}
