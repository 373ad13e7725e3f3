package flow

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"peerflow/flow/chunkset"
)

// setOf is a set of n chunks holding the given ones.
func setOf(n int, chunks ...int) *chunkset.Set {
	b := chunkset.New(n)
	for _, c := range chunks {
		b.Set(c)
	}
	return b
}

// checkPlan verifies what every plan must satisfy: each needed chunk is
// placed exactly once, on a holder, the origin (only if there is one) or
// the unavailable list (only if no peer holds it and there is no origin);
// queues are in the asked order; Makespan is the time the busiest holder
// needs.
func checkPlan(t testing.TB, need *chunkset.Set, peers []Peer, opts Options, p *Plan) {
	t.Helper()
	n := need.Len()
	holders := make([]int, n)
	for _, peer := range peers {
		if peer.Has != nil {
			for i := range peer.Has.All() {
				holders[i]++
			}
		}
	}
	placed := make([]int, n)
	check := func(who string, queue []int, holds func(int) bool) {
		t.Helper()
		for k, c := range queue {
			if c < 0 || c >= n || !need.Has(c) {
				t.Fatalf("%s: chunk %d is not needed", who, c)
			}
			if !holds(c) {
				t.Fatalf("%s: chunk %d is not held", who, c)
			}
			placed[c]++
			if k == 0 {
				continue
			}
			prev := queue[k-1]
			switch opts.Order {
			case RarestFirst:
				if holders[prev] > holders[c] {
					t.Fatalf("%s: chunk %d (%d holders) after chunk %d (%d holders)", who, c, holders[c], prev, holders[prev])
				}
			case Sequential:
				if (prev-opts.From+n)%n > (c-opts.From+n)%n {
					t.Fatalf("%s: chunk %d after chunk %d streaming from %d", who, c, prev, opts.From)
				}
			}
		}
	}
	if len(p.Queues) != len(peers) {
		t.Fatalf("%d queues for %d peers", len(p.Queues), len(peers))
	}
	for i, q := range p.Queues {
		has := peers[i].Has
		check(fmt.Sprintf("peer %d", i), q, func(c int) bool { return has != nil && has.Has(c) })
	}
	if opts.OriginRate <= 0 && len(p.Origin) > 0 {
		t.Fatalf("origin serves %v without an origin", p.Origin)
	}
	check("origin", p.Origin, func(int) bool { return true })
	check("unavailable", p.Unavailable, func(c int) bool { return holders[c] == 0 && opts.OriginRate <= 0 })
	for i := range need.All() {
		if placed[i] != 1 {
			t.Fatalf("needed chunk %d placed %d times", i, placed[i])
		}
	}

	fallback := opts.DefaultRate
	if fallback == 0 {
		fallback = DefaultRate
	}
	worst := Rational{0, 1}
	busy := func(queue []int, rate int64) {
		if len(queue) > 0 {
			worst = later(worst, Rational{int64(len(queue)) * opts.ChunkSize, int64(clampRate(rate, fallback))})
		}
	}
	for i, q := range p.Queues {
		busy(q, peers[i].Rate)
	}
	busy(p.Origin, opts.OriginRate)
	if p.Makespan.Den <= 0 || p.Makespan.Cmp(worst) != 0 {
		t.Fatalf("Makespan %v, but the busiest holder needs %v", p.Makespan, worst)
	}
}

