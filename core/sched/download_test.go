package sched

import (
	"slices"
	"testing"
	"time"

	"peerflow/core/peer"
	"peerflow/flow/chunkset"
)

const chunk = 256 << 10

var t0 = time.Unix(1_000_000, 0)

func pid(b byte) peer.ID { return peer.ID{b} }

func all(n int) *chunkset.Set {
	s := chunkset.New(n)
	s.Fill()
	return s
}

func setOf(n int, chunks ...int) *chunkset.Set {
	s := chunkset.New(n)
	for _, c := range chunks {
		s.Set(c)
	}
	return s
}

func newDL(t *testing.T, chunks int) *Download {
	t.Helper()
	d, err := NewDownload(Config{Size: int64(chunks) * chunk, ChunkSize: chunk, Self: pid(0xEE), Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	d.SetDiscovery(true, 0)
	return d
}

func chunksOf(rs []Request, p peer.ID) []int {
	var out []int
	for _, r := range rs {
		if r.Peer == p {
			out = append(out, r.Chunk)
		}
	}
	slices.Sort(out)
	return out
}

func TestNothingPlannedBeforeSettled(t *testing.T) {
	d, _ := NewDownload(Config{Size: 4 * chunk, ChunkSize: chunk, Start: t0})
	d.SetDiscovery(false, 1) // a dial is under way
	d.AddPeer(pid(1), nil, 0)
	if out := d.Schedule(t0.Add(time.Second)); len(out.Requests) > 0 || d.Settled() {
		t.Fatalf("planned before any peer was ready: %v", out.Requests)
	}
	// SettleTime passes: the download plans with what it has.
	d.Schedule(t0.Add(SettleTime))
	if !d.Settled() || d.Unavailable() != 4 {
		t.Fatalf("settled %v, unavailable %d; want settled with 4 unavailable", d.Settled(), d.Unavailable())
	}
	// The bitfield arrives: the chunks are asked for, DefaultDepth at a time.
	d.Bitfield(pid(1), all(4))
	out := d.Schedule(t0.Add(SettleTime + MinReplanGap))
	if got := chunksOf(out.Requests, pid(1)); len(got) != DefaultDepth {
		t.Fatalf("requests %v, want %d in flight", got, DefaultDepth)
	}
}

func TestReplansAreSpaced(t *testing.T) {
	d := newDL(t, 8)
	d.AddPeer(pid(1), setOf(8, 0, 1, 2, 3), 0)
	d.Schedule(t0)
	// News arrives at once: the replan waits for MinReplanGap, unless a
	// peer sits idle (then MinUrgentGap).
	d.AddPeer(pid(2), setOf(8, 4, 5, 6, 7), 0)
	d.Schedule(t0.Add(time.Millisecond))
	if got, want := d.WakeAt(), t0.Add(MinUrgentGap); !got.Equal(want) {
		t.Fatalf("wake at %v, want %v (peer 2 idles)", got.Sub(t0), want.Sub(t0))
	}
	out := d.Schedule(d.WakeAt())
	if got := chunksOf(out.Requests, pid(2)); len(got) != DefaultDepth {
		t.Fatalf("peer 2 got %v after the replan", got)
	}
	d.Bitfield(pid(1), setOf(8, 0, 1, 2, 3, 7)) // peer 2 is busy now: the usual gap
	d.Schedule(t0.Add(MinUrgentGap + time.Millisecond))
	if got, want := d.WakeAt(), t0.Add(MinUrgentGap+MinReplanGap); !got.Equal(want) {
		t.Fatalf("wake at %v, want %v", got.Sub(t0), want.Sub(t0))
	}
}

func TestOnlyHavesOfUnplannedChunksReplan(t *testing.T) {
	d := newDL(t, 16)
	first := setOf(16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	d.AddPeer(pid(1), first, 0)
	d.AddPeer(pid(2), first.Clone(), 0)
	d.Schedule(t0) // plans 0-9 over both, some queued behind the requests; nobody holds 10-15
	// A chunk the plan has queued already waits its turn: no replan.
	queued := d.peers[pid(1)].queue
	if len(queued) == 0 || len(d.peers[pid(2)].queue) == 0 {
		t.Fatalf("queues %v and %v: want chunks waiting at both", queued, d.peers[pid(2)].queue)
	}
	d.Have(pid(2), queued[0])
	if d.replan {
		t.Fatal("a have of a planned chunk asks for a replan")
	}
	// A chunk no plan covers does.
	d.Have(pid(2), 12)
	if !d.replan {
		t.Fatal("a have of a chunk nobody held asks for no replan")
	}
	d.Schedule(t0.Add(MinReplanGap))
	if !d.planned.Has(12) || d.planned.Has(13) {
		t.Errorf("after the replan: chunk 12 planned %v, chunk 13 planned %v", d.planned.Has(12), d.planned.Has(13))
	}
}

func TestStalledPeerIsWithdrawnAndSitsOut(t *testing.T) {
	d := newDL(t, 4)
	d.AddPeer(pid(1), all(4), 0)
	d.AddPeer(pid(2), all(4), 0)
	out := d.Schedule(t0)
	first := chunksOf(out.Requests, pid(1))
	if len(first) == 0 {
		t.Fatal("peer 1 got nothing")
	}
	// Peer 2 delivers; peer 1 never does.
	now := t0
	for _, c := range chunksOf(out.Requests, pid(2)) {
		now = now.Add(20 * time.Millisecond)
		d.Received(pid(2), c, chunk, true, now)
	}
	var cancels []Request
	for now.Before(t0.Add(3 * minStallTimeout)) {
		now = now.Add(100 * time.Millisecond)
		cancels = append(cancels, d.Tick(now)...)
		if len(cancels) > 0 {
			break
		}
	}
	if got := chunksOf(cancels, pid(1)); !slices.Equal(got, first) {
		t.Fatalf("cancels %v, want peer 1's requests %v", cancels, first)
	}
	if stalledAt := now.Sub(t0); stalledAt < minStallTimeout {
		t.Fatalf("stalled after %v, before the timeout", stalledAt)
	}
	// While it sits out, everything goes to peer 2.
	out = d.Schedule(now.Add(MinReplanGap))
	if len(chunksOf(out.Requests, pid(1))) > 0 || len(chunksOf(out.Requests, pid(2))) == 0 {
		t.Fatalf("after the stall: %v", out.Requests)
	}
}

func TestDriftTriggersReplan(t *testing.T) {
	for _, tc := range []struct {
		planned, measured float64
		want              bool
	}{
		{0, 0, false},
		{0, 1e6, true},
		{1e6, 1.3e6, false},
		{1e6, 1.4e6, true},
		{1e6, 0.7e6, false},
		{1e6, 0.6e6, true},
	} {
		if got := drifted(tc.planned, tc.measured); got != tc.want {
			t.Errorf("drifted(%g, %g) = %v, want %v", tc.planned, tc.measured, got, tc.want)
		}
	}
	d := newDL(t, 64)
	d.AddPeer(pid(1), all(64), 0)
	out := d.Schedule(t0)
	d.replan = false
	// 2 chunks in 50 ms: 10 MiB/s, far from the unknown rate planned.
	now := t0
	for _, r := range out.Requests {
		now = now.Add(25 * time.Millisecond)
		d.Received(r.Peer, r.Chunk, chunk, true, now)
	}
	d.Tick(t0.Add(100 * time.Millisecond))
	if !d.replan {
		t.Fatal("a measured rate far from the planned one did not ask for a replan")
	}
}

func TestEndgameAsksTwiceAndCancelsTheLoser(t *testing.T) {
	d := newDL(t, 2)
	d.AddPeer(pid(1), all(2), 0)
	out := d.Schedule(t0)
	if len(out.Requests) != 2 {
		t.Fatalf("requests %v", out.Requests)
	}
	// A second holder arrives with nothing left to plan: it asks for the
	// outstanding chunks too.
	d.AddPeer(pid(2), all(2), 0)
	out = d.Schedule(t0.Add(MinReplanGap))
	if got := chunksOf(out.Requests, pid(2)); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("endgame requests %v, want both chunks from peer 2", out.Requests)
	}
	got := d.Received(pid(2), 1, chunk, true, t0.Add(time.Second))
	if !slices.Equal(got.Cancels, []Request{{pid(1), 1}}) {
		t.Fatalf("cancels %v, want chunk 1 at peer 1", got.Cancels)
	}
	if d.Requested(pid(1), 1) {
		t.Fatal("the cancelled request is still wanted")
	}
}

func TestNoEndgameWhileAChunkIsHeldByNobody(t *testing.T) {
	d := newDL(t, 3)
	d.AddPeer(pid(1), setOf(3, 0, 1), 0)
	d.AddPeer(pid(2), setOf(3, 0, 1), 0)
	d.Schedule(t0)
	out := d.Schedule(t0.Add(MinReplanGap))
	for c := range 2 {
		holders := 0
		for _, p := range []peer.ID{pid(1), pid(2)} {
			if d.Requested(p, c) {
				holders++
			}
		}
		if holders != 1 {
			t.Fatalf("chunk %d asked of %d peers while chunk 2 has no holder (requests %v)", c, holders, out.Requests)
		}
	}
}

func TestBusyPeerIsAskedAgainLater(t *testing.T) {
	d := newDL(t, 4)
	d.AddPeer(pid(1), all(4), 0)
	out := d.Schedule(t0)
	c := out.Requests[0].Chunk
	d.Reject(pid(1), c, RefusedBusy, t0)
	if out := d.Schedule(t0.Add(busyBackoff / 2)); len(out.Requests) > 0 {
		t.Fatalf("asked a busy peer again at once: %v", out.Requests)
	}
	// Nobody else holds it: the refused chunk is asked again first.
	if out := d.Schedule(t0.Add(busyBackoff)); !slices.Contains(chunksOf(out.Requests, pid(1)), c) {
		t.Fatalf("asked the busy peer again for %v, not for chunk %d", out.Requests, c)
	}
}

func TestBusyRefusalGoesToAnotherHolder(t *testing.T) {
	d := newDL(t, 4)
	d.AddPeer(pid(1), all(4), 0)
	d.AddPeer(pid(2), setOf(4, 0, 1, 2), 0)
	out := d.Schedule(t0)
	c := -1
	for _, r := range out.Requests {
		if r.Peer == pid(1) && r.Chunk != 3 {
			c = r.Chunk
		}
	}
	if c < 0 {
		t.Fatalf("requests %v: want one of chunks 0-2 at peer 1", out.Requests)
	}
	d.Reject(pid(1), c, RefusedBusy, t0)
	out = d.Schedule(t0.Add(MinReplanGap))
	if !slices.Contains(chunksOf(out.Requests, pid(2)), c) && !slices.Contains(d.peers[pid(2)].queue, c) {
		t.Fatalf("chunk %d refused as busy by peer 1 is not planned at peer 2: requests %v, queue %v", c, out.Requests, d.peers[pid(2)].queue)
	}
}

func TestNotHeldChunkGoesElsewhere(t *testing.T) {
	d := newDL(t, 1)
	d.AddPeer(pid(1), all(1), 0)
	out := d.Schedule(t0)
	d.Reject(pid(1), out.Requests[0].Chunk, RefusedNotHeld, t0)
	d.AddPeer(pid(2), all(1), 0)
	out = d.Schedule(t0.Add(MinReplanGap))
	if !slices.Equal(out.Requests, []Request{{pid(2), 0}}) {
		t.Fatalf("requests %v, want chunk 0 from peer 2", out.Requests)
	}
}

func TestHaveFromIdlePeerIsAskedAtOnce(t *testing.T) {
	d := newDL(t, 4)
	d.AddPeer(pid(1), setOf(4), 0)
	d.Schedule(t0)
	d.Have(pid(1), 3)
	out := d.Schedule(t0.Add(time.Millisecond)) // well before any replan may run
	if !slices.Equal(out.Requests, []Request{{pid(1), 3}}) {
		t.Fatalf("requests %v, want chunk 3 at once", out.Requests)
	}
}

func TestOriginBacksOffAndGivesUp(t *testing.T) {
	d, _ := NewDownload(Config{Size: 2 * chunk, ChunkSize: chunk, Origin: true, Start: t0})
	d.SetDiscovery(true, 0)
	if out := d.Schedule(t0); !out.Origin {
		t.Fatal("no origin work with no peers")
	}
	now := t0
	for i := range originGiveUp {
		c, ok := d.NextOriginChunk(now)
		if !ok {
			t.Fatalf("fetch %d: nothing to fetch at %v", i, now.Sub(t0))
		}
		gaveUp := d.OriginFailed(c, true, false, now)
		if gaveUp != (i == originGiveUp-1) {
			t.Fatalf("refusal %d: gave up %v", i+1, gaveUp)
		}
		if _, again := d.NextOriginChunk(now); again {
			t.Fatalf("fetch %d: asked again during the backoff", i)
		}
		now = now.Add(originBackoffMax)
	}
	if d.OriginUsable() {
		t.Fatal("origin still used after refusals")
	}
}

func TestPauseWithdrawsEverything(t *testing.T) {
	d := newDL(t, 4)
	d.AddPeer(pid(1), all(4), 0)
	out := d.Schedule(t0)
	cancels := d.Pause(t0)
	slices.SortFunc(cancels, func(a, b Request) int { return a.Chunk - b.Chunk })
	if !slices.Equal(cancels, out.Requests) {
		t.Fatalf("cancels %v, want %v", cancels, out.Requests)
	}
	if out := d.Schedule(t0.Add(time.Second)); len(out.Requests) > 0 {
		t.Fatal("a paused download asked for chunks")
	}
	d.Resume()
	if out := d.Schedule(t0.Add(2 * time.Second)); len(out.Requests) == 0 {
		t.Fatal("a resumed download asked for nothing")
	}
}

func TestVerifiedCountsAChunkWhoseConnectionWasReplaced(t *testing.T) {
	d := newDL(t, 2)
	d.AddPeer(pid(1), all(2), 0)
	d.AddPeer(pid(2), all(2), 0)
	d.Schedule(t0)
	d.Schedule(t0.Add(MinReplanGap)) // endgame: both chunks at both peers
	// Peer 1's connection was replaced while it stored chunk 0: the
	// chunk still counts, and the duplicates are withdrawn.
	d.RemovePeer(pid(1))
	out := d.Verified(0, t0.Add(time.Second))
	if d.NeedsChunk(0) || len(chunksOf(out.Cancels, pid(2))) > 1 {
		t.Fatalf("after Verified: needs chunk 0 %v, cancels %v", d.NeedsChunk(0), out.Cancels)
	}
	if d.Requested(pid(2), 0) {
		t.Fatal("chunk 0 still in flight at peer 2")
	}
}

func TestPausedDownloadWaitsForNothing(t *testing.T) {
	d := newDL(t, 8)
	d.AddPeer(pid(1), all(8), 0)
	d.Schedule(t0)
	d.Bitfield(pid(1), all(8)) // news: a replan is held back
	d.Schedule(t0.Add(time.Millisecond))
	if d.WakeAt().IsZero() {
		t.Fatal("no replan held back")
	}
	d.Pause(t0.Add(2 * time.Millisecond))
	d.Schedule(t0.Add(time.Second))
	if !d.WakeAt().IsZero() {
		t.Fatalf("a paused download asks to be woken at %v", d.WakeAt().Sub(t0))
	}
}

// TestStreamFromPlansFromTheReader: a reader waiting at a chunk moves the
// plan there at the next replan, in order from it; going back gives the
// configured order again.
func TestStreamFromPlansFromTheReader(t *testing.T) {
	d := newDL(t, 100)
	d.AddPeer(pid(1), all(100), 0)
	d.AddPeer(pid(2), all(100), 0)
	out := d.Schedule(t0)
	inflight := out.Requests
	// The reader waits well away from where the usual order started.
	from := (slices.MaxFunc(inflight, func(a, b Request) int { return a.Chunk - b.Chunk }).Chunk + 40) % 100
	if !d.StreamFrom(from) || d.StreamFrom(from) {
		t.Fatal("StreamFrom does not say what it changed")
	}
	// The new plan comes at the usual gap (the reader's chunk itself is
	// asked at once by Urgent).
	d.Schedule(t0.Add(time.Millisecond))
	d.Schedule(d.WakeAt())
	// The pipelines were full: as the chunks in flight land, the refills
	// come from the reader's position on.
	var next []int
	for _, r := range inflight {
		out := d.Received(r.Peer, r.Chunk, chunk, true, t0.Add(2*time.Millisecond))
		for _, q := range out.Requests {
			next = append(next, q.Chunk)
		}
	}
	slices.Sort(next)
	want := make([]int, len(next))
	for i := range want {
		want[i] = (from + i) % 100
	}
	slices.Sort(want)
	if len(next) == 0 || !slices.Equal(next, want) {
		t.Fatalf("after StreamFrom(%d) the download asks for %v, want %v", from, next, want)
	}
	d.StreamFrom(-1)
	if d.order != d.cfg.Order || d.from != d.cfg.From {
		t.Fatal("StreamFrom(-1) did not restore the configured order")
	}
}

// TestUrgentAsksAtOnce: a chunk a reader waits for is asked at once, of a
// peer that advertises it, else of one known to hold everything though
// it advertised only part (a super-seeding sharer); never twice.
func TestUrgentAsksAtOnce(t *testing.T) {
	d := newDL(t, 10)
	d.AddPeer(pid(1), setOf(10, 0, 1), 0) // the sharer: it offered 0 and 1 so far
	d.AddPeer(pid(2), setOf(10, 5), 0)
	d.Schedule(t0)
	if got := d.Urgent(1, 7, 0, t0); len(got.Requests) != 0 || got.Origin {
		t.Fatalf("asked %+v for a chunk nobody advertises, with no origin", got)
	}
	d.SetComplete(pid(1))
	if got := d.Urgent(1, 7, 0, t0).Requests; len(got) != 1 || got[0] != (Request{pid(1), 7}) {
		t.Fatalf("chunk 7 asked as %v, want of the sharer", got)
	}
	if got := d.Urgent(1, 7, 0, t0).Requests; len(got) != 0 {
		t.Fatalf("chunk 7 asked again: %v", got)
	}
	// Chunk 5 is in flight at peer 2 by the plan already.
	if got := d.Urgent(1, 5, 0, t0).Requests; len(got) != 0 || !d.Requested(pid(2), 5) {
		t.Fatalf("chunk 5 asked as %v", got)
	}
	// A peer that advertises the chunk goes before the sharer.
	d.AddPeer(pid(3), setOf(10, 8), 0)
	if got := d.Urgent(1, 8, 0, t0).Requests; len(got) != 1 || got[0] != (Request{pid(3), 8}) {
		t.Fatalf("chunk 8 asked as %v, want of peer 3", got)
	}
}

// TestSharerKeepsChunksFromTheOrigin: the chunks a super-seeding sharer
// has not advertised yet are not given to the origin server.
func TestSharerKeepsChunksFromTheOrigin(t *testing.T) {
	d, err := NewDownload(Config{Size: 10 * chunk, ChunkSize: chunk, Self: pid(0xEE), Start: t0, Origin: true})
	if err != nil {
		t.Fatal(err)
	}
	d.SetDiscovery(true, 0)
	d.SetComplete(pid(1))
	d.AddPeer(pid(1), setOf(10, 0, 1), 0)
	if out := d.Schedule(t0); out.Origin {
		t.Fatalf("the origin got work while the sharer holds everything: %+v", out)
	}
}

// TestUrgentFallsBackToTheOrigin: a chunk no peer can give goes first in
// the origin server's queue.
func TestUrgentFallsBackToTheOrigin(t *testing.T) {
	d, err := NewDownload(Config{Size: 10 * chunk, ChunkSize: chunk, Self: pid(0xEE), Start: t0, Origin: true})
	if err != nil {
		t.Fatal(err)
	}
	d.SetDiscovery(true, 0)
	d.AddPeer(pid(1), setOf(10, 0, 1), 0)
	d.Schedule(t0)
	if got := d.Urgent(1, 9, 0, t0); !got.Origin || len(got.Requests) != 0 {
		t.Fatalf("chunk 9, held by no peer: %+v, want the origin", got)
	}
	if c, ok := d.NextOriginChunk(t0); !ok || c != 9 {
		t.Fatalf("the origin's next chunk is %d (%v), want 9", c, ok)
	}
}

// TestUrgentGoesToWhoeverIsInTime: a peer too slow to deliver a chunk
// before a reader needs it loses it to the origin server; with time
// enough, the peer keeps it.
func TestUrgentGoesToWhoeverIsInTime(t *testing.T) {
	d, err := NewDownload(Config{Size: 10 * chunk, ChunkSize: chunk, Self: pid(0xEE), Start: t0, Origin: true})
	if err != nil {
		t.Fatal(err)
	}
	d.SetDiscovery(true, 0)
	d.AddPeer(pid(1), all(10), 0)
	slow := d.peers[pid(1)]
	slow.meter.rate, slow.meter.measured = 64<<10, true // 4 s a chunk
	if got := d.Urgent(1, 3, time.Second, t0); !got.Origin {
		t.Fatalf("due in 1 s, the slow peer got it: %+v", got)
	}
	if got := d.Urgent(1, 5, 10*time.Second, t0); got.Origin || len(got.Requests) != 1 {
		t.Fatalf("due in 10 s: %+v, want the peer", got)
	}
}

// TestUrgentOriginChunksGoInTheOrderDue: chunks given to the origin by
// Urgent are fetched by when they are due, before its planned ones, once
// each, and a replan keeps them.
func TestUrgentOriginChunksGoInTheOrderDue(t *testing.T) {
	d, err := NewDownload(Config{Size: 10 * chunk, ChunkSize: chunk, Self: pid(0xEE), Start: t0, Origin: true})
	if err != nil {
		t.Fatal(err)
	}
	d.SetDiscovery(true, 0)
	d.AddPeer(pid(1), setOf(10, 0), 0)
	d.Schedule(t0)            // the plan gives the origin chunks 1-9, which no peer holds
	for k := 3; k >= 1; k-- { // asked in reverse, as a read-ahead might
		if got := d.Urgent(1, 4+k, time.Duration(k)*200*time.Millisecond, t0); !got.Origin {
			t.Fatalf("chunk %d: %+v", 4+k, got)
		}
	}
	d.Urgent(1, 5, 200*time.Millisecond, t0) // again: no second entry
	if got := d.Urgent(1, 9, 2*originHorizon, t0); got.Origin {
		t.Fatal("a chunk due beyond the origin's horizon went to the origin")
	}
	d.replanNow(t0.Add(time.Second))
	var order []int
	for range 4 {
		c, ok := d.NextOriginChunk(t0.Add(time.Second))
		if !ok {
			t.Fatal("the origin has nothing to fetch")
		}
		order = append(order, c)
	}
	if !slices.Equal(order[:3], []int{5, 6, 7}) || order[3] == 5 || order[3] == 6 || order[3] == 7 {
		t.Fatalf("the origin fetches %v, want 5, 6, 7 first and then the plan", order)
	}
}

// TestUrgentRescuesAnOverdueChunk: a chunk in flight at a peer that is
// overdue with it is asked once more elsewhere; not before.
func TestUrgentRescuesAnOverdueChunk(t *testing.T) {
	d := newDL(t, 10)
	d.AddPeer(pid(1), all(10), 0)
	d.AddPeer(pid(2), all(10), 0)
	got := d.Urgent(1, 3, 0, t0).Requests
	if len(got) != 1 {
		t.Fatalf("chunk 3 asked as %v", got)
	}
	first := got[0].Peer
	if again := d.Urgent(1, 3, 0, t0.Add(100*time.Millisecond)).Requests; len(again) != 0 {
		t.Fatalf("asked again after 100 ms: %v", again)
	}
	again := d.Urgent(1, 3, 0, t0.Add(time.Second)).Requests
	if len(again) != 1 || again[0].Peer == first {
		t.Fatalf("after 1 s at %v, chunk 3 asked as %v, want the other peer", first, again)
	}
	if more := d.Urgent(1, 3, 0, t0.Add(5*time.Second)).Requests; len(more) != 0 {
		t.Fatalf("a third copy: %v", more)
	}
}

// asked reports whether out asks peer p for chunk c.
func asked(out Sends, p peer.ID, c int) bool {
	return slices.Contains(out.Requests, Request{p, c})
}

// TestDeadlineLeavesAnUnadvertisedFetch: a reader's chunk asked of a
// super-seeding sharer that had not handed it out waits there behind
// rarer chunks once another peer holds it; that peer's have makes
// Schedule ask it too, and the first copy cancels the other.
func TestDeadlineLeavesAnUnadvertisedFetch(t *testing.T) {
	d := newDL(t, 10)
	d.SetComplete(pid(1))
	d.AddPeer(pid(1), setOf(10, 0), 0)
	d.AddPeer(pid(2), setOf(10), 0)
	d.Schedule(t0)
	if got := d.Urgent(1, 7, 0, t0).Requests; len(got) != 1 || got[0] != (Request{pid(1), 7}) {
		t.Fatalf("chunk 7 asked as %v, want of the sharer", got)
	}
	now := t0.Add(50 * time.Millisecond)
	if out := d.Schedule(now); asked(out, pid(2), 7) {
		t.Fatal("asked peer 2 for a chunk it does not hold")
	}
	d.Have(pid(2), 7)
	out := d.Schedule(now)
	if !asked(out, pid(2), 7) {
		t.Fatalf("peer 2 advertised chunk 7 and was not asked: %+v", out)
	}
	if got := d.Received(pid(2), 7, chunk, true, now).Cancels; !slices.Equal(got, []Request{{pid(1), 7}}) {
		t.Fatalf("cancels %v, want the sharer's fetch", got)
	}
}

// TestDeadlineLeavesASlowPeer: a fetch expected after its chunk is due
// goes to a faster holder too as soon as one is there; a fetch that will
// make it in time stays alone.
func TestDeadlineLeavesASlowPeer(t *testing.T) {
	d := newDL(t, 10)
	d.AddPeer(pid(1), all(10), 0)
	slow := d.peers[pid(1)]
	slow.meter.rate, slow.meter.measured = 64<<10, true // 4 s a chunk
	d.Urgent(1, 3, time.Second, t0)
	d.Urgent(1, 4, 10*time.Second, t0)
	if !d.Requested(pid(1), 3) || !d.Requested(pid(1), 4) {
		t.Fatal("chunks 3 and 4 not asked of the only peer")
	}
	d.AddPeer(pid(2), all(10), 0)
	out := d.Schedule(t0.Add(100 * time.Millisecond))
	if !asked(out, pid(2), 3) {
		t.Fatalf("chunk 3, due in 1 s at a peer that takes 4 s, not asked of the new peer: %+v", out)
	}
	if asked(out, pid(2), 4) {
		t.Fatal("chunk 4, due in 10 s, asked twice")
	}
}

// TestForgetDropsDeadlines: once its reader is forgotten, a chunk is no
// longer hurried: a late fetch of it stays where it is.
func TestForgetDropsDeadlines(t *testing.T) {
	d := newDL(t, 10)
	d.AddPeer(pid(1), all(10), 0)
	d.peers[pid(1)].meter.rate, d.peers[pid(1)].meter.measured = 64<<10, true
	d.Urgent(1, 3, 0, t0)
	d.Urgent(2, 5, 0, t0)
	d.Forget(1)
	d.AddPeer(pid(2), all(10), 0)
	out := d.Schedule(t0.Add(time.Second))
	if asked(out, pid(2), 3) {
		t.Fatal("a forgotten reader's chunk was hurried")
	}
	if !asked(out, pid(2), 5) {
		t.Fatalf("reader 2's late chunk was not asked again: %+v", out)
	}
}

// TestDeadlineReachesTheOrigin: a reader's chunk that only a slow sharer
// can send goes to the origin server too once it is due within
// originHorizon, without being asked again: Schedule keeps its deadline;
// the first copy cancels the other.
func TestDeadlineReachesTheOrigin(t *testing.T) {
	d, err := NewDownload(Config{Size: 10 * chunk, ChunkSize: chunk, Self: pid(0xEE), Start: t0, Origin: true})
	if err != nil {
		t.Fatal(err)
	}
	d.SetDiscovery(true, 0)
	d.SetComplete(pid(1))
	d.AddPeer(pid(1), setOf(10, 0), 0) // a sharer: the plan gives the origin nothing
	d.peers[pid(1)].meter.rate, d.peers[pid(1)].meter.measured = 64<<10, true
	if got := d.Urgent(1, 6, 3*time.Second, t0); got.Origin || !asked(got, pid(1), 6) {
		t.Fatalf("a chunk due in 3 s: %+v, want it of the sharer", got)
	}
	if out := d.Schedule(t0.Add(time.Second)); out.Origin {
		t.Fatal("the origin got a chunk due in 2 s")
	}
	if out := d.Schedule(t0.Add(2500 * time.Millisecond)); !out.Origin {
		t.Fatal("a chunk due in 0.5 s that no peer can send did not go to the origin")
	}
	if c, ok := d.NextOriginChunk(t0.Add(2500 * time.Millisecond)); !ok || c != 6 {
		t.Fatalf("the origin fetches %d (%v), want 6", c, ok)
	}
	if got := d.OriginGot(6, chunk, time.Second, true, t0.Add(3500*time.Millisecond)); !slices.Equal(got, []Request{{pid(1), 6}}) {
		t.Fatalf("the origin's copy cancels %v, want the sharer's request", got)
	}
}
