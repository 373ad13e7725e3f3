package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"peerflow/core/content"
	"peerflow/flow/chunkset"
)

// ErrHashMismatch is returned for chunk bytes whose SHA-256 is not the
// manifest's: they are never written.
var ErrHashMismatch = errors.New("chunk does not match its SHA-256 in the manifest")

// ErrIncomplete is returned by Finish while chunks are missing.
var ErrIncomplete = errors.New("download is not complete")

// Part is an unfinished download: a part file in the destination folder
// and the set of chunks verified so far. It is safe for concurrent use;
// PutChunk calls for different chunks run in parallel.
type Part struct {
	s    *Store
	m    *content.Manifest
	id   content.ID
	path string // the part file
	f    *os.File

	mu       sync.Mutex
	verified *chunkset.Set // verified and written (maybe not yet durable)
	durable  *chunkset.Set // as last recorded in the database
	dirty    int           // chunks verified since the last Sync
	closed   bool
}

// PartPath is the hidden file a download of m into folder is written to.
func PartPath(folder string, m *content.Manifest) string {
	suffix := "." + m.ID().Short() + ".part"
	return filepath.Join(folder, "."+fitName(m.Name, content.MaxNameLen-1-len(suffix))+suffix)
}

// RemovePart deletes what an unfinished download of m into folder left
// there: its part file and, for a folder content, a staging folder from a
// stop while it was being placed.
func RemovePart(folder string, m *content.Manifest) error {
	err := os.Remove(PartPath(folder, m))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if m.Files != nil {
		err = errors.Join(err, os.RemoveAll(stagingPath(folder, m)))
	}
	return err
}

// fitName shortens name to at most n bytes, cutting at a character
// boundary, so that what is added around it keeps the whole within the
// file systems' 255-byte limit.
func fitName(name string, n int) string {
	if len(name) <= n {
		return name
	}
	for n > 0 && !utf8.RuneStart(name[n]) {
		n--
	}
	return name[:n]
}

// OpenPart starts or resumes the download of the library entry e (kind
// download). Chunks recorded as durable are kept; the part file is created
// if missing (then nothing is kept).
func (s *Store) OpenPart(e Entry) (*Part, error) {
	m := e.Manifest
	p := &Part{s: s, m: m, id: e.ID, path: PartPath(e.Folder, m)}
	if fi, err := os.Stat(e.Folder); err != nil {
		return nil, fmt.Errorf("download folder: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("download folder %s is not a folder", e.Folder)
	}
	// An existing part file is resumed, a missing one created; never
	// through a symlink, and nothing but a regular file is written to.
	f, err := os.OpenFile(p.path, os.O_RDWR|oNoFollow, 0)
	fresh := errors.Is(err, fs.ErrNotExist)
	if fresh {
		f, err = os.OpenFile(p.path, os.O_RDWR|os.O_CREATE|os.O_EXCL|oNoFollow, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("open part file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", p.path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open part file: %w", err)
	}
	p.f = f
	p.durable = chunkset.New(m.NumChunks())
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketVerified).Get(e.ID[:])
		if v == nil {
			return nil
		}
		b, err := chunkset.FromBytes(v, m.NumChunks())
		if err != nil {
			return fmt.Errorf("stored chunk set: %w", err)
		}
		p.durable = b
		return nil
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	// A part file shorter than the last durable chunk's end was truncated
	// or replaced behind our back: trust none of it.
	if p.durable.Count() > 0 && fi.Size() < p.maxDurableEnd() {
		p.durable = chunkset.New(m.NumChunks())
	}
	// No part file, yet the finished file is in place: the node stopped
	// after placing it and before recording it. It counts as whole, and
	// Finish finds it there instead of downloading it again.
	if fresh && placedBefore(e.Folder, m) {
		p.durable.Fill()
	}
	p.verified = p.durable.Clone()
	if !p.Done() {
		if err := checkRoom(e.Folder, m, f); err != nil {
			f.Close()
			return nil, err
		}
	}
	return p, nil
}

// placedBefore reports whether one of the names Finish would give m in
// folder already holds exactly m's bytes (or, for a folder content, its
// files).
func placedBefore(folder string, m *content.Manifest) bool {
	_, found, _ := findPlaced(folder, m)
	return found
}

// findPlaced looks through the names Finish would give m in folder, in
// order, up to the first free one: it returns the first that holds
// exactly m's content (found), else the free name (found false), else an
// error when every name is taken.
func findPlaced(folder string, m *content.Manifest) (target string, found bool, err error) {
	base, ext := m.Name, ""
	same := sameFolder
	if m.Files == nil {
		base, ext = fileName(m.Name)
		same = sameContent
	}
	for n := range maxNameTries {
		target = filepath.Join(folder, placeName(base, ext, n))
		if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
			return target, false, nil
		}
		if same(target, m) {
			return target, true, nil
		}
	}
	return "", false, fmt.Errorf("move download into place: %d names like %s are taken", maxNameTries, m.Name)
}

// maxDurableEnd is the end offset of the highest durable chunk.
func (p *Part) maxDurableEnd() int64 {
	for i := p.m.NumChunks() - 1; i >= 0; i-- {
		if p.durable.Has(i) {
			return p.m.ChunkOffset(i) + p.m.ChunkLen(i)
		}
	}
	return 0
}

// Manifest is the content being downloaded.
func (p *Part) Manifest() *content.Manifest { return p.m }

// Path is the part file's path.
func (p *Part) Path() string { return p.path }

// Have returns a copy of the verified chunk set.
func (p *Part) Have() *chunkset.Set {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified.Clone()
}

// Has reports whether chunk i is verified.
func (p *Part) Has(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified.Has(i)
}

// Done reports whether every chunk is verified.
func (p *Part) Done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified.Count() == p.m.NumChunks()
}

