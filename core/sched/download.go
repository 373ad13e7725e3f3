package sched

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"peerflow/core/peer"
	"peerflow/flow"
	"peerflow/flow/chunkset"
)

// Tuning of the download scheduler.
const (
	// DefaultDepth is the least number of requests kept in flight at a
	// peer; the depth grows with the peer's rate times its round trip.
	DefaultDepth = 2
	maxDepth     = 32
	// MinReplanGap spaces replans for news (a have, a rate drift).
	MinReplanGap = 100 * time.Millisecond
	// MinUrgentGap spaces replans while a usable peer has nothing to do.
	MinUrgentGap    = 10 * time.Millisecond
	busyBackoff     = time.Second
	minStallTimeout = 4 * time.Second
	stallBackoff    = 5 * time.Second  // a stalled peer sits out the plans this long
	reprobeAfter    = 30 * time.Second // a peer left without work is measured afresh after this
	driftTolerance  = 0.35             // replan when a measured rate moves this far from the planned one
	endgameCopies   = 2                // at most this many extra requests for one chunk
	// SettleTime bounds how long a download waits for its first peers
	// before it plans without them (giving the origin server everything,
	// or reporting the chunks unavailable).
	SettleTime = 2 * time.Second
	// DefaultOriginRate is what Urgent expects of the origin server until
	// it is measured: low, so that a peer able to deliver in time is
	// preferred.
	DefaultOriginRate = 256 << 10
)

// Request is one chunk asked of (or withdrawn from) one peer.
type Request struct {
	Peer  peer.ID
	Chunk int
}

// Sends is what the caller should put on the wire after a call: requests
// and cancels, in order, and whether to run Schedule soon.
type Sends struct {
	Requests []Request
	Cancels  []Request
	// Wake: something changed that Schedule should look at (a peer ran
	// dry, the download completed).
	Wake bool
	// Origin: the origin server has planned work waiting.
	Origin bool
}

// Reason is why a peer refused a request, as far as scheduling cares.
type Reason int

// Refusals.
const (
	RefusedOther   Reason = iota // anything else: the chunk is planned again
	RefusedBusy                  // no upload slot: ask this peer again later
	RefusedNotHeld               // it does not hold that chunk
	RefusedChanged               // it no longer serves anything of this content
)

// Config describes one download.
type Config struct {
	Size      int64         // bytes in all
	ChunkSize int64         // bytes per chunk; the last one may be shorter
	Have      *chunkset.Set // chunks verified before this run; nil: none
	Order     flow.Order
	From      int     // first chunk for flow.Sequential
	Self      peer.ID // breaks ties: downloaders with other IDs start elsewhere
	Depth     int     // least requests in flight per peer; 0: DefaultDepth
	Origin    bool    // an origin server may be asked
	Start     time.Time
}

// Download decides, for one download, which chunk to ask of which peer
// and when. It does no I/O and reads no clock: every call says what time
// it is. It is not safe for concurrent use; its owner serializes calls.
type Download struct {
	cfg      Config
	chunks   int
	peers    map[peer.ID]*peerState
	sorted   []*peerState // peers by ID; nil when it must be made again
	missing  *chunkset.Set
	planned  *chunkset.Set // chunks the last plan queued somewhere (some may be in flight or done since)
	inflight []uint8       // per chunk: outstanding requests (peers and origin)
	origin   originState

	plan      *flow.Plan
	planPeers []flow.Peer
	// order and from are the planner's order now: the configured one, or
	// Sequential from a reader's position (StreamFrom).
	order flow.Order
	from  int
	// full are the peers known (from the tracker) to hold every chunk,
	// whatever they advertise: a super-seeding sharer advertises only part
	// of what it holds.
	full map[peer.ID]bool
	// due are the chunks readers wait for or will soon (Urgent), with
	// when each is due and which reader asked: Schedule asks for one
	// again, of another source, as it falls behind.
	due         map[int]deadline
	lastPlan    time.Time
	planErr     error // the last planner failure; see PlanError
	replan      bool
	plans       int       // plans made
	wakeAt      time.Time // a held-back replan may run then
	paused      bool
	unavailable int
	settled     bool // peers had their chance to connect; see settle
	looked      bool // the holder source answered at least once
	dialing     int  // connections being set up
}