// bruteForce tries every assignment of the needed chunks to their holders
// (the origin, if any, holds all). It returns the least makespan and the
// fewest chunks the origin can be left with at that makespan.
func bruteForce(need *chunkset.Set, peers []Peer, opts Options) (Rational, int) {
	fallback := opts.DefaultRate
	if fallback == 0 {
		fallback = DefaultRate
	}
	rates := make([]int64, len(peers)+1)
	for i, p := range peers {
		rates[i] = int64(clampRate(p.Rate, fallback))
	}
	origin := len(peers)
	var options [][]int
	for c := range need.All() {
		var o []int
		for i, p := range peers {
			if p.Has != nil && p.Has.Has(c) {
				o = append(o, i)
			}
		}
		if opts.OriginRate > 0 {
			rates[origin] = int64(clampRate(opts.OriginRate, fallback))
			o = append(o, origin)
		}
		if len(o) > 0 {
			options = append(options, o)
		}
	}
	loads := make([]int64, len(rates))
	time := func(h int) Rational { return Rational{loads[h] * opts.ChunkSize, rates[h]} }

	best, found := Rational{0, 1}, false
	var fastest func(i int, worst Rational)
	fastest = func(i int, worst Rational) {
		if i == len(options) {
			best, found = worst, true
			return
		}
		for _, h := range options[i] {
			loads[h]++
			if w := later(worst, time(h)); !found || w.Cmp(best) < 0 {
				fastest(i+1, w)
			}
			loads[h]--
		}
	}
	fastest(0, Rational{0, 1})

	fewest := len(options) + 1
	var leastOrigin func(i int)
	leastOrigin = func(i int) {
		if i == len(options) {
			fewest = min(fewest, int(loads[origin]))
			return
		}
		for _, h := range options[i] {
			loads[h]++
			if time(h).Cmp(best) <= 0 && int(loads[origin]) < fewest {
				leastOrigin(i + 1)
			}
			loads[h]--
		}
	}
	leastOrigin(0)
	return best, fewest
}

func later(a, b Rational) Rational {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// randomInstance is small enough for bruteForce: up to 8 chunks, 4 peers.
func randomInstance(r *rand.Rand) (*chunkset.Set, []Peer, Options) {
	n := r.IntN(9)
	need := chunkset.New(n)
	for i := range n {
		if r.IntN(4) > 0 {
			need.Set(i)
		}
	}
	peers := make([]Peer, r.IntN(5))
	for i := range peers {
		peers[i] = Peer{ID: fmt.Sprint("p", i), Rate: []int64{0, -3, 1, 2, 3, 5, 7, 1000}[r.IntN(8)]}
		if r.IntN(6) > 0 {
			peers[i].Has = chunkset.New(n)
			for c := range n {
				if r.IntN(2) == 0 {
					peers[i].Has.Set(c)
				}
			}
		}
	}
	opts := Options{
		ChunkSize:   []int64{1, 3, 1 << 20}[r.IntN(3)],
		DefaultRate: []int64{0, 2}[r.IntN(2)],
		Order:       Order(r.IntN(2)),
		Seed:        r.Uint64(),
	}
	if n > 0 {
		opts.From = r.IntN(n)
	}
	if r.IntN(3) == 0 {
		opts.OriginRate = []int64{1, 4, 1 << 20}[r.IntN(3)]
	}
	return need, peers, opts
}

func checkOptimal(t testing.TB, need *chunkset.Set, peers []Peer, opts Options, p *Plan) {
	t.Helper()
	best, fewest := bruteForce(need, peers, opts)
	if p.Makespan.Cmp(best) != 0 {
		t.Fatalf("makespan %v, brute force %v", p.Makespan, best)
	}
	if len(p.Origin) != fewest {
		t.Fatalf("origin serves %d chunks, %d would do", len(p.Origin), fewest)
	}
}

func TestComputeMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for round := range 3000 {
		need, peers, opts := randomInstance(r)
		p, err := Compute(need, peers, opts)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkPlan(t, need, peers, opts, p)
		checkOptimal(t, need, peers, opts, p)
	}
}

