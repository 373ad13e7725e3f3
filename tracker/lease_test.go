package tracker

import (
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

func TestLeaseExpiry(t *testing.T) { eachStore(t, testLeaseExpiry) }

func testLeaseExpiry(t *testing.T, st store) {
	clock := newFakeClock()
	tt := startTracker(t, st.cfg(Config{Now: clock.Now}))
	m := testManifest("m", 16, 1)
	tt.publish(t, m)
	full := func(n int, have []byte) {
		tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true,
			Contents: []trackerapi.ContentState{{ID: m.ID(), Have: have}}})
	}
	check := func(step string, holders int, avail float64) {
		t.Helper()
		ci := tt.list(t, "").Contents[0]
		if ci.Holders != holders || ci.Availability != avail {
			t.Fatalf("%s: holders %d availability %v, want %d and %v", step, ci.Holders, ci.Availability, holders, avail)
		}
		if hl := tt.holders(t, m.ID(), ""); hl.Total != holders {
			t.Fatalf("%s: %d in the holders list, want %d", step, hl.Total, holders)
		}
	}

	full(1, haveOf(16, 0, 1, 2, 3)) // t=0
	clock.Advance(lease / 3)
	full(2, haveOf(16, 4, 5, 6, 7)) // t=30s
	check("both live", 2, 0.5)

	clock.Advance(lease/3*2 - time.Second) // t=89s: peer 1 has one second left
	check("just before peer 1's lease ends", 2, 0.5)
	clock.Advance(time.Second) // t=90s: three heartbeats missed
	check("peer 1 expired", 1, 0.25)

	// A heartbeat renews the lease.
	tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2)}) // t=90s
	clock.Advance(lease - time.Second)
	check("renewed", 1, 0.25)
	clock.Advance(time.Second)
	check("all expired", 0, 0)
}

// TestJanitorPrunesDB checks that expired peers leave the database too,
// and that leases hold across a restart.
func TestJanitorPrunesDB(t *testing.T) { eachStore(t, testJanitorPrunesDB) }

func testJanitorPrunesDB(t *testing.T, st store) {
	clock := newFakeClock()
	cfg := st.cfg(Config{Now: clock.Now, FlushInterval: time.Hour})
	tt := startTracker(t, cfg)
	m := testManifest("m", 8, 1)
	tt.publish(t, m)
	for n := range 3 {
		tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true,
			Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
		clock.Advance(20 * time.Second)
	}
	// t=60s: peers announced at 0, 20 and 40 s. Restart: nothing expired.
	tt.stop()
	tt = startTracker(t, cfg)
	if hl := tt.holders(t, m.ID(), ""); hl.Total != 3 {
		t.Fatalf("after restart: %d holders, want 3", hl.Total)
	}
	clock.Advance(45 * time.Second) // t=105s: peer 0 (lease until 90 s) expired
	if err := tt.tick(); err != nil {
		t.Fatal(err)
	}
	if n := peerRecords(t, tt.Server); n != 4 {
		t.Fatalf("%d peer records after the janitor ran, want 4 (2 peers)", n)
	}
	// Restart later than every lease: the last peers are dropped on load.
	tt.stop()
	clock.Advance(time.Hour)
	tt = startTracker(t, cfg)
	if hl := tt.holders(t, m.ID(), ""); hl.Total != 0 {
		t.Fatalf("peers whose lease ended while the tracker was down: %d", hl.Total)
	}
	if err := tt.tick(); err != nil {
		t.Fatal(err)
	}
	if n := peerRecords(t, tt.Server); n != 0 {
		t.Fatalf("%d peer records left", n)
	}
	if l := tt.list(t, ""); l.Total != 1 {
		t.Fatalf("manifest lost: %+v", l)
	}
}

// TestRestartAsksForFullAnnounce checks NeedFull after a restart.
func TestRestartAsksForFullAnnounce(t *testing.T) { eachStore(t, testRestartAsksForFullAnnounce) }

func testRestartAsksForFullAnnounce(t *testing.T, st store) {
	cfg := st.cfg(Config{Now: newFakeClock().Now})
	tt := startTracker(t, cfg)
	m := testManifest("m", 8, 1)
	tt.publish(t, m)
	req := trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}}
	if resp := tt.announce(t, req); resp.NeedFull {
		t.Fatal("NeedFull after a full announce")
	}
	req.Full = false
	if resp := tt.announce(t, req); resp.NeedFull {
		t.Fatal("NeedFull from the same tracker process")
	}
	tt.stop()
	tt = startTracker(t, cfg)
	if resp := tt.announce(t, req); !resp.NeedFull {
		t.Fatal("no NeedFull after a restart")
	}
	req.Stopped, req.Contents = []content.ID{m.ID()}, nil
	tt.announce(t, req) // still incremental: applied all the same
	if hl := tt.holders(t, m.ID(), ""); hl.Total != 0 {
		t.Fatalf("incremental stop not applied: %+v", hl)
	}
}
