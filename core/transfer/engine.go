package transfer

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/sources"
	"peerflow/core/wire"
	"peerflow/flow/chunkset"
)

// Config tunes an Engine. The zero value of each field picks its default.
type Config struct {
	// Key is the node's identity key (package peer); its peer ID is the
	// engine's Self, proven to every peer over TLS. Required.
	Key         ed25519.PrivateKey
	Listen      string // host:port for peer connections; default 127.0.0.1:0
	UpLimit     int64  // bytes/s for all uploads together; 0 = unlimited
	DownLimit   int64  // bytes/s for all downloads together; 0 = unlimited
	UploadSlots int    // uploads served at the same time; default 8
	MaxPeers    int    // connections per content; default 50
	Depth       int    // requests in flight per peer; default DefaultDepth
	Logger      *slog.Logger

	// plaintext skips TLS and takes the Hello's peer ID on trust: only
	// the benchmark that measures what TLS costs sets it, on every peer.
	plaintext bool
	// clock, if set, replaces time.Now for when sessions were last
	// active (tests of idle eviction).
	clock func() time.Time
}

// Defaults. Two requests in flight per peer kept loopback links full with
// 256 KiB–1 MiB chunks; real links need more (bandwidth × delay), so the
// depth grows with a peer's measured rate (see download.depthFor).
const (
	DefaultDepth       = 2
	DefaultUploadSlots = 8
	DefaultMaxPeers    = 50
	dialTimeout        = 5 * time.Second
)

// Engine owns the peer listener, every peer connection, and the swarms
// (one per content this node serves or downloads).
type Engine struct {
	cfg  Config
	self peer.ID
	id   *wire.Identity
	log  *slog.Logger
	ln   net.Listener
	port uint16
	// up and down are swapped whole by SetLimits; nil means unlimited.
	up   atomic.Pointer[limiter]
	down atomic.Pointer[limiter]
	// slots bounds concurrent uploads: an uploader holds a token while it
	// sends one chunk.
	slots chan struct{}
	// handshakes bounds accepted connections still in their handshake,
	// in all and per source IP.
	handshakes *sources.Counter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	swarms map[content.ID]*swarm
	// private holds the peer key of each private swarm (see Private).
	private map[content.ID][32]byte
	closed  bool
}

// Listen starts an engine listening for peers.
func Listen(cfg Config) (*Engine, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("transfer: engine needs an identity key")
	}
	id, err := wire.NewIdentity(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.UploadSlots <= 0 {
		cfg.UploadSlots = DefaultUploadSlots
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.Depth <= 0 {
		cfg.Depth = DefaultDepth
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen for peers on %s: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		cfg:        cfg,
		self:       id.ID,
		id:         id,
		log:        cfg.Logger,
		ln:         ln,
		port:       uint16(ln.Addr().(*net.TCPAddr).Port),
		slots:      make(chan struct{}, cfg.UploadSlots),
		handshakes: sources.NewCounter(maxHandshakes, maxHandshakesPerSource),
		ctx:        ctx,
		cancel:     cancel,
		swarms:     make(map[content.ID]*swarm),
		private:    make(map[content.ID][32]byte),
	}
	e.SetLimits(cfg.UpLimit, cfg.DownLimit)
	e.wg.Go(e.acceptLoop)
	return e, nil
}

// SetLimits changes the upload and download rate limits (bytes/s, 0 =
// unlimited); transfers under way follow from their next chunk.
func (e *Engine) SetLimits(up, down int64) {
	e.up.Store(newLimiter(up))
	e.down.Store(newLimiter(down))
}

// Addr is the address peers connect to.
func (e *Engine) Addr() net.Addr { return e.ln.Addr() }

// Port is the listening port.
func (e *Engine) Port() uint16 { return e.port }

// Self is this node's peer ID.
func (e *Engine) Self() peer.ID { return e.self }

// Close stops listening, closes every connection and download, and waits
// until every goroutine the engine started has ended.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	swarms := make([]*swarm, 0, len(e.swarms))
	for _, sw := range e.swarms {
		swarms = append(swarms, sw)
	}
	e.mu.Unlock()
	e.cancel()
	err := e.ln.Close()
	for _, sw := range swarms {
		sw.close()
	}
	e.wg.Wait()
	return err
}

func (e *Engine) acceptLoop() {
	for {
		nc, err := e.ln.Accept()
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Warn("accept peer connection", "err", err)
			}
			return
		}
		// Connections that have not finished their handshake cost buffers
		// and a goroutine each: beyond a bound in all, or per source IP
		// (so that one host's silent connections cannot lock the others
		// out), new ones are dropped.
		src := sources.Of(nc.RemoteAddr())
		if !e.handshakes.Take(src) {
			nc.Close()
			continue
		}
		e.wg.Go(func() {
			defer e.handshakes.Give(src)
			e.accept(nc)
		})
	}
}