func TestCompute(t *testing.T) {
	all := func(n int) *chunkset.Set { b := chunkset.New(n); b.Fill(); return b }
	tests := []struct {
		name     string
		need     *chunkset.Set
		peers    []Peer
		opts     Options
		queues   []int // queue lengths
		origin   int
		unavail  int
		makespan Rational
	}{
		{"fast peer carries more", all(10),
			[]Peer{{"fast", all(10), 4}, {"slow", all(10), 1}},
			Options{ChunkSize: 1}, []int{8, 2}, 0, 0, Rational{2, 1}},
		{"rare chunks go to their only holder", all(4),
			[]Peer{{"a", setOf(4, 0, 1, 2), 100}, {"b", setOf(4, 3), 1}},
			Options{ChunkSize: 1}, []int{3, 1}, 0, 0, Rational{1, 1}},
		{"unavailable without origin", all(3),
			[]Peer{{"a", setOf(3, 0), 1}},
			Options{ChunkSize: 2}, []int{1}, 0, 2, Rational{2, 1}},
		{"origin serves only what no one holds", all(3),
			[]Peer{{"a", setOf(3, 0, 1), 1000}},
			Options{ChunkSize: 1, OriginRate: 1}, []int{2}, 1, 0, Rational{1, 1}},
		{"origin takes a share when that is sooner", all(10),
			[]Peer{{"slow", all(10), 1}},
			Options{ChunkSize: 1, OriginRate: 1}, []int{5}, 5, 0, Rational{5, 1}},
		{"origin idle when it would not help", all(10),
			[]Peer{{"fast", all(10), 10}},
			Options{ChunkSize: 1, OriginRate: 1}, []int{10}, 0, 0, Rational{1, 1}},
		{"unknown rate gets the default", all(4),
			[]Peer{{"a", all(4), 0}, {"b", all(4), 3}},
			Options{ChunkSize: 1, DefaultRate: 1}, []int{1, 3}, 0, 0, Rational{1, 1}},
		{"package default rate", all(1),
			[]Peer{{"a", all(1), -1}},
			Options{ChunkSize: 1 << 20}, []int{1}, 0, 0, Rational{1, 1}},
		{"rates above MaxRate are capped", all(2),
			[]Peer{{"a", all(2), 1 << 50}},
			Options{ChunkSize: 1}, []int{2}, 0, 0, Rational{1, MaxRate / 2}},
		{"holder of nothing needed gets nothing", setOf(4, 0, 1),
			[]Peer{{"idle", setOf(4, 2, 3), 1000}, {"a", all(4), 1}, {"none", nil, 1000}},
			Options{ChunkSize: 1}, []int{0, 2, 0}, 0, 0, Rational{2, 1}},
		{"no peers", all(5), nil, Options{ChunkSize: 1}, []int{}, 0, 5, Rational{0, 1}},
		{"nothing needed", chunkset.New(5), []Peer{{"a", all(5), 1}},
			Options{ChunkSize: 1}, []int{0}, 0, 0, Rational{0, 1}},
		{"no chunks at all", chunkset.New(0), []Peer{{"a", nil, 1}},
			Options{ChunkSize: 1, OriginRate: 1}, []int{0}, 0, 0, Rational{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compute(tt.need, tt.peers, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, tt.need, tt.peers, tt.opts, p)
			var lens []int
			for _, q := range p.Queues {
				lens = append(lens, len(q))
			}
			if !slices.Equal(lens, tt.queues) && !(len(lens) == 0 && len(tt.queues) == 0) {
				t.Errorf("queue lengths %v, want %v", lens, tt.queues)
			}
			if len(p.Origin) != tt.origin || len(p.Unavailable) != tt.unavail {
				t.Errorf("origin %v, unavailable %v; want %d and %d chunks", p.Origin, p.Unavailable, tt.origin, tt.unavail)
			}
			if p.Makespan != tt.makespan {
				t.Errorf("makespan %v, want %v", p.Makespan, tt.makespan)
			}
		})
	}
}

