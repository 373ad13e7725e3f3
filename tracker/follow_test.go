package tracker

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

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

// TestStaleDeletionRewritesThePeer: a lease's deletion that the watch
// brings after this tracker wrote the peer again (under a new lease) does
// not drop the peer; its records are marked to be written again, as the
// deletion took those not rewritten. A deletion after the last write
// drops the peer.
func TestStaleDeletionRewritesThePeer(t *testing.T) {
	st := newState(lease, 0)
	a, b := testManifest("a", 8, 1), testManifest("b", 8, 2)
	st.addSwarm(a.ID(), a, nil)
	st.addSwarm(b.ID(), b, nil)
	now := time.Unix(1_700_000_000, 0)
	for n := 1; n <= 2; n++ {
		st.followPeer(testPeer(n), now, "127.0.0.1"+testAddr(n), now)
		for _, m := range []*content.Manifest{a, b} {
			st.followHolding(testPeer(n), trackerapi.ContentState{ID: m.ID(), Complete: true})
		}
	}
	s := &etcdStore{pfx: "t/", log: slog.New(slog.DiscardHandler), own: map[int64]struct{}{},
		leases:  map[peer.ID]clientv3.LeaseID{testPeer(1): 2, testPeer(2): 3},
		written: map[peer.ID]int64{testPeer(1): 7, testPeer(2): 4}}
	del := func(key string, rev int64) *clientv3.Event {
		return &clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: []byte("t/" + key), ModRevision: rev}}
	}
	var evs []*clientv3.Event
	for _, n := range []int{1, 2} {
		rev := int64(5 + n) // 6 for peer 1 (written again at 7), 7 for peer 2 (written at 4)
		for _, m := range []*content.Manifest{a, b} {
			evs = append(evs, del(heldKeyOf(testPeer(n), m.ID()), rev))
		}
		evs = append(evs, del(peerKeyOf(testPeer(n)), rev))
	}
	s.apply(t.Context(), st, evs, now)

	hl, _ := st.holders(a.ID(), nil, peer.ID{}, 10, now)
	if hl.Total != 1 || hl.Holders[0].Peer != testPeer(1) {
		t.Fatalf("holders of a: %+v, want peer 1 only", hl)
	}
	d := st.dirty[testPeer(1)]
	if d == nil || !d.lease || len(d.contents) != 2 {
		t.Fatalf("peer 1's marks %+v, want its lease and both holdings", d)
	}
	if _, ok := s.leases[testPeer(2)]; ok || st.dirty[testPeer(2)] != nil {
		t.Fatal("peer 2 gone, yet its lease is kept or its records marked")
	}
}
