package tracker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// Attacks mounted as a client on the network would, against a tracker on
// loopback. 127.0.0.0/8 is all local on Linux, so a test client can send
// from 127.0.0.2 as a second host.

// clientFrom returns an HTTP client whose connections come from the
// local IP src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// rawAnnounce posts req, signed and with a fresh nonce, with c and
// returns the status code.
func rawAnnounce(t *testing.T, c *http.Client, tt *testTracker, req trackerapi.AnnounceRequest, header ...string) int {
	t.Helper()
	body, sig := tt.signed(t, req)
	r, err := http.NewRequest("POST", tt.url+trackerapi.PathAnnounce, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(trackerapi.SignatureHeader, sig)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSwarmCannotBeAimedAtAThirdParty: 30 fake peers naming a victim's
// address are listed at the attacker's own address, never the victim's.
func TestSwarmCannotBeAimedAtAThirdParty(t *testing.T) {
	tt := startTracker(t, Config{Now: newFakeClock().Now})
	m := testManifest("m", 4, 1)
	tt.publish(t, m)
	attacker := clientFrom("127.0.0.1")
	for n := range 30 {
		req := trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: fmt.Sprintf("127.0.0.2:%d", 9000+n), Full: true,
			Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}}
		if code := rawAnnounce(t, attacker, tt, req); code != http.StatusOK {
			t.Fatalf("announce %d: status %d", n, code)
		}
	}
	hl := tt.holders(t, m.ID(), "")
	if hl.Total != 30 {
		t.Fatalf("%d holders, want 30", hl.Total)
	}
	for _, h := range hl.Holders {
		if !strings.HasPrefix(h.Addr, "127.0.0.1:") {
			t.Fatalf("holder listed at %s: the announce named the host", h.Addr)
		}
	}
}

// TestOneAddressIsOneEntry: 2,000 fake peers naming one port in 2,000
// spellings end as one entry, and the peers of one source are capped, so
// an honest seeder from another host stays on the first holders page.
func TestOneAddressIsOneEntry(t *testing.T) { eachStore(t, testOneAddressIsOneEntry) }

func testOneAddressIsOneEntry(t *testing.T, st store) {
	tt := startTracker(t, st.cfg(Config{Now: newFakeClock().Now, MaxPeersPerSource: 64}))
	m := testManifest("m", 4, 1)
	tt.publish(t, m)
	seeder := trackerapi.AnnounceRequest{Peer: testPeer(100_000), Addr: ":7000", Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}}
	if code := rawAnnounce(t, clientFrom("127.0.0.2"), tt, seeder); code != http.StatusOK {
		t.Fatalf("seeder's announce: %d", code)
	}
	attacker := clientFrom("127.0.0.1")
	spell := func(n int) string {
		hosts := []string{"127.0.0.2", "[::ffff:127.0.0.2]", "victim.example", ""}
		return hosts[n%len(hosts)] + ":" + strings.Repeat("0", n%5) + "9000"
	}
	for n := range 2000 {
		req := trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: spell(n), Full: true,
			Contents: []trackerapi.ContentState{{ID: m.ID(), Have: haveOf(4)}}}
		if code := rawAnnounce(t, attacker, tt, req); code != http.StatusOK {
			t.Fatalf("announce %d (%q): status %d", n, req.Addr, code)
		}
	}
	hl := tt.holders(t, m.ID(), "")
	if hl.Total != 2 {
		t.Fatalf("%d holders after 2,000 spellings of one address, want 2: %+v", hl.Total, hl.Holders)
	}
	for _, h := range hl.Holders {
		if h.Addr != "127.0.0.1:9000" && h.Addr != "127.0.0.2:7000" {
			t.Errorf("holder listed at %s", h.Addr)
		}
	}

	// Distinct ports: the source's peers stop at the cap.
	refused := 0
	for n := range 2000 {
		req := trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: fmt.Sprintf(":%d", 10000+n), Full: true,
			Contents: []trackerapi.ContentState{{ID: m.ID(), Have: haveOf(4)}}}
		switch code := rawAnnounce(t, attacker, tt, req); code {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("announce %d: status %d", n, code)
		}
	}
	// Peer 0 took over its old entry at :9000 and is counted once.
	if want := 2000 - 64; refused != want {
		t.Errorf("%d announces refused, want %d", refused, want)
	}
	hl = tt.holders(t, m.ID(), "")
	found := false
	for _, h := range hl.Holders {
		found = found || h.Peer == seeder.Peer
	}
	if hl.Total != 65 || !found {
		t.Fatalf("holders: %d in all, seeder on the first page: %v", hl.Total, found)
	}
}

