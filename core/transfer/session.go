package transfer

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"peerflow/core/peer"
	"peerflow/core/sched"
	"peerflow/core/store"
	"peerflow/core/wire"
	"peerflow/flow/chunkset"
)

// session is one connection to one peer for one content.
type session struct {
	sw       *swarm
	c        *wire.Conn
	remote   peer.ID
	addr     string
	outbound bool

	done      chan struct{}
	closeOnce sync.Once

	uploaded   atomic.Int64
	downloaded atomic.Int64
	rttNanos   atomic.Int64 // round-trip estimate: handshake (dialer) or hello-to-bitfield (answerer)
	started    time.Time
	// active is when data last passed either way (or the session
	// started), on the engine's clock, unix ns: a full swarm makes room
	// by dropping the session idle longest (swarm.attach).
	active atomic.Int64

	mu      sync.Mutex
	have    *chunkset.Set // the remote's chunks
	held    int           // chunks in have, counted as they come
	gotBits bool          // its bitfield arrived
	// asks receives the remote's next request to serve from the swarm's
	// upload queue, which hands each session one at a time.
	asks      chan sched.Ask
	bitfield  []byte    // a bitfield to send (first, or after a source switch)
	outbox    []control // have, request and cancel frames to send, in order
	ctlSignal chan struct{}
}

func newSession(sw *swarm, c *wire.Conn, remote peer.ID, addr string, outbound bool) *session {
	if addr == "" {
		addr = c.NetConn().RemoteAddr().String()
	}
	s := &session{
		sw: sw, c: c, remote: remote, addr: addr, outbound: outbound,
		done:      make(chan struct{}),
		have:      chunkset.New(sw.m.NumChunks()),
		asks:      make(chan sched.Ask, 1),
		ctlSignal: make(chan struct{}, 1),
		started:   time.Now(),
	}
	c.NewBuffer = getBuffer
	c.WantData = s.wantData
	c.MinDataRate = MinReadRate
	s.active.Store(sw.e.now().UnixNano())
	return s
}

// MinReadRate is the slowest a peer may read a chunk we send it: below
// it the upload fails and the connection is closed, so a peer that asks
// and stops reading frees its upload slot within about a second.
const MinReadRate = 128 << 10

// markActive notes that data passed.
func (s *session) markActive() { s.active.Store(s.sw.e.now().UnixNano()) }

// model is what a session reports to: the download of its content, when
// one runs. The session never holds the download itself (the shape of
// Syncthing's protocol.Model), so the two share no locks.
type model interface {
	peerJoined(s *session)
	peerLeft(s *session)
	bitfield(s *session, have *chunkset.Set) // the download keeps have
	have(s *session, c int)
	rejected(s *session, c int, reason wire.Reason)
	// data takes a received chunk in; false: the peer was banned.
	data(s *session, c int, off uint32, data []byte) bool
	wants(s *session, c int) bool
}

// wantData accepts a Data frame only for a chunk we asked this peer for.
func (s *session) wantData(index, _ uint32) bool {
	m := s.sw.model()
	return m != nil && m.wants(s, int(index))
}

// defaultRTT is assumed until a round trip was measured.
const defaultRTT = 10 * time.Millisecond

func (s *session) rtt() time.Duration {
	if v := s.rttNanos.Load(); v > 0 {
		return time.Duration(v)
	}
	return defaultRTT
}

func (s *session) start() {
	wg := &s.sw.e.wg
	wg.Go(s.readLoop)
	wg.Go(s.uploadLoop)
	wg.Go(s.controlLoop)
}

// close ends the session: the connection closes, the goroutines return.
func (s *session) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.c.Close()
	})
}

func (s *session) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// haveFull reports whether the remote told us of every chunk.
func (s *session) haveFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held == s.have.Len()
}

// haveSnapshot returns a copy of the remote's chunk set, or nil before its
// bitfield arrived.
func (s *session) haveSnapshot() *chunkset.Set {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.gotBits {
		return nil
	}
	return s.have.Clone()
}

func (s *session) info() PeerInfo {
	return PeerInfo{Peer: s.remote, Addr: s.addr, Outbound: s.outbound,
		Uploaded: s.uploaded.Load(), Downloaded: s.downloaded.Load()}
}

