package flow

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"peerflow/flow/chunkset"
)

// Bounds and defaults of the planner.
const (
	// DefaultRate is the rate, in bytes/s, assumed for a peer whose rate
	// is not known yet (1 MiB/s), unless Options.DefaultRate says otherwise.
	DefaultRate = 1 << 20
	// MaxRate caps every rate (1 TiB/s), so that the sum of all rates fits
	// in 64 bits; no link comes near it.
	MaxRate = 1 << 40
	// MaxPeers bounds the peers of one plan.
	MaxPeers = 1 << 16
	// MaxChunkSize bounds Options.ChunkSize (4 GiB), so that a makespan in
	// bytes fits in 64 bits.
	MaxChunkSize = 1 << 32
)

// Planner errors. Each failure wraps one of these.
var (
	ErrNoNeed        = errors.New("need is nil")
	ErrOptions       = errors.New("invalid options")
	ErrBitsetLength  = errors.New("bitset length differs from need's")
	ErrDuplicatePeer = errors.New("two peers have the same ID")
	ErrTooManyPeers  = fmt.Errorf("more than %d peers", MaxPeers)
	ErrPrevious      = errors.New("previous plan does not match")
)

// Peer is a peer that can serve chunks.
type Peer struct {
	ID   string
	Has  *chunkset.Set // chunks it holds; nil means none. Its length must be need's.
	Rate int64         // estimated bytes/s; <= 0 means unknown (DefaultRate)
}

// Order is how each queue is sorted.
type Order int

const (
	// RarestFirst puts chunks held by the fewest peers first, so that rare
	// chunks are fetched (and spread) while their holders are still there.
	RarestFirst Order = iota
	// Sequential sorts by position from Options.From, wrapping around, for
	// streaming.
	Sequential
)

// Options tune a plan.
type Options struct {
	ChunkSize   int64 // bytes per chunk, > 0; a shorter last chunk counts as full
	DefaultRate int64 // bytes/s for peers of unknown rate; 0 means DefaultRate
	Order       Order
	From        int   // Sequential: the position to stream from, in [0, need.Len())
	OriginRate  int64 // > 0: an origin holds every chunk and serves at this rate
	// Seed breaks ties: which of equally rare classes comes first, and
	// where the RarestFirst walk over the chunks starts, which decides the
	// chunks of a class each peer gets first. Downloaders that use different
	// seeds (their peer IDs, say) ask a sole sharer for different chunks
	// first, rather than all for the same ones.
	Seed uint64
}

// Plan is which peer serves which needed chunk, in what order.
type Plan struct {
	// Queues[i] is the work of the peers[i] the plan was made for.
	Queues [][]int
	// Origin is the origin's work: chunks no peer holds, and chunks the
	// peers cannot deliver within Makespan. Empty without an origin.
	Origin []int
	// Unavailable are needed chunks no peer holds, when there is no origin.
	Unavailable []int
	// Makespan is when the last chunk arrives if every rate is right: the
	// least possible with these peers, counting each chunk as ChunkSize.
	Makespan Rational
	// Moved counts, for a replan, the chunks that changed peer although
	// their previous peer is still there and still holds them.
	Moved int

	// What Replan needs to start from this plan.
	need      *chunkset.Set // the need planned for
	domain    *chunkset.Set // the need whose non-zero words prints cover
	prints    []uint64      // per peer: fingerprint of its Has
	holdings  []holding     // per peer: its Has as it was
	lay       *layout
	chunkCell []int32 // cell of each needed chunk
	load      []int64 // chunks per cell
}

// holding names a peer's bitset at one moment: the same object with the
// same change count has the same chunks.
type holding struct {
	set     *chunkset.Set
	changes uint64
}

func holdingOf(b *chunkset.Set) holding {
	if b == nil {
		return holding{}
	}
	return holding{b, b.Changes()}
}

// instance is a validated planning problem.
type instance struct {
	need   *chunkset.Set
	peers  []Peer
	opts   Options
	rates  []uint64   // per holder; the origin's at index len(peers), 0 if none
	words  [][]uint64 // per peer: its Has words, zeros for nil
	origin bool
	start  int // where the walk over the chunks starts
}

