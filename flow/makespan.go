package flow

import (
	"fmt"
	"math"
	"math/bits"
)

// Rational is an exact non-negative number of seconds, Num/Den. Den is
// never zero in a Plan; the value is kept in lowest terms.
type Rational struct{ Num, Den int64 }

// Seconds is the value as a float, for display.
func (r Rational) Seconds() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// Cmp compares exactly: -1 if r < o, 0 if equal, +1 if r > o. Both must be
// non-negative with positive denominators.
func (r Rational) Cmp(o Rational) int {
	return cmp128(uint64(r.Num), uint64(o.Den), uint64(o.Num), uint64(r.Den))
}

func (r Rational) String() string {
	return fmt.Sprintf("%d/%d s", r.Num, r.Den)
}

// span is a makespan measured in chunks per byte/s: chunks/rate, the time a
// peer of that rate takes for that many chunks, divided by the chunk size.
// Every breakpoint where some peer's capacity grows has this form.
type span struct{ chunks, rate uint64 }

// less reports a < b exactly, with 128-bit products.
func (a span) less(b span) bool {
	return cmp128(a.chunks, b.rate, b.chunks, a.rate) < 0
}

func (a span) equal(b span) bool {
	return cmp128(a.chunks, b.rate, b.chunks, a.rate) == 0
}

// cmp128 compares a*b with c*d.
func cmp128(a, b, c, d uint64) int {
	h1, l1 := bits.Mul64(a, b)
	h2, l2 := bits.Mul64(c, d)
	if h1 != h2 {
		return cmpUint(h1, h2)
	}
	return cmpUint(l1, l2)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// chunksWithin is how many whole chunks a peer of the given rate delivers
// within s: floor(rate * s.chunks / s.rate), saturating at math.MaxInt64.
func chunksWithin(rate uint64, s span) int64 {
	hi, lo := bits.Mul64(rate, s.chunks)
	if hi >= s.rate {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, s.rate)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// leastSpan is the smallest span within which peers of the given rates
// deliver at least demand chunks between them, each a whole number of
// chunks. The rates must be positive and sum to under 2^64.
//
// The fluid bound demand/Σrate is met up to less than one chunk per peer,
// so from there at most len(rates) breakpoints are stepped over, one peer's
// next chunk at a time.
func leastSpan(rates []uint64, demand uint64) span {
	if demand == 0 {
		return span{0, 1}
	}
	var total uint64
	for _, r := range rates {
		total += r
	}
	s := span{demand, total}
	got := make([]uint64, len(rates))
	var sum uint64
	for i, r := range rates {
		got[i] = uint64(chunksWithin(r, s))
		sum += got[i]
	}
	for sum < demand {
		next := span{got[0] + 1, rates[0]}
		for i, r := range rates {
			if t := (span{got[i] + 1, r}); t.less(next) {
				next = t
			}
		}
		s = next
		for i, r := range rates {
			if (span{got[i] + 1, r}).equal(next) {
				got[i]++
				sum++
			}
		}
	}
	return s
}

// seconds turns a span into seconds for chunks of the given size, in
// lowest terms. The product fits: s.chunks <= chunkset.MaxChunks (2^26) and
// chunkSize <= MaxChunkSize (2^32); s.rate is a sum of at most MaxPeers+1
// rates of at most MaxRate (2^57 in all).
func (s span) seconds(chunkSize int64) Rational {
	num, den := uint64(chunkSize)*s.chunks, s.rate
	if num == 0 {
		return Rational{0, 1}
	}
	g := gcd(num, den)
	return Rational{int64(num / g), int64(den / g)}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
