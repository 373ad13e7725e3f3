package tracker

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
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
	bodies := make([][]byte, peers)
	for n := range bodies {
		for i := range states {
			have := chunkset.New(chunks)
			for c := range chunks {
				if rng.IntN(2) == 0 {
					have.Set(c)
				}
			}
			states[i].Have = have.Bytes()
		}
		bodies[n] = mustJSON(b, trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true, Contents: states})
	}
	var next atomic.Uint64
	body := func() []byte { return bodies[next.Add(1)%peers] }

	b.Run("loopback", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer client.CloseIdleConnections()
		b.SetParallelism(8) // 8 × GOMAXPROCS clients hide the round trip
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(tt.url+trackerapi.PathAnnounce, "application/json", bytes.NewReader(body()))
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
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest(http.MethodPost, trackerapi.PathAnnounce, bytes.NewReader(body()))
				req.Header.Set("Content-Type", "application/json")
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