// TestAnnounceRatePerSource: one source gets its burst and then its
// rate; another source is not affected.
func TestAnnounceRatePerSource(t *testing.T) {
	clock := newFakeClock()
	tt := startTracker(t, Config{Now: clock.Now, AnnounceRate: 10, AnnounceBurst: 20})
	one, two := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	send := func(c *http.Client, n int) (ok int) {
		for range n {
			if rawAnnounce(t, c, tt, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000"}) == http.StatusOK {
				ok++
			}
		}
		return ok
	}
	if ok := send(one, 50); ok != 20 {
		t.Fatalf("%d of 50 announces at one instant taken, want the burst of 20", ok)
	}
	if ok := send(two, 5); ok != 5 {
		t.Fatalf("the other source got %d of 5 through", ok)
	}
	clock.Advance(time.Second)
	if ok := send(one, 50); ok != 10 {
		t.Fatalf("%d announces taken a second later, want 10", ok)
	}
}

// TestTrustForwarded: behind a proxy the source is the last
// X-Forwarded-For entry; a tracker reached directly ignores the header.
func TestTrustForwarded(t *testing.T) {
	for _, trust := range []bool{false, true} {
		tt := startTracker(t, Config{Now: newFakeClock().Now, TrustForwarded: trust})
		m := testManifest("m", 4, 1)
		tt.publish(t, m)
		req := trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000", Full: true,
			Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}}
		if code := rawAnnounce(t, http.DefaultClient, tt, req, "X-Forwarded-For", "192.0.2.9, 198.51.100.7"); code != http.StatusOK {
			t.Fatal(code)
		}
		want := "127.0.0.1:7000"
		if trust {
			want = "198.51.100.7:7000"
		}
		if hl := tt.holders(t, m.ID(), ""); len(hl.Holders) != 1 || hl.Holders[0].Addr != want {
			t.Errorf("trust %v: %+v, want %s", trust, hl.Holders, want)
		}
	}
}

// slowBody opens a connection from src, sends the headers of an announce
// that claims length bytes and then one byte, and leaves it hanging.
func slowBody(t *testing.T, addr, src string, length int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", trackerapi.PathAnnounce, length)
	return c
}

// waitBudget waits until the tracker's body budget has n bytes left,
// which is when the requests under test are all reading their bodies.
func waitBudget(t *testing.T, s *Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.budget.left.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("body budget %d, want %d", s.budget.left.Load(), n)
		}
		runtime.Gosched()
	}
}

// TestBodyMemoryFollowsBytesReceived: six connections that claim 64 MiB
// bodies and send one byte cost a piece each, not 64 MiB each; once the
// budget is spent, more bodies are answered 503 at once.
func TestBodyMemoryFollowsBytesReceived(t *testing.T) {
	const budget = 8 * bodyPiece
	tt := startTracker(t, Config{Now: newFakeClock().Now, BodyBudget: budget})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 6 {
		slowBody(t, tt.addr, "127.0.0.1", trackerapi.MaxAnnounceBody)
	}
	waitBudget(t, tt.Server, budget-6*bodyPiece)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew %d MiB for 6 bodies of 1 byte", grew>>20)
	}
	// Two more take the rest; the ninth finds none left.
	slowBody(t, tt.addr, "127.0.0.2", trackerapi.MaxAnnounceBody)
	slowBody(t, tt.addr, "127.0.0.2", trackerapi.MaxAnnounceBody)
	waitBudget(t, tt.Server, 0)
	c := slowBody(t, tt.addr, "127.0.0.3", 100)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d with the budget spent, want 503", resp.StatusCode)
	}
}

