package flow

import (
	"math/bits"
	"slices"
	"sync"

	"peerflow/flow/chunkset"
)

// stretch is a range of chunk positions [lo, hi) walked in order, whose
// chunks start in cell remap[src[i]].
type stretch struct {
	lo, hi int
	remap  []int32
}

// word is word w of need, masked to the stretch.
func (s stretch) word(need *chunkset.Set, w int) uint64 {
	m := need.Words()[w]
	if w == s.lo>>6 {
		m &= ^uint64(0) << (s.lo & 63)
	}
	if (w+1)<<6 > s.hi {
		m &= 1<<(s.hi&63) - 1
	}
	return m
}

// walkFrom is the walk over n chunks from start, wrapping around, cut at
// split: chunks before split start in cell first[src[i]], the others in
// cell second[src[i]].
func walkFrom(start, n, split int, first, second []int32) []stretch {
	var walk []stretch
	add := func(lo, hi int) {
		if lo < split {
			walk = append(walk, stretch{lo, min(hi, split), first})
		}
		if hi > split {
			walk = append(walk, stretch{max(lo, split), hi, second})
		}
	}
	add(start, n)
	add(0, start)
	return walk
}

// dealing is how a plan's chunks were handed out.
type dealing struct {
	queues      [][]int
	origin      []int
	unavailable []int
	chunkCell   []int32 // cell of each needed chunk
	load        []int64 // chunks per cell
	moved       int
}

// deal walks the needed chunks once and gives each to a cell: the cell it
// starts in, while that cell's keep lasts, or else one of its class's
// cells with gain left. It records the cell in cells[i] (cells may be src:
// each entry is read before it is written) and writes the chunk straight
// into its place in the queues: by class, rarest first (rank), for
// RarestFirst, and in walking order for Sequential.
func deal(need *chunkset.Set, walk []stretch, src, cells []int32, lay *layout, keep, share []int64, order Order, rank []int32) dealing {
	// Destinations: the peers, then the origin, then the unavailable list.
	origin, unavailable := lay.peers, lay.peers+1
	dest := func(k int32) int {
		if p := lay.cellPeer[k]; p >= 0 {
			return int(p)
		}
		return unavailable
	}
	// What each cell ends up with; for the unowned ones, what no one serves.
	final := make([]int64, lay.cells())
	gain := make([]int64, lay.cells())
	for c := range int32(lay.classes()) {
		left := lay.size[c]
		for k := lay.cellBase[c]; k < lay.unowned(c); k++ {
			final[k] = share[k]
			left -= share[k]
		}
		final[lay.unowned(c)] = left
	}
	offset := make([]int, unavailable+2)
	for k, n := range final {
		gain[k] = n - keep[k]
		offset[dest(int32(k))+1] += int(n)
	}
	for d := range unavailable + 1 {
		offset[d+1] += offset[d]
	}
	backing := make([]int, offset[unavailable+1])
	out := dealing{chunkCell: cells, load: final, queues: make([][]int, lay.peers)}

	if order == RarestFirst {
		// A class's chunks are contiguous in a queue, rarest class first;
		// within a cell's part, the chunks it keeps come first.
		at := make([]int, lay.cells())
		fill := append([]int(nil), offset...)
		for _, c := range rank {
			for k := lay.cellBase[c]; k < lay.cellBase[c+1]; k++ {
				at[k] = fill[dest(k)]
				fill[dest(k)] += int(final[k])
			}
		}
		out.moved = dealByClass(need, walk, src, cells, lay, keep, gain, at, backing)
	} else {
		at := append([]int(nil), offset...) // per destination
		out.moved = dealByPosition(need, walk, src, cells, lay, keep, gain, at, backing, dest)
	}

	for p := range out.queues {
		out.queues[p] = backing[offset[p]:offset[p+1]:offset[p+1]]
	}
	out.origin = backing[offset[origin]:offset[origin+1]:offset[origin+1]]
	out.unavailable = backing[offset[unavailable]:]
	return out
}

// run is where a class's released chunks go next: a cell with gain left,
// how much, and the queue position of its next chunk.
type run struct {
	cell int32
	left int64
	pos  int
}

// parallelDeal is the number of chunks from which dealByClass deals the two
// halves of the walk at the same time.
const parallelDeal = 1 << 18

