package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/store"
	"peerflow/core/testtools"
	"peerflow/flow/chunkset"
)

// testFile is a random file and its manifest.
type testFile struct {
	path string
	data []byte
	m    *content.Manifest
}

func makeFile(t testing.TB, size int64, chunk int64) testFile {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), uint64(chunk)))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	path := filepath.Join(t.TempDir(), "video.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := content.Build(context.Background(), f, content.BuildOptions{ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	return testFile{path, data, m}
}

// testPeer is an engine with its own store.
type testPeer struct {
	e *Engine
	s *store.Store
}

func newPeer(t testing.TB, cfg Config) *testPeer {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Key = s.Key()
	e, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		s.Close()
	})
	return &testPeer{e, s}
}

// seed makes p share f in place.
func (p *testPeer) seed(t testing.TB, f testFile) {
	t.Helper()
	fi, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	e := store.ShareEntry(f.m, f.path, fi)
	if err := p.s.Put(e); err != nil {
		t.Fatal(err)
	}
	if err := p.e.Seed(f.m, NewFileSource(e)); err != nil {
		t.Fatal(err)
	}
}

func (p *testPeer) holder() Holder {
	return Holder{Peer: p.e.Self(), Addr: p.e.Addr().String()}
}

// download starts fetching f into a new folder.
func (p *testPeer) download(t testing.TB, f testFile, opts DownloadOptions) (*Download, string) {
	t.Helper()
	folder := t.TempDir()
	e := store.Entry{ID: f.m.ID(), Kind: store.KindDownload, Folder: folder, Added: time.Now(), Manifest: f.m}
	if err := p.s.Put(e); err != nil {
		t.Fatal(err)
	}
	part, err := p.s.OpenPart(e)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.e.Download(e, part, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d, folder
}

// timedDownload fetches f from holders with a fresh downloader of config
// cfg, then removes the file and closes the downloader: it returns how
// long the fetch took, from the download's start to its file in place,
// and its result.
func timedDownload(tb testing.TB, cfg Config, f testFile, holders StaticHolders) (time.Duration, Result) {
	tb.Helper()
	leech := newPeer(tb, cfg)
	start := time.Now()
	d, _ := leech.download(tb, f, DownloadOptions{Holders: holders})
	r := wait(tb, d)
	took := time.Since(start)
	os.Remove(r.Path)
	leech.e.Close()
	leech.s.Close()
	return took, r
}

func wait(t testing.TB, d *Download) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := d.Wait(ctx)
	if err != nil {
		t.Fatalf("download: %v (progress %+v)", err, d.Progress())
	}
	return r
}

func checkSame(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the original (sha256 %x vs %x)", path, sha256.Sum256(got), sha256.Sum256(want))
	}
}

func TestThreeSeedersOneDownloader(t *testing.T) {
	f := makeFile(t, 64<<20, 256<<10)
	var holders StaticHolders
	for range 3 {
		p := newPeer(t, Config{})
		p.seed(t, f)
		holders = append(holders, p.holder())
	}
	leech := newPeer(t, Config{})
	chunks := make(map[peer.ID]int)
	events := make(chan Event, f.m.NumChunks()+16)
	d, _ := leech.download(t, f, DownloadOptions{Holders: holders, OnEvent: func(ev Event) {
		if ev.Kind == EventChunk {
			events <- ev
		}
	}})
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	close(events)
	seen := make(map[int]bool)
	for ev := range events {
		if seen[ev.Chunk] {
			t.Errorf("chunk %d reported twice", ev.Chunk)
		}
		seen[ev.Chunk] = true
		chunks[ev.Peer]++
	}
	if len(seen) != f.m.NumChunks() {
		t.Errorf("%d chunk events for %d chunks", len(seen), f.m.NumChunks())
	}
	for _, h := range holders {
		if chunks[h.Peer] == 0 {
			t.Errorf("seeder %s served no chunks (%v)", h.Addr, chunks)
		}
	}
	t.Logf("chunks per seeder: %v, sources %v, %.0f MB/s", chunks, r.Sources, float64(r.Bytes)/r.Duration.Seconds()/1e6)
}

