package transfer

import (
	"math/bits"
	"sync"

	"peerflow/core/content"
)

// Chunk buffers come from pools by power-of-two size, so a connection
// holds one only while a chunk is being received and verified: fifty idle
// peers of a 16 MiB-chunk content do not pin 800 MiB.
var bufferPools [maxSizeClass + 1]sync.Pool

// maxSizeClass is the size class of the largest chunk: 2^24 bytes.
const maxSizeClass = 24

// The pools must cover every chunk size a manifest may have.
var _ = [1]struct{}{}[content.MaxChunkSize>>maxSizeClass-1]

// sizeClass is the pool of buffers of at least n bytes.
func sizeClass(n int) int { return bits.Len(uint(max(n, 1) - 1)) }

// getBuffer returns a buffer of length n.
func getBuffer(n int) []byte {
	k := sizeClass(n)
	if k >= len(bufferPools) {
		return make([]byte, n)
	}
	if b, ok := bufferPools[k].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<k)
}

// putBuffer returns a buffer from getBuffer to its pool.
func putBuffer(b []byte) {
	k := sizeClass(cap(b))
	if cap(b) != 1<<k || k >= len(bufferPools) {
		return // not one of ours
	}
	b = b[:0]
	bufferPools[k].Put(&b)
}