// peerState is the scheduler's view of one connected peer.
type peerState struct {
	id          peer.ID
	key         string        // id as the planner names it
	has         *chunkset.Set // its chunks
	ready       bool          // its bitfield arrived: it can be planned for
	queue       []int         // planned chunks, in order
	inflight    map[int]time.Time
	meter       Meter
	planRate    float64
	rtt         time.Duration
	busyFrom    time.Time // when inflight became non-empty
	busyAcc     time.Duration
	backoff     time.Time // no requests before
	lastData    time.Time
	lastRequest time.Time
}

// defaultRTT is assumed until a round trip was measured.
const defaultRTT = 10 * time.Millisecond

// NewDownload starts scheduling a download.
func NewDownload(cfg Config) (*Download, error) {
	if cfg.ChunkSize <= 0 || cfg.Size < 0 {
		return nil, fmt.Errorf("sched: size %d, chunk size %d", cfg.Size, cfg.ChunkSize)
	}
	n := int((cfg.Size + cfg.ChunkSize - 1) / cfg.ChunkSize)
	if n > chunkset.MaxChunks {
		return nil, fmt.Errorf("sched: %d chunks, more than %d", n, chunkset.MaxChunks)
	}
	if cfg.Have != nil && cfg.Have.Len() != n {
		return nil, fmt.Errorf("sched: have set of %d chunks for %d", cfg.Have.Len(), n)
	}
	if cfg.Depth <= 0 {
		cfg.Depth = DefaultDepth
	}
	missing := chunkset.New(n)
	missing.Fill()
	if cfg.Have != nil {
		missing.AndNot(cfg.Have)
	}
	return &Download{
		cfg:      cfg,
		chunks:   n,
		peers:    make(map[peer.ID]*peerState),
		missing:  missing,
		planned:  chunkset.New(n),
		inflight: make([]uint8, n),
		origin:   originState{usable: cfg.Origin, inflight: make(map[int]bool)},
		due:      make(map[int]deadline),
		replan:   true,
		order:    cfg.Order,
		from:     cfg.From,
	}, nil
}

// ChunkLen is the size of chunk c.
func (d *Download) ChunkLen(c int) int64 {
	return min(d.cfg.ChunkSize, d.cfg.Size-int64(c)*d.cfg.ChunkSize)
}

// Chunks is the number of chunks in all.
func (d *Download) Chunks() int { return d.chunks }

// Missing is the number of chunks not verified yet.
func (d *Download) Missing() int { return d.missing.Count() }

// Complete reports whether every chunk is verified.
func (d *Download) Complete() bool { return !d.missing.Any() }

// NeedsChunk reports whether chunk c is still missing.
func (d *Download) NeedsChunk(c int) bool { return d.missing.Has(c) }

// MissingBytes is the size of the missing chunks.
func (d *Download) MissingBytes() int64 {
	n := int64(d.missing.Count()) * d.cfg.ChunkSize
	if last := d.chunks - 1; last >= 0 && d.missing.Has(last) {
		n -= d.cfg.ChunkSize - d.ChunkLen(last)
	}
	return n
}

// Peers is the number of connected peers.
func (d *Download) Peers() int { return len(d.peers) }

// Unavailable is the number of missing chunks the last plan found no
// source for.
func (d *Download) Unavailable() int { return d.unavailable }

// Settled reports whether planning has begun (see SetDiscovery).
func (d *Download) Settled() bool { return d.settled }

// Paused reports whether the download is paused.
func (d *Download) Paused() bool { return d.paused }

// Rate is the measured rate of peer id in bytes/s (0 if unknown).
func (d *Download) Rate(id peer.ID) float64 {
	if ps := d.peers[id]; ps != nil {
		return ps.meter.rate
	}
	return 0
}

// PlanError returns (and forgets) the last planner failure, for the
// owner to log; it should never happen.
func (d *Download) PlanError() error {
	err := d.planErr
	d.planErr = nil
	return err
}

// Plans is the number of plans made so far (a measure of the
// scheduler's work).
func (d *Download) Plans() int { return d.plans }

// WakeAt is when a held-back replan may run; zero when none waits.
func (d *Download) WakeAt() time.Time { return d.wakeAt }

