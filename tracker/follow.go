package tracker

import (
	"net/netip"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// Followed changes. The trackers of a fleet share one store (etcd); each
// keeps the whole live state in memory and follows what the others write
// (etcdstore.go watches it). The functions here apply those records. None
// marks anything dirty: the records are in the store already.

// followPeer applies a lease record another tracker wrote: peer id
// announced there at lastSeen, from addr. A record whose lease has ended
// by now is ignored; another peer listed at addr is forgotten, as an
// announce to this tracker would drop it.
func (st *state) followPeer(id peer.ID, lastSeen time.Time, addr string, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.followPeerLocked(id, lastSeen, addr, now)
}

func (st *state) followPeerLocked(id peer.ID, lastSeen time.Time, addr string, now time.Time) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !now.Before(lastSeen.Add(st.lease)) {
		return
	}
	p := st.peers[id]
	if other := st.byAddr[addr]; other != nil && other != p {
		st.forget(other)
	}
	if p == nil {
		p = &peerState{id: id, holdings: make(map[content.ID]*holding)}
		st.peers[id] = p
	} else {
		st.unlink(p)
	}
	p.lastSeen = lastSeen
	st.insertByLease(p)
	st.setAddr(p, addr, ap.Addr())
}

// insertByLease links p into the lease order by its lastSeen. Records
// from other trackers come a moment late, so p goes in near the newest
// end: the walk is short.
func (st *state) insertByLease(p *peerState) {
	after := st.newest
	for after != nil && after.lastSeen.After(p.lastSeen) {
		after = after.prev
	}
	if after == st.newest {
		st.pushNewest(p)
		return
	}
	p.prev = after
	if after != nil {
		p.next = after.next
		after.next = p
	} else {
		p.next = st.oldest
		st.oldest = p
	}
	p.next.prev = p
}

// followHolding applies a holding record another tracker wrote: what
// peer pid holds of one content. The peer's lease record comes first; a
// holding of an unknown peer or content, or one that does not fit the
// manifest, is ignored.
func (st *state) followHolding(pid peer.ID, cs trackerapi.ContentState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.followHoldingLocked(pid, cs)
}

func (st *state) followHoldingLocked(pid peer.ID, cs trackerapi.ContentState) {
	p := st.peers[pid]
	if p == nil {
		return
	}
	u, known, err := decodeState(cs, func(id content.ID, _ []byte) (int, bool) { return st.chunksLocked(id) })
	if err != nil || !known || (p.holdings[cs.ID] == nil && len(p.holdings) >= trackerapi.MaxContentsPerPeer) {
		return
	}
	st.set(p, &u)
}

// followDrop applies a holding record's deletion.
func (st *state) followDrop(pid peer.ID, id content.ID) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if p := st.peers[pid]; p != nil {
		if h := p.holdings[id]; h != nil {
			st.drop(p, id, h)
		}
	}
}

// followGone applies a lease record's deletion: the peer's etcd lease
// ended or a tracker revoked it. If the peer announced to this tracker
// since its last flush, the peer is live after all: every record of it is
// marked, for the next flush to write again (under a new lease), and
// followGone reports true.
func (st *state) followGone(id peer.ID) (rewrite bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.peers[id]
	switch {
	case p == nil:
		return false
	case st.dirty[id] != nil:
		st.markAll(p)
		return true
	}
	st.forget(p)
	return false
}

// rewrite marks every record of peer id, if live, for the next flush: a
// deletion took some that this tracker wrote again under a new lease.
func (st *state) rewrite(id peer.ID) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if p := st.peers[id]; p != nil {
		st.markAll(p)
	}
}

// markAll marks p's lease record and every holding record of it.
func (st *state) markAll(p *peerState) {
	d := st.marks(p.id)
	d.lease = true
	for cid := range p.holdings {
		d.content(cid)
	}
}

// resync makes memory what a fresh load of the store says, after the
// watch lost events (etcd compacted them away). A peer this tracker has
// changes of that it did not write yet keeps them.
func (st *state) resync(d *stored, now time.Time) {
	for id, m := range d.manifests {
		st.addSwarm(id, m, d.access[id])
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	inStore := make(map[peer.ID]bool, len(d.leases))
	for _, l := range d.leases {
		inStore[l.peer] = true
		if st.dirty[l.peer] == nil {
			st.followPeerLocked(l.peer, l.lastSeen, l.addr, now)
		}
	}
	for id, p := range st.peers {
		if !inStore[id] && st.dirty[id] == nil {
			st.forget(p)
		}
	}
	for id, hs := range d.holdings {
		p := st.peers[id]
		if p == nil || st.dirty[id] != nil {
			continue
		}
		kept := make(map[content.ID]bool, len(hs))
		for _, cs := range hs {
			kept[cs.ID] = true
			st.followHoldingLocked(id, cs)
		}
		for cid, h := range p.holdings {
			if !kept[cid] {
				st.drop(p, cid, h)
			}
		}
	}
	for id, p := range st.peers {
		if _, held := d.holdings[id]; !held && st.dirty[id] == nil {
			for cid, h := range p.holdings {
				st.drop(p, cid, h)
			}
		}
	}
}