// readLoop reads frames until the connection ends. Received chunks are
// verified and written on this goroutine.
func (s *session) readLoop() {
	defer s.sw.detach(s)
	defer s.close()
	log := s.sw.e.log.With("peer", s.remote.Short(), "content", s.sw.id.Short())
	var m wire.Msg
	for {
		err := s.c.ReadMsg(&m)
		if err != nil {
			if !s.closed() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("peer connection ended", "err", err)
				if isProtocolError(err) {
					s.c.WriteReject(wire.ReasonBadRequest, 0, 0, 0)
				}
			}
			return
		}
		if s.rttNanos.Load() == 0 {
			// The peer's first frame answers our hello: about one round trip.
			s.rttNanos.Store(int64(max(time.Since(s.started), time.Microsecond)))
		}
		switch m.Type {
		case wire.Bitfield:
			have, err := chunkset.FromBytes(m.Payload, s.sw.m.NumChunks())
			putBuffer(m.Payload)
			m.Payload = nil
			if err != nil {
				return
			}
			s.mu.Lock()
			s.have, s.held, s.gotBits = have, have.Count(), true
			s.mu.Unlock()
			s.sw.peerBitfield(s, have)
			if m := s.sw.model(); m != nil {
				m.bitfield(s, have.Clone())
			}
		case wire.Have:
			s.mu.Lock()
			if !s.have.Has(int(m.Index)) {
				s.have.Set(int(m.Index))
				s.held++
			}
			s.mu.Unlock()
			s.sw.peerHave(s, int(m.Index))
			if md := s.sw.model(); md != nil {
				md.have(s, int(m.Index))
			}
		case wire.Request:
			if !s.sw.queueUpload(s, askOf(s.remote, m)) {
				s.c.WriteReject(wire.ReasonBusy, m.Index, m.Offset, m.Length)
			}
		case wire.Cancel:
			s.sw.cancelUpload(s, askOf(s.remote, m))
		case wire.Data:
			md := s.sw.model()
			if m.Dropped || md == nil {
				continue // not asked for, or late after the download ended
			}
			if err := s.sw.e.down.Load().wait(s.sw.e.ctx, int64(len(m.Payload))); err != nil {
				return
			}
			ok := md.data(s, int(m.Index), m.Offset, m.Payload)
			putBuffer(m.Payload)
			m.Payload = nil
			if !ok {
				return // banned
			}
		case wire.Reject:
			if m.Length == 0 {
				log.Debug("peer closed the connection", "reason", m.Reason)
				return
			}
			if m.Reason == wire.ReasonNotHeld || m.Reason == wire.ReasonChanged {
				s.mu.Lock()
				if m.Reason == wire.ReasonNotHeld {
					if s.have.Has(int(m.Index)) {
						s.have.Clear(int(m.Index))
						s.held--
					}
				} else {
					s.have, s.held = chunkset.New(s.sw.m.NumChunks()), 0
				}
				s.mu.Unlock()
			}
			if md := s.sw.model(); md != nil {
				md.rejected(s, int(m.Index), m.Reason)
			}
		case wire.Hello:
			return // a second hello breaks the protocol
		}
	}
}

// isProtocolError reports whether err is the peer breaking the protocol
// (as opposed to the connection failing).
func isProtocolError(err error) bool {
	for _, e := range []error{wire.ErrTooLarge, wire.ErrBadLength, wire.ErrUnknownType,
		wire.ErrOutOfRange, wire.ErrBadBitfield, wire.ErrNotNegotiated, wire.ErrBadMagic, wire.ErrBadVersion} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// askOf is a Request or Cancel frame of peer p as the upload queue names it.
func askOf(p peer.ID, m wire.Msg) sched.Ask {
	return sched.Ask{Peer: p, Chunk: int(m.Index), Offset: m.Offset, Length: m.Length}
}

// uploadLoop serves the requests the swarm's upload queue hands this
// session, one at a time, each under an upload slot and the rate limit.
func (s *session) uploadLoop() {
	e := s.sw.e
	var f store.Content
	var fsrc Source
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		var a sched.Ask
		select {
		case a = <-s.asks:
		case <-s.done:
			return
		}
		n, err := s.serve(a, &f, &fsrc)
		s.sw.uploadDone(s, n)
		if err != nil {
			e.log.Debug("upload failed", "peer", s.remote.Short(), "chunk", a.Chunk, "err", err)
			s.close()
			return
		}
	}
}

