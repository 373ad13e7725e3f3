package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/store"
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
	m, err := content.Build(context.Background(), path, content.BuildOptions{ChunkSize: chunk})
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
	cfg.Self = s.PeerID()
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
