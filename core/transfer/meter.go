package transfer

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// meter estimates a transfer rate as an exponentially weighted moving
// average of per-interval samples. Time only counts while the source was
// busy (had requests outstanding), so a peer that idles between plans is
// not mistaken for a slow one.
type meter struct {
	bytes    int64         // since the last sample
	busy     time.Duration // busy time since the last sample
	rate     float64       // bytes/s; meaningful once measured
	measured bool          // a sample was taken: rate 0 means "sends nothing", not "unknown"
}

// planRate is the rate to plan with: 0 (unknown, the planner's default)
// before any sample, else at least 1 byte/s, so a peer that sends nothing
// is planned as the slowest there is rather than as unknown.
func (m *meter) planRate() int64 {
	if !m.measured {
		return 0
	}
	return max(1, int64(m.rate))
}

// meterAlpha weighs a new sample; 0.5 follows a change within a few ticks.
const meterAlpha = 0.5

// minSampleBusy is the least busy time that makes a sample meaningful.
const minSampleBusy = 20 * time.Millisecond

// add records n bytes received.
func (m *meter) add(n int64) { m.bytes += n }

// tick closes an interval during which the source was busy for busy.
func (m *meter) tick(busy time.Duration) {
	m.busy += busy
	if m.busy < minSampleBusy {
		return
	}
	sample := float64(m.bytes) / m.busy.Seconds()
	if !m.measured {
		m.rate, m.measured = sample, true
	} else {
		m.rate = meterAlpha*sample + (1-meterAlpha)*m.rate
	}
	m.bytes, m.busy = 0, 0
}

// limiter is a byte-rate limit; nil means unlimited.
type limiter struct{ l *rate.Limiter }

// limiterBurst is how many bytes may pass at once: one default chunk, so a
// limit is felt within a chunk or two and not after a long free burst.
const limiterBurst = 256 << 10

func newLimiter(bytesPerSec int64) *limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return &limiter{rate.NewLimiter(rate.Limit(bytesPerSec), limiterBurst)}
}

// wait blocks until n bytes may pass, in burst-sized steps.
func (l *limiter) wait(ctx context.Context, n int64) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		step := min(n, limiterBurst)
		if err := l.l.WaitN(ctx, int(step)); err != nil {
			return err
		}
		n -= step
	}
	return nil
}
