package transfer

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"peerflow/core/peer"
	"peerflow/core/wire"
	"peerflow/flow"
)

// maxQueuedRequests bounds what one peer may ask before it is answered;
// more is refused as busy, so a peer cannot make us hold unbounded state.
const maxQueuedRequests = 64

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

	mu        sync.Mutex
	have      *flow.Bitset // the remote's chunks
	requests  []wire.Msg   // the remote's requests, oldest first
	reqSignal chan struct{}
	bitfield  []byte   // a bitfield to send (first, or after a source switch)
	haves     []uint32 // have frames to send
	ctlSignal chan struct{}
}

func newSession(sw *swarm, c *wire.Conn, remote peer.ID, addr string, outbound bool) *session {
	if addr == "" {
		addr = c.NetConn().RemoteAddr().String()
	}
	return &session{
		sw: sw, c: c, remote: remote, addr: addr, outbound: outbound,
		done:      make(chan struct{}),
		have:      flow.NewBitset(sw.m.NumChunks()),
		reqSignal: make(chan struct{}, 1),
		ctlSignal: make(chan struct{}, 1),
		started:   time.Now(),
	}
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

// haveSnapshot returns a copy of the remote's chunk set.
func (s *session) haveSnapshot() *flow.Bitset {
	s.mu.Lock()
	defer s.mu.Unlock()
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
			have, err := flow.BitsetFromBytes(m.Payload, s.sw.m.NumChunks())
			if err != nil {
				return
			}
			s.mu.Lock()
			s.have = have
			s.mu.Unlock()
			if dl := s.sw.download(); dl != nil {
				dl.peerChanged(s)
			}
		case wire.Have:
			s.mu.Lock()
			s.have.Set(int(m.Index))
			s.mu.Unlock()
			if dl := s.sw.download(); dl != nil {
				dl.peerHas(s, int(m.Index))
			}
		case wire.Request:
			s.queueRequest(m)
		case wire.Cancel:
			s.cancelRequest(m)
		case wire.Data:
			dl := s.sw.download()
			if dl == nil {
				continue // late data after the download finished
			}
			if err := s.sw.e.down.Load().wait(s.sw.e.ctx, int64(len(m.Payload))); err != nil {
				return
			}
			if !dl.onData(s, int(m.Index), m.Offset, m.Payload) {
				return // banned
			}
		case wire.Reject:
			if m.Length == 0 {
				log.Debug("peer closed the connection", "reason", m.Reason)
				return
			}
			if dl := s.sw.download(); dl != nil {
				dl.onReject(s, int(m.Index), m.Reason)
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

// queueRequest hands a request to the uploader, or refuses it as busy.
func (s *session) queueRequest(m wire.Msg) {
	s.mu.Lock()
	full := len(s.requests) >= maxQueuedRequests
	if !full {
		s.requests = append(s.requests, wire.Msg{Type: wire.Request, Index: m.Index, Offset: m.Offset, Length: m.Length})
	}
	s.mu.Unlock()
	if full {
		s.c.WriteReject(wire.ReasonBusy, m.Index, m.Offset, m.Length)
		return
	}
	signal(s.reqSignal)
}

// cancelRequest drops a queued request that was not sent yet.
func (s *session) cancelRequest(m wire.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.requests {
		if r.Index == m.Index && r.Offset == m.Offset && r.Length == m.Length {
			s.requests = append(s.requests[:i], s.requests[i+1:]...)
			return
		}
	}
}

// nextRequest waits for the oldest queued request.
func (s *session) nextRequest() (wire.Msg, bool) {
	for {
		s.mu.Lock()
		if len(s.requests) > 0 {
			r := s.requests[0]
			s.requests = s.requests[1:]
			s.mu.Unlock()
			return r, true
		}
		s.mu.Unlock()
		select {
		case <-s.reqSignal:
		case <-s.done:
			return wire.Msg{}, false
		}
	}
}

// uploadLoop serves the remote's requests, one chunk at a time, each under
// an upload slot and the upload rate limit.
func (s *session) uploadLoop() {
	e := s.sw.e
	var f *os.File
	var fsrc Source
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		r, ok := s.nextRequest()
		if !ok {
			return
		}
		src := s.sw.source()
		if err := src.Check(); err != nil {
			s.c.WriteReject(wire.ReasonChanged, r.Index, r.Offset, r.Length)
			continue
		}
		if !src.Has(int(r.Index)) {
			s.c.WriteReject(wire.ReasonNotHeld, r.Index, r.Offset, r.Length)
			continue
		}
		select {
		case e.slots <- struct{}{}:
		case <-s.done:
			return
		}
		err := s.send(r, src, &f, &fsrc)
		<-e.slots
		if err != nil {
			e.log.Debug("upload failed", "peer", s.remote.Short(), "chunk", r.Index, "err", err)
			s.close()
			return
		}
	}
}

// send uploads one requested range, reopening the source's file when the
// source changed (a download that finished is served from its final file).
func (s *session) send(r wire.Msg, src Source, f **os.File, fsrc *Source) error {
	e := s.sw.e
	if err := e.up.Load().wait(e.ctx, int64(r.Length)); err != nil {
		return err
	}
	if *f == nil || *fsrc != src {
		if *f != nil {
			(*f).Close()
		}
		nf, err := src.Open()
		if err != nil {
			*f = nil
			return err
		}
		*f, *fsrc = nf, src
	}
	off := s.sw.m.ChunkOffset(int(r.Index)) + int64(r.Offset)
	if _, err := (*f).Seek(off, io.SeekStart); err != nil {
		return err
	}
	if err := s.c.WriteDataFrom(r.Index, r.Offset, int64(r.Length), *f); err != nil {
		return err
	}
	s.uploaded.Add(int64(r.Length))
	s.sw.countUpload(s.remote, int64(r.Length))
	return nil
}

func (s *session) queueBitfield(b []byte) {
	s.mu.Lock()
	s.bitfield, s.haves = b, nil // a bitfield supersedes queued haves
	s.mu.Unlock()
	signal(s.ctlSignal)
}

func (s *session) queueHave(i uint32) {
	s.mu.Lock()
	s.haves = append(s.haves, i)
	s.mu.Unlock()
	signal(s.ctlSignal)
}

// controlLoop sends bitfields, haves and keep-alives. They go through this
// goroutine so that a peer that reads slowly delays only its own frames.
func (s *session) controlLoop() {
	keepAlive := time.NewTicker(wire.KeepAliveInterval)
	defer keepAlive.Stop()
	var haves []uint32
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
			haves, s.haves = append(haves[:0], s.haves...), s.haves[:0]
			s.bitfield = nil
			s.mu.Unlock()
			if bits != nil {
				err = s.c.WriteBitfield(bits)
			}
			for _, i := range haves {
				if err == nil {
					err = s.c.WriteHave(i)
				}
			}
		}
		if err != nil {
			s.close()
			return
		}
	}
}
