package tracker

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"peerflow/core/trackerapi"
)

// TestConcurrentAnnounces runs announces, reads and flushes at once (run
// it with -race), then checks that nothing was lost, also on disk.
func TestConcurrentAnnounces(t *testing.T) { eachStore(t, testConcurrentAnnounces) }

func testConcurrentAnnounces(t *testing.T, st store) {
	cfg := st.cfg(Config{Now: newFakeClock().Now, FlushInterval: time.Millisecond})
	tt := startTracker(t, cfg)
	const contents, workers, perWorker = 4, 8, 40
	ms := make([]trackerapi.ContentState, contents)
	for i := range ms {
		m := testManifest("m", 100, uint64(i))
		tt.publish(t, m)
		ms[i] = trackerapi.ContentState{ID: m.ID(), Have: haveOf(100, i, 50+i)}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := w*perWorker + i
				req := trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true, Contents: ms}
				if _, err := tt.client.Announce(ctx, keyOf(t, req.Peer), req); err != nil {
					t.Error(err)
					return
				}
				req.Full, req.Contents = false, ms[:1] // a heartbeat with one change
				if _, err := tt.client.Announce(ctx, keyOf(t, req.Peer), req); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() { // a reader per writer
			for range perWorker {
				if _, err := tt.client.Contents(ctx, "m", 0, 10); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tt.state.mu.RLock()
	for _, sw := range tt.state.swarms {
		checkSwarm(t, sw)
	}
	tt.state.mu.RUnlock()
	for _, c := range tt.list(t, "").Contents {
		if c.Holders != workers*perWorker {
			t.Fatalf("%d holders, want %d", c.Holders, workers*perWorker)
		}
	}
	tt.stop()
	tt = startTracker(t, cfg)
	for _, c := range tt.list(t, "").Contents {
		if c.Holders != workers*perWorker || c.Availability != 0.02 {
			t.Fatalf("after restart: %+v", c)
		}
	}
}

// TestCloseStopsEveryGoroutine checks that no goroutine of a tracker
// outlives Close.
func TestCloseStopsEveryGoroutine(t *testing.T) { eachStore(t, testCloseStopsEveryGoroutine) }

func testCloseStopsEveryGoroutine(t *testing.T, st store) {
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	for range 3 { // the desktop app turns the tracker on and off
		tt := startTracker(t, st.cfg(Config{}))
		tt.publish(t, testManifest("m", 4, 1))
		tt.list(t, "")
		tt.stop()
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits until at most n goroutines run. Goroutines that
// were told to stop take a few scheduler rounds to return; it yields
// rather than sleeps, and gives up after 10 s with a dump of the rest.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, want at most %d:\n%s", runtime.NumGoroutine(), n, strings.TrimSpace(string(buf)))
		}
		runtime.Gosched()
	}
}
