package flow

import (
	"fmt"
	"slices"
)

// Node numbers in the planner's graph.
const (
	sourceNode = 0
	sinkNode   = 1
	firstClass = 2 // classes are nodes firstClass.., then the holders
)

// solver finds the least makespan for a layout and a flow that meets it:
// source -> class c (capacity: c's needed chunks) -> each holder of c ->
// sink (capacity: the chunks that holder delivers within the makespan).
//
// Edges are numbered like the cells, so no table maps one to the other:
// class c's edge from the source is edge cellBase[c] (where the previous
// class's unowned cell would be), owned cell k is edge k+1, and holder p's
// edge to the sink is edge cells()+p.
type solver struct {
	lay    *layout
	rates  []uint64 // per holder; the origin's is at index lay.peers, 0 if there is none
	origin bool
	order  []int32 // classes, rarest first
	demand int64   // needed chunks some holder has
	g      *Graph  // built the first time a guess falls short
}

func newSolver(lay *layout, rates []uint64, origin bool, order []int32) *solver {
	s := &solver{lay: lay, rates: rates, origin: origin, order: order}
	for c := range int32(lay.classes()) {
		if len(lay.holders(c)) > 0 {
			s.demand += lay.size[c]
		}
	}
	return s
}

// solve returns the least span within which every chunk that has a holder
// can be delivered, and each cell's share at that span.
//
// It starts from the fluid lower bound of all holders together. While the
// max flow at the current span falls short, the minimum cut names a set of
// holders that cannot carry the classes only they hold; the least span at
// which those holders could (leastSpan) is again a lower bound on the
// answer and strictly above the current one, so it is the next span tried.
// The first span whose max flow carries everything is therefore the least.
//
// At each span the flow starts from a guess: warm (a previous plan's
// shares, cut down to the limits; nil for a fresh plan) topped up
// greedily. When the guess already carries everything, it is a max flow
// and no graph is built; otherwise Edmonds-Karp routes what is left over.
// With an origin, the peers are maxed out first and the origin is opened
// only afterwards: augmenting paths never take chunks off a peer's total,
// so the origin carries exactly what the peers cannot deliver in time.
func (s *solver) solve(warm []int64) ([]int64, span, error) {
	if s.demand == 0 {
		return make([]int64, s.lay.cells()), span{0, 1}, nil
	}
	inCut := make([]bool, len(s.rates))
	for _, p := range s.lay.cellPeer {
		if p >= 0 {
			inCut[p] = true
		}
	}
	demand := s.demand
	var at span
	for tried := false; ; tried = true {
		prev := at
		var rates []uint64
		for p, in := range inCut {
			if in {
				rates = append(rates, s.rates[p])
			}
		}
		at = leastSpan(rates, uint64(demand))
		if tried && !prev.less(at) {
			return nil, span{}, fmt.Errorf("plan: cut at %d/%d did not raise the makespan bound", prev.chunks, prev.rate)
		}
		limits := s.limits(at)
		share, full := s.guess(warm, limits)
		if full {
			return share, at, nil
		}
		flow, err := s.maxFlow(share, limits)
		if err != nil {
			return nil, span{}, fmt.Errorf("plan at %d/%d: %w", at.chunks, at.rate, err)
		}
		if flow == s.demand {
			for k, p := range s.lay.cellPeer {
				if p >= 0 {
					share[k] = s.g.Flow(k + 1)
				}
			}
			return share, at, nil
		}
		holderNode := firstClass + s.lay.classes()
		for p := range inCut {
			inCut[p] = s.g.SourceSide(holderNode + p)
		}
		demand = 0
		for c := range s.lay.classes() {
			if s.g.SourceSide(firstClass + c) {
				demand += s.lay.size[c]
			}
		}
	}
}

// limits is how many chunks each holder delivers within at, capped at the
// demand so it fits the graph's int64 capacities.
func (s *solver) limits(at span) []int64 {
	limits := make([]int64, len(s.rates))
	for p, r := range s.rates {
		limits[p] = min(chunksWithin(r, at), s.demand)
	}
	return limits
}

