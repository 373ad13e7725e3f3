package sched

import "time"

// Origin server retry policy: a failed fetch waits before the next, longer
// each time; an origin that refuses the same way (4xx) this many times in
// a row is given up.
const (
	originBackoffMin = 500 * time.Millisecond
	originBackoffMax = 30 * time.Second
	originGiveUp     = 5
)

// originState is the scheduler's view of the origin server (HTTP range
// requests), which holds every chunk.
type originState struct {
	usable   bool          // configured and not given up
	urgent   []urgentChunk // readers' chunks (Urgent), by when they are due: fetched first
	queue    []int         // planned chunks, in order
	inflight map[int]bool  // chunks being fetched
	meter    Meter
	failures int       // fetches failed in a row
	retryAt  time.Time // no fetch before this, after a failure
	refused  int       // 4xx answers in a row
}

// urgentChunk is a chunk a reader needs from the origin server by due.
type urgentChunk struct {
	chunk int
	due   time.Time
}

// OriginUsable reports whether the origin server may still be asked.
func (d *Download) OriginUsable() bool { return d.origin.usable }

// OriginRate is the origin server's measured rate, bytes/s.
func (d *Download) OriginRate() float64 { return d.origin.meter.rate }

// NextOriginChunk takes the next chunk for the origin server that is
// still needed, a reader's urgent ones first, and puts it in flight. An
// urgent one may be in flight at a peer already: it was late there.
func (d *Download) NextOriginChunk(now time.Time) (int, bool) {
	o := &d.origin
	if d.paused || !o.usable || now.Before(o.retryAt) {
		return 0, false
	}
	for len(o.urgent) > 0 {
		c := o.urgent[0].chunk
		o.urgent = o.urgent[1:]
		if d.missing.Has(c) && d.inflight[c] <= endgameCopies && !o.inflight[c] {
			d.inflight[c]++
			o.inflight[c] = true
			return c, true
		}
	}
	for len(o.queue) > 0 {
		c := o.queue[0]
		o.queue = o.queue[1:]
		if d.missing.Has(c) && d.inflight[c] == 0 {
			d.inflight[c]++
			o.inflight[c] = true
			return c, true
		}
	}
	return 0, false
}

// endOriginFetch takes chunk c out of flight, unless a pause withdrew it.
func (d *Download) endOriginFetch(c int) {
	if d.origin.inflight[c] {
		delete(d.origin.inflight, c)
		d.inflight[c]--
	}
}

// OriginGot accounts for chunk c of n bytes fetched from the origin
// server in took; fresh as for Received. It returns the requests of c to
// cancel at peers (a reader's chunk, late there, is asked of both).
func (d *Download) OriginGot(c int, n int64, took time.Duration, fresh bool, now time.Time) []Request {
	d.endOriginFetch(c)
	o := &d.origin
	if !fresh || !d.missing.Has(c) {
		return nil
	}
	o.failures, o.refused = 0, 0
	o.meter.Add(n)
	o.meter.Tick(took)
	return d.Verified(c, now).Cancels
}

// OriginFailed accounts for a failed fetch of chunk c: it is tried again
// after a backoff. refused says the server answered 4xx; after several
// in a row, or when bad (it served wrong bytes), the origin server is
// given up. It reports whether it was.
func (d *Download) OriginFailed(c int, refused, bad bool, now time.Time) (gaveUp bool) {
	d.endOriginFetch(c)
	o := &d.origin
	d.replan = true
	if !bad {
		o.failures++
		o.retryAt = now.Add(min(originBackoffMax, originBackoffMin<<min(o.failures-1, 10)))
		if refused {
			o.refused++
		}
		o.queue = append(o.queue, c) // try again later
	}
	if bad || o.refused >= originGiveUp {
		o.usable = false
		o.queue = nil
		return true
	}
	return false
}