// prepare checks a planning problem and works out each holder's rate.
func prepare(need *chunkset.Set, peers []Peer, opts Options) (*instance, error) {
	switch {
	case need == nil:
		return nil, ErrNoNeed
	case opts.ChunkSize <= 0 || opts.ChunkSize > MaxChunkSize:
		return nil, fmt.Errorf("chunk size %d not in [1, %d]: %w", opts.ChunkSize, int64(MaxChunkSize), ErrOptions)
	case opts.DefaultRate < 0:
		return nil, fmt.Errorf("default rate %d is negative: %w", opts.DefaultRate, ErrOptions)
	case opts.OriginRate < 0:
		return nil, fmt.Errorf("origin rate %d is negative: %w", opts.OriginRate, ErrOptions)
	case opts.Order != RarestFirst && opts.Order != Sequential:
		return nil, fmt.Errorf("unknown order %d: %w", opts.Order, ErrOptions)
	case opts.From < 0 || opts.From > 0 && opts.From >= need.Len():
		return nil, fmt.Errorf("start position %d not in [0, %d): %w", opts.From, need.Len(), ErrOptions)
	case len(peers) > MaxPeers:
		return nil, fmt.Errorf("%d peers: %w", len(peers), ErrTooManyPeers)
	}
	in := &instance{
		need:   need,
		peers:  peers,
		opts:   opts,
		rates:  make([]uint64, len(peers)+1),
		words:  make([][]uint64, len(peers)),
		origin: opts.OriginRate > 0,
	}
	fallback := opts.DefaultRate
	if fallback == 0 {
		fallback = DefaultRate
	}
	var none []uint64
	seen := make(map[string]bool, len(peers))
	for i, p := range peers {
		if seen[p.ID] {
			return nil, fmt.Errorf("peer %q: %w", p.ID, ErrDuplicatePeer)
		}
		seen[p.ID] = true
		switch {
		case p.Has == nil:
			if none == nil {
				none = make([]uint64, len(need.Words()))
			}
			in.words[i] = none
		case p.Has.Len() != need.Len():
			return nil, fmt.Errorf("peer %q has %d chunks, need %d: %w", p.ID, p.Has.Len(), need.Len(), ErrBitsetLength)
		default:
			in.words[i] = p.Has.Words()
		}
		in.rates[i] = clampRate(p.Rate, fallback)
	}
	if in.origin {
		in.rates[len(peers)] = clampRate(opts.OriginRate, fallback)
	}
	switch {
	case opts.Order == Sequential:
		in.start = opts.From
	case need.Len() > 0:
		in.start = int(mix(opts.Seed) % uint64(need.Len()))
	}
	return in, nil
}

func clampRate(rate, fallback int64) uint64 {
	if rate <= 0 {
		rate = fallback
	}
	return uint64(min(rate, MaxRate))
}

// mix is SplitMix64's finalizer: a seed-dependent but fixed scramble.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Compute plans need from scratch: each needed chunk some peer holds goes
// to exactly one holder, in the least makespan; see the package comment.
// (It is not called Plan because that is the type it returns.)
func Compute(need *chunkset.Set, peers []Peer, opts Options) (*Plan, error) {
	in, err := prepare(need, peers, opts)
	if err != nil {
		return nil, err
	}
	g := classify(need, in.words)
	lay := newLayout(g, len(peers), in.origin)
	toUnowned := make([]int32, lay.classes())
	for c := range toUnowned {
		toUnowned[c] = lay.unowned(int32(c))
	}
	second := make([]int32, len(g.renumber))
	for c, r := range g.renumber {
		second[c] = toUnowned[r]
	}
	walk := walkFrom(in.start, need.Len(), g.split, toUnowned, second)
	p, err := in.finish(lay, walk, g.chunkClass, g.chunkClass, nil)
	if err != nil {
		return nil, err
	}
	p.domain, p.prints = p.need, g.prints
	return p, nil
}