// SetDiscovery tells how the search for peers stands: whether the holder
// source answered at least once, and how many connections are being set
// up. Until a peer is ready, or every known holder was tried, or
// SettleTime passed, nothing is planned: a chunk held only by a peer
// still connecting would look unavailable.
func (d *Download) SetDiscovery(looked bool, dialing int) {
	d.looked = d.looked || looked
	d.dialing = dialing
}

// AddPeer starts using a connected peer. has is its chunk set if its
// bitfield arrived already (the scheduler keeps it and updates it from
// then on), or nil if it is still to come.
func (d *Download) AddPeer(id peer.ID, has *chunkset.Set, rtt time.Duration) error {
	if d.peers[id] != nil {
		return nil
	}
	if has != nil && has.Len() != d.chunks {
		return fmt.Errorf("sched: peer %s holds a set of %d chunks, not %d", id.Short(), has.Len(), d.chunks)
	}
	ps := &peerState{id: id, key: id.String(), has: has, ready: has != nil, rtt: rtt, inflight: make(map[int]time.Time)}
	if ps.has == nil {
		ps.has = chunkset.New(d.chunks)
	}
	if ps.rtt <= 0 {
		ps.rtt = defaultRTT
	}
	d.peers[id] = ps
	d.sorted = nil
	d.replan = true
	return nil
}

// RemovePeer gives a departed peer's chunks back to the planner.
func (d *Download) RemovePeer(id peer.ID) {
	ps := d.peers[id]
	if ps == nil {
		return
	}
	for c := range ps.inflight {
		d.inflight[c]--
	}
	delete(d.peers, id)
	d.sorted = nil
	d.replan = true
}

// Bitfield replaces what peer id holds; the scheduler keeps has.
func (d *Download) Bitfield(id peer.ID, has *chunkset.Set) error {
	ps := d.peers[id]
	if ps == nil {
		return nil
	}
	if has.Len() != d.chunks {
		return fmt.Errorf("sched: peer %s holds a set of %d chunks, not %d", id.Short(), has.Len(), d.chunks)
	}
	ps.has, ps.ready, d.replan = has, true, true
	return nil
}

// Have notes that peer id now holds chunk c.
func (d *Download) Have(id peer.ID, c int) {
	ps := d.peers[id]
	if ps == nil || c < 0 || c >= d.chunks {
		return
	}
	ps.has.Set(c)
	if d.missing.Has(c) && d.inflight[c] == 0 {
		// A peer with nothing planned, or with room in its pipeline
		// beyond what is planned for it, asks for it at once rather than
		// after a replan: that is how a chunk hops on through a swarm
		// while it is new, and how a seeder's handouts keep a long link
		// full. A chunk the plan has queued at another peer waits its
		// turn there; news of a chunk no plan covers asks for a replan.
		switch {
		case ps.ready && (len(ps.queue) == 0 || len(ps.queue)+len(ps.inflight) < d.depth(ps)):
			ps.queue = append(ps.queue, c)
			d.planned.Set(c)
		case !d.planned.Has(c):
			d.replan = true
		}
	}
}

// Reject handles a refused request.
func (d *Download) Reject(id peer.ID, c int, why Reason, now time.Time) {
	ps := d.peers[id]
	if ps == nil || c < 0 || c >= d.chunks {
		return
	}
	switch why {
	case RefusedNotHeld:
		ps.has.Clear(c)
	case RefusedChanged:
		ps.has = chunkset.New(d.chunks)
	}
	if !ps.removeInflight(c, now) {
		return
	}
	d.inflight[c]--
	if why == RefusedBusy {
		ps.backoff = now.Add(busyBackoff)
		if !d.otherHolder(ps, c, now) {
			// Nobody else to ask: it waits at the head of this peer's
			// queue for the backoff, and no plan could do better.
			ps.queue = slices.Insert(ps.queue, 0, c)
			return
		}
	}
	d.replan = true
}

// otherHolder reports whether a usable peer other than ps holds chunk c.
func (d *Download) otherHolder(ps *peerState, c int, now time.Time) bool {
	for _, o := range d.sortedPeers() {
		if o != ps && o.ready && o.usable(now) && o.has.Has(c) {
			return true
		}
	}
	return false
}

// Requested reports whether chunk c is in flight at peer id: only then
// is its data wanted.
func (d *Download) Requested(id peer.ID, c int) bool {
	ps := d.peers[id]
	if ps == nil {
		return false
	}
	_, ok := ps.inflight[c]
	return ok
}

