package content

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// BuildOptions tune Build. The zero value picks defaults.
type BuildOptions struct {
	Name      string // "": the file's base name
	ChunkSize int64  // 0: ChunkSizeFor(size)
	Origin    string // optional origin URL recorded in the manifest
	Workers   int    // hashing goroutines; 0: GOMAXPROCS
}

// Build streams the open file f once, from its start, and returns its
// manifest. The name is the file's base name unless opts gives one, and
// Created its modification time, so the same file gives the same content
// ID on every run and on every machine that has an identical copy. Memory
// stays at about two chunk buffers per worker, whatever the file's size.
func Build(ctx context.Context, f *os.File, opts BuildOptions) (*Manifest, error) {
	path := f.Name()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("build manifest: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("build manifest: %s is not a regular file", path)
	}
	if opts.Name == "" {
		opts.Name = filepath.Base(path)
	}
	m := &Manifest{
		Name:      opts.Name,
		Size:      fi.Size(),
		ChunkSize: opts.ChunkSize,
		Origin:    opts.Origin,
		Created:   fi.ModTime().Truncate(time.Second).UTC(),
	}
	if m.ChunkSize == 0 {
		m.ChunkSize = ChunkSizeFor(m.Size)
	}
	if err := ValidateName(m.Name); err != nil {
		return nil, fmt.Errorf("build manifest of %s: %w", path, err)
	}
	if err := validateShape(m.Size, m.ChunkSize); err != nil {
		return nil, fmt.Errorf("build manifest of %s: %w", path, err)
	}
	if m.Hashes, err = HashChunks(ctx, io.NewSectionReader(f, 0, m.Size), m.Size, m.ChunkSize, opts.Workers); err != nil {
		return nil, fmt.Errorf("build manifest of %s: %w", path, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("build manifest of %s: %w", path, err)
	}
	return m, nil
}

// errChanged reports a file that is not the size it was said to be.
var errChanged = errors.New("file changed while it was being hashed")

// HashChunks reads size bytes from r in chunkSize pieces, in order, and
// returns the SHA-256 of each. One goroutine reads; workers hash in
// parallel. Buffers circulate through a fixed pool, so memory is bounded
// by 2×workers chunk buffers.
func HashChunks(ctx context.Context, r io.Reader, size, chunkSize int64, workers int) ([][32]byte, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := ChunkCount(size, chunkSize)
	hashes := make([][32]byte, n)
	type job struct {
		i   int
		buf []byte
	}
	free := make(chan []byte, 2*workers)
	for range cap(free) {
		free <- make([]byte, chunkSize)
	}
	jobs := make(chan job, cap(free))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				hashes[j.i] = sha256.Sum256(j.buf)
				free <- j.buf[:cap(j.buf)]
			}
		})
	}
	err := func() error {
		defer close(jobs)
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			buf := (<-free)[:min(chunkSize, size-int64(i)*chunkSize)]
			if _, err := io.ReadFull(r, buf); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					return errChanged
				}
				return err
			}
			jobs <- job{i, buf}
		}
		return nil
	}()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	// A file that grew since it was measured would be served with bytes
	// the manifest does not describe.
	var probe [1]byte
	if k, _ := r.Read(probe[:]); k > 0 {
		return nil, errChanged
	}
	return hashes, nil
}
