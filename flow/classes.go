package flow

import (
	"math/bits"
	"slices"
	"sync"

	"peerflow/flow/chunkset"
)

// grouping is the needed chunks grouped into availability classes: chunks
// held by exactly the same peers.
type grouping struct {
	// chunkClass is the class of each needed chunk (other entries are
	// unused). From chunk split on, it is numbered as in a second
	// grouping: renumber maps that numbering to this one's.
	chunkClass []int32
	split      int
	renumber   []int32

	table  *classTable
	size   []int64  // needed chunks per class
	first  []int32  // per class: its lowest chunk
	prints []uint64 // per peer: fingerprint of its Has over need's non-zero words
}

// class is chunk i's class.
func (g *grouping) class(i int) int32 {
	if i >= g.split {
		return g.renumber[g.chunkClass[i]]
	}
	return g.chunkClass[i]
}

// holders is class c's holder set: bit p of word p/64 for peer p.
func (g *grouping) holders(c int) []uint64 {
	w := g.table.width
	return g.table.keys[c*w : (c+1)*w]
}

// parallelWords is the size, in words of need, from which classify
// classifies the two halves of need at the same time.
const parallelWords = 4096

// classify groups the needed chunks by holder set. has[p] are peer p's
// words (all zero for a peer with no bitset). It works on the two halves of
// need separately, at the same time if need is large, and merges them.
func classify(need *chunkset.Set, has [][]uint64) *grouping {
	chunkClass := make([]int32, need.Len())
	words := len(need.Words())
	var second *grouping
	var wg sync.WaitGroup
	if words >= parallelWords {
		wg.Go(func() { second = classifyRange(need, has, chunkClass, words/2, words) })
	}
	g := classifyRange(need, has, chunkClass, 0, words/2)
	wg.Wait()
	if second == nil {
		second = classifyRange(need, has, chunkClass, words/2, words)
	}
	g.absorb(second, min(need.Len(), words/2*64))
	return g
}

// absorb merges into g, which covers need's chunks before split, the
// grouping o of the chunks from split on: classes of o that g lacks are
// added after g's, in o's order, so the numbering is what one pass would
// have given. o's chunks keep their numbers in chunkClass, which
// g.renumber translates.
func (g *grouping) absorb(o *grouping, split int) {
	g.split = split
	g.renumber = make([]int32, len(o.size))
	for c := range o.size {
		g.renumber[c] = g.classOf(o.holders(c), int(o.first[c]))
		g.size[g.renumber[c]] += o.size[c]
	}
	for p, f := range o.prints {
		g.prints[p] = joinPrints(g.prints[p], f)
	}
}

// classifyRange groups the needed chunks of need's words [from, to).
//
// For each word it gathers the peers' words. If every peer holds all or
// none of the word's needed chunks, the word is one class. If only a few
// classes are known, a classTree splits the word among them with a few
// ANDs and checks the split against every peer's word. Otherwise, or when
// the check fails (a new class), the peers' words, 64 peers to a block,
// are transposed, which turns them into one word per chunk with bit p set
// when peer p holds it: the chunk's exact holder set, looked up in a hash
// table. Working one chunk and one peer at a time costs ten times more.
func classifyRange(need *chunkset.Set, has [][]uint64, chunkClass []int32, from, to int) *grouping {
	needWords := need.Words()
	peers := len(has)
	width := max(1, (peers+63)/64)
	g := &grouping{
		chunkClass: chunkClass,
		split:      need.Len(),
		prints:     make([]uint64, peers),
		table:      newClassTable(width),
	}
	var tree *classTree
	// Peers' words are copied a block at a time, each peer's in one
	// sequential sweep that the hardware prefetches, rather than read one
	// word of every peer at a time; the fingerprints are taken on the way.
	stride := min(blockWords, to-from)
	block := make([]uint64, peers*stride) // peer p's word w is block[p*stride+w-w0]
	prints := make([]fingerprint, peers)
	rows := make([][64]uint64, width) // rows[b][r]: peer 64b+r's word; after transposing, chunk r's holders among them
	key := make([]uint64, width)
	for w0 := from; w0 < to; w0 += stride {
		w1 := min(w0+stride, to)
		for p, words := range has {
			copy(block[p*stride:], words[w0:w1])
			for w := w0; w < w1; w++ {
				if needWords[w] != 0 {
					prints[p].add(w, words[w])
				}
			}
		}
		for w := w0; w < w1; w++ {
			m := needWords[w]
			if m == 0 {
				continue
			}
			j := w - w0 // peer p's word is block[p*stride+j]
			base := w << 6
			known := len(g.size)
			if tree != nil && tree.split(block, stride, j, m) {
				for _, c := range tree.present {
					g.assign(base, tree.mask[c], int32(c))
				}
			} else {
				clear(key) // collects the peers holding every needed chunk of the word
				low := bits.TrailingZeros64(m)
				var mixed uint64 // non-zero if some peer holds some but not all
				for p := range peers {
					x := block[p*stride+j] & m
					rows[p>>6][p&63] = x
					key[p>>6] |= (x >> low & 1) << (p & 63)
					mixed |= min(x, m^x)
				}
				if mixed == 0 {
					g.assign(base, m, g.classOf(key, base+low))
				} else {
					g.transposed(rows, key, m, base)
				}
			}
			if len(g.size) != known {
				tree = newClassTree(g, peers)
			}
		}
	}
	for p := range prints {
		g.prints[p] = prints[p].sum()
	}
	return g
}

