package trackerapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/flow/chunkset"
	"peerflow/tracker"
)

// testManifest returns a valid manifest of chunks chunks; seed changes
// its ID.
func testManifest(name string, chunks int, seed uint64) *content.Manifest {
	m := &content.Manifest{Name: name, Size: int64(chunks) * content.MinChunkSize, ChunkSize: content.MinChunkSize,
		Hashes: make([][32]byte, chunks), Created: time.Unix(1_700_000_000, 0).UTC()}
	for i := range m.Hashes {
		m.Hashes[i] = sha256.Sum256(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, seed), uint64(i)))
	}
	return m
}

// testKey is the identity key of test peer n; testPeer its peer ID.
func testKey(n byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1] = 0xff, n
	return ed25519.NewKeyFromSeed(seed)
}

func testPeer(n byte) peer.ID { return peer.KeyID(testKey(n)) }

func haveOf(chunks int, set ...int) []byte {
	b := chunkset.New(chunks)
	for _, i := range set {
		b.Set(i)
	}
	return b.Bytes()
}

// liveTracker is a real tracker served on 127.0.0.1.
type liveTracker struct {
	*tracker.Server
	addr string
	db   string
	stop func()
}

// serveTracker opens a tracker on db (a new temp file if "") whose publish
// token is "tok" and serves it on addr (127.0.0.1:0 if ""), through wrap
// if not nil. It stops when the test ends.
func serveTracker(t *testing.T, db, addr string, wrap func(http.Handler) http.Handler) *liveTracker {
	t.Helper()
	return serveTrackerToken(t, db, addr, "tok", wrap)
}

// serveTrackerToken is serveTracker with another token ("": anyone may
// publish).
func serveTrackerToken(t *testing.T, db, addr, token string, wrap func(http.Handler) http.Handler) *liveTracker {
	t.Helper()
	if db == "" {
		db = t.TempDir() + "/t.db"
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lt := serveConfig(t, tracker.Config{DB: db, Token: token}, addr, wrap)
	lt.db = db
	return lt
}

// serveConfig opens a tracker on cfg and serves it on addr, through wrap
// if not nil. It stops when the test ends.
func serveConfig(t *testing.T, cfg tracker.Config, addr string, wrap func(http.Handler) http.Handler) *liveTracker {
	t.Helper()
	cfg.Version = core.Version
	s, err := tracker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	hs := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(l)
	}()
	var once sync.Once
	lt := &liveTracker{Server: s, addr: l.Addr().String()}
	lt.stop = func() {
		once.Do(func() {
			hs.Shutdown(context.Background())
			<-done
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(lt.stop)
	return lt
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// hangingAddr returns a loopback address that accepts connections and
// never answers; it closes them when the test ends.
func hangingAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// testClock is a clock that moves only when told (unix ns).
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Unix(1_700_000_000, 0).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeTracker answers every announce with the given interval (seconds),
// and claiming not to know the contents in unknown; and every publish
// with 201, counting announces and the publish tokens it was sent.
type fakeTracker struct {
	addr      string
	mu        sync.Mutex
	announces int
	tokens    []string
	unknown   []content.ID
}

// seen returns the announces and the tokens received so far.
func (ft *fakeTracker) seen() (int, []string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.announces, slices.Clone(ft.tokens)
}

func serveFakeTracker(t *testing.T, interval int64) *fakeTracker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ft := &fakeTracker{addr: l.Addr().String()}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/announce":
			ft.announces++
			unknown, _ := json.Marshal(ft.unknown)
			fmt.Fprintf(w, `{"interval":%d,"lease":90,"unknown":%s}`, interval, unknown)
		case "/v1/manifests":
			ft.tokens = append(ft.tokens, r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"`+testManifest("x", 1, 1).ID().String()+`","created":true}`)
		default:
			http.NotFound(w, r)
		}
	})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return ft
}
