package tracker

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/testtools"
	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// BenchmarkFleetAnnounce measures announces of 10,000 peers × 10
// contents (1,000 chunks each, random bitfields, all new each round)
// from the moment the first is sent until every tracker serves every one
// of them and the store holds them all: the handler work, the flushes
// (110,000 records a round) and, on etcd, every other tracker's watch.
// "bbolt" is one tracker on its file; "etcd-N" is N trackers on one etcd,
// the announces spread over them. Trackers and etcd share the machine's
// cores; the announces go to the handlers directly (no HTTP), signed.
func BenchmarkFleetAnnounce(b *testing.B) {
	const peers, contents, chunks = 10_000, 10, 1_000
	run := func(b *testing.B, fleet []*testTracker) {
		states := make([]trackerapi.ContentState, contents)
		for i := range states {
			m := testManifest("bench", chunks, uint64(i))
			fleet[0].publish(b, m)
			states[i].ID = m.ID()
		}
		for _, tt := range fleet {
			waitFor(b, "the manifests", func() bool { return tt.list(b, "").Total == contents })
		}
		rng := mrand.New(mrand.NewPCG(1, 2))
		var elapsed time.Duration
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			as := make([][]authed, len(fleet))
			last := make([]*chunkset.Set, peers) // what each peer holds of the last content
			for n := range peers {
				req := trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true, Contents: make([]trackerapi.ContentState, contents)}
				for i := range req.Contents {
					have := chunkset.New(chunks)
					for c := range chunks {
						if rng.IntN(2) == 0 {
							have.Set(c)
						}
					}
					req.Contents[i] = trackerapi.ContentState{ID: states[i].ID, Have: have.Bytes()}
					last[n] = have
				}
				tt := fleet[n%len(fleet)]
				body, sig := tt.signed(b, req)
				as[n%len(fleet)] = append(as[n%len(fleet)], authed{body, trackerapi.SignatureHeader, sig})
			}
			b.StartTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, tt := range fleet {
				wg.Go(func() { runParallel(b, tt.Handler(), as[i]) })
			}
			wg.Wait()
			for _, tt := range fleet {
				if err := tt.tick(); err != nil {
					b.Fatal(err)
				}
			}
			for _, tt := range fleet {
				waitFor(b, "every announce at every tracker", func() bool { return tt.state.holdsAll(states[contents-1].ID, last) })
			}
			elapsed += time.Since(start)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*peers)/elapsed.Seconds(), "announces/s")
		b.ReportMetric(float64(b.N*peers*(contents+1))/elapsed.Seconds(), "records/s")
	}
	cfg := Config{FlushInterval: time.Hour, AnnounceRate: -1, MaxPeersPerSource: -1} // flushed by hand
	b.Run("bbolt", func(b *testing.B) {
		c := cfg
		c.DB = b.TempDir() + "/t.db"
		run(b, []*testTracker{startTracker(b, c)})
	})
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("etcd-%d", n), func(b *testing.B) {
			e := testtools.StartEtcd(b)
			fleet := make([]*testTracker, n)
			for i := range fleet {
				fleet[i] = startTracker(b, etcdStoreOf(e).cfg(cfg))
			}
			run(b, fleet)
		})
	}
}

// holdsAll reports whether st has, for content id, the holding of test
// peer n as have[n], for every n.
func (st *state) holdsAll(id content.ID, have []*chunkset.Set) bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	sw := st.swarms[id]
	if len(sw.holders) != len(have) {
		return false
	}
	for n, want := range have {
		h := sw.holders[testPeer(n)]
		if h == nil || h.have == nil || !h.have.Equal(want) {
			return false
		}
	}
	return true
}

// BenchmarkFleetChurn: 10,000 peers join a content (a full announce of
// 1,000 chunks held at random) and leave it (an announce that stops it),
// through the first tracker, in waves of 500, flushed every 100 ms as the
// janitor does, while holder lists of the content are asked of the last
// tracker over loopback HTTP as fast as one client can. It reports the
// holder-list latency p50 and p99 under that churn, and the joins and
// leaves per second. "bbolt" is one tracker that takes both; "etcd-2" two
// trackers on one etcd.
func BenchmarkFleetChurn(b *testing.B) {
	const peers, wave, chunks = 10_000, 500, 1_000
	run := func(b *testing.B, writer, reader *testTracker) {
		m := testManifest("churn", chunks, 1)
		writer.publish(b, m)
		waitFor(b, "the manifest", func() bool { return reader.list(b, "").Total == 1 })
		rng := mrand.New(mrand.NewPCG(3, 4))
		join := make([]authed, 0, peers)
		for n := range peers {
			have := chunkset.New(chunks)
			for c := range chunks {
				if rng.IntN(2) == 0 {
					have.Set(c)
				}
			}
			body, sig := writer.signed(b, trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true,
				Contents: []trackerapi.ContentState{{ID: m.ID(), Have: have.Bytes()}}})
			join = append(join, authed{body, trackerapi.SignatureHeader, sig})
		}
		var lat []time.Duration
		var churnTime time.Duration
		b.ResetTimer()
		for range b.N {
			stop := make(chan struct{})
			var got []time.Duration
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					reader.holders(b, m.ID(), "?limit=50")
					got = append(got, time.Since(start))
				}
			})
			start := time.Now()
			for w := 0; w < peers; w += wave {
				b.StopTimer()
				leave := make([]authed, 0, wave)
				for n := w; n < w+wave; n++ {
					body, sig := writer.signed(b, trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Stopped: []content.ID{m.ID()}})
					leave = append(leave, authed{body, trackerapi.SignatureHeader, sig})
				}
				b.StartTimer()
				runParallel(b, writer.Handler(), join[w:w+wave])
				if err := writer.tick(); err != nil {
					b.Fatal(err)
				}
				runParallel(b, writer.Handler(), leave)
				if err := writer.tick(); err != nil {
					b.Fatal(err)
				}
			}
			churnTime += time.Since(start)
			close(stop)
			wg.Wait()
			lat = append(lat, got...)
			b.StopTimer()
			// Fresh nonces for the next round's joins.
			for n := range join {
				var req trackerapi.AnnounceRequest
				if err := json.Unmarshal(join[n].body, &req); err != nil {
					b.Fatal(err)
				}
				body, sig := writer.signed(b, req)
				join[n] = authed{body, trackerapi.SignatureHeader, sig}
			}
			b.StartTimer()
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "holders-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "holders-p99-ms")
		b.ReportMetric(float64(2*b.N*peers)/churnTime.Seconds(), "joins+leaves/s")
	}
	cfg := Config{FlushInterval: time.Hour, AnnounceRate: -1, MaxPeersPerSource: -1} // flushed by hand, each half wave
	b.Run("bbolt", func(b *testing.B) {
		c := cfg
		c.DB = b.TempDir() + "/t.db"
		tt := startTracker(b, c)
		run(b, tt, tt)
	})
	b.Run("etcd-2", func(b *testing.B) {
		e := testtools.StartEtcd(b)
		run(b, startTracker(b, etcdStoreOf(e).cfg(cfg)), startTracker(b, etcdStoreOf(e).cfg(cfg)))
	})
}
