package transfer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/store"
	"peerflow/core/wire"
	"peerflow/flow"
	"peerflow/flow/chunkset"
)

// State is where a download stands.
type State string

// Download states.
const (
	StateConnecting  State = "connecting"  // looking for peers
	StateDownloading State = "downloading" // chunks are arriving
	StateStalled     State = "stalled"     // some chunks are held by no reachable peer and there is no origin
	StatePaused      State = "paused"
	StateComplete    State = "complete" // verified and moved into place
	StateFailed      State = "failed"   // see Progress.Err
	StateStopped     State = "stopped"  // closed before completion; resumable
)

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	EventChunk EventKind = iota // a chunk was verified and written
	EventState                  // the state changed
	EventPeer                   // a peer connected or left
)

// OriginSource names the origin in events and results.
const OriginSource = "origin"

// Event is one thing that happened to a download. Chunk events come for
// every verified chunk, exactly once each.
type Event struct {
	Kind   EventKind
	Chunk  int     // EventChunk
	Source string  // EventChunk, EventPeer: the peer's listen address, or OriginSource
	Peer   peer.ID // EventChunk, EventPeer: zero for the origin
	Bytes  int64   // EventChunk: the chunk's size
	Rate   float64 // EventChunk: the source's estimated rate, bytes/s
	At     time.Time
	State  State // EventState: the new state; EventPeer: unused
	Joined bool  // EventPeer: connected (true) or left
}

// DownloadOptions tune a download.
type DownloadOptions struct {
	Holders HolderSource // where to find peers; nil: only peers that connect to us
	Origin  string       // origin URL for HTTP range requests; "" for none
	// OnEvent is called for every event, from the goroutine where it
	// happened; it must return quickly and must not call back into the
	// Download.
	OnEvent func(Event)
	Order   flow.Order // flow.RarestFirst (default) or flow.Sequential
	From    int        // first chunk for flow.Sequential
	// HTTPClient fetches from the origin; nil: a client with timeouts.
	HTTPClient *http.Client
}

// Progress is a snapshot of a download.
type Progress struct {
	State       State
	Chunks      int     // in all
	Done        int     // verified
	Size        int64   // bytes in all
	Bytes       int64   // verified bytes
	Rate        float64 // bytes/s, recent average
	Peers       int     // connected peers
	Unavailable int     // missing chunks no connected peer holds (and no origin)
	OriginBytes int64
	Err         error
}

// Result describes a finished download.
type Result struct {
	Path        string
	Bytes       int64            // fetched in this run
	Duration    time.Duration    // from the start of this run to the last chunk verified
	Finishing   time.Duration    // then: fsync and move into place
	Sources     map[string]int64 // peer listen address (or OriginSource) → bytes received
	OriginBytes int64
	// Refetched counts chunks received more than once or rejected: endgame
	// duplicates, chunks that failed verification.
	Refetched int
}

// Tuning of the scheduler.
const (
	tickEvery         = 100 * time.Millisecond
	minReplanGap      = 100 * time.Millisecond // between replans for drift or news
	minUrgentGap      = 10 * time.Millisecond  // between replans while a peer is idle
	syncEvery         = 250 * time.Millisecond // durability lag: chunks verified since are fetched again after a crash
	writebackEvery    = 16 << 20               // start disk writeback after this many new bytes
	holdersEvery      = 15 * time.Second
	holdersEveryStall = 3 * time.Second
	holdersEveryAlone = time.Second // no peer yet: ask often
	dialRetryAfter    = 30 * time.Second
	maxDialsAtOnce    = 8
	busyBackoff       = time.Second
	minStallTimeout   = 4 * time.Second
	stallBackoff      = 5 * time.Second  // a stalled peer sits out the plans this long
	reprobeAfter      = 30 * time.Second // a peer left without work is measured afresh after this
	driftTolerance    = 0.35             // replan when a measured rate moves this far from the planned one
	endgameCopies     = 2                // at most this many extra requests for one chunk
	originWorkers     = 2
	// DefaultOriginRate is assumed for the origin until measured: low, so
	// that peers are preferred and the origin gets what they cannot do.
	DefaultOriginRate = 256 << 10
)