// blockWords is how many words of each peer classifyRange copies at once:
// 2 KiB per peer, so that the block of 100 peers stays in the L2 cache.
const blockWords = 256

// assign puts the chunks of word mask m, at chunk base, in class c.
func (g *grouping) assign(base int, m uint64, c int32) {
	g.size[c] += int64(bits.OnesCount64(m))
	for ; m != 0; m &= m - 1 {
		g.chunkClass[base+bits.TrailingZeros64(m)] = c
	}
}

// transposed classifies a word's chunks one by one: rows (the peers'
// words) are transposed into each chunk's holder set, which is looked up.
// key is scratch space of len(rows) words.
func (g *grouping) transposed(rows [][64]uint64, key []uint64, m uint64, base int) {
	if tail := len(g.prints) & 63; tail != 0 {
		clear(rows[len(rows)-1][tail:]) // left over from the last transpose
	}
	for b := range rows {
		transpose(&rows[b])
	}
	c, prev := int32(-1), 0
	for mm := m; mm != 0; mm &= mm - 1 {
		j := bits.TrailingZeros64(mm)
		same := c >= 0
		for b := range rows {
			key[b] = rows[b][j&63]
			same = same && key[b] == rows[b][prev&63]
		}
		if !same { // neighbours often share a class; skip the hash then
			c = g.classOf(key, base+j)
		}
		prev = j
		g.chunkClass[base+j] = c
		g.size[c]++
	}
}

// maxTreeClasses bounds the classes a classTree tells apart (at most 64,
// one bit each); past it, its check costs more than transposing.
const maxTreeClasses = 48

// classTree splits a word's chunks among the classes known so far, by
// testing a few peers' bits, then checks the split exactly: every peer's
// word must be the union of the chunks put in the classes it holds. A
// chunk of an unknown class always fails the check, since its holders
// differ from those of the class it was put in.
type classTree struct {
	nodes []treeNode
	root  int32 // a node, or a class c as -1-c

	// The check visits the peers in order, keeping the union of the
	// masks of the classes the peer holds. Class masks are disjoint, so
	// going from one peer to the next flips the masks of the classes
	// list[listAt[i]:listAt[i+1]] in or out; order puts peers with similar
	// classes next to each other, which keeps those lists short.
	order  []int32
	listAt []int32
	list   []uint8

	mask    [256]uint64 // per class: its chunks in the word split last
	present []uint8     // classes with chunks in that word
	stack   []treeItem
}

type treeNode struct {
	peer    int32
	yes, no int32 // subtree for chunks peer holds, and for the others
}

type treeItem struct {
	ref  int32
	mask uint64
}

