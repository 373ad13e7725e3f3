package flow

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"peerflow/flow/chunkset"
)

// swarm1M is the compressible large case: 2^20 needed chunks, 100 peers,
// each chunk held by one of 20 holder sets (from 1 to 58 peers), drawn
// chunk by chunk so the sets interleave, and mixed rates (some unknown).
func swarm1M(tb testing.TB) (*chunkset.Set, []Peer) {
	return swarm(tb, 1<<20, 100, 20, 1)
}

// swarm is chunks needed chunks among peerCount peers, each chunk held by
// one of setCount random holder sets of growing size (1, 4, 7, ...
// peers), drawn chunk by chunk.
func swarm(tb testing.TB, chunks, peerCount, setCount int, seed uint64) (*chunkset.Set, []Peer) {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, seed))
	sets := make([][]int, setCount)
	for k := range sets {
		sets[k] = r.Perm(peerCount)[:min(peerCount, 1+k*3)]
	}
	peers := make([]Peer, peerCount)
	for i := range peers {
		peers[i] = Peer{ID: fmt.Sprintf("peer-%03d", i), Has: chunkset.New(chunks), Rate: randomRate(r)}
	}
	for c := range chunks {
		for _, p := range sets[r.IntN(setCount)] {
			peers[p].Has.Set(c)
		}
	}
	need := chunkset.New(chunks)
	need.Fill()
	return need, peers
}

// randomRate is 0 (unknown) one time in ten, else 64 KiB/s to 64 MiB/s.
func randomRate(r *rand.Rand) int64 {
	if r.IntN(10) == 0 {
		return 0
	}
	return 64 << (10 + r.IntN(11))
}

// scattered is the incompressible case: 2^16 chunks, 64 peers, each chunk
// held by each peer with probability 1/2, so almost every chunk is a class
// of its own.
func scattered(tb testing.TB) (*chunkset.Set, []Peer) {
	tb.Helper()
	const chunks, peerCount = 1 << 16, 64
	r := rand.New(rand.NewPCG(2, 2))
	peers := make([]Peer, peerCount)
	for i := range peers {
		words := make([]uint64, chunks/64)
		rate := randomRate(r)
		for w := range words {
			words[w] = r.Uint64()
		}
		has, err := chunkset.FromWords(words, chunks)
		if err != nil {
			tb.Fatal(err)
		}
		peers[i] = Peer{ID: fmt.Sprintf("peer-%02d", i), Has: has, Rate: rate}
	}
	need := chunkset.New(chunks)
	need.Fill()
	return need, peers
}

var benchOptions = Options{ChunkSize: 256 << 10, Seed: 7}

// firstHolders is the least a planner of this input can do, the
// reference the plan benchmarks are given against: read every peer's
// chunk set once, word by word, and queue each needed chunk to its first
// holder. It balances nothing.
func firstHolders(need *chunkset.Set, peers []Peer) [][]int {
	queues := make([][]int, len(peers))
	left := need.Clone()
	for i, p := range peers {
		lw, hw := left.Words(), p.Has.Words()
		for w := range lw {
			take := lw[w] & hw[w]
			lw[w] &^= take
			for ; take != 0; take &= take - 1 {
				queues[i] = append(queues[i], w*64+bits.TrailingZeros64(take))
			}
		}
	}
	return queues
}

// benchPlan times Compute on need and peers, alternated with
// firstHolders; x-first-holders is the median of the per-run ratios, the
// figure that holds from machine to machine.
func benchPlan(b *testing.B, need *chunkset.Set, peers []Peer) {
	b.ReportAllocs()
	b.ResetTimer()
	var ratios []float64
	var sink int
	for b.Loop() {
		start := time.Now()
		if _, err := Compute(need, peers, benchOptions); err != nil {
			b.Fatal(err)
		}
		plan := time.Since(start)
		b.StopTimer()
		start = time.Now()
		sink += len(firstHolders(need, peers))
		ratios = append(ratios, plan.Seconds()/time.Since(start).Seconds())
		b.StartTimer()
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-first-holders")
	if sink == 0 {
		b.Fatal("the reference queued nothing")
	}
}

func BenchmarkPlan1M(b *testing.B) {
	need, peers := swarm1M(b)
	benchPlan(b, need, peers)
}

func BenchmarkPlanScattered(b *testing.B) {
	need, peers := scattered(b)
	benchPlan(b, need, peers)
}

// BenchmarkReplan1M replans the 1M case after the peer with the most work
// left. It reports how many chunks of the other peers moved.
func BenchmarkReplan1M(b *testing.B) {
	need, peers := swarm1M(b)
	prev, err := Compute(need, peers, benchOptions)
	if err != nil {
		b.Fatal(err)
	}
	gone := 0
	for i, q := range prev.Queues {
		if len(q) > len(prev.Queues[gone]) {
			gone = i
		}
	}
	left := append(append([]Peer(nil), peers[:gone]...), peers[gone+1:]...)
	b.ReportAllocs()
	b.ResetTimer()
	var next *Plan
	for b.Loop() {
		if next, err = Replan(prev, peers, need, left, benchOptions); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(next.Moved), "moved")
	b.ReportMetric(float64(len(prev.Queues[gone])), "released")
}
