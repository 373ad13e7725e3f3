package transfer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/store"
	"peerflow/core/wire"
	"peerflow/flow/chunkset"
)

// silentPeer accepts connections for f, says it holds every chunk, takes
// requests and never answers them.
func silentPeer(t *testing.T, f testFile) Holder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ident, err := wire.NewIdentity(peer.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	id := ident.ID
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() {
				tc, _, err := ident.Server(context.Background(), nc)
				if err != nil {
					return
				}
				c := wire.NewConn(tc)
				_, err = wire.ServerHandshake(c, func(h wire.HelloMsg) (wire.HelloMsg, wire.Limits, wire.Reason) {
					return wire.HelloMsg{Peer: id, Content: h.Content}, wire.LimitsOf(f.m), wire.ReasonNone
				})
				if err != nil {
					return
				}
				all := chunkset.New(f.m.NumChunks())
				all.Fill()
				c.WriteBitfield(all.Bytes())
				var m wire.Msg
				for c.ReadMsg(&m) == nil {
				}
			})
		}
	})
	return Holder{Peer: id, Addr: ln.Addr().String()}
}

// A peer that takes requests and never answers must not keep a download
// from the origin forever.
func TestSilentPeerDoesNotBlockTheOrigin(t *testing.T) {
	f := makeFile(t, 2<<20, 256<<10)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, f.path)
	}))
	defer origin.Close()
	leech := newPeer(t, Config{})
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{silentPeer(t, f)}, Origin: origin.URL})
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	if r.OriginBytes != f.m.Size {
		t.Errorf("origin served %d of %d bytes", r.OriginBytes, f.m.Size)
	}
}

// Pausing while an origin fetch is under way, the fetch then failing, and
// resuming must still complete.
func TestPauseDuringOriginFetch(t *testing.T) {
	f := makeFile(t, 1<<20, 256<<10)
	arrived := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first {
			close(arrived)
			<-release
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		http.ServeFile(w, r, f.path)
	}))
	defer origin.Close()
	leech := newPeer(t, Config{})
	d, _ := leech.download(t, f, DownloadOptions{Origin: origin.URL})
	<-arrived
	d.Pause()
	close(release)
	d.Resume()
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
}

// A download stopped and started again on the same engine uses the peers
// still connected from the first run.
func TestRestartOnConnectedSwarm(t *testing.T) {
	f := makeFile(t, 8<<20, 256<<10)
	seeder := newPeer(t, Config{UpLimit: 8e6})
	seeder.seed(t, f)
	leech := newPeer(t, Config{})
	some := make(chan struct{})
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{seeder.holder()}, OnEvent: chunkCounter(4, some)})
	<-some
	d.Stop()
	e, err := leech.s.Get(f.m.ID())
	if err != nil {
		t.Fatal(err)
	}
	part, err := leech.s.OpenPart(e)
	if err != nil {
		t.Fatal(err)
	}
	// No holder source this time: only the connection kept from before.
	d2, err := leech.e.Download(e, part, DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := wait(t, d2)
	checkSame(t, r.Path, f.data)
}

// A flood of connections that never finish their handshake is bounded,
// and Close does not wait for their handshake timeout.
func TestHandshakeFlood(t *testing.T) {
	f := makeFile(t, 1<<20, 256<<10)
	p := newPeer(t, Config{})
	p.seed(t, f)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxHandshakes + 40 {
		c, err := net.Dial("tcp", p.e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Connections beyond the bound are closed at once: reading them ends.
	dropped := 0
	for _, c := range conns[maxHandshakes:] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			dropped++
		}
	}
	if dropped < 30 {
		t.Errorf("%d of 40 connections over the bound were dropped", dropped)
	}
	closed := make(chan struct{})
	go func() {
		p.e.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(wire.HandshakeTimeout / 2):
		t.Fatal("Close waited for silent handshakes")
	}
}

// TestSpoofedIdentityIsRefused: a peer cannot pass for another. One whose
// Hello names the honest seeder's ID is refused (its key has another ID),
// and an address listed under the seeder's ID but held by someone else
// fails the TLS check; the download completes from the honest seeder,
// which is not banned.
func TestSpoofedIdentityIsRefused(t *testing.T) {
	f := makeFile(t, 4<<20, 256<<10)
	good := newPeer(t, Config{UpLimit: 8 << 20})
	good.seed(t, f)
	liar := newPeer(t, Config{})
	badPath := corruptCopy(t, f)
	fi, _ := os.Stat(badPath)
	if err := liar.e.Seed(f.m, NewFileSource(store.ShareEntry(f.m, badPath, fi))); err != nil {
		t.Fatal(err)
	}
	leech := newPeer(t, Config{})
	impostor := Holder{Peer: good.e.Self(), Addr: liar.e.Addr().String()}
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{impostor, good.holder()}})

	mallory, err := wire.NewIdentity(peer.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", leech.e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc, proven, err := mallory.Client(context.Background(), nc, leech.e.Self())
	if err != nil || proven != leech.e.Self() {
		t.Fatalf("TLS to the leech: %v", err)
	}
	_, err = wire.ClientHandshake(wire.NewConn(tc), wire.HelloMsg{Peer: good.e.Self(), Content: f.m.ID()})
	var rej *wire.RejectedError
	if !errors.As(err, &rej) || rej.Reason != wire.ReasonWrongID {
		t.Fatalf("a Hello with the seeder's ID over another key: %v, want a %q reject", err, wire.ReasonWrongID)
	}

	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	if got := r.Sources[impostor.Addr]; got != 0 {
		t.Errorf("the impostor's address delivered %d bytes", got)
	}
	if leech.e.swarm(f.m.ID()).isBanned(good.e.Self()) {
		t.Error("the honest seeder was banned")
	}
}