// limitedDownload downloads f from seeders with the given upload limits
// (each super-seeding) and returns the rate and each seeder's share of
// the bytes.
func limitedDownload(tb testing.TB, f testFile, limits []int64) (rate float64, shares []float64) {
	var holders StaticHolders
	for _, l := range limits {
		p := newPeer(tb, Config{UpLimit: l})
		p.seed(tb, f)
		holders = append(holders, p.holder())
	}
	leech := newPeer(tb, Config{})
	d, _ := leech.download(tb, f, DownloadOptions{Holders: holders})
	r := wait(tb, d)
	checkSame(tb, r.Path, f.data)
	for _, h := range holders {
		shares = append(shares, float64(r.Sources[h.Addr])/float64(r.Bytes))
	}
	return float64(r.Bytes) / r.Duration.Seconds(), shares
}

// TestHeterogeneousSeeders: seeders limited to 40, 10 and 2 MB/s each
// serve about their share of the bytes (the rate they give together is
// BenchmarkLimitedSeeders').
func TestHeterogeneousSeeders(t *testing.T) {
	rate, shares := limitedDownload(t, makeFile(t, 96<<20, 256<<10), []int64{40e6, 10e6, 2e6})
	t.Logf("%.1f MB/s; shares %.3f", rate/1e6, shares)
	// The slow seeder's fair share is 2/52 ≈ 0.038 of the bytes.
	if slow := shares[2]; slow < 0.01 || slow > 0.08 {
		t.Errorf("slow seeder served %.3f of the bytes, want about 0.038", slow)
	}
}

// BenchmarkLimitedSeeders: the rate a downloader gets from seeders whose
// uploads are limited, as a fraction of the limits' sum (of-limits):
// heterogeneous ones (40, 10 and 2 MB/s), and one sharer alone (24 MB/s),
// whose super-seeding windows must still keep its upload busy.
func BenchmarkLimitedSeeders(b *testing.B) {
	for _, bc := range []struct {
		name   string
		size   int64
		limits []int64
	}{
		{"heterogeneous", 96 << 20, []int64{40e6, 10e6, 2e6}},
		{"lone", 48 << 20, []int64{24e6}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := makeFile(b, bc.size, 256<<10)
			var sum int64
			for _, l := range bc.limits {
				sum += l
			}
			var fractions []float64
			for range b.N {
				rate, _ := limitedDownload(b, f, bc.limits)
				fractions = append(fractions, rate/float64(sum))
			}
			slices.Sort(fractions)
			b.ReportMetric(fractions[len(fractions)/2], "of-limits")
		})
	}
}

