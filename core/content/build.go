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
	// Progress, when set, is called as the bytes are read for hashing,
	// with how many were read so far and how many there are in all: once
	// per chunk, from one goroutine. It must return quickly.
	Progress func(read, total int64)
}

// reader is r, telling opts.Progress what was read of total.
func (opts BuildOptions) reader(r io.Reader, total int64) io.Reader {
	if opts.Progress == nil {
		return r
	}
	opts.Progress(0, total)
	return &progressReader{r: r, total: total, progress: opts.Progress}
}

type progressReader struct {
	r           io.Reader
	read, total int64
	progress    func(read, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.read += int64(n)
		p.progress(p.read, p.total)
	}
	return n, err
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
	if m.Hashes, err = HashChunks(ctx, opts.reader(io.NewSectionReader(f, 0, m.Size), m.Size), m.Size, m.ChunkSize, opts.Workers); err != nil {
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

// BuildFolder streams every regular file under dir once, in path order,
// and returns the manifest of the folder as one content (Files set; see
// Manifest), and the Stat of each file's descriptor as it was read. The
// name is the folder's base name unless opts gives one, and Created the
// newest modification time of its files. A symlink, a device or any
// other file that is not regular or a folder is refused, as is a path
// ValidatePath refuses; files are opened one at a time.
func BuildFolder(ctx context.Context, dir string, opts BuildOptions) (*Manifest, []os.FileInfo, error) {
	fail := func(err error) (*Manifest, []os.FileInfo, error) {
		return nil, nil, fmt.Errorf("build manifest of folder %s: %w", dir, err)
	}
	m := &Manifest{Name: opts.Name, ChunkSize: opts.ChunkSize, Origin: opts.Origin, Files: []File{}}
	if m.Name == "" {
		m.Name = filepath.Base(dir)
	}
	var newest time.Time
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file (%s)", p, d.Type())
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if err := ValidatePath(rel); err != nil {
			return err
		}
		if len(m.Files) == MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrFiles, MaxFiles)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m.Files = append(m.Files, File{Path: rel, Size: fi.Size()})
		m.Size += fi.Size()
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	m.Created = newest.Truncate(time.Second).UTC()
	if m.ChunkSize == 0 {
		m.ChunkSize = ChunkSizeFor(m.Size)
	}
	if err := ValidateName(m.Name); err != nil {
		return fail(err)
	}
	if err := validateShape(m.Size, m.ChunkSize); err != nil {
		return fail(err)
	}
	if err := validateFiles(m.Files, m.Size); err != nil {
		return fail(err)
	}
	r := &folderReader{dir: dir, files: m.Files}
	defer r.close()
	if m.Hashes, err = HashChunks(ctx, opts.reader(r, m.Size), m.Size, m.ChunkSize, opts.Workers); err != nil {
		return fail(err)
	}
	if r.err != nil {
		return fail(r.err)
	}
	return m, r.stats, nil
}

// folderReader reads a folder's files one after the other, each opened
// when the one before ends and checked to be as long as listed.
type folderReader struct {
	dir   string
	files []File
	next  int
	f     *os.File
	left  int64 // bytes of f still to read
	stats []os.FileInfo
	err   error // why a file did not match its listing
}

func (r *folderReader) Read(p []byte) (int, error) {
	for r.f == nil || r.left == 0 {
		if r.f != nil {
			r.f.Close()
			r.f = nil
		}
		if r.next == len(r.files) {
			return 0, io.EOF
		}
		file := r.files[r.next]
		r.next++
		f, err := os.Open(filepath.Join(r.dir, filepath.FromSlash(file.Path)))
		if err != nil {
			return 0, err
		}
		fi, err := f.Stat()
		if err == nil && (!fi.Mode().IsRegular() || fi.Size() != file.Size) {
			err = fmt.Errorf("%s: %w", file.Path, errChanged)
		}
		if err != nil {
			f.Close()
			r.err = err
			return 0, err
		}
		r.f, r.left = f, file.Size
		r.stats = append(r.stats, fi)
	}
	n, err := r.f.Read(p[:min(int64(len(p)), r.left)])
	r.left -= int64(n)
	if err == io.EOF && r.left > 0 {
		err = fmt.Errorf("%s: %w", r.files[r.next-1].Path, errChanged)
	} else if err == io.EOF {
		err = nil
	}
	return n, err
}

func (r *folderReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}
