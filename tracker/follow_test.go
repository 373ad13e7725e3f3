package tracker

import (
	"slices"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// TestResyncMatchesTheStore: after the watch lost events, memory becomes
// what the store holds, except for a peer with changes not yet flushed.
func TestResyncMatchesTheStore(t *testing.T) {
	st := newState(lease, 0)
	m := testManifest("m", 8, 1)
	st.addSwarm(m.ID(), m, nil)
	now := time.Unix(1_700_000_000, 0)
	for n := 1; n <= 3; n++ {
		st.followPeer(testPeer(n), now, "127.0.0.1"+testAddr(n), now)
		st.followHolding(testPeer(n), trackerapi.ContentState{ID: m.ID(), Have: haveOf(8, n)})
	}
	st.marks(testPeer(3)).lease = true // announced here, not flushed yet

	// The store: peer 1 gone, peer 2 holds more, peer 4 new; peer 3 is
	// not there yet.
	d := &stored{
		manifests: map[content.ID]*content.Manifest{m.ID(): m},
		leases: []storedLease{
			{peer: testPeer(2), lastSeen: now, addr: "127.0.0.1" + testAddr(2)},
			{peer: testPeer(4), lastSeen: now, addr: "127.0.0.1" + testAddr(4)},
		},
		holdings: map[peer.ID][]trackerapi.ContentState{
			testPeer(2): {{ID: m.ID(), Have: haveOf(8, 2, 5)}},
			testPeer(4): {{ID: m.ID(), Complete: true}},
		},
	}
	st.resync(d, now)

	hl, ok := st.holders(m.ID(), nil, peer.ID{}, 10, now)
	if !ok {
		t.Fatal("content lost")
	}
	got := map[peer.ID]string{}
	for _, h := range hl.Holders {
		got[h.Peer] = string(h.Have)
		if h.Complete {
			got[h.Peer] = "complete"
		}
	}
	want := map[peer.ID]string{
		testPeer(2): string(haveOf(8, 2, 5)),
		testPeer(3): string(haveOf(8, 3)),
		testPeer(4): "complete",
	}
	if len(got) != len(want) {
		t.Fatalf("holders %v, want peers 2, 3 and 4", slices.Collect(func(yield func(string) bool) {
			for p := range got {
				yield(p.Short())
			}
		}))
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("peer %s holds %q, want %q", p.Short(), got[p], w)
		}
	}
}
