package tracker

import (
	"net/netip"
	"slices"
	"testing"

	"peerflow/core/peer"
	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// TestHoldersIncludeRareChunks: 300 peers hold chunks 0-61; chunk 62 has
// two holders and chunk 63 one. Any page must reach every chunk.
func TestHoldersIncludeRareChunks(t *testing.T) { eachStore(t, testHoldersIncludeRareChunks) }

func testHoldersIncludeRareChunks(t *testing.T, st store) {
	tt := startTracker(t, st.cfg(Config{Now: newFakeClock().Now}))
	const chunks = 64
	m := testManifest("m", chunks, 1)
	tt.publish(t, m)
	common := make([]int, 62)
	for i := range common {
		common[i] = i
	}
	rare := map[peer.ID]string{}
	for n := range 300 {
		have := haveOf(chunks, common...)
		switch n {
		case 17:
			have, rare[testPeer(n)] = haveOf(chunks, 63), "63"
		case 100, 250:
			have, rare[testPeer(n)] = haveOf(chunks, 5, 62), "62"
		}
		tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true,
			Contents: []trackerapi.ContentState{{ID: m.ID(), Have: have}}})
	}
	tests := []struct {
		query     string
		wantCount int
		wantRare  []string // which rare chunks must be reached
	}{
		{"", trackerapi.MaxHoldersPerCall, []string{"62", "63"}},
		{"?limit=1", 1, []string{"63"}},
		{"?limit=2", 2, []string{"62", "63"}},
		{"?limit=3", 3, []string{"62", "63"}},
		{"?exclude=" + testPeer(17).String(), trackerapi.MaxHoldersPerCall, []string{"62"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			hl := tt.holders(t, m.ID(), tc.query)
			if len(hl.Holders) != tc.wantCount {
				t.Fatalf("%d holders, want %d", len(hl.Holders), tc.wantCount)
			}
			union := chunkset.New(chunks)
			var reached []string
			seen := map[peer.ID]bool{}
			for _, h := range hl.Holders {
				if seen[h.Peer] {
					t.Fatalf("peer %s listed twice", h.Peer.Short())
				}
				seen[h.Peer] = true
				b, err := chunkset.FromBytes(h.Have, chunks)
				if err != nil {
					t.Fatal(err)
				}
				union.Or(b)
				if c := rare[h.Peer]; c != "" && !slices.Contains(reached, c) {
					reached = append(reached, c)
				}
			}
			slices.Sort(reached)
			if !slices.Equal(reached, tc.wantRare) {
				t.Fatalf("rare chunks reached: %v, want %v", reached, tc.wantRare)
			}
			if tc.wantCount >= 3 && union.Count() != 62+len(tc.wantRare) {
				t.Fatalf("the page reaches %d chunks, want %d", union.Count(), 62+len(tc.wantRare))
			}
		})
	}
}

// TestPickHoldersSeeder: a seeder reaches every chunk, so with a limit of
// one it is the pick; peers holding nothing come last.
func TestPickHoldersSeeder(t *testing.T) {
	st := newState(lease, 0)
	m := testManifest("m", 10, 1)
	st.addSwarm(m.ID(), m, nil)
	nonce := int64(0)
	apply := func(n int, cs trackerapi.ContentState) {
		nonce++
		a, err := decodeAnnounce(mustJSON(t, trackerapi.AnnounceRequest{Peer: testPeer(n), Addr: testAddr(n), Full: true,
			Contents: []trackerapi.ContentState{cs}}), netip.MustParseAddr("127.0.0.1"), st.chunks)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.apply(a, newFakeClock().Now(), nonce); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 5 {
		apply(n, trackerapi.ContentState{ID: m.ID(), Have: haveOf(10)}) // nothing yet
	}
	apply(5, trackerapi.ContentState{ID: m.ID(), Have: haveOf(10, 0, 1)})
	apply(6, trackerapi.ContentState{ID: m.ID(), Complete: true})
	sw := st.swarms[m.ID()]
	cands := func() []*holding {
		var hs []*holding
		for _, h := range sw.holders {
			hs = append(hs, h)
		}
		return hs
	}
	if got := pickHolders(sw, cands(), 1); len(got) != 1 || got[0].peer.id != testPeer(6) {
		t.Fatalf("limit 1: got %v, want the seeder", got[0].peer.id.Short())
	}
	got := pickHolders(sw, cands(), 3)
	if len(got) != 3 || got[0].peer.id != testPeer(6) || got[1].peer.id != testPeer(5) || got[2].held != 0 {
		t.Fatalf("limit 3: got %d holders, order wrong", len(got))
	}
	if got := pickHolders(sw, cands(), 100); len(got) != 7 {
		t.Fatalf("limit above the count: %d holders, want all 7", len(got))
	}
}
