package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"peerflow/core/testtools"
)

// writeRandomFile writes size pseudo-random bytes (seeded) to dir/name.
func writeRandomFile(t testing.TB, dir, name string, size int64, seed uint64) string {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func validManifest() *Manifest {
	return &Manifest{
		Name:      "film.mkv",
		Size:      3*MinChunkSize + 5,
		ChunkSize: MinChunkSize,
		Hashes:    make([][32]byte, 4),
		Origin:    "https://example.com/film.mkv",
		Created:   time.Unix(1700000000, 0).UTC(),
	}
}

func TestIDTextForms(t *testing.T) {
	id := ID(sha256.Sum256([]byte("peerflow")))
	s := id.String()
	if len(s) != 52 {
		t.Fatalf("text form %q has %d characters, want 52", s, len(s))
	}
	for _, text := range []string{s, strings.ToUpper(s), "9b" + strings.Repeat("0", 62)} {
		got, err := ParseID(text)
		if err != nil {
			t.Fatalf("ParseID(%q): %v", text, err)
		}
		if text == s && got != id {
			t.Errorf("round trip changed the ID")
		}
	}
	if id.Short() != s[:12] {
		t.Errorf("Short() = %q", id.Short())
	}
	// 256 bits take 51 characters and 1 bit of the 52nd; a text with the
	// 52nd's 4 unused bits set would be a second spelling of the same ID.
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	v := strings.IndexByte(alphabet, s[51])
	alt := s[:51] + string(alphabet[v|1])
	if _, err := ParseID(alt); !errors.Is(err, ErrBadID) {
		t.Errorf("ParseID accepted the non-canonical spelling %q: %v", alt, err)
	}
	for _, bad := range []string{"", "abc", s[:51], s + "a", strings.Repeat("1", 52), strings.Repeat("z", 63) + "g"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) error = %v, want ErrBadID", bad, err)
		}
	}
}

