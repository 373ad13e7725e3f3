package trackerapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"peerflow/core/testtools"
	"peerflow/core/trackerapi"
	"peerflow/tracker"
)

// TestPoolAnnouncesToOneTrackerOfAFleet: once the pool knows that three
// trackers are one fleet (they gave one tracker ID), it announces to one
// of them, and turns to the next, with a full announce, when that one
// fails. Every tracker of the fleet serves the node's holdings.
func TestPoolAnnouncesToOneTrackerOfAFleet(t *testing.T) {
	e := testtools.StartEtcd(t)
	cfg := tracker.Config{Etcd: &tracker.Etcd{Endpoints: []string{strings.TrimPrefix(e.URL, "http://")}}, FlushInterval: 20 * time.Millisecond}
	logs := make([]*announceLog, 3)
	fleet := make([]*liveTracker, 3)
	for i := range fleet {
		logs[i] = new(announceLog)
		fleet[i] = serveConfig(t, cfg, "127.0.0.1:0", logs[i].wrap)
	}
	// The trackers in address order: the pool tries them so.
	order := []int{0, 1, 2}
	slices.SortFunc(order, func(i, j int) int { return strings.Compare(fleet[i].addr, fleet[j].addr) })
	fleet = []*liveTracker{fleet[order[0]], fleet[order[1]], fleet[order[2]]}
	logs = []*announceLog{logs[order[0]], logs[order[1]], logs[order[2]]}
	clock := newTestClock()
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1), Now: clock.Now})
	defer pool.CloseIdleConnections()
	for _, lt := range fleet {
		if err := pool.Add(lt.addr, trackerapi.SourceManual); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	m := testManifest("m", 8, 1)
	if err := pool.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	state := []trackerapi.ContentState{{ID: m.ID(), Have: haveOf(8, 1)}}
	// took returns "tracker:announce" for each announce taken (see
	// announceLog.take for the announce's form).
	took := func(step string, accepted int) []string {
		t.Helper()
		res, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000", Contents: state})
		if err != nil || res.Accepted != accepted {
			t.Fatalf("%s: %+v, %v (want %d accepted)", step, res, err, accepted)
		}
		var got []string
		for i := range logs {
			for _, a := range logs[i].take() {
				got = append(got, fmt.Sprintf("%d:%s", i, a))
			}
		}
		return got
	}
	// The first announce goes to each: the pool knows no IDs yet.
	if got := took("first", 3); !slices.Equal(got, []string{"0:full:1", "1:full:1", "2:full:1"}) {
		t.Fatalf("first announce: %v, want a full one to each", got)
	}
	for _, st := range pool.Trackers() {
		if st.TrackerID != fleet[0].ID() {
			t.Fatalf("tracker %s: ID %q, want the fleet's %s", st.Addr, st.TrackerID, fleet[0].ID())
		}
	}
	state[0].Have = haveOf(8, 1, 2)
	if got := took("one chunk more", 1); !slices.Equal(got, []string{"0:inc:1-0"}) {
		t.Fatalf("announce: %v, want only the first tracker's", got)
	}
	clock.Advance(trackerapi.DefaultIntervalSeconds * time.Second)
	if got := took("heartbeat", 1); !slices.Equal(got, []string{"0:inc:0-0"}) {
		t.Fatalf("heartbeat: %v, want only the first tracker's", got)
	}

	// The first tracker goes away: the next takes over, with everything.
	fleet[0].stop()
	state[0].Have = haveOf(8, 1, 2, 3)
	if got := took("first tracker down", 1); !slices.Equal(got, []string{"1:full:1"}) {
		t.Fatalf("announce: %v, want a full one to the second tracker", got)
	}
	holders, err := pool.Holders(ctx, m, testPeer(2))
	if err != nil || len(holders) != 1 || holders[0].Peer != testPeer(1) {
		t.Fatalf("holders through the fleet: %+v, %v", holders, err)
	}
	// The third tracker serves the same, from the fleet's store.
	c, err := trackerapi.NewClient(fleet[2].addr, trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	var hs []trackerapi.Holder
	for range 500 { // its watch brings the change within milliseconds
		if hs, err = c.Holders(ctx, m, testPeer(2)); err != nil {
			t.Fatal(err)
		}
		if len(hs) == 1 && hs[0].Have.Count() == 3 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("third tracker's holders: %+v", hs)
}

// TestPoolBacksOff: a tracker that answers announces 503 (its store is
// down) is asked again after 5 s, then twice as long each time up to
// 30 s, and at its heartbeat once it answers again.
func TestPoolBacksOff(t *testing.T) {
	var down atomic.Bool
	var refused atomic.Int32
	down.Store(true)
	lt := serveTracker(t, "", "", func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() && r.URL.Path == trackerapi.PathAnnounce {
				refused.Add(1)
				w.Header().Set("Retry-After", "5")
				http.Error(w, `{"error":"the tracker's store (etcd) does not answer"}`, http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	clock := newTestClock()
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1), Now: clock.Now, Client: trackerapi.ClientOptions{Retries: -1}})
	defer pool.CloseIdleConnections()
	if err := pool.Add(lt.addr, trackerapi.SourceManual); err != nil {
		t.Fatal(err)
	}
	req := trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000"}
	for _, want := range []time.Duration{5, 10, 20, 30, 30} {
		res, err := pool.Announce(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("announce to a tracker whose store is down: %v", err)
		}
		if got := res.Next.Sub(clock.Now()); got != want*time.Second {
			t.Fatalf("next try in %v, want %v", got, want*time.Second)
		}
		// Before then, even news does not reach it.
		clock.Advance(want*time.Second - time.Millisecond)
		before := refused.Load()
		news := req
		news.Contents = []trackerapi.ContentState{{ID: testManifest("new", 4, uint64(want)).ID(), Complete: true}}
		if _, err := pool.Announce(context.Background(), news); err == nil || refused.Load() != before {
			t.Fatalf("announce while backing off: %v, %d requests (want an error and none)", err, refused.Load()-before)
		}
		clock.Advance(time.Millisecond)
	}
	down.Store(false)
	res, err := pool.Announce(context.Background(), req)
	if err != nil || res.Next.Sub(clock.Now()) != trackerapi.DefaultIntervalSeconds*time.Second {
		t.Fatalf("tracker back: %+v, %v", res, err)
	}
	if res, err := pool.Announce(context.Background(), req); err != nil || res.Skipped != 1 {
		t.Fatalf("after the recovery the heartbeat holds: %+v, %v", res, err)
	}
}