// Replan updates prev, made for prevPeers, to a new need (chunks done) and
// new peers (matched to the old ones by ID: gone, joined, new rates or new
// holdings). It starts from prev's assignment: a chunk stays with its peer
// unless moving it shortens the makespan, and Moved counts those that move.
//
// When no remaining peer's holdings changed, no joining peer holds a needed
// chunk and no chunk became needed again, prev's classes are reused without
// grouping the chunks again. A chunk set may be changed in place
// between plans (through its methods, not through Words) or replaced by a new one:
// both are noticed. Otherwise the classes are recomputed. A nil prev makes
// Replan the same as Compute.
func Replan(prev *Plan, prevPeers []Peer, need *chunkset.Set, peers []Peer, opts Options) (*Plan, error) {
	if prev == nil {
		return Compute(need, peers, opts)
	}
	in, err := prepare(need, peers, opts)
	if err != nil {
		return nil, err
	}
	if len(prevPeers) != len(prev.Queues) {
		return nil, fmt.Errorf("replan: %d previous peers for a plan of %d: %w", len(prevPeers), len(prev.Queues), ErrPrevious)
	}
	if need.Len() != prev.need.Len() {
		return nil, fmt.Errorf("replan: need of %d chunks, previous plan had %d: %w", need.Len(), prev.need.Len(), ErrPrevious)
	}
	index := make(map[string]int32, len(peers))
	for i, p := range peers {
		index[p.ID] = int32(i)
	}
	// newIndex maps prev's holders to the new ones, -1 for gone.
	newIndex := make([]int32, len(prevPeers)+1)
	seen := make(map[string]bool, len(prevPeers))
	for i, p := range prevPeers {
		if seen[p.ID] {
			return nil, fmt.Errorf("replan: previous peer %q: %w", p.ID, ErrDuplicatePeer)
		}
		seen[p.ID] = true
		newIndex[i] = -1
		if j, ok := index[p.ID]; ok {
			newIndex[i] = j
		}
	}
	newIndex[len(prevPeers)] = -1
	if in.origin {
		newIndex[len(prevPeers)] = int32(len(peers))
	}

	if prints, ok := in.unchangedHoldings(prev, newIndex); ok {
		lay, cellMap := prev.lay.remap(newIndex, len(peers), in.origin)
		walk := walkFrom(in.start, need.Len(), need.Len(), cellMap, nil)
		p, err := in.finish(lay, walk, prev.chunkCell, make([]int32, need.Len()), prev.counts(need, cellMap, lay))
		if err != nil {
			return nil, err
		}
		p.domain, p.prints = prev.domain, prints
		return p, nil
	}

	g := classify(need, in.words)
	lay := newLayout(g, len(peers), in.origin)
	// Turn each chunk's class into its cell with its previous holder, if
	// that holder is still there and still holds it.
	cells := g.chunkClass
	counts := make([]int64, lay.cells())
	for i := range need.All() {
		holder := int32(-1)
		if prev.need.Has(i) {
			if p := prev.lay.cellPeer[prev.chunkCell[i]]; p >= 0 {
				holder = newIndex[p]
			}
		}
		cells[i] = lay.cellOf(g.class(i), holder)
		counts[cells[i]]++
	}
	identity := make([]int32, lay.cells())
	for k := range identity {
		identity[k] = int32(k)
	}
	walk := walkFrom(in.start, need.Len(), need.Len(), identity, nil)
	p, err := in.finish(lay, walk, cells, cells, counts)
	if err != nil {
		return nil, err
	}
	p.domain, p.prints = p.need, g.prints
	return p, nil
}

