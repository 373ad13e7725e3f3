package flow

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"peerflow/flow/chunkset"
)

func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	var a [64]uint64
	for i := range a {
		a[i] = r.Uint64()
	}
	b := a
	transpose(&b)
	for i := range 64 {
		for j := range 64 {
			if a[i]>>j&1 != b[j]>>i&1 {
				t.Fatalf("bit %d of row %d did not become bit %d of row %d", j, i, i, j)
			}
		}
	}
}

// TestClassify compares the word-at-a-time grouping with the obvious one,
// chunk by chunk and peer by peer, for peer counts around the 64-peer
// block size and holdings that are random, in runs, or all-or-nothing.
func TestClassify(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, peerCount := range []int{0, 1, 3, 63, 64, 65, 130} {
		for _, pattern := range []string{"random", "runs", "whole words", "split in two"} {
			t.Run(fmt.Sprintf("%d peers %s", peerCount, pattern), func(t *testing.T) {
				n := 1 + r.IntN(700)
				if pattern == "split in two" {
					if peerCount > 3 {
						t.Skip("slow to check chunk by chunk")
					}
					n = parallelWords*64 + r.IntN(700) // two goroutines, merged
				}
				need := chunkset.New(n)
				for i := range n {
					if r.IntN(5) > 0 {
						need.Set(i)
					}
				}
				has := make([][]uint64, peerCount)
				for p := range has {
					b := chunkset.New(n)
					for i := 0; i < n; {
						run := 1
						switch pattern {
						case "runs":
							run = 1 + r.IntN(100)
						case "whole words":
							run = 64 - i%64
						}
						if r.IntN(3) == 0 {
							for j := i; j < min(n, i+run); j++ {
								b.Set(j)
							}
						}
						i += run
					}
					has[p] = b.Words()
				}
				checkGrouping(t, need, has, classify(need, has))
			})
		}
	}
}

func checkGrouping(t *testing.T, need *chunkset.Set, has [][]uint64, g *grouping) {
	t.Helper()
	holderSet := func(i int) []uint64 {
		key := make([]uint64, g.table.width)
		for p, words := range has {
			if words[i/64]>>(i%64)&1 != 0 {
				key[p/64] |= 1 << (p % 64)
			}
		}
		return key
	}
	size := make([]int64, len(g.size))
	for i := range need.All() {
		c := g.class(i)
		if !slices.Equal(g.holders(int(c)), holderSet(i)) {
			t.Fatalf("chunk %d in class %d, whose holders are not the chunk's", i, c)
		}
		if size[c] == 0 && int(g.first[c]) != i {
			t.Fatalf("class %d: first chunk %d, want %d", c, g.first[c], i)
		}
		size[c]++
	}
	if !slices.Equal(size, g.size) {
		t.Fatalf("class sizes %v, want %v", g.size, size)
	}
	for c := range g.size {
		for d := range c {
			if slices.Equal(g.holders(c), g.holders(d)) {
				t.Fatalf("classes %d and %d have the same holders", d, c)
			}
		}
	}
	for p, words := range has {
		if g.prints[p] != fingerprintOf(words, need.Words()) {
			t.Fatalf("peer %d: fingerprint differs from fingerprintOf", p)
		}
	}
}

func TestFingerprintNoticesChanges(t *testing.T) {
	domain := chunkset.New(1024)
	domain.Fill()
	b := chunkset.New(1024)
	base := fingerprintOf(b.Words(), domain.Words())
	seen := map[uint64]string{base: "empty"}
	// Single chunks, and pairs that cancel in a plain multiply-xor hash
	// (the same top bit in two words of one lane).
	for _, chunks := range [][]int{{0}, {63}, {1023}, {63, 63 + 4*64}, {63, 127}, {0, 64}} {
		c := b.Clone()
		for _, i := range chunks {
			c.Set(i)
		}
		f := fingerprintOf(c.Words(), domain.Words())
		if prev, dup := seen[f]; dup {
			t.Errorf("setting %v gives the fingerprint of %s", chunks, prev)
		}
		seen[f] = fmt.Sprint(chunks)
	}
}
