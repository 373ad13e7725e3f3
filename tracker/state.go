package tracker

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// state is the tracker's live view: every published content (a swarm)
// and every live peer with what it holds. One RWMutex guards it all:
// applying an announce takes about a microsecond under the lock, while
// decoding it (the costly part) happens before, outside the lock.
//
// Leases are checked lazily: readers prune expired peers first (a
// constant-time check of the oldest lease), so an expired peer never
// counts, even between two janitor rounds.
type state struct {
	mu     sync.RWMutex
	lease  time.Duration
	swarms map[content.ID]*swarm
	byName []*swarm // sorted by lowercase name, then ID: the list order
	peers  map[peer.ID]*peerState
	// byAddr is the peer listed at each host:port (canonical), so that
	// one address is one entry; perSource counts live peers per source IP
	// for the cap maxPerSource (0: none).
	byAddr       map[string]*peerState
	perSource    map[netip.Addr]int
	maxPerSource int
	// oldest and newest end the list of live peers in the order they last
	// announced, which is the order their leases end.
	oldest, newest *peerState
	// dirty marks the bbolt records that are stale, per peer. A flush
	// writes a marked record from the live state, or deletes it when the
	// peer (or its holding of the content) is gone.
	dirty map[peer.ID]*dirtyPeer
}

// dirtyPeer is what the next flush writes of one peer.
type dirtyPeer struct {
	lease    bool                    // address and last announce
	contents map[content.ID]struct{} // holdings: bitfields and counters
}

// marks returns the dirty marks of peer id, made on first use.
func (st *state) marks(id peer.ID) *dirtyPeer {
	d := st.dirty[id]
	if d == nil {
		d = &dirtyPeer{}
		st.dirty[id] = d
	}
	return d
}

// content marks the holding record of content id.
func (d *dirtyPeer) content(id content.ID) {
	if d.contents == nil {
		d.contents = make(map[content.ID]struct{})
	}
	d.contents[id] = struct{}{}
}

// swarm is one published content and its live holders.
type swarm struct {
	id        content.ID
	name      string
	lowerName string // for the case-insensitive name filter
	size      int64
	chunkSize int64
	chunks    int
	origin    string
	// access is the SHA-256 of a private swarm's tracker key
	// (content.Secret.TrackerKey); nil for a public content.
	access *[32]byte

	holders map[peer.ID]*holding
	// counts[i] is the number of partial holders that have chunk i;
	// complete holders are counted in seeders instead. Allocated on the
	// first partial holder.
	counts   []uint32
	seeders  int
	nonEmpty int // holders with at least one chunk
	covered  int // chunks with counts[i] > 0
	// downloaded and fromOrigin sum the holders' counters: what they
	// downloaded, and of that what came from the origin server.
	downloaded, fromOrigin int64
}

// peerState is one live peer.
type peerState struct {
	id       peer.ID
	addr     string     // canonical source:port
	source   netip.Addr // the host of addr
	lastSeen time.Time
	// lastNonce is the issue time of the nonce of its last announce: a
	// nonce is taken only if newer (see auth.go).
	lastNonce int64
	// synced is set once the peer sent a Full announce to this process;
	// until then its incremental announces are answered with NeedFull,
	// since what it told an earlier process may not all have been flushed.
	synced     bool
	holdings   map[content.ID]*holding
	prev, next *peerState // lease order
}

// holding is what one peer holds of one content.
type holding struct {
	peer *peerState
	// have is nil when the peer holds every chunk. A bitset is never
	// changed once stored, so a flush may encode it outside the lock.
	have       *chunkset.Set
	held       int
	uploaded   int64
	downloaded int64
	fromOrigin int64 // of downloaded
}

func newState(lease time.Duration, maxPerSource int) *state {
	return &state{
		lease:        lease,
		swarms:       make(map[content.ID]*swarm),
		peers:        make(map[peer.ID]*peerState),
		byAddr:       make(map[string]*peerState),
		perSource:    make(map[netip.Addr]int),
		maxPerSource: maxPerSource,
		dirty:        make(map[peer.ID]*dirtyPeer),
	}
}

