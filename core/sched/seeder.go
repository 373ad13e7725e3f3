package sched

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"peerflow/core/peer"
	"peerflow/flow/chunkset"
)

// Tuning of super-seeding.
const (
	// minWindow is the least number of chunks a downloader may hold of
	// the seeder's handouts before they spread.
	minWindow = 2
	// maxWindow bounds the window however fast a downloader is.
	maxWindow = 4096
	// windowHorizon sizes a window by rate: what the seeder sends a
	// downloader in this long. It covers a handout's trip to its
	// downloader and on to a second peer.
	windowHorizon = 500 * time.Millisecond
	// maxGrowth bounds how far idle time widens the windows.
	maxGrowth = 16
	// WidenAfter is how long a seeder's upload may sit idle, with every
	// chunk handed out, before it offers everything to each downloader
	// that still lacks chunks and got none for as long: one that cannot
	// reach the others is then served directly.
	WidenAfter = 2 * time.Second
)

// Offer is a chunk to advertise to a peer, with a have.
type Offer struct {
	Peer  peer.ID
	Chunk int
}

// Offers is what a seeder should tell its peers after an event.
type Offers struct {
	Haves []Offer   // advertise one chunk to one peer
	Full  []peer.ID // advertise every chunk: send these peers a full bitfield
}

func (o *Offers) empty() bool { return len(o.Haves) == 0 && len(o.Full) == 0 }

// Seeder decides what a seeder that holds every chunk advertises to whom,
// so that it sends each chunk about once (super-seeding, in the spirit of
// BEP 16, done by what it advertises). See the package comment. It is
// not safe for concurrent use.
type Seeder struct {
	chunks    int
	chunkSize int64
	peers     map[peer.ID]*seedPeer
	slots     []*seedPeer   // by handle; nil when free
	holders   []int32       // per chunk: connected peers that hold it
	owner     []int32       // per chunk: handle of the downloader it is handed to, or -1
	rescued   *chunkset.Set // chunks offered to a second downloader; see rescue
	inBack    *chunkset.Set // chunks in back
	completes int           // connected peers that hold every chunk
	// The pool of chunks not handed out yet: the walk perm(next),
	// perm(next+1), ... and chunks given back (their holders left).
	next      int
	stride    int
	offset    int
	inverse   int // stride^-1 mod chunks
	known     int // connected peers whose bitfield arrived
	back      []int32
	growth    int
	idleSince time.Time
	lastTick  time.Time
}

// seedPeer is the seeder's view of one connected peer.
type seedPeer struct {
	id      peer.ID
	handle  int32
	has     *chunkset.Set // its chunks, from its bitfield and haves
	count   int           // chunks in has
	known   bool          // its bitfield arrived
	full    bool          // offered everything
	offered *chunkset.Set // what it was told the seeder holds
	handed  []int         // chunks handed to it that have not spread yet
	spreads int           // its handouts that spread since the last tick
	got     bool          // it got a chunk since the last tick
	stuck   time.Time     // since when it got nothing; zero while it gets chunks
	rate    float64       // its handouts that spread, per second, smoothed
}

// NewSeeder starts super-seeding a content of size bytes in chunks of
// chunkSize. self seeds the order chunks are handed out in, so that two
// seeders of one content hand out different chunks first.
func NewSeeder(size, chunkSize int64, self peer.ID, now time.Time) (*Seeder, error) {
	if chunkSize <= 0 || size < 0 {
		return nil, fmt.Errorf("sched: size %d, chunk size %d", size, chunkSize)
	}
	n := int((size + chunkSize - 1) / chunkSize)
	if n > chunkset.MaxChunks {
		return nil, fmt.Errorf("sched: %d chunks, more than %d", n, chunkset.MaxChunks)
	}
	s := &Seeder{
		chunks: n, chunkSize: chunkSize,
		peers:    make(map[peer.ID]*seedPeer),
		holders:  make([]int32, n),
		owner:    make([]int32, n),
		rescued:  chunkset.New(n),
		inBack:   chunkset.New(n),
		growth:   1,
		lastTick: now,
	}
	for i := range s.owner {
		s.owner[i] = -1
	}
	s.stride, s.offset = walkOf(n, binary.BigEndian.Uint64(self[:8]))
	s.inverse = modInverse(s.stride, max(n, 1))
	return s, nil
}

