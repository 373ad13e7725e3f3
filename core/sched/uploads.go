package sched

import (
	"fmt"
	"time"

	"peerflow/core/peer"
	"peerflow/flow/chunkset"
)

// Tuning of the upload queue.
const (
	// MaxWait bounds the work waiting for a node's upload: about this long
	// at its measured upload rate. A request beyond it is refused as busy
	// and asked elsewhere, rather than waiting behind others while the
	// chunk spreads through other peers.
	MaxWait = time.Second
	// MinWaiting is the least number of requests that may wait, however
	// slow the upload: enough to keep it busy between round trips.
	MinWaiting = 8
	// MaxWaitingPerPeer bounds what one peer may have waiting, so that a
	// peer cannot make a node hold unbounded state.
	MaxWaitingPerPeer = 64
)

// Ask is a peer's request waiting for the upload: a range of a chunk.
type Ask struct {
	Peer           peer.ID
	Chunk          int
	Offset, Length uint32
}

// Uploads decides, for one content a node serves, which waiting request
// its upload serves next and which requests it refuses. A chunk that few
// connected peers hold goes first: while a chunk is new, each copy of it
// is another peer it can be fetched from, so serving it first makes it
// spread as a tree rather than a star from its first holder. And little
// waits: a request that would sit behind more than MaxWait of work is
// refused as busy, so that the peer asks one of the chunk's newer
// holders instead. Each peer is served one request at a time.
//
// A request for a common chunk may wait while rarer ones keep coming; it
// is not served first after some age (that made swarms slower in the
// simulator): its downloader's stall timer takes it elsewhere, where a
// common chunk has many sources.
//
// It is not safe for concurrent use.
type Uploads struct {
	chunks    int
	chunkSize int64
	holders   []int32 // per chunk: connected peers that hold it
	has       map[peer.ID]*chunkset.Set
	perPeer   map[peer.ID]int // waiting requests per peer
	serving   map[peer.ID]bool
	waiting   []Ask // oldest first
	meter     Meter
	busyFrom  time.Time // when serving became non-empty; zero while idle
}

// NewUploads starts an upload queue for a content of size bytes in chunks
// of chunkSize.
func NewUploads(size, chunkSize int64) (*Uploads, error) {
	if chunkSize <= 0 || size < 0 {
		return nil, fmt.Errorf("sched: size %d, chunk size %d", size, chunkSize)
	}
	n := int((size + chunkSize - 1) / chunkSize)
	if n > chunkset.MaxChunks {
		return nil, fmt.Errorf("sched: %d chunks, more than %d", n, chunkset.MaxChunks)
	}
	return &Uploads{
		chunks: n, chunkSize: chunkSize,
		holders: make([]int32, n),
		has:     make(map[peer.ID]*chunkset.Set),
		perPeer: make(map[peer.ID]int),
		serving: make(map[peer.ID]bool),
	}, nil
}

// Bitfield replaces what peer id holds.
func (u *Uploads) Bitfield(id peer.ID, has *chunkset.Set) error {
	if has.Len() != u.chunks {
		return fmt.Errorf("sched: peer %s holds a set of %d chunks, not %d", id.Short(), has.Len(), u.chunks)
	}
	u.forget(id)
	u.has[id] = has.Clone()
	for c := range has.All() {
		u.holders[c]++
	}
	return nil
}

// Have notes that peer id now holds chunk c.
func (u *Uploads) Have(id peer.ID, c int) {
	if c < 0 || c >= u.chunks {
		return
	}
	has := u.has[id]
	if has == nil {
		has = chunkset.New(u.chunks)
		u.has[id] = has
	}
	if !has.Has(c) {
		has.Set(c)
		u.holders[c]++
	}
}

// forget subtracts id's chunks from the holder counts.
func (u *Uploads) forget(id peer.ID) {
	if has := u.has[id]; has != nil {
		for c := range has.All() {
			u.holders[c]--
		}
		delete(u.has, id)
	}
}

