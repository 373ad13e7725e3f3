package discover

import (
	"context"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/mdns"

	"peerflow/core/discover/discovertest"
)

func TestParseTXT(t *testing.T) {
	tests := []struct {
		fields []string
		want   string // "" means an error
	}{
		{TXT("abc123"), "abc123"},
		{[]string{"id=x-1", "v=1", "extra"}, "x-1"},
		{[]string{"v=2", "id=abc"}, ""},
		{[]string{"id=abc"}, ""},
		{[]string{"v=1"}, ""},
		{[]string{"v=1", "id=ABC"}, ""},
		{[]string{"v=1", "id=a b"}, ""},
		{[]string{"v=1", "id=" + strings.Repeat("a", maxTrackerIDLen+1)}, ""},
	}
	for _, tt := range tests {
		got, err := ParseTXT(tt.fields)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("ParseTXT(%q) = %q, %v; want %q", tt.fields, got, err, tt.want)
		}
	}
}

func TestParseEntry(t *testing.T) {
	good := func() *mdns.ServiceEntry {
		return &mdns.ServiceEntry{
			Name:       "t1." + Service + ".local.",
			AddrV4:     net.IPv4(127, 0, 0, 1),
			Port:       7070,
			InfoFields: TXT("t1"),
		}
	}
	tests := []struct {
		name   string
		change func(e *mdns.ServiceEntry)
		want   string // address; "" means refused
	}{
		{"ipv4", func(*mdns.ServiceEntry) {}, "127.0.0.1:7070"},
		{"ipv6 with zone", func(e *mdns.ServiceEntry) {
			e.AddrV4 = nil
			e.AddrV6IPAddr = &net.IPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}
		}, "[fe80::1%eth0]:7070"},
		{"other service", func(e *mdns.ServiceEntry) { e.Name = "x._http._tcp.local." }, ""},
		{"no address", func(e *mdns.ServiceEntry) { e.AddrV4 = nil }, ""},
		{"unspecified address", func(e *mdns.ServiceEntry) { e.AddrV4 = net.IPv4zero }, ""},
		{"multicast address", func(e *mdns.ServiceEntry) { e.AddrV4 = net.IPv4(224, 0, 0, 251) }, ""},
		{"no port", func(e *mdns.ServiceEntry) { e.Port = 0 }, ""},
		{"bad txt", func(e *mdns.ServiceEntry) { e.InfoFields = nil }, ""},
	}
	for _, tt := range tests {
		e := good()
		tt.change(e)
		ev, err := parseEntry(e)
		if (err != nil) != (tt.want == "") || ev.Addr != tt.want {
			t.Errorf("%s: got %+v, %v; want address %q", tt.name, ev, err, tt.want)
		}
		if err == nil && (ev.Kind != Found || ev.TrackerID != "t1") {
			t.Errorf("%s: got %+v", tt.name, ev)
		}
	}
}

// TestBrowserRounds drives the round logic by hand: a tracker is Found
// once, stays while it answers, and is Lost after LostAfter silent rounds.
func TestBrowserRounds(t *testing.T) {
	out := make(chan Event, 10)
	b := &browser{cfg: Config{LostAfter: 2}.withDefaults(), lastSeen: make(map[Event]int), out: out}
	ctx := context.Background()
	entry := &mdns.ServiceEntry{Name: "a." + Service + ".local.", AddrV4: net.IPv4(10, 0, 0, 1), Port: 1, InfoFields: TXT("a")}
	round := func(answer bool) {
		b.round++
		if answer {
			b.saw(ctx, entry)
			b.saw(ctx, entry) // a second answer in the same round
		}
		b.expire(ctx)
	}
	want := func(step string, evs ...Event) {
		t.Helper()
		for _, w := range evs {
			select {
			case got := <-out:
				if got != w {
					t.Fatalf("%s: got %+v, want %+v", step, got, w)
				}
			default:
				t.Fatalf("%s: no event, want %+v", step, w)
			}
		}
		if len(out) > 0 {
			t.Fatalf("%s: unexpected %+v", step, <-out)
		}
	}
	found := Event{Kind: Found, TrackerID: "a", Addr: "10.0.0.1:1"}
	lost := Event{Kind: Lost, TrackerID: "a", Addr: "10.0.0.1:1"}
	round(true)
	want("first answer", found)
	round(false)
	want("one silent round")
	round(true)
	want("answers again")
	round(false)
	round(false)
	want("two silent rounds", lost)
	round(true)
	want("back", found)
}

// TestBrowseMulticast advertises two trackers with the mdns library and
// browses for them over real multicast, inside an isolated namespace.
func TestBrowseMulticast(t *testing.T) {
	discovertest.RequireIsolatedNetwork(t)
	quiet := log.New(io.Discard, "", 0)
	advertise := func(id string, port int) *mdns.Server {
		svc, err := mdns.NewMDNSService(id, Service, "local.", "peerflow-"+id+".local.", port, []net.IP{net.IPv4(127, 0, 0, 1)}, TXT(id))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := mdns.NewServer(&mdns.Config{Zone: svc, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	// Random IDs: tests of other packages may advertise in the same
	// namespace at the same time, and their events are skipped.
	idOne, idTwo := "one-"+randomSuffix(), "two-"+randomSuffix()
	one, two := advertise(idOne, 7001), advertise(idTwo, 7002)
	defer one.Shutdown()

	ctx, cancel := context.WithCancel(context.Background())
	events := Browse(ctx, Config{Period: 100 * time.Millisecond, Window: 80 * time.Millisecond, LostAfter: 2})
	ours := func(ev Event) bool { return ev.TrackerID == idOne || ev.TrackerID == idTwo }
	next := func() Event {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case ev := <-events:
				if ours(ev) {
					return ev
				}
			case <-timeout:
				t.Fatal("no event within 10 s")
			}
		}
	}
	found := map[string]string{}
	for len(found) < 2 {
		ev := next()
		if ev.Kind != Found {
			t.Fatalf("got %+v before both trackers were found", ev)
		}
		found[ev.TrackerID] = ev.Addr
	}
	if found[idOne] != "127.0.0.1:7001" || found[idTwo] != "127.0.0.1:7002" {
		t.Fatalf("found %v", found)
	}
	two.Shutdown()
	if ev := next(); ev != (Event{Kind: Lost, TrackerID: idTwo, Addr: "127.0.0.1:7002"}) {
		t.Fatalf("after shutdown of two: got %+v", ev)
	}
	cancel()
	for ev := range events { // closed once the browsing goroutine stops
		if ours(ev) && (ev.Kind != Lost || ev.TrackerID != idOne) {
			t.Fatalf("after cancel: got %+v", ev)
		}
	}
}

func randomSuffix() string { return strconv.FormatUint(rand.Uint64(), 36) }