// Download fetches one content. Create it with Engine.Download.
type Download struct {
	e     *Engine
	sw    *swarm
	m     *content.Manifest
	entry store.Entry
	part  *store.Part
	opts  DownloadOptions
	log   *slog.Logger
	start time.Time

	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	kick       chan struct{}
	soon       *time.Timer   // fires when a held-back replan may run
	originWake chan struct{} // wakes origin workers
	syncs      chan struct{} // wakes the syncer for a Sync
	// stopSync ends the syncer; syncDone is closed when it has. The part
	// file is finished or closed only after, so no Sync races with it.
	stopSync context.CancelFunc
	syncDone chan struct{}
	// originWG counts the origin workers; run waits for them, then closes
	// the origin connections if the client is the download's own.
	originWG  sync.WaitGroup
	ownClient bool
	flush     chan struct{} // wakes the syncer to start writeback

	mu          sync.Mutex
	peers       map[*session]*peerState
	missing     *chunkset.Set
	inflight    []uint8 // per chunk: outstanding requests (peers and origin)
	origin      origin
	plan        *flow.Plan
	planPeers   []flow.Peer
	lastPlan    time.Time
	replan      bool
	paused      bool
	state       State
	err         error
	result      Result
	done0       int // chunks verified before this run
	bytes       int64
	rate        meter
	unavailable int
	settled     bool // peers had their chance to connect; see settledLocked
	finding     bool // findPeers is running
	looked      bool // the holder source answered at least once
	dialing     map[string]bool
	dialFailed  map[string]time.Time
	lastSync    time.Time
	unflushed   int64 // bytes written since writeback was last started
	// chunkSrc names, per chunk verified in this run, where it came from
	// (an index into srcNames; -1: not in this run), for late subscribers.
	chunkSrc []int32
	srcNames []string
	srcIndex map[string]int32
}

// peerState is the download's view of one connected peer.
type peerState struct {
	s           *session
	queue       []int             // planned chunks, in order
	inflight    map[int]time.Time // requested chunks → when
	meter       meter
	planRate    float64
	busyFrom    time.Time // when inflight became non-empty
	busyAcc     time.Duration
	backoff     time.Time // Busy reject: do not ask before
	lastData    time.Time
	lastRequest time.Time
	ready       bool // its bitfield arrived: it can be planned for
}

// Download starts fetching the library entry e (a download, not complete)
// into part. The swarm serves part's verified chunks meanwhile.
func (e *Engine) Download(entry store.Entry, part *store.Part, opts DownloadOptions) (*Download, error) {
	m := part.Manifest()
	src := PartSource{part}
	sw, err := e.swarmOf(m, src)
	if err != nil {
		return nil, err
	}
	have := part.Have()
	missing := chunkset.New(m.NumChunks())
	missing.Fill()
	missing.AndNot(have)
	ctx, cancel := context.WithCancel(e.ctx)
	d := &Download{
		e: e, sw: sw, m: m, entry: entry, part: part, opts: opts,
		log:        e.log.With("content", m.ID().Short()),
		start:      time.Now(),
		ctx:        ctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		kick:       make(chan struct{}, 1),
		soon:       time.NewTimer(time.Hour),
		syncs:      make(chan struct{}, 1),
		flush:      make(chan struct{}, 1),
		originWake: make(chan struct{}, 1),
		peers:      make(map[*session]*peerState),
		missing:    missing,
		inflight:   make([]uint8, m.NumChunks()),
		state:      StateConnecting,
		done0:      have.Count(),
		dialing:    make(map[string]bool),
		dialFailed: make(map[string]time.Time),
		lastSync:   time.Now(),
		replan:     true,
		result:     Result{Sources: make(map[string]int64)},
		origin:     origin{url: opts.Origin, inflight: make(map[int]bool)},
		chunkSrc:   make([]int32, m.NumChunks()),
		srcIndex:   make(map[string]int32),
	}
	for i := range d.chunkSrc {
		d.chunkSrc[i] = -1
	}
	if d.opts.HTTPClient == nil {
		d.opts.HTTPClient = &http.Client{Timeout: time.Minute}
		d.ownClient = true
	}
	// The swarm serves the part from now on: decided together with the
	// check, so a refused second download changes nothing.
	sw.mu.Lock()
	switch {
	case sw.closed:
		sw.mu.Unlock()
		cancel()
		return nil, errors.New("transfer: engine is closed")
	case sw.dl != nil:
		sw.mu.Unlock()
		cancel()
		return nil, errors.New("transfer: content is already downloading")
	}
	sw.dl, sw.src = d, src
	sessions := sw.sessionList()
	sw.mu.Unlock()
	bits := src.Bitfield()
	for _, s := range sessions {
		s.queueBitfield(bits)
		d.peerJoined(s)
	}
	// Goroutines start under e.mu, so Close (which marks the engine closed
	// under it, then waits) either waits for them or they never start.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		d.cancel()
		sw.mu.Lock()
		sw.dl = nil
		sw.mu.Unlock()
		part.Close()
		return nil, errors.New("transfer: engine is closed")
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	d.stopSync, d.syncDone = stopSync, make(chan struct{})
	e.wg.Go(d.run)
	e.wg.Go(func() { d.syncer(syncCtx) })
	if opts.Origin != "" {
		for range originWorkers {
			d.originWG.Go(d.originWorker)
		}
	}
	return d, nil
}