// PutChunk checks data against chunk i's hash and writes it at the chunk's
// offset. It returns ErrHashMismatch (and writes nothing) for wrong bytes.
// The chunk is verified at once (it may be served and counts as done) and
// becomes durable at the next Sync. It returns false if the chunk was
// already verified (a duplicate, e.g. from the endgame).
func (p *Part) PutChunk(i int, data []byte) (bool, error) {
	if i < 0 || i >= p.m.NumChunks() || int64(len(data)) != p.m.ChunkLen(i) {
		return false, fmt.Errorf("chunk %d: %d bytes do not fit it", i, len(data))
	}
	if sha256.Sum256(data) != p.m.Hashes[i] {
		return false, fmt.Errorf("chunk %d: %w", i, ErrHashMismatch)
	}
	if p.Has(i) {
		return false, nil
	}
	off := p.m.ChunkOffset(i)
	if _, err := p.f.WriteAt(data, off); err != nil {
		if isNoSpace(err) {
			return false, fmt.Errorf("write chunk %d: %w", i, spaceError(filepath.Dir(p.path), p.m, p.f))
		}
		return false, fmt.Errorf("write chunk %d to %s: %w", i, p.path, err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false, os.ErrClosed
	}
	if p.verified.Has(i) {
		return false, nil
	}
	p.verified.Set(i)
	p.dirty++
	return true, nil
}

// Dirty is the number of chunks verified since the last Sync.
func (p *Part) Dirty() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirty
}

// Sync makes every chunk verified so far durable: it fsyncs the part file,
// then records the set in the database (whose commit fsyncs too). After a
// crash, chunks verified after the last Sync are fetched again.
func (p *Part) Sync() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return os.ErrClosed
	}
	snapshot := p.verified.Clone()
	p.dirty = 0
	p.mu.Unlock()
	// Every chunk in snapshot was written (WriteAt returned) before it was
	// added, so this fsync covers them all.
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p.path, err)
	}
	err := p.s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVerified).Put(p.id[:], snapshot.Bytes())
	})
	if err != nil {
		return fmt.Errorf("record verified chunks: %w", err)
	}
	p.mu.Lock()
	p.durable = snapshot
	p.mu.Unlock()
	return nil
}

// StartWriteback starts writing what was written so far to disk, without
// waiting. Called while a download runs, it spreads the disk work over the
// download, so that Sync and the final fsync find little left to do.
func (p *Part) StartWriteback() { startWriteback(p.f) }

// File returns the part file opened anew for reading, so a caller can read
// (or sendfile) verified chunks with its own file position.
func (p *Part) File() (*os.File, error) { return os.OpenFile(p.path, os.O_RDONLY|oNoFollow, 0) }

// Close syncs and closes the part file; the download can be resumed by
// OpenPart later.
func (p *Part) Close() error {
	err := p.Sync()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return errors.Join(err, p.f.Close())
}

