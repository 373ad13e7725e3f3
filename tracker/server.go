package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"peerflow/core/trackerapi"
)

// Config configures a tracker. DB or Etcd is required; zero fields take
// defaults.
type Config struct {
	DB string // path of the bbolt file; created if missing
	// Etcd, if set, is the etcd cluster the tracker keeps its records in,
	// with the other trackers of its fleet; DB is then not used.
	Etcd  *Etcd
	Token string // if set, publishing needs "Authorization: Bearer <Token>"
	// Version is the release /v1/health reports; front ends pass
	// core.Version. (This package cannot import core: core imports it to
	// run a tracker from the desktop app.)
	Version string
	// Now is the clock for leases; tests inject a fake one. Default
	// time.Now.
	Now func() time.Time
	// Interval is the heartbeat peers are told to keep; Lease is how long
	// a silent peer stays live. Defaults: trackerapi.DefaultIntervalSeconds
	// and trackerapi.DefaultLeaseSeconds (three missed heartbeats).
	Interval time.Duration
	Lease    time.Duration
	// FlushInterval is the write-behind period of announces (see store.go);
	// a kill -9 loses at most this much. Default 1 s.
	FlushInterval time.Duration
	Logger        *slog.Logger // default: discard

	// Limits per source address (see limits.go). TrustForwarded takes a
	// request's source from the last X-Forwarded-For entry, for a tracker
	// behind a reverse proxy; never set it for a tracker reached directly,
	// or any client can name any source. AnnounceRate is announces per
	// second per source (burst AnnounceBurst); MaxPeersPerSource bounds
	// the live peers one source can list. Defaults 100/s, 200, 64; a
	// negative value turns the limit off (benchmarks from one address).
	TrustForwarded    bool
	AnnounceRate      float64
	AnnounceBurst     int
	MaxPeersPerSource int
	// Serve's listener: connections open at once in all and per source,
	// defaults 1024 and 32; the bytes of request bodies held at once,
	// default 256 MiB.
	MaxConns          int
	MaxConnsPerSource int
	BodyBudget        int64
}

func (c Config) withDefaults() (Config, error) {
	if c.DB == "" && c.Etcd == nil {
		return c, errors.New("tracker: neither Config.DB nor Config.Etcd is set")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Interval <= 0 {
		c.Interval = trackerapi.DefaultIntervalSeconds * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = trackerapi.DefaultLeaseSeconds * time.Second
	}
	if c.Lease < c.Interval {
		return c, fmt.Errorf("tracker: lease %v is shorter than the heartbeat interval %v", c.Lease, c.Interval)
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AnnounceRate == 0 {
		c.AnnounceRate = 100
	}
	if c.AnnounceBurst <= 0 {
		c.AnnounceBurst = 200
	}
	if c.MaxPeersPerSource == 0 {
		c.MaxPeersPerSource = 64
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 1024
	}
	if c.MaxConnsPerSource <= 0 {
		c.MaxConnsPerSource = 32
	}
	if c.BodyBudget <= 0 {
		c.BodyBudget = 256 << 20
	}
	return c, nil
}

// Server is a tracker: its state, its database and the HTTP servers that
// serve its API. It owns one goroutine (the janitor) from Open to Close,
// plus one per Serve call.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   backend
	state   *state
	handler http.Handler
	// announces limits announces per source (nil: no limit); budget
	// bounds request bodies in memory.
	announces *announceLimiter
	budget    *bodyBudget
	nonces    *nonces
	sessions  *sessions
	publishMu sync.Mutex // serializes adding manifests (see addManifest)

	stop        chan struct{} // closed by Close: stops the janitor
	janitorDone chan struct{}
	// storeErr is why the store did not answer the janitor's last flush
	// or ping, nil when it did: while set, announces are answered 503.
	storeErr atomic.Pointer[error]

	mu      sync.Mutex
	closed  bool
	servers map[*http.Server]struct{}
	addr    string
}

// Open opens the store (the bbolt file at cfg.DB, created if missing, or
// the etcd cluster cfg.Etcd), loads the manifests and the peers whose
// lease has not ended, and starts the janitor that prunes expired peers
// and flushes announces (and, on etcd, the watch that follows the
// fleet's other trackers).
func Open(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var st backend
	if cfg.Etcd != nil {
		st, err = openEtcd(cfg.Etcd, cfg.Lease, cfg.FlushInterval, cfg.Logger)
	} else {
		st, err = openStore(cfg.DB)
	}
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, store: st, state: newState(cfg.Lease, max(cfg.MaxPeersPerSource, 0)),
		budget: newBodyBudget(cfg.BodyBudget), nonces: newNonces(cfg.Lease), sessions: newSessions(cfg.Lease, maxSessions),
		stop: make(chan struct{}), janitorDone: make(chan struct{}),
		servers: make(map[*http.Server]struct{}),
	}
	if cfg.AnnounceRate > 0 {
		s.announces = newAnnounceLimiter(cfg.AnnounceRate, cfg.AnnounceBurst)
	}
	d, err := st.load()
	if err != nil {
		st.close()
		return nil, err
	}
	for _, msg := range d.skipped {
		s.log.Warn("tracker database: record skipped", "reason", msg)
	}
	live := s.state.restore(d, cfg.Now())
	s.log.Info("tracker opened", "store", st.String(), "id", st.trackerID(), "manifests", len(d.manifests), "live_peers", live)
	s.handler = s.routes()
	st.follow(s.state, cfg.Now)
	go s.janitor()
	return s, nil
}