// newClassTree builds a tree for g's classes, or returns nil when there
// are too many for it to pay.
func newClassTree(g *grouping, peers int) *classTree {
	classes := len(g.size)
	if classes > maxTreeClasses {
		return nil
	}
	holds := func(c uint8, p int) bool { return g.holders(int(c))[p>>6]>>(p&63)&1 != 0 }
	t := &classTree{}
	all := make([]uint8, classes)
	for c := range all {
		all[c] = uint8(c)
	}
	var build func(set []uint8) int32
	build = func(set []uint8) int32 {
		if len(set) == 1 {
			return -1 - int32(set[0])
		}
		best, bestSplit := 0, -1
		for p := range peers {
			n := 0
			for _, c := range set {
				if holds(c, p) {
					n++
				}
			}
			if split := min(n, len(set)-n); split > bestSplit {
				best, bestSplit = p, split
			}
		}
		var yes, no []uint8
		for _, c := range set {
			if holds(c, best) {
				yes = append(yes, c)
			} else {
				no = append(no, c)
			}
		}
		t.nodes = append(t.nodes, treeNode{peer: int32(best)})
		n := len(t.nodes) - 1
		y, o := build(yes), build(no)
		t.nodes[n].yes, t.nodes[n].no = y, o
		return int32(n)
	}
	t.root = build(all)
	// Each peer's classes as a bit set (maxTreeClasses <= 64), then a
	// greedy path through the peers, always to the nearest one left.
	member := make([]uint64, peers)
	for p := range peers {
		for _, c := range all {
			if holds(c, p) {
				member[p] |= 1 << c
			}
		}
	}
	left := make([]int32, peers)
	for p := range left {
		left[p] = int32(p)
	}
	t.listAt = make([]int32, 1, peers+1)
	at := uint64(0)
	for len(left) > 0 {
		best := 0
		for i, p := range left {
			if bits.OnesCount64(at^member[p]) < bits.OnesCount64(at^member[left[best]]) {
				best = i
			}
		}
		p := left[best]
		left = slices.Delete(left, best, best+1)
		for flips := at ^ member[p]; flips != 0; flips &= flips - 1 {
			t.list = append(t.list, uint8(bits.TrailingZeros64(flips)))
		}
		t.order = append(t.order, p)
		t.listAt = append(t.listAt, int32(len(t.list)))
		at = member[p]
	}
	return t
}

// split splits the needed chunks m of a word among the known classes, into
// mask and present, and reports whether every chunk's holders are those of
// its class. Peer p's word is block[p*stride+j].
func (t *classTree) split(block []uint64, stride, j int, m uint64) bool {
	for _, c := range t.present {
		t.mask[c] = 0
	}
	t.present = t.present[:0]
	stack := append(t.stack[:0], treeItem{t.root, m})
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.mask == 0 {
			continue
		}
		if it.ref < 0 {
			c := uint8(-1 - it.ref)
			t.mask[c] = it.mask
			t.present = append(t.present, c)
			continue
		}
		n := t.nodes[it.ref]
		x := block[int(n.peer)*stride+j]
		stack = append(stack, treeItem{n.yes, it.mask & x}, treeItem{n.no, it.mask &^ x})
	}
	t.stack = stack
	var union, wrong uint64
	for i, p := range t.order {
		for _, c := range t.list[t.listAt[i]:t.listAt[i+1]] {
			union ^= t.mask[c]
		}
		wrong |= union ^ block[int(p)*stride+j]&m
	}
	return wrong == 0
}

// classOf returns the class with the given holders, adding it, with chunk
// as its first, if it is new.
func (g *grouping) classOf(key []uint64, chunk int) int32 {
	t := g.table
	h := t.hash(key)
	if c := t.get(key, h); c >= 0 {
		return c
	}
	g.size = append(g.size, 0)
	g.first = append(g.first, int32(chunk))
	return t.add(key, h)
}

// classTable is an open-addressing hash table from holder sets (width
// words each) to class numbers.
type classTable struct {
	width int
	keys  []uint64 // class c's holders: keys[c*width:(c+1)*width]
	slots []uint64 // the key's hash in the top half, class+1 in the bottom; 0 is empty
	shift uint     // a key's first slot is its hash >> shift
}

func newClassTable(width int) *classTable {
	return &classTable{width: width, slots: make([]uint64, 16), shift: 64 - 4}
}

func (t *classTable) hash(key []uint64) uint64 {
	h := uint64(0)
	for _, w := range key {
		h = hashStep(h, w)
	}
	return h
}

