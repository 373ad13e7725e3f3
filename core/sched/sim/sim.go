// Package sim is a deterministic discrete-event simulator of a swarm
// driven by the real scheduler (package sched): the same decisions the
// transfer engine makes, in virtual time, for swarms far larger than one
// machine can run as processes.
//
// # Model
//
// Each peer has an upload rate, an optional download rate and a one-way
// latency; a message from a to b takes the sum of both latencies. A peer
// uploads one chunk at a time at its full upload rate, in the order its
// sched.Uploads gives (rarest first), and refuses as busy what that
// queue refuses, as the engine does; a download-limited peer takes in
// one chunk at a time at its rate. Control frames (bitfield, have,
// request, cancel, reject) cost no bandwidth. Origins hold every chunk from the start and super-seed
// (sched.Seeder); downloaders advertise every chunk they hold, as the
// engine does, and plan with sched.Download. A downloader joining dials
// up to Degree random peers that have room (MaxPeers each), the origins
// first, as a tracker's holder list and the engine's dialer would.
//
// Runs are deterministic: the same Config gives the same Result.
package sim

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"peerflow/core/peer"
	"peerflow/core/sched"
	"peerflow/flow/chunkset"
)

// Peer is one peer of a simulated swarm.
type Peer struct {
	Up      int64         // upload rate, bytes/s; > 0
	Down    int64         // download rate, bytes/s; 0: unlimited
	Latency time.Duration // one way, to any other peer's
	Join    time.Duration // when it joins (downloaders)
	Leave   time.Duration // when it leaves; 0: never
}

// Config is a swarm to simulate.
type Config struct {
	Size      int64 // bytes of the content
	ChunkSize int64
	Origins   []Peer // hold every chunk; at least one
	Peers     []Peer // downloaders; they seed what they hold, and stay once done
	Degree    int    // connections a joining peer opens; 0: 50
	MaxPeers  int    // connections a peer accepts; 0: 50
	Tick      time.Duration
	Limit     time.Duration // give up at this virtual time; 0: 100x the bound
	Seed      uint64
	// PlainOrigins makes the origins advertise every chunk to everyone,
	// as a seeder that does not super-seed: the reference to compare with.
	PlainOrigins bool
}

// Result is what a run measured.
type Result struct {
	// Time is when the last downloader that stayed had every chunk,
	// counted from the start.
	Time  time.Duration
	Bound time.Duration // the P2P lower bound; see Bound
	// OriginCopies is what the origins uploaded, in copies of the content.
	OriginCopies float64
	// Completion is each downloader's time from its join to its last
	// chunk; -1 for one that left before.
	Completion []time.Duration
	Events     int // events processed
	Plans      int // plans the downloaders' schedulers made
}

// Ratio is Time over Bound.
func (r Result) Ratio() float64 { return r.Time.Seconds() / r.Bound.Seconds() }

// Bound is the least time in which any schedule gets every downloader the
// whole content (Kumar and Ross): max(F/u_s, F/d_min, N*F/(u_s + sum u_i)),
// u_s being the origins' upload together. It ignores latency and joins.
func Bound(cfg Config) time.Duration {
	F := float64(cfg.Size)
	var us, sum float64
	for _, o := range cfg.Origins {
		us += float64(o.Up)
	}
	t := F / us
	for _, p := range cfg.Peers {
		sum += float64(p.Up)
		if p.Down > 0 {
			t = math.Max(t, F/float64(p.Down))
		}
	}
	t = math.Max(t, float64(len(cfg.Peers))*F/(us+sum))
	return time.Duration(t * float64(time.Second))
}

// Errors of Run.
var (
	ErrConfig     = errors.New("sim: invalid config")
	ErrIncomplete = errors.New("sim: the swarm did not complete in time")
)

// epoch is virtual time zero.
var epoch = time.Unix(1_000_000_000, 0)

