package gui

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
	"peerflow/core/discover/discovertest"
	"peerflow/core/trackerapi"
	"peerflow/tracker"
)

func health(addr string) (*http.Response, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return client.Get("http://" + addr + trackerapi.PathHealth)
}

// The toggle starts the embedded tracker (the node then uses it) and stops
// it again.
func TestHostTrackerToggle(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{})
	s := n.trackers

	test.Tap(s.hostCheck)
	q.until(t, "the tracker is hosted", func() bool { return len(s.hosted) > 0 && !s.hostCheck.Disabled() })
	addr := s.hosted[0]
	resp, err := health(addr)
	if err != nil {
		t.Fatalf("hosted tracker on %s: %v", addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", trackerapi.PathHealth, resp.Status)
	}
	if !slices.ContainsFunc(n.node.Trackers(), func(ts trackerapi.TrackerStatus) bool { return ts.Addr == addr }) {
		t.Errorf("the node does not use the hosted tracker %s", addr)
	}
	if got := s.knownFrom(trackerapi.TrackerStatus{Addr: addr, Sources: trackerapi.SourceManual}); got != "this computer" {
		t.Errorf("the hosted tracker is known from %q, want this computer", got)
	}

	// Each address is listed with a Copy button.
	if len(s.hostAddrs.Objects) != 1 {
		t.Fatalf("%d addresses listed, want the one of a tracker on 127.0.0.1", len(s.hostAddrs.Objects))
	}
	for _, o := range test.LaidOutObjects(s.hostAddrs) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Copy" {
			test.Tap(b)
		}
	}
	if got := a.Clipboard().Content(); got != addr {
		t.Errorf("Copy put %q on the clipboard, want %s", got, addr)
	}

	test.Tap(s.hostCheck)
	q.until(t, "the tracker stops", func() bool { return len(s.hosted) == 0 && !s.hostCheck.Disabled() })
	if _, err := health(addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("hosted tracker still answers after the toggle went off (err %v)", err)
	}
	if len(n.node.Trackers()) != 0 {
		t.Errorf("the node still uses %v", n.node.Trackers())
	}
}

// With nothing configured and no tracker on the LAN, the app hosts one.
func TestFirstRunHostsTracker(t *testing.T) {
	a := test.NewTempApp(t)
	q := newUIQueue()
	n := startNode(t, a, q, nodeOptions{host: hostAuto})
	q.until(t, "a tracker is hosted", func() bool { return len(n.trackers.hosted) > 0 })
	if !n.trackers.hostCheck.Checked {
		t.Error("the toggle does not show the hosted tracker")
	}
}

// A hosted tracker is advertised over mDNS, and another node on the LAN
// finds it. Multicast: it runs only in an isolated network namespace.
func TestHostedTrackerFoundOnLAN(t *testing.T) {
	discovertest.RequireIsolatedNetwork(t)
	a := test.NewTempApp(t)
	q := newUIQueue()
	host := startNode(t, a, q, nodeOptions{lan: true})
	test.Tap(host.trackers.hostCheck)
	q.until(t, "the tracker is hosted", func() bool { return len(host.trackers.hosted) > 0 })
	if !strings.Contains(host.trackers.hostInfo.Text, "advertised on the LAN") {
		t.Errorf("host says %q; want it advertised", host.trackers.hostInfo.Text)
	}

	other := startNode(t, a, q, nodeOptions{lan: true})
	q.until(t, "the other node lists the tracker as found on the LAN", func() bool {
		return slices.ContainsFunc(other.trackers.known, func(ts trackerapi.TrackerStatus) bool {
			return ts.Addr == host.trackers.hosted[0] && ts.Sources&trackerapi.SourceLAN != 0
		})
	})
	// A file the other node shares reaches the tracker it found on the
	// LAN, with no setting changed.
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("shared on the LAN"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh, err := other.node.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := host.node.Network(context.Background(), "notes", 0, 10)
	if err != nil || len(list.Contents) != 1 || list.Contents[0].ID != sh.Manifest.ID() || list.Contents[0].Holders != 1 {
		t.Fatalf("the LAN tracker lists %+v (%v); want the share, with its holder", list, err)
	}
}

// TestLinkAddrs: share links name the hosted tracker's best address, then
// the others that people elsewhere may reach, never a container bridge's
// or loopback, and at most maxLinkAddrs.
func TestLinkAddrs(t *testing.T) {
	st := hostStatus{Addr: "192.168.1.20:7070", Addresses: []tracker.Address{
		{Addr: "192.168.1.20:7070", Scope: tracker.ScopeLAN},
		{Addr: "10.8.0.2:7070", Scope: tracker.ScopeLAN},
		{Addr: "[fd00::20]:7070", Scope: tracker.ScopeLAN},
		{Addr: "203.0.113.7:7070", Scope: tracker.ScopePublic},
		{Addr: "198.51.100.9:7070", Scope: tracker.ScopePublic},
		{Addr: "172.17.0.1:7070", Scope: tracker.ScopeVirtual},
		{Addr: "127.0.0.1:7070", Scope: tracker.ScopeLoopback},
	}}
	want := []string{"192.168.1.20:7070", "10.8.0.2:7070", "[fd00::20]:7070", "203.0.113.7:7070"}
	if got := st.linkAddrs(); !slices.Equal(got, want) {
		t.Errorf("linkAddrs = %v, want %v", got, want)
	}
	lo := hostStatus{Addr: "127.0.0.1:7070", Addresses: []tracker.Address{{Addr: "127.0.0.1:7070", Scope: tracker.ScopeLoopback}}}
	if got := lo.linkAddrs(); !slices.Equal(got, []string{"127.0.0.1:7070"}) {
		t.Errorf("on loopback: %v", got)
	}
}
