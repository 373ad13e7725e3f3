package transfer

import (
	"bytes"
	"sync"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/wire"
)

// swarm is this node's part in the swarm of one content: the connected
// peers, the source chunks are served from, and the download, if any.
type swarm struct {
	e   *Engine
	m   *content.Manifest
	id  content.ID
	lim wire.Limits

	mu       sync.Mutex
	src      Source
	sessions map[peer.ID]*session
	dl       *Download
	banned   map[peer.ID]bool
	closed   bool
	served   map[peer.ID]int64 // bytes uploaded to each peer, over all its connections
	uploaded int64
	received int64
}

func newSwarm(e *Engine, m *content.Manifest, src Source) *swarm {
	return &swarm{
		e: e, m: m, id: m.ID(), lim: wire.LimitsOf(m),
		src:      src,
		sessions: make(map[peer.ID]*session),
		banned:   make(map[peer.ID]bool),
		served:   make(map[peer.ID]int64),
	}
}

// countUpload records n bytes sent to p.
func (sw *swarm) countUpload(p peer.ID, n int64) {
	sw.mu.Lock()
	sw.uploaded += n
	sw.served[p] += n
	sw.mu.Unlock()
}

// countDownload records n verified bytes received.
func (sw *swarm) countDownload(n int64) {
	sw.mu.Lock()
	sw.received += n
	sw.mu.Unlock()
}

// Stats are the transfer counters of one content since the engine started.
type Stats struct {
	Uploaded    int64 // bytes sent to peers
	Downloaded  int64 // verified bytes received from peers and the origin
	PeersServed int   // distinct peers that received at least one chunk
	Connected   int   // peers connected now
}

func (sw *swarm) stats() Stats {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return Stats{Uploaded: sw.uploaded, Downloaded: sw.received, PeersServed: len(sw.served), Connected: len(sw.sessions)}
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
	sw.src = src
	sessions := sw.sessionList()
	sw.mu.Unlock()
	bits := src.Bitfield()
	for _, s := range sessions {
		s.queueBitfield(bits)
	}
}

func (sw *swarm) download() *Download {
	sw.mu.Lock()
	defer sw.mu.Unlock()
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
	self := sw.e.cfg.Self
	s := newSession(sw, c, hello.Peer, addr, outbound)
	s.rttNanos.Store(int64(rtt))
	sw.mu.Lock()
	reject := wire.ReasonNone
	var replaced *session
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
		reject = wire.ReasonBusy
	}
	if reject != wire.ReasonNone {
		sw.mu.Unlock()
		c.WriteReject(reject, 0, 0, 0)
		c.Close()
		return false
	}
	sw.sessions[hello.Peer] = s
	src, dl := sw.src, sw.dl
	sw.mu.Unlock()
	if replaced != nil {
		replaced.close()
	}
	s.queueBitfield(src.Bitfield())
	s.start()
	if dl != nil {
		dl.peerJoined(s)
	}
	return true
}

// detach forgets a closed session (unless a newer one replaced it).
func (sw *swarm) detach(s *session) {
	sw.mu.Lock()
	if sw.sessions[s.remote] == s {
		delete(sw.sessions, s.remote)
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