// Starvation: attacks from another host (127.0.0.2) on one seeder, each
// followed by an honest download from 127.0.0.1 that must complete within
// a stated time, well under what the attack used to cost.

// attacker dials addr from 127.0.0.2 with a fresh identity and, if
// content is not zero, runs the Hello for it; rcvbuf, if not zero, is
// its socket's receive buffer.
func attacker(t *testing.T, addr string, content content.ID, m *content.Manifest, rcvbuf int) *wire.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if rcvbuf > 0 {
		nc.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	id, err := wire.NewIdentity(peer.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	tc, _, err := id.Client(context.Background(), nc, peer.ID{})
	if err != nil {
		t.Fatal(err)
	}
	c := wire.NewConn(tc)
	if _, err := wire.ClientHandshake(c, wire.HelloMsg{Peer: id.ID, Content: content}); err != nil {
		t.Fatal(err)
	}
	c.SetLimits(wire.LimitsOf(m))
	return c
}

// downloadWithin downloads f from p and fails the test if it takes longer
// than limit.
func downloadWithin(t *testing.T, p *testPeer, f testFile, limit time.Duration) {
	t.Helper()
	leech := newPeer(t, Config{})
	start := time.Now()
	d, _ := leech.download(t, f, DownloadOptions{Holders: StaticHolders{p.holder()}})
	checkSame(t, wait(t, d).Path, f.data)
	if took := time.Since(start); took > limit {
		t.Fatalf("the honest download took %v, want at most %v", took.Round(time.Millisecond), limit)
	}
}

// TestSilentConnectionsDoNotLockOthersOut: 64 connections from one host
// that never say a word fill only that host's handshake slots.
func TestSilentConnectionsDoNotLockOthersOut(t *testing.T) {
	f := makeFile(t, 4<<20, 256<<10)
	p := newPeer(t, Config{})
	p.seed(t, f)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range maxHandshakes {
		nc, err := d.Dial("tcp", p.e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
	}
	// Before, the honest peer waited for the silent ones' handshake
	// timeout (10 s) at least.
	downloadWithin(t, p, f, wire.HandshakeTimeout/2)
}

// TestIdleSessionsGiveWay: a swarm full of sessions that pass no data
// drops the idlest for a newcomer.
func TestIdleSessionsGiveWay(t *testing.T) {
	f := makeFile(t, 4<<20, 256<<10)
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := newPeer(t, Config{MaxPeers: 8, clock: clock})
	p.seed(t, f)
	for range 8 {
		attacker(t, p.e.Addr().String(), f.m.ID(), f.m, 0)
	}
	waitConnected(t, p, f, 8)
	mu.Lock()
	now = now.Add(IdleEvict)
	mu.Unlock()
	downloadWithin(t, p, f, 5*time.Second)
}

// TestSlowReadersFreeTheirSlots: 8 peers that ask for every chunk and
// stop reading lose their uploads once their buffers are full, instead
// of holding every upload slot for the 30 s write timeout.
func TestSlowReadersFreeTheirSlots(t *testing.T) {
	f := makeFile(t, 64<<20, 4<<20) // chunks larger than socket buffers hold
	p := newPeer(t, Config{})
	p.seed(t, f)
	for range 8 {
		c := attacker(t, p.e.Addr().String(), f.m.ID(), f.m, 4<<10)
		// Ask for what the seeder offers (it super-seeds: each peer is
		// offered its own chunks), then never read again.
		var msg wire.Msg
		if err := c.ReadMsg(&msg); err != nil || msg.Type != wire.Bitfield {
			t.Fatalf("attacker's first frame: %v %v", msg.Type, err)
		}
		offered, _ := chunkset.FromBytes(msg.Payload, f.m.NumChunks())
		for i := range f.m.NumChunks() {
			if offered.Has(i) {
				if err := c.WriteRequest(uint32(i), 0, uint32(f.m.ChunkLen(i))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	waitConnected(t, p, f, 8)
	downloadWithin(t, p, f, 15*time.Second)
}

// waitConnected waits until p has n peers connected for f.
func waitConnected(t *testing.T, p *testPeer, f testFile, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(p.e.Connected(f.m.ID())) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d peers connected, want %d", len(p.e.Connected(f.m.ID())), n)
		}
		runtime.Gosched()
	}
}

// TestPrivateSwarm: the peers of a private swarm serve only dialers that
// prove its key on their own connection, and a member drops a peer that
// cannot prove it back; members download as usual.
func TestPrivateSwarm(t *testing.T) {
	f := makeFile(t, 2<<20, 256<<10)
	key := content.NewSecret().PeerKey(f.m.ID())
	seeder := newPeer(t, Config{UpLimit: 8 << 20})
	seeder.e.Private(f.m.ID(), &key)
	seeder.seed(t, f)
	outsider := newPeer(t, Config{}) // has the bytes, not the key
	outsider.seed(t, f)

	// hello dials the seeder and sends a Hello whose proof proof returns
	// for the connection.
	hello := func(proof func(net.Conn) [32]byte) error {
		t.Helper()
		nc, err := net.Dial("tcp", seeder.e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		id, err := wire.NewIdentity(peer.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		tc, _, err := id.Client(context.Background(), nc, seeder.e.Self())
		if err != nil {
			t.Fatal(err)
		}
		_, err = wire.ClientHandshake(wire.NewConn(tc), wire.HelloMsg{Peer: id.ID, Content: f.m.ID(), Proof: proof(tc)})
		return err
	}
	proofWith := func(k [32]byte) func(net.Conn) [32]byte {
		return func(nc net.Conn) [32]byte {
			p, err := wire.Proof(nc, k, wire.RoleDialer)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	var replayed [32]byte
	if err := hello(func(nc net.Conn) [32]byte { replayed = proofWith(key)(nc); return replayed }); err != nil {
		t.Fatalf("a dialer with the key: %v", err)
	}
	for name, proof := range map[string]func(net.Conn) [32]byte{
		"no proof":                        func(net.Conn) [32]byte { return [32]byte{} },
		"another key":                     proofWith(content.NewSecret().PeerKey(f.m.ID())),
		"a proof from another connection": func(net.Conn) [32]byte { return replayed },
		"the answerer's role":             func(nc net.Conn) [32]byte { p, _ := wire.Proof(nc, key, wire.RoleAnswerer); return p },
	} {
		var rej *wire.RejectedError
		if err := hello(proof); !errors.As(err, &rej) || rej.Reason != wire.ReasonUnknownContent {
			t.Errorf("%s: %v, want the content unknown", name, err)
		}
	}

	member := newPeer(t, Config{})
	member.e.Private(f.m.ID(), &key)
	d, _ := member.download(t, f, DownloadOptions{Holders: StaticHolders{outsider.holder(), seeder.holder()}})
	r := wait(t, d)
	checkSame(t, r.Path, f.data)
	if got := r.Sources[outsider.e.Addr().String()]; got != 0 {
		t.Errorf("a peer without the key delivered %d bytes", got)
	}
}

// TestOriginRedirectsStayOnItsHost: an origin that redirects to another
// host is not followed there; one that redirects on its own host is.
func TestOriginRedirectsStayOnItsHost(t *testing.T) {
	f := makeFile(t, 1<<20, 256<<10)
	var elsewhere atomic.Int64
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		http.ServeFile(w, r, f.path)
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0") // another host: another port of the origin's would be allowed
	if err != nil {
		t.Fatal(err)
	}
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	defer other.Close()
	asked := make(chan struct{}, 100)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			select {
			case asked <- struct{}{}:
			default:
			}
			http.Redirect(w, r, other.URL+"/video.bin", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/video.bin", http.StatusMovedPermanently)
		default:
			http.ServeFile(w, r, f.path)
		}
	}))
	defer origin.Close()

	leech := newPeer(t, Config{})
	d, _ := leech.download(t, f, DownloadOptions{Origin: origin.URL + "/away"})
	<-asked
	<-asked // asked twice: the first refusal was not followed
	d.Stop()
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the other host got %d requests", n)
	}
	again := newPeer(t, Config{})
	d, _ = again.download(t, f, DownloadOptions{Origin: origin.URL + "/moved"})
	checkSame(t, wait(t, d).Path, f.data)
}

// TestOriginObeysTheDownloadLimit: 1 MiB from an origin alone, with the
// download limited to 512 KiB/s, takes at least the time the limit
// allows (all but one burst of 256 KiB).
func TestOriginObeysTheDownloadLimit(t *testing.T) {
	f := makeFile(t, 1<<20, 256<<10)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, f.path) }))
	defer origin.Close()
	leech := newPeer(t, Config{DownLimit: 512 << 10})
	start := time.Now()
	d, _ := leech.download(t, f, DownloadOptions{Origin: origin.URL})
	r := wait(t, d)
	if took, least := time.Since(start), 1500*time.Millisecond; took < least {
		t.Fatalf("1 MiB came from the origin in %v at 512 KiB/s; the limit allows no less than %v", took, least)
	}
	checkSame(t, r.Path, f.data)
}