// chunkCounter returns an OnEvent that closes reached once n chunks came.
func chunkCounter(n int, reached chan struct{}) func(Event) {
	var count int
	var mu sync.Mutex
	return func(ev Event) {
		if ev.Kind != EventChunk {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		count++
		if count == n {
			close(reached)
		}
	}
}

func TestSeederKilledMidTransfer(t *testing.T) {
	f := makeFile(t, 32<<20, 256<<10)
	var seeders []*testPeer
	var holders StaticHolders
	for range 3 {
		// Limited so the transfer is still running when one is killed.
		p := newPeer(t, Config{UpLimit: 20e6})
		p.seed(t, f)
		seeders = append(seeders, p)
		holders = append(holders, p.holder())
	}
	leech := newPeer(t, Config{})
	third := make(chan struct{})
	d, _ := leech.download(t, f, DownloadOptions{Holders: holders, OnEvent: chunkCounter(f.m.NumChunks()/3, third)})
	<-third
	seeders[1].e.Close()
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	if r.Sources[holders[0].Addr] == 0 || r.Sources[holders[2].Addr] == 0 {
		t.Errorf("surviving seeders did not both serve: %v", r.Sources)
	}
}

// corruptCopy writes f's bytes with every 7th chunk damaged to a new file
// and returns its path.
func corruptCopy(t *testing.T, f testFile) string {
	bad := bytes.Clone(f.data)
	for i := 0; i < f.m.NumChunks(); i += 7 {
		bad[f.m.ChunkOffset(i)+17] ^= 0x55
	}
	path := filepath.Join(t.TempDir(), "video.bin")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCorruptingSeederIsBanned(t *testing.T) {
	f := makeFile(t, 16<<20, 256<<10)
	good := newPeer(t, Config{UpLimit: 30e6})
	good.seed(t, f)
	liar := newPeer(t, Config{})
	badPath := corruptCopy(t, f)
	fi, _ := os.Stat(badPath)
	entry := store.ShareEntry(f.m, badPath, fi) // the right manifest, the wrong bytes
	if err := liar.e.Seed(f.m, NewFileSource(entry)); err != nil {
		t.Fatal(err)
	}
	leech := newPeer(t, Config{})
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{liar.holder(), good.holder()}})
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	if r.Refetched == 0 {
		t.Error("no chunk was refetched after corruption")
	}
	if !leech.e.swarm(f.m.ID()).isBanned(liar.e.Self()) {
		t.Error("the corrupting seeder was not banned")
	}
	// Chunk 0 is corrupt in the liar's copy: if it came from the liar, it
	// failed verification and was fetched from the good seeder instead.
	if got := r.Sources[liar.holder().Addr]; got >= f.m.Size {
		t.Errorf("liar delivered %d bytes", got)
	}
}

func TestLeecherFromLeecher(t *testing.T) {
	f := makeFile(t, 16<<20, 256<<10)
	seeder := newPeer(t, Config{UpLimit: 8e6})
	seeder.seed(t, f)
	a := newPeer(t, Config{})
	b := newPeer(t, Config{})
	// The tracker lists a sharer as complete, although it advertises only
	// what it offers each downloader.
	sharer := seeder.holder()
	sharer.Have = chunkset.New(f.m.NumChunks())
	sharer.Have.Fill()
	// a knows only the seeder; b knows the seeder and a. Both download at
	// once, so b fetches from a chunks a has only just verified.
	da, _ := a.download(t, f, DownloadOptions{Holders: StaticHolders{sharer}})
	db, _ := b.download(t, f, DownloadOptions{Holders: StaticHolders{sharer, a.holder()}})
	ra, rb := wait(t, da), wait(t, db)
	checkSame(t, ra.Path, f.data)
	checkSame(t, rb.Path, f.data)
	t.Logf("a got %v; b got %v", ra.Sources, rb.Sources)
	// Super-seeding: the sharer hands each leecher different chunks, and
	// they swap the rest, so the sharer sends the file about once.
	if up := seeder.e.Stats(f.m.ID()).Uploaded; float64(up) > 1.1*float64(f.m.Size) {
		t.Errorf("the sharer uploaded %.2f copies, want about 1", float64(up)/float64(f.m.Size))
	}
	for name, r := range map[string]Result{"a": ra, "b": rb} {
		if r.SeederBytes+r.PeerBytes+r.OriginBytes != r.Bytes || r.SeederBytes < r.Sources[sharer.Addr] || r.PeerBytes == 0 {
			t.Errorf("%s: %d bytes = %d from seeders + %d from peers + %d from the origin server? sources %v",
				name, r.Bytes, r.SeederBytes, r.PeerBytes, r.OriginBytes, r.Sources)
		}
	}
}

// partialSource serves a file but claims not to hold some chunks.
type partialSource struct {
	*FileSource
	have *chunkset.Set
}

func (s partialSource) Has(i int) bool   { return s.have.Has(i) }
func (s partialSource) Bitfield() []byte { return s.have.Bytes() }

// seedAllBut makes p seed f without the given chunks.
func (p *testPeer) seedAllBut(t *testing.T, f testFile, without ...int) {
	fi, _ := os.Stat(f.path)
	have := chunkset.New(f.m.NumChunks())
	have.Fill()
	for _, c := range without {
		have.Clear(c)
	}
	if err := p.e.Seed(f.m, partialSource{NewFileSource(store.ShareEntry(f.m, f.path, fi)), have}); err != nil {
		t.Fatal(err)
	}
}

