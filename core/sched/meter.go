package sched

import "time"

// Meter estimates a transfer rate as an exponentially weighted moving
// average of per-interval samples. Time only counts while the source was
// busy (had requests outstanding), so a peer that idles between plans is
// not mistaken for a slow one.
type Meter struct {
	bytes    int64         // since the last sample
	busy     time.Duration // busy time since the last sample
	rate     float64       // bytes/s; meaningful once measured
	measured bool          // a sample was taken: rate 0 means "sends nothing", not "unknown"
}

// meterAlpha weighs a new sample; 0.5 follows a change within a few
// ticks. A sample above the estimate is taken whole: a rate that rises is
// what a pipeline growing over a long round trip needs to see at once,
// and one that falls is smoothed, so one slow tick does not starve a peer.
const meterAlpha = 0.5

// minSampleBusy is the least busy time that makes a sample meaningful.
const minSampleBusy = 20 * time.Millisecond

// Add records n bytes received.
func (m *Meter) Add(n int64) { m.bytes += n }

// Tick closes an interval during which the source was busy for busy.
func (m *Meter) Tick(busy time.Duration) {
	m.busy += busy
	if m.busy < minSampleBusy {
		return
	}
	sample := float64(m.bytes) / m.busy.Seconds()
	if !m.measured || sample > m.rate {
		m.rate, m.measured = sample, true
	} else {
		m.rate = meterAlpha*sample + (1-meterAlpha)*m.rate
	}
	m.bytes, m.busy = 0, 0
}

// Rate is the estimate in bytes/s (0 before the first sample).
func (m *Meter) Rate() float64 { return m.rate }

// planRate is the rate to plan with: 0 (unknown, the planner's default)
// before any sample, else at least 1 byte/s, so a peer that sends nothing
// is planned as the slowest there is rather than as unknown.
func (m *Meter) planRate() int64 {
	if !m.measured {
		return 0
	}
	return max(1, int64(m.rate))
}