// Run simulates cfg until every downloader that stays has the content.
func Run(cfg Config) (Result, error) {
	if cfg.Size <= 0 || cfg.ChunkSize <= 0 || len(cfg.Origins) == 0 {
		return Result{}, fmt.Errorf("%w: size %d, chunk size %d, %d origins", ErrConfig, cfg.Size, cfg.ChunkSize, len(cfg.Origins))
	}
	for _, p := range slices.Concat(cfg.Origins, cfg.Peers) {
		if p.Up <= 0 || p.Down < 0 || p.Latency < 0 {
			return Result{}, fmt.Errorf("%w: peer %+v", ErrConfig, p)
		}
	}
	if cfg.Degree <= 0 {
		cfg.Degree = 50
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = 50
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	bound := Bound(cfg)
	if cfg.Limit <= 0 {
		cfg.Limit = 100 * bound
	}
	s := &swarm{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), chunks: int((cfg.Size + cfg.ChunkSize - 1) / cfg.ChunkSize)}
	if err := s.setup(); err != nil {
		return Result{}, err
	}
	err := s.run()
	res := Result{Bound: bound, Events: s.events, Completion: make([]time.Duration, len(cfg.Peers))}
	var originUp int64
	for _, n := range s.nodes {
		if n.origin {
			originUp += n.uploaded
			continue
		}
		if n.dl != nil {
			res.Plans += n.dl.Plans()
		}
		i := n.idx - len(cfg.Origins)
		res.Completion[i] = -1
		if !n.doneAt.IsZero() {
			res.Completion[i] = n.doneAt.Sub(epoch) - n.cfg.Join
			res.Time = max(res.Time, n.doneAt.Sub(epoch))
		}
	}
	res.OriginCopies = float64(originUp) / float64(cfg.Size)
	return res, err
}

// node is one simulated peer.
type node struct {
	idx      int
	id       peer.ID
	cfg      Peer
	origin   bool
	has      *chunkset.Set
	dl       *sched.Download // downloaders
	seeder   *sched.Seeder   // origins
	links    map[int]bool    // connected peers
	up       *sched.Uploads  // requests waiting for the upload
	serving  bool
	busy     bool // the upload had work since the last tick
	inFree   time.Time
	uploaded int64
	joined   bool
	left     bool
	doneAt   time.Time
	wakeAt   time.Time // a wake event is pending for then
}

type swarm struct {
	cfg    Config
	rng    *rand.Rand
	chunks int
	nodes  []*node
	byID   map[peer.ID]*node
	q      eventQueue
	now    time.Time
	seq    uint64
	events int
	active int // downloaders joined, not done, not left
	future int // downloaders still to join
}

