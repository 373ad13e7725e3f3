package transfer

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/sched"
	"peerflow/core/wire"
	"peerflow/flow/chunkset"
)

// swarm is this node's part in the swarm of one content: the connected
// peers, the source chunks are served from, and the download, if any.
type swarm struct {
	e   *Engine
	m   *content.Manifest
	id  content.ID
	lim wire.Limits

	// uploadBusy is set whenever a request is queued or served; the
	// seeder's tick reads and clears it to tell whether the upload idled.
	uploadBusy atomic.Bool
	// upSignal wakes uploadLoop: a request came, or an upload ended.
	upSignal chan struct{}
	quit     chan struct{} // closed by close
	// changed tells the user once that the shared file changed on disk
	// and is no longer served.
	changed sync.Once

	mu       sync.Mutex
	src      Source
	sessions map[peer.ID]*session
	dl       *Download
	// seeder decides what each peer is offered while this node holds
	// every chunk of a share (super-seeding); nil: every peer is told of
	// every chunk held.
	seeder *sched.Seeder
	// uploads holds the peers' requests and decides which goes next.
	uploads  *sched.Uploads
	banned   map[peer.ID]bool
	closed   bool
	served   map[peer.ID]int64 // bytes uploaded to each peer, over all its connections
	uploaded int64
	received int64
	// fromOrigin is the part of received fetched from the origin server.
	fromOrigin int64
}

func newSwarm(e *Engine, m *content.Manifest, src Source) (*swarm, error) {
	uploads, err := sched.NewUploads(m.Size, m.ChunkSize)
	if err != nil {
		return nil, err
	}
	return &swarm{
		e: e, m: m, id: m.ID(), lim: wire.LimitsOf(m),
		upSignal: make(chan struct{}, 1),
		quit:     make(chan struct{}),
		uploads:  uploads,
		src:      src,
		sessions: make(map[peer.ID]*session),
		banned:   make(map[peer.ID]bool),
		served:   make(map[peer.ID]int64),
	}, nil
}

// countUpload records n bytes sent to p.
func (sw *swarm) countUpload(p peer.ID, n int64) {
	sw.uploadBusy.Store(true)
	sw.mu.Lock()
	sw.uploaded += n
	sw.served[p] += n
	sw.mu.Unlock()
}

// countDownload records n verified bytes received, from the origin
// server if fromOrigin.
func (sw *swarm) countDownload(n int64, fromOrigin bool) {
	sw.mu.Lock()
	sw.received += n
	if fromOrigin {
		sw.fromOrigin += n
	}
	sw.mu.Unlock()
}

// Stats are the transfer counters of one content since the engine started.
type Stats struct {
	Uploaded    int64 // bytes sent to peers
	Downloaded  int64 // verified bytes received from peers and the origin
	FromOrigin  int64 // of those, from the origin server
	PeersServed int   // distinct peers that received at least one chunk
	Connected   int   // peers connected now
}

func (sw *swarm) stats() Stats {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return Stats{Uploaded: sw.uploaded, Downloaded: sw.received, FromOrigin: sw.fromOrigin, PeersServed: len(sw.served), Connected: len(sw.sessions)}
}

func (sw *swarm) source() Source {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.src
}

// setSource switches what chunks are served from (a finished download
// becomes its final file) and tells every peer what is held now.
func (sw *swarm) setSource(src Source) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.src = src
	if sw.seeder != nil {
		return // what each peer is offered stands
	}
	bits := src.Bitfield()
	for _, s := range sw.sessionList() {
		s.queueBitfield(bits)
	}
}

// superSeed makes the swarm, which serves a complete source, offer its
// chunks through a sched.Seeder from now on: connected peers are told
// afresh what they are offered. It reports whether super-seeding began
// (false: it was on already, or the swarm is downloading or closed).
func (sw *swarm) superSeed() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.seeder != nil || sw.dl != nil || sw.closed {
		return false
	}
	seeder, err := sched.NewSeeder(sw.m.Size, sw.m.ChunkSize, sw.e.self, time.Now())
	if err != nil {
		return false // the manifest was validated: cannot happen
	}
	sw.seeder = seeder
	for _, s := range sw.sessionList() {
		s.queueBitfield(seeder.AddPeer(s.remote).Bytes())
		if have := s.haveSnapshot(); have != nil {
			offers, _ := seeder.Bitfield(s.remote, have)
			sw.offerLocked(offers)
		}
	}
	return true
}

// seedLoop ticks the seeder until the swarm closes: it measures the
// upload to each peer and widens the offers when the upload idles.
func (sw *swarm) seedLoop() {
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	for {
		select {
		case <-sw.e.ctx.Done():
			return
		case now := <-ticker.C:
			idle := !sw.uploadBusy.Swap(false) && !sw.uploading()
			sw.mu.Lock()
			if sw.closed || sw.seeder == nil {
				sw.mu.Unlock()
				return
			}
			sw.offerLocked(sw.seeder.Tick(now, idle))
			sw.mu.Unlock()
		}
	}
}