// ID returns the tracker's ID, made once and kept in its store; the
// trackers of a fleet share one.
func (s *Server) ID() string { return s.store.trackerID() }

// Store names the store the tracker keeps its records in.
func (s *Server) Store() string { return s.store.String() }

// StoreErr returns why the store did not answer the last time the
// janitor wrote to it or asked it (every FlushInterval), or nil.
func (s *Server) StoreErr() error {
	if err := s.storeErr.Load(); err != nil {
		return *err
	}
	return nil
}

// Addr returns the address of the listener Serve was last called with, or
// "" if it was not.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Handler returns the HTTP API, for callers that run their own server.
func (s *Server) Handler() http.Handler { return s.handler }

// shutdownTimeout bounds how long in-flight requests may finish when a
// server stops.
const shutdownTimeout = 5 * time.Second

// Serve answers HTTP on l until ctx is done or Close is called, then stops
// the listener and waits (up to 5 s) for requests in flight. It returns
// nil after such a stop, or the error that ended serving. Connections
// beyond MaxConns, or MaxConnsPerSource from one IP, are closed at once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	l = limitConns(l, s.cfg.MaxConns, s.cfg.MaxConnsPerSource)
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       time.Minute, // a large announce over a slow link
		WriteTimeout:      time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return errors.New("tracker: serve after close")
	}
	s.servers[hs] = struct{}{}
	s.addr = l.Addr().String()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.servers, hs)
		s.mu.Unlock()
	}()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutdown(hs)
		err = <-errc
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("tracker: serve on %s: %w", l.Addr(), err)
}

// ListenAndServe listens on addr (host:port) and serves like Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tracker: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, l)
}

func shutdown(hs *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if hs.Shutdown(ctx) != nil {
		hs.Close() // requests still running after the timeout are cut
	}
}

// Close stops serving, stops the janitor, flushes the announces not yet
// written and closes the database. No goroutine of the Server outlives it.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers := make([]*http.Server, 0, len(s.servers))
	for hs := range s.servers {
		servers = append(servers, hs)
	}
	s.mu.Unlock()
	for _, hs := range servers {
		shutdown(hs)
	}
	close(s.stop)
	<-s.janitorDone
	err := s.tick()
	if cerr := s.store.close(); cerr != nil && err == nil {
		err = fmt.Errorf("tracker: close database: %w", cerr)
	}
	return err
}

// janitor prunes expired peers and flushes changed ones every
// FlushInterval until Close.
func (s *Server) janitor() {
	defer close(s.janitorDone)
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.tick(); err != nil {
				s.log.Error("tracker flush failed; will retry", "err", err)
			}
		}
	}
}

// tick is one janitor round: prune, then flush (or, with nothing to
// flush, ask the store whether it answers).
func (s *Server) tick() error {
	s.announces.sweep(s.cfg.Now())
	s.sessions.sweep(s.cfg.Now())
	if n := s.state.pruneNow(s.cfg.Now()); n > 0 {
		s.log.Debug("peers expired", "count", n)
	}
	snaps := s.state.takeDirty()
	var err error
	if len(snaps) == 0 {
		err = s.store.ping()
	} else if err = s.store.write(snaps); err != nil {
		s.state.redirty(snaps)
	}
	s.noteStore(err)
	if err != nil {
		return fmt.Errorf("tracker: %w", err)
	}
	return nil
}

// noteStore records whether the store answered, logging each change.
func (s *Server) noteStore(err error) {
	was := s.storeErr.Load()
	switch {
	case err == nil && was != nil:
		s.storeErr.Store(nil)
		s.log.Warn("tracker store answers again", "store", s.store.String())
	case err != nil && was == nil:
		s.storeErr.Store(&err)
		s.log.Error("tracker store unreachable: announces are refused until it answers", "store", s.store.String(), "err", err)
	case err != nil:
		s.storeErr.Store(&err)
	}
}
