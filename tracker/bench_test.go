package tracker

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// announceBench is 10,000 peers × 10 contents of 1,000 chunks each
// (random bitfields) on one tracker, each peer with an announce session
// open, as in steady state.
type announceBench struct {
	tt       *testTracker
	reqs     []trackerapi.AnnounceRequest // one full announce per peer
	sessions [][32]byte                   // each peer's session key
}

func newAnnounceBench(b *testing.B) *announceBench {
	const peers, contents, chunks = 10_000, 10, 1_000
	ab := &announceBench{tt: startTracker(b, Config{})}
	rng := mrand.New(mrand.NewPCG(1, 2))
	states := make([]trackerapi.ContentState, contents)
	for i := range states {
		m := testManifest("bench", chunks, uint64(i))
		ab.tt.publish(b, m)
		states[i].ID = m.ID()
	}
	ab.reqs = make([]trackerapi.AnnounceRequest, peers)
	ab.sessions = make([][32]byte, peers)
	h := ab.tt.Handler()
	for n := range ab.reqs {
		for i := range states {
			have := chunkset.New(chunks)
			for c := range chunks {
				if rng.IntN(2) == 0 {
					have.Set(c)
				}
			}
			states[i].Have = have.Bytes()
		}
		ab.reqs[n] = trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true, Contents: slices.Clone(states)}
		// Open the peer's session, as its first announce does.
		priv, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		opening := ab.reqs[n]
		opening.SessionKey = priv.PublicKey().Bytes()
		body, sig := ab.tt.signed(b, opening)
		rec := serve(h, body, trackerapi.SignatureHeader, sig)
		var resp trackerapi.AnnounceResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); rec.Code != http.StatusOK || err != nil {
			b.Fatalf("opening announce: %d %s", rec.Code, rec.Body)
		}
		tpub, err := ecdh.X25519().NewPublicKey(resp.SessionKey)
		if err != nil {
			b.Fatal(err)
		}
		shared, _ := priv.ECDH(tpub)
		ab.sessions[n] = trackerapi.SessionSecret(shared, testPeer(n), opening.SessionKey, resp.SessionKey)
	}
	return ab
}

// authed is an announce body and its authentication header.
type authed struct {
	body          []byte
	header, value string
}

// bodies makes n announces of the peers from first on, round robin, each
// with a fresh nonce: signed, or under the peer's session. They are made
// before the timer runs, so the figure is the tracker's work alone.
func (ab *announceBench) bodies(b *testing.B, first, n int, signed bool) []authed {
	out := make([]authed, n)
	for i := range out {
		p := (first + i) % len(ab.reqs)
		if signed {
			body, sig := ab.tt.signed(b, ab.reqs[p])
			out[i] = authed{body, trackerapi.SignatureHeader, sig}
			continue
		}
		req := ab.reqs[p]
		req.Nonce = ab.tt.nonces.issue(req.Peer, ab.tt.Server.cfg.Now())
		body := mustJSON(b, req)
		out[i] = authed{body, trackerapi.SessionHeader, base64.StdEncoding.EncodeToString(trackerapi.SessionMAC(&ab.sessions[p], body))}
	}
	return out
}

// serve runs one announce through the handler.
func serve(h http.Handler, body []byte, header, value string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, trackerapi.PathAnnounce, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(header, value)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// BenchmarkAnnounce measures full announces of 10,000 peers × 10
// contents, with the janitor flushing to bbolt every second as in
// production.
//
// "handler" calls the handler directly, on all cores. In the same run it
// alternates rounds of announces under sessions (what peers send after
// their first) with rounds of signed ones (a first announce, or any
// after a tracker restart), and measures the limit that binds the signed
// ones: Ed25519 verifications per second on all cores.
//
// "loopback" sends session announces through a real listener on
// 127.0.0.1 with keep-alive clients (client and tracker share the CPUs).
func BenchmarkAnnounce(b *testing.B) {
	ab := newAnnounceBench(b)
	b.Run("handler", func(b *testing.B) {
		h := ab.tt.Handler()
		const round = 2000
		rounds := max(b.N/(2*round), 2) // b.N announces in all
		var sessionTime, signedTime time.Duration
		var ratios []float64
		b.ReportAllocs()
		for r := range rounds {
			b.StopTimer()
			// Each batch its own peers: a peer's nonces are taken in the
			// order they were issued.
			session, signed := ab.bodies(b, 2*r*round, round, false), ab.bodies(b, (2*r+1)*round, round, true)
			b.StartTimer()
			var ts, tg time.Duration
			if r%2 == 0 {
				ts, tg = runParallel(b, h, session), runParallel(b, h, signed)
			} else {
				tg, ts = runParallel(b, h, signed), runParallel(b, h, session)
			}
			sessionTime += ts
			signedTime += tg
			ratios = append(ratios, tg.Seconds()/ts.Seconds())
		}
		b.StopTimer()
		slices.Sort(ratios)
		n := float64(rounds * round)
		b.ReportMetric(n/sessionTime.Seconds(), "session-announces/s")
		b.ReportMetric(n/signedTime.Seconds(), "signed-announces/s")
		b.ReportMetric(ratios[len(ratios)/2], "session-vs-signed")
		b.ReportMetric(verifiesPerSecond(), "ed25519-verifies/s")
	})
	b.Run("loopback", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer client.CloseIdleConnections()
		b.StopTimer()
		bodies := ab.bodies(b, 0, b.N, false)
		var next atomic.Int64
		next.Store(-1)
		b.SetParallelism(8) // 8 × GOMAXPROCS clients hide the round trip
		b.ReportAllocs()
		b.StartTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a := bodies[next.Add(1)]
				req, _ := http.NewRequest(http.MethodPost, ab.tt.url+trackerapi.PathAnnounce, bytes.NewReader(a.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(a.header, a.value)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "announces/s")
	})
}

// runParallel runs the announces through h on GOMAXPROCS goroutines and
// returns how long they took.
func runParallel(b *testing.B, h http.Handler, as []authed) time.Duration {
	var next atomic.Int64
	next.Store(-1)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := next.Add(1); i < int64(len(as)); i = next.Add(1) {
				if rec := serve(h, as[i].body, as[i].header, as[i].value); rec.Code != http.StatusOK {
					b.Errorf("status %d: %s", rec.Code, rec.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// verifiesPerSecond measures Ed25519 verifications per second on every
// core: the limit of signed announces.
func verifiesPerSecond() float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 3000) // about an announce of 10 contents
	sig := ed25519.Sign(priv, msg)
	const each = 400
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for range each {
				ed25519.Verify(pub, msg, sig)
			}
		})
	}
	wg.Wait()
	return float64(each*runtime.GOMAXPROCS(0)) / time.Since(start).Seconds()
}
