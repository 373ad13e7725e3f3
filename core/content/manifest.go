package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds every manifest must respect. They are checked before anything is
// allocated for a manifest that came from outside.
const (
	MinChunkSize = 16 << 10 // 16 KiB
	MaxChunkSize = 16 << 20 // 16 MiB
	MaxSize      = 1 << 40  // 1 TiB
	MaxNameLen   = 255      // bytes of UTF-8
	MaxOriginLen = 2048     // bytes
	// MaxChunks bounds the chunk count, so a manifest's hash list stays
	// within 32 MiB and a have-bitfield within 128 KiB.
	MaxChunks = 1 << 20
	// MaxFiles and MaxPathLen bound a folder content's file list.
	MaxFiles   = 10_000
	MaxPathLen = 1024 // bytes of a relative path
	// MaxEncodedSize bounds a canonical manifest's encoding.
	MaxEncodedSize = headerSize + 3*binary.MaxVarintLen64 + MaxNameLen + MaxOriginLen +
		MaxFiles*(MaxPathLen+2*binary.MaxVarintLen64) + MaxChunks*sha256.Size
)

// DefaultChunkSize is the chunk size for files of up to 16 GiB. Measured on
// loopback, 256 KiB–1 MiB chunks were fastest; larger files get larger
// chunks so that a manifest has at most 65,536 chunks (2 MiB of hashes).
const DefaultChunkSize = 256 << 10

// maxDefaultChunks is the chunk count above which ChunkSizeFor grows the
// chunk size.
const maxDefaultChunks = 1 << 16

// Validation errors. Each violation wraps one of these, so callers can tell
// them apart with errors.Is.
var (
	ErrNameEmpty     = errors.New("file name is empty")
	ErrNameTooLong   = fmt.Errorf("file name is longer than %d bytes", MaxNameLen)
	ErrNameSeparator = errors.New(`file name contains a path separator ("/" or "\")`)
	ErrNameDots      = errors.New(`file name is "." or ".."`)
	ErrNameControl   = errors.New("file name contains a NUL or control character")
	ErrNameUTF8      = errors.New("file name is not valid UTF-8")
	ErrChunkSize     = fmt.Errorf("chunk size is not a power of two between %d KiB and %d MiB", MinChunkSize>>10, MaxChunkSize>>20)
	ErrTooLarge      = errors.New("file is larger than 1 TiB")
	ErrNegativeSize  = errors.New("file size is negative")
	ErrTooManyChunks = fmt.Errorf("more than %d chunks", MaxChunks)
	ErrChunkCount    = errors.New("number of chunk hashes does not match the file size")
	ErrOrigin        = errors.New("origin URL is not an absolute http(s) URL")
	ErrOriginTooLong = fmt.Errorf("origin URL is longer than %d bytes", MaxOriginLen)
	ErrEncoding      = errors.New("malformed manifest encoding")
	ErrCreated       = errors.New("created time is before 1970 or after 9999")
	ErrFiles         = errors.New("bad file list")
)

// Manifest describes one shared file, or one shared folder: then Files
// lists its files, whose bytes, one after the other in that order, are
// the content (chunks span file boundaries).
type Manifest struct {
	Name      string     // plain file (or folder) name, no directories
	Size      int64      // bytes
	ChunkSize int64      // bytes per chunk; the last chunk may be shorter
	Hashes    [][32]byte // SHA-256 of every chunk, in order
	Origin    string     // optional http(s) URL that serves the whole file
	Created   time.Time  // the shared file's modification time, whole seconds
	Files     []File     // a folder's files; nil for a single file
}

// File is one file of a folder content.
type File struct {
	Path string // relative, "/"-separated: "video/seg-001.ts"
	Size int64
}

// FileSpan returns where file i of a folder content lies in its bytes.
func (m *Manifest) FileSpan(i int) (offset, size int64) {
	for _, f := range m.Files[:i] {
		offset += f.Size
	}
	return offset, m.Files[i].Size
}

