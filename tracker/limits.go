package tracker

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"peerflow/core/sources"
)

// Limits per source address keep one host from crowding out the others:
// connections open at once, announces per second, and (in state) live
// peers. A source is the IP a request came from, or with TrustForwarded
// the one the proxy in front of the tracker names.

// sourceOf returns the IP r came from: the TCP peer's address, or with
// trustForwarded the last address of X-Forwarded-For (the one the
// trusted proxy added). The zero Addr when neither parses.
func sourceOf(r *http.Request, trustForwarded bool) netip.Addr {
	if trustForwarded {
		if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return sources.Canonical(ip)
			}
		}
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return sources.Canonical(ap.Addr())
}

// announceLimiter allows each source a rate of announces with a burst.
// Limiters idle for a while are forgotten (sweep), so the map stays the
// size of the sources active lately.
type announceLimiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	sources map[netip.Addr]*sourceRate
}

type sourceRate struct {
	lim  *rate.Limiter
	last time.Time
}

func newAnnounceLimiter(perSecond float64, burst int) *announceLimiter {
	return &announceLimiter{rate: rate.Limit(perSecond), burst: burst, sources: make(map[netip.Addr]*sourceRate)}
}

// allow reports whether src may announce at now; a nil limiter allows all.
func (l *announceLimiter) allow(src netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sources[src]
	if s == nil {
		s = &sourceRate{lim: rate.NewLimiter(l.rate, l.burst)}
		l.sources[src] = s
	}
	s.last = now
	return s.lim.AllowN(now, 1)
}

// sweep forgets sources not seen since before the time a full burst
// takes to refill, whose limiters are as good as new.
func (l *announceLimiter) sweep(now time.Time) {
	if l == nil {
		return
	}
	idle := time.Duration(float64(l.burst)/float64(l.rate)*float64(time.Second)) + time.Second
	l.mu.Lock()
	defer l.mu.Unlock()
	for src, s := range l.sources {
		if now.Sub(s.last) > idle {
			delete(l.sources, src)
		}
	}
}

// connLimiter wraps a listener so that at most total connections are
// open at once, and at most perSource from one IP. A connection beyond
// either bound is closed as soon as it is accepted.
type connLimiter struct {
	net.Listener
	open *sources.Counter
}

func limitConns(l net.Listener, total, perSource int) *connLimiter {
	return &connLimiter{Listener: l, open: sources.NewCounter(total, perSource)}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sources.Of(c.RemoteAddr())
		if l.open.Take(src) {
			return &limitedConn{Conn: c, release: func() { l.open.Give(src) }}, nil
		}
		c.Close()
	}
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// bodyBudget bounds the request bytes held in memory by all requests at
// once: a body is read in pieces, each taken from the budget before it is
// read, and given back when the request is done.
type bodyBudget struct {
	left atomic.Int64
}

func newBodyBudget(n int64) *bodyBudget {
	b := &bodyBudget{}
	b.left.Store(n)
	return b
}

// take reserves n bytes, or reports false (reserving nothing) if fewer
// are left.
func (b *bodyBudget) take(n int64) bool {
	if b.left.Add(-n) < 0 {
		b.left.Add(n)
		return false
	}
	return true
}

func (b *bodyBudget) give(n int64) { b.left.Add(n) }