// Received accounts for chunk c of n bytes from peer id; fresh says it
// was verified and had not been held before. It returns the duplicates
// to cancel elsewhere and id's next requests (the pipeline's refill).
func (d *Download) Received(id peer.ID, c int, n int64, fresh bool, now time.Time) Sends {
	var out Sends
	ps := d.peers[id]
	if ps != nil {
		if ps.removeInflight(c, now) {
			d.inflight[c]--
		}
		ps.meter.Add(n)
		ps.lastData = now
	}
	if fresh {
		out = d.Verified(c, now)
	}
	if ps != nil && !d.paused {
		out.Requests = d.fill(ps, now, nil)
		if len(ps.queue) == 0 && len(out.Requests) == 0 && ps.has.Intersects(d.need()) {
			d.replan = true
			out.Wake = true // this peer ran dry, and it holds chunks nobody is asked for
		}
	}
	return out
}

// Verified notes that chunk c was verified and stored, whoever sent it
// (a connection that was replaced meanwhile, say): it is no longer
// missing, and its requests elsewhere are to be cancelled.
func (d *Download) Verified(c int, now time.Time) Sends {
	var out Sends
	if c < 0 || c >= d.chunks || !d.missing.Has(c) {
		return out
	}
	d.missing.Clear(c)
	delete(d.due, c)
	if d.inflight[c] > 0 {
		for _, other := range d.sortedPeers() {
			if other.removeInflight(c, now) {
				d.inflight[c]--
				out.Cancels = append(out.Cancels, Request{other.id, c})
			}
		}
	}
	out.Wake = d.Complete()
	return out
}

// Pause withdraws every request; it returns the cancels to send.
func (d *Download) Pause(now time.Time) []Request {
	if d.paused {
		return nil
	}
	d.paused = true
	return d.DropAll(now)
}

// StreamFrom plans chunks in order from chunk c on (wrapping around), for
// a reader there; c < 0 goes back to the order the download was
// configured with. It reports whether that changed anything; the next
// plan (at the usual replan gap) then starts afresh.
func (d *Download) StreamFrom(c int) bool {
	order, from := d.cfg.Order, d.cfg.From
	if c >= 0 && c < d.chunks {
		order, from = flow.Sequential, c
	}
	if d.order == order && d.from == from {
		return false
	}
	d.order, d.from = order, from
	d.plan, d.replan = nil, true
	return true
}

// minOverdue is the least time a chunk is in flight before it is asked
// for elsewhere too, for a reader.
const minOverdue = 500 * time.Millisecond

// defaultPeerRate is what Urgent expects of a peer whose rate is not
// measured yet.
const defaultPeerRate = 1 << 20

// originHorizon bounds how far ahead the origin server is given a
// reader's chunks: a chunk due later waits for peers (the plan, in order
// from the reader), and goes to the origin only if it is still missing
// when it comes that close.
const originHorizon = time.Second

// deadline is when a chunk is due, and for which reader.
type deadline struct {
	at time.Time
	by uint64
}

// Urgent asks for chunk c at once, for reader by (a number naming it; see
// Forget), which needs it within the given time (0: as soon as can be),
// unless it is in flight already; the chunk keeps that deadline until it
// is verified or the reader is forgotten, and Schedule asks for it again,
// of another source, while it falls behind (hurry). It returns the request
// to send, or Origin set when the origin server got the chunk: its urgent
// chunks go before its planned ones, in the order they are due.
func (d *Download) Urgent(by uint64, c int, within time.Duration, now time.Time) Sends {
	if d.paused || c < 0 || c >= d.chunks || !d.missing.Has(c) {
		return Sends{}
	}
	d.due[c] = deadline{now.Add(within), by}
	return d.hurry(c, now.Add(within), now)
}

// Forget drops the deadlines of reader by: it closed, or moved elsewhere.
// Chunks it asked for that are in flight stay so.
func (d *Download) Forget(by uint64) {
	maps.DeleteFunc(d.due, func(_ int, dl deadline) bool { return dl.by == by })
	d.origin.urgent = slices.DeleteFunc(d.origin.urgent, func(u urgentChunk) bool {
		_, ok := d.due[u.chunk]
		return !ok
	})
}