// errNonceUsed refuses an announce whose nonce is not newer than the
// peer's last: a replay.
var errNonceUsed = errors.New("nonce used already")

// errTooManyPeers refuses a new peer from a source IP that already has
// the most live peers allowed.
var errTooManyPeers = errors.New("too many peers from one address")

// addSwarm makes a published manifest known, private if access is not
// nil (the SHA-256 of its tracker key); adding it again is a no-op.
func (st *state) addSwarm(id content.ID, m *content.Manifest, access *[32]byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.swarms[id]; ok {
		return
	}
	sw := &swarm{
		id: id, name: m.Name, lowerName: strings.ToLower(m.Name),
		size: m.Size, chunkSize: m.ChunkSize, chunks: m.NumChunks(), origin: m.Origin,
		access:  access,
		holders: make(map[peer.ID]*holding),
	}
	st.swarms[id] = sw
	i, _ := slices.BinarySearchFunc(st.byName, sw, compareSwarms)
	st.byName = slices.Insert(st.byName, i, sw)
}

func compareSwarms(a, b *swarm) int {
	return cmp.Or(strings.Compare(a.lowerName, b.lowerName), compareIDs(a.id, b.id))
}

// accessHash returns the SHA-256 of a tracker key, or nil for none.
func accessHash(key []byte) *[32]byte {
	if key == nil {
		return nil
	}
	h := sha256.Sum256(key)
	return &h
}

// admits reports whether key opens sw: any key opens a public swarm.
func (sw *swarm) admits(key []byte) bool {
	if sw.access == nil {
		return true
	}
	h := sha256.Sum256(key)
	return subtle.ConstantTimeCompare(h[:], sw.access[:]) == 1
}

// chunks returns the chunk count of a known content that key opens;
// ok is false as well for a private content and a wrong key.
func (st *state) chunks(id content.ID, key []byte) (int, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	sw, ok := st.swarms[id]
	if !ok || !sw.admits(key) {
		return 0, false
	}
	return sw.chunks, true
}

// chunksLocked is the chunk count of a known content, for a caller that
// holds the lock and need not check access.
func (st *state) chunksLocked(id content.ID) (int, bool) {
	sw, ok := st.swarms[id]
	if !ok {
		return 0, false
	}
	return sw.chunks, true
}

// visible reports whether content id is known and key opens it.
func (st *state) visible(id content.ID, key []byte) bool {
	_, ok := st.chunks(id, key)
	return ok
}

// errAccessConflict refuses a publish of a known content whose access
// differs: public and private, or private under another key.
var errAccessConflict = errors.New("this content is published here already, with other access")

// published reports whether content id is known already, or
// errAccessConflict if it is known with other access than access.
func (st *state) published(id content.ID, access *[32]byte) (bool, error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	sw, ok := st.swarms[id]
	switch {
	case !ok:
		return false, nil
	case (sw.access == nil) != (access == nil) || (access != nil && *sw.access != *access):
		return true, errAccessConflict
	}
	return true, nil
}

