package tracker

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testManifest returns a valid manifest of the given chunk count; seed
// makes its hashes (and so its ID) differ.
func testManifest(name string, chunks int, seed uint64) *content.Manifest {
	m := &content.Manifest{
		Name:      name,
		Size:      int64(chunks) * content.MinChunkSize,
		ChunkSize: content.MinChunkSize,
		Hashes:    make([][32]byte, chunks),
		Created:   time.Unix(1_700_000_000, 0).UTC(),
	}
	for i := range m.Hashes {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], seed)
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		m.Hashes[i] = sha256.Sum256(b[:])
	}
	return m
}

// testAddr is the listen address test peer n announces: the tracker
// lists it at 127.0.0.1, a port of its own.
func testAddr(n int) string { return ":" + strconv.Itoa(1000+n) }

// testKey returns the identity key of test peer n, made from a seed.
func testKey(n int) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 0xff
	binary.BigEndian.PutUint64(seed[24:], uint64(n))
	return ed25519.NewKeyFromSeed(seed)
}

// testKeys maps the peer IDs testPeer returned to their keys.
var testKeys sync.Map

// testPeer returns the peer ID of test peer n.
func testPeer(n int) peer.ID {
	k := testKey(n)
	id := peer.KeyID(k)
	testKeys.Store(id, k)
	return id
}

// keyOf returns the key of a peer ID testPeer returned.
func keyOf(t testing.TB, id peer.ID) ed25519.PrivateKey {
	k, ok := testKeys.Load(id)
	if !ok {
		t.Fatalf("peer %s is not a test peer", id.Short())
	}
	return k.(ed25519.PrivateKey)
}

// signed returns the body of req, made as a client would (Key from the
// peer's key, a fresh nonce from tt), and its signature header value.
func (tt *testTracker) signed(t testing.TB, req trackerapi.AnnounceRequest) (body []byte, sig string) {
	t.Helper()
	k := keyOf(t, req.Peer)
	req.Key = k.Public().(ed25519.PublicKey)
	req.Nonce = tt.nonces.issue(req.Peer, tt.Server.cfg.Now())
	body = mustJSON(t, req)
	return body, base64.StdEncoding.EncodeToString(ed25519.Sign(k, trackerapi.SignedAnnounce(body)))
}

// haveOf returns the wire bitfield of chunks chunks with the given set.
func haveOf(chunks int, set ...int) []byte {
	b := chunkset.New(chunks)
	for _, i := range set {
		b.Set(i)
	}
	return b.Bytes()
}

// testTracker is a tracker served on a loopback port.
type testTracker struct {
	*Server
	cfg    Config
	url    string // http://127.0.0.1:port
	addr   string
	client *trackerapi.Client
	stop   func() // stops serving and closes; idempotent
}

// startTracker opens a tracker on cfg (DB defaults to a temp file) and
// serves it on 127.0.0.1; it is closed when the test ends.
func startTracker(t testing.TB, cfg Config) *testTracker {
	t.Helper()
	if cfg.DB == "" {
		cfg.DB = t.TempDir() + "/tracker.db"
	}
	// Every test peer announces from 127.0.0.1: the per-source limits
	// are off unless a test sets them.
	if cfg.AnnounceRate == 0 {
		cfg.AnnounceRate = -1
	}
	if cfg.MaxPeersPerSource == 0 {
		cfg.MaxPeersPerSource = -1
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	tt := &testTracker{Server: s, cfg: cfg, addr: l.Addr().String(), url: "http://" + l.Addr().String()}
	tt.client, err = trackerapi.NewClient(tt.addr, trackerapi.ClientOptions{Token: cfg.Token, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	tt.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			tt.client.CloseIdleConnections()
		})
	}
	t.Cleanup(tt.stop)
	return tt
}

// publish publishes m through the client.
func (tt *testTracker) publish(t testing.TB, m *content.Manifest) {
	t.Helper()
	if _, err := tt.client.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// announce sends req through the client and fails the test on error.
func (tt *testTracker) announce(t testing.TB, req trackerapi.AnnounceRequest) trackerapi.AnnounceResponse {
	t.Helper()
	resp, err := tt.client.Announce(context.Background(), keyOf(t, req.Peer), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// list returns all contents matching q.
func (tt *testTracker) list(t testing.TB, q string) trackerapi.ContentList {
	t.Helper()
	l, err := tt.client.Contents(context.Background(), q, 0, trackerapi.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// holders returns the raw holder list of id.
func (tt *testTracker) holders(t testing.TB, id content.ID, query string) trackerapi.HolderList {
	t.Helper()
	status, hl := tt.getHolders(t, id, query)
	if status != http.StatusOK {
		t.Fatalf("holders of %s: status %d", id.Short(), status)
	}
	return hl
}

// getHolders asks for the holder list of id; the list is decoded when
// the status is 200, and any status but 200 and 404 fails the test.
func (tt *testTracker) getHolders(t testing.TB, id content.ID, query string) (int, trackerapi.HolderList) {
	t.Helper()
	resp, err := http.Get(tt.url + trackerapi.PathContents + "/" + id.String() + "/holders" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hl trackerapi.HolderList
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.NewDecoder(resp.Body).Decode(&hl); err != nil {
			t.Fatal(err)
		}
	case http.StatusNotFound:
	default:
		t.Fatalf("holders of %s: status %d", id.Short(), resp.StatusCode)
	}
	return resp.StatusCode, hl
}

// post sends a raw request and returns status and body.
func post(t testing.TB, url, ctype string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// lease is the default lease, for tests that build a state by hand.
const lease = trackerapi.DefaultLeaseSeconds * time.Second

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAnnounce parses and validates an announce body, as the handler
// does after authenticating it.
func decodeAnnounce(body []byte, source netip.Addr, chunks chunkCounter) (*announce, error) {
	req, err := parseAnnounce(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadAnnounce, err)
	}
	return validateAnnounce(req, source, chunks)
}