// uploading reports whether a request waits or is being served.
func (sw *swarm) uploading() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.uploads.Waiting() > 0 || sw.uploads.Serving() > 0
}

// queueUpload queues a peer's request; false: it is refused as busy.
func (sw *swarm) queueUpload(s *session, a sched.Ask) bool {
	sw.mu.Lock()
	ok := sw.sessions[s.remote] == s && sw.uploads.Add(a)
	sw.mu.Unlock()
	if ok {
		sw.uploadBusy.Store(true)
		signal(sw.upSignal)
	}
	return ok
}

// cancelUpload drops a request that was not served yet.
func (sw *swarm) cancelUpload(s *session, a sched.Ask) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.sessions[s.remote] == s {
		sw.uploads.Cancel(a)
	}
}

// uploadDone records that s served the request it was handed: n bytes.
func (sw *swarm) uploadDone(s *session, n int64) {
	sw.mu.Lock()
	if sw.sessions[s.remote] == s {
		sw.uploads.Done(s.remote, n, time.Now())
	}
	sw.mu.Unlock()
	signal(sw.upSignal)
}

// uploadsAtOnce is how many of a content's requests are served at the
// same time (each also takes one of the engine's UploadSlots). Few: the
// upload rate is shared by what is served at once, and a rare chunk that
// shares it with seven others takes eight times as long to reach the peer
// that passes it on. In a 1+8 swarm with one slow viewer, 8 at once made
// the sharer send 1.04 copies, 2 at once 1.01, 1 at once 1.00, at the
// same time; 2 keeps a second stream going while one waits on its peer.
const uploadsAtOnce = 2

// uploadLoop hands the waiting requests to their sessions in the order
// sched.Uploads gives (rarest chunk first), one per peer at a time and
// uploadsAtOnce in all, until the swarm closes.
func (sw *swarm) uploadLoop() {
	for {
		select {
		case <-sw.upSignal:
		case <-sw.quit:
			return
		}
		sw.mu.Lock()
		for sw.uploads.Serving() < uploadsAtOnce {
			a, ok := sw.uploads.Next(time.Now())
			if !ok {
				break
			}
			// The session is there (a peer's requests go when it leaves)
			// and is handed one request at a time, so its channel has room.
			select {
			case sw.sessions[a.Peer].asks <- a:
			default:
				sw.uploads.Done(a.Peer, 0, time.Now()) // cannot happen; never block under sw.mu
			}
		}
		sw.mu.Unlock()
	}
}

// offerLocked tells peers of the chunks the seeder offers them; sw.mu
// held (queueing frames takes only each session's own lock).
func (sw *swarm) offerLocked(o sched.Offers) {
	for _, h := range o.Haves {
		if s := sw.sessions[h.Peer]; s != nil {
			s.queueHave(uint32(h.Chunk))
		}
	}
	for _, p := range o.Full {
		if s := sw.sessions[p]; s != nil {
			s.queueBitfield(sw.src.Bitfield())
		}
	}
}

// peerBitfield and peerHave tell the upload queue, and the seeder if
// any, what a peer holds.
func (sw *swarm) peerBitfield(s *session, have *chunkset.Set) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.sessions[s.remote] != s {
		return
	}
	sw.uploads.Bitfield(s.remote, have) // its length was checked by the decoder
	if sw.seeder != nil {
		offers, _ := sw.seeder.Bitfield(s.remote, have)
		sw.offerLocked(offers)
	}
}

func (sw *swarm) peerHave(s *session, c int) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.sessions[s.remote] != s {
		return
	}
	sw.uploads.Have(s.remote, c)
	if sw.seeder != nil {
		sw.offerLocked(sw.seeder.Have(s.remote, c))
	}
}

// model is what sessions report to: the download, if one runs.
func (sw *swarm) model() model {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.dl == nil {
		return nil
	}
	return sw.dl
}

func (sw *swarm) isBanned(p peer.ID) bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.banned[p]
}

// ban refuses p for this content from now on and drops its connection.
func (sw *swarm) ban(p peer.ID) {
	sw.mu.Lock()
	sw.banned[p] = true
	s := sw.sessions[p]
	sw.mu.Unlock()
	if s != nil {
		s.c.WriteReject(wire.ReasonBanned, 0, 0, 0)
		s.close()
	}
}

// sessionList returns the sessions; the caller holds sw.mu.
func (sw *swarm) sessionList() []*session {
	out := make([]*session, 0, len(sw.sessions))
	for _, s := range sw.sessions {
		out = append(out, s)
	}
	return out
}

func (sw *swarm) connected(p peer.ID) bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.sessions[p] != nil
}

