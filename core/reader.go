package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync/atomic"
	"time"

	"peerflow/core/content"
	"peerflow/core/store"
)

// Errors of reading a content.
var (
	ErrNotHere = errors.New("this content is not in the library: download it first")
	ErrPaused  = errors.New("the download of this content is paused: resume it to read on")
)

// Reader reads a content of the library, from anywhere in it (it is an
// io.ReadSeeker, as HTTP range requests want), while it downloads: a read
// of bytes not here yet makes the download fetch in order from there and
// waits until they are verified. Only verified bytes are ever read. A
// Reader is for one goroutine; Close it.
type Reader struct {
	ctx  context.Context
	m    *content.Manifest
	d    *Download // nil for a complete content
	f    io.ReaderAt
	file io.Closer
	pos  int64
	wake chan struct{} // a chunk was verified, or the download's state changed
	stop func()        // ends the event subscription
	// The read-ahead: bytes read since the first read, and the chunk it
	// was last asked from (see ahead).
	read   int64
	since  time.Time
	asked  int
	closed bool   // set by Close, under the Download's lock (see want)
	id     uint64 // names its deadlines to the scheduler (see ahead)
}

// readerIDs numbers the Readers of this process.
var readerIDs atomic.Uint64

// The read-ahead of a Reader: the chunks after the one it reads that it
// will want within readAhead at the rate it reads, at least minAhead and
// at most maxAhead, are asked for at once of whatever source can send
// them (sched.Urgent: a peer, a sharer, the origin server); what lies
// beyond follows the plan, in order from the reader.
const (
	readAhead = 4 * time.Second
	minAhead  = 2
	maxAhead  = 8
)

// OpenContent returns a Reader of content id, which must be in the
// library: complete, or downloading. ctx bounds every wait for chunks.
func (n *Node) OpenContent(ctx context.Context, id content.ID) (*Reader, error) {
	for {
		e, err := n.store.Get(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("content %s: %w", id.Short(), ErrNotHere)
		}
		if err != nil {
			return nil, err
		}
		if e.Complete() {
			f, err := store.OpenEntry(&e)
			if err != nil {
				return nil, err
			}
			return &Reader{ctx: ctx, m: e.Manifest, f: f, file: f, asked: -1}, nil
		}
		n.mu.Lock()
		d := n.downloads[id]
		n.mu.Unlock()
		if d == nil {
			// Finished just now (the entry says so on the next look), or
			// not running at all.
			if e, err := n.store.Get(id); err == nil && e.Complete() {
				continue
			}
			return nil, fmt.Errorf("content %s is not downloading: %w", id.Short(), ErrNotHere)
		}
		r := &Reader{ctx: ctx, m: e.Manifest, d: d, wake: make(chan struct{}, 1), asked: -1, id: readerIDs.Add(1)}
		r.stop = d.Subscribe(func(ev Event) {
			if ev.Kind != EventPeer {
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
		})
		part, err := d.t.OpenFile()
		if err == nil {
			r.f, r.file = part, part
			return r, nil
		}
		r.stop()
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("content %s: %w", id.Short(), err)
		}
		// The part file moved into place: the download is finishing.
		select {
		case <-d.Done():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if d.Progress().State != StateComplete {
			return nil, fmt.Errorf("content %s: the download ended: %s", id.Short(), d.Progress().State)
		}
	}
}

// Manifest describes the content.
func (r *Reader) Manifest() *content.Manifest { return r.m }

// Read reads from the current position, waiting for its chunk if needed.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.readChunk(p, r.pos)
	r.pos += int64(n)
	return n, err
}

// ahead asks, once per chunk read, for the chunks after c that the reader
// will soon want.
func (r *Reader) ahead(c int) {
	if r.d == nil || c == r.asked {
		return
	}
	r.asked = c
	now := time.Now()
	if r.since.IsZero() {
		r.since = now
	}
	elapsed := now.Sub(r.since)
	if elapsed <= 0 || r.read == 0 {
		return // no read rate yet: the plan, in order from here, goes first
	}
	rate := float64(r.read) / elapsed.Seconds()
	n := int(rate * readAhead.Seconds() / float64(r.m.ChunkSize))
	r.d.t.Forget(r.id) // the deadlines of where it read before, if it moved
	for k := 1; k <= min(max(n, minAhead), maxAhead) && c+k < r.m.NumChunks(); k++ {
		if r.d.t.Has(c + k) {
			continue
		}
		// Chunk c+k is due when the reader, at its rate, gets there.
		r.d.t.Urgent(r.id, c+k, time.Duration(float64(r.m.ChunkOffset(c+k)-r.pos)/rate*float64(time.Second)))
	}
}

// ReadAt reads len(p) bytes at off (fewer only at the end, with io.EOF),
// waiting for each chunk they lie in, as Read does; it does not move the
// position.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 {
		k, err := r.readChunk(p, off)
		n, p, off = n+k, p[k:], off+int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readChunk reads from off up to the end of its chunk (or of p), once
// the chunk is verified; io.EOF only at the end of the content.
func (r *Reader) readChunk(p []byte, off int64) (int, error) {
	if off >= r.m.Size {
		return 0, io.EOF
	}
	c := int(off / r.m.ChunkSize)
	if err := r.await(c); err != nil {
		return 0, err
	}
	r.ahead(c)
	end := min(r.m.ChunkOffset(c)+r.m.ChunkLen(c), r.m.Size)
	n, err := r.f.ReadAt(p[:min(int64(len(p)), end-off)], off)
	r.read += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// await returns once chunk c is verified.
func (r *Reader) await(c int) error {
	if r.d == nil || r.d.t.Has(c) {
		return nil
	}
	for !r.d.t.Has(c) {
		select {
		case <-r.d.Done():
			if r.d.t.Has(c) {
				return nil
			}
			return fmt.Errorf("read %s: the download ended: %s", r.m.Name, r.d.Progress().State)
		default:
		}
		if r.d.t.Paused() {
			return ErrPaused
		}
		r.d.want(r, c)
		select {
		case <-r.wake:
		case <-r.d.Done():
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
	return nil
}

// Seek sets the position for the next Read.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.m.Size
	}
	if offset < 0 {
		return r.pos, errors.New("seek before the start")
	}
	r.pos = offset
	return offset, nil
}

// Close ends the Reader.
func (r *Reader) Close() error {
	if r.d != nil {
		r.stop()
		r.d.unwant(r)
	}
	return r.file.Close()
}