// walkOf picks an affine walk c = (stride*k + offset) mod n over every
// chunk: a stride coprime with n, both from the seed.
func walkOf(n int, seed uint64) (stride, offset int) {
	if n <= 1 {
		return 1, 0
	}
	x := mix(seed)
	offset = int(x % uint64(n))
	stride = 1 + int(mix(x)%uint64(n-1))
	for gcd(stride, n) != 1 {
		stride++
		if stride >= n {
			stride = 1
		}
	}
	return stride, offset
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// mix is SplitMix64's finalizer: a seed-dependent but fixed scramble.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// AddPeer starts serving a connected peer; it returns the bitfield to
// send it first: a first window of handouts, as if it held nothing (most
// newcomers do; what it holds counts once its bitfield comes).
func (s *Seeder) AddPeer(id peer.ID) *chunkset.Set {
	if p := s.peers[id]; p != nil {
		return p.offered.Clone()
	}
	p := &seedPeer{id: id, has: chunkset.New(s.chunks), offered: chunkset.New(s.chunks)}
	p.handle = int32(len(s.slots))
	for i, q := range s.slots {
		if q == nil {
			p.handle = int32(i)
			break
		}
	}
	if int(p.handle) == len(s.slots) {
		s.slots = append(s.slots, p)
	} else {
		s.slots[p.handle] = p
	}
	s.peers[id] = p
	s.handOut(p, nil)
	return p.offered.Clone()
}

// RemovePeer forgets a peer that left: chunks only it held, and chunks
// handed to it that it did not get, are handed out again.
func (s *Seeder) RemovePeer(id peer.ID) Offers {
	p := s.peers[id]
	if p == nil {
		return Offers{}
	}
	s.forget(p)
	for _, c := range p.handed {
		if s.owner[c] == p.handle {
			s.owner[c] = -1
		}
		s.giveBack(c)
	}
	if p.known {
		for c := range p.has.All() {
			s.giveBack(c)
		}
	}
	delete(s.peers, id)
	s.slots[p.handle] = nil
	return s.refillAll()
}

// giveBack returns chunk c to the pool if nobody holds it, nobody was
// handed it, and the walk has passed it.
func (s *Seeder) giveBack(c int) {
	if s.owner[c] < 0 && s.holders[c] == 0 && !s.inBack.Has(c) && s.walked(c) {
		s.inBack.Set(c)
		s.back = append(s.back, int32(c))
	}
}

// complete reports whether p holds every chunk.
func (s *Seeder) complete(p *seedPeer) bool { return p.count == s.chunks }

// walked reports whether the walk has passed chunk c, so that it comes
// back only through s.back.
func (s *Seeder) walked(c int) bool {
	if s.next >= s.chunks {
		return true
	}
	// k with perm(k) = c: k = (c - offset) * stride^-1 mod n.
	k := (c - s.offset + s.chunks) % s.chunks * s.inverse % s.chunks
	return k < s.next
}

// modInverse is a^-1 mod n for a coprime with n.
func modInverse(a, n int) int {
	t, newT, r, newR := 0, 1, n, a%n
	for newR != 0 {
		q := r / newR
		t, newT = newT, t-q*newT
		r, newR = newR, r-q*newR
	}
	if t < 0 {
		t += n
	}
	return t
}

// forget subtracts p's chunks from the holder counts.
func (s *Seeder) forget(p *seedPeer) {
	if !p.known {
		return
	}
	s.known--
	if s.complete(p) {
		s.completes--
	}
	for c := range p.has.All() {
		s.holders[c]--
	}
}

// Bitfield replaces what peer id holds.
func (s *Seeder) Bitfield(id peer.ID, has *chunkset.Set) (Offers, error) {
	p := s.peers[id]
	if p == nil {
		return Offers{}, nil
	}
	if has.Len() != s.chunks {
		return Offers{}, fmt.Errorf("sched: peer %s holds a set of %d chunks, not %d", id.Short(), has.Len(), s.chunks)
	}
	s.forget(p)
	old, wasKnown := p.has, p.known
	p.has, p.count, p.known = has.Clone(), has.Count(), true
	s.known++
	for c := range p.has.All() {
		s.holders[c]++
	}
	if s.complete(p) {
		s.completes++
	}
	if wasKnown { // a chunk it no longer claims may have no holder left
		for c := range old.All() {
			s.giveBack(c)
		}
	}
	return s.refillAll(), nil
}

// Have notes that peer id now holds chunk c.
func (s *Seeder) Have(id peer.ID, c int) Offers {
	p := s.peers[id]
	if p == nil || c < 0 || c >= s.chunks || p.has.Has(c) {
		return Offers{}
	}
	p.has.Set(c)
	p.count++
	p.got = true
	if !p.known {
		return Offers{} // counted when its bitfield comes
	}
	s.holders[c]++
	if s.complete(p) {
		s.completes++
		return s.refillAll() // one downloader fewer: others' chunks may have spread
	}
	var out Offers
	if o := s.owner[c]; o >= 0 && s.slots[o] != nil {
		s.refill(s.slots[o], &out)
	}
	s.refill(p, &out)
	return out
}

// Tick updates the spread rates; idle says no request waited for the
// seeder's upload since the last tick. An idle seeder with chunks left to
// hand out widens every window; one idle for WidenAfter with none left
// offers everything to the downloaders that still lack chunks and got
// none for WidenAfter: those that cannot get them from other peers.
func (s *Seeder) Tick(now time.Time, idle bool) Offers {
	if dt := now.Sub(s.lastTick).Seconds(); dt > 0 {
		// A lone downloader has nobody to pass chunks on to: its
		// handouts spread as they arrive, and its window follows its
		// rate up at once, so that over a long round trip the window
		// does not hold back the pipeline that would fill it.
		lone := s.known-s.completes == 1
		for _, p := range s.peers {
			sample := float64(p.spreads) / dt
			if lone && sample > p.rate {
				p.rate = sample
			} else {
				p.rate = meterAlpha*sample + (1-meterAlpha)*p.rate
			}
			p.spreads = 0
		}
	}
	for _, p := range s.peers {
		switch {
		case p.got:
			p.stuck = time.Time{}
		case p.stuck.IsZero():
			p.stuck = now
		}
		p.got = false
	}
	s.lastTick = now
	if !idle {
		s.idleSince = time.Time{}
		return Offers{}
	}
	if s.idleSince.IsZero() {
		s.idleSince = now
	}
	pool := s.poolLeft()
	if pool && s.growth < maxGrowth && s.windowFull() {
		s.growth *= 2
		return s.refillAll()
	}
	var out Offers
	if !pool {
		out = s.rescue()
	}
	if now.Sub(s.idleSince) >= WidenAfter {
		for _, p := range s.sortedPeers() {
			if p.known && !p.full && !s.complete(p) && !p.stuck.IsZero() && now.Sub(p.stuck) >= WidenAfter {
				p.full = true
				p.offered.Fill()
				out.Full = append(out.Full, p.id)
			}
		}
	}
	return out
}

// rescue offers each handout that has not spread to one more downloader:
// with nothing left to hand out and the upload idle, the last chunks
// wait only at their first downloaders, and a slow one would hold up
// everyone. Each such chunk may cost one more copy, once.
func (s *Seeder) rescue() Offers {
	var out Offers
	peers := s.sortedPeers()
	for _, p := range peers {
		for _, c := range p.handed {
			if s.spread(c) || s.rescued.Has(c) {
				continue
			}
			var to *seedPeer
			for _, q := range peers {
				if q != p && q.known && !q.full && !q.has.Has(c) && !q.offered.Has(c) && (to == nil || len(q.handed) < len(to.handed)) {
					to = q
				}
			}
			if to != nil {
				s.rescued.Set(c)
				to.offered.Set(c)
				out.Haves = append(out.Haves, Offer{to.id, c})
			}
		}
	}
	return out
}

// windowFull reports whether a downloader that lacks chunks has as many
// unspread handouts as its window allows: only then do wider windows help.
func (s *Seeder) windowFull() bool {
	for _, p := range s.peers {
		if p.known && !p.full && !s.complete(p) && len(p.handed) >= s.window(p) {
			return true
		}
	}
	return false
}

// window is how many of p's handouts may be unspread at once.
func (s *Seeder) window(p *seedPeer) int {
	byRate := int(math.Ceil(p.rate * windowHorizon.Seconds()))
	return min(max(minWindow, byRate)*s.growth, maxWindow)
}

// spread reports whether chunk c no longer needs the seeder: two peers
// hold it, or one does and no connected downloader lacks it.
func (s *Seeder) spread(c int) bool {
	h := int(s.holders[c])
	return h >= 2 || h == 1 && s.lacking(c) == 0
}

// lacking is how many connected downloaders do not hold chunk c.
func (s *Seeder) lacking(c int) int {
	return s.known - int(s.holders[c])
}

// refillAll tops up every downloader's handouts.
func (s *Seeder) refillAll() Offers {
	var out Offers
	for _, p := range s.sortedPeers() {
		s.refill(p, &out)
	}
	return out
}

// sortedPeers lists the peers by handle: a fixed order, so that runs are
// reproducible.
func (s *Seeder) sortedPeers() []*seedPeer {
	out := make([]*seedPeer, 0, len(s.peers))
	for _, p := range s.slots {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// refill drops p's handouts that spread and hands it new chunks, up to
// its window.
func (s *Seeder) refill(p *seedPeer, out *Offers) {
	kept := p.handed[:0]
	for _, c := range p.handed {
		if s.spread(c) {
			if s.owner[c] == p.handle {
				s.owner[c] = -1
			}
			p.spreads++
			continue
		}
		kept = append(kept, c)
	}
	p.handed = kept
	if p.known {
		s.handOut(p, out)
	}
}

// handOut hands p new chunks up to its window; with out nil they are
// only marked offered (for its first bitfield), else each becomes a have.
func (s *Seeder) handOut(p *seedPeer, out *Offers) {
	if p.full || s.complete(p) {
		return
	}
	for w := s.window(p); len(p.handed) < w; {
		c, ok := s.take()
		if !ok {
			return
		}
		s.owner[c] = p.handle
		p.handed = append(p.handed, c)
		if !p.offered.Has(c) {
			p.offered.Set(c)
			if out != nil {
				out.Haves = append(out.Haves, Offer{p.id, c})
			}
		}
	}
}

// take removes the next chunk to hand out from the pool: one no peer
// holds and no downloader was handed.
func (s *Seeder) take() (int, bool) {
	for len(s.back) > 0 {
		c := int(s.back[len(s.back)-1])
		s.back = s.back[:len(s.back)-1]
		s.inBack.Clear(c)
		if s.holders[c] == 0 && s.owner[c] < 0 {
			return c, true
		}
	}
	for s.next < s.chunks {
		c := (s.stride*s.next + s.offset) % s.chunks
		s.next++
		if s.holders[c] == 0 && s.owner[c] < 0 {
			return c, true
		}
	}
	return 0, false
}

// poolLeft reports whether a chunk is still to be handed out.
func (s *Seeder) poolLeft() bool {
	for _, c := range s.back {
		if s.holders[c] == 0 && s.owner[c] < 0 {
			return true
		}
	}
	for k := s.next; k < s.chunks; k++ {
		c := (s.stride*k + s.offset) % s.chunks
		if s.holders[c] == 0 && s.owner[c] < 0 {
			return true
		}
	}
	return false
}