func hashStep(h, w uint64) uint64 {
	h = (h ^ w) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

// get is key's class, or -1. Slots are told apart by their hash first, so
// a probe rarely has to compare keys that differ.
func (t *classTable) get(key []uint64, h uint64) int32 {
	tag := h &^ (1<<32 - 1)
	for i := h >> t.shift; ; i = (i + 1) & uint64(len(t.slots)-1) {
		s := t.slots[i]
		if s == 0 {
			return -1
		}
		if s&^(1<<32-1) == tag {
			c := int(uint32(s)) - 1
			if equalWords(t.keys[c*t.width:(c+1)*t.width], key) {
				return int32(c)
			}
		}
	}
}

func equalWords(a, b []uint64) bool {
	for i, w := range a {
		if b[i] != w {
			return false
		}
	}
	return true
}

// add stores a key that is not in the table yet and returns its class.
func (t *classTable) add(key []uint64, h uint64) int32 {
	c := int32(len(t.keys) / t.width)
	t.keys = append(t.keys, key...)
	if 2*int(c+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]uint64, 2*len(old))
		t.shift--
		for _, s := range old {
			if s != 0 {
				t.place(s)
			}
		}
	}
	t.place(h&^(1<<32-1) | uint64(c+1))
	return c
}

// place puts a slot value where its hash (the top half, shifted down by
// shift) says, or after.
func (t *classTable) place(s uint64) {
	i := s >> t.shift
	for t.slots[i] != 0 {
		i = (i + 1) & uint64(len(t.slots)-1)
	}
	t.slots[i] = s
}

// transpose flips a 64x64 bit matrix, row r bit c to row c bit r, by
// swapping ever smaller blocks across the diagonal (Hacker's Delight 7-3).
func transpose(a *[64]uint64) {
	for k := range 32 {
		t := ((a[k] >> 32) ^ a[k+32]) & 0x00000000ffffffff
		a[k] ^= t << 32
		a[k+32] ^= t
	}
	for k0 := 0; k0 < 64; k0 += 32 {
		for k := k0; k < k0+16; k++ {
			t := ((a[k&63] >> 16) ^ a[(k+16)&63]) & 0x0000ffff0000ffff
			a[k&63] ^= t << 16
			a[(k+16)&63] ^= t
		}
	}
	for k0 := 0; k0 < 64; k0 += 16 {
		for k := k0; k < k0+8; k++ {
			t := ((a[k&63] >> 8) ^ a[(k+8)&63]) & 0x00ff00ff00ff00ff
			a[k&63] ^= t << 8
			a[(k+8)&63] ^= t
		}
	}
	for k0 := 0; k0 < 64; k0 += 8 {
		for k := k0; k < k0+4; k++ {
			t := ((a[k&63] >> 4) ^ a[(k+4)&63]) & 0x0f0f0f0f0f0f0f0f
			a[k&63] ^= t << 4
			a[(k+4)&63] ^= t
		}
	}
	for k0 := 0; k0 < 64; k0 += 4 {
		for k := k0; k < k0+2; k++ {
			t := ((a[k&63] >> 2) ^ a[(k+2)&63]) & 0x3333333333333333
			a[k&63] ^= t << 2
			a[(k+2)&63] ^= t
		}
	}
	for k := 0; k < 64; k += 2 {
		t := ((a[k&63] >> 1) ^ a[(k+1)&63]) & 0x5555555555555555
		a[k&63] ^= t << 1
		a[(k+1)&63] ^= t
	}
}

// fingerprint hashes a peer's words, so that a replan can tell without a
// copy of the old bitset whether the peer's holdings changed (a chunk set
// may well be updated in place). Each step is a bijection of the word, so a
// change in one word always shows. Four lanes keep the multiplies
// independent; each half of need gets its own, so the halves can be
// hashed at the same time (joinPrints).
type fingerprint [4]uint64

func (f *fingerprint) add(w int, x uint64) {
	l := &f[w&3]
	*l = (*l ^ x) * 0x9e3779b97f4a7c15
	*l ^= *l >> 29
}