// FindFile returns the index of the file at path, or -1.
func (m *Manifest) FindFile(path string) int {
	for i, f := range m.Files {
		if f.Path == path {
			return i
		}
	}
	return -1
}

// ChunkSizeFor returns the default chunk size for a file of size bytes.
func ChunkSizeFor(size int64) int64 {
	cs := int64(DefaultChunkSize)
	for cs < MaxChunkSize && ChunkCount(size, cs) > maxDefaultChunks {
		cs <<= 1
	}
	return cs
}

// ChunkCount returns how many chunks of chunkSize bytes cover size bytes.
func ChunkCount(size, chunkSize int64) int {
	if size <= 0 || chunkSize <= 0 {
		return 0
	}
	return int((size + chunkSize - 1) / chunkSize)
}

// NumChunks returns the number of chunks of m.
func (m *Manifest) NumChunks() int { return len(m.Hashes) }

// ChunkLen returns the length in bytes of chunk i.
func (m *Manifest) ChunkLen(i int) int64 {
	off := int64(i) * m.ChunkSize
	return min(m.ChunkSize, m.Size-off)
}

// ChunkOffset returns the byte offset of chunk i in the file.
func (m *Manifest) ChunkOffset(i int) int64 { return int64(i) * m.ChunkSize }

// Validate reports the first rule m breaks, or nil.
func (m *Manifest) Validate() error {
	if err := ValidateName(m.Name); err != nil {
		return err
	}
	if err := validateShape(m.Size, m.ChunkSize); err != nil {
		return err
	}
	if got, want := len(m.Hashes), ChunkCount(m.Size, m.ChunkSize); got != want {
		return fmt.Errorf("%w: %d hashes for %d bytes in %d-byte chunks (want %d)", ErrChunkCount, got, m.Size, m.ChunkSize, want)
	}
	if c := m.Created.Unix(); c < 0 || c > maxCreated {
		return fmt.Errorf("%w: %d", ErrCreated, c)
	}
	if m.Files != nil {
		if err := validateFiles(m.Files, m.Size); err != nil {
			return err
		}
	}
	return ValidateOrigin(m.Origin)
}

// validateFiles checks a folder's file list: 1 to MaxFiles files whose
// sizes add up to size, each at a valid relative path (see ValidatePath),
// none twice, and none where another needs a folder. Paths are compared
// as Windows and macOS do by default, whatever the case: two paths that
// differ only in case would be one file there, and the download could
// not be written out.
func validateFiles(files []File, size int64) error {
	if len(files) == 0 || len(files) > MaxFiles {
		return fmt.Errorf("%w: %d files (1 to %d)", ErrFiles, len(files), MaxFiles)
	}
	var sum int64
	paths := make(map[string]string, len(files)) // by the path in lower case
	for _, f := range files {
		if err := ValidatePath(f.Path); err != nil {
			return err
		}
		if f.Size < 0 || f.Size > MaxSize {
			return fmt.Errorf("%w: %q has %d bytes", ErrFiles, f.Path, f.Size)
		}
		key := strings.ToLower(f.Path)
		switch other, ok := paths[key]; {
		case ok && other == f.Path:
			return fmt.Errorf("%w: %q twice", ErrFiles, f.Path)
		case ok:
			return fmt.Errorf("%w: %q and %q differ only in case (one file on Windows and macOS)", ErrFiles, other, f.Path)
		}
		paths[key] = f.Path
		sum += f.Size
	}
	dirs := make(map[string]string) // each folder's spelling, by the folder in lower case
	for _, p := range paths {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			lower := strings.ToLower(dir)
			if file, ok := paths[lower]; ok {
				return fmt.Errorf("%w: %q is a file and a folder of %q", ErrFiles, file, p)
			}
			if other, ok := dirs[lower]; ok && other != dir {
				return fmt.Errorf("%w: folders %q and %q differ only in case (one folder on Windows and macOS)", ErrFiles, other, dir)
			}
			dirs[lower] = dir
		}
	}
	if sum != size {
		return fmt.Errorf("%w: the files hold %d bytes, the content %d", ErrFiles, sum, size)
	}
	return nil
}