func TestIDJSONText(t *testing.T) {
	id := ID(sha256.Sum256([]byte("x")))
	b, _ := id.MarshalText()
	var got ID
	if err := got.UnmarshalText(b); err != nil || got != id {
		t.Fatalf("UnmarshalText(%s) = %v, %v", b, got, err)
	}
	if err := got.UnmarshalText([]byte("nope")); err == nil {
		t.Fatal("UnmarshalText accepted garbage")
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := validManifest()
	for i := range m.Hashes {
		m.Hashes[i] = sha256.Sum256([]byte{byte(i)})
	}
	enc := m.Encode()
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != m.ID() || got.ID() != ID(sha256.Sum256(enc)) {
		t.Fatal("decoded manifest has another ID")
	}
	if got.Name != m.Name || got.Size != m.Size || got.ChunkSize != m.ChunkSize ||
		got.Origin != m.Origin || !got.Created.Equal(m.Created) || len(got.Hashes) != len(m.Hashes) {
		t.Fatalf("round trip: got %+v, want %+v", got, m)
	}
	if got.ChunkLen(3) != 5 || got.ChunkLen(0) != MinChunkSize || got.ChunkOffset(2) != 2*MinChunkSize {
		t.Errorf("chunk geometry wrong: len(3)=%d len(0)=%d off(2)=%d", got.ChunkLen(3), got.ChunkLen(0), got.ChunkOffset(2))
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Manifest)
		want   error
	}{
		{"valid", func(*Manifest) {}, nil},
		{"empty name", func(m *Manifest) { m.Name = "" }, ErrNameEmpty},
		{"long name", func(m *Manifest) { m.Name = strings.Repeat("é", 128) }, ErrNameTooLong},
		{"255 bytes ok", func(m *Manifest) { m.Name = strings.Repeat("a", 255) }, nil},
		{"slash", func(m *Manifest) { m.Name = "../etc/passwd" }, ErrNameSeparator},
		{"backslash", func(m *Manifest) { m.Name = `..\boot.ini` }, ErrNameSeparator},
		{"dot", func(m *Manifest) { m.Name = "." }, ErrNameDots},
		{"dotdot", func(m *Manifest) { m.Name = ".." }, ErrNameDots},
		{"nul", func(m *Manifest) { m.Name = "a\x00b" }, ErrNameControl},
		{"newline", func(m *Manifest) { m.Name = "a\nb" }, ErrNameControl},
		{"c1 control", func(m *Manifest) { m.Name = "a\u0085b" }, ErrNameControl},
		{"bad utf8", func(m *Manifest) { m.Name = "a\xffb" }, ErrNameUTF8},
		{"unicode ok", func(m *Manifest) { m.Name = "фильм 電影.mkv" }, nil},
		{"chunk not power of two", func(m *Manifest) { m.ChunkSize = 3 * MinChunkSize }, ErrChunkSize},
		{"chunk too small", func(m *Manifest) { m.ChunkSize = MinChunkSize / 2 }, ErrChunkSize},
		{"chunk too large", func(m *Manifest) { m.ChunkSize = 2 * MaxChunkSize }, ErrChunkSize},
		{"too large", func(m *Manifest) { m.Size = MaxSize + 1 }, ErrTooLarge},
		{"negative", func(m *Manifest) { m.Size = -1 }, ErrNegativeSize},
		{"too many chunks", func(m *Manifest) { m.Size = (MaxChunks + 1) * MinChunkSize }, ErrTooManyChunks},
		{"hash count", func(m *Manifest) { m.Hashes = m.Hashes[:3] }, ErrChunkCount},
		{"origin ftp", func(m *Manifest) { m.Origin = "ftp://example.com/f" }, ErrOrigin},
		{"origin relative", func(m *Manifest) { m.Origin = "/f" }, ErrOrigin},
		{"origin javascript", func(m *Manifest) { m.Origin = "javascript:alert(1)" }, ErrOrigin},
		{"origin long", func(m *Manifest) { m.Origin = "http://e.com/" + strings.Repeat("a", MaxOriginLen) }, ErrOriginTooLong},
		{"no origin ok", func(m *Manifest) { m.Origin = "" }, nil},
		{"created before 1970", func(m *Manifest) { m.Created = time.Unix(-1, 0) }, ErrCreated},
		{"empty file ok", func(m *Manifest) { m.Size = 0; m.Hashes = nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.change(m)
			err := m.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := Decode(m.Encode()); err != nil {
					t.Fatalf("Decode of a valid manifest: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good := validManifest().Encode()
	withByte := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrEncoding},
		{"bad magic", withByte(0, 'X'), ErrEncoding},
		{"bad version", withByte(3, 2), ErrEncoding},
		{"truncated header", good[:headerSize-1], ErrEncoding},
		{"truncated hashes", good[:len(good)-1], ErrChunkCount},
		{"extra bytes", append(bytes.Clone(good), 0), ErrChunkCount},
		{"chunk shift 63", withByte(12, 63), ErrChunkSize},
		{"chunk shift 13", withByte(12, 13), ErrChunkSize},
		{"size over 1 TiB", withByte(4, 0x01), ErrTooLarge},
		{"name length beyond input", withByte(headerSize, 0xff), ErrEncoding},
		{"oversize input", make([]byte, MaxEncodedSize+1), ErrEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want %v", err, tt.want)
			}
		})
	}
	// A padded varint (0x88 0x00 instead of 0x08) decodes to the same
	// manifest; it must be refused so one manifest has one ID.
	nameAt := headerSize
	padded := append(bytes.Clone(good[:nameAt]), good[nameAt]|0x80, 0)
	padded = append(padded, good[nameAt+1:]...)
	if _, err := Decode(padded); !errors.Is(err, ErrEncoding) {
		t.Fatalf("Decode of a padded varint = %v, want ErrEncoding", err)
	}
}

// buildPath opens the file at path and builds its manifest.
func buildPath(ctx context.Context, path string, opts BuildOptions) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Build(ctx, f, opts)
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	cs := int64(MinChunkSize)
	for _, size := range []int64{0, 1, cs - 1, cs, cs + 1, 7*cs + 3} {
		path := writeRandomFile(t, dir, "f.bin", size, uint64(size))
		data, _ := os.ReadFile(path)
		m, err := buildPath(context.Background(), path, BuildOptions{ChunkSize: cs, Workers: 3})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if m.Name != "f.bin" || m.Size != size || m.NumChunks() != ChunkCount(size, cs) {
			t.Fatalf("size %d: manifest %+v", size, m)
		}
		for i := range m.Hashes {
			want := sha256.Sum256(data[m.ChunkOffset(i) : m.ChunkOffset(i)+m.ChunkLen(i)])
			if m.Hashes[i] != want {
				t.Fatalf("size %d: chunk %d hash differs", size, i)
			}
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	path := writeRandomFile(t, t.TempDir(), "same.bin", 5*MinChunkSize+17, 42)
	var ids []ID
	for _, workers := range []int{1, 2, 8} {
		m, err := buildPath(context.Background(), path, BuildOptions{ChunkSize: MinChunkSize, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID())
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("same file gave different IDs: %v", ids)
	}
	// An identical copy with the same modification time is the same content.
	data, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	copyPath := filepath.Join(t.TempDir(), "same.bin")
	if err := os.WriteFile(copyPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(copyPath, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	m, err := buildPath(context.Background(), copyPath, BuildOptions{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID() != ids[0] {
		t.Fatal("identical copy with the same mtime has another ID")
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := buildPath(context.Background(), dir, BuildOptions{}); err == nil {
		t.Error("a folder was accepted")
	}
	path := writeRandomFile(t, dir, "x", 10, 1)
	if _, err := buildPath(context.Background(), path, BuildOptions{ChunkSize: 1000}); !errors.Is(err, ErrChunkSize) {
		t.Errorf("bad chunk size: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := buildPath(ctx, path, BuildOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestHashChunksDetectsChangedSize(t *testing.T) {
	short := bytes.NewReader(make([]byte, 100))
	if _, err := HashChunks(context.Background(), short, 200, MinChunkSize, 2); !errors.Is(err, errChanged) {
		t.Errorf("shrunk file: %v", err)
	}
	long := bytes.NewReader(make([]byte, 300))
	if _, err := HashChunks(context.Background(), long, 200, MinChunkSize, 2); !errors.Is(err, errChanged) {
		t.Errorf("grown file: %v", err)
	}
}

func TestChunkSizeFor(t *testing.T) {
	tests := []struct{ size, want int64 }{
		{0, DefaultChunkSize},
		{1 << 30, DefaultChunkSize},
		{16 << 30, DefaultChunkSize},
		{16<<30 + 1, 512 << 10},
		{MaxSize, MaxChunkSize},
	}
	for _, tt := range tests {
		if got := ChunkSizeFor(tt.size); got != tt.want {
			t.Errorf("ChunkSizeFor(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(validManifest().Encode())
	m := validManifest()
	m.Origin, m.Size, m.Hashes = "", 0, nil
	f.Add(m.Encode())
	f.Add([]byte("PFM\x01"))
	f.Add(folderManifest().Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid manifest: %v", err)
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatal("accepted bytes are not the canonical encoding")
		}
	})
}

// BenchmarkManifest hashes a 256 MiB file (in the page cache) into a
// manifest. of-sha is its rate over SHA-256 of 256 KiB chunks on every
// core (testtools.SHA256 times GOMAXPROCS), measured after each run.
func BenchmarkManifest(b *testing.B) {
	const size = 256 << 20
	path := writeRandomFile(b, b.TempDir(), "bench.bin", size, 7)
	b.SetBytes(size)
	b.ReportAllocs()
	var sha float64
	for b.Loop() {
		if _, err := buildPath(context.Background(), path, BuildOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sha += testtools.SHA256(size) * float64(runtime.GOMAXPROCS(0))
		b.StartTimer()
	}
	sha /= float64(b.N)
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/sha, "of-sha")
	b.ReportMetric(sha/1e6, "sha-MB/s")
}

// TestBuildProgress: the progress callback sees the bytes read grow to
// the total, for a file and for a folder, and a cancelled build stops.
func TestBuildProgress(t *testing.T) {
	dir := t.TempDir()
	const size = 10*MinChunkSize + 5
	path := writeRandomFile(t, dir, "f.bin", size, 3)
	writeRandomFile(t, dir, "g.bin", 3*MinChunkSize, 4)
	var seen []int64
	wantTotal := int64(size)
	record := func(read, total int64) {
		if total != wantTotal {
			t.Errorf("total %d, want %d", total, wantTotal)
		}
		seen = append(seen, read)
	}
	if _, err := buildPath(context.Background(), path, BuildOptions{ChunkSize: MinChunkSize, Progress: record}); err != nil {
		t.Fatal(err)
	}
	if len(seen) < 11 || seen[0] != 0 || seen[len(seen)-1] != size || !slices.IsSorted(seen) {
		t.Errorf("file: progress %v, want 0 … %d, growing, once per chunk", seen, size)
	}
	seen, wantTotal = nil, size+3*MinChunkSize
	if _, _, err := BuildFolder(context.Background(), dir, BuildOptions{ChunkSize: MinChunkSize, Progress: record}); err != nil {
		t.Fatal(err)
	}
	if last := seen[len(seen)-1]; last != size+3*MinChunkSize || !slices.IsSorted(seen) {
		t.Errorf("folder: progress ends at %d, want %d", last, size+3*MinChunkSize)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := buildPath(ctx, path, BuildOptions{ChunkSize: MinChunkSize, Progress: func(read, _ int64) {
		if read > 2*MinChunkSize {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled build: %v", err)
	}
}