// dealByClass deals for RarestFirst, where at[k] is where cell k's part of
// its queue starts. It returns how many chunks moved.
//
// A large walk is dealt in two halves at the same time: counting where the
// first half's chunks start tells exactly what the first half leaves for
// the second (classDealer.skip), without dealing it.
func dealByClass(need *chunkset.Set, walk []stretch, src, cells []int32, lay *layout, keep, gain []int64, at, backing []int) int {
	d := newClassDealer(lay, keep, gain, at)
	first, second := halve(walk)
	if need.Len() < parallelDeal || 4*lay.cells() > need.Len() || second == nil {
		return d.deal(need, walk, src, cells, backing)
	}
	counts := make([]int64, lay.cells())
	for _, st := range first {
		for w := st.lo >> 6; w<<6 < st.hi; w++ {
			for m := st.word(need, w); m != 0; m &= m - 1 {
				counts[st.remap[src[w<<6|bits.TrailingZeros64(m)]]]++
			}
		}
	}
	d2 := d.clone()
	d2.skip(counts)
	var movedLater int
	var wg sync.WaitGroup
	wg.Go(func() { movedLater = d2.deal(need, second, src, cells, backing) })
	moved := d.deal(need, first, src, cells, backing)
	wg.Wait()
	return moved + movedLater
}

// halve cuts a walk in two at half its length.
func halve(walk []stretch) (first, second []stretch) {
	total := 0
	for _, st := range walk {
		total += st.hi - st.lo
	}
	left := total / 2
	for i, st := range walk {
		if n := st.hi - st.lo; n < left {
			left -= n
			continue
		}
		cut := st.lo + left
		first = append(append(first, walk[:i]...), stretch{st.lo, cut, st.remap})
		second = append(append(second, stretch{cut, st.hi, st.remap}), walk[i+1:]...)
		return first, second
	}
	return walk, nil
}

// classDealer is the state of a RarestFirst deal. Released chunks fill
// one cell after the other, so each peer gets a run of neighbouring
// chunks; a run record per class keeps the per-chunk work to a few loads.
// Within a cell's part of its queue, the chunks it keeps come first.
type classDealer struct {
	lay     *layout
	gain    []int64 // per cell: chunks it gains (read only)
	dealtAt []int   // per cell: where the chunks it gains start (read only)
	keep    []int64 // per cell: chunks it still keeps
	at      []int   // per cell: where its next kept chunk goes
	runs    []run   // per class
}

func newClassDealer(lay *layout, keep, gain []int64, at []int) *classDealer {
	d := &classDealer{lay: lay, gain: gain, keep: keep, at: at, dealtAt: make([]int, len(at))}
	for k := range at {
		d.dealtAt[k] = at[k] + int(keep[k])
	}
	d.runs = make([]run, lay.classes())
	for c := range d.runs {
		d.runs[c] = d.from(lay.cellBase[c], int32(c))
	}
	return d
}

// from is the run of class c at its first cell from k on with gain (or
// its unowned cell).
func (d *classDealer) from(k, c int32) run {
	for k < d.lay.unowned(c) && d.gain[k] == 0 {
		k++
	}
	return run{k, d.gain[k], d.dealtAt[k]}
}

func (d *classDealer) clone() *classDealer {
	c := *d
	c.keep = slices.Clone(d.keep)
	c.at = slices.Clone(d.at)
	c.runs = slices.Clone(d.runs)
	return &c
}

// skip moves the state past chunks that start in the given cells, as if
// they had been dealt.
func (d *classDealer) skip(counts []int64) {
	released := make([]int64, d.lay.classes())
	for k, n := range counts {
		kept := min(d.keep[k], n)
		d.keep[k] -= kept
		d.at[k] += int(kept)
		released[d.lay.cellClass[k]] += n - kept
	}
	for c, n := range released {
		r := &d.runs[c]
		for n > 0 {
			take := min(n, r.left)
			r.left -= take
			r.pos += int(take)
			n -= take
			if r.left == 0 && r.cell < d.lay.unowned(int32(c)) {
				*r = d.from(r.cell+1, int32(c))
			}
		}
	}
}

