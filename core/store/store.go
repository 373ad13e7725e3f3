package store

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"peerflow/core/content"
	"peerflow/core/peer"
)

// Buckets of the database.
var (
	bucketMeta      = []byte("meta")
	bucketManifests = []byte("manifests") // content ID → canonical manifest
	bucketLibrary   = []byte("library")   // content ID → Entry (JSON)
	bucketVerified  = []byte("verified")  // content ID → wire-form bitset of durable chunks
	// keyOldPeerID held the random peer ID of releases before identity
	// keys; Open deletes it.
	keyOldPeerID = []byte("peer_id")
)

// DBName is the database file inside a node's data folder; KeyName is
// the node's identity key beside it (see package peer), readable by its
// owner only.
const (
	DBName  = "peerflow.db"
	KeyName = "identity.key"
)

// ErrInUse is returned when another process has the data folder open.
var ErrInUse = errors.New("the data folder is in use by another Peerflow process")

// ErrNotFound is returned for a content the library does not hold.
var ErrNotFound = errors.New("not in the library")

// Store is a node's on-disk state. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	dir    string
	key    ed25519.PrivateKey
	peerID peer.ID
}

// Open opens (or creates) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open data folder: %w", err)
	}
	path := filepath.Join(dir, DBName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, dir: dir}
	// The key is read under the database's lock, so two processes never
	// race to create it.
	if s.key, err = loadKey(filepath.Join(dir, KeyName)); err != nil {
		db.Close()
		return nil, err
	}
	s.peerID = peer.KeyID(s.key)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketManifests, bucketLibrary, bucketVerified} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(keyOldPeerID)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise %s: %w", path, err)
	}
	return s, nil
}

// loadKey reads the identity key at path, or makes one there if there is
// none. The file is opened without following a symlink and kept at mode
// 0600.
func loadKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open identity key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("identity key %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return nil, fmt.Errorf("identity key %s is readable by others and cannot be restricted: %w", path, err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, peer.MaxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read identity key %s: %w", path, err)
	}
	k, err := peer.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w (move it away to make a new identity)", path, err)
	}
	return k, nil
}

// createKey makes a new identity key at path, durably: written to a
// temporary file, synced, renamed into place, and the folder synced.
func createKey(path string) (ed25519.PrivateKey, error) {
	k := peer.NewKey()
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create identity key: %w", err)
	}
	_, err = f.Write(peer.EncodeKey(k))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("create identity key: %w", err)
	}
	return k, nil
}

// Close closes the database. Parts must be closed first.
func (s *Store) Close() error { return s.db.Close() }

// Dir is the data folder.
func (s *Store) Dir() string { return s.dir }

// Key is this node's identity key, made on first open and kept.
func (s *Store) Key() ed25519.PrivateKey { return s.key }

// PeerID is the peer ID of Key.
func (s *Store) PeerID() peer.ID { return s.peerID }

// Kind says whether an entry is shared from a local file or downloaded.
type Kind string

// Kinds of library entries.
const (
	KindShare    Kind = "share"
	KindDownload Kind = "download"
)

// Entry is one item of the library.
type Entry struct {
	ID   content.ID `json:"id"`
	Kind Kind       `json:"kind"`
	// Path is the file served in place: the shared file, or the finished
	// download. Empty while a download is unfinished.
	Path string `json:"path,omitempty"`
	// Stamp is the file's as recorded when it was shared or finished; a
	// file that no longer matches is not served. Of a folder content,
	// Path is the folder and Files has the stamp of each of its files.
	Stamp
	Files []Stamp `json:"files,omitempty"`
	// Folder is where a download goes.
	Folder string `json:"folder,omitempty"`
	// Trackers and AnyTracker say which trackers not added by hand hear
	// of a download (trackerapi.Pool.Reach): those named in its link or
	// that listed it, or every one.
	Trackers   []string `json:"trackers,omitempty"`
	AnyTracker bool     `json:"any_tracker,omitempty"`
	// Origin is the origin URL a download's link named (ws=); the
	// manifest's own, if any, is used when it is empty.
	Origin string `json:"origin,omitempty"`
	// Secret is the swarm secret of a private content (from its link, or
	// made when it was shared); nil for a public one.
	Secret *content.Secret `json:"secret,omitempty"`
	Paused bool            `json:"paused,omitempty"`
	Added  time.Time       `json:"added"`
	// Manifest is loaded from the manifests bucket, not stored in the entry.
	Manifest *content.Manifest `json:"-"`
}

// Complete reports whether the entry's file is whole and served in place.
func (e *Entry) Complete() bool { return e.Path != "" }

// PutManifest stores a manifest (e.g. one fetched from a tracker).
func (s *Store) PutManifest(m *content.Manifest) error {
	id := m.ID()
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketManifests).Put(id[:], m.Encode())
	})
}

// Manifest returns a stored manifest.
func (s *Store) Manifest(id content.ID) (*content.Manifest, error) {
	var m *content.Manifest
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		m, err = manifestIn(tx, id)
		return err
	})
	return m, err
}