// Manifest is the content being downloaded.
func (d *Download) Manifest() *content.Manifest { return d.m }

// Done is closed when the download has ended: complete, failed or stopped.
func (d *Download) Done() <-chan struct{} { return d.done }

// Wait blocks until the download ends or ctx is done.
func (d *Download) Wait(ctx context.Context) (Result, error) {
	select {
	case <-d.done:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.result, d.err
}

// Progress returns a snapshot.
func (d *Download) Progress() Progress {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Progress{
		State:       d.state,
		Chunks:      d.m.NumChunks(),
		Done:        d.m.NumChunks() - d.missing.Count(),
		Size:        d.m.Size,
		Bytes:       d.m.Size - d.missingBytes(),
		Rate:        d.rate.rate,
		Peers:       len(d.peers),
		Unavailable: d.unavailable,
		OriginBytes: d.result.OriginBytes,
		Err:         d.err,
	}
}

// missingBytes is the size of the missing chunks; d.mu held.
func (d *Download) missingBytes() int64 {
	n := int64(d.missing.Count()) * d.m.ChunkSize
	if last := d.m.NumChunks() - 1; last >= 0 && d.missing.Has(last) {
		n -= d.m.ChunkSize - d.m.ChunkLen(last)
	}
	return n
}

// Have returns the verified chunks.
func (d *Download) Have() *chunkset.Set { return d.part.Have() }

// Sources tells, for every chunk verified in this run, where it came from:
// names[perChunk[i]], or -1 for a chunk not verified in this run. With it
// a late subscriber shows what its events would have told it.
func (d *Download) Sources() (names []string, perChunk []int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.srcNames), slices.Clone(d.chunkSrc)
}

// noteSourceLocked records that chunk c came from source; d.mu held.
func (d *Download) noteSourceLocked(c int, source string) {
	k, ok := d.srcIndex[source]
	if !ok {
		k = int32(len(d.srcNames))
		d.srcIndex[source] = k
		d.srcNames = append(d.srcNames, source)
	}
	d.chunkSrc[c] = k
}

// Pause stops requesting chunks; connected peers are still served.
func (d *Download) Pause() {
	d.mu.Lock()
	if d.paused || d.finishedLocked() {
		d.mu.Unlock()
		return
	}
	d.paused = true
	cancels := d.dropAllRequestsLocked()
	d.mu.Unlock()
	sendCancels(cancels)
	d.setState(StatePaused)
}

// Resume continues a paused download.
func (d *Download) Resume() {
	d.mu.Lock()
	was := d.paused
	d.paused, d.replan = false, true
	d.mu.Unlock()
	if was {
		d.setState(StateDownloading)
		d.wake()
	}
}

// Paused reports whether the download is paused.
func (d *Download) Paused() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.paused
}

// stop ends the download without finishing it; it can resume later.
func (d *Download) stop() { d.cancel() }

// Stop ends the download without finishing it and waits until it has
// released its part file; it can be resumed later from the store.
func (d *Download) Stop() {
	d.cancel()
	<-d.done
}

func (d *Download) finishedLocked() bool {
	return d.state == StateComplete || d.state == StateFailed || d.state == StateStopped
}

func (d *Download) wake() { signal(d.kick) }

func (d *Download) emit(ev Event) {
	if d.opts.OnEvent != nil {
		ev.At = time.Now()
		d.opts.OnEvent(ev)
	}
}

func (d *Download) setState(s State) {
	d.mu.Lock()
	changed := d.state != s && !d.finishedLocked()
	if changed {
		d.state = s
	}
	d.mu.Unlock()
	if changed {
		d.emit(Event{Kind: EventState, State: s})
	}
}

