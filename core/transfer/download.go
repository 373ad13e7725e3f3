package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/sched"
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
	// HTTPClient fetches from the origin; nil: a client with timeouts
	// that follows no redirect to another host.
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
	OriginBytes int64   // from the origin server (HTTP)
	SeederBytes int64   // from peers that held the whole content
	PeerBytes   int64   // from peers that were downloading it themselves
	Err         error
}

// Result describes a finished download.
type Result struct {
	Path        string
	Bytes       int64            // fetched in this run
	Duration    time.Duration    // from the start of this run to the last chunk verified
	Finishing   time.Duration    // then: fsync and move into place
	Sources     map[string]int64 // peer listen address (or OriginSource) → bytes received
	OriginBytes int64            // from the origin server (HTTP)
	// SeederBytes came from peers that held the whole content (the sharer,
	// or others done before): what the swarm's sources sent this node.
	// PeerBytes came from peers that were downloading it themselves.
	// The three add up to Bytes.
	SeederBytes int64
	PeerBytes   int64
	// Refetched counts chunks received more than once or rejected: endgame
	// duplicates, chunks that failed verification.
	Refetched int
}

// Timing of the download's own loop; scheduling decisions and their
// tuning are package sched's.
const (
	tickEvery         = 100 * time.Millisecond
	syncEvery         = 250 * time.Millisecond // durability lag: chunks verified since are fetched again after a crash
	writebackEvery    = 16 << 20               // start disk writeback after this many new bytes
	holdersEvery      = 5 * time.Second
	holdersEveryStall = 3 * time.Second
	holdersEveryAlone = time.Second // no peer yet: ask often
	dialRetryAfter    = 30 * time.Second
	maxDialsAtOnce    = 8
	originWorkers     = 2
)

