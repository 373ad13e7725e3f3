package tracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/testtools"
	"peerflow/core/trackerapi"
)

// startFleet starts n trackers on one etcd, each with cfg.
func startFleet(t *testing.T, e *testtools.Etcd, n int, cfg Config) []*testTracker {
	t.Helper()
	st := etcdStoreOf(e)
	fleet := make([]*testTracker, n)
	for i := range fleet {
		fleet[i] = startTracker(t, st.cfg(cfg))
	}
	return fleet
}

// waitFor polls cond until it holds, failing after 10 s. It waits on the
// trackers' watches, which apply what etcd sends them as it comes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holderCount is how many holders of id tt lists, or -1 while it does
// not know the content (its watch has not brought the manifest yet).
func holderCount(t *testing.T, tt *testTracker, id content.ID) int {
	t.Helper()
	status, hl := tt.getHolders(t, id, "")
	if status == http.StatusNotFound {
		return -1
	}
	return hl.Total
}

// holdersOf is the holder list of id at tt, "" when it matches want.
func holdersOf(t *testing.T, tt *testTracker, id content.ID) string {
	hl := tt.holders(t, id, "")
	out := fmt.Sprint(hl.Total)
	for _, h := range hl.Holders {
		out += fmt.Sprintf(" %s@%s:%v", h.Peer.Short(), h.Addr, h.Complete)
	}
	return out
}

// TestFleetSharesEverything: what is published or announced through one
// tracker of a fleet is served by every one, with one ID for all.
func TestFleetSharesEverything(t *testing.T) {
	e := testtools.StartEtcd(t)
	fleet := startFleet(t, e, 3, Config{FlushInterval: 20 * time.Millisecond})
	a, b, c := fleet[0], fleet[1], fleet[2]
	if a.ID() != b.ID() || a.ID() != c.ID() {
		t.Fatalf("tracker IDs %s %s %s: a fleet has one", a.ID(), b.ID(), c.ID())
	}
	m := testManifest("film.mkv", 16, 1)
	b.publish(t, m)
	waitFor(t, "the manifest on every tracker", func() bool { return a.list(t, "").Total == 1 && c.list(t, "").Total == 1 })
	if got, err := c.client.Manifest(context.Background(), m.ID()); err != nil || got.ID() != m.ID() {
		t.Fatalf("manifest from another tracker: %v", err)
	}
	if resp, err := a.client.Publish(context.Background(), m); err != nil || resp.Created {
		t.Fatalf("publish again at another tracker: %+v, %v (want created=false)", resp, err)
	}

	// Peer 1 announces to a, peer 2 to c; b serves both.
	a.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	c.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Have: haveOf(16, 3, 4)}}})
	want := holdersOf(t, b, m.ID())
	waitFor(t, "both holders everywhere", func() bool {
		want = holdersOf(t, b, m.ID())
		return b.holders(t, m.ID(), "").Total == 2 && holdersOf(t, a, m.ID()) == want && holdersOf(t, c, m.ID()) == want
	})
	if ci := a.list(t, "").Contents[0]; ci.Seeders != 1 || ci.Holders != 2 {
		t.Fatalf("list at a: %+v", ci)
	}

	// Peer 2 moves to b (its tracker went away) and completes; peer 1
	// stops sharing through a.
	b.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	a.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Stopped: []content.ID{m.ID()}})
	for _, tt := range fleet {
		waitFor(t, "the changes everywhere", func() bool {
			hl := tt.holders(t, m.ID(), "")
			return hl.Total == 1 && hl.Holders[0].Peer == testPeer(2) && hl.Holders[0].Complete
		})
	}
}

// TestFleetLeaseEnds: a peer that stops announcing leaves every tracker
// when its lease ends, and its records leave etcd, even with no tracker
// left to remove them.
func TestFleetLeaseEnds(t *testing.T) {
	e := testtools.StartEtcd(t)
	const lease = 2 * time.Second
	fleet := startFleet(t, e, 3, Config{Interval: time.Second, Lease: lease, FlushInterval: 50 * time.Millisecond})
	m := testManifest("m", 8, 1)
	fleet[0].publish(t, m)
	for _, tt := range fleet {
		waitFor(t, "the manifest everywhere", func() bool { return tt.list(t, "").Total == 1 })
	}
	start := time.Now()
	fleet[1].announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	for _, tt := range fleet {
		waitFor(t, "the peer everywhere", func() bool { return holderCount(t, tt, m.ID()) == 1 })
	}
	for _, tt := range fleet {
		waitFor(t, "the lease to end", func() bool { return tt.holders(t, m.ID(), "").Total == 0 })
	}
	if gone := time.Since(start); gone < lease {
		t.Fatalf("peer gone after %v, before its lease of %v", gone, lease)
	}
	waitFor(t, "the records to leave etcd", func() bool { return peerRecords(t, fleet[0].Server) == 0 })

	// With every tracker stopped, etcd's lease removes the records.
	fleet[2].announce(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	for _, tt := range fleet {
		tt.stop() // flushes: the records are in etcd
	}
	st := etcdStoreOf(e)
	if n := etcdKeys(t, st.etcd, keyPeers) + etcdKeys(t, st.etcd, keyHeld); n != 2 {
		t.Fatalf("%d peer records in etcd after the trackers stopped, want 2", n)
	}
	waitFor(t, "etcd to end the lease", func() bool { return etcdKeys(t, st.etcd, keyPeers)+etcdKeys(t, st.etcd, keyHeld) == 0 })
}

// health returns the status and body of tt's /v1/health.
func health(t *testing.T, tt *testTracker) (int, trackerapi.Health) {
	t.Helper()
	resp, err := http.Get(tt.url + trackerapi.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h trackerapi.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

// TestEtcdOutage: while etcd is down, the health endpoint and announces
// answer 503 (holder lists are still served from memory); when it is
// back, the trackers take announces again and follow each other again.
func TestEtcdOutage(t *testing.T) {
	e := testtools.StartEtcd(t)
	fleet := startFleet(t, e, 2, Config{FlushInterval: 50 * time.Millisecond})
	a, b := fleet[0], fleet[1]
	m := testManifest("m", 8, 1)
	a.publish(t, m)
	a.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	waitFor(t, "the peer at b", func() bool { return holderCount(t, b, m.ID()) == 1 })
	if code, h := health(t, a); code != http.StatusOK || !h.OK || h.Store != "etcd" {
		t.Fatalf("health: %d %+v", code, h)
	}

	e.Stop()
	waitFor(t, "the health endpoint to see the outage", func() bool { code, _ := health(t, a); return code == http.StatusServiceUnavailable })
	_, h := health(t, a)
	if h.OK || h.StoreError == "" {
		t.Fatalf("health in an outage: %+v", h)
	}
	_, err := a.client.Announce(context.Background(), keyOf(t, testPeer(2)), trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	var apiErr *trackerapi.StatusError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusServiceUnavailable || !strings.Contains(apiErr.Error(), "store") {
		t.Fatalf("announce in an outage: %v, want a 503 that names the store", err)
	}
	if hl := a.holders(t, m.ID(), ""); hl.Total != 1 {
		t.Fatalf("holders in an outage: %+v", hl)
	}

	e.Start()
	waitFor(t, "the trackers to see etcd again", func() bool {
		ca, _ := health(t, a)
		cb, _ := health(t, b)
		return ca == http.StatusOK && cb == http.StatusOK
	})
	a.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	waitFor(t, "the new peer at b", func() bool { return holderCount(t, b, m.ID()) == 2 })
}
