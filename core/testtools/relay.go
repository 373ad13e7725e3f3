package testtools

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// Link is what a Relay makes of the loopback: a long network path, the
// same in each direction.
type Link struct {
	// Delay holds every byte this long in each direction: a round trip
	// through the relay takes twice it.
	Delay time.Duration
	// Window bounds the bytes in flight in each direction, as the
	// path's bandwidth-delay product and TCP's window do on a real
	// network: one stream gets at most Window/Delay. Default 1 MiB.
	Window int
	// Loss is the fraction of segments lost on the way. TCP resends
	// them, so a loss shows as what TCP makes of it: the segment, and
	// everything behind it, comes a retransmission timeout late
	// (LossRTO; default the larger of 200 ms, Linux's least, and
	// 3×Delay).
	Loss    float64
	LossRTO time.Duration
	// Seed makes the losses repeatable.
	Seed uint64
}

func (l Link) withDefaults() Link {
	if l.Window <= 0 {
		l.Window = 1 << 20
	}
	if l.LossRTO <= 0 {
		l.LossRTO = max(200*time.Millisecond, 3*l.Delay)
	}
	return l
}

// Relay accepts TCP connections on 127.0.0.1 and forwards each to its
// target through a Link: there is no netem on the test machines, so this
// is how a test gets a path with a delay (and losses) between two
// programs on one machine.
type Relay struct {
	ln     net.Listener
	target string
	link   Link

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	rng    *rand.Rand
	wg     sync.WaitGroup
}

// StartRelay relays to target (host:port) through link until t ends.
func StartRelay(t testing.TB, target string, link Link) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{ln: ln, target: target, link: link.withDefaults(), conns: make(map[net.Conn]struct{}),
		rng: rand.New(rand.NewPCG(link.Seed, 0x7e1a))}
	r.wg.Go(r.accept)
	t.Cleanup(r.Close)
	return r
}

// Addr is where to dial to reach the target through the link.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Close stops accepting, cuts every relayed connection and waits for the
// relay's goroutines.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.ln.Close()
	r.wg.Wait()
}

// track adds c to the connections Close cuts; false if the relay closed.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

func (r *Relay) accept() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(in) {
			return
		}
		r.wg.Go(func() { r.serve(in) })
	}
}

// serve dials the target for the accepted connection in and relays both
// directions; when both are done, both connections close.
func (r *Relay) serve(in net.Conn) {
	defer r.untrack(in)
	out, err := net.Dial("tcp", r.target)
	if err != nil || !r.track(out) {
		return
	}
	defer r.untrack(out)
	var both sync.WaitGroup
	both.Go(func() { r.pipe(out, in) })
	both.Go(func() { r.pipe(in, out) })
	both.Wait()
}

// segment is bytes read from one side, due on the other at a set time; a
// nil data is the end of the stream.
type segment struct {
	data []byte
	due  time.Time
	err  error
}

// Window is counted in units of unit bytes; a read takes up to
// maxUnits of them at once.
const (
	unit     = 4 << 10
	maxUnits = 16
)

// units is how many window units n bytes take.
func units(n int) int { return (n + unit - 1) / unit }

// pipe carries src's bytes to dst through the link: a reader stamps each
// segment with when it is due, holding window for it; a writer delivers
// the segments in order, each at its time, and gives the window back.
// When src ends, dst is half-closed, as TCP passes a FIN on; an error
// cuts both.
func (r *Relay) pipe(dst, src net.Conn) {
	credit := make(chan struct{}, units(r.link.Window))
	for range cap(credit) {
		credit <- struct{}{}
	}
	// The window bounds the segments in flight; the queue's room only
	// has to cover the smallest reads.
	queue := make(chan segment, cap(credit))
	done := make(chan struct{})
	go func() {
		defer close(done)
		deliver(dst, src, queue, credit)
	}()
	var last time.Time
	for {
		k := take(credit)
		buf := make([]byte, k*unit)
		n, err := src.Read(buf)
		for range k - units(n) {
			credit <- struct{}{}
		}
		if n > 0 {
			due := time.Now().Add(r.link.Delay)
			if r.lost() {
				due = due.Add(r.link.LossRTO)
			}
			last = later(due, last) // in order: nothing overtakes a late segment
			queue <- segment{data: buf[:n], due: last}
		}
		if err != nil {
			queue <- segment{due: last, err: err}
			<-done
			return
		}
	}
}

// take waits for one unit of window and takes whatever more is free, up
// to maxUnits.
func take(credit <-chan struct{}) int {
	<-credit
	k := 1
	for k < maxUnits {
		select {
		case <-credit:
			k++
		default:
			return k
		}
	}
	return k
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// deliver writes the queued segments to dst at their times and gives
// their window back. At the end of src's stream it half-closes dst; after
// an error on either side it cuts both, and lets the rest of the queue go
// unwritten (still giving its window back, so the reader sees the error).
func deliver(dst, src net.Conn, queue <-chan segment, credit chan<- struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failed := false
	for s := range queue {
		if d := time.Until(s.due); d > 0 && !failed {
			timer.Reset(d)
			<-timer.C
		}
		if s.err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && !failed && errors.Is(s.err, io.EOF) {
				tc.CloseWrite()
				return
			}
			dst.Close()
			src.Close()
			return
		}
		if !failed {
			if _, err := dst.Write(s.data); err != nil {
				failed = true
				dst.Close()
				src.Close()
			}
		}
		for range units(len(s.data)) {
			credit <- struct{}{}
		}
	}
}

func (r *Relay) lost() bool {
	if r.link.Loss <= 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rng.Float64() < r.link.Loss
}
