package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/testtools"
)

const testChunk = content.MinChunkSize

// sample writes a random file of size bytes and returns its path, bytes and
// manifest (16 KiB chunks).
func sample(t testing.TB, dir string, size int64) (string, []byte, *content.Manifest) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, "movie.mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// A fixed modification time gives the same content ID on every run,
	// so a fuzz input naming it reproduces.
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, created, created); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := content.Build(context.Background(), f, content.BuildOptions{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	return path, data, m
}

func chunkOf(data []byte, m *content.Manifest, i int) []byte {
	return data[m.ChunkOffset(i) : m.ChunkOffset(i)+m.ChunkLen(i)]
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func downloadEntry(m *content.Manifest, folder string) Entry {
	return Entry{ID: m.ID(), Kind: KindDownload, Folder: folder, Added: time.Now(), Manifest: m}
}

func TestLibrarySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	path, _, m := sample(t, t.TempDir(), 3*testChunk)
	s := openStore(t, dir)
	id := s.PeerID()
	fi, _ := os.Stat(path)
	if err := s.Put(ShareEntry(m, path, fi)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if s.PeerID() != id {
		t.Error("peer ID changed across a restart")
	}
	entries, err := s.Entries()
	if err != nil || len(entries) != 1 {
		t.Fatalf("Entries = %v, %v", entries, err)
	}
	e := entries[0]
	if e.ID != m.ID() || e.Kind != KindShare || e.Path != path || e.Manifest.ID() != m.ID() || !e.Complete() {
		t.Fatalf("entry after restart: %+v", e)
	}
	if err := CheckFile(&e); err != nil {
		t.Fatalf("unchanged file reported as changed: %v", err)
	}
	if err := s.Remove(m.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(m.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Remove: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal("Remove deleted the shared file")
	}
}

func TestOpenTwiceIsInUse(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	if _, err := Open(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
}

func TestCheckFileDetectsChanges(t *testing.T) {
	path, data, m := sample(t, t.TempDir(), 2*testChunk)
	fi, _ := os.Stat(path)
	e := ShareEntry(m, path, fi)
	// Same size, new content and mtime: an in-place edit.
	data[0] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, time.Now(), fi.ModTime().Add(time.Second))
	if err := CheckFile(&e); !errors.Is(err, ErrChanged) {
		t.Fatalf("edited file: %v, want ErrChanged", err)
	}
	os.Truncate(path, 10)
	if err := CheckFile(&e); !errors.Is(err, ErrChanged) {
		t.Fatalf("truncated file: %v, want ErrChanged", err)
	}
	os.Remove(path)
	if err := CheckFile(&e); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted file: %v", err)
	}
}

// An entry records its file's device and inode: a symlink or another file
// put at its path is refused even with the same size and mtime, and an
// entry recorded without them takes those of the file it finds.
func TestCheckFileKnowsTheFile(t *testing.T) {
	dir := t.TempDir()
	path, data, m := sample(t, dir, 2*testChunk)
	fi, _ := os.Stat(path)
	e := ShareEntry(m, path, fi)
	if e.File == (FileID{}) {
		t.Skip("no file IDs on this OS")
	}
	f, err := OpenEntry(&e)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(other, fi.ModTime(), fi.ModTime())
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(&e); !errors.Is(err, ErrChanged) {
		t.Fatalf("another file at the path: %v, want ErrChanged", err)
	}
	if _, err := OpenEntry(&e); !errors.Is(err, ErrChanged) {
		t.Fatalf("OpenEntry of another file: %v, want ErrChanged", err)
	}
	old := e
	old.File = FileID{} // recorded before file IDs were kept
	old.Size, old.ModTime = fi.Size(), fi.ModTime()
	if err := CheckFile(&old); err != nil || old.File == e.File || old.File == (FileID{}) {
		t.Fatalf("an old entry took %+v (%v); the shared file was %+v", old.File, err, e.File)
	}
	target := filepath.Join(dir, "target")
	if err := errors.Join(os.Rename(path, target), os.Symlink(target, path)); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(&old); !errors.Is(err, ErrChanged) {
		t.Fatalf("a symlink at the path: %v, want ErrChanged", err)
	}
	if _, err := OpenEntry(&old); !errors.Is(err, ErrChanged) {
		t.Fatalf("OpenEntry through a symlink: %v, want ErrChanged", err)
	}
}

func TestDownloadResumesAfterAbruptStop(t *testing.T) {
	dir, folder := t.TempDir(), t.TempDir()
	_, data, m := sample(t, t.TempDir(), 6*testChunk+123)
	s := openStore(t, dir)
	e := downloadEntry(m, folder)
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	p, err := s.OpenPart(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 3} {
		if _, err := p.PutChunk(i, chunkOf(data, m, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	// Chunk 5 is verified but not synced, then its bytes are torn (half
	// overwritten) as by a crash during writeback.
	if _, err := p.PutChunk(5, chunkOf(data, m, 5)); err != nil {
		t.Fatal(err)
	}
	torn := make([]byte, testChunk/2)
	p.f.WriteAt(torn, m.ChunkOffset(5))
	// Abrupt stop: no Part.Close, no Store.Close; just drop the handles.
	p.f.Close()
	s.db.Close()

	s = openStore(t, dir)
	defer s.Close()
	e, err = s.Get(m.ID())
	if err != nil {
		t.Fatal(err)
	}
	p, err = s.OpenPart(e)
	if err != nil {
		t.Fatal(err)
	}
	have := p.Have()
	for i := range m.NumChunks() {
		want := i == 0 || i == 2 || i == 3
		if have.Has(i) != want {
			t.Errorf("after resume chunk %d verified = %v, want %v", i, have.Has(i), want)
		}
	}
	for i := range m.NumChunks() {
		if !have.Has(i) {
			if _, err := p.PutChunk(i, chunkOf(data, m, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	done, err := p.Finish(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(done.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("finished file differs from the original (%v)", err)
	}
	if _, err := os.Stat(p.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("part file left behind")
	}
	// Sharing the finished file again gives the same content ID.
	f, err := os.Open(done.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	again, err := content.Build(context.Background(), f, content.BuildOptions{ChunkSize: testChunk})
	if err != nil || again.ID() != m.ID() {
		t.Fatalf("re-sharing the download gives another ID (%v)", err)
	}
	if e, _ := s.Get(m.ID()); !e.Complete() || CheckFile(&e) != nil {
		t.Fatalf("finished entry %+v not servable", e)
	}
}

func TestPutChunkRejectsBadBytes(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	_, data, m := sample(t, t.TempDir(), 2*testChunk)
	p, err := s.OpenPart(downloadEntry(m, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bad := bytes.Clone(chunkOf(data, m, 1))
	bad[100] ^= 1
	if _, err := p.PutChunk(1, bad); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("corrupt chunk: %v", err)
	}
	if _, err := p.PutChunk(1, bad[:10]); err == nil {
		t.Fatal("short chunk accepted")
	}
	if _, err := p.PutChunk(7, bad); err == nil {
		t.Fatal("chunk out of range accepted")
	}
	if p.Has(1) {
		t.Fatal("a rejected chunk counts as verified")
	}
	part, _ := os.ReadFile(p.Path())
	if len(part) > 0 && bytes.Contains(part, bad[90:110]) {
		t.Fatal("rejected bytes reached the part file")
	}
	fresh, err := p.PutChunk(1, chunkOf(data, m, 1))
	if err != nil || !fresh {
		t.Fatalf("good chunk: %v, %v", fresh, err)
	}
	if dup, err := p.PutChunk(1, chunkOf(data, m, 1)); err != nil || dup {
		t.Fatalf("duplicate chunk: fresh=%v err=%v", dup, err)
	}
	if _, err := p.Finish(downloadEntry(m, t.TempDir())); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Finish of an incomplete download: %v", err)
	}
}

// finishDownload downloads m's chunks from data into folder and finishes.
// fillPart records a download of m into folder and writes every chunk of
// data into its part file.
func fillPart(t *testing.T, s *Store, m *content.Manifest, data []byte, folder string) (Entry, *Part) {
	t.Helper()
	e := downloadEntry(m, folder)
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	p, err := s.OpenPart(e)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.NumChunks() {
		if _, err := p.PutChunk(i, chunkOf(data, m, i)); err != nil {
			t.Fatal(err)
		}
	}
	return e, p
}

func finishDownload(t *testing.T, s *Store, m *content.Manifest, data []byte, folder string) string {
	t.Helper()
	e, p := fillPart(t, s, m, data, folder)
	e, err := p.Finish(e)
	if err != nil {
		t.Fatal(err)
	}
	return e.Path
}

// TestStopBetweenPlacingAndRecording: the node stops after the finished
// file was placed and the part file removed, before the library recorded
// it. Opened again, the download is whole at once (nothing is fetched
// again) and finishing it makes no second copy. Also when another file
// already had the name and the download went to "movie (1).mp4".
func TestStopBetweenPlacingAndRecording(t *testing.T) {
	for _, taken := range []bool{false, true} {
		dir, folder := t.TempDir(), t.TempDir()
		if taken {
			os.WriteFile(filepath.Join(folder, "movie.mp4"), []byte("another movie"), 0o644)
		}
		_, data, m := sample(t, t.TempDir(), 3*testChunk+5)
		s := openStore(t, dir)
		e, p := fillPart(t, s, m, data, folder)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		// What Finish does before it records the entry.
		placed, _, err := placeFile(p.Path(), folder, m)
		if err != nil {
			t.Fatal(err)
		}
		s.Close() // the stop

		s = openStore(t, dir)
		e, err = s.Get(m.ID())
		if err != nil || e.Complete() {
			t.Fatalf("entry after the stop: complete %v, %v", e.Complete(), err)
		}
		p, err = s.OpenPart(e)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Done() {
			t.Fatalf("taken %v: reopened with %d of %d chunks: the placed file is not found", taken, p.Have().Count(), m.NumChunks())
		}
		e, err = p.Finish(e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Path != placed {
			t.Errorf("taken %v: finished at %s, want the placed %s", taken, e.Path, placed)
		}
		want := []string{filepath.Base(placed)}
		if taken {
			want = []string{"movie (1).mp4", "movie.mp4"}
		}
		var names []string
		entries, _ := os.ReadDir(folder)
		for _, de := range entries {
			names = append(names, de.Name())
		}
		if !slices.Equal(names, want) {
			t.Errorf("taken %v: the folder holds %q, want %q", taken, names, want)
		}
		if got, err := s.Get(m.ID()); err != nil || !got.Complete() {
			t.Errorf("taken %v: not recorded as complete: %v", taken, err)
		}
		s.Close()
	}
}

func TestFinishNeverOverwrites(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	_, data, m := sample(t, t.TempDir(), testChunk+5)
	folder := t.TempDir()
	other := []byte("somebody else's movie")
	os.WriteFile(filepath.Join(folder, "movie.mp4"), other, 0o644)
	os.WriteFile(filepath.Join(folder, "movie (1).mp4"), other, 0o644)

	got := finishDownload(t, s, m, data, folder)
	if filepath.Base(got) != "movie (2).mp4" {
		t.Fatalf("placed at %s, want movie (2).mp4", got)
	}
	for _, name := range []string{"movie.mp4", "movie (1).mp4"} {
		if b, _ := os.ReadFile(filepath.Join(folder, name)); !bytes.Equal(b, other) {
			t.Fatalf("%s was overwritten", name)
		}
	}
	// The same content again: the identical file is reused, not copied.
	if again := finishDownload(t, s, m, data, folder); again != got {
		t.Fatalf("identical download placed at %s, want %s", again, got)
	}
}

func TestUnusableFolder(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	_, _, m := sample(t, t.TempDir(), testChunk)
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	for _, folder := range []string{notDir, filepath.Join(t.TempDir(), "missing")} {
		if _, err := s.OpenPart(downloadEntry(m, folder)); err == nil {
			t.Errorf("OpenPart in %s succeeded", folder)
		}
	}
}

// TestDiskFull writes through a part file swapped for /dev/full, which
// fails every write with ENOSPC: the error is clear and nothing verified
// is lost. (OpenPart itself refuses a symlink or a device at its path.)
func TestDiskFull(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_RDWR, 0)
	if err != nil {
		t.Skip("no /dev/full on this system")
	}
	s := openStore(t, t.TempDir())
	defer s.Close()
	_, data, m := sample(t, t.TempDir(), 3*testChunk)
	p, err := s.OpenPart(downloadEntry(m, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	p.f.Close()
	p.f = full
	defer p.Close()
	_, err = p.PutChunk(0, chunkOf(data, m, 0))
	var se *SpaceError
	if !errors.As(err, &se) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("write to a full disk: %v", err)
	}
	if se.Name != m.Name || se.Needed != m.Size {
		t.Errorf("the error says %s needs %d bytes, want %s and %d", se.Name, se.Needed, m.Name, m.Size)
	}
	if p.Has(0) {
		t.Fatal("an unwritten chunk counts as verified")
	}
}

// TestRoomIsCheckedBeforeWriting: a download whose folder has less free
// space than the part file still needs does not start: the error names
// the folder and the space needed. Once space is freed it opens, and a
// resumed part file needs only what it has not written yet.
func TestRoomIsCheckedBeforeWriting(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	_, data, m := sample(t, t.TempDir(), 64*testChunk)
	folder := t.TempDir()
	e := downloadEntry(m, folder)
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	free := int64(testChunk)
	defer func(f func(string) (int64, bool)) { freeSpace = f }(freeSpace)
	freeSpace = func(string) (int64, bool) { return free, true }

	_, err := s.OpenPart(e)
	var se *SpaceError
	if !errors.As(err, &se) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("open with %d bytes free: %v", free, err)
	}
	if se.Folder != folder || se.Needed != m.Size || se.Free != free || !strings.Contains(err.Error(), folder) {
		t.Errorf("error %q: folder %s, needed %d, free %d; want %s, %d, %d", err, se.Folder, se.Needed, se.Free, folder, m.Size, free)
	}

	free = 1 << 40 // space freed
	p, err := s.OpenPart(e)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 32 {
		if _, err := p.PutChunk(i, chunkOf(data, m, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	// Half written: room for the other half is enough.
	free = m.Size/2 + 2*testChunk
	if p, err = s.OpenPart(e); err != nil {
		t.Fatalf("resume with room for the rest: %v", err)
	}
	p.Close()
}

func TestLongNamesFit(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	_, data, m := sample(t, t.TempDir(), testChunk)
	m.Name = strings.Repeat("é", 125) + ".mp4" // 254 bytes, a valid name
	folder := t.TempDir()
	os.WriteFile(filepath.Join(folder, m.Name), []byte("taken"), 0o644)
	if got := len(filepath.Base(PartPath(folder, m))); got > content.MaxNameLen {
		t.Fatalf("part file name is %d bytes", got)
	}
	path := finishDownload(t, s, m, data, folder)
	if base := filepath.Base(path); len(base) > content.MaxNameLen || !strings.HasSuffix(base, " (1).mp4") || !utf8.ValidString(base) {
		t.Fatalf("placed as %q (%d bytes)", base, len(base))
	}
}

// TestIdentityKey: the key is made once, readable by its owner only, and
// is the peer ID's source; a key file widened by hand is narrowed again;
// a symlink or a bad file in its place is refused with an error naming
// it.
func TestIdentityKey(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	id, key := s.PeerID(), s.Key()
	s.Close()
	path := filepath.Join(dir, KeyName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi.Mode(), err)
	}
	if id != peer.KeyID(key) {
		t.Fatal("peer ID is not the key's")
	}
	os.Chmod(path, 0o644)
	s = openStore(t, dir)
	if s.PeerID() != id || !s.Key().Equal(key) {
		t.Fatal("identity changed across a restart")
	}
	s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file left at %v", fi.Mode())
	}

	elsewhere := filepath.Join(t.TempDir(), "other.key")
	os.Rename(path, elsewhere)
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir); err == nil {
		s.Close()
		t.Fatal("opened with a symlinked key file")
	}
	os.Remove(path)
	os.WriteFile(path, []byte("not a key"), 0o600)
	_, err = Open(dir)
	if !errors.Is(err, peer.ErrBadKey) || !strings.Contains(err.Error(), path) {
		t.Fatalf("bad key file: %v", err)
	}
}

// TestPartFileRefusesSymlinks: a symlink planted where the part file goes
// is not followed, so a download cannot be made to write another file.
func TestPartFileRefusesSymlinks(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	_, _, m := sample(t, t.TempDir(), 3*testChunk)
	folder := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep me"), 0o644)
	e := downloadEntry(m, folder)
	if err := os.Symlink(victim, PartPath(folder, m)); err != nil {
		t.Fatal(err)
	}
	if p, err := s.OpenPart(e); err == nil {
		p.Close()
		t.Fatal("opened a part file through a symlink")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Fatalf("the symlink's target was changed: %q", b)
	}
}

// sampleFolder writes a folder "album" with nested files under dir and
// returns its manifest (16 KiB chunks) and its bytes as one content.
func sampleFolder(t *testing.T, dir string) (*content.Manifest, []byte) {
	t.Helper()
	root := filepath.Join(dir, "album")
	rng := rand.New(rand.NewPCG(9, 9))
	for name, size := range map[string]int{"a.bin": testChunk + 3, "sub/b.bin": 2*testChunk + 7, "sub/deeper/c.txt": 5} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, _, err := content.BuildFolder(context.Background(), root, content.BuildOptions{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	return m, data
}

// TestStopWhilePlacingAFolder: a folder content is placed in steps (its
// files written into a staging folder, that renamed into place, the part
// file removed, the entry recorded); the node stops after each step but
// the last. Opened again and finished, the download ends with one folder
// holding the content, nothing fetched again once the part was gone, no
// staging folder left and no second copy. Also when another folder
// already had the name.
func TestStopWhilePlacingAFolder(t *testing.T) {
	m, data := sampleFolder(t, t.TempDir())
	stops := map[string]func(t *testing.T, part, folder string){
		"while staging": func(t *testing.T, part, folder string) {
			// A file half written, the others not yet.
			staging := stagingPath(folder, m)
			os.MkdirAll(staging, 0o755)
			os.WriteFile(filepath.Join(staging, "a.bin"), data[:100], 0o644)
		},
		"after the rename": func(t *testing.T, part, folder string) {
			target, _, err := findPlaced(folder, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := stageFolder(part, stagingPath(folder, m), m); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(stagingPath(folder, m), target); err != nil {
				t.Fatal(err)
			}
		},
		"after the part went": func(t *testing.T, part, folder string) {
			if _, _, err := placeFolder(part, folder, m); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, stop := range stops {
		for _, taken := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, name taken %v", name, taken), func(t *testing.T) {
				dir, folder := t.TempDir(), t.TempDir()
				want := []string{"album"}
				if taken {
					os.MkdirAll(filepath.Join(folder, "album", "sub"), 0o755)
					os.WriteFile(filepath.Join(folder, "album", "a.bin"), []byte("another album"), 0o644)
					want = []string{"album", "album (1)"}
				}
				s := openStore(t, dir)
				e, p := fillPart(t, s, m, data, folder)
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				stop(t, p.Path(), folder)
				s.Close()

				s = openStore(t, dir)
				defer s.Close()
				e, err := s.Get(m.ID())
				if err != nil || e.Complete() {
					t.Fatalf("entry after the stop: complete %v, %v", e.Complete(), err)
				}
				if p, err = s.OpenPart(e); err != nil {
					t.Fatal(err)
				}
				if !p.Done() {
					t.Fatalf("reopened with %d of %d chunks", p.Have().Count(), m.NumChunks())
				}
				if e, err = p.Finish(e); err != nil {
					t.Fatal(err)
				}
				if names := testtools.DirNames(t, folder); !slices.Equal(names, want) {
					t.Errorf("the folder holds %q, want %q", names, want)
				}
				if e.Path != filepath.Join(folder, want[len(want)-1]) || !sameFolder(e.Path, m) || len(e.Files) != len(m.Files) {
					t.Errorf("finished at %s (%d stamps), want %s holding the content", e.Path, len(e.Files), want[len(want)-1])
				}
				if err := CheckFile(&e); err != nil {
					t.Errorf("the recorded stamps do not match the placed files: %v", err)
				}
				if got, err := s.Get(m.ID()); err != nil || !got.Complete() {
					t.Errorf("not recorded as complete: %v", err)
				}
			})
		}
	}
}
