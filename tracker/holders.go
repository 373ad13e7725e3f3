package tracker

import (
	"cmp"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"peerflow/flow/chunkset"
)

// pickHolders returns at most limit of cands (which it reorders), chosen
// so that the holders of the rarest chunks are among them: a downloader
// that gets only this page must still be able to find every chunk some
// live peer holds.
//
// Each holder is ranked by its rarest chunk (the fewest holders any of
// its chunks has). Greedily, rarest first, a holder is taken if it holds
// a chunk no holder taken so far has; the page is then filled with the
// rest in the same order, peers that hold nothing last. Ties are broken
// at random so that equal holders share the load of many downloaders.
func pickHolders(sw *swarm, cands []*holding, limit int) []*holding {
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	if len(cands) <= limit {
		return cands
	}
	type ranked struct {
		h      *holding
		rarity int
	}
	rarest := sw.seeders
	if len(sw.counts) > 0 {
		rarest += int(slices.Min(sw.counts))
	}
	rs := make([]ranked, len(cands))
	for i, h := range cands {
		rs[i] = ranked{h, math.MaxInt}
		switch {
		case h.have == nil:
			rs[i].rarity = rarest
		case h.held > 0:
			r := uint32(math.MaxUint32)
			for wi, w := range h.have.Words() {
				for ; w != 0; w &= w - 1 {
					r = min(r, sw.counts[wi*64+bits.TrailingZeros64(w)])
				}
			}
			rs[i].rarity = sw.seeders + int(r)
		}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(a.rarity, b.rarity) })

	out := make([]*holding, 0, limit)
	covered := chunkset.New(sw.chunks)
	for i := range rs {
		h := rs[i].h
		if h.have == nil {
			out = append(out, h) // holds every chunk: nothing is left to cover
			rs[i].h = nil
			break
		}
		if rs[i].rarity == math.MaxInt {
			break
		}
		if !addsChunks(h.have, covered) {
			continue
		}
		covered.Or(h.have)
		out = append(out, h)
		rs[i].h = nil
		if len(out) == limit {
			return out
		}
	}
	for _, r := range rs {
		if len(out) == limit {
			break
		}
		if r.h != nil {
			out = append(out, r.h)
		}
	}
	return out
}

// addsChunks reports whether have holds a chunk covered lacks.
func addsChunks(have, covered *chunkset.Set) bool {
	cw := covered.Words()
	for i, w := range have.Words() {
		if w&^cw[i] != 0 {
			return true
		}
	}
	return false
}