// attach adds a handshaken connection. Two peers that dial each other at
// once end up with two connections; both keep the one dialed by the
// smaller peer ID, so they agree without talking.
func (sw *swarm) attach(c *wire.Conn, hello wire.HelloMsg, addr string, outbound bool, rtt time.Duration) bool {
	self := sw.e.self
	s := newSession(sw, c, hello.Peer, addr, outbound)
	s.rttNanos.Store(int64(rtt))
	sw.mu.Lock()
	reject := wire.ReasonNone
	var replaced, evicted *session
	switch old := sw.sessions[hello.Peer]; {
	case sw.closed:
		reject = wire.ReasonShutdown
	case sw.banned[hello.Peer]:
		reject = wire.ReasonBanned
	case old != nil:
		dialer := hello.Peer
		if outbound {
			dialer = self
		}
		lower := self
		if bytes.Compare(hello.Peer[:], self[:]) < 0 {
			lower = hello.Peer
		}
		if dialer != lower {
			reject = wire.ReasonDuplicate
		} else {
			replaced = old
		}
	case len(sw.sessions) >= sw.e.cfg.MaxPeers:
		if evicted = sw.idlestLocked(); evicted == nil {
			reject = wire.ReasonBusy
		}
	}
	if reject != wire.ReasonNone {
		sw.mu.Unlock()
		c.WriteReject(reject, 0, 0, 0)
		c.Close()
		return false
	}
	sw.sessions[hello.Peer] = s
	if replaced != nil {
		// Its requests were asked on the old connection.
		sw.uploads.RemovePeer(hello.Peer, time.Now())
	}
	src, dl := sw.src, sw.dl
	bits := src.Bitfield()
	if sw.seeder != nil {
		if replaced != nil {
			sw.offerLocked(sw.seeder.RemovePeer(hello.Peer))
		}
		bits = sw.seeder.AddPeer(hello.Peer).Bytes()
	}
	// Queued under sw.mu, so that superSeed, which queues every
	// session's offer under it too, cannot be overtaken.
	s.queueBitfield(bits)
	sw.mu.Unlock()
	if replaced != nil {
		replaced.close()
	}
	if evicted != nil {
		sw.e.log.Debug("dropped an idle peer to make room", "peer", evicted.remote.Short())
		evicted.close() // it detaches itself
	}
	s.start()
	if dl != nil {
		dl.peerJoined(s)
	}
	return true
}

// detach forgets a closed session (unless a newer one replaced it).
// IdleEvict is how long a session must have passed no data before a
// newcomer to a full swarm takes its place: idle connections cannot keep
// honest peers out.
const IdleEvict = 5 * time.Second

// idlestLocked returns the open session that has passed no data for
// longest, if that is at least IdleEvict, or nil.
func (sw *swarm) idlestLocked() *session {
	var idlest *session
	for _, s := range sw.sessions {
		if !s.closed() && (idlest == nil || s.active.Load() < idlest.active.Load()) {
			idlest = s
		}
	}
	if idlest == nil || sw.e.now().Sub(time.Unix(0, idlest.active.Load())) < IdleEvict {
		return nil
	}
	return idlest
}

func (sw *swarm) detach(s *session) {
	sw.mu.Lock()
	if sw.sessions[s.remote] == s {
		delete(sw.sessions, s.remote)
		sw.uploads.RemovePeer(s.remote, time.Now())
		if sw.seeder != nil {
			sw.offerLocked(sw.seeder.RemovePeer(s.remote))
		}
	}
	dl := sw.dl
	sw.mu.Unlock()
	if dl != nil {
		dl.peerLeft(s)
	}
}

// broadcastHave tells every connected peer that chunk i is now held here.
func (sw *swarm) broadcastHave(i int) {
	sw.mu.Lock()
	sessions := sw.sessionList()
	sw.mu.Unlock()
	for _, s := range sessions {
		s.queueHave(uint32(i))
	}
}

// close drops every connection; the swarm serves nothing afterwards.
func (sw *swarm) close() {
	sw.mu.Lock()
	if !sw.closed {
		close(sw.quit)
	}
	sw.closed = true
	sessions := sw.sessionList()
	dl := sw.dl
	sw.mu.Unlock()
	if dl != nil {
		dl.stop()
	}
	for _, s := range sessions {
		s.close()
	}
}

// PeerInfo describes one connected peer of a content.
type PeerInfo struct {
	Peer       peer.ID
	Addr       string // where it listens, or its connection address
	Outbound   bool   // this node dialed it
	Uploaded   int64  // bytes sent to it
	Downloaded int64  // bytes received from it (verified)
}

func (sw *swarm) peers() []PeerInfo {
	sw.mu.Lock()
	sessions := sw.sessionList()
	sw.mu.Unlock()
	out := make([]PeerInfo, 0, len(sessions))
	for _, s := range sessions {
		out = append(out, s.info())
	}
	return out
}