func TestComputeErrors(t *testing.T) {
	need := chunkset.New(8)
	ok := Options{ChunkSize: 1}
	with := func(f func(*Options)) Options { o := ok; f(&o); return o }
	tests := []struct {
		name  string
		need  *chunkset.Set
		peers []Peer
		opts  Options
		want  error
	}{
		{"nil need", nil, nil, ok, ErrNoNeed},
		{"zero chunk size", need, nil, Options{}, ErrOptions},
		{"chunk size too big", need, nil, with(func(o *Options) { o.ChunkSize = MaxChunkSize + 1 }), ErrOptions},
		{"negative default rate", need, nil, with(func(o *Options) { o.DefaultRate = -1 }), ErrOptions},
		{"negative origin rate", need, nil, with(func(o *Options) { o.OriginRate = -1 }), ErrOptions},
		{"unknown order", need, nil, with(func(o *Options) { o.Order = 2 }), ErrOptions},
		{"start past the end", need, nil, with(func(o *Options) { o.Order, o.From = Sequential, 8 }), ErrOptions},
		{"negative start", need, nil, with(func(o *Options) { o.From = -1 }), ErrOptions},
		{"duplicate peer", need, []Peer{{ID: "a"}, {ID: "a"}}, ok, ErrDuplicatePeer},
		{"bitset too short", need, []Peer{{ID: "a", Has: chunkset.New(7)}}, ok, ErrBitsetLength},
		{"too many peers", need, make([]Peer, MaxPeers+1), ok, ErrTooManyPeers},
	}
	for _, tt := range tests {
		if _, err := Compute(tt.need, tt.peers, tt.opts); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	p, err := Compute(need, []Peer{{ID: "a"}}, ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Replan(p, nil, need, nil, ok); !errors.Is(err, ErrPrevious) {
		t.Errorf("replan with the wrong previous peers: err = %v", err)
	}
	if _, err := Replan(p, []Peer{{ID: "a"}}, chunkset.New(9), nil, ok); !errors.Is(err, ErrPrevious) {
		t.Errorf("replan with a different chunk count: err = %v", err)
	}
	if _, err := Replan(p, []Peer{{ID: "a"}}, need, nil, Options{}); !errors.Is(err, ErrOptions) {
		t.Errorf("replan with bad options: err = %v", err)
	}
}

func TestSequentialSpreadsNearChunks(t *testing.T) {
	need := chunkset.New(100)
	need.Fill()
	peers := []Peer{{"a", need.Clone(), 1}, {"b", need.Clone(), 1}}
	p, err := Compute(need, peers, Options{ChunkSize: 1, Order: Sequential, From: 90})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, need, peers, Options{ChunkSize: 1, Order: Sequential, From: 90}, p)
	// Both peers start right at the play position, taking turns.
	if a, b := p.Queues[0][:3], p.Queues[1][:3]; !slices.Equal(a, []int{90, 92, 94}) || !slices.Equal(b, []int{91, 93, 95}) {
		t.Fatalf("queues start %v and %v", a, b)
	}
}

func TestSeedBreaksTies(t *testing.T) {
	need := chunkset.New(1000)
	need.Fill()
	peers := []Peer{{"sharer", need.Clone(), 1}}
	firsts := map[int]bool{}
	for seed := range uint64(8) {
		opts := Options{ChunkSize: 1, Seed: seed}
		p, err := Compute(need, peers, opts)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Compute(need, peers, opts)
		if !slices.Equal(p.Queues[0], again.Queues[0]) {
			t.Fatal("same seed, different plan")
		}
		firsts[p.Queues[0][0]] = true
	}
	if len(firsts) < 6 {
		t.Fatalf("8 seeds start the sole sharer at only %d different chunks", len(firsts))
	}
}

// change applies one random change of the kind Replan handles to a copy of
// the instance: a peer leaves or joins, rates change, chunks are done, or a
// peer's holdings change (in place, which the plan must notice).
func change(r *rand.Rand, need *chunkset.Set, peers []Peer) (*chunkset.Set, []Peer) {
	need = need.Clone()
	peers = slices.Clone(peers)
	n := need.Len()
	switch r.IntN(6) {
	case 0:
		if len(peers) > 0 {
			i := r.IntN(len(peers))
			peers = slices.Delete(peers, i, i+1)
		}
	case 1:
		p := Peer{ID: fmt.Sprint("new", r.Uint32()), Rate: int64(r.IntN(9)), Has: chunkset.New(n)}
		for c := range n {
			if r.IntN(2) == 0 {
				p.Has.Set(c)
			}
		}
		peers = append(peers, p)
	case 2:
		for i := range peers {
			peers[i].Rate = int64(r.IntN(9))
		}
	case 3:
		for c := range need.All() {
			if r.IntN(3) == 0 {
				need.Clear(c)
			}
		}
	case 4:
		for _, p := range peers {
			if p.Has != nil && n > 0 {
				c := r.IntN(n)
				if p.Has.Has(c) {
					p.Has.Clear(c)
				} else {
					p.Has.Set(c)
				}
			}
		}
	case 5:
		slices.Reverse(peers)
	}
	return need, peers
}

func clonePeers(peers []Peer) []Peer {
	out := slices.Clone(peers)
	for i := range out {
		if out[i].Has != nil {
			out[i].Has = out[i].Has.Clone()
		}
	}
	return out
}

func TestReplanMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for round := range 3000 {
		need, peers, opts := randomInstance(r)
		peers = clonePeers(peers)
		p, err := Compute(need, peers, opts)
		if err != nil {
			t.Fatal(err)
		}
		for step := range 3 {
			nextNeed, nextPeers := change(r, need, peers)
			if r.IntN(4) == 0 { // the origin comes, goes or changes rate
				opts.OriginRate = []int64{0, 1, 3}[r.IntN(3)]
			}
			next, err := Replan(p, peers, nextNeed, nextPeers, opts)
			if err != nil {
				t.Fatalf("round %d step %d: %v", round, step, err)
			}
			checkPlan(t, nextNeed, nextPeers, opts, next)
			checkOptimal(t, nextNeed, nextPeers, opts, next)
			p, need, peers = next, nextNeed, nextPeers
		}
	}
}