// ValidatePath checks a relative path of a folder's file: "/"-separated
// names that each pass ValidateName (so no "..", no absolute path, no
// empty part), at most MaxPathLen bytes.
func ValidatePath(p string) error {
	if p == "" || len(p) > MaxPathLen {
		return fmt.Errorf("%w: path of %d bytes", ErrFiles, len(p))
	}
	for _, part := range strings.Split(p, "/") {
		if err := ValidateName(part); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrFiles, truncate(p, 80), err)
		}
	}
	return nil
}

// maxCreated is the last second of year 9999, the last a timestamp in JSON
// or RFC 3339 can show.
const maxCreated = 253402300799

// validateShape checks size and chunk size, and that the chunk count they
// imply is within bounds.
func validateShape(size, chunkSize int64) error {
	switch {
	case size < 0:
		return ErrNegativeSize
	case size > MaxSize:
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	case chunkSize < MinChunkSize || chunkSize > MaxChunkSize || bits.OnesCount64(uint64(chunkSize)) != 1:
		return fmt.Errorf("%w: %d", ErrChunkSize, chunkSize)
	case ChunkCount(size, chunkSize) > MaxChunks:
		return fmt.Errorf("%w: %d bytes in %d-byte chunks", ErrTooManyChunks, size, chunkSize)
	}
	return nil
}

// ValidateName checks that name is a plain file name that is safe to create
// in any folder on any OS Peerflow runs on.
func ValidateName(name string) error {
	switch {
	case name == "":
		return ErrNameEmpty
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes", ErrNameTooLong, len(name))
	case !utf8.ValidString(name):
		return fmt.Errorf("%q: %w", name, ErrNameUTF8)
	case name == "." || name == "..":
		return fmt.Errorf("%q: %w", name, ErrNameDots)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%q: %w", name, ErrNameSeparator)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%q: %w", name, ErrNameControl)
		}
	}
	return nil
}

// ValidateOrigin checks an optional origin URL: empty, or absolute http(s)
// with a host.
func ValidateOrigin(origin string) error {
	if origin == "" {
		return nil
	}
	if len(origin) > MaxOriginLen {
		return fmt.Errorf("%w: %d bytes", ErrOriginTooLong, len(origin))
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: %w", truncate(origin, 80), ErrOrigin)
	}
	return nil
}

// Canonical encoding, version 1 (all integers big-endian):
//
//	"PFM" 0x01            magic and version
//	uint64 size
//	uint8  log2(chunk size)
//	int64  created, Unix seconds
//	uvarint len, name bytes
//	uvarint len, origin bytes
//	32 bytes per chunk    SHA-256 hashes; their count follows from size
//
// A folder's manifest is version 2: "PFM" 0x02, the same fields, and
// after the origin its file list: uvarint count, then per file uvarint
// len, path bytes, uvarint size. A single file's manifest stays version
// 1, so its ID does not change.
//
// The chunk count is implied, never stored, so it cannot disagree with the
// size. One manifest has exactly one encoding, so the ID is well defined.
const (
	magic       = "PFM\x01"
	magicFolder = "PFM\x02"
	headerSize  = len(magic) + 8 + 1 + 8
)

// Encode returns the canonical encoding of m. m must be valid.
func (m *Manifest) Encode() []byte {
	b := make([]byte, 0, headerSize+2*binary.MaxVarintLen64+len(m.Name)+len(m.Origin)+len(m.Hashes)*sha256.Size)
	if m.Files != nil {
		b = append(b, magicFolder...)
	} else {
		b = append(b, magic...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = append(b, byte(bits.TrailingZeros64(uint64(m.ChunkSize))))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created.Unix()))
	b = binary.AppendUvarint(b, uint64(len(m.Name)))
	b = append(b, m.Name...)
	b = binary.AppendUvarint(b, uint64(len(m.Origin)))
	b = append(b, m.Origin...)
	if m.Files != nil {
		b = binary.AppendUvarint(b, uint64(len(m.Files)))
		for _, f := range m.Files {
			b = binary.AppendUvarint(b, uint64(len(f.Path)))
			b = append(b, f.Path...)
			b = binary.AppendUvarint(b, uint64(f.Size))
		}
	}
	for i := range m.Hashes {
		b = append(b, m.Hashes[i][:]...)
	}
	return b
}

