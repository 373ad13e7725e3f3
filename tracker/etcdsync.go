package tracker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"peerflow/core/content"
	"peerflow/core/peer"
)

// The write path. A flush sends, in this order: one revoke per peer that
// left (etcd deletes all its keys), the keep-alives of the peers that
// announced (on a few streams), one grant per peer new to the fleet, and
// then the changed records — a lease record per peer that announced and a
// holding record per changed (peer, content), never a peer's whole
// library — in transactions of up to maxTxnOps operations.

// write stores a flush; on an error the caller marks it all again, and
// the next flush rewrites what it finds then (writes are idempotent).
func (s *etcdStore) write(snaps []peerSnapshot) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*etcdTimeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	var revoke, alive []clientv3.LeaseID
	var fresh []int // snaps of peers without an etcd lease
	revoked := make([]bool, len(snaps))
	for i := range snaps {
		p := &snaps[i]
		l, known := s.leases[p.id]
		switch {
		case !p.live && known:
			revoke = append(revoke, l)
			revoked[i] = true
			delete(s.leases, p.id)
			delete(s.written, p.id)
		case p.live && !known:
			fresh = append(fresh, i)
		case p.live && p.lease:
			alive = append(alive, l)
		}
	}
	if err := s.revoke(ctx, revoke); err != nil {
		return err
	}
	lost, err := s.keepAlive(ctx, alive)
	if err != nil {
		return err
	}
	for i := range snaps {
		if l, ok := s.leases[snaps[i].id]; ok && lost[l] {
			delete(s.leases, snaps[i].id)
			fresh = append(fresh, i)
		}
	}
	granted, err := s.grant(ctx, len(fresh))
	if err != nil {
		return err
	}
	for k, i := range fresh {
		s.leases[snaps[i].id] = granted[k]
		// A new lease has none of the peer's keys: its lease record goes
		// with the first records under it. (A lost lease took the peer's
		// holdings too: when the watch shows their deletion, older than
		// this write, every record of the peer is marked for the next
		// flush; see applyGone.)
		snaps[i].lease = true
	}
	return s.commit(ctx, s.ops(snaps, revoked))
}

// txn is one transaction of a flush, and the peers whose lease record it
// puts.
type txn struct {
	ops   []clientv3.Op
	peers []peer.ID
}

// ops are the puts and deletes of a flush, as jobs of transactions: a
// job's transactions are committed in order, jobs side by side. One
// peer's records stay in one job, its lease record first, so that a
// tracker following the fleet sees the peer before its holdings. Peers
// whose lease was revoked (skip) need none: etcd deleted their keys.
func (s *etcdStore) ops(snaps []peerSnapshot, skip []bool) [][]txn {
	var jobs [][]txn
	var batch txn
	size := 0
	for i := range snaps {
		if skip[i] {
			continue
		}
		p := &snaps[i]
		peerOps, peerSize := s.peerOps(p)
		if len(batch.ops)+len(peerOps) > maxTxnOps || size+peerSize > maxTxnBytes {
			if len(batch.ops) > 0 {
				jobs = append(jobs, []txn{batch})
			}
			batch, size = txn{}, 0
		}
		if len(peerOps) <= maxTxnOps && peerSize <= maxTxnBytes {
			batch.ops, size = append(batch.ops, peerOps...), size+peerSize
			if p.lease && p.live {
				batch.peers = append(batch.peers, p.id)
			}
			continue
		}
		// A peer too large for one transaction has a job of its own; its
		// lease record is in the first.
		job := []txn{{}}
		if p.lease && p.live {
			job[0].peers = []peer.ID{p.id}
		}
		partSize := 0
		for _, op := range peerOps {
			n := len(op.ValueBytes())
			if part := &job[len(job)-1]; len(part.ops) == maxTxnOps || (partSize+n > maxTxnBytes && len(part.ops) > 0) {
				job, partSize = append(job, txn{}), 0
			}
			part := &job[len(job)-1]
			part.ops, partSize = append(part.ops, op), partSize+n
		}
		jobs = append(jobs, job)
	}
	if len(batch.ops) > 0 {
		jobs = append(jobs, []txn{batch})
	}
	return jobs
}

// peerOps are the operations of one peer's records and their bytes.
func (s *etcdStore) peerOps(p *peerSnapshot) ([]clientv3.Op, int) {
	var ops []clientv3.Op
	size := 0
	l := s.leases[p.id]
	switch {
	case p.lease && p.live:
		v := appendLease(nil, p.lastSeen, p.addr)
		ops, size = append(ops, clientv3.OpPut(s.pfx+peerKeyOf(p.id), string(v), clientv3.WithLease(l))), size+len(v)
	case p.lease:
		ops = append(ops, clientv3.OpDelete(s.pfx+peerKeyOf(p.id)))
	}
	if p.live {
		for j, h := range p.puts {
			if have := p.haves[j]; have != nil {
				h.Have = have.Bytes()
			}
			v := appendHolding(nil, h)
			ops, size = append(ops, clientv3.OpPut(s.pfx+heldKeyOf(p.id, h.ID), string(v), clientv3.WithLease(l))), size+len(v)
		}
	}
	for _, id := range p.deletes {
		ops = append(ops, clientv3.OpDelete(s.pfx+heldKeyOf(p.id, id)))
	}
	return ops, size
}