// serve uploads one requested range under an upload slot, or refuses
// it when the source no longer has it; it returns the bytes sent.
func (s *session) serve(a sched.Ask, f *store.Content, fsrc *Source) (int64, error) {
	e := s.sw.e
	index := uint32(a.Chunk)
	src := s.sw.source()
	if err := src.Check(); err != nil {
		s.sw.changed.Do(func() {
			e.log.Error("no longer serving a shared file", "name", s.sw.m.Name, "err", err)
		})
		return 0, s.c.WriteReject(wire.ReasonChanged, index, a.Offset, a.Length)
	}
	if !src.Has(a.Chunk) {
		return 0, s.c.WriteReject(wire.ReasonNotHeld, index, a.Offset, a.Length)
	}
	select {
	case e.slots <- struct{}{}:
	case <-s.done:
		return 0, net.ErrClosed
	}
	defer func() { <-e.slots }()
	if err := e.up.Load().wait(e.ctx, int64(a.Length)); err != nil {
		return 0, err
	}
	// Reopen the source's file when the source changed: a download that
	// finished is served from its final file.
	if *f == nil || *fsrc != src {
		if *f != nil {
			(*f).Close()
		}
		nf, err := src.Open()
		if err != nil {
			*f = nil
			return 0, err
		}
		*f, *fsrc = nf, src
	}
	off := s.sw.m.ChunkOffset(a.Chunk) + int64(a.Offset)
	if _, err := (*f).Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	if err := s.c.WriteDataFrom(index, a.Offset, int64(a.Length), *f); err != nil {
		return 0, err
	}
	s.uploaded.Add(int64(a.Length))
	s.markActive()
	s.sw.countUpload(s.remote, int64(a.Length))
	return int64(a.Length), nil
}

// queueBitfield sends b next. Queued haves still follow it: one may be
// newer than b, and a have the peer knows already is harmless.
func (s *session) queueBitfield(b []byte) {
	s.mu.Lock()
	s.bitfield = b
	s.mu.Unlock()
	signal(s.ctlSignal)
}

// control is a small frame waiting in a session's outbox.
type control struct {
	t     wire.Type // Have, Request or Cancel
	chunk uint32
}

// queue hands a frame to the control loop.
func (s *session) queue(t wire.Type, chunk int) {
	s.mu.Lock()
	s.outbox = append(s.outbox, control{t, uint32(chunk)})
	s.mu.Unlock()
	signal(s.ctlSignal)
}

func (s *session) queueHave(i uint32) { s.queue(wire.Have, int(i)) }

// write sends one small frame; requests and cancels are for whole chunks.
func (s *session) write(f control) error {
	n := uint32(s.sw.m.ChunkLen(int(f.chunk)))
	switch f.t {
	case wire.Have:
		return s.c.WriteHave(f.chunk)
	case wire.Request:
		return s.c.WriteRequest(f.chunk, 0, n)
	default:
		return s.c.WriteCancel(f.chunk, 0, n)
	}
}

// controlLoop sends bitfields, haves, requests and cancels queued by other
// goroutines, and keep-alives. They go through this goroutine so that a
// peer that reads slowly delays only its own frames.
func (s *session) controlLoop() {
	keepAlive := time.NewTicker(wire.KeepAliveInterval)
	defer keepAlive.Stop()
	var frames []control
	for {
		var err error
		select {
		case <-s.done:
			return
		case <-keepAlive.C:
			err = s.c.WriteKeepAlive()
		case <-s.ctlSignal:
			s.mu.Lock()
			bits := s.bitfield
			frames, s.outbox = append(frames[:0], s.outbox...), s.outbox[:0]
			s.bitfield = nil
			s.mu.Unlock()
			if bits != nil {
				err = s.c.WriteBitfield(bits)
			}
			for _, f := range frames {
				if err == nil {
					err = s.write(f)
				}
			}
		}
		if err != nil {
			s.close()
			return
		}
	}
}