// Finish moves a complete download into its folder under the manifest's
// name: fsync, then a link into place that never overwrites a different
// file ("name (1).ext" and so on instead); a folder content's files are
// written out into a new folder (see placeFolder). The file gets the manifest's
// modification time, so sharing it again gives the same content ID. The
// library entry becomes a complete one, served in place from now on.
func (p *Part) Finish(e Entry) (Entry, error) {
	if !p.Done() {
		return e, ErrIncomplete
	}
	if err := p.Close(); err != nil {
		return e, err
	}
	if p.m.Files != nil { // a folder: its files come out of the part file
		var err error
		if e.Path, e.Files, err = placeFolder(p.path, e.Folder, p.m); err != nil {
			return e, err
		}
		return e, p.recordDone(e)
	}
	final, placed, err := placeFile(p.path, e.Folder, p.m)
	if err != nil {
		return e, err
	}
	if placed {
		if err := os.Chtimes(final, time.Now(), p.m.Created); err != nil {
			return e, fmt.Errorf("set modification time of %s: %w", final, err)
		}
	}
	fi, err := os.Stat(final)
	if err != nil {
		return e, err
	}
	e.Path, e.Stamp = final, stampOf(fi)
	return e, p.recordDone(e)
}

// recordDone records e, finished, in the library.
func (p *Part) recordDone(e Entry) error {
	return p.s.db.Update(func(tx *bolt.Tx) error {
		v, err := marshalEntry(e)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketVerified).Delete(e.ID[:]); err != nil {
			return err
		}
		return tx.Bucket(bucketLibrary).Put(e.ID[:], v)
	})
}

// sameContent reports whether path already holds exactly m's bytes (say,
// the same file downloaded before), so no second copy is made.
func sameContent(path string, m *content.Manifest) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() != m.Size {
		return false
	}
	hashes, err := content.HashChunks(context.Background(), f, m.Size, m.ChunkSize, 0)
	return err == nil && slices.Equal(hashes, m.Hashes)
}

// placeFolder puts a complete folder download in place, as a new folder
// in folder named m.Name or the first free "name (n)". Its files are
// written out of the part file into a staging folder next to the part
// (what an earlier try left there is written anew), each file and folder
// fsynced, and the staging folder is renamed into place once whole: a
// folder under that name is either whole or not there, and nothing in
// place is overwritten (rename refuses a folder that is not empty). A
// name that already holds exactly m's files, placed before a stop that
// came before the record, is kept as it is. The part file goes last. It
// returns the folder and its files' stamps.
func placeFolder(part, folder string, m *content.Manifest) (string, []Stamp, error) {
	target, found, err := findPlaced(folder, m)
	if err != nil {
		return "", nil, err
	}
	if !found {
		staging := stagingPath(folder, m)
		if err := stageFolder(part, staging, m); err != nil {
			return "", nil, fmt.Errorf("move download into place: %w", err)
		}
		for !found {
			if err = renameToFree(staging, target); !errors.Is(err, fs.ErrExist) {
				break
			}
			// Taken since it was found free: the next free name.
			target, found, err = findPlaced(folder, m)
			if err != nil {
				break
			}
		}
		if err != nil || found {
			os.RemoveAll(staging)
		}
		if err != nil {
			return "", nil, fmt.Errorf("move download into place: %w", err)
		}
	}
	stamps, err := folderStamps(target, m)
	if err != nil {
		return "", nil, err
	}
	if err := os.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	return target, stamps, syncDir(folder)
}

// stagingPath is where placeFolder builds a folder content before it is
// moved into place: next to its part file, hidden like it.
func stagingPath(folder string, m *content.Manifest) string {
	return strings.TrimSuffix(PartPath(folder, m), ".part") + ".placing"
}

