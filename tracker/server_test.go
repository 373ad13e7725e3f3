package tracker

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

func TestPublishListManifestHealth(t *testing.T) { eachStore(t, testPublishListManifestHealth) }

func testPublishListManifestHealth(t *testing.T, st store) {
	tt := startTracker(t, st.cfg(Config{Now: newFakeClock().Now, Version: "1.2.3"}))
	ctx := context.Background()
	film, song := testManifest("Film.mkv", 8, 1), testManifest("song.ogg", 3, 2)

	for _, m := range []*content.Manifest{film, song} {
		resp, err := tt.client.Publish(ctx, m)
		if err != nil || !resp.Created || resp.ID != m.ID() {
			t.Fatalf("publish %s: %+v, %v", m.Name, resp, err)
		}
	}
	if resp, err := tt.client.Publish(ctx, film); err != nil || resp.Created {
		t.Fatalf("publish again: %+v, %v (want created=false)", resp, err)
	}

	got, err := tt.client.Manifest(ctx, film.ID())
	if err != nil || got.ID() != film.ID() {
		t.Fatalf("manifest: %v", err)
	}

	all := tt.list(t, "")
	if all.Total != 2 || len(all.Contents) != 2 || all.Contents[0].Name != "Film.mkv" {
		t.Fatalf("list: %+v", all)
	}
	ci := all.Contents[0]
	if ci.ID != film.ID() || ci.Size != film.Size || ci.ChunkSize != film.ChunkSize || ci.Chunks != 8 || ci.Holders != 0 || ci.Availability != 0 {
		t.Fatalf("film entry: %+v", ci)
	}
	tests := []struct {
		q             string
		offset, limit int
		want          []string
		total         int
	}{
		{"FILM", 0, 10, []string{"Film.mkv"}, 1},
		{".", 0, 10, []string{"Film.mkv", "song.ogg"}, 2},
		{".", 1, 10, []string{"song.ogg"}, 2},
		{".", 0, 1, []string{"Film.mkv"}, 2},
		{".", 5, 10, nil, 2},
		{"nothing", 0, 10, nil, 0},
	}
	for _, tc := range tests {
		l, err := tt.client.Contents(ctx, tc.q, tc.offset, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range l.Contents {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, tc.want) || l.Total != tc.total {
			t.Errorf("q=%q offset=%d limit=%d: %v total %d, want %v total %d", tc.q, tc.offset, tc.limit, names, l.Total, tc.want, tc.total)
		}
	}

	h, err := tt.client.Health(ctx)
	if err != nil || !h.OK || h.Version != "1.2.3" || h.Protocol != trackerapi.ProtocolVersion || h.TrackerID != tt.ID() || len(h.TrackerID) != 32 {
		t.Fatalf("health: %+v, %v", h, err)
	}
}

func TestAnnounceSemantics(t *testing.T) { eachStore(t, testAnnounceSemantics) }

func testAnnounceSemantics(t *testing.T, st store) {
	tt := startTracker(t, st.cfg(Config{Now: newFakeClock().Now}))
	a, b := testManifest("a", 10, 1), testManifest("b", 16, 2)
	unpublished := testManifest("c", 1, 3)
	tt.publish(t, a)
	tt.publish(t, b)
	p1, p2 := testPeer(1), testPeer(2)

	// Full announce: a partially (chunks 0-4), b complete, c unknown.
	resp := tt.announce(t, trackerapi.AnnounceRequest{
		Peer: p1, Addr: ":7000", Full: true,
		Contents: []trackerapi.ContentState{
			{ID: a.ID(), Have: haveOf(10, 0, 1, 2, 3, 4), Uploaded: 5},
			{ID: b.ID(), Complete: true},
			{ID: unpublished.ID(), Complete: true},
		},
	})
	if resp.IntervalSeconds != trackerapi.DefaultIntervalSeconds || resp.LeaseSeconds != trackerapi.DefaultLeaseSeconds ||
		!slices.Equal(resp.Unknown, []content.ID{unpublished.ID()}) || resp.NeedFull {
		t.Fatalf("announce response: %+v", resp)
	}
	hl := tt.holders(t, a.ID(), "")
	if len(hl.Holders) != 1 || hl.Holders[0].Addr != "127.0.0.1:7000" || hl.Holders[0].Complete || !slices.Equal(hl.Holders[0].Have, haveOf(10, 0, 1, 2, 3, 4)) {
		t.Fatalf("holders of a: %+v (want the remote IP filled in)", hl)
	}

	// A second peer with every chunk of a in a bitfield counts as complete.
	all := make([]int, 10)
	for i := range all {
		all[i] = i
	}
	resp = tt.announce(t, trackerapi.AnnounceRequest{Peer: p2, Addr: "[::]:7001", Contents: []trackerapi.ContentState{{ID: a.ID(), Have: haveOf(10, all...)}}})
	if !resp.NeedFull {
		t.Fatal("an incremental announce from a new peer did not ask for a full one")
	}
	info := func(m *content.Manifest) trackerapi.ContentInfo {
		t.Helper()
		for _, c := range tt.list(t, "").Contents {
			if c.ID == m.ID() {
				return c
			}
		}
		t.Fatalf("%s not listed", m.Name)
		return trackerapi.ContentInfo{}
	}
	if ci := info(a); ci.Holders != 2 || ci.Seeders != 1 || ci.Availability != 1 {
		t.Fatalf("a after p2: %+v", ci)
	}
	if hl := tt.holders(t, a.ID(), "?exclude="+p1.String()); len(hl.Holders) != 1 || hl.Total != 1 || !hl.Holders[0].Complete || hl.Holders[0].Addr != "127.0.0.1:7001" {
		t.Fatalf("holders excluding p1: %+v", hl)
	}

	// Incremental from p1: b stopped, a updated; a stays.
	tt.announce(t, trackerapi.AnnounceRequest{Peer: p1, Addr: "10.0.0.1:7000", Stopped: []content.ID{b.ID()},
		Contents: []trackerapi.ContentState{{ID: a.ID(), Have: haveOf(10, 9)}}})
	if ci := info(b); ci.Holders != 0 || ci.Availability != 0 {
		t.Fatalf("b after stop: %+v", ci)
	}
	tt.announce(t, trackerapi.AnnounceRequest{Peer: p2, Addr: "10.0.0.2:7001", Full: true})
	if ci := info(a); ci.Holders != 1 || ci.Seeders != 0 || ci.Availability != 0.1 {
		t.Fatalf("a after p2 dropped everything: %+v", ci)
	}
	// A heartbeat with nothing listed keeps what p1 holds. The host it
	// names is not taken: the tracker lists the request's source.
	tt.announce(t, trackerapi.AnnounceRequest{Peer: p1, Addr: "10.0.0.1:7000"})
	if hl := tt.holders(t, a.ID(), ""); len(hl.Holders) != 1 || hl.Holders[0].Peer != p1 || hl.Holders[0].Addr != "127.0.0.1:7000" {
		t.Fatalf("after heartbeat: %+v", hl)
	}
	// An empty bitfield: p2 is in the swarm (other downloaders may dial
	// it) but holds nothing.
	tt.announce(t, trackerapi.AnnounceRequest{Peer: p2, Addr: "10.0.0.2:7001", Contents: []trackerapi.ContentState{{ID: a.ID(), Have: haveOf(10)}}})
	if ci := info(a); ci.Holders != 1 {
		t.Fatalf("an empty bitfield counted as a holder: %+v", ci)
	}
	if hl := tt.holders(t, a.ID(), ""); hl.Total != 2 {
		t.Fatalf("the empty peer is not in the swarm: %+v", hl)
	}
	tt.state.mu.RLock()
	defer tt.state.mu.RUnlock()
	for _, sw := range tt.state.swarms {
		checkSwarm(t, sw)
	}
}

// TestBadAnnounceChangesNothing checks that an announce is validated
// whole before any of it is applied.
func TestBadAnnounceChangesNothing(t *testing.T) { eachStore(t, testBadAnnounceChangesNothing) }

func testBadAnnounceChangesNothing(t *testing.T, st store) {
	tt := startTracker(t, st.cfg(Config{Now: newFakeClock().Now}))
	a, b := testManifest("a", 10, 1), testManifest("b", 10, 2)
	tt.publish(t, a)
	tt.publish(t, b)
	_, err := tt.client.Announce(context.Background(), testKey(1), trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: "10.0.0.1:1", Full: true,
		Contents: []trackerapi.ContentState{{ID: a.ID(), Complete: true}, {ID: b.ID(), Have: []byte{1}}}})
	var se *trackerapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("announce with a bad bitfield: %v", err)
	}
	for _, c := range tt.list(t, "").Contents {
		if c.Holders != 0 {
			t.Fatalf("a refused announce was partly applied: %+v", c)
		}
	}
}