// Handshakes in progress at once: in all, and from one source IP.
const (
	maxHandshakes          = 64
	maxHandshakesPerSource = 8
)

// now is the engine's clock for session activity.
func (e *Engine) now() time.Time {
	if e.cfg.clock != nil {
		return e.cfg.clock()
	}
	return time.Now()
}

// handshaking runs a handshake on nc that Close (or ctx) cuts short: a
// silent peer must not hold up shutting down for the handshake timeout.
func (e *Engine) handshaking(ctx context.Context, nc net.Conn, handshake func() error) error {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	err := handshake()
	if !stop() && err == nil {
		err = ctx.Err() // cut short just as it succeeded
	}
	return err
}

// accept runs the answering side of TLS and of the Hello, and attaches
// the connection to its swarm under the peer ID TLS proved.
func (e *Engine) accept(nc net.Conn) {
	tc, proven, err := e.secure(nc, false, peer.ID{})
	if err != nil {
		e.log.Debug("refused peer connection", "from", nc.RemoteAddr(), "err", err)
		return
	}
	c := wire.NewConn(tc)
	var sw *swarm
	var hello wire.HelloMsg
	err = e.handshaking(e.ctx, tc, func() (err error) {
		hello, err = wire.ServerHandshake(c, e.answer(tc, proven, &sw))
		return err
	})
	if err != nil {
		e.log.Debug("refused peer connection", "from", nc.RemoteAddr(), "peer", proven.Short(), "err", err)
		tc.Close()
		return
	}
	sw.attach(c, hello, listenAddr(nc.RemoteAddr(), hello.ListenPort), false, 0)
}

// answer decides on the Hello of a dialer on tc whose TLS handshake
// proved peer ID proven: the swarm of the content it asks for (stored in
// *sw), or why not. A dialer without the proof of a private swarm is told
// the content is unknown, as if this node did not have it.
func (e *Engine) answer(tc net.Conn, proven peer.ID, sw **swarm) func(wire.HelloMsg) (wire.HelloMsg, wire.Limits, wire.Reason) {
	return func(h wire.HelloMsg) (wire.HelloMsg, wire.Limits, wire.Reason) {
		if h.Peer != proven && !e.cfg.plaintext {
			return wire.HelloMsg{}, wire.Limits{}, wire.ReasonWrongID
		}
		if h.Peer == e.self {
			return wire.HelloMsg{}, wire.Limits{}, wire.ReasonDuplicate
		}
		*sw = e.swarm(h.Content)
		if *sw == nil {
			return wire.HelloMsg{}, wire.Limits{}, wire.ReasonUnknownContent
		}
		want, private, err := e.proof(tc, h.Content, wire.RoleDialer)
		if err != nil || (private && !hmac.Equal(h.Proof[:], want[:])) {
			return wire.HelloMsg{}, wire.Limits{}, wire.ReasonUnknownContent
		}
		if (*sw).isBanned(h.Peer) {
			return wire.HelloMsg{}, wire.Limits{}, wire.ReasonBanned
		}
		mine := wire.HelloMsg{Peer: e.self, Content: h.Content, ListenPort: e.port}
		if mine.Proof, _, err = e.proof(tc, h.Content, wire.RoleAnswerer); err != nil {
			return wire.HelloMsg{}, wire.Limits{}, wire.ReasonUnknownContent
		}
		return mine, wire.LimitsOf((*sw).m), wire.ReasonNone
	}
}

// dial connects to the peer at addr for sw's content. want, if not zero,
// is the peer ID the tracker listed there: the peer must prove it holds
// that ID's key, or the connection is dropped.
func (e *Engine) dial(ctx context.Context, sw *swarm, addr string, want peer.ID) error {
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to peer %s: %w", addr, err)
	}
	tc, proven, err := e.secure(nc, true, want)
	if err != nil {
		return fmt.Errorf("peer %s: %w", addr, err)
	}
	c := wire.NewConn(tc)
	mine := wire.HelloMsg{Peer: e.self, Content: sw.id, ListenPort: e.port}
	var private bool
	if mine.Proof, private, err = e.proof(tc, sw.id, wire.RoleDialer); err != nil {
		tc.Close()
		return fmt.Errorf("peer %s: %w", addr, err)
	}
	start := time.Now() // the Hello's round trip, without TLS's
	var hello wire.HelloMsg
	err = e.handshaking(ctx, tc, func() (err error) {
		hello, err = wire.ClientHandshake(c, mine)
		return err
	})
	rtt := time.Since(start)
	var theirs [32]byte // the proof the answering side must send
	if err == nil && private {
		theirs, _, err = e.proof(tc, sw.id, wire.RoleAnswerer)
	}
	switch {
	case err != nil:
	case hello.Peer == e.self:
		err = errors.New("it is this node")
	case hello.Peer != proven && !e.cfg.plaintext:
		err = fmt.Errorf("its Hello names peer %s, its key is %s's", hello.Peer.Short(), proven.Short())
	case private && !hmac.Equal(hello.Proof[:], theirs[:]):
		err = errors.New("it does not know the private swarm's key")
	}
	if err != nil {
		tc.Close()
		return fmt.Errorf("handshake with peer %s: %w", addr, err)
	}
	c.SetLimits(wire.LimitsOf(sw.m))
	if !sw.attach(c, hello, addr, true, rtt) {
		return fmt.Errorf("peer %s: already connected", addr)
	}
	return nil
}