// guess is a first flow within the limits: warm cut down to them (or
// nothing), then each class's chunks still unplaced, rarest class first,
// onto the peers with the most room left. It reports whether the guess
// carries every chunk, which it then completes with the origin's share:
// it does when no chunk a peer holds is left over and the origin has room
// for the rest.
func (s *solver) guess(warm, limits []int64) ([]int64, bool) {
	lay := s.lay
	var share []int64
	if warm != nil {
		share = s.trim(warm, limits)
	} else {
		share = make([]int64, lay.cells())
	}
	room := slices.Clone(limits)
	originRoom := int64(0)
	if s.origin {
		originRoom, room[lay.peers] = room[lay.peers], 0
	}
	for k, p := range lay.cellPeer {
		if p >= 0 {
			room[p] -= share[k]
		}
	}
	full := true
	var origin []int32 // classes only the origin can take
	for _, c := range s.order {
		if len(lay.holders(c)) == 0 {
			continue
		}
		left := lay.size[c]
		for k := lay.cellBase[c]; k < lay.unowned(c); k++ {
			left -= share[k]
		}
		for left > 0 {
			best := int32(-1)
			for k := lay.cellBase[c]; k < lay.unowned(c); k++ {
				if p := lay.cellPeer[k]; room[p] > 0 && (best < 0 || room[p] > room[lay.cellPeer[best]]) {
					best = k
				}
			}
			if best < 0 {
				break
			}
			p := lay.cellPeer[best]
			give := min(left, room[p])
			share[best] += give
			room[p] -= give
			left -= give
		}
		switch {
		case left == 0:
		case lay.peerHolders(c) > 0 || !s.origin:
			full = false
		default:
			origin = append(origin, c)
			originRoom -= left
		}
	}
	if !full || originRoom < 0 {
		return share, false
	}
	for _, c := range origin {
		left := lay.size[c]
		for k := lay.cellBase[c]; k < lay.unowned(c); k++ {
			left -= share[k]
		}
		share[lay.unowned(c)-1] += left // the origin is the last holder
	}
	return share, true
}

// trim cuts a previous plan's shares down to the limits, taking the excess
// off the most common classes first, which are the easiest to place
// elsewhere. The origin's shares all go: it only gets what peers leave.
func (s *solver) trim(warm []int64, limits []int64) []int64 {
	share := slices.Clone(warm)
	over := make([]int64, len(limits))
	for k, p := range s.lay.cellPeer {
		if p >= 0 {
			over[p] += share[k]
		}
	}
	for p := range over {
		over[p] -= limits[p]
	}
	if s.origin {
		over[s.lay.peers] += limits[s.lay.peers]
	}
	for _, c := range slices.Backward(s.order) {
		for k := s.lay.cellBase[c]; k < s.lay.unowned(c); k++ {
			if p := s.lay.cellPeer[k]; over[p] > 0 {
				cut := min(share[k], over[p])
				share[k] -= cut
				over[p] -= cut
			}
		}
	}
	return share
}

// maxFlow augments a guess that fell short (and so gave the origin
// nothing) to a max flow at the given limits: peers first, then the
// origin.
func (s *solver) maxFlow(guess, limits []int64) (int64, error) {
	if s.g == nil {
		if err := s.build(); err != nil {
			return 0, err
		}
	}
	g := s.g
	g.ClearFlow()
	originLimit := int64(0)
	if s.origin {
		originLimit, limits[s.lay.peers] = limits[s.lay.peers], 0
	}
	for p, limit := range limits {
		if err := g.SetCapacity(s.sinkEdge(p), limit); err != nil {
			return 0, err
		}
	}
	if err := s.load(guess); err != nil {
		return 0, err
	}
	flow, err := g.MaxFlow(sourceNode, sinkNode)
	if err != nil || !s.origin {
		return flow, err
	}
	if err := g.SetCapacity(s.sinkEdge(s.lay.peers), originLimit); err != nil {
		return 0, err
	}
	return g.MaxFlow(sourceNode, sinkNode)
}

// build lays the graph out.
func (s *solver) build() error {
	lay := s.lay
	holderNode := firstClass + lay.classes()
	g := NewGraph(holderNode + len(s.rates))
	g.Grow(lay.cells() + len(s.rates))
	for c := range int32(lay.classes()) {
		size := lay.size[c]
		if len(lay.holders(c)) == 0 {
			size = 0 // no one to fetch it from: not part of the flow
		}
		if _, err := g.AddEdge(sourceNode, firstClass+int(c), size); err != nil {
			return err
		}
		for _, p := range lay.holders(c) {
			if _, err := g.AddEdge(firstClass+int(c), holderNode+int(p), size); err != nil {
				return err
			}
		}
	}
	for p := range s.rates {
		if _, err := g.AddEdge(holderNode+p, sinkNode, 0); err != nil {
			return err
		}
	}
	s.g = g
	return nil
}

func (s *solver) classEdge(c int) int { return int(s.lay.cellBase[c]) }

func (s *solver) sinkEdge(p int) int { return s.lay.cells() + p }

// load puts a guess on the graph, with the matching flow on the source and
// sink edges.
func (s *solver) load(guess []int64) error {
	into := make([]int64, len(s.rates))
	for c := range int32(s.lay.classes()) {
		var out int64
		for k := s.lay.cellBase[c]; k < s.lay.unowned(c); k++ {
			if guess[k] == 0 {
				continue
			}
			if err := s.g.SetFlow(int(k)+1, guess[k]); err != nil {
				return err
			}
			out += guess[k]
			into[s.lay.cellPeer[k]] += guess[k]
		}
		if err := s.g.SetFlow(s.classEdge(int(c)), out); err != nil {
			return err
		}
	}
	for p, n := range into {
		if err := s.g.SetFlow(s.sinkEdge(p), n); err != nil {
			return err
		}
	}
	return nil
}