// apply stores a validated announce. It fails, changing nothing, if the
// peer would hold more than MaxContentsPerPeer contents (errBadAnnounce)
// or if it is new and its source already has maxPerSource live peers
// (errTooManyPeers), or if nonce (its issue time) is not newer than the
// peer's last (errNonceUsed). Another peer listed at the same address is dropped:
// the address is the announcing peer's now. needFull asks the peer to
// send its whole state next.
func (st *state) apply(a *announce, now time.Time, nonce int64) (needFull bool, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.prune(now)
	p := st.peers[a.peer]
	if p != nil && nonce <= p.lastNonce {
		return false, errNonceUsed
	}
	if n := st.heldAfter(p, a); n > trackerapi.MaxContentsPerPeer {
		return false, fmt.Errorf("%w: peer would hold %d contents, more than %d", errBadAnnounce, n, trackerapi.MaxContentsPerPeer)
	}
	// The host of an address is its source, so a peer that takes another's
	// address takes its place in the source's count too.
	other := st.byAddr[a.addr]
	if other == p {
		other = nil
	}
	if st.maxPerSource > 0 && (p == nil || p.source != a.source) && other == nil &&
		st.perSource[a.source] >= st.maxPerSource {
		return false, fmt.Errorf("%w: %s already has %d live peers here", errTooManyPeers, a.source, st.maxPerSource)
	}
	if other != nil {
		st.remove(other)
	}
	if p == nil {
		p = &peerState{id: a.peer, holdings: make(map[content.ID]*holding)}
		st.peers[a.peer] = p
	} else {
		st.unlink(p)
	}
	st.pushNewest(p)
	st.setAddr(p, a.addr, a.source)
	p.lastSeen, p.lastNonce = now, nonce
	d := st.marks(p.id)
	d.lease = true
	if a.full {
		p.synced = true
		for id, h := range p.holdings {
			if _, found := slices.BinarySearchFunc(a.updates, id, func(u update, id content.ID) int { return compareIDs(u.id, id) }); !found {
				st.drop(p, id, h)
				d.content(id)
			}
		}
	}
	for _, id := range a.stopped {
		if h := p.holdings[id]; h != nil {
			st.drop(p, id, h)
			d.content(id)
		}
	}
	for i := range a.updates {
		if st.set(p, &a.updates[i]) {
			d.content(a.updates[i].id)
		}
	}
	return !p.synced, nil
}

// heldAfter returns how many contents p would hold after a.
func (st *state) heldAfter(p *peerState, a *announce) int {
	if a.full || p == nil {
		return len(a.updates)
	}
	n := len(p.holdings)
	for _, u := range a.updates {
		if p.holdings[u.id] == nil {
			n++
		}
	}
	for _, id := range a.stopped {
		if p.holdings[id] != nil {
			n--
		}
	}
	return n
}

// set stores what p holds of one content and reports whether it changed.
func (st *state) set(p *peerState, u *update) bool {
	sw := st.swarms[u.id]
	h := p.holdings[u.id]
	switch {
	case h == nil:
		h = &holding{peer: p}
		p.holdings[u.id] = h
		sw.holders[p.id] = h
	case h.held == u.held && h.uploaded == u.uploaded && h.downloaded == u.downloaded && h.fromOrigin == u.fromOrigin &&
		(h.have == nil) == (u.have == nil) && (h.have == nil || h.have.Equal(u.have)):
		return false
	default:
		sw.account(h, -1)
	}
	h.have, h.held, h.uploaded, h.downloaded, h.fromOrigin = u.have, u.held, u.uploaded, u.downloaded, u.fromOrigin
	sw.account(h, +1)
	return true
}

// drop forgets that p holds content id.
func (st *state) drop(p *peerState, id content.ID, h *holding) {
	sw := st.swarms[id]
	sw.account(h, -1)
	delete(sw.holders, p.id)
	delete(p.holdings, id)
}

// addSat is a+b, saturated: counters that peers announce can be huge, and
// a sum of them must not wrap.
func addSat(a, b int64) int64 {
	sum := a + b
	switch {
	case b > 0 && sum < a:
		return math.MaxInt64
	case b < 0 && sum > a:
		return math.MinInt64
	}
	return sum
}

// account adds (sign +1) or removes (sign -1) h's chunks from the swarm's
// counts. A complete holder counts as a seeder (and a holder) even of an
// empty file.
func (sw *swarm) account(h *holding, sign int) {
	sw.downloaded = addSat(sw.downloaded, int64(sign)*h.downloaded)
	sw.fromOrigin = addSat(sw.fromOrigin, int64(sign)*h.fromOrigin)
	switch {
	case h.have == nil:
		sw.seeders += sign
	case h.held == 0:
		return
	default:
		if sw.counts == nil {
			sw.counts = make([]uint32, sw.chunks)
		}
		for wi, w := range h.have.Words() {
			for ; w != 0; w &= w - 1 {
				c := &sw.counts[wi*64+bits.TrailingZeros64(w)]
				switch {
				case sign > 0:
					if *c == 0 {
						sw.covered++
					}
					*c++
				default:
					if *c--; *c == 0 {
						sw.covered--
					}
				}
			}
		}
	}
	sw.nonEmpty += sign
}