// hurry asks for missing chunk c, due at due, of a source that can send
// it in time, unless a fetch of it is on its way (see arriving). The
// sources are the usable peers that advertise it, those that hold every
// chunk without saying so (complete: a super-seeding sharer advertises
// only part of what it holds), and the origin server. Each is expected to
// deliver after what it has ahead of the chunk, at its measured rate (a
// peer not measured yet at defaultPeerRate, the origin at
// DefaultOriginRate, after its backoff): a peer that makes it in time is
// asked (one that advertises the chunk first, then the soonest), else the
// origin if it does, else whichever is soonest; but the origin only for a
// chunk due within originHorizon. A chunk in flight is asked of at most
// endgameCopies more sources.
func (d *Download) hurry(c int, due time.Time, now time.Time) Sends {
	var out Sends
	n := d.inflight[c]
	if n > endgameCopies || d.origin.inflight[c] {
		return out
	}
	within := due.Sub(now)
	eta := func(m *Meter, ahead int, assumed float64) time.Duration {
		rate := assumed
		if m.measured {
			rate = max(m.rate, 1)
		}
		return time.Duration(float64(ahead+1) * float64(d.ChunkLen(c)) / rate * float64(time.Second))
	}
	var best *peerState
	var bestETA time.Duration
	for _, ps := range d.sortedPeers() {
		if _, fetching := ps.inflight[c]; fetching || !ps.ready || !ps.usable(now) || !(ps.has.Has(c) || d.full[ps.id]) {
			continue
		}
		t := eta(&ps.meter, len(ps.inflight), defaultPeerRate)
		inTime, bestInTime := t <= within, best != nil && bestETA <= within
		switch {
		case best == nil,
			inTime && !bestInTime,
			inTime == bestInTime && ps.has.Has(c) && !best.has.Has(c),
			inTime == bestInTime && ps.has.Has(c) == best.has.Has(c) && t < bestETA:
			best, bestETA = ps, t
		}
	}
	o := &d.origin
	toOrigin, alt := false, time.Duration(-1) // the source chosen, and when it would deliver
	if best != nil {
		alt = bestETA
	}
	if o.usable && within <= originHorizon {
		i, _ := slices.BinarySearchFunc(o.urgent, due, func(u urgentChunk, t time.Time) int { return u.due.Compare(t) })
		originETA := eta(&o.meter, len(o.inflight)+i, DefaultOriginRate) + max(o.retryAt.Sub(now), 0)
		if best == nil || bestETA > within && (originETA <= within || originETA < bestETA) {
			toOrigin, alt = true, originETA
		}
	}
	if alt < 0 || n > 0 && d.arriving(c, due, alt, eta, now) {
		return out
	}
	if toOrigin {
		o.urgent = slices.DeleteFunc(o.urgent, func(u urgentChunk) bool { return u.chunk == c })
		i, _ := slices.BinarySearchFunc(o.urgent, due, func(u urgentChunk, t time.Time) int { return u.due.Compare(t) })
		o.urgent = slices.Insert(o.urgent, i, urgentChunk{c, due})
		out.Origin = true
		return out
	}
	out.Requests = d.request(best, c, now, nil)
	return out
}

// arriving reports whether a peer's fetch of chunk c, due at due, is on
// its way, so that asking another source, which would deliver in alt, is
// not worth it. A fetch is not on its way once it took over twice what
// one chunk takes its peer (eta) and at least minOverdue; nor when it is
// expected after due and after what the other source would take; nor
// when its peer holds the chunk without having advertised it while
// another usable peer advertises it. (A super-seeding sharer asked for a
// chunk it did not hand out serves it after the chunks fewer peers hold:
// once another peer holds it, it can wait there for long.)
func (d *Download) arriving(c int, due time.Time, alt time.Duration, eta func(*Meter, int, float64) time.Duration, now time.Time) bool {
	advertised := false
	for _, ps := range d.sortedPeers() {
		if _, fetching := ps.inflight[c]; !fetching && ps.ready && ps.usable(now) && ps.has.Has(c) {
			advertised = true
		}
	}
	for _, ps := range d.sortedPeers() {
		asked, ok := ps.inflight[c]
		if !ok || !ps.has.Has(c) && advertised {
			continue
		}
		took := eta(&ps.meter, 0, defaultPeerRate)
		expected := asked.Add(took)
		if now.Sub(asked) < max(2*took, minOverdue) && (!expected.After(due) || !expected.After(now.Add(alt))) {
			return true
		}
	}
	return false
}