// deal deals the chunks of a walk and returns how many moved.
func (d *classDealer) deal(need *chunkset.Set, walk []stretch, src, cells []int32, backing []int) int {
	keep, at, runs := d.keep, d.at, d.runs
	cellPeer, cellClass := d.lay.cellPeer, d.lay.cellClass
	moved := 0
	for _, st := range walk {
		for w := st.lo >> 6; w<<6 < st.hi; w++ {
			for m := st.word(need, w); m != 0; m &= m - 1 {
				i := w<<6 | bits.TrailingZeros64(m)
				k := st.remap[src[i]]
				if keep[k] > 0 {
					keep[k]--
					backing[at[k]] = i
					at[k]++
				} else {
					if cellPeer[k] >= 0 {
						moved++ // its holder is still there but the flow moved it
					}
					c := cellClass[k]
					r := &runs[c]
					k = r.cell
					backing[r.pos] = i
					r.pos++
					if r.left--; r.left == 0 && k < d.lay.unowned(c) {
						*r = d.from(k+1, c)
					}
				}
				cells[i] = k
			}
		}
	}
	return moved
}

// dealByPosition deals for Sequential, where at[d] is where destination
// d's queue continues. Handing a class's released chunks out in runs
// would leave one peer with all the chunks near the play position, so
// they are spread: a cell that gains g of the class's chunks gets its j-th
// at the (j+1/2)/g point of the class, the cells merged by a small heap
// per class. It returns how many chunks moved.
func dealByPosition(need *chunkset.Set, walk []stretch, src, cells []int32, lay *layout, keep, gain []int64, at, backing []int, dest func(int32) int) int {
	d := newSpreader(lay, gain)
	moved := 0
	for _, st := range walk {
		for w := st.lo >> 6; w<<6 < st.hi; w++ {
			for m := st.word(need, w); m != 0; m &= m - 1 {
				i := w<<6 | bits.TrailingZeros64(m)
				k := st.remap[src[i]]
				if keep[k] > 0 {
					keep[k]--
				} else {
					if lay.cellPeer[k] >= 0 {
						moved++
					}
					k = d.next(lay.cellClass[k])
				}
				cells[i] = k
				backing[at[dest(k)]] = i
				at[dest(k)]++
			}
		}
	}
	return moved
}

// spreader hands each class's released chunks to its cells in the order
// of their next chunk's due point; every chunk has a cell to go to, the
// unowned one for chunks no one can serve.
type spreader struct {
	lay   *layout
	gain  []int64 // per cell: chunks still to hand out
	total []int64 // per cell: its gain at the start
	heap  []int32 // class c's heap is heap[cellBase[c]:][:heapN[c]]
	heapN []int32
}

func newSpreader(lay *layout, gain []int64) *spreader {
	d := &spreader{lay: lay, gain: gain, total: append([]int64(nil), gain...)}
	d.heap = make([]int32, lay.cells())
	d.heapN = make([]int32, lay.classes())
	for c := range int32(lay.classes()) {
		h := d.heap[lay.cellBase[c]:lay.cellBase[c]]
		for k := lay.cellBase[c]; k < lay.cellBase[c+1]; k++ {
			if gain[k] > 0 {
				h = append(h, k)
			}
		}
		d.heapN[c] = int32(len(h))
		for i := len(h)/2 - 1; i >= 0; i-- {
			d.down(h, i)
		}
	}
	return d
}

// next is the cell for class c's next released chunk: the one whose next
// chunk is due earliest within the class.
func (d *spreader) next(c int32) int32 {
	h := d.heap[d.lay.cellBase[c]:][:d.heapN[c]]
	k := h[0]
	d.gain[k]--
	if d.gain[k] == 0 {
		h[0] = h[len(h)-1]
		h = h[:len(h)-1]
		d.heapN[c]--
	}
	d.down(h, 0)
	return k
}

// before orders cells by the position of their next chunk within the
// class, (2*dealt+1)/(2*total), compared without division.
func (d *spreader) before(a, b int32) bool {
	da, db := d.total[a]-d.gain[a], d.total[b]-d.gain[b]
	x, y := (2*da+1)*d.total[b], (2*db+1)*d.total[a]
	return x < y || x == y && a < b
}

func (d *spreader) down(h []int32, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && d.before(h[r], h[l]) {
			l = r
		}
		if !d.before(h[l], h[i]) {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}