// info returns the list entry of sw.
func (sw *swarm) info() trackerapi.ContentInfo {
	ci := trackerapi.ContentInfo{
		ID: sw.id, Name: sw.name, Size: sw.size, ChunkSize: sw.chunkSize, Chunks: sw.chunks,
		Holders: sw.nonEmpty, Seeders: sw.seeders, Origin: sw.origin,
		Downloaded: sw.downloaded, FromOrigin: sw.fromOrigin,
	}
	switch {
	case sw.seeders > 0:
		ci.Availability = 1
	case sw.chunks > 0:
		ci.Availability = float64(sw.covered) / float64(sw.chunks)
	}
	return ci
}

// Lease order: a doubly linked list from oldest to newest announce.

func (st *state) pushNewest(p *peerState) {
	p.prev, p.next = st.newest, nil
	if st.newest != nil {
		st.newest.next = p
	} else {
		st.oldest = p
	}
	st.newest = p
}

func (st *state) unlink(p *peerState) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		st.oldest = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		st.newest = p.prev
	}
	p.prev, p.next = nil, nil
}

// expired reports whether p's lease has ended: a peer is live for one
// lease after its last announce.
func (st *state) expired(p *peerState, now time.Time) bool {
	return !now.Before(p.lastSeen.Add(st.lease))
}

// prune removes every peer whose lease has ended; the caller holds the
// write lock. Peers are in lease order, so it stops at the first live one.
func (st *state) prune(now time.Time) int {
	n := 0
	for p := st.oldest; p != nil && st.expired(p, now); p = st.oldest {
		st.remove(p)
		n++
	}
	return n
}

// setAddr lists p at addr, whose host is source, keeping byAddr and
// perSource up to date.
func (st *state) setAddr(p *peerState, addr string, source netip.Addr) {
	if p.addr == addr {
		return
	}
	st.clearAddr(p)
	p.addr, p.source = addr, source
	st.byAddr[addr] = p
	st.perSource[source]++
}

// clearAddr takes p's address out of byAddr and perSource.
func (st *state) clearAddr(p *peerState) {
	if p.addr == "" {
		return
	}
	if st.byAddr[p.addr] == p {
		delete(st.byAddr, p.addr)
	}
	if st.perSource[p.source]--; st.perSource[p.source] <= 0 {
		delete(st.perSource, p.source)
	}
	p.addr, p.source = "", netip.Addr{}
}

// remove forgets p and marks its records for deletion.
func (st *state) remove(p *peerState) {
	d := st.marks(p.id)
	d.lease = true
	for id := range p.holdings {
		d.content(id)
	}
	st.forget(p)
}

// forget takes p and its holdings out of memory, leaving its records.
func (st *state) forget(p *peerState) {
	for id, h := range p.holdings {
		st.drop(p, id, h)
	}
	st.unlink(p)
	st.clearAddr(p)
	delete(st.peers, p.id)
}

// pruneNow prunes under the write lock; the janitor calls it.
func (st *state) pruneNow(now time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.prune(now)
}

// rlockLive takes the read lock after pruning peers whose lease has ended
// by now, so that a reader sees only live peers.
func (st *state) rlockLive(now time.Time) {
	st.mu.RLock()
	if st.oldest == nil || !st.expired(st.oldest, now) {
		return
	}
	st.mu.RUnlock()
	st.pruneNow(now)
	st.mu.RLock()
}

// list returns a page of the contents whose name contains query (case
// insensitive), in name order.
func (st *state) list(query string, offset, limit int, now time.Time) trackerapi.ContentList {
	query = strings.ToLower(query)
	st.rlockLive(now)
	defer st.mu.RUnlock()
	out := trackerapi.ContentList{Contents: []trackerapi.ContentInfo{}}
	for _, sw := range st.byName {
		if sw.access != nil || !strings.Contains(sw.lowerName, query) {
			continue // private contents are never listed
		}
		if out.Total >= offset && len(out.Contents) < limit {
			out.Contents = append(out.Contents, sw.info())
		}
		out.Total++
	}
	return out
}