// TestReplanUnchangedKeepsEverything: replanning with nothing changed
// moves nothing.
func TestReplanUnchangedKeepsEverything(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 500 {
		need, peers, opts := randomInstance(r)
		p, err := Compute(need, peers, opts)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Replan(p, peers, need, peers, opts)
		if err != nil {
			t.Fatal(err)
		}
		if q.Moved != 0 || !samePlacement(p, q) {
			t.Fatalf("unchanged replan moved %d chunks: %v -> %v", q.Moved, p.Queues, q.Queues)
		}
	}
}

func samePlacement(a, b *Plan) bool {
	for i := range a.Queues {
		if !sameSet(a.Queues[i], b.Queues[i]) {
			return false
		}
	}
	return sameSet(a.Origin, b.Origin)
}

func sameSet(a, b []int) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// TestReplanPeerLeaves: the leaving peer's chunks go to others; the rest
// stay where they were when there is room for that.
func TestReplanPeerLeaves(t *testing.T) {
	need := chunkset.New(12)
	need.Fill()
	peers := []Peer{{"a", need.Clone(), 1}, {"b", need.Clone(), 1}, {"c", need.Clone(), 1}}
	opts := Options{ChunkSize: 1}
	p, err := Compute(need, peers, opts)
	if err != nil {
		t.Fatal(err)
	}
	left := []Peer{peers[0], peers[2]}
	q, err := Replan(p, peers, need, left, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, need, left, opts, q)
	if q.Moved != 0 || q.Makespan != (Rational{6, 1}) {
		t.Fatalf("moved %d, makespan %v", q.Moved, q.Makespan)
	}
	for i, was := range []int{0, 2} {
		for _, c := range p.Queues[was] {
			if !slices.Contains(q.Queues[i], c) {
				t.Fatalf("chunk %d left peer %s", c, left[i].ID)
			}
		}
	}
}