// run is the scheduler: it replans, keeps every peer's pipeline full,
// watches rates and stalls, finds peers, and finishes the download.
func (d *Download) run() {
	defer close(d.done)
	defer func() {
		d.cancel()
		d.originWG.Wait()
		if d.ownClient {
			d.opts.HTTPClient.CloseIdleConnections()
		}
	}()
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	defer d.soon.Stop()
	holders := time.NewTimer(0)
	defer holders.Stop()
	for {
		select {
		case <-d.ctx.Done():
			d.shutdown(StateStopped, nil)
			return
		case <-d.kick:
		case <-d.soon.C:
		case <-ticker.C:
			d.tick()
		case <-holders.C:
			// Asking trackers and dialing take seconds; the scheduler goes on.
			d.mu.Lock()
			if !d.finding {
				d.finding = true
				d.e.wg.Go(func() {
					d.findPeers()
					d.mu.Lock()
					d.finding = false
					d.mu.Unlock()
					d.wake()
				})
			}
			wait := holdersEvery
			switch {
			case len(d.peers) == 0:
				wait = holdersEveryAlone
			case d.unavailable > 0:
				wait = holdersEveryStall
			}
			d.mu.Unlock()
			holders.Reset(wait)
		}
		d.mu.Lock()
		complete, failed := d.missing.Count() == 0, d.err
		d.mu.Unlock()
		if failed != nil {
			d.shutdown(StateFailed, failed)
			return
		}
		if complete {
			d.finish()
			return
		}
		d.schedule()
	}
}

// finish moves the verified file into place and seeds it from there.
func (d *Download) finish() {
	d.stopSync()
	<-d.syncDone
	entry, err := d.part.Finish(d.entry)
	if err != nil {
		d.shutdown(StateFailed, fmt.Errorf("finish %s: %w", d.m.Name, err))
		return
	}
	d.sw.setSource(NewFileSource(entry))
	d.mu.Lock()
	d.result.Path = entry.Path
	d.result.Finishing = time.Since(d.start) - d.result.Duration
	d.state = StateComplete
	d.sw.mu.Lock()
	d.sw.dl = nil
	d.sw.mu.Unlock()
	d.mu.Unlock()
	d.cancel()
	d.emit(Event{Kind: EventState, State: StateComplete})
}

// shutdown ends the download unfinished: requests are withdrawn and the
// part file is synced and closed, so it resumes next time.
func (d *Download) shutdown(s State, err error) {
	d.stopSync()
	<-d.syncDone
	d.mu.Lock()
	cancels := d.dropAllRequestsLocked()
	d.state, d.err = s, err
	d.sw.mu.Lock()
	if d.sw.dl == d {
		d.sw.dl = nil
	}
	d.sw.mu.Unlock()
	d.mu.Unlock()
	d.cancel()
	sendCancels(cancels)
	if cerr := d.part.Close(); cerr != nil {
		d.log.Warn("close part file", "err", cerr)
	}
	d.emit(Event{Kind: EventState, State: s})
}

// fail records a download-wide error (a full disk, say); run stops.
func (d *Download) fail(err error) {
	d.mu.Lock()
	if d.err == nil && !d.finishedLocked() {
		d.err = err
	}
	d.mu.Unlock()
	d.wake()
}

type request struct {
	s     *session
	chunk int
}

// sendCancels and sendRequests go through each session's control loop:
// a peer that reads slowly must not hold up the caller.
func sendCancels(rs []request) {
	for _, r := range rs {
		r.s.queue(wire.Cancel, r.chunk)
	}
}

func sendRequests(rs []request) {
	for _, r := range rs {
		r.s.queue(wire.Request, r.chunk)
	}
}

// writeRequests sends s's own next requests from its reader goroutine,
// without a hand-off: this is the pipeline's refill, on the hot path.
func writeRequests(s *session, rs []request) {
	for _, r := range rs {
		if err := s.write(control{wire.Request, uint32(r.chunk)}); err != nil {
			s.close()
			return
		}
	}
}