// hurryAll runs hurry for every chunk with a deadline, the soonest due
// first.
func (d *Download) hurryAll(now time.Time, out Sends) Sends {
	chunks := slices.Collect(maps.Keys(d.due))
	slices.SortFunc(chunks, func(a, b int) int {
		return cmp.Or(d.due[a].at.Compare(d.due[b].at), a-b)
	})
	for _, c := range chunks {
		s := d.hurry(c, d.due[c].at, now)
		out.Requests = append(out.Requests, s.Requests...)
		out.Origin = out.Origin || s.Origin
	}
	return out
}

// SetComplete marks peer id as holding every chunk (the tracker says so),
// whatever it advertises.
func (d *Download) SetComplete(id peer.ID) {
	if d.full == nil {
		d.full = make(map[peer.ID]bool)
	}
	d.full[id] = true
}

// Resume lets a paused download ask for chunks again.
func (d *Download) Resume() {
	d.paused, d.replan = false, true
}

// DropAll forgets every outstanding request and plan; it returns the
// cancels to send.
func (d *Download) DropAll(now time.Time) []Request {
	var out []Request
	for _, ps := range d.sortedPeers() {
		out = append(out, ps.requests()...)
		ps.stopBusy(now)
		clear(ps.inflight)
		ps.queue = nil
	}
	clear(d.inflight)
	clear(d.origin.inflight)
	d.origin.queue, d.origin.urgent = nil, nil
	clear(d.due)
	return out
}

// depth is how many requests to keep in flight at a peer: enough bytes to
// cover twice its rate times the round trip, and at least the configured
// depth. The headroom lets the pipeline outgrow the rate it measured: a
// peer far away delivers only what is asked of it, so a depth of exactly
// rate times round trip would hold the rate where it started.
func (d *Download) depth(ps *peerState) int {
	extra := int(2 * ps.meter.rate * ps.rtt.Seconds() / float64(d.cfg.ChunkSize))
	return min(d.cfg.Depth+extra, maxDepth)
}

// usable reports whether requests may go to ps now.
func (ps *peerState) usable(now time.Time) bool { return !now.Before(ps.backoff) }

// fill moves chunks from ps's queue into flight, up to its depth.
func (d *Download) fill(ps *peerState, now time.Time, out []Request) []Request {
	if len(ps.queue) == 0 || !ps.usable(now) {
		return out
	}
	depth := d.depth(ps)
	for len(ps.inflight) < depth && len(ps.queue) > 0 {
		c := ps.queue[0]
		ps.queue = ps.queue[1:]
		if !d.missing.Has(c) || d.inflight[c] > 0 || !ps.has.Has(c) {
			continue
		}
		out = d.request(ps, c, now, out)
	}
	return out
}

// request puts chunk c in flight at ps and adds the request to out.
func (d *Download) request(ps *peerState, c int, now time.Time, out []Request) []Request {
	ps.addInflight(c, now)
	d.inflight[c]++
	return append(out, Request{ps.id, c})
}

// Schedule replans when needed and fills every pipeline; in the endgame
// it asks for outstanding chunks from more peers.
func (d *Download) Schedule(now time.Time) Sends {
	var out Sends
	if d.paused || d.Complete() {
		d.wakeAt = time.Time{}
		return out
	}
	if d.settle(now) && d.replan {
		gap := MinReplanGap
		if d.idlePeer(now) {
			gap = MinUrgentGap
		}
		if wait := gap - now.Sub(d.lastPlan); wait > 0 {
			d.wakeAt = now.Add(wait)
		} else {
			d.wakeAt = time.Time{}
			d.replanNow(now)
		}
	}
	for _, ps := range d.sortedPeers() {
		out.Requests = d.fill(ps, now, out.Requests)
	}
	out.Requests = d.endgame(now, out.Requests)
	out.Origin = len(d.origin.queue) > 0
	return d.hurryAll(now, out)
}

// settle reports whether planning may begin; see SetDiscovery.
func (d *Download) settle(now time.Time) bool {
	if !d.settled {
		connecting := d.dialing > 0
		anyReady := false
		for _, ps := range d.peers {
			anyReady = anyReady || ps.ready
			connecting = connecting || !ps.ready
		}
		d.settled = anyReady || (d.looked && !connecting) || now.Sub(d.cfg.Start) >= SettleTime
	}
	return d.settled
}

