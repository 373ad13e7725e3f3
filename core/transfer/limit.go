package transfer

import (
	"context"

	"golang.org/x/time/rate"
)

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