// unchangedHoldings reports whether prev's classes still hold: need only
// shrank, every remaining peer's holdings are as they were, and joining
// peers hold nothing needed. If so it returns the new peers' fingerprints.
//
// A peer that passes the same chunk set, unchanged since (its Changes),
// is known to hold the same chunks. The others' bitsets are hashed and
// compared with their fingerprints from prev.
func (in *instance) unchangedHoldings(prev *Plan, newIndex []int32) ([]uint64, bool) {
	prevNeed := prev.need.Words()
	for w, m := range in.need.Words() {
		if m&^prevNeed[w] != 0 {
			return nil, false
		}
	}
	old := make([]int, len(in.peers))
	for j := range old {
		old[j] = -1
	}
	for i, j := range newIndex[:len(prev.prints)] {
		if j >= 0 {
			old[j] = i
		}
	}
	prints := make([]uint64, len(in.peers))
	var rehash []int
	for j, peer := range in.peers {
		if i := old[j]; i >= 0 && holdingOf(peer.Has) == prev.holdings[i] {
			prints[j] = prev.prints[i]
		} else {
			rehash = append(rehash, j)
		}
	}
	// Two goroutines share the hashing when there is much of it.
	hash := func(js []int) {
		for _, j := range js {
			prints[j] = fingerprintOf(in.words[j], prev.domain.Words())
		}
	}
	if half := len(rehash) / 2; half*len(in.need.Words()) >= parallelWords*16 {
		var wg sync.WaitGroup
		wg.Go(func() { hash(rehash[half:]) })
		hash(rehash[:half])
		wg.Wait()
	} else {
		hash(rehash)
	}
	for _, j := range rehash {
		if i := old[j]; i >= 0 {
			if prints[j] != prev.prints[i] {
				return nil, false
			}
			continue
		}
		for w, m := range in.need.Words() {
			if in.words[j][w]&m != 0 {
				return nil, false
			}
		}
	}
	return prints, true
}

// counts is how many of the needed chunks are in each cell of the new
// layout, before any is moved. Unless need changed, it follows from the
// cell counts of prev without looking at each chunk.
func (prev *Plan) counts(need *chunkset.Set, cellMap []int32, lay *layout) []int64 {
	counts := make([]int64, lay.cells())
	if need.Equal(prev.need) {
		for k, n := range prev.load {
			counts[cellMap[k]] += n
		}
	} else {
		for i := range need.All() {
			counts[cellMap[prev.chunkCell[i]]]++
		}
	}
	for c := range lay.size {
		lay.size[c] = 0
		for k := lay.cellBase[c]; k < lay.cellBase[c+1]; k++ {
			lay.size[c] += counts[k]
		}
	}
	return counts
}

// finish solves a laid-out instance and deals the chunks. Chunk i starts in
// the cell walk and src say, and ends in cells[i]; counts (nil for a fresh
// plan) is how many start in each cell, which is both the warm start and
// what may stay where it is.
func (in *instance) finish(lay *layout, walk []stretch, src, cells []int32, counts []int64) (*Plan, error) {
	rank := rarity(lay, in.opts.Seed)
	var warm []int64
	keep := make([]int64, lay.cells())
	if counts != nil {
		warm = counts
		for k, p := range lay.cellPeer {
			if p < 0 {
				warm[k] = 0
			}
		}
	}
	share, at, err := newSolver(lay, in.rates, in.origin, rank).solve(warm)
	if err != nil {
		return nil, err
	}
	if warm != nil {
		for k := range keep {
			keep[k] = min(warm[k], share[k])
		}
	}
	d := deal(in.need, walk, src, cells, lay, keep, share, in.opts.Order, rank)
	holdings := make([]holding, len(in.peers))
	for i, peer := range in.peers {
		holdings[i] = holdingOf(peer.Has)
	}
	return &Plan{
		Queues:      d.queues,
		Origin:      d.origin,
		Unavailable: d.unavailable,
		Makespan:    at.seconds(in.opts.ChunkSize),
		Moved:       d.moved,
		need:        in.need.Clone(),
		holdings:    holdings,
		lay:         lay,
		chunkCell:   d.chunkCell,
		load:        d.load,
	}, nil
}

// rarity orders the classes rarest first: by how many peers hold them,
// then by a seeded hash of their first chunk.
func rarity(lay *layout, seed uint64) []int32 {
	type entry struct {
		holders int
		tie     uint64
		class   int32
	}
	entries := make([]entry, lay.classes())
	for c := range entries {
		entries[c] = entry{lay.peerHolders(int32(c)), mix(seed ^ uint64(lay.first[c])), int32(c)}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.holders != b.holders {
			return a.holders - b.holders
		}
		if a.tie != b.tie {
			return cmpUint(a.tie, b.tie)
		}
		return int(a.class - b.class)
	})
	rank := make([]int32, len(entries))
	for i, e := range entries {
		rank[i] = e.class
	}
	return rank
}
