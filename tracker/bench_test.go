package tracker

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// BenchmarkAnnounce measures full announces of 10,000 peers × 10
// contents of 1,000 chunks each (random bitfields), with the janitor
// flushing to bbolt every second as in production. "loopback" goes
// through a real listener on 127.0.0.1 with keep-alive clients (client
// and tracker share the CPUs); "handler" calls the handler directly.
func BenchmarkAnnounce(b *testing.B) {
	const peers, contents, chunks = 10_000, 10, 1_000
	tt := startTracker(b, Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	states := make([]trackerapi.ContentState, contents)
	for i := range states {
		m := testManifest("bench", chunks, uint64(i))
		tt.publish(b, m)
		states[i].ID = m.ID()
	}
	reqs := make([]trackerapi.AnnounceRequest, peers)
	for n := range reqs {
		for i := range states {
			have := chunkset.New(chunks)
			for c := range chunks {
				if rng.IntN(2) == 0 {
					have.Set(c)
				}
			}
			states[i].Have = have.Bytes()
		}
		reqs[n] = trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true, Contents: slices.Clone(states)}
	}
	// Every announce is signed by its peer with a nonce of its own, as
	// clients send them; they are made before the timer starts, so the
	// figure is the tracker's work alone (client and tracker still share
	// the CPUs on loopback).
	type signedBody struct {
		body []byte
		sig  string
	}
	var bodies []signedBody
	var next atomic.Int64
	prepare := func(b *testing.B) {
		b.StopTimer()
		bodies = bodies[:0]
		for i := range b.N {
			body, sig := tt.signed(b, reqs[i%peers])
			bodies = append(bodies, signedBody{body, sig})
		}
		next.Store(-1)
		b.StartTimer()
	}
	body := func() signedBody { return bodies[next.Add(1)] }

	b.Run("loopback", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer client.CloseIdleConnections()
		b.SetParallelism(8) // 8 × GOMAXPROCS clients hide the round trip
		b.ReportAllocs()
		prepare(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sb := body()
				req, _ := http.NewRequest(http.MethodPost, tt.url+trackerapi.PathAnnounce, bytes.NewReader(sb.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(trackerapi.SignatureHeader, sb.sig)
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
	b.Run("handler", func(b *testing.B) {
		h := tt.Handler()
		b.ReportAllocs()
		prepare(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sb := body()
				req := httptest.NewRequest(http.MethodPost, trackerapi.PathAnnounce, bytes.NewReader(sb.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(trackerapi.SignatureHeader, sb.sig)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Errorf("status %d: %s", rec.Code, rec.Body)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "announces/s")
	})
}