// ID returns the content ID of m.
func (m *Manifest) ID() ID { return sha256.Sum256(m.Encode()) }

// Decode parses and validates a canonical encoding. Nothing is allocated
// before the lengths that decide its size have been checked.
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrEncoding, len(b), MaxEncodedSize)
	}
	if len(b) < headerSize || string(b[:len(magic)]) != magic && string(b[:len(magic)]) != magicFolder {
		return nil, fmt.Errorf("%w: bad magic or version", ErrEncoding)
	}
	folder := string(b[:len(magic)]) == magicFolder
	p := b[len(magic):]
	size := binary.BigEndian.Uint64(p)
	shift := p[8]
	created := int64(binary.BigEndian.Uint64(p[9:]))
	p = p[17:]
	if size > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	if shift >= 63 {
		return nil, fmt.Errorf("%w: 2^%d", ErrChunkSize, shift)
	}
	m := &Manifest{Size: int64(size), ChunkSize: 1 << shift, Created: time.Unix(created, 0).UTC()}
	if err := validateShape(m.Size, m.ChunkSize); err != nil {
		return nil, err
	}
	var err error
	if m.Name, p, err = decodeString(p, MaxNameLen, "name"); err != nil {
		return nil, err
	}
	if m.Origin, p, err = decodeString(p, MaxOriginLen, "origin"); err != nil {
		return nil, err
	}
	if folder {
		if m.Files, p, err = decodeFiles(p); err != nil {
			return nil, err
		}
	}
	n := ChunkCount(m.Size, m.ChunkSize)
	if len(p) != n*sha256.Size {
		return nil, fmt.Errorf("%w: %d bytes of hashes for %d chunks", ErrChunkCount, len(p), n)
	}
	m.Hashes = make([][32]byte, n)
	for i := range m.Hashes {
		copy(m.Hashes[i][:], p[i*sha256.Size:])
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	// A padded varint would decode to the same manifest from other bytes;
	// only the canonical bytes may name it.
	if !bytes.Equal(m.Encode(), b) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrEncoding)
	}
	return m, nil
}

// decodeFiles reads a folder's file list; the count is checked against
// MaxFiles and the bytes left before the list is allocated.
func decodeFiles(p []byte) ([]File, []byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n == 0 || n > MaxFiles || n > uint64(len(p)-k)/3 { // a file takes at least 3 bytes
		return nil, nil, fmt.Errorf("%w: bad file count", ErrEncoding)
	}
	p = p[k:]
	files := make([]File, n)
	for i := range files {
		var err error
		if files[i].Path, p, err = decodeString(p, MaxPathLen, "path"); err != nil {
			return nil, nil, err
		}
		size, k := binary.Uvarint(p)
		if k <= 0 || size > MaxSize {
			return nil, nil, fmt.Errorf("%w: bad file size", ErrEncoding)
		}
		files[i].Size, p = int64(size), p[k:]
	}
	return files, p, nil
}

// decodeString reads a uvarint length of at most limit and that many bytes.
func decodeString(p []byte, limit int, what string) (string, []byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return "", nil, fmt.Errorf("%w: bad %s length", ErrEncoding, what)
	}
	p = p[k:]
	if n > uint64(limit) || n > uint64(len(p)) {
		return "", nil, fmt.Errorf("%w: %s length %d", ErrEncoding, what, n)
	}
	return string(p[:n]), p[n:], nil
}