// secure runs the TLS handshake on nc, as the dialer (with the peer ID
// it wants, zero for any) or the answering side, within the engine's
// life. In the plaintext benchmark reference it returns nc as it is.
func (e *Engine) secure(nc net.Conn, dialer bool, want peer.ID) (net.Conn, peer.ID, error) {
	switch {
	case e.cfg.plaintext:
		return nc, peer.ID{}, nil
	case dialer:
		return e.id.Client(e.ctx, nc, want)
	}
	return e.id.Server(e.ctx, nc)
}

// listenAddr is where a connected peer accepts connections: its IP and
// the listen port it announced, or "" when it does not listen.
func listenAddr(remote net.Addr, port uint16) string {
	tcp, ok := remote.(*net.TCPAddr)
	if !ok || port == 0 {
		return ""
	}
	return net.JoinHostPort(tcp.IP.String(), strconv.Itoa(int(port)))
}

// Private makes content id a private swarm whose peers prove key, its
// peer key (content.Secret.PeerKey), in their Hellos: a peer that cannot
// is told the content is unknown here, and a peer dialed that cannot is
// dropped. A nil key makes id public again. Call it before seeding or
// downloading id.
func (e *Engine) Private(id content.ID, key *[32]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if key == nil {
		delete(e.private, id)
		return
	}
	e.private[id] = *key
}

// proof returns the Hello proof for content id on nc in role, and
// whether id is private.
func (e *Engine) proof(nc net.Conn, id content.ID, role byte) (proof [32]byte, private bool, err error) {
	e.mu.Lock()
	key, private := e.private[id]
	e.mu.Unlock()
	if !private {
		return proof, false, nil
	}
	proof, err = wire.Proof(nc, key, role)
	return proof, true, err
}

// swarm returns the swarm of id, or nil.
func (e *Engine) swarm(id content.ID) *swarm {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.swarms[id]
}

// swarmOf returns the swarm of m, creating it with src as its source if
// it does not exist yet.
func (e *Engine) swarmOf(m *content.Manifest, src Source) (*swarm, error) {
	id := m.ID()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("transfer: engine is closed")
	}
	sw := e.swarms[id]
	if sw == nil {
		var err error
		if sw, err = newSwarm(e, m, src); err != nil {
			return nil, err
		}
		e.swarms[id] = sw
		e.wg.Go(sw.uploadLoop)
	}
	return sw, nil
}

// Seed serves m's chunks from src, which holds every chunk, to any peer
// that asks; an existing swarm of m switches to src. It super-seeds (see
// package sched): each downloader is offered chunks no peer holds yet, a
// different share each, so that this node sends each chunk about once
// and the downloaders pass them on among themselves.
func (e *Engine) Seed(m *content.Manifest, src Source) error {
	sw, err := e.swarmOf(m, src)
	if err != nil {
		return err
	}
	sw.setSource(src)
	if all, err := chunkset.FromBytes(src.Bitfield(), m.NumChunks()); err != nil || !all.Full() {
		return nil // a partial source offers what it has, plainly
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed && sw.superSeed() {
		e.wg.Go(sw.seedLoop) // under e.mu, as Download's goroutines
	}
	return nil
}

// Unseed stops serving id and closes its connections (and its download).
func (e *Engine) Unseed(id content.ID) {
	e.mu.Lock()
	sw := e.swarms[id]
	delete(e.swarms, id)
	delete(e.private, id)
	e.mu.Unlock()
	if sw != nil {
		sw.close()
	}
}

// Stats returns the counters of content id (zero if it is not served).
func (e *Engine) Stats(id content.ID) Stats {
	sw := e.swarm(id)
	if sw == nil {
		return Stats{}
	}
	return sw.stats()
}

// Connected returns the peers connected for content id.
func (e *Engine) Connected(id content.ID) []PeerInfo {
	sw := e.swarm(id)
	if sw == nil {
		return nil
	}
	return sw.peers()
}