// dropAllRequestsLocked forgets every outstanding request and plan; it
// returns the cancels to send.
func (d *Download) dropAllRequestsLocked() []request {
	var out []request
	for _, ps := range d.peers {
		for c := range ps.inflight {
			out = append(out, request{ps.s, c})
		}
		ps.stopBusy(time.Now())
		clear(ps.inflight)
		ps.queue = nil
	}
	clear(d.inflight)
	clear(d.origin.inflight)
	d.origin.queue = nil
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

// peerJoined starts using a newly connected peer.
func (d *Download) peerJoined(s *session) {
	d.mu.Lock()
	if d.peers[s] == nil && !s.closed() {
		// A peer connected before this download began sent its bitfield
		// already: it is ready at once.
		d.peers[s] = &peerState{s: s, inflight: make(map[int]time.Time), ready: s.hasBitfield()}
		d.replan = true
	}
	d.mu.Unlock()
	d.emit(Event{Kind: EventPeer, Peer: s.remote, Source: s.addr, Joined: true})
	d.wake()
}

// peerLeft gives a departed peer's chunks back to the planner.
func (d *Download) peerLeft(s *session) {
	d.mu.Lock()
	ps := d.peers[s]
	if ps != nil {
		for c := range ps.inflight {
			d.inflight[c]--
		}
		delete(d.peers, s)
		d.replan = true
	}
	d.mu.Unlock()
	if ps != nil {
		d.emit(Event{Kind: EventPeer, Peer: s.remote, Source: s.addr})
		d.wake()
	}
}

// peerChanged notes a new bitfield from a peer.
func (d *Download) peerChanged(s *session) {
	d.mu.Lock()
	if ps := d.peers[s]; ps != nil {
		ps.ready = true
	}
	d.replan = true
	d.mu.Unlock()
	d.wake()
}

// peerHas notes a have from a peer: a chunk we miss became available.
func (d *Download) peerHas(s *session, c int) {
	d.mu.Lock()
	wanted := d.missing.Has(c) && d.inflight[c] == 0
	if wanted {
		d.replan = true
	}
	d.mu.Unlock()
	if wanted {
		d.wake()
	}
}

// onReject handles a refused request.
func (d *Download) onReject(s *session, c int, reason wire.Reason) {
	now := time.Now()
	switch reason {
	case wire.ReasonNotHeld:
		s.mu.Lock()
		s.have.Clear(c)
		s.mu.Unlock()
	case wire.ReasonChanged:
		s.mu.Lock()
		s.have = chunkset.New(d.m.NumChunks())
		s.mu.Unlock()
	}
	d.mu.Lock()
	if ps := d.peers[s]; ps != nil && ps.removeInflight(c, now) {
		d.inflight[c]--
		if reason == wire.ReasonBusy {
			ps.backoff = now.Add(busyBackoff)
		}
		d.replan = true
	}
	d.mu.Unlock()
	d.wake()
}

// onData handles a received chunk on the connection's reader goroutine:
// verify, write, account, and refill this peer's pipeline at once. It
// returns false when the peer sent bad bytes and was banned.
func (d *Download) onData(s *session, c int, off uint32, data []byte) bool {
	if off != 0 || int64(len(data)) != d.m.ChunkLen(c) {
		return true // not a whole chunk: we never ask for those
	}
	fresh, err := d.part.PutChunk(c, data)
	now := time.Now()
	if errors.Is(err, store.ErrHashMismatch) {
		d.log.Warn("peer sent a corrupt chunk; banning it", "peer", s.remote.Short(), "addr", s.addr, "chunk", c)
		d.mu.Lock()
		d.result.Refetched++
		d.mu.Unlock()
		s.sw.ban(s.remote)
		return false
	}
	if err != nil {
		d.fail(fmt.Errorf("download %s: %w", d.m.Name, err))
		return true
	}
	n := int64(len(data))
	d.mu.Lock()
	ps := d.peers[s]
	var rate float64
	if ps != nil {
		if ps.removeInflight(c, now) {
			d.inflight[c]--
		}
		ps.meter.add(n)
		ps.lastData = now
		rate = ps.meter.rate
	}
	var cancels []request
	if fresh {
		d.missing.Clear(c)
		d.bytes += n
		if d.unflushed += n; d.unflushed >= writebackEvery {
			d.unflushed = 0
			signal(d.flush)
		}
		d.rate.add(n)
		d.result.Bytes += n
		d.result.Sources[s.addr] += n
		d.noteSourceLocked(c, s.addr)
		// Endgame duplicates of this chunk elsewhere are now useless.
		if d.inflight[c] > 0 {
			for _, other := range d.peers {
				if other.removeInflight(c, now) {
					d.inflight[c]--
					cancels = append(cancels, request{other.s, c})
				}
			}
			d.origin.queue = slices.DeleteFunc(d.origin.queue, func(x int) bool { return x == c })
		}
	} else {
		d.result.Refetched++
	}
	var reqs []request
	if ps != nil && !d.paused {
		reqs = d.fillLocked(ps, now, nil)
		if len(ps.queue) == 0 && len(reqs) == 0 {
			d.replan = true
			signal(d.kick) // this peer ran dry
		}
	}
	complete := d.missing.Count() == 0
	if complete && fresh {
		d.result.Duration = now.Sub(d.start)
	}
	d.mu.Unlock()
	s.downloaded.Add(n)
	if fresh {
		d.sw.countDownload(n)
	}
	sendCancels(cancels)
	writeRequests(s, reqs)
	if fresh {
		d.emit(Event{Kind: EventChunk, Chunk: c, Source: s.addr, Peer: s.remote, Bytes: n, Rate: rate})
		d.sw.broadcastHave(c)
	}
	if complete {
		d.wake()
	}
	return true
}

// requested reports whether chunk c is in flight at s: only then is its
// data read.
func (d *Download) requested(s *session, c int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ps := d.peers[s]
	if ps == nil {
		return false
	}
	_, ok := ps.inflight[c]
	return ok
}

// depth is how many requests to keep in flight at a peer: enough bytes to
// cover its rate times the round trip, and at least the configured depth.
func (d *Download) depth(ps *peerState) int {
	rtt := ps.s.rtt()
	extra := int(ps.meter.rate * rtt.Seconds() / float64(d.m.ChunkSize))
	return min(d.e.cfg.Depth+extra, 32)
}

// fillLocked moves chunks from ps's queue into flight, up to its depth.
func (d *Download) fillLocked(ps *peerState, now time.Time, out []request) []request {
	if now.Before(ps.backoff) || ps.s.closed() {
		return out
	}
	depth := d.depth(ps)
	for len(ps.inflight) < depth && len(ps.queue) > 0 {
		c := ps.queue[0]
		ps.queue = ps.queue[1:]
		if !d.missing.Has(c) || d.inflight[c] > 0 {
			continue
		}
		out = d.requestLocked(ps, c, now, out)
	}
	return out
}

// requestLocked puts chunk c in flight at ps and adds the request to out.
func (d *Download) requestLocked(ps *peerState, c int, now time.Time, out []request) []request {
	ps.addInflight(c, now)
	d.inflight[c]++
	return append(out, request{ps.s, c})
}

// schedule replans when needed and fills every pipeline; in the endgame it
// asks for outstanding chunks from more peers.
func (d *Download) schedule() {
	now := time.Now()
	d.mu.Lock()
	if d.paused || d.finishedLocked() {
		d.mu.Unlock()
		return
	}
	if d.settledLocked(now) && d.replan {
		gap := minReplanGap
		if d.idlePeerLocked(now) {
			gap = minUrgentGap
		}
		if wait := gap - now.Sub(d.lastPlan); wait > 0 {
			d.soon.Reset(wait)
		} else {
			d.replanLocked(now)
		}
	}
	var reqs []request
	for _, ps := range d.peers {
		reqs = d.fillLocked(ps, now, reqs)
	}
	reqs = d.endgameLocked(now, reqs)
	wakeOrigin := len(d.origin.queue) > 0
	state := StateDownloading
	switch {
	case !d.settled || (len(d.peers) == 0 && !d.origin.usable()):
		state = StateConnecting
	case d.unavailable > 0 && d.unavailable == d.missing.Count():
		state = StateStalled
	}
	d.mu.Unlock()
	sendRequests(reqs)
	if wakeOrigin {
		signal(d.originWake)
	}
	d.setState(state)
}

// settleTime bounds how long a download waits for its first peers before
// it plans without them (giving the origin everything, or reporting the
// chunks unavailable).
const settleTime = 2 * time.Second

// settledLocked reports whether planning may begin: a peer is ready, or
// every known holder was tried, or settleTime passed. Until then a chunk
// held only by a peer still connecting would look unavailable.
func (d *Download) settledLocked(now time.Time) bool {
	if !d.settled {
		connecting := len(d.dialing) > 0
		anyReady := false
		for _, ps := range d.peers {
			anyReady = anyReady || ps.ready
			connecting = connecting || !ps.ready
		}
		d.settled = anyReady || (d.looked && !connecting) || now.Sub(d.start) >= settleTime
	}
	return d.settled
}

// idlePeerLocked reports whether a usable peer has nothing to do: then a
// pending replan should not wait for the usual gap.
func (d *Download) idlePeerLocked(now time.Time) bool {
	for _, ps := range d.peers {
		if len(ps.queue) == 0 && len(ps.inflight) == 0 && !now.Before(ps.backoff) {
			return true
		}
	}
	return false
}

// replanLocked asks the planner for fresh per-peer queues covering every
// missing chunk that is not already in flight.
func (d *Download) replanLocked(now time.Time) {
	d.replan = false
	d.lastPlan = now
	need := d.missing.Clone()
	for c, v := range d.inflight {
		if v > 0 {
			need.Clear(c)
		}
	}
	states := make([]*peerState, 0, len(d.peers))
	measured := true
	for _, ps := range d.peers {
		// A peer that just refused or stalled sits out a while.
		if ps.ready && !ps.s.closed() && !now.Before(ps.backoff) {
			measured = measured && ps.meter.measured
			states = append(states, ps)
		}
	}
	// A stable order keeps plans comparable from one replan to the next.
	slices.SortFunc(states, func(a, b *peerState) int { return bytes.Compare(a.s.remote[:], b.s.remote[:]) })
	peers := make([]flow.Peer, len(states))
	for i, ps := range states {
		peers[i] = flow.Peer{ID: ps.s.remote.String(), Has: ps.s.haveSnapshot(), Rate: ps.meter.planRate()}
		ps.planRate = float64(ps.meter.planRate())
	}
	opts := flow.Options{
		ChunkSize: d.m.ChunkSize,
		Order:     d.opts.Order,
		From:      d.opts.From,
		Seed:      binary.BigEndian.Uint64(d.e.cfg.Self[:8]),
	}
	// Until every peer's rate is measured the planner could not tell
	// whether the origin would finish sooner, so it gets only what no
	// peer holds; after that it competes at its own (measured) rate.
	useOrigin := d.origin.usable()
	if useOrigin && measured {
		opts.OriginRate = int64(d.origin.meter.rate)
		if opts.OriginRate <= 0 {
			opts.OriginRate = DefaultOriginRate
		}
	}
	var plan *flow.Plan
	var err error
	if d.plan != nil {
		plan, err = flow.Replan(d.plan, d.planPeers, need, peers, opts)
	} else {
		plan, err = flow.Compute(need, peers, opts)
	}
	if err != nil {
		d.log.Error("plan chunks", "err", err)
		return
	}
	d.plan, d.planPeers = plan, peers
	for i, ps := range states {
		ps.queue = plan.Queues[i]
		d.log.Debug("plan", "peer", ps.s.addr, "rate", int64(ps.planRate), "queue", len(ps.queue), "inflight", len(ps.inflight), "t", now.Sub(d.start))
	}
	d.origin.queue = plan.Origin
	d.unavailable = len(plan.Unavailable)
	if useOrigin {
		d.origin.queue = append(d.origin.queue, plan.Unavailable...)
		d.unavailable = 0
	}
}

// endgameLocked: when no chunk is left to plan but some are still in
// flight, idle peers that hold them ask too; the first copy wins and the
// others are cancelled.
func (d *Download) endgameLocked(now time.Time, out []request) []request {
	for _, ps := range d.peers {
		if len(ps.queue) > 0 {
			return out
		}
	}
	if len(d.origin.queue) > 0 {
		return out
	}
	for _, ps := range d.peers {
		if now.Before(ps.backoff) || ps.s.closed() {
			continue
		}
		depth := d.depth(ps)
		if len(ps.inflight) >= depth {
			continue
		}
		have := ps.s.haveSnapshot()
		for c := range d.missing.All() {
			if len(ps.inflight) >= depth {
				break
			}
			if d.inflight[c] == 0 || d.inflight[c] > endgameCopies || !have.Has(c) {
				continue
			}
			if _, mine := ps.inflight[c]; mine {
				continue
			}
			out = d.requestLocked(ps, c, now, out)
		}
	}
	return out
}

// tick updates rate estimates, withdraws stalled requests, replans when
// rates drifted, and makes verified chunks durable.
func (d *Download) tick() {
	now := time.Now()
	var cancels []request
	d.mu.Lock()
	for _, ps := range d.peers {
		if !ps.busyFrom.IsZero() {
			ps.busyAcc += now.Sub(ps.busyFrom)
			ps.busyFrom = now
		}
		ps.meter.tick(ps.busyAcc)
		ps.busyAcc = 0
		if drifted(ps.planRate, ps.meter.rate) {
			d.replan = true
		}
		// A peer that sent nothing for long while holding requests is
		// stalled: its requests go back to the planner, its rate drops.
		if c, since, ok := ps.oldest(); ok && now.Sub(latest(since, ps.lastData)) > d.stallTimeout(ps) {
			for c := range ps.inflight {
				d.inflight[c]--
				cancels = append(cancels, request{ps.s, c})
			}
			ps.stopBusy(now)
			clear(ps.inflight)
			ps.queue = nil
			ps.meter.rate /= 4
			ps.meter.measured = true
			ps.backoff = now.Add(stallBackoff)
			d.replan = true
			d.log.Debug("peer stalled", "peer", ps.s.remote.Short(), "chunk", c)
		}
		// A peer judged slow gets no work, so its rate would never be
		// measured again: after a while it is probed afresh.
		if ps.meter.measured && len(ps.inflight) == 0 && now.Sub(ps.lastRequest) > reprobeAfter {
			ps.meter = meter{}
			d.replan = true
		}
	}
	d.rate.tick(tickEvery)
	dirty := d.part.Dirty() > 0 && now.Sub(d.lastSync) >= syncEvery
	if dirty {
		d.lastSync = now
	}
	d.mu.Unlock()
	sendCancels(cancels)
	if dirty {
		signal(d.syncs)
	}
}

// syncer makes verified chunks durable in the background: an fsync can
// take long while the disk is busy, and must not hold up scheduling.
func (d *Download) syncer(ctx context.Context) {
	defer close(d.syncDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.flush:
			d.part.StartWriteback()
		case <-d.syncs:
			if err := d.part.Sync(); err != nil && ctx.Err() == nil {
				d.fail(fmt.Errorf("save progress of %s: %w", d.m.Name, err))
			}
		}
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// oldest returns the longest-outstanding request.
func (ps *peerState) oldest() (int, time.Time, bool) {
	best, at, ok := 0, time.Time{}, false
	for c, t := range ps.inflight {
		if !ok || t.Before(at) {
			best, at, ok = c, t, true
		}
	}
	return best, at, ok
}

// stallTimeout is how long a peer may stay silent with requests pending:
// several times what its queue should take at its planned rate.
func (d *Download) stallTimeout(ps *peerState) time.Duration {
	if ps.planRate <= 0 {
		return minStallTimeout * 2
	}
	expect := time.Duration(float64(len(ps.inflight)) * float64(d.m.ChunkSize) / ps.planRate * float64(time.Second))
	return max(minStallTimeout, 4*expect)
}

func drifted(planned, measured float64) bool {
	if planned <= 0 {
		return measured > 0
	}
	r := measured / planned
	return r < 1-driftTolerance || r > 1+driftTolerance
}

// findPeers asks the holder source for peers and dials those not yet
// connected, a few at a time, skipping ones that failed recently.
func (d *Download) findPeers() {
	if d.opts.Holders == nil {
		d.mu.Lock()
		d.looked = true
		d.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	holders, err := d.opts.Holders.Holders(ctx, d.m)
	if err != nil {
		d.log.Debug("find holders", "err", err)
	}
	now := time.Now()
	var targets []string
	d.mu.Lock()
	d.looked = true
	room := d.e.cfg.MaxPeers - len(d.peers)
	for _, h := range holders {
		if len(targets) >= room {
			break
		}
		if h.Peer == d.e.cfg.Self || h.Addr == "" || d.dialing[h.Addr] || d.sw.connected(h.Peer) || d.sw.isBanned(h.Peer) {
			continue
		}
		if t, failed := d.dialFailed[h.Addr]; failed && now.Sub(t) < dialRetryAfter {
			continue
		}
		d.dialing[h.Addr] = true
		targets = append(targets, h.Addr)
	}
	d.mu.Unlock()
	sem := make(chan struct{}, maxDialsAtOnce)
	for i, addr := range targets {
		select {
		case sem <- struct{}{}:
		case <-d.ctx.Done():
			d.mu.Lock()
			for _, a := range targets[i:] {
				delete(d.dialing, a)
			}
			d.mu.Unlock()
			return
		}
		d.e.wg.Go(func() {
			defer func() { <-sem }()
			err := d.e.dial(d.ctx, d.sw, addr)
			d.mu.Lock()
			delete(d.dialing, addr)
			if err != nil {
				d.dialFailed[addr] = time.Now()
			}
			d.mu.Unlock()
			if err != nil {
				d.log.Debug("dial holder", "addr", addr, "err", err)
			}
		})
	}
}
