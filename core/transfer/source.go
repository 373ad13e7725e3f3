package transfer

import (
	"errors"
	"sync"
	"time"

	"peerflow/core/store"
	"peerflow/flow/chunkset"
)

// Source is where a swarm's chunks are served from.
type Source interface {
	// Has reports whether chunk i may be served.
	Has(i int) bool
	// Bitfield is the wire form of the chunks held.
	Bitfield() []byte
	// Open returns a new read handle on the bytes (each uploader keeps
	// its own, so file positions do not collide).
	Open() (store.Content, error)
	// Check returns an error when the source may no longer be served.
	Check() error
}

// FileSource serves a complete file in place: a shared file or a finished
// download.
type FileSource struct {
	entry store.Entry
	all   []byte

	mu      sync.Mutex
	checked time.Time
	err     error
}

// fileCheckEvery bounds how often the file is stat'ed: often enough that an
// edited file stops being served within a second, rarely enough to cost
// nothing per chunk.
const fileCheckEvery = time.Second

// NewFileSource serves the complete library entry e.
func NewFileSource(e store.Entry) *FileSource {
	all := chunkset.New(e.Manifest.NumChunks())
	all.Fill()
	return &FileSource{entry: e, all: all.Bytes()}
}

func (s *FileSource) Has(int) bool     { return s.Check() == nil }
func (s *FileSource) Bitfield() []byte { return s.all }

// Open opens the file and checks, on the descriptor it returns, that it is
// the file recorded when it was shared (device and inode, size and
// modification time): a symlink or another file put at the path is refused.
func (s *FileSource) Open() (store.Content, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	e := s.entry // Check may fill in its file ID meanwhile
	s.mu.Unlock()
	f, err := store.OpenEntry(&e)
	if errors.Is(err, store.ErrChanged) {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}
	return f, err
}

// Check reports whether the path still names the recorded file. Once
// changed, it stays refused: it must be shared again.
func (s *FileSource) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && time.Since(s.checked) >= fileCheckEvery {
		s.err = store.CheckFile(&s.entry)
		s.checked = time.Now()
	}
	return s.err
}

// PartSource serves the verified chunks of an unfinished download.
type PartSource struct{ P *store.Part }

func (s PartSource) Has(i int) bool               { return s.P.Has(i) }
func (s PartSource) Bitfield() []byte             { return s.P.Have().Bytes() }
func (s PartSource) Open() (store.Content, error) { return s.P.File() }
func (s PartSource) Check() error                 { return nil }
