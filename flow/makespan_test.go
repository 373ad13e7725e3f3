package flow

import (
	"math"
	"math/rand/v2"
	"testing"

	"peerflow/flow/chunkset"
)

func TestLeastSpan(t *testing.T) {
	tests := []struct {
		rates  []uint64
		demand uint64
		want   span
	}{
		{[]uint64{1}, 0, span{0, 1}},
		{[]uint64{1}, 5, span{5, 1}},
		{[]uint64{2, 2}, 5, span{3, 2}},   // 2+1 is not enough at 1 s: 3 chunks on one peer
		{[]uint64{3, 1}, 4, span{1, 1}},   // the fluid bound is met exactly
		{[]uint64{3, 1}, 5, span{4, 3}},   // the fast peer's 4th chunk beats the slow one's 2nd
		{[]uint64{10, 1}, 1, span{1, 10}}, // one chunk on the fast peer
		{[]uint64{MaxRate, 1}, 3, span{3, MaxRate}},
	}
	for _, tt := range tests {
		got := leastSpan(tt.rates, tt.demand)
		if !got.equal(tt.want) {
			t.Errorf("leastSpan(%v, %d) = %d/%d, want %d/%d", tt.rates, tt.demand, got.chunks, got.rate, tt.want.chunks, tt.want.rate)
		}
	}
}

// TestLeastSpanBrute compares with trying every breakpoint k/rate.
func TestLeastSpanBrute(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for range 2000 {
		rates := make([]uint64, 1+r.IntN(4))
		for i := range rates {
			rates[i] = 1 + uint64(r.IntN(12))
		}
		demand := uint64(1 + r.IntN(30))
		var best span
		found := false
		for _, rate := range rates {
			for k := uint64(1); k <= demand; k++ {
				s := span{k, rate}
				var sum uint64
				for _, q := range rates {
					sum += uint64(chunksWithin(q, s))
				}
				if sum >= demand && (!found || s.less(best)) {
					best, found = s, true
				}
			}
		}
		if got := leastSpan(rates, demand); !got.equal(best) {
			t.Fatalf("leastSpan(%v, %d) = %d/%d, brute force %d/%d", rates, demand, got.chunks, got.rate, best.chunks, best.rate)
		}
	}
}

func TestChunksWithin(t *testing.T) {
	tests := []struct {
		rate uint64
		s    span
		want int64
	}{
		{7, span{3, 7}, 3},
		{7, span{3, 8}, 2},
		{MaxRate, span{chunkset.MaxChunks, 1}, math.MaxInt64}, // 2^66 saturates
		{MaxRate, span{chunkset.MaxChunks, MaxRate - 1}, chunkset.MaxChunks},
	}
	for _, tt := range tests {
		if got := chunksWithin(tt.rate, tt.s); got != tt.want {
			t.Errorf("chunksWithin(%d, %d/%d) = %d, want %d", tt.rate, tt.s.chunks, tt.s.rate, got, tt.want)
		}
	}
}

func TestRational(t *testing.T) {
	if got := (span{6, 4}).seconds(10); got != (Rational{15, 1}) {
		t.Errorf("6 chunks of 10 bytes at 4 B/s = %v, want 15/1", got)
	}
	if got := (span{0, 4}).seconds(10); got != (Rational{0, 1}) {
		t.Errorf("zero span = %v", got)
	}
	if got := (span{chunkset.MaxChunks, 3}).seconds(MaxChunkSize); got.Num != 1<<58 || got.Den != 3 {
		t.Errorf("largest span = %v", got)
	}
	a, b := Rational{1, 3}, Rational{2, 6}
	if a.Cmp(b) != 0 || a.Cmp(Rational{1, 2}) != -1 || (Rational{1, 2}).Cmp(a) != 1 {
		t.Error("Cmp is wrong")
	}
	if s := (Rational{5, 2}).Seconds(); s != 2.5 {
		t.Errorf("Seconds = %v", s)
	}
}
