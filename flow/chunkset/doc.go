// Package chunkset is the chunk set: a fixed-length set of chunk indices,
// which chunks of one content a peer holds, needs or has verified.
//
// A Set of Len chunks is stored 64 to a word, chunk i at bit i%64 of word
// i/64; bits past Len in the last word are always zero, which lets the
// word-at-a-time code (Count, Or, AndNot, the planner's grouping) ignore
// the length.
//
// Its wire form, Bytes, is what peers send in bitfield messages and the
// tracker stores: ceil(Len/8) bytes, chunk i at bit 7-i%8 of byte i/8
// (most significant bit first, as in BitTorrent's bitfield), padding bits
// zero. FromBytes decodes it and rejects anything else.
//
// MaxChunks (2^26) bounds the length, so that a length read from the
// network cannot make a decoder allocate without limit.
//
// The package is a leaf: the planner (package flow), the store, the
// tracker and its client, and the GUI all use it, and it imports none of
// them.
package chunkset