// idlePeer reports whether a usable peer has nothing to do although it
// holds a chunk that is missing and not in flight: then a pending replan
// should not wait for the usual gap. (A peer that holds nothing needed
// idles for good; it must not make every replan urgent.)
func (d *Download) idlePeer(now time.Time) bool {
	var need *chunkset.Set
	for _, ps := range d.sortedPeers() {
		if len(ps.queue) > 0 || len(ps.inflight) > 0 || !ps.usable(now) || !ps.ready {
			continue
		}
		if need == nil {
			need = d.need()
		}
		if ps.has.Intersects(need) {
			return true
		}
	}
	return false
}

// need is the set of missing chunks not in flight.
func (d *Download) need() *chunkset.Set {
	need := d.missing.Clone()
	for c, v := range d.inflight {
		if v > 0 {
			need.Clear(c)
		}
	}
	return need
}

// sortedPeers returns the peers by ID: a stable order keeps plans
// comparable from one replan to the next, and runs reproducible.
func (d *Download) sortedPeers() []*peerState {
	if d.sorted == nil {
		d.sorted = make([]*peerState, 0, len(d.peers))
		for _, ps := range d.peers {
			d.sorted = append(d.sorted, ps)
		}
		slices.SortFunc(d.sorted, func(a, b *peerState) int { return bytes.Compare(a.id[:], b.id[:]) })
	}
	return d.sorted
}

// replanNow asks the planner for fresh per-peer queues covering every
// missing chunk that is not already in flight.
func (d *Download) replanNow(now time.Time) {
	d.replan = false
	d.lastPlan = now
	d.plans++
	need := d.need()
	var states []*peerState
	for _, ps := range d.sortedPeers() {
		// A peer that just refused or stalled sits out a while.
		if ps.ready && ps.usable(now) {
			states = append(states, ps)
		}
	}
	peers := make([]flow.Peer, len(states))
	for i, ps := range states {
		peers[i] = flow.Peer{ID: ps.key, Has: ps.has, Rate: ps.meter.planRate()}
		ps.planRate = float64(ps.meter.planRate())
	}
	opts := flow.Options{
		ChunkSize: d.cfg.ChunkSize,
		Order:     d.order,
		From:      d.from,
		Seed:      binary.BigEndian.Uint64(d.cfg.Self[:8]),
	}
	// The origin server is what the swarm exists to spare: the plan gives
	// it only what no usable peer holds (below). A reader's chunks that no
	// peer can deliver in time go to it too, by Urgent.
	var plan *flow.Plan
	var err error
	if d.plan != nil {
		plan, err = flow.Replan(d.plan, d.planPeers, need, peers, opts)
	}
	if d.plan == nil || errors.Is(err, flow.ErrPrevious) {
		plan, err = flow.Compute(need, peers, opts)
	}
	if err != nil {
		// Inputs are built here and checked on the way in, so this is a
		// bug; the previous queues stay in use and the owner logs it.
		d.planErr = fmt.Errorf("sched: plan chunks: %w", err)
		return
	}
	d.plan, d.planPeers = plan, peers
	d.planned = chunkset.New(d.chunks)
	for i, ps := range states {
		ps.queue = plan.Queues[i]
		for _, c := range ps.queue {
			d.planned.Set(c)
		}
	}
	// The plan gives the origin nothing of its own (no OriginRate): only
	// what no usable peer holds. A usable peer that holds every chunk
	// without advertising them (a super-seeding sharer) holds them: they
	// come as it hands them out, or by Urgent for a reader.
	d.origin.queue, d.unavailable = nil, len(plan.Unavailable)
	if d.origin.usable && !slices.ContainsFunc(states, func(ps *peerState) bool { return d.full[ps.id] }) {
		d.origin.queue, d.unavailable = plan.Unavailable, 0
	}
}