func (f *fingerprint) sum() uint64 {
	h := uint64(0)
	for _, l := range f {
		h = (h ^ l) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	return h
}

func joinPrints(first, second uint64) uint64 {
	return mix(first) ^ second
}

// fingerprintOf is the fingerprint classify computes for a peer with these
// words, over the non-zero words of domain, in the same two halves.
func fingerprintOf(words, domain []uint64) uint64 {
	var halves [2]fingerprint
	half := len(domain) / 2
	for h, r := range [2][2]int{{0, half}, {half, len(domain)}} {
		for w := r[0]; w < r[1]; w++ {
			if domain[w] != 0 {
				halves[h].add(w, words[w])
			}
		}
	}
	return joinPrints(halves[0].sum(), halves[1].sum())
}

// layout numbers the classes and their cells. A cell is a (class, holder)
// pair, an edge of the flow graph; each class also has one unowned cell,
// last, for chunks not assigned to anyone (unavailable, or released by a
// replan). Holders are peer indices, with the origin as index peers.
type layout struct {
	peers     int
	cellBase  []int32 // class c's cells are cellBase[c] .. cellBase[c+1]-1
	cellPeer  []int32 // holder of each cell; -1 for the unowned cell
	cellClass []int32
	size      []int64 // needed chunks per class
	first     []int32 // per class: its lowest chunk when it was found, a name for tie-breaks
}

func (l *layout) classes() int { return len(l.size) }

func (l *layout) cells() int { return len(l.cellPeer) }

func (l *layout) unowned(c int32) int32 { return l.cellBase[c+1] - 1 }

// holders are class c's holders in increasing order, the origin last.
func (l *layout) holders(c int32) []int32 { return l.cellPeer[l.cellBase[c] : l.cellBase[c+1]-1] }

// peerHolders is how many peers, not counting the origin, hold class c.
func (l *layout) peerHolders(c int32) int {
	h := l.holders(c)
	if len(h) > 0 && int(h[len(h)-1]) == l.peers {
		return len(h) - 1
	}
	return len(h)
}

// cellOf is the cell of class c held by peer p, or c's unowned cell if p
// does not hold c.
func (l *layout) cellOf(c, p int32) int32 {
	h := l.holders(c)
	if i, ok := slices.BinarySearch(h, p); ok {
		return l.cellBase[c] + int32(i)
	}
	return l.unowned(c)
}

// closeClass ends the class whose holders were just appended: it adds the
// origin, when there is one, and the unowned cell.
func (l *layout) closeClass(origin bool) {
	if origin {
		l.cellPeer = append(l.cellPeer, int32(l.peers))
	}
	l.cellPeer = append(l.cellPeer, -1)
	l.cellBase = append(l.cellBase, int32(len(l.cellPeer)))
}

func (l *layout) fillCellClass() {
	l.cellClass = make([]int32, len(l.cellPeer))
	for c := range l.classes() {
		for k := l.cellBase[c]; k < l.cellBase[c+1]; k++ {
			l.cellClass[k] = int32(c)
		}
	}
}

// newLayout lays out the classes of a grouping among peers holders.
func newLayout(g *grouping, peers int, origin bool) *layout {
	cells := len(g.size)
	if origin {
		cells *= 2
	}
	for _, w := range g.table.keys {
		cells += bits.OnesCount64(w)
	}
	l := &layout{peers: peers, cellBase: make([]int32, 1, len(g.size)+1), cellPeer: make([]int32, 0, cells), size: g.size, first: g.first}
	for c := range g.size {
		for b, w := range g.holders(c) {
			for ; w != 0; w &= w - 1 {
				l.cellPeer = append(l.cellPeer, int32(b<<6|bits.TrailingZeros64(w)))
			}
		}
		l.closeClass(origin)
	}
	l.fillCellClass()
	return l
}

// remap lays out the same classes after peers changed index, left
// (newIndex[p] < 0) or the origin came or went, and returns where each old
// cell went: to the same holder's new cell, or to its class's unowned cell.
// The classes are kept as they are, even when two end up with the same
// holders: the flow does not mind, and merging would cost a hash per class.
func (l *layout) remap(newIndex []int32, peers int, origin bool) (*layout, []int32) {
	n := &layout{peers: peers, cellBase: []int32{0}, size: slices.Clone(l.size), first: l.first}
	cellMap := make([]int32, l.cells())
	for c := range int32(l.classes()) {
		start := len(n.cellPeer)
		for _, p := range l.holders(c) {
			if q := newIndex[p]; q >= 0 && q < int32(peers) { // the origin is added by closeClass
				n.cellPeer = append(n.cellPeer, q)
			}
		}
		slices.Sort(n.cellPeer[start:])
		n.closeClass(origin)
		for k := l.cellBase[c]; k < l.cellBase[c+1]; k++ {
			q := int32(-1)
			if p := l.cellPeer[k]; p >= 0 {
				q = newIndex[p]
			}
			cellMap[k] = n.cellOf(c, q)
		}
	}
	n.fillCellClass()
	return n, cellMap
}