func manifestIn(tx *bolt.Tx, id content.ID) (*content.Manifest, error) {
	v := tx.Bucket(bucketManifests).Get(id[:])
	if v == nil {
		return nil, fmt.Errorf("manifest %s: %w", id.Short(), ErrNotFound)
	}
	// The database is on disk and could be damaged: decode validates.
	m, err := content.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("stored manifest %s: %w", id.Short(), err)
	}
	if m.ID() != id {
		return nil, fmt.Errorf("stored manifest %s: holds content %s", id.Short(), m.ID().Short())
	}
	return m, nil
}

// Put adds or replaces a library entry, storing its manifest too.
func (s *Store) Put(e Entry) error {
	if e.Manifest == nil {
		return errors.New("library entry without a manifest")
	}
	v, err := marshalEntry(e)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketManifests).Put(e.ID[:], e.Manifest.Encode()); err != nil {
			return err
		}
		return tx.Bucket(bucketLibrary).Put(e.ID[:], v)
	})
}

// Get returns one library entry with its manifest.
func (s *Store) Get(id content.ID) (Entry, error) {
	var e Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLibrary).Get(id[:])
		if v == nil {
			return fmt.Errorf("%s: %w", id.Short(), ErrNotFound)
		}
		var err error
		e, err = decodeEntry(tx, id[:], v)
		return err
	})
	return e, err
}

func marshalEntry(e Entry) ([]byte, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode library entry: %w", err)
	}
	return v, nil
}

// decodeEntry reads the library record v filed under key. The database is
// on disk and could be damaged: a record that names another content than
// its key, or that the node could not act on, is refused.
func decodeEntry(tx *bolt.Tx, key, v []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return Entry{}, fmt.Errorf("library entry: %w", err)
	}
	if !bytes.Equal(e.ID[:], key) {
		return Entry{}, fmt.Errorf("library entry filed under %x names content %s", key, e.ID.Short())
	}
	switch {
	case e.Kind != KindShare && e.Kind != KindDownload:
		return Entry{}, fmt.Errorf("library entry %s: unknown kind %.20q", e.ID.Short(), e.Kind)
	case e.Kind == KindShare && e.Path == "":
		return Entry{}, fmt.Errorf("library entry %s: a share without a path", e.ID.Short())
	case e.Kind == KindDownload && e.Path == "" && e.Folder == "":
		return Entry{}, fmt.Errorf("library entry %s: a download without a folder", e.ID.Short())
	}
	m, err := manifestIn(tx, e.ID)
	if err != nil {
		return Entry{}, err
	}
	e.Manifest = m
	return e, nil
}

// Entries returns the whole library. A damaged entry is skipped, not fatal:
// the rest of the library stays usable.
func (s *Store) Entries() ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLibrary).ForEach(func(k, v []byte) error {
			if e, err := decodeEntry(tx, k, v); err == nil {
				out = append(out, e)
			}
			return nil
		})
	})
	return out, err
}

// Remove forgets an entry and its download state. Files are left alone.
func (s *Store) Remove(id content.ID) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketVerified).Delete(id[:]); err != nil {
			return err
		}
		return tx.Bucket(bucketLibrary).Delete(id[:])
	})
}

// ErrChanged is returned when a shared or finished file no longer matches
// what was recorded: it must be shared again before it is served.
var ErrChanged = errors.New("the file changed on disk since it was shared; share it again")