// holders returns up to limit live holders of content id other than
// exclude, chosen by pickHolders; ok is false for an unknown content, and
// for a private one that key does not open.
func (st *state) holders(id content.ID, key []byte, exclude peer.ID, limit int, now time.Time) (trackerapi.HolderList, bool) {
	st.rlockLive(now)
	defer st.mu.RUnlock()
	sw, ok := st.swarms[id]
	if !ok || !sw.admits(key) {
		return trackerapi.HolderList{}, false
	}
	cands := make([]*holding, 0, len(sw.holders))
	for pid, h := range sw.holders {
		if pid != exclude {
			cands = append(cands, h)
		}
	}
	out := trackerapi.HolderList{Holders: make([]trackerapi.HolderInfo, 0, min(limit, len(cands))), Total: len(cands)}
	for _, h := range pickHolders(sw, cands, limit) {
		hi := trackerapi.HolderInfo{Peer: h.peer.id, Addr: h.peer.addr, Complete: h.have == nil}
		if h.have != nil {
			hi.Have = h.have.Bytes()
		}
		out.Holders = append(out.Holders, hi)
	}
	return out, true
}

// restore rebuilds the live state from disk at start. Peers whose lease
// ended while the tracker was down, and anything that does not fit a
// known manifest, are dropped and marked so the first flush deletes their
// records. It returns how many peers are live.
func (st *state) restore(d *stored, now time.Time) int {
	for id, m := range d.manifests {
		st.addSwarm(id, m, d.access[id])
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	slices.SortFunc(d.leases, func(a, b storedLease) int { return a.lastSeen.Compare(b.lastSeen) })
	for _, l := range d.leases {
		p := &peerState{id: l.peer, lastSeen: l.lastSeen, holdings: make(map[content.ID]*holding)}
		ap, err := netip.ParseAddrPort(l.addr)
		if st.expired(p, now) || err != nil {
			st.marks(p.id).lease = true
			continue
		}
		if other := st.byAddr[l.addr]; other != nil { // leases are sorted: the later one keeps the address
			st.remove(other)
		}
		st.peers[p.id] = p
		st.pushNewest(p)
		st.setAddr(p, l.addr, ap.Addr())
	}
	for _, id := range d.bad {
		st.marks(id).lease = true
	}
	for _, r := range d.badHeld {
		st.marks(r.peer).content(r.content)
	}
	for id, hs := range d.holdings {
		p := st.peers[id]
		for _, cs := range hs {
			if p == nil {
				st.marks(id).content(cs.ID)
				continue
			}
			// Restored holdings were checked for access when announced.
			u, known, err := decodeState(cs, func(id content.ID, _ []byte) (int, bool) { return st.chunksLocked(id) })
			if err != nil || !known {
				st.marks(id).content(cs.ID)
				continue
			}
			st.set(p, &u)
		}
	}
	return len(st.peers)
}

// takeDirty copies what the next flush must write and clears the marks.
// Bitsets are shared, not copied: they never change once stored.
func (st *state) takeDirty() []peerSnapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.dirty) == 0 {
		return nil
	}
	snaps := make([]peerSnapshot, 0, len(st.dirty))
	for id, d := range st.dirty {
		s := peerSnapshot{id: id, lease: d.lease}
		p := st.peers[id]
		if p != nil {
			s.live, s.addr, s.lastSeen = true, p.addr, p.lastSeen
		}
		for cid := range d.contents {
			var h *holding
			if p != nil {
				h = p.holdings[cid]
			}
			if h == nil {
				s.deletes = append(s.deletes, cid)
				continue
			}
			s.puts = append(s.puts, trackerapi.ContentState{ID: cid, Complete: h.have == nil, Uploaded: h.uploaded, Downloaded: h.downloaded, FromOrigin: h.fromOrigin})
			s.haves = append(s.haves, h.have)
		}
		snaps = append(snaps, s)
	}
	clear(st.dirty)
	return snaps
}

// redirty marks the records of a failed flush again, so the next flush
// writes them from the state it finds then.
func (st *state) redirty(snaps []peerSnapshot) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range snaps {
		d := st.marks(s.id)
		d.lease = d.lease || s.lease
		for _, h := range s.puts {
			d.content(h.ID)
		}
		for _, id := range s.deletes {
			d.content(id)
		}
	}
}