// commit runs the jobs, txnsAtOnce at a time. It notes the revision of
// each transaction that changed something, for the watch to skip, and of
// each peer's lease record, for the watch to tell a deletion that came
// before it (see applyGone).
func (s *etcdStore) commit(ctx context.Context, jobs [][]txn) error {
	var mu sync.Mutex // guards own and written among the jobs
	err := parallel(len(jobs), txnsAtOnce, func(i int) error {
		for _, t := range jobs[i] {
			resp, err := s.cli.Txn(ctx).Then(t.ops...).Commit()
			if err != nil {
				return err
			}
			mu.Lock()
			if changed(resp) {
				s.own[resp.Header.Revision] = struct{}{}
			}
			for _, id := range t.peers {
				s.written[id] = resp.Header.Revision
			}
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write to etcd: %w", err)
	}
	return nil
}

// changed reports whether a transaction made a revision: a delete of a
// missing key makes none, and its header's revision is then another
// write's.
func changed(resp *clientv3.TxnResponse) bool {
	for _, r := range resp.Responses {
		switch op := r.Response.(type) {
		case *pb.ResponseOp_ResponsePut:
			return true
		case *pb.ResponseOp_ResponseDeleteRange:
			if op.ResponseDeleteRange.Deleted > 0 {
				return true
			}
		}
	}
	return false
}

// parallel calls f(0..n-1), at most k at a time, waits, and returns
// their errors joined.
func parallel(n, k int, f func(int) error) error {
	sem := make(chan struct{}, k)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// revoke ends leases; one already ended is no error.
func (s *etcdStore) revoke(ctx context.Context, ids []clientv3.LeaseID) error {
	err := parallel(len(ids), grantsAtOnce, func(i int) error {
		if _, err := s.cli.Revoke(ctx, ids[i]); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke etcd leases: %w", err)
	}
	return nil
}

// grant makes n leases of the peers' TTL.
func (s *etcdStore) grant(ctx context.Context, n int) ([]clientv3.LeaseID, error) {
	ids := make([]clientv3.LeaseID, n)
	err := parallel(n, grantsAtOnce, func(i int) error {
		resp, err := s.cli.Grant(ctx, s.ttl)
		if err == nil {
			ids[i] = resp.ID
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("grant etcd leases: %w", err)
	}
	return ids, nil
}

// keepAlive renews leases, on keepAliveStreams streams side by side (a
// stream's keep-alives are answered one after the other), and returns
// those etcd no longer has.
func (s *etcdStore) keepAlive(ctx context.Context, ids []clientv3.LeaseID) (map[clientv3.LeaseID]bool, error) {
	lost := make(map[clientv3.LeaseID]bool)
	var mu sync.Mutex // guards lost
	per := (len(ids) + keepAliveStreams - 1) / keepAliveStreams
	err := parallel(keepAliveStreams, keepAliveStreams, func(i int) error {
		gone, err := s.keepAliveStream(ctx, ids[min(i*per, len(ids)):min((i+1)*per, len(ids))])
		mu.Lock()
		defer mu.Unlock()
		for _, id := range gone {
			lost[id] = true
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keep etcd leases alive: %w", err)
	}
	return lost, nil
}

// keepAliveStreams is how many streams a flush's keep-alives go on.
const keepAliveStreams = 8

// keepAliveStream renews leases on one stream.
func (s *etcdStore) keepAliveStream(ctx context.Context, ids []clientv3.LeaseID) ([]clientv3.LeaseID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.leaseC.LeaseKeepAlive(ctx)
	if err != nil {
		return nil, err
	}
	sent := make(chan error, 1)
	go func() {
		for _, id := range ids {
			if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: int64(id)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()
	var lost []clientv3.LeaseID
	for range ids {
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if resp.TTL <= 0 {
			lost = append(lost, clientv3.LeaseID(resp.ID))
		}
	}
	return lost, <-sent
}

// The read path: a watch of the whole prefix from the revision load read
// at. Each revision's events are applied together, under mu; those of
// this tracker's own writes are skipped.

// follow starts the watch that applies the fleet's writes to st; close
// stops it.
func (s *etcdStore) follow(st *state, now func() time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch, s.watchDone = cancel, make(chan struct{})
	go s.watch(ctx, st, now)
}

// watchRetry is the pause before watching again after the watch failed.
const watchRetry = time.Second

func (s *etcdStore) watch(ctx context.Context, st *state, now func() time.Time) {
	defer close(s.watchDone)
	rev := s.rev
	for ctx.Err() == nil {
		compacted := false
		wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.pfx, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if resp.CompactRevision != 0 {
				compacted = true
				break
			}
			if err := resp.Err(); err != nil {
				s.log.Debug("etcd watch ended", "err", err)
				break
			}
			if n := len(resp.Events); n > 0 {
				s.apply(ctx, st, resp.Events, now())
				rev = resp.Events[n-1].Kv.ModRevision
			}
		}
		if compacted && ctx.Err() == nil {
			// The events since rev are gone: read everything again.
			d, err := s.load()
			if err != nil {
				s.log.Warn("etcd watch: reload after compaction failed; will retry", "err", err)
				compacted = false
			} else {
				st.resync(d, now())
				rev = s.rev
				s.log.Info("etcd watch: events compacted away; state read again", "revision", rev)
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
}

// apply applies the events of one watch response.
func (s *etcdStore) apply(ctx context.Context, st *state, evs []*clientv3.Event, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(evs); {
		rev := evs[i].Kv.ModRevision
		j := i + 1
		for j < len(evs) && evs[j].Kv.ModRevision == rev {
			j++
		}
		group := evs[i:j]
		i = j
		if _, ok := s.own[rev]; ok {
			delete(s.own, rev)
			continue
		}
		// A revoke deletes a peer's keys in key order, holdings first;
		// whether the peer is gone decides what those deletions mean.
		rewriting := make(map[peer.ID]bool)
		for _, ev := range group {
			if ev.Type == clientv3.EventTypeDelete && strings.HasPrefix(string(ev.Kv.Key), s.pfx+keyPeers) {
				s.applyGone(st, ev, rewriting)
			}
		}
		for _, ev := range group {
			s.applyEvent(ctx, st, ev, now, rewriting)
		}
	}
	last := evs[len(evs)-1].Kv.ModRevision
	for r := range s.own {
		if r < last {
			delete(s.own, r)
		}
	}
}

// applyGone applies the deletion of a peer's lease record. One older
// than the peer's last lease record is of a lease the peer no longer has
// (this tracker wrote the peer again under a new one, before the watch
// brought the deletion); it is ignored, and so are the peer's holding
// deletions of that revision. So are they when the peer announced here
// since (followGone): its records are written again.
func (s *etcdStore) applyGone(st *state, ev *clientv3.Event, rewriting map[peer.ID]bool) {
	id, err := s.peerIDOf(ev.Kv.Key)
	if err != nil {
		return
	}
	if ev.Kv.ModRevision < s.written[id] {
		rewriting[id] = true
		st.rewrite(id) // what this tracker did not write again is gone
		return
	}
	delete(s.leases, id)
	delete(s.written, id)
	if st.followGone(id) {
		rewriting[id] = true
		s.log.Debug("etcd: a live peer's lease ended; writing it again", "peer", id.Short())
	}
}

func (s *etcdStore) applyEvent(ctx context.Context, st *state, ev *clientv3.Event, now time.Time, rewriting map[peer.ID]bool) {
	key := strings.TrimPrefix(string(ev.Kv.Key), s.pfx)
	put := ev.Type == clientv3.EventTypePut
	switch {
	case put && strings.HasPrefix(key, keyManifests):
		s.applyManifest(ctx, st, ev.Kv)
	case put && strings.HasPrefix(key, keyPeers):
		id, err := s.peerIDOf(ev.Kv.Key)
		l, err2 := decodeLease(ev.Kv.Value)
		if err != nil || err2 != nil {
			return
		}
		s.leases[id], s.written[id] = clientv3.LeaseID(ev.Kv.Lease), ev.Kv.ModRevision
		st.followPeer(id, l.lastSeen, l.addr, now)
	case strings.HasPrefix(key, keyHeld):
		ref, err := s.heldRefOf(ev.Kv.Key)
		if err != nil {
			return
		}
		if !put {
			if !rewriting[ref.peer] {
				st.followDrop(ref.peer, ref.content)
			}
			return
		}
		h, err := decodeHolding(ev.Kv.Value)
		if err != nil || clientv3.LeaseID(ev.Kv.Lease) != s.leases[ref.peer] {
			return
		}
		h.ID = ref.content
		st.followHolding(ref.peer, h)
	}
}

// applyManifest adds a manifest another tracker published.
func (s *etcdStore) applyManifest(ctx context.Context, st *state, kv *mvccpb.KeyValue) {
	id, err := s.contentIDOf(kv.Key, keyManifests)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	body, access, err := s.manifestBody(ctx, id, kv.Value, kv.ModRevision)
	var m *content.Manifest
	if err == nil {
		m, err = content.Decode(body)
	}
	if err != nil {
		s.log.Warn("etcd: manifest skipped", "id", id, "err", err)
		return
	}
	st.addSwarm(id, m, access)
}