// FileID names a file on its device (device and inode numbers), so that
// another file put at the same path, or a symlink, is told from it. It is
// zero where the OS gives no such numbers.
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// Stamp is what is recorded of a file served in place: its size,
// modification time and file ID.
type Stamp struct {
	Size    int64     `json:"size,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	File    FileID    `json:"file,omitzero"`
}

func stampOf(fi os.FileInfo) Stamp {
	return Stamp{Size: fi.Size(), ModTime: fi.ModTime(), File: fileIDOf(fi)}
}

// matches reports ErrChanged unless fi (the Lstat or Stat of path) is the
// stamped file.
func (st *Stamp) matches(path string, fi os.FileInfo) error {
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is no longer a regular file (%s): %w", path, fi.Mode().Type(), ErrChanged)
	case st.File != (FileID{}) && fileIDOf(fi) != st.File:
		return fmt.Errorf("%s is another file now: %w", path, ErrChanged)
	case fi.Size() != st.Size || !fi.ModTime().Equal(st.ModTime):
		return fmt.Errorf("%s: %w", path, ErrChanged)
	}
	return nil
}

// isFolder reports whether e is a folder content.
func (e *Entry) isFolder() bool { return e.Manifest != nil && e.Manifest.Files != nil }

// filePath is where file i of a folder entry is.
func (e *Entry) filePath(i int) string {
	return filepath.Join(e.Path, filepath.FromSlash(e.Manifest.Files[i].Path))
}

// CheckFile verifies that the path of a complete entry still names the
// file recorded (every file recorded, for a folder): a regular file, not
// a symlink, with the same device and inode, size and modification time.
// An entry recorded before file IDs were kept takes the ID of the file it
// finds, if all else matches.
func CheckFile(e *Entry) error {
	if e.isFolder() {
		if len(e.Files) != len(e.Manifest.Files) {
			return fmt.Errorf("%s: %d files recorded, %d in the content: %w", e.Path, len(e.Files), len(e.Manifest.Files), ErrChanged)
		}
		for i := range e.Files {
			fi, err := os.Lstat(e.filePath(i))
			if err != nil {
				return fmt.Errorf("shared file %s: %w", e.filePath(i), err)
			}
			if err := e.Files[i].matches(e.filePath(i), fi); err != nil {
				return err
			}
		}
		return nil
	}
	fi, err := os.Lstat(e.Path)
	if err != nil {
		return fmt.Errorf("shared file %s: %w", e.Path, err)
	}
	if err := e.Stamp.matches(e.Path, fi); err != nil {
		return err
	}
	if id := fileIDOf(fi); e.File == (FileID{}) && id != (FileID{}) {
		e.File = id
	}
	return nil
}

// OpenRegular opens path for reading, refusing a symlink at its end and
// anything but a regular file; it returns the file and its Stat.
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Content is a complete entry's bytes, open for reading: a file, or the
// files of a folder one after the other.
type Content interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
}

// OpenEntry opens a complete entry's bytes for serving. What it checks
// (device and inode, size, modification time) is checked on each open
// descriptor, so the bytes read are those of the recorded file even if
// the path is swapped a moment later.
func OpenEntry(e *Entry) (Content, error) {
	if e.isFolder() {
		if len(e.Files) != len(e.Manifest.Files) {
			return nil, fmt.Errorf("%s: %w", e.Path, ErrChanged)
		}
		return &folder{e: *e, open: make(map[int]*os.File)}, nil
	}
	return openStamped(e.Path, &e.Stamp)
}

// openStamped opens path and checks, on the descriptor, that it is the
// stamped file.
func openStamped(path string, st *Stamp) (*os.File, error) {
	f, fi, err := OpenRegular(path)
	if err != nil {
		if lfi, lerr := os.Lstat(path); lerr == nil {
			if merr := st.matches(path, lfi); merr != nil {
				return nil, merr // a symlink or another file swapped in
			}
		}
		return nil, fmt.Errorf("shared file: %w", err)
	}
	if err := st.matches(path, fi); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ShareEntry builds the library entry for sharing the file at path, whose
// manifest m was just built from it; fi is the file's Stat.
func ShareEntry(m *content.Manifest, path string, fi os.FileInfo) Entry {
	return Entry{ID: m.ID(), Kind: KindShare, Path: path, Stamp: stampOf(fi), Added: time.Now(), Manifest: m}
}

// FolderEntry builds the library entry for sharing the folder dir as one
// content, whose manifest m was just built from it (content.BuildFolder);
// stats are its files' Stats, in m.Files order.
func FolderEntry(m *content.Manifest, dir string, stats []os.FileInfo) Entry {
	e := Entry{ID: m.ID(), Kind: KindShare, Path: dir, Added: time.Now(), Manifest: m}
	for _, fi := range stats {
		e.Files = append(e.Files, stampOf(fi))
	}
	return e
}

// folder reads the files of a folder entry one after the other. It keeps
// a few of them open, each checked against its stamp when opened.
type folder struct {
	e    Entry
	pos  int64
	open map[int]*os.File
}

// maxOpenFiles bounds the descriptors a folder keeps open.
const maxOpenFiles = 8

func (f *folder) file(i int) (*os.File, error) {
	if fh := f.open[i]; fh != nil {
		return fh, nil
	}
	if len(f.open) >= maxOpenFiles {
		for k, fh := range f.open {
			fh.Close()
			delete(f.open, k)
			break
		}
	}
	fh, err := openStamped(f.e.filePath(i), &f.e.Files[i])
	if err != nil {
		return nil, err
	}
	f.open[i] = fh
	return fh, nil
}

// ReadAt reads across the files that hold [off, off+len(p)).
func (f *folder) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	var start int64
	for i, file := range f.e.Manifest.Files {
		if len(p) == 0 {
			break
		}
		end := start + file.Size
		if off < end {
			fh, err := f.file(i)
			if err != nil {
				return n, err
			}
			k, err := fh.ReadAt(p[:min(int64(len(p)), end-off)], off-start)
			n += k
			if err != nil && !(err == io.EOF && off+int64(k) == end) {
				return n, err
			}
			p, off = p[k:], off+int64(k)
		}
		start = end
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

func (f *folder) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *folder) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.e.Manifest.Size
	}
	if offset < 0 {
		return f.pos, errors.New("seek before the start")
	}
	f.pos = offset
	return offset, nil
}

func (f *folder) Close() error {
	var err error
	for _, fh := range f.open {
		err = errors.Join(err, fh.Close())
	}
	clear(f.open)
	return err
}

// syncDir fsyncs the folder dir, so that a file just linked or renamed
// in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