// RemovePeer forgets a peer that left, with its waiting requests.
func (u *Uploads) RemovePeer(id peer.ID, now time.Time) {
	u.forget(id)
	u.drop(func(a Ask) bool { return a.Peer == id })
	delete(u.perPeer, id)
	if u.serving[id] {
		u.Done(id, 0, now)
	}
}

// Limit is how many requests may wait: MaxWait of the upload at its
// measured rate, at least MinWaiting.
func (u *Uploads) Limit() int {
	return max(MinWaiting, int(u.meter.rate*MaxWait.Seconds()/float64(u.chunkSize)))
}

// Add queues a request; false means it is refused as busy. Before the
// upload was measured, a peer that is the only one asking is bounded by
// MaxWaitingPerPeer alone: its requests wait behind nobody else's, and a
// fast link's first chunks go into the socket in microseconds, so the
// measure comes late; refusing a downloader far away that fills its
// pipeline would stall it for the busy backoff.
func (u *Uploads) Add(a Ask) bool {
	if a.Chunk < 0 || a.Chunk >= u.chunks || u.perPeer[a.Peer] >= MaxWaitingPerPeer {
		return false
	}
	if len(u.waiting) >= u.Limit() && (u.meter.measured || !u.onlyAsker(a.Peer)) {
		return false
	}
	u.waiting = append(u.waiting, a)
	u.perPeer[a.Peer]++
	return true
}

// onlyAsker reports whether every request waiting or being served is p's.
func (u *Uploads) onlyAsker(p peer.ID) bool {
	if u.perPeer[p] != len(u.waiting) {
		return false
	}
	for q := range u.serving {
		if q != p {
			return false
		}
	}
	return true
}

// Cancel drops a waiting request (peer, chunk and range as asked).
func (u *Uploads) Cancel(a Ask) {
	done := false
	u.drop(func(w Ask) bool {
		if done || w.Peer != a.Peer || w.Chunk != a.Chunk || w.Offset != a.Offset || w.Length != a.Length {
			return false
		}
		done = true
		return true
	})
}

// drop removes the waiting requests f selects.
func (u *Uploads) drop(f func(Ask) bool) {
	kept := u.waiting[:0]
	for _, a := range u.waiting {
		if f(a) {
			u.perPeer[a.Peer]--
			continue
		}
		kept = append(kept, a)
	}
	clear(u.waiting[len(kept):])
	u.waiting = kept
}

// Waiting is the number of requests waiting.
func (u *Uploads) Waiting() int { return len(u.waiting) }

// Serving is the number of peers being served.
func (u *Uploads) Serving() int { return len(u.serving) }

// Next takes the request to serve now, and marks its peer served until
// Done: the one whose chunk the fewest connected peers hold, the oldest
// of those. Requests of peers being served wait. ok is false when none
// may go.
func (u *Uploads) Next(now time.Time) (a Ask, ok bool) {
	best := -1
	for i, w := range u.waiting {
		if u.serving[w.Peer] {
			continue
		}
		if best < 0 || u.holders[w.Chunk] < u.holders[u.waiting[best].Chunk] {
			best = i
		}
	}
	if best < 0 {
		return Ask{}, false
	}
	a = u.waiting[best]
	u.waiting = append(u.waiting[:best], u.waiting[best+1:]...)
	u.perPeer[a.Peer]--
	if len(u.serving) == 0 {
		u.busyFrom = now
	}
	u.serving[a.Peer] = true
	return a, true
}

// Done records that the request Next gave for peer id was served: n
// bytes went out (0 if it failed).
func (u *Uploads) Done(id peer.ID, n int64, now time.Time) {
	if !u.serving[id] {
		return
	}
	delete(u.serving, id)
	u.meter.Add(n)
	u.meter.Tick(now.Sub(u.busyFrom))
	u.busyFrom = now
	if len(u.serving) == 0 {
		u.busyFrom = time.Time{}
	}
}