// endgame: when every missing chunk is in flight, idle peers that hold
// one ask for it too; the first copy wins and the others are cancelled.
// Chunks no one holds yet (a swarm still spreading them) are not the
// endgame: then asking twice would only spend other peers' uploads.
func (d *Download) endgame(now time.Time, out []Request) []Request {
	if len(d.origin.queue) > 0 || d.unavailable > 0 {
		return out
	}
	for _, ps := range d.peers {
		if len(ps.queue) > 0 {
			return out
		}
	}
	for c := range d.missing.All() {
		if d.inflight[c] == 0 {
			return out // held by nobody we are connected to
		}
	}
	for _, ps := range d.sortedPeers() {
		if !ps.usable(now) {
			continue
		}
		depth := d.depth(ps)
		for c := range d.missing.All() {
			if len(ps.inflight) >= depth {
				break
			}
			if d.inflight[c] > endgameCopies || !ps.has.Has(c) {
				continue
			}
			if _, mine := ps.inflight[c]; mine {
				continue
			}
			out = d.request(ps, c, now, out)
		}
	}
	return out
}

// Tick updates rate estimates, withdraws requests from stalled peers and
// replans when rates drifted. The caller ticks every 100 ms or so; it
// returns the cancels to send.
func (d *Download) Tick(now time.Time) []Request {
	var cancels []Request
	for _, ps := range d.sortedPeers() {
		if !ps.busyFrom.IsZero() {
			ps.busyAcc += now.Sub(ps.busyFrom)
			ps.busyFrom = now
		}
		ps.meter.Tick(ps.busyAcc)
		ps.busyAcc = 0
		if drifted(ps.planRate, ps.meter.rate) {
			d.replan = true
		}
		// A peer that sent nothing for long while holding requests is
		// stalled: its requests go back to the planner, its rate drops.
		if since, ok := ps.oldest(); ok && now.Sub(latest(since, ps.lastData)) > d.stallTimeout(ps) {
			for _, r := range ps.requests() {
				d.inflight[r.Chunk]--
				cancels = append(cancels, r)
			}
			ps.stopBusy(now)
			clear(ps.inflight)
			ps.queue = nil
			ps.meter.rate /= 4
			ps.meter.measured = true
			ps.backoff = now.Add(stallBackoff)
			d.replan = true
		}
		// A peer judged slow gets no work, so its rate would never be
		// measured again: after a while it is probed afresh.
		if ps.meter.measured && len(ps.inflight) == 0 && now.Sub(ps.lastRequest) > reprobeAfter {
			ps.meter = Meter{}
			d.replan = true
		}
	}
	return cancels
}

// stallTimeout is how long a peer may stay silent with requests pending:
// several times what its queue should take at its planned rate.
func (d *Download) stallTimeout(ps *peerState) time.Duration {
	if ps.planRate <= 0 {
		return minStallTimeout * 2
	}
	expect := time.Duration(float64(len(ps.inflight)) * float64(d.cfg.ChunkSize) / ps.planRate * float64(time.Second))
	return max(minStallTimeout, 4*expect)
}

func drifted(planned, measured float64) bool {
	if planned <= 0 {
		return measured > 0
	}
	r := measured / planned
	return r < 1-driftTolerance || r > 1+driftTolerance
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// oldest returns when the longest-outstanding request was made.
func (ps *peerState) oldest() (time.Time, bool) {
	var at time.Time
	ok := false
	for _, t := range ps.inflight {
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	return at, ok
}

// requests lists ps's outstanding requests by chunk: maps iterate in a
// random order, and what goes on the wire must not, for runs to repeat.
func (ps *peerState) requests() []Request {
	out := make([]Request, 0, len(ps.inflight))
	for c := range ps.inflight {
		out = append(out, Request{ps.id, c})
	}
	slices.SortFunc(out, func(a, b Request) int { return a.Chunk - b.Chunk })
	return out
}

func (ps *peerState) addInflight(c int, now time.Time) {
	if len(ps.inflight) == 0 {
		ps.busyFrom = now
	}
	ps.inflight[c] = now
	ps.lastRequest = now
}

func (ps *peerState) removeInflight(c int, now time.Time) bool {
	if _, ok := ps.inflight[c]; !ok {
		return false
	}
	delete(ps.inflight, c)
	if len(ps.inflight) == 0 {
		ps.stopBusy(now)
	}
	return true
}

func (ps *peerState) stopBusy(now time.Time) {
	if !ps.busyFrom.IsZero() {
		ps.busyAcc += now.Sub(ps.busyFrom)
		ps.busyFrom = time.Time{}
	}
}