func TestOriginServesWhatNoPeerHolds(t *testing.T) {
	f := makeFile(t, 8<<20, 256<<10)
	var ranges atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		http.ServeFile(w, r, f.path)
	}))
	defer origin.Close()
	seeder := newPeer(t, Config{})
	seeder.seedAllBut(t, f, 5, 17)
	leech := newPeer(t, Config{})
	fromOrigin := make(map[int]bool)
	var mu sync.Mutex
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{seeder.holder()}, Origin: origin.URL + "/video.bin",
		OnEvent: func(ev Event) {
			if ev.Kind == EventChunk && ev.Source == OriginSource {
				mu.Lock()
				fromOrigin[ev.Chunk] = true
				mu.Unlock()
			}
		}})
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	// The origin is what the swarm spares: it gets exactly the chunks no
	// peer holds.
	if len(fromOrigin) != 2 || !fromOrigin[5] || !fromOrigin[17] {
		t.Errorf("chunks from the origin: %v; want 5 and 17, which no peer holds", fromOrigin)
	}
	if r.OriginBytes != 2*f.m.ChunkSize || ranges.Load() != 2 {
		t.Errorf("origin bytes %d, range requests %d, for chunks 5 and 17", r.OriginBytes, ranges.Load())
	}
}

func TestUnavailableWithoutOrigin(t *testing.T) {
	f := makeFile(t, 4<<20, 256<<10)
	seeder := newPeer(t, Config{})
	seeder.seedAllBut(t, f, 3)
	leech := newPeer(t, Config{})
	stalled := make(chan struct{})
	var once sync.Once
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{seeder.holder()}, OnEvent: func(ev Event) {
		if ev.Kind == EventState && ev.State == StateStalled {
			once.Do(func() { close(stalled) })
		}
	}})
	select {
	case <-stalled:
	case <-time.After(time.Minute):
		t.Fatalf("never reported the unavailable chunk; progress %+v", d.Progress())
	}
	p := d.Progress()
	if p.Unavailable != 1 || p.Done != f.m.NumChunks()-1 || p.State != StateStalled {
		t.Fatalf("progress %+v, want 1 unavailable chunk and the rest done", p)
	}
	// The download keeps waiting for a holder; a deadline ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v", err)
	}
	d.Stop()
	if got := d.Progress().State; got != StateStopped {
		t.Fatalf("state after Stop: %s", got)
	}
}

func TestPauseResume(t *testing.T) {
	f := makeFile(t, 16<<20, 256<<10)
	seeder := newPeer(t, Config{UpLimit: 16e6})
	seeder.seed(t, f)
	leech := newPeer(t, Config{})
	some := make(chan struct{})
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{seeder.holder()}, OnEvent: chunkCounter(8, some)})
	<-some
	d.Pause()
	if p := d.Progress(); p.State != StatePaused || !d.Paused() {
		t.Fatalf("after Pause: %+v", p)
	}
	d.Resume()
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
}

// A shared file edited after it was shared is no longer served.
func TestChangedShareIsNotServed(t *testing.T) {
	f := makeFile(t, 1<<20, 256<<10)
	fi, _ := os.Stat(f.path)
	src := NewFileSource(store.ShareEntry(f.m, f.path, fi))
	if err := src.Check(); err != nil || !src.Has(0) {
		t.Fatalf("fresh share: %v", err)
	}
	later := fi.ModTime().Add(time.Minute)
	changed := NewFileSource(store.ShareEntry(f.m, f.path, fi))
	if err := os.Chtimes(f.path, later, later); err != nil {
		t.Fatal(err)
	}
	if err := changed.Check(); !errors.Is(err, store.ErrChanged) {
		t.Fatalf("Check after an edit: %v", err)
	}
	if changed.Has(0) {
		t.Error("an edited file is still offered")
	}
	if _, err := changed.Open(); !errors.Is(err, store.ErrChanged) {
		t.Errorf("Open after an edit: %v", err)
	}
}