// TestConnectionsPerSource: a source past its connection cap is cut off
// at once; another source still gets in.
func TestConnectionsPerSource(t *testing.T) {
	tt := startTracker(t, Config{Now: newFakeClock().Now, MaxConnsPerSource: 4})
	for range 4 {
		slowBody(t, tt.addr, "127.0.0.1", 100)
	}
	waitBudget(t, tt.Server, tt.Server.cfg.BodyBudget-4*100) // all four are reading their 100-byte bodies
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
	c, err := d.Dial("tcp", tt.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("fifth connection from one source: read %d, %v; want it closed", n, err)
	}
	ctx := context.Background()
	other, err := trackerapi.NewClient(tt.addr, trackerapi.ClientOptions{HTTPClient: clientFrom("127.0.0.2"), Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Health(ctx); err != nil {
		t.Fatalf("another source: %v", err)
	}
}

// postAnnounce posts body with the signature sig ("" for none) and
// returns the status and the error body.
func postAnnounce(t *testing.T, tt *testTracker, body []byte, sig string) (int, trackerapi.ErrorBody) {
	t.Helper()
	r, _ := http.NewRequest("POST", tt.url+trackerapi.PathAnnounce, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "" {
		r.Header.Set(trackerapi.SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb trackerapi.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb
}

// sign returns the signature header value of body by k.
func sign(k ed25519.PrivateKey, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k, trackerapi.SignedAnnounce(body)))
}

// TestForgedAnnouncesAreRefused: only the holder of a peer's key can
// announce for it, and each signed announce counts once. The forged
// "full, holds nothing" announce that used to remove a seeder for good
// is refused in every form, and the seeder stays listed.
func TestForgedAnnouncesAreRefused(t *testing.T) {
	clock := newFakeClock()
	tt := startTracker(t, Config{Now: clock.Now})
	m := testManifest("m", 4, 1)
	tt.publish(t, m)
	seeder := testPeer(1)
	tt.announce(t, trackerapi.AnnounceRequest{Peer: seeder, Addr: ":7000", Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})

	forged := trackerapi.AnnounceRequest{Peer: seeder, Addr: ":6666", Full: true}
	malloryKey := testKey(2).Public().(ed25519.PublicKey)
	withKey := func(key []byte, nonce string) []byte {
		r := forged
		r.Key, r.Nonce = key, nonce
		return mustJSON(t, r)
	}
	seederKey := testKey(1).Public().(ed25519.PublicKey)
	fresh := tt.nonces.issue(seeder, clock.Now())
	for _, tc := range []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"no key", mustJSON(t, forged), "", http.StatusBadRequest},
		{"another key", withKey(malloryKey, fresh), sign(testKey(2), withKey(malloryKey, fresh)), http.StatusBadRequest},
		{"the seeder's key, unsigned", withKey(seederKey, fresh), "", http.StatusUnauthorized},
		{"the seeder's key, signed by another", withKey(seederKey, fresh), sign(testKey(2), withKey(seederKey, fresh)), http.StatusUnauthorized},
		{"signature of another body", withKey(seederKey, fresh), sign(testKey(1), mustJSON(t, forged)), http.StatusUnauthorized},
		{"garbage signature", withKey(seederKey, fresh), "!!", http.StatusUnauthorized},
	} {
		if code, _ := postAnnounce(t, tt, tc.body, tc.sig); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}
	hl := tt.holders(t, m.ID(), "")
	if len(hl.Holders) != 1 || hl.Holders[0].Peer != seeder || !hl.Holders[0].Complete || hl.Holders[0].Addr != "127.0.0.1:7000" {
		t.Fatalf("after forged announces: %+v", hl.Holders)
	}
}

// TestNoncesCountOnce: an announce without a nonce gets one in its 401;
// a signed announce replayed, a nonce issued to another peer, one from
// another tracker and one older than a lease are all refused.
func TestNoncesCountOnce(t *testing.T) {
	clock := newFakeClock()
	tt := startTracker(t, Config{Now: clock.Now})
	other := startTracker(t, Config{Now: clock.Now})
	p := testPeer(1)
	k := testKey(1)
	req := trackerapi.AnnounceRequest{Peer: p, Addr: ":7000", Key: k.Public().(ed25519.PublicKey)}
	with := func(nonce string) ([]byte, string) {
		r := req
		r.Nonce = nonce
		b := mustJSON(t, r)
		return b, sign(k, b)
	}

	body, sig := with("")
	code, eb := postAnnounce(t, tt, body, sig)
	if code != http.StatusUnauthorized || eb.Nonce == "" {
		t.Fatalf("no nonce: %d %+v, want 401 with a nonce", code, eb)
	}
	body, sig = with(eb.Nonce)
	if code, eb := postAnnounce(t, tt, body, sig); code != http.StatusOK {
		t.Fatalf("with the nonce given: %d %+v", code, eb)
	}
	if code, eb := postAnnounce(t, tt, body, sig); code != http.StatusUnauthorized || eb.Nonce == "" {
		t.Fatalf("replayed: %d %+v, want 401 with a fresh nonce", code, eb)
	}
	for name, nonce := range map[string]string{
		"issued to another peer": tt.nonces.issue(testPeer(2), clock.Now()),
		"from another tracker":   other.nonces.issue(p, clock.Now()),
		"not a nonce":            "abc",
	} {
		body, sig := with(nonce)
		if code, _ := postAnnounce(t, tt, body, sig); code != http.StatusUnauthorized {
			t.Errorf("nonce %s: status %d, want 401", name, code)
		}
	}
	old := tt.nonces.issue(p, clock.Now())
	clock.Advance(tt.Server.cfg.Lease + time.Second)
	body, sig = with(old)
	if code, _ := postAnnounce(t, tt, body, sig); code != http.StatusUnauthorized {
		t.Errorf("a nonce older than a lease: status %d, want 401", code)
	}
	// An older nonce than the one used last is refused too.
	n1, n2 := tt.nonces.issue(p, clock.Now()), tt.nonces.issue(p, clock.Now())
	body, sig = with(n2)
	if code, _ := postAnnounce(t, tt, body, sig); code != http.StatusOK {
		t.Fatalf("fresh nonce: %d", code)
	}
	body, sig = with(n1)
	if code, _ := postAnnounce(t, tt, body, sig); code != http.StatusUnauthorized {
		t.Errorf("an older nonce after a newer one: status %d, want 401", code)
	}
}

// TestPrivateSwarm: a content published with a tracker key is served only
// to requests that show the key, listed nowhere, cannot be republished
// public or under another key, and stays so across a restart. Without the
// key, it is answered as a content the tracker never heard of.
func TestPrivateSwarm(t *testing.T) { eachStore(t, testPrivateSwarm) }

func testPrivateSwarm(t *testing.T, st store) {
	cfg := st.cfg(Config{Now: newFakeClock().Now})
	tt := startTracker(t, cfg)
	ctx := context.Background()
	m := testManifest("holiday", 8, 1)
	secret := content.NewSecret()
	client := func(tt *testTracker, key *[32]byte) *trackerapi.Client {
		c, err := trackerapi.NewClient(tt.addr, trackerapi.ClientOptions{Retries: -1,
			Access: func(id content.ID) *[32]byte {
				if id == m.ID() {
					return key
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	k, other := secret.TrackerKey(m.ID()), content.NewSecret().TrackerKey(m.ID())
	member, outsider, wrong := client(tt, &k), client(tt, nil), client(tt, &other)
	if resp, err := member.Publish(ctx, m); err != nil || !resp.Created {
		t.Fatalf("private publish: %+v, %v", resp, err)
	}
	for _, c := range []*trackerapi.Client{outsider, wrong} {
		var se *trackerapi.StatusError
		if _, err := c.Publish(ctx, m); !errors.As(err, &se) || se.Code != http.StatusConflict {
			t.Errorf("republishing with other access: %v, want 409", err)
		}
	}
	complete := []trackerapi.ContentState{{ID: m.ID(), Complete: true}}
	resp, err := outsider.Announce(ctx, keyOf(t, testPeer(2)), trackerapi.AnnounceRequest{Addr: testAddr(2), Full: true, Contents: complete})
	if err != nil || !slices.Equal(resp.Unknown, []content.ID{m.ID()}) {
		t.Fatalf("announce without the key: %+v, %v; want the content unknown", resp, err)
	}
	if resp, err := member.Announce(ctx, keyOf(t, testPeer(1)), trackerapi.AnnounceRequest{Addr: testAddr(1), Full: true, Contents: complete}); err != nil || len(resp.Unknown) != 0 {
		t.Fatalf("announce with the key: %+v, %v", resp, err)
	}

	check := func(when string) {
		t.Helper()
		member, outsider, wrong := client(tt, &k), client(tt, nil), client(tt, &other)
		if l := tt.list(t, ""); l.Total != 0 {
			t.Errorf("%s: the list shows %+v", when, l)
		}
		for name, c := range map[string]*trackerapi.Client{"no key": outsider, "another key": wrong} {
			if _, err := c.Manifest(ctx, m.ID()); !trackerapi.IsNotFound(err) {
				t.Errorf("%s: manifest with %s: %v, want 404", when, name, err)
			}
			if _, err := c.Holders(ctx, m, peer.ID{}); !trackerapi.IsNotFound(err) {
				t.Errorf("%s: holders with %s: %v, want 404", when, name, err)
			}
		}
		if _, err := member.Manifest(ctx, m.ID()); err != nil {
			t.Errorf("%s: manifest with the key: %v", when, err)
		}
		hs, err := member.Holders(ctx, m, peer.ID{})
		if err != nil || len(hs) != 1 || hs[0].Peer != testPeer(1) {
			t.Errorf("%s: holders with the key: %+v, %v; want only the member", when, hs, err)
		}
	}
	check("running")
	if err := tt.tick(); err != nil { // flush the announce
		t.Fatal(err)
	}
	tt.stop()
	tt = startTracker(t, cfg)
	check("after a restart")
}

// postWith posts an announce body with one authentication header and
// returns the status and the answer's body.
func postWith(t *testing.T, tt *testTracker, body []byte, header, value string) (int, []byte) {
	t.Helper()
	r, _ := http.NewRequest("POST", tt.url+trackerapi.PathAnnounce, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(header, value)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

// TestAnnounceSessions: a signed announce opens a session; announces
// under it carry a MAC, which only the session's key makes, over their
// own body, for their own peer, once per nonce. A replayed signed
// announce opens nothing.
func TestAnnounceSessions(t *testing.T) {
	clock := newFakeClock()
	tt := startTracker(t, Config{Now: clock.Now})
	m := testManifest("m", 8, 1)
	tt.publish(t, m)
	p := testPeer(1)
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opening, sig := tt.signed(t, trackerapi.AnnounceRequest{Peer: p, Addr: testAddr(1), Full: true, SessionKey: priv.PublicKey().Bytes()})
	code, answer := postWith(t, tt, opening, trackerapi.SignatureHeader, sig)
	var resp trackerapi.AnnounceResponse
	if err := json.Unmarshal(answer, &resp); code != http.StatusOK || err != nil || len(resp.SessionKey) != 32 {
		t.Fatalf("signed announce with a session key: %d %s", code, answer)
	}
	tpub, err := ecdh.X25519().NewPublicKey(resp.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := priv.ECDH(tpub)
	key := trackerapi.SessionSecret(shared, p, priv.PublicKey().Bytes(), resp.SessionKey)
	mac := func(k *[32]byte, body []byte) string {
		return base64.StdEncoding.EncodeToString(trackerapi.SessionMAC(k, body))
	}
	next := mustJSON(t, trackerapi.AnnounceRequest{Peer: p, Addr: testAddr(1),
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}, Nonce: resp.Nonce})
	otherPeer := mustJSON(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2),
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}, Nonce: tt.nonces.issue(testPeer(2), clock.Now())})
	var random [32]byte
	rand.Read(random[:])
	for name, tc := range map[string]struct{ body, mac []byte }{
		"a MAC under another key":          {next, []byte(mac(&random, next))},
		"the MAC of another body":          {next, []byte(mac(&key, opening))},
		"another peer's announce, our MAC": {otherPeer, []byte(mac(&key, otherPeer))},
		"a MAC that is not base64 of 32 B": {next, []byte("AAAA")},
	} {
		if code, answer := postWith(t, tt, tc.body, trackerapi.SessionHeader, string(tc.mac)); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, code, answer)
		}
	}
	if hl := tt.holders(t, m.ID(), ""); hl.Total != 0 {
		t.Fatalf("a forged announce listed %+v", hl)
	}
	if code, answer := postWith(t, tt, next, trackerapi.SessionHeader, mac(&key, next)); code != http.StatusOK {
		t.Fatalf("announce under the session: %d %s", code, answer)
	}
	if hl := tt.holders(t, m.ID(), ""); hl.Total != 1 || hl.Holders[0].Peer != p {
		t.Fatalf("after the session's announce: %+v", hl)
	}
	if code, _ := postWith(t, tt, next, trackerapi.SessionHeader, mac(&key, next)); code != http.StatusUnauthorized {
		t.Errorf("a replayed session announce: %d, want 401", code)
	}
	// A replay of the signed announce is refused by its nonce and opens
	// no session: the session above still holds.
	if code, answer := postWith(t, tt, opening, trackerapi.SignatureHeader, sig); code != http.StatusUnauthorized {
		t.Errorf("a replayed signed announce: %d %s, want 401", code, answer)
	}
	again := mustJSON(t, trackerapi.AnnounceRequest{Peer: p, Addr: testAddr(1), Nonce: tt.nonces.issue(p, clock.Now())})
	if code, answer := postWith(t, tt, again, trackerapi.SessionHeader, mac(&key, again)); code != http.StatusOK {
		t.Errorf("after the replay, the session's announce: %d %s", code, answer)
	}
}

// TestBadMACsDoNotKeepASessionAlive: only announces under a session keep
// it from expiring; anyone's junk MACs for the peer do not.
func TestBadMACsDoNotKeepASessionAlive(t *testing.T) {
	clock := newFakeClock()
	ss := newSessions(time.Minute, 4)
	p := testPeer(1)
	priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if pub, err := ss.open(p, priv.PublicKey().Bytes(), clock.Now()); err != nil || pub == nil {
		t.Fatal(err)
	}
	junk := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for range 3 {
		clock.Advance(30 * time.Second)
		if ss.check(p, []byte("{}"), junk, clock.Now()) {
			t.Fatal("a junk MAC was taken")
		}
		ss.sweep(clock.Now())
	}
	if ss.m[p] != nil {
		t.Fatal("junk MACs kept the session alive past its lifetime")
	}
}
