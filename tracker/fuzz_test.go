package tracker

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/bits"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// FuzzAnnounce feeds the announce decoder arbitrary bodies. Whatever it
// accepts must be fully valid and apply to a state without breaking its
// counts.
func FuzzAnnounce(f *testing.F) {
	known := testManifest("k", 10, 1)
	empty := &content.Manifest{Name: "e", ChunkSize: content.MinChunkSize, Created: time.Unix(0, 0).UTC()}
	unknown := testManifest("u", 3, 2)
	p := testPeer(1)
	for _, req := range []trackerapi.AnnounceRequest{
		{Peer: p, Addr: "10.0.0.1:7000", Full: true, Contents: []trackerapi.ContentState{
			{ID: known.ID(), Have: haveOf(10, 0, 9), Uploaded: 3, Downloaded: 9, FromOrigin: 4},
			{ID: empty.ID(), Complete: true},
			{ID: unknown.ID(), Complete: true},
		}},
		{Peer: p, Addr: ":7000", Stopped: []content.ID{known.ID()}, Key: testKey(1).Public().(ed25519.PublicKey), Nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{Peer: p, Addr: "[::]:1", Contents: []trackerapi.ContentState{{ID: known.ID(), Complete: true, Access: make([]byte, 32)}}},
		{Peer: p, Addr: "host.example:65535", Contents: []trackerapi.ContentState{{ID: known.ID(), Have: haveOf(10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0)}}},
	} {
		f.Add(mustJSON(f, req))
	}
	f.Add([]byte(`{"peer_id":"` + p.String() + `","addr":"1.2.3.4:5","contents":[{"id":"` + known.ID().String() + `","have":"/8A="}]}`))
	f.Add([]byte(`{"peer_id":null}`))
	f.Add([]byte(`[]`))
	chunks := func(id content.ID, _ []byte) (int, bool) {
		switch id {
		case known.ID():
			return 10, true
		case empty.ID():
			return 0, true
		}
		return 0, false
	}
	f.Add([]byte(`{"peer_id":"` + p.String() + `","addr":"1.2.3.4:5","x":[{"y":[1.5e3,-0,null,true,"\u00e9\""]}],"contents":[null,{"id":"` + known.ID().String() + `","have":null,"uploaded":12,"complete":true}],"full":null}`))
	f.Add([]byte(`{"peer_id":"` + p.String() + `","addr":"\u0031.2.3.4:5","stopped":["` + known.ID().String() + `"],"contents":[{"uploaded":1.0}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		compareWithEncodingJSON(t, body)
		a, err := decodeAnnounce(body, netip.MustParseAddr("192.0.2.1"), chunks)
		if err != nil {
			return
		}
		if a.peer.IsZero() || content.ValidateAddr(a.addr) != nil {
			t.Fatalf("accepted peer %v addr %q", a.peer, a.addr)
		}
		if len(a.updates)+len(a.unknown) > trackerapi.MaxContentsPerPeer || len(a.stopped) > trackerapi.MaxContentsPerPeer {
			t.Fatal("accepted too many entries")
		}
		for i, u := range a.updates {
			n, ok := chunks(u.id, nil)
			if !ok || (i > 0 && compareIDs(a.updates[i-1].id, u.id) >= 0) {
				t.Fatalf("update %d: unknown or out of order", i)
			}
			if _, found := slices.BinarySearchFunc(a.stopped, u.id, compareIDs); found {
				t.Fatal("content both held and stopped")
			}
			switch {
			case u.have == nil && u.held != n,
				u.have != nil && (u.have.Len() != n || u.have.Count() != u.held || u.held >= n),
				u.uploaded < 0 || u.downloaded < 0:
				t.Fatalf("update %d: %+v of %d chunks", i, u, n)
			}
		}
		st := newState(lease, 0)
		st.addSwarm(known.ID(), known, nil)
		st.addSwarm(empty.ID(), empty, nil)
		if _, err := st.apply(a, time.Unix(0, 0), 1); err != nil {
			t.Fatal(err)
		}
		for _, sw := range st.swarms {
			checkSwarm(t, sw)
		}
	})
}

// checkSwarm recomputes a swarm's counters from its holders.
func checkSwarm(t testing.TB, sw *swarm) {
	t.Helper()
	counts := make([]uint32, sw.chunks)
	seeders, nonEmpty := 0, 0
	for _, h := range sw.holders {
		switch {
		case h.have == nil:
			seeders++
		case h.held > 0:
			for wi, w := range h.have.Words() {
				for ; w != 0; w &= w - 1 {
					counts[wi*64+bits.TrailingZeros64(w)]++
				}
			}
		}
		if h.have == nil || h.held > 0 {
			nonEmpty++
		}
	}
	covered := 0
	for _, c := range counts {
		if c > 0 {
			covered++
		}
	}
	kept := sw.counts
	if kept == nil { // not allocated before the first partial holder
		kept = make([]uint32, sw.chunks)
	}
	if seeders != sw.seeders || nonEmpty != sw.nonEmpty || covered != sw.covered || !slices.Equal(counts, kept) {
		t.Fatalf("swarm %s: seeders %d/%d, holders %d/%d, covered %d/%d (kept/recomputed)", sw.name, sw.seeders, seeders, sw.nonEmpty, nonEmpty, sw.covered, covered)
	}
}

// FuzzHoldingRecord feeds the on-disk holding decoder arbitrary bytes;
// what it accepts must survive an encode and decode unchanged.
func FuzzHoldingRecord(f *testing.F) {
	f.Add(appendHolding(nil, trackerapi.ContentState{Have: haveOf(10, 3), Uploaded: 1 << 40}))
	f.Add(appendHolding(nil, trackerapi.ContentState{Complete: true}))
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHolding(b)
		if err != nil {
			return
		}
		again, err := decodeHolding(appendHolding(nil, h))
		if err != nil || !reflect.DeepEqual(h, again) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// FuzzOldHoldingsRecord feeds the decoder of the old per-peer record,
// read once when an old database is converted, arbitrary bytes.
func FuzzOldHoldingsRecord(f *testing.F) {
	m := testManifest("m", 10, 1)
	f.Add(appendOldHoldings(nil, []trackerapi.ContentState{{ID: m.ID(), Have: haveOf(10, 3), Uploaded: 1 << 40}, {ID: m.ID(), Complete: true}}))
	f.Add(appendOldHoldings(nil, nil))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := decodeOldHoldings(b)
		if err != nil {
			return
		}
		again, err := decodeOldHoldings(appendOldHoldings(nil, hs))
		if err != nil || !reflect.DeepEqual(hs, again) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// FuzzLeaseRecord does the same for lease records.
func FuzzLeaseRecord(f *testing.F) {
	f.Add(appendLease(nil, time.Unix(1, 2), "10.0.0.1:7000"))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLease(b)
		if err != nil {
			return
		}
		again, err := decodeLease(appendLease(nil, l.lastSeen, l.addr))
		if err != nil || again.addr != l.addr || !again.lastSeen.Equal(l.lastSeen) {
			t.Fatalf("re-decode: %+v, %v", again, err)
		}
	})
}

// compareWithEncodingJSON checks parseAnnounce against encoding/json on
// input where they must agree: plain (no upper case, escapes or non-ASCII,
// where encoding/json's case-insensitive keys would match other keys) and,
// for the decoded values, without duplicate keys (encoding/json reuses
// the elements of a list decoded twice).
func compareWithEncodingJSON(t *testing.T, body []byte) {
	mine, errMine := parseAnnounce(body)
	var ref trackerapi.AnnounceRequest
	errRef := json.Unmarshal(body, &ref)
	plain := !bytes.ContainsFunc(body, func(r rune) bool { return r >= 'A' && r <= 'Z' || r == '\\' || r >= 0x80 })
	if !plain || errors.Is(errMine, errTooMany) {
		return
	}
	if (errMine == nil) != (errRef == nil) {
		t.Fatalf("parseAnnounce: %v; encoding/json: %v", errMine, errRef)
	}
	if errMine == nil && !hasDuplicateKeys(body) && !sameRequest(mine, ref) {
		t.Fatalf("parseAnnounce decoded\n%+v\nencoding/json\n%+v", mine, ref)
	}
}

func sameRequest(a, b trackerapi.AnnounceRequest) bool {
	if a.Peer != b.Peer || a.Addr != b.Addr || a.Full != b.Full || !slices.Equal(a.Stopped, b.Stopped) ||
		!bytes.Equal(a.Key, b.Key) || (a.Key == nil) != (b.Key == nil) || a.Nonce != b.Nonce ||
		(a.Contents == nil) != (b.Contents == nil) || (a.Stopped == nil) != (b.Stopped == nil) || len(a.Contents) != len(b.Contents) {
		return false
	}
	for i, x := range a.Contents {
		y := b.Contents[i]
		if x.ID != y.ID || x.Complete != y.Complete || x.Uploaded != y.Uploaded || x.Downloaded != y.Downloaded ||
			!bytes.Equal(x.Have, y.Have) || (x.Have == nil) != (y.Have == nil) {
			return false
		}
	}
	return true
}

// hasDuplicateKeys reports whether some object in body (valid JSON)
// repeats a key.
func hasDuplicateKeys(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type level struct {
		keys     map[string]bool
		isObject bool
		wantKey  bool
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.isObject && top.wantKey {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{keys: map[string]bool{}, isObject: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: an object wants its next key.
		if len(stack) > 0 && stack[len(stack)-1].isObject {
			stack[len(stack)-1].wantKey = true
		}
	}
}

// FuzzAuthenticate: whatever body, signature header and nonce a client
// sends, authentication never panics, and it lets an announce through
// only if its key is its peer ID's, the signature verifies and the nonce
// is one this tracker issued to that peer.
func FuzzAuthenticate(f *testing.F) {
	clock := newFakeClock()
	s := &Server{cfg: Config{Now: clock.Now, Lease: lease}, nonces: newNonces(lease), sessions: newSessions(lease, 4)}
	k := testKey(1)
	// Peer 1 has a session open, whose key the fuzzer's MACs may use.
	peerKey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	tpub, err := s.sessions.open(testPeer(1), peerKey.PublicKey().Bytes(), clock.Now())
	if err != nil || tpub == nil {
		f.Fatal(err)
	}
	tkey, _ := ecdh.X25519().NewPublicKey(tpub)
	shared, _ := peerKey.ECDH(tkey)
	session := trackerapi.SessionSecret(shared, testPeer(1), peerKey.PublicKey().Bytes(), tpub)
	req := trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":1", Key: k.Public().(ed25519.PublicKey), Nonce: s.nonces.issue(testPeer(1), clock.Now())}
	good := mustJSON(f, req)
	f.Add(good, base64.StdEncoding.EncodeToString(ed25519.Sign(k, trackerapi.SignedAnnounce(good))), "")
	req.Key = nil
	viaSession := mustJSON(f, req)
	f.Add(viaSession, "", base64.StdEncoding.EncodeToString(trackerapi.SessionMAC(&session, viaSession)))
	f.Add([]byte(`{"peer_id":"`+testPeer(1).String()+`","key":"AAAA","nonce":"x"}`), "AAAA", "")
	f.Add([]byte(`{}`), "", "AAAA")
	f.Fuzz(func(t *testing.T, body []byte, sig, mac string) {
		r, err := parseAnnounce(body)
		if err != nil {
			return
		}
		hr, _ := http.NewRequest("POST", "/", nil)
		hr.Header.Set(trackerapi.SignatureHeader, sig)
		hr.Header.Set(trackerapi.SessionHeader, mac)
		if _, err := s.authenticate(hr, body, &r, clock.Now()); err != nil {
			return
		}
		if mac != "" {
			raw, err := base64.StdEncoding.DecodeString(mac)
			if r.Peer != testPeer(1) || err != nil || !hmac.Equal(raw, trackerapi.SessionMAC(&session, body)) {
				t.Fatal("authenticated an announce without its session's MAC")
			}
		} else {
			raw, err := base64.StdEncoding.DecodeString(sig)
			if peer.IDOf(r.Key) != r.Peer || err != nil || !ed25519.Verify(r.Key, trackerapi.SignedAnnounce(body), raw) {
				t.Fatal("authenticated an announce that does not prove its key")
			}
		}
		if _, err := s.nonces.check(r.Peer, r.Nonce, clock.Now()); err != nil {
			t.Fatal("authenticated an announce with a nonce not issued here")
		}
	})
}

// FuzzManifestHead: the head of a manifest kept in etcd, read back from
// the cluster (which another tracker, or anyone with access, wrote).
func FuzzManifestHead(f *testing.F) {
	f.Add(appendManifestHead(nil, 1000, 1, nil))
	f.Add(appendManifestHead(nil, 2*manifestPart+1, 3, &[32]byte{7}))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeManifestHead(b)
		if err != nil {
			return
		}
		if h.size > content.MaxEncodedSize || h.parts != (h.size+manifestPart-1)/manifestPart {
			t.Fatalf("head %+v out of bounds", h)
		}
		again, err := decodeManifestHead(appendManifestHead(nil, h.size, h.parts, h.access))
		if err != nil || again.size != h.size || again.parts != h.parts || (again.access == nil) != (h.access == nil) ||
			(h.access != nil && *again.access != *h.access) {
			t.Fatalf("re-decode: %+v, %v", again, err)
		}
	})
}