// idOf is peer i's ID: its leading bytes (the planner's tie-break seed)
// scattered by a multiplicative hash, the index after them.
func idOf(i int) peer.ID {
	var id peer.ID
	binary.BigEndian.PutUint64(id[:8], uint64(i+1)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	return id
}

func (s *swarm) setup() error {
	s.now = epoch
	s.byID = make(map[peer.ID]*node)
	for i, p := range slices.Concat(s.cfg.Origins, s.cfg.Peers) {
		up, err := sched.NewUploads(s.cfg.Size, s.cfg.ChunkSize)
		if err != nil {
			return err
		}
		n := &node{idx: i, id: idOf(i), cfg: p, origin: i < len(s.cfg.Origins), links: make(map[int]bool), has: chunkset.New(s.chunks), up: up}
		s.nodes = append(s.nodes, n)
		s.byID[n.id] = n
		if n.origin {
			n.has.Fill()
			n.joined = true
			if s.cfg.PlainOrigins {
				continue
			}
			seeder, err := sched.NewSeeder(s.cfg.Size, s.cfg.ChunkSize, n.id, epoch)
			if err != nil {
				return err
			}
			n.seeder, n.joined = seeder, true
			continue
		}
		s.future++
		s.push(event{at: epoch.Add(p.Join), kind: evJoin, to: i})
		if p.Leave > 0 {
			s.push(event{at: epoch.Add(p.Leave), kind: evLeave, to: i})
		}
	}
	s.push(event{at: epoch.Add(s.cfg.Tick), kind: evTick})
	return nil
}

func (s *swarm) run() error {
	limit := epoch.Add(s.cfg.Limit)
	for s.q.Len() > 0 {
		ev := heap.Pop(&s.q).(event)
		if ev.at.After(limit) {
			return fmt.Errorf("%w: %d downloaders unfinished at %v", ErrIncomplete, s.active+s.future, s.cfg.Limit)
		}
		s.now = ev.at
		s.events++
		s.handle(ev)
		if s.active == 0 && s.future == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: nothing left to happen", ErrIncomplete)
}

// Event kinds.
const (
	evJoin = iota
	evLeave
	evTick
	evWake
	evUploaded // the upload of to finished sending chunk to from
	evMsg      // a frame from from arrives at to
)

// Frame types.
const (
	frBitfield = iota
	frHave
	frRequest
	frCancel
	frData
	frReject // not held
	frBusy   // refused as busy
)

type event struct {
	at    time.Time
	seq   uint64
	kind  int
	from  int
	to    int
	frame int
	chunk int
	bits  *chunkset.Set // frBitfield
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	*q = old[:len(old)-1]
	return ev
}

func (s *swarm) push(ev event) {
	s.seq++
	ev.seq = s.seq
	heap.Push(&s.q, ev)
}

// send puts a frame from a on its way to b.
func (s *swarm) send(a, b *node, frame, chunk int, bits *chunkset.Set) {
	at := s.now.Add(a.cfg.Latency + b.cfg.Latency)
	if frame == frData && b.cfg.Down > 0 {
		// A download-limited peer takes in one chunk at a time.
		start := latest(at, b.inFree)
		b.inFree = start.Add(s.duration(s.chunkLen(chunk), b.cfg.Down))
		at = b.inFree
	}
	s.push(event{at: at, kind: evMsg, from: a.idx, to: b.idx, frame: frame, chunk: chunk, bits: bits})
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *swarm) chunkLen(c int) int64 {
	return min(s.cfg.ChunkSize, s.cfg.Size-int64(c)*s.cfg.ChunkSize)
}

func (s *swarm) duration(bytes, rate int64) time.Duration {
	return time.Duration(float64(bytes) / float64(rate) * float64(time.Second))
}

func (s *swarm) handle(ev event) {
	n := s.nodes[ev.to]
	switch ev.kind {
	case evJoin:
		s.join(n)
	case evLeave:
		s.leave(n)
	case evTick:
		s.tick()
	case evWake:
		if n.wakeAt.Equal(ev.at) {
			n.wakeAt = time.Time{}
			s.schedule(n)
		}
	case evUploaded:
		s.uploaded(n, ev)
	case evMsg:
		if n.left || !n.links[ev.from] {
			return // the connection is gone
		}
		s.receive(n, s.nodes[ev.from], ev)
	}
}

// join starts a downloader: it dials peers with room, origins first.
func (s *swarm) join(n *node) {
	s.future--
	s.active++
	n.joined = true
	dl, err := sched.NewDownload(sched.Config{Size: s.cfg.Size, ChunkSize: s.cfg.ChunkSize, Self: n.id, Start: s.now})
	if err != nil {
		panic(err) // the config was checked in Run
	}
	dl.SetDiscovery(true, 0)
	n.dl = dl
	var candidates []*node
	for _, o := range s.nodes {
		if o != n && o.joined && !o.left && len(o.links) < s.cfg.MaxPeers {
			candidates = append(candidates, o)
		}
	}
	origins := 0
	for origins < len(candidates) && candidates[origins].origin {
		origins++
	}
	rest := candidates[origins:]
	s.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for _, o := range candidates[:min(len(candidates), s.cfg.Degree)] {
		s.connect(n, o)
	}
}

// connect links a and b; each sends the other its first bitfield.
func (s *swarm) connect(a, b *node) {
	a.links[b.idx], b.links[a.idx] = true, true
	for _, x := range []*node{a, b} {
		y := a
		if x == a {
			y = b
		}
		rtt := 2 * (x.cfg.Latency + y.cfg.Latency)
		if x.dl != nil && !x.done() {
			x.dl.AddPeer(y.id, nil, rtt)
		}
		bits := x.has.Clone()
		if x.seeder != nil {
			bits = x.seeder.AddPeer(y.id)
		}
		s.send(x, y, frBitfield, 0, bits)
	}
}

func (n *node) done() bool { return !n.doneAt.IsZero() }

// leave drops every connection of n.
func (s *swarm) leave(n *node) {
	if !n.joined || n.left {
		if !n.joined {
			s.future--
		}
		n.left = true
		return
	}
	n.left = true
	if !n.done() {
		s.active--
	}
	for _, j := range slices.Sorted(mapsKeys(n.links)) {
		o := s.nodes[j]
		delete(o.links, n.idx)
		o.up.RemovePeer(n.id, s.now)
		if o.dl != nil && !o.done() {
			o.dl.RemovePeer(n.id)
			s.schedule(o)
		}
		if o.seeder != nil {
			s.offer(o, o.seeder.RemovePeer(n.id))
		}
	}
	clear(n.links)
}

func mapsKeys(m map[int]bool) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// tick runs every peer's periodic work.
func (s *swarm) tick() {
	for _, n := range s.nodes {
		if !n.joined || n.left {
			continue
		}
		if n.seeder != nil {
			idle := !n.busy && n.up.Waiting() == 0 && !n.serving
			n.busy = false
			s.offer(n, n.seeder.Tick(s.now, idle))
		}
		if n.dl != nil && !n.done() {
			for _, r := range n.dl.Tick(s.now) {
				s.send(n, s.byID[r.Peer], frCancel, r.Chunk, nil)
			}
			s.schedule(n)
		}
	}
	s.push(event{at: s.now.Add(s.cfg.Tick), kind: evTick})
}

// offer sends a seeder's offers.
func (s *swarm) offer(n *node, o sched.Offers) {
	for _, h := range o.Haves {
		s.send(n, s.byID[h.Peer], frHave, h.Chunk, nil)
	}
	for _, id := range o.Full {
		s.send(n, s.byID[id], frBitfield, 0, n.has.Clone())
	}
}

// schedule lets a downloader's scheduler act and sends what it decided.
func (s *swarm) schedule(n *node) {
	if n.dl == nil || n.done() || n.left {
		return
	}
	out := n.dl.Schedule(s.now)
	s.sendAll(n, out)
	if at := n.dl.WakeAt(); !at.IsZero() && (n.wakeAt.IsZero() || at.Before(n.wakeAt)) {
		n.wakeAt = at
		s.push(event{at: at, kind: evWake, to: n.idx})
	}
}

func (s *swarm) sendAll(n *node, out sched.Sends) {
	for _, r := range out.Cancels {
		s.send(n, s.byID[r.Peer], frCancel, r.Chunk, nil)
	}
	for _, r := range out.Requests {
		s.send(n, s.byID[r.Peer], frRequest, r.Chunk, nil)
	}
}

func (s *swarm) receive(n, from *node, ev event) {
	switch ev.frame {
	case frBitfield:
		n.up.Bitfield(from.id, ev.bits) // of the content's length: sent by the simulator
		if n.seeder != nil {
			o, _ := n.seeder.Bitfield(from.id, ev.bits)
			s.offer(n, o)
		}
		if n.dl != nil && !n.done() {
			n.dl.Bitfield(from.id, ev.bits.Clone())
			s.schedule(n)
		}
	case frHave:
		n.up.Have(from.id, ev.chunk)
		if n.seeder != nil {
			s.offer(n, n.seeder.Have(from.id, ev.chunk))
		}
		if n.dl != nil && !n.done() {
			n.dl.Have(from.id, ev.chunk)
			s.schedule(n)
		}
	case frRequest:
		if !n.has.Has(ev.chunk) {
			s.send(n, from, frReject, ev.chunk, nil)
			return
		}
		if !n.up.Add(sched.Ask{Peer: from.id, Chunk: ev.chunk}) {
			s.send(n, from, frBusy, ev.chunk, nil)
			return
		}
		s.serve(n)
	case frCancel:
		n.up.Cancel(sched.Ask{Peer: from.id, Chunk: ev.chunk})
	case frReject, frBusy:
		if n.dl != nil && !n.done() {
			why := sched.RefusedNotHeld
			if ev.frame == frBusy {
				why = sched.RefusedBusy
			}
			n.dl.Reject(from.id, ev.chunk, why, s.now)
			s.schedule(n)
		}
	case frData:
		s.data(n, from, ev.chunk)
	}
}

// serve starts the next upload if the link is free.
func (s *swarm) serve(n *node) {
	if n.serving {
		return
	}
	a, ok := n.up.Next(s.now)
	if !ok {
		return
	}
	n.serving, n.busy = true, true
	s.push(event{at: s.now.Add(s.duration(s.chunkLen(a.Chunk), n.cfg.Up)), kind: evUploaded, from: s.byID[a.Peer].idx, to: n.idx, chunk: a.Chunk})
}

func (s *swarm) uploaded(n *node, ev event) {
	n.serving = false
	to := s.nodes[ev.from]
	var size int64
	if !n.left && n.links[to.idx] {
		size = s.chunkLen(ev.chunk)
		n.uploaded += size
		s.send(n, to, frData, ev.chunk, nil)
	}
	n.up.Done(to.id, size, s.now)
	s.serve(n)
}

// data takes a chunk in: the scheduler accounts for it, and every
// connected peer hears of it at once.
func (s *swarm) data(n, from *node, c int) {
	if n.dl == nil || n.done() || !n.dl.Requested(from.id, c) {
		return
	}
	fresh := !n.has.Has(c)
	out := n.dl.Received(from.id, c, s.chunkLen(c), fresh, s.now)
	s.sendAll(n, out)
	if fresh {
		n.has.Set(c)
		for _, j := range slices.Sorted(mapsKeys(n.links)) {
			s.send(n, s.nodes[j], frHave, c, nil)
		}
	}
	if n.dl.Complete() {
		n.doneAt = s.now
		s.active--
		return
	}
	if out.Wake {
		s.schedule(n)
	}
}