// TestReplanMovesWhenFaster: when the leaving peer's chunks have a single
// remaining holder, that holder's other chunks move to make room.
func TestReplanMovesWhenFaster(t *testing.T) {
	need := chunkset.New(8)
	need.Fill()
	// a and c hold chunks 0-3 only; b holds everything.
	a, c := setOf(8, 0, 1, 2, 3), setOf(8, 0, 1, 2, 3)
	peers := []Peer{{"a", a, 1}, {"b", need.Clone(), 1}, {"c", c, 1}}
	opts := Options{ChunkSize: 1}
	p, err := Compute(need, peers, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, need, peers, opts, p)
	// Without c, b must take all of 4-7 and nothing more; a takes 0-3.
	left := []Peer{peers[0], peers[1]}
	q, err := Replan(p, peers, need, left, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, need, left, opts, q)
	checkOptimal(t, need, left, opts, q)
	if !sameSet(q.Queues[0], []int{0, 1, 2, 3}) || !sameSet(q.Queues[1], []int{4, 5, 6, 7}) {
		t.Fatalf("queues %v", q.Queues)
	}
	moved := 0
	for _, c := range p.Queues[1] {
		if c < 4 {
			moved++
		}
	}
	if q.Moved != moved {
		t.Fatalf("Moved = %d, want %d", q.Moved, moved)
	}
}

func TestReplanNilPrevious(t *testing.T) {
	need := chunkset.New(3)
	need.Fill()
	peers := []Peer{{"a", need.Clone(), 1}}
	p, err := Replan(nil, nil, need, peers, Options{ChunkSize: 1})
	if err != nil || len(p.Queues[0]) != 3 {
		t.Fatalf("Replan(nil) = %v, %v", p, err)
	}
}

// TestLargePlans takes the paths only large plans take (classification,
// dealing and fingerprinting split between two goroutines) and checks
// the plans like the small ones, against a plan from scratch.
func TestLargePlans(t *testing.T) {
	for _, opts := range []Options{
		{ChunkSize: 1 << 18, Seed: 1},
		{ChunkSize: 1 << 18, Order: Sequential, From: 77777, OriginRate: 1 << 20},
	} {
		need, peers := swarm(t, parallelDeal+4321, 40, 6, 3)
		p, err := Compute(need, peers, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, need, peers, opts, p)

		steps := []struct {
			name   string
			reuse  bool // whether prev's classes still hold
			change func()
		}{
			{"peer leaves", true, func() { peers = slices.Delete(slices.Clone(peers), 4, 5) }},
			{"chunks done", true, func() {
				need = need.Clone()
				for i := range need.All() {
					if i%3 == 0 {
						need.Clear(i)
					}
				}
			}},
			{"bitsets replaced by copies", true, func() {
				for i := range peers {
					peers[i].Has = peers[i].Has.Clone()
				}
			}},
			// In place, as a downloader updating from have messages would.
			{"holdings change in place", false, func() {
				for i := range 5000 {
					peers[1].Has.Clear(i)
				}
			}},
		}
		for _, step := range steps {
			prevPeers := slices.Clone(peers)
			step.change()
			q, err := Replan(p, prevPeers, need, peers, opts)
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			checkPlan(t, need, peers, opts, q)
			if reused := q.domain == p.domain; reused != step.reuse {
				t.Fatalf("%s: reused the previous classes: %v", step.name, reused)
			}
			fresh, err := Compute(need, peers, opts)
			if err != nil {
				t.Fatal(err)
			}
			if q.Makespan != fresh.Makespan || len(q.Origin) != len(fresh.Origin) {
				t.Fatalf("%s: makespan %v, origin %d; from scratch %v, %d", step.name, q.Makespan, len(q.Origin), fresh.Makespan, len(fresh.Origin))
			}
			p = q
		}
	}
}

