package chunkset

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"
)

// MaxChunks bounds the length of a Set, so that a length read from the
// network cannot make a decoder allocate without limit (2^26 bits = 8 MiB).
const MaxChunks = 1 << 26

// Set is a fixed-length set of chunk indices, 64 to a word. Bits past Len
// in the last word are always zero; the word-at-a-time code relies on it.
// The zero Set is an empty set of no chunks.
type Set struct {
	words []uint64
	n     int
	// changes counts the calls that may have changed the set (see Changes).
	changes uint64
}

// New returns an empty set of n chunks. It panics if n is negative or
// above MaxChunks, as make does for a bad length: lengths from outside go
// through FromBytes, which returns an error instead.
func New(n int) *Set {
	if n < 0 || n > MaxChunks {
		panic(fmt.Sprintf("chunkset: set length %d out of range [0, %d]", n, MaxChunks))
	}
	return &Set{words: make([]uint64, wordCount(n)), n: n}
}

func wordCount(n int) int { return (n + 63) >> 6 }

// Len is the number of chunks the set describes.
func (b *Set) Len() int { return b.n }

func (b *Set) check(i int) {
	if uint(i) >= uint(b.n) {
		panic(fmt.Sprintf("chunkset: chunk %d out of range [0, %d)", i, b.n))
	}
}

// Set adds chunk i; it panics if i is out of range.
func (b *Set) Set(i int) {
	b.check(i)
	b.words[i>>6] |= 1 << (i & 63)
	b.changes++
}

// Clear removes chunk i; it panics if i is out of range.
func (b *Set) Clear(i int) {
	b.check(i)
	b.words[i>>6] &^= 1 << (i & 63)
	b.changes++
}

// Has reports whether chunk i is in the set; it panics if i is out of range.
func (b *Set) Has(i int) bool {
	b.check(i)
	return b.words[i>>6]&(1<<(i&63)) != 0
}

// Count is the number of chunks in the set.
func (b *Set) Count() int {
	c := 0
	for _, w := range b.words {
		c += bits.OnesCount64(w)
	}
	return c
}

// Any reports whether the set holds at least one chunk.
func (b *Set) Any() bool {
	for _, w := range b.words {
		if w != 0 {
			return true
		}
	}
	return false
}

// Full reports whether the set holds every chunk (true for length 0).
func (b *Set) Full() bool {
	return b.Count() == b.n
}

// Fill adds every chunk.
func (b *Set) Fill() {
	for i := range b.words {
		b.words[i] = ^uint64(0)
	}
	if r := b.n & 63; r != 0 {
		b.words[len(b.words)-1] = 1<<r - 1
	}
	b.changes++
}

// All yields the chunks in the set in increasing order.
func (b *Set) All() iter.Seq[int] {
	return func(yield func(int) bool) {
		for wi, w := range b.words {
			for w != 0 {
				if !yield(wi<<6 | bits.TrailingZeros64(w)) {
					return
				}
				w &= w - 1
			}
		}
	}
}

// Clone returns an independent copy.
func (b *Set) Clone() *Set {
	return &Set{words: append([]uint64(nil), b.words...), n: b.n}
}

// Equal reports whether both sets have the same length and chunks.
func (b *Set) Equal(o *Set) bool {
	if b.n != o.n {
		return false
	}
	for i, w := range b.words {
		if o.words[i] != w {
			return false
		}
	}
	return true
}

// Or adds every chunk of o; it panics if the lengths differ.
func (b *Set) Or(o *Set) {
	b.sameLen(o)
	for i, w := range o.words {
		b.words[i] |= w
	}
	b.changes++
}

// AndNot removes every chunk of o; it panics if the lengths differ.
// need.AndNot(have) is what is left to fetch.
func (b *Set) AndNot(o *Set) {
	b.sameLen(o)
	for i, w := range o.words {
		b.words[i] &^= w
	}
	b.changes++
}

