package tracker

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"peerflow/core/discover"
	"peerflow/core/discover/discovertest"
	"peerflow/core/testtools"
	"peerflow/core/trackerapi"
)

func TestAdvertiseIPs(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, "[127.0.0.1]"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 1}, "[127.0.0.1]"},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 1}, "[10.1.2.3]"},
	}
	for _, tc := range tests {
		ips, err := AdvertiseIPs(tc.addr)
		if err != nil || fmtIPs(ips) != tc.want {
			t.Errorf("AdvertiseIPs(%v) = %v, %v; want %s", tc.addr, ips, err, tc.want)
		}
	}
	if _, err := AdvertiseIPs(&net.UDPAddr{}); err == nil {
		t.Error("a UDP address was accepted")
	}
	// On any address: whatever the machine has, never loopback.
	ips, _ := AdvertiseIPs(&net.TCPAddr{IP: net.IPv4zero, Port: 1})
	for _, ip := range ips {
		if ip.IsLoopback() || ip.To4() == nil {
			t.Errorf("advertised %v for 0.0.0.0", ip)
		}
	}
}

func fmtIPs(ips []net.IP) string {
	s := "["
	for i, ip := range ips {
		if i > 0 {
			s += " "
		}
		s += ip.String()
	}
	return s + "]"
}

func TestAdvertiseRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	lo := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, tc := range []struct {
		id   string
		port int
		ips  []net.IP
	}{
		{"", 7070, lo},
		{"Bad ID", 7070, lo},
		{"abc", 0, lo},
		{"abc", 70000, lo},
		{"abc", 7070, nil}, // would make the library ask the system resolver
	} {
		if stop, err := Advertise(ctx, tc.id, tc.port, tc.ips); err == nil {
			stop()
			t.Errorf("Advertise(%q, %d, %v) succeeded", tc.id, tc.port, tc.ips)
		}
	}
}

// TestTwoTrackersOnTheLAN advertises two trackers over real multicast
// (inside an isolated network namespace only), finds both with
// discover.Browse, announces to both through a Pool fed by the browse
// events, and sees one vanish when its advertising stops.
func TestTwoTrackersOnTheLAN(t *testing.T) {
	discovertest.RequireIsolatedNetwork(t)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	trackers := map[string]*testTracker{}
	stops := map[string]func(){}
	for range 2 {
		tt := startTracker(t, Config{})
		stop := advertise(ctx, t, tt)
		trackers[tt.ID()], stops[tt.ID()] = tt, stop
	}

	browseCtx, stopBrowse := context.WithCancel(ctx)
	events := discover.Browse(browseCtx, discover.Config{Period: 100 * time.Millisecond, Window: 80 * time.Millisecond, LostAfter: 2})
	// next returns the next event about our trackers: tests of other
	// packages may advertise in the same namespace at the same time.
	next := func() discover.Event {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case ev := <-events:
				if trackers[ev.TrackerID] != nil {
					return ev
				}
			case <-timeout:
				t.Fatal("no mDNS event within 10 s")
			}
		}
	}
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1)})
	for found := 0; found < 2; found++ {
		ev := next()
		tt := trackers[ev.TrackerID]
		if ev.Kind != discover.Found || tt == nil || ev.Addr != tt.addr {
			t.Fatalf("event %+v, want Found for one of the two trackers", ev)
		}
		if err := pool.Discovered(ev); err != nil {
			t.Fatal(err)
		}
	}
	m := testManifest("m", 4, 1)
	pool.Own(m.ID(), true) // a share of this node: trackers on the LAN hear of it
	if err := pool.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	res, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000",
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	if err != nil || res.Accepted != 2 {
		t.Fatalf("announce through the pool: %+v, %v", res, err)
	}

	var goneID string
	for id, stop := range stops {
		goneID = id
		stop()
		break
	}
	ev := next()
	if ev.Kind != discover.Lost || ev.TrackerID != goneID {
		t.Fatalf("after one tracker stopped advertising: %+v", ev)
	}
	pool.Discovered(ev)
	if st := pool.Trackers(); len(st) != 1 || st[0].TrackerID == goneID {
		t.Fatalf("pool after Lost: %+v", st)
	}

	stopBrowse()
	for range events { // closed once the browser's goroutine returned
	}
	for _, stop := range stops {
		stop()
	}
	for _, tt := range trackers {
		tt.stop()
	}
	pool.CloseIdleConnections()
	waitGoroutines(t, before)
}

// advertise advertises tt on the LAN until ctx is done or stop is called.
func advertise(ctx context.Context, t *testing.T, tt *testTracker) (stop func()) {
	t.Helper()
	tcp, err := net.ResolveTCPAddr("tcp", tt.addr)
	if err != nil {
		t.Fatal(err)
	}
	ips, err := AdvertiseIPs(tcp)
	if err != nil {
		t.Fatal(err)
	}
	stop, err = Advertise(ctx, tt.ID(), tcp.Port, ips)
	if err != nil {
		t.Fatal(err)
	}
	return stop
}

// TestFleetOnTheLAN: two trackers of one fleet advertise one tracker ID
// on the LAN (inside an isolated network namespace only); both are
// found, and a pool fed by the browse events announces to one of them
// only, while the other serves the announce too.
func TestFleetOnTheLAN(t *testing.T) {
	discovertest.RequireIsolatedNetwork(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet := startFleet(t, testtools.StartEtcd(t), 2, Config{FlushInterval: 20 * time.Millisecond})
	addrs := map[string]bool{}
	for _, tt := range fleet {
		stop := advertise(ctx, t, tt)
		defer stop()
		addrs[tt.addr] = true
	}
	browseCtx, stopBrowse := context.WithCancel(ctx)
	defer func() {
		stopBrowse()
	}()
	events := discover.Browse(browseCtx, discover.Config{Period: 100 * time.Millisecond, Window: 80 * time.Millisecond, LostAfter: 2})
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1)})
	defer pool.CloseIdleConnections()
	timeout := time.After(10 * time.Second)
	for found := map[string]bool{}; len(found) < 2; {
		select {
		case ev := <-events:
			if ev.Kind != discover.Found || ev.TrackerID != fleet[0].ID() || !addrs[ev.Addr] {
				continue // another test's tracker, in the same namespace
			}
			found[ev.Addr] = true
			if err := pool.Discovered(ev); err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("the fleet's two trackers were not both found within 10 s")
		}
	}
	m := testManifest("m", 4, 1)
	pool.Own(m.ID(), true)
	if err := pool.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	res, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000",
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("announce through the pool: %+v, %v (want it taken by one tracker of the fleet)", res, err)
	}
	for _, tt := range fleet {
		waitFor(t, "the announce at both trackers", func() bool { return holderCount(t, tt, m.ID()) == 1 })
	}
	stopBrowse()
	for range events {
	}
}
