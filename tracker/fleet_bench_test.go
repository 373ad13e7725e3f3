package tracker

import (
	"fmt"
	mrand "math/rand/v2"
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
			waitForB(b, func() bool { return tt.list(b, "").Total == contents })
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
				waitForB(b, func() bool { return tt.state.holdsAll(states[contents-1].ID, last) })
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

// waitForB polls cond for up to a minute.
func waitForB(b *testing.B, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