// stageFolder writes m's files out of the part file into a new folder at
// staging (removing what an earlier try left there), every file with the
// content's modification time, and fsyncs every file and folder.
func stageFolder(part, staging string, m *content.Manifest) error {
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := os.Mkdir(staging, 0o755); err != nil {
		return err
	}
	src, err := os.Open(part)
	if err != nil {
		return err
	}
	defer src.Close()
	dirs := map[string]bool{staging: true}
	for i, f := range m.Files {
		path := filepath.Join(staging, filepath.FromSlash(f.Path))
		dir := filepath.Dir(path)
		if !dirs[dir] {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for d := dir; !dirs[d]; d = filepath.Dir(d) {
				dirs[d] = true
			}
		}
		off, size := m.FileSpan(i)
		if err := writeFileFrom(path, io.NewSectionReader(src, off, size), m.Created); err != nil {
			return err
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// renameToFree renames from to to if nothing is at to, else returns an
// error that is fs.ErrExist. (rename(2) would replace an empty folder.)
func renameToFree(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return fs.ErrExist
	}
	err := os.Rename(from, to)
	if _, serr := os.Lstat(to); err != nil && serr == nil {
		return fs.ErrExist
	}
	return err
}

// folderFiles opens m's files under dir, each a regular file of its size
// (never through a symlink), in m's order.
func folderFiles(dir string, m *content.Manifest) ([]*os.File, []os.FileInfo, error) {
	var files []*os.File
	var infos []os.FileInfo
	for _, mf := range m.Files {
		f, fi, err := OpenRegular(filepath.Join(dir, filepath.FromSlash(mf.Path)))
		if err == nil && fi.Size() != mf.Size {
			f.Close()
			err = fmt.Errorf("%s: %d bytes, want %d", mf.Path, fi.Size(), mf.Size)
		}
		if err != nil {
			closeAll(files)
			return nil, nil, err
		}
		files, infos = append(files, f), append(infos, fi)
	}
	return files, infos, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// folderStamps returns the stamps of m's files under dir.
func folderStamps(dir string, m *content.Manifest) ([]Stamp, error) {
	files, infos, err := folderFiles(dir, m)
	if err != nil {
		return nil, fmt.Errorf("move download into place: %w", err)
	}
	closeAll(files)
	stamps := make([]Stamp, len(infos))
	for i, fi := range infos {
		stamps[i] = stampOf(fi)
	}
	return stamps, nil
}

// sameFolder reports whether dir holds m's files with exactly m's bytes
// (files the content does not name may be there too).
func sameFolder(dir string, m *content.Manifest) bool {
	files, _, err := folderFiles(dir, m)
	if err != nil {
		return false
	}
	defer closeAll(files)
	readers := make([]io.Reader, len(files))
	for i, f := range files {
		readers[i] = f
	}
	hashes, err := content.HashChunks(context.Background(), io.MultiReader(readers...), m.Size, m.ChunkSize, 0)
	return err == nil && slices.Equal(hashes, m.Hashes)
}

// writeFileFrom creates path (it must not exist) with r's bytes, fsyncs
// it and sets its modification time.
func writeFileFrom(path string, r io.Reader, mtime time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(path, time.Now(), mtime)
	}
	return err
}

// maxNameTries bounds the "name (n).ext" search.
// placeName is the n-th name a download called base+ext is placed
// under: the name itself, then "base (n)ext", shortened to fit. A file's
// ext is its extension; a folder's is empty.
func placeName(base, ext string, n int) string {
	if n == 0 {
		return base + ext
	}
	tag := fmt.Sprintf(" (%d)", n)
	return fitName(base, content.MaxNameLen-len(tag)-len(ext)) + tag + ext
}

// fileName splits a file's name for placeName.
func fileName(name string) (base, ext string) {
	ext = filepath.Ext(name)
	return strings.TrimSuffix(name, ext), ext
}

// removeSynced removes path and fsyncs its folder, so that the names the
// folder holds after a crash are those it held when this returned: the
// file linked in place, and the part file gone.
func removeSynced(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

const maxNameTries = 1000

// placeFile moves the part file into folder under m.Name, or the first free
// "name (n).ext"; placed is false when an identical file was already there
// and the part was dropped instead. A hard link is atomic and fails if the name exists, so
// nothing is ever overwritten; file systems without hard links fall back
// to a rename after an existence check.
func placeFile(part, folder string, m *content.Manifest) (target string, placed bool, err error) {
	base, ext := fileName(m.Name)
	for n := range maxNameTries {
		target = filepath.Join(folder, placeName(base, ext, n))
		if sameContent(target, m) {
			return target, false, removeSynced(part)
		}
		err = os.Link(part, target)
		if err == nil {
			return target, true, removeSynced(part)
		}
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if _, serr := os.Lstat(target); serr == nil {
			continue
		}
		if err := os.Rename(part, target); err != nil {
			return "", false, fmt.Errorf("move download into place: %w", err)
		}
		return target, true, syncDir(folder)
	}
	return "", false, fmt.Errorf("move download into place: %d files named like %s exist", maxNameTries, m.Name)
}