// A shared path swapped for a symlink, or for another file of the same
// size and modification time, is refused at once, even while the last
// check is still fresh: each descriptor served is checked to be the file
// that was shared.
func TestSwappedShareIsNotServed(t *testing.T) {
	f := makeFile(t, 1<<20, 256<<10)
	fi, _ := os.Stat(f.path)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("secret"), len(f.data)/6+1)[:len(f.data)], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(secret, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	swaps := map[string]func(t *testing.T, path string){
		"symlink": func(t *testing.T, path string) {
			if err := errors.Join(os.Remove(path), os.Symlink(secret, path)); err != nil {
				t.Fatal(err)
			}
		},
		"renamed file": func(t *testing.T, path string) {
			other := path + ".other"
			copyFile(t, secret, other)
			if err := errors.Join(os.Chtimes(other, fi.ModTime(), fi.ModTime()), os.Rename(other, path)); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, swap := range swaps {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shared.bin")
			copyFile(t, f.path, path)
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			pfi, _ := os.Stat(path)
			src := NewFileSource(store.ShareEntry(f.m, path, pfi))
			if err := src.Check(); err != nil {
				t.Fatalf("fresh share: %v", err)
			}
			before, err := src.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close()
			swap(t, path)
			if g, err := src.Open(); !errors.Is(err, store.ErrChanged) {
				if g != nil {
					g.Close()
				}
				t.Fatalf("Open after the swap: %v, want ErrChanged", err)
			}
			if err := src.Check(); !errors.Is(err, store.ErrChanged) || src.Has(0) {
				t.Fatalf("Check after the swap: %v", err)
			}
			// A descriptor opened before still reads the shared bytes.
			got := make([]byte, 64)
			if _, err := before.ReadAt(got, 0); err != nil || !bytes.Equal(got, f.data[:64]) {
				t.Fatalf("the descriptor opened before the swap reads %q (%v)", got[:8], err)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNginxOriginServesOnlyWhatPeersCannot: with nginx as the origin and
// one sharer that lacks two chunks, nginx's access log shows exactly the
// ranges of those two chunks, and the download's offload figures are
// exact: those bytes from the origin, every other byte from the sharer.
func TestNginxOriginServesOnlyWhatPeersCannot(t *testing.T) {
	f := makeFile(t, 8<<20, 256<<10)
	base, accessLog := testtools.Nginx(t, filepath.Dir(f.path))
	seeder := newPeer(t, Config{})
	seeder.seedAllBut(t, f, 5, 17)
	leech := newPeer(t, Config{})
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{seeder.holder()}, Origin: base + "/" + filepath.Base(f.path)})
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	log, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var method, uri, rng string
		var status, sent int
		if _, err := fmt.Sscanf(line, "%s %s %q %d %d", &method, &uri, &rng, &status, &sent); err != nil || status != 206 {
			t.Errorf("nginx logged %q", line)
			continue
		}
		ranges = append(ranges, fmt.Sprintf("%s %d", rng, sent))
	}
	slices.Sort(ranges)
	chunk := func(c int) string {
		off, n := f.m.ChunkOffset(c), f.m.ChunkLen(c)
		return fmt.Sprintf("bytes=%d-%d %d", off, off+n-1, n)
	}
	want := []string{chunk(5), chunk(17)}
	slices.Sort(want)
	if !slices.Equal(ranges, want) {
		t.Errorf("nginx served %q; want only the chunks no peer holds, %q", ranges, want)
	}
	if r.OriginBytes != f.m.ChunkLen(5)+f.m.ChunkLen(17) || r.SeederBytes+r.PeerBytes != f.m.Size-r.OriginBytes {
		t.Errorf("offload: %d bytes from the origin, %d from seeders, %d from peers, of %d", r.OriginBytes, r.SeederBytes, r.PeerBytes, f.m.Size)
	}
}
