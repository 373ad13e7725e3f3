package transfer

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"peerflow/core/peer"
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
	id := peer.NewID()
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
				c := wire.NewConn(nc)
				_, err := wire.ServerHandshake(c, func(h wire.HelloMsg) (wire.HelloMsg, wire.Limits, wire.Reason) {
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