// Download fetches one content. Create it with Engine.Download.
//
// Lock order: d.mu, then sw.mu, then s.mu of a session; the scheduler
// (d.s) is guarded by d.mu.
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

	mu        sync.Mutex
	s         *sched.Download
	sessions  map[peer.ID]*session // the connection the scheduler's peer is on
	originBad error                // why the origin is no longer used
	state     State
	err       error
	result    Result
	rate      sched.Meter
	finding   bool // findPeers is running
	// seeders are the peers the holder source last said hold the whole
	// content. A super-seeding sharer advertises only part of it on the
	// wire, so this is how chunks from it are told from peers' chunks.
	seeders    map[peer.ID]bool
	dialing    map[string]bool
	dialFailed map[string]time.Time
	lastSync   time.Time
	unflushed  int64 // bytes written since writeback was last started
	// chunkSrc names, per chunk verified in this run, where it came from
	// (an index into srcNames; -1: not in this run), for late subscribers.
	chunkSrc []int32
	srcNames []string
	srcIndex map[string]int32
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
	start := time.Now()
	sc, err := sched.NewDownload(sched.Config{
		Size: m.Size, ChunkSize: m.ChunkSize, Have: part.Have(),
		Order: opts.Order, From: opts.From, Self: e.self, Depth: e.cfg.Depth,
		Origin: opts.Origin != "", Start: start,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	d := &Download{
		e: e, sw: sw, m: m, entry: entry, part: part, opts: opts,
		log:        e.log.With("content", m.ID().Short()),
		start:      start,
		ctx:        ctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		kick:       make(chan struct{}, 1),
		soon:       time.NewTimer(time.Hour),
		syncs:      make(chan struct{}, 1),
		flush:      make(chan struct{}, 1),
		originWake: make(chan struct{}, 1),
		s:          sc,
		sessions:   make(map[peer.ID]*session),
		state:      StateConnecting,
		dialing:    make(map[string]bool),
		dialFailed: make(map[string]time.Time),
		seeders:    make(map[peer.ID]bool),
		lastSync:   start,
		result:     Result{Sources: make(map[string]int64)},
		chunkSrc:   make([]int32, m.NumChunks()),
		srcIndex:   make(map[string]int32),
	}
	for i := range d.chunkSrc {
		d.chunkSrc[i] = -1
	}
	if d.opts.HTTPClient == nil {
		d.opts.HTTPClient = originClient()
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
		Chunks:      d.s.Chunks(),
		Done:        d.s.Chunks() - d.s.Missing(),
		Size:        d.m.Size,
		Bytes:       d.m.Size - d.s.MissingBytes(),
		Rate:        d.rate.Rate(),
		Peers:       d.s.Peers(),
		Unavailable: d.s.Unavailable(),
		OriginBytes: d.result.OriginBytes,
		SeederBytes: d.result.SeederBytes,
		PeerBytes:   d.result.PeerBytes,
		Err:         d.err,
	}
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

// accountLocked records n fresh bytes of chunk c from source; d.mu held.
func (d *Download) accountLocked(c int, n int64, source string, now time.Time) {
	if d.unflushed += n; d.unflushed >= writebackEvery {
		d.unflushed = 0
		signal(d.flush)
	}
	d.rate.Add(n)
	d.result.Bytes += n
	d.result.Sources[source] += n
	d.noteSourceLocked(c, source)
	if d.s.Complete() {
		d.result.Duration = now.Sub(d.start)
	}
}

// Has reports whether chunk c is verified and stored.
func (d *Download) Has(c int) bool { return d.part.Has(c) }

// OpenFile opens the part file for reading; only the bytes of verified
// chunks (Has) are meaningful. The descriptor stays valid when the
// finished file is moved into place.
func (d *Download) OpenFile() (*os.File, error) { return d.part.File() }

// StreamFrom makes the download fetch in order from chunk c on, for a
// reader there; c < 0 goes back to the usual order.
func (d *Download) StreamFrom(c int) {
	d.mu.Lock()
	changed := !d.finishedLocked() && d.s.StreamFrom(c)
	d.mu.Unlock()
	if changed {
		d.wake()
	}
}

// Urgent asks for chunk c at once, for reader by (a number naming it),
// which needs it within the given time; the chunk is asked for again
// elsewhere while it falls behind, until it is verified or the reader is
// forgotten (see sched.Urgent).
func (d *Download) Urgent(by uint64, c int, within time.Duration) {
	d.mu.Lock()
	if d.finishedLocked() {
		d.mu.Unlock()
		return
	}
	out := d.s.Urgent(by, c, within, time.Now())
	reqs := d.requestsLocked(out.Requests)
	d.mu.Unlock()
	sendRequests(reqs)
	if out.Origin {
		signal(d.originWake)
	}
}

// Forget drops the deadlines of reader by: it closed, or moved elsewhere.
func (d *Download) Forget(by uint64) {
	d.mu.Lock()
	d.s.Forget(by)
	d.mu.Unlock()
}

// Pause stops requesting chunks; connected peers are still served.
func (d *Download) Pause() {
	d.mu.Lock()
	if d.s.Paused() || d.finishedLocked() {
		d.mu.Unlock()
		return
	}
	cancels := d.requestsLocked(d.s.Pause(time.Now()))
	d.mu.Unlock()
	sendCancels(cancels)
	d.setState(StatePaused)
}

// Resume continues a paused download.
func (d *Download) Resume() {
	d.mu.Lock()
	was := d.s.Paused()
	d.s.Resume()
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
	return d.s.Paused()
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

// run is the download's loop: it lets the scheduler act, ticks it, finds
// peers, and finishes the download.
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
			// Asking trackers and dialing take seconds; the loop goes on.
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
			case d.s.Peers() == 0:
				wait = holdersEveryAlone
			case d.s.Unavailable() > 0:
				wait = holdersEveryStall
			}
			d.mu.Unlock()
			holders.Reset(wait)
		}
		d.mu.Lock()
		complete, failed := d.s.Complete(), d.err
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
	cancels := d.requestsLocked(d.s.DropAll(time.Now()))
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

// requestsLocked puts the scheduler's requests on their sessions; d.mu
// held. A request for a peer that has just gone is dropped: the
// scheduler hears of its leaving next.
func (d *Download) requestsLocked(rs []sched.Request) []request {
	out := make([]request, 0, len(rs))
	for _, r := range rs {
		if s := d.sessions[r.Peer]; s != nil {
			out = append(out, request{s, r.Chunk})
		}
	}
	return out
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

// The download is the model its sessions report to (see model).

// peerJoined starts using a newly connected peer. A peer connected
// before this download began sent its bitfield already: it is ready at
// once.
func (d *Download) peerJoined(s *session) {
	d.mu.Lock()
	joined := false
	if !s.closed() && d.sessions[s.remote] != s {
		if d.sessions[s.remote] != nil {
			d.s.RemovePeer(s.remote) // replaced by this newer connection
		}
		d.sessions[s.remote] = s
		d.s.AddPeer(s.remote, s.haveSnapshot(), s.rtt())
		joined = true
	}
	d.mu.Unlock()
	if joined {
		d.emit(Event{Kind: EventPeer, Peer: s.remote, Source: s.addr, Joined: true})
		d.wake()
	}
}

// peerLeft gives a departed peer's chunks back to the planner.
func (d *Download) peerLeft(s *session) {
	d.mu.Lock()
	left := d.sessions[s.remote] == s
	if left {
		delete(d.sessions, s.remote)
		d.s.RemovePeer(s.remote)
	}
	d.mu.Unlock()
	if left {
		d.emit(Event{Kind: EventPeer, Peer: s.remote, Source: s.addr})
		d.wake()
	}
}

// bitfield notes a peer's new chunk set; the download keeps have.
func (d *Download) bitfield(s *session, have *chunkset.Set) {
	d.mu.Lock()
	if d.sessions[s.remote] == s {
		d.s.Bitfield(s.remote, have) // its length was checked by the decoder
	}
	d.mu.Unlock()
	d.wake()
}

// have notes that a peer now holds chunk c.
func (d *Download) have(s *session, c int) {
	d.mu.Lock()
	if d.sessions[s.remote] == s {
		d.s.Have(s.remote, c)
	}
	d.mu.Unlock()
	d.wake()
}

// rejected handles a refused request.
func (d *Download) rejected(s *session, c int, reason wire.Reason) {
	why := sched.RefusedOther
	switch reason {
	case wire.ReasonBusy:
		why = sched.RefusedBusy
	case wire.ReasonNotHeld:
		why = sched.RefusedNotHeld
	case wire.ReasonChanged:
		why = sched.RefusedChanged
	}
	d.mu.Lock()
	if d.sessions[s.remote] == s {
		d.s.Reject(s.remote, c, why, time.Now())
	}
	d.mu.Unlock()
	d.wake()
}

// wants reports whether chunk c is in flight at s: only then is its data
// read.
func (d *Download) wants(s *session, c int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessions[s.remote] == s && d.s.Requested(s.remote, c)
}

// data handles a received chunk on the connection's reader goroutine:
// verify, write, account, and refill this peer's pipeline at once. It
// returns false when the peer sent bad bytes and was banned.
func (d *Download) data(s *session, c int, off uint32, data []byte) bool {
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
	var out sched.Sends
	switch {
	case d.sessions[s.remote] == s:
		out = d.s.Received(s.remote, c, n, fresh, now)
	case fresh:
		// Its connection was replaced while the chunk was being stored:
		// no refill for it, but the chunk counts.
		out = d.s.Verified(c, now)
	}
	rate := d.s.Rate(s.remote)
	if fresh {
		if d.seeders[s.remote] || s.haveFull() {
			d.result.SeederBytes += n
		} else {
			d.result.PeerBytes += n
		}
		d.accountLocked(c, n, s.addr, now)
	} else {
		d.result.Refetched++
	}
	cancels, reqs := d.requestsLocked(out.Cancels), d.requestsLocked(out.Requests)
	d.mu.Unlock()
	s.downloaded.Add(n)
	s.markActive()
	if fresh {
		d.sw.countDownload(n, false)
	}
	sendCancels(cancels)
	writeRequests(s, reqs)
	if fresh {
		d.emit(Event{Kind: EventChunk, Chunk: c, Source: s.addr, Peer: s.remote, Bytes: n, Rate: rate})
		d.sw.broadcastHave(c)
	}
	if out.Wake {
		d.wake()
	}
	return true
}

// schedule lets the scheduler replan and fill every pipeline, and sends
// what it decided.
func (d *Download) schedule() {
	now := time.Now()
	d.mu.Lock()
	if d.finishedLocked() {
		d.mu.Unlock()
		return
	}
	d.s.SetDiscovery(false, len(d.dialing))
	out := d.s.Schedule(now)
	if at := d.s.WakeAt(); at.After(now) {
		d.soon.Reset(at.Sub(now))
	}
	if err := d.s.PlanError(); err != nil {
		d.log.Error("plan chunks", "err", err)
	}
	reqs := d.requestsLocked(out.Requests)
	state := StateDownloading
	switch {
	case d.s.Paused():
		state = StatePaused
	case !d.s.Settled() || (d.s.Peers() == 0 && !d.s.OriginUsable()):
		state = StateConnecting
	case d.s.Unavailable() > 0 && d.s.Unavailable() == d.s.Missing():
		state = StateStalled
	}
	d.mu.Unlock()
	sendRequests(reqs)
	if out.Origin {
		signal(d.originWake)
	}
	d.setState(state)
}

// tick updates rate estimates, withdraws stalled requests, and makes
// verified chunks durable.
func (d *Download) tick() {
	now := time.Now()
	d.mu.Lock()
	cancels := d.requestsLocked(d.s.Tick(now))
	d.rate.Tick(tickEvery)
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

// findPeers asks the holder source for peers and dials those not yet
// connected, a few at a time, skipping ones that failed recently.
func (d *Download) findPeers() {
	if d.opts.Holders == nil {
		d.mu.Lock()
		d.s.SetDiscovery(true, len(d.dialing))
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
	var targets []Holder
	d.mu.Lock()
	room := d.e.cfg.MaxPeers - d.s.Peers()
	for _, h := range holders {
		if h.Have != nil && h.Have.Full() {
			d.seeders[h.Peer] = true
			d.s.SetComplete(h.Peer)
		}
	}
	for _, h := range holders {
		if len(targets) >= room {
			break
		}
		if h.Peer == d.e.self || h.Addr == "" || d.dialing[h.Addr] || d.sw.connected(h.Peer) || d.sw.isBanned(h.Peer) {
			continue
		}
		if t, failed := d.dialFailed[h.Addr]; failed && now.Sub(t) < dialRetryAfter {
			continue
		}
		d.dialing[h.Addr] = true
		targets = append(targets, h)
	}
	d.s.SetDiscovery(true, len(d.dialing))
	d.mu.Unlock()
	sem := make(chan struct{}, maxDialsAtOnce)
	for i, h := range targets {
		select {
		case sem <- struct{}{}:
		case <-d.ctx.Done():
			d.mu.Lock()
			for _, t := range targets[i:] {
				delete(d.dialing, t.Addr)
			}
			d.mu.Unlock()
			return
		}
		d.e.wg.Go(func() {
			defer func() { <-sem }()
			err := d.e.dial(d.ctx, d.sw, h.Addr, h.Peer)
			d.mu.Lock()
			delete(d.dialing, h.Addr)
			if err != nil {
				d.dialFailed[h.Addr] = time.Now()
			}
			d.mu.Unlock()
			if err != nil {
				d.log.Debug("dial holder", "addr", h.Addr, "peer", h.Peer.Short(), "err", err)
			}
		})
	}
}