// Intersects reports whether b and o share a chunk; it panics if the
// lengths differ.
func (b *Set) Intersects(o *Set) bool {
	b.sameLen(o)
	for i, w := range o.words {
		if b.words[i]&w != 0 {
			return true
		}
	}
	return false
}

func (b *Set) sameLen(o *Set) {
	if b.n != o.n {
		panic(fmt.Sprintf("chunkset: set lengths differ: %d and %d", b.n, o.n))
	}
}

// Words is a read-only view of the set, chunk i at bit i%64 of word i/64,
// for word-at-a-time work: ceil(Len/64) words, bits past Len zero. Writing
// through it would break that invariant or hide the change from Changes;
// build a set word by word with FromWords instead.
func (b *Set) Words() []uint64 { return b.words }

// Changes counts the calls that may have changed the set since it was made
// (Set, Clear, Fill, Or, AndNot, each counting once even when it was a
// no-op). It never decreases, so a reader that kept the pointer and the
// count can tell in O(1) that the set still holds the chunks it held then:
// the planner's Replan uses it to skip regrouping a peer's chunks. The
// count is only meaningful together with the pointer: a Clone, or a set
// from FromBytes or FromWords, starts again at zero.
func (b *Set) Changes() uint64 { return b.changes }

// Bytes is the wire form: ceil(Len/8) bytes, chunk i at bit 7-i%8 of byte
// i/8 (most significant bit first, as in BitTorrent's bitfield).
func (b *Set) Bytes() []byte {
	p := make([]byte, 8*len(b.words))
	for i, w := range b.words {
		// Reverse64 puts chunk 0 at the top bit; ReverseBytes64 moves it back
		// into the lowest byte, which little-endian writes first.
		binary.LittleEndian.PutUint64(p[8*i:], bits.ReverseBytes64(bits.Reverse64(w)))
	}
	n := (b.n + 7) / 8
	return p[:n:n]
}

// FromBytes decodes the wire form of a set of n chunks. It rejects a
// length outside [0, MaxChunks] before allocating, a buffer that is not
// exactly ceil(n/8) bytes, and padding bits past n that are set.
func FromBytes(p []byte, n int) (*Set, error) {
	if n < 0 || n > MaxChunks {
		return nil, fmt.Errorf("decode bitset: length %d out of range [0, %d]", n, MaxChunks)
	}
	if want := (n + 7) / 8; len(p) != want {
		return nil, fmt.Errorf("decode bitset of %d chunks: got %d bytes, want %d", n, len(p), want)
	}
	if r := n & 7; r != 0 && p[len(p)-1]&(0xff>>r) != 0 {
		return nil, fmt.Errorf("decode bitset of %d chunks: padding bits are set", n)
	}
	b := New(n)
	var full [8]byte
	for i := range b.words {
		clear(full[:])
		copy(full[:], p[i*8:])
		b.words[i] = bits.Reverse64(bits.ReverseBytes64(binary.LittleEndian.Uint64(full[:])))
	}
	return b, nil
}

// FromWords returns a set of n chunks whose words are a copy of words, in
// the layout of Words: chunk i at bit i%64 of words[i/64]. It is for
// building a set a word at a time. Like FromBytes it rejects a length
// outside [0, MaxChunks], a slice that is not exactly ceil(n/64) words,
// and bits past n that are set.
func FromWords(words []uint64, n int) (*Set, error) {
	if n < 0 || n > MaxChunks {
		return nil, fmt.Errorf("set from words: length %d out of range [0, %d]", n, MaxChunks)
	}
	if want := wordCount(n); len(words) != want {
		return nil, fmt.Errorf("set of %d chunks from words: got %d words, want %d", n, len(words), want)
	}
	if r := n & 63; r != 0 && words[len(words)-1]>>r != 0 {
		return nil, fmt.Errorf("set of %d chunks from words: bits past the end are set", n)
	}
	return &Set{words: append(make([]uint64, 0, len(words)), words...), n: n}, nil
}