// checkLeast proves p's makespan T least, and its origin share least, on
// the raw graph (source -> chunk -> each holder -> sink) solved by Graph:
// with every holder's capacity just below T some chunk is left over, and
// at T the peers alone carry all but len(p.Origin) chunks.
func checkLeast(t *testing.T, need *chunkset.Set, peers []Peer, opts Options, p *Plan) {
	t.Helper()
	if p.Makespan.Num == 0 {
		return
	}
	fallback := opts.DefaultRate
	if fallback == 0 {
		fallback = DefaultRate
	}
	rates := make([]int64, len(peers)+1)
	for i, peer := range peers {
		rates[i] = int64(clampRate(peer.Rate, fallback))
	}
	if opts.OriginRate > 0 {
		rates[len(peers)] = int64(clampRate(opts.OriginRate, fallback))
	}
	// Chunks a holder of rate r delivers by T = Num/Den: floor(r*Num /
	// (Den*c)), or one less for "just before T" when that divides evenly.
	within := func(r int64, before bool) int64 {
		num := new(big.Int).Mul(big.NewInt(r), big.NewInt(p.Makespan.Num))
		den := new(big.Int).Mul(big.NewInt(p.Makespan.Den), big.NewInt(opts.ChunkSize))
		q, m := new(big.Int).QuoRem(num, den, new(big.Int))
		if before && m.Sign() == 0 {
			q.Sub(q, big.NewInt(1))
		}
		return q.Int64()
	}
	maxFlow := func(before, origin bool) (flow, available int64) {
		chunks := slices.Collect(need.All())
		g := NewGraph(2 + len(chunks) + len(rates))
		holder := 2 + len(chunks)
		for i, c := range chunks {
			held := false
			for h := range rates {
				holds := h < len(peers) && peers[h].Has != nil && peers[h].Has.Has(c) || h == len(peers) && origin && rates[h] > 0
				if holds {
					held = true
					if _, err := g.AddEdge(2+i, holder+h, 1); err != nil {
						t.Fatal(err)
					}
				}
			}
			if held || opts.OriginRate > 0 {
				available++
				if _, err := g.AddEdge(0, 2+i, 1); err != nil {
					t.Fatal(err)
				}
			}
		}
		for h, r := range rates {
			if r > 0 {
				if _, err := g.AddEdge(holder+h, 1, within(r, before)); err != nil {
					t.Fatal(err)
				}
			}
		}
		flow, err := g.MaxFlow(0, 1)
		if err != nil {
			t.Fatal(err)
		}
		return flow, available
	}
	if flow, available := maxFlow(true, true); flow >= available {
		t.Fatalf("all %d chunks fit before the makespan %v", available, p.Makespan)
	}
	if flow, available := maxFlow(false, false); opts.OriginRate > 0 && flow != available-int64(len(p.Origin)) {
		t.Fatalf("peers alone carry %d of %d chunks by %v, but the origin gets %d", flow, available, p.Makespan, len(p.Origin))
	}
}

// TestMediumPlansAreLeast checks plans too large for bruteForce, with
// holders scattered and rates skewed, so that the search takes several
// rounds and Edmonds-Karp has work left after the greedy guess.
func TestMediumPlansAreLeast(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for round := range 12 {
		n := 500 + r.IntN(1500)
		need := chunkset.New(n)
		need.Fill()
		peers := make([]Peer, 3+r.IntN(10))
		for i := range peers {
			peers[i] = Peer{ID: fmt.Sprint(i), Has: chunkset.New(n), Rate: int64(1 + r.IntN(1000))}
			density := r.Float64()
			for c := range n {
				if r.Float64() < density*density {
					peers[i].Has.Set(c)
				}
			}
		}
		opts := Options{ChunkSize: 1 + int64(r.IntN(1<<20)), Seed: uint64(round)}
		if round%3 == 0 {
			opts.OriginRate = int64(1 + r.IntN(500))
		}
		p, err := Compute(need, peers, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, need, peers, opts, p)
		checkLeast(t, need, peers, opts, p)

		nextNeed, nextPeers := change(r, need, peers)
		q, err := Replan(p, peers, nextNeed, nextPeers, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, nextNeed, nextPeers, opts, q)
		checkLeast(t, nextNeed, nextPeers, opts, q)
	}
}
