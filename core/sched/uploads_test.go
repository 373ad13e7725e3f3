package sched

import (
	"slices"
	"testing"
	"time"
)

func newUploads(t *testing.T, chunks int) *Uploads {
	t.Helper()
	u, err := NewUploads(int64(chunks)*chunk, chunk)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUploadsServeTheRarestChunkFirst(t *testing.T) {
	u := newUploads(t, 4)
	// Chunk 0 is held by two peers, chunk 1 by one, chunk 2 by none.
	if err := u.Bitfield(pid(1), setOf(4, 0, 1)); err != nil {
		t.Fatal(err)
	}
	u.Have(pid(2), 0)
	for _, a := range []Ask{{Peer: pid(3), Chunk: 0}, {Peer: pid(4), Chunk: 1}, {Peer: pid(5), Chunk: 2}, {Peer: pid(6), Chunk: 2}} {
		if !u.Add(a) {
			t.Fatalf("%+v refused", a)
		}
	}
	var got []int
	for {
		a, ok := u.Next(t0)
		if !ok {
			break
		}
		got = append(got, int(a.Peer[0]))
		u.Done(a.Peer, chunk, t0)
	}
	// Rarest first; the oldest of equals first.
	if want := []int{5, 6, 4, 3}; !slices.Equal(got, want) {
		t.Errorf("served peers %v, want %v", got, want)
	}
}

func TestUploadsServeEachPeerOneAtATime(t *testing.T) {
	u := newUploads(t, 4)
	u.Add(Ask{Peer: pid(1), Chunk: 0})
	u.Add(Ask{Peer: pid(1), Chunk: 1})
	u.Add(Ask{Peer: pid(2), Chunk: 2})
	a, _ := u.Next(t0)
	b, ok := u.Next(t0)
	if !ok || a.Peer == b.Peer {
		t.Fatalf("second request served %+v after %+v: want another peer", b, a)
	}
	if c, ok := u.Next(t0); ok {
		t.Fatalf("%+v served while its peer is being served", c)
	}
	u.Done(a.Peer, chunk, t0.Add(10*time.Millisecond))
	if c, ok := u.Next(t0); !ok || c.Peer != pid(1) || c.Chunk != 1 {
		t.Fatalf("after Done: %+v, %v", c, ok)
	}
	if u.Serving() != 2 || u.Waiting() != 0 {
		t.Errorf("serving %d, waiting %d; want 2, 0", u.Serving(), u.Waiting())
	}
}

// measureSlow serves one chunk in a second: the upload is measured at a
// chunk a second, so its limit is MinWaiting.
func measureSlow(u *Uploads) {
	u.Add(Ask{Peer: pid(200), Chunk: 0})
	a, _ := u.Next(t0)
	u.Done(a.Peer, chunk, t0.Add(time.Second))
}

func TestUploadsRefuseBeyondTheirLimit(t *testing.T) {
	u := newUploads(t, 256)
	measureSlow(u)
	for i := range MinWaiting {
		if !u.Add(Ask{Peer: pid(byte(i)), Chunk: i}) {
			t.Fatalf("request %d of %d refused", i+1, MinWaiting)
		}
	}
	if u.Add(Ask{Peer: pid(100), Chunk: 100}) {
		t.Fatal("a request beyond the limit was queued")
	}
	// A cancel makes room; so does a peer leaving.
	u.Cancel(Ask{Peer: pid(0), Chunk: 0})
	if !u.Add(Ask{Peer: pid(100), Chunk: 100}) {
		t.Fatal("refused after a cancel")
	}
	u.RemovePeer(pid(1), t0)
	if u.Waiting() != MinWaiting-1 {
		t.Errorf("waiting %d after a peer left, want %d", u.Waiting(), MinWaiting-1)
	}
	// A chunk out of range is refused, not queued.
	if u.Add(Ask{Peer: pid(7), Chunk: 256}) {
		t.Error("chunk out of range queued")
	}
}

// TestUploadsUnmeasuredTakeAFullPipeline: before the upload was measured
// (its first chunks went into the socket at once), the one downloader
// asking may fill its pipeline: only MaxWaitingPerPeer bounds it. Another
// peer's request is refused beyond the limit, as is one once the upload
// was measured slow.
func TestUploadsUnmeasuredTakeAFullPipeline(t *testing.T) {
	u := newUploads(t, 256)
	for i := range MaxWaitingPerPeer {
		if !u.Add(Ask{Peer: pid(1), Chunk: i}) {
			t.Fatalf("request %d of %d refused before the upload was measured", i+1, MaxWaitingPerPeer)
		}
	}
	if u.Add(Ask{Peer: pid(1), Chunk: MaxWaitingPerPeer}) {
		t.Fatal("one peer queued more than MaxWaitingPerPeer")
	}
	if u.Add(Ask{Peer: pid(2), Chunk: 0}) {
		t.Fatal("a second peer's request queued beyond the limit")
	}
	u = newUploads(t, 256)
	measureSlow(u)
	for i := range MinWaiting + 1 {
		if got := u.Add(Ask{Peer: pid(1), Chunk: i}); got != (i < MinWaiting) {
			t.Fatalf("request %d once measured at a chunk a second: queued %v", i+1, got)
		}
	}
}

func TestUploadsLimitFollowsTheUploadRate(t *testing.T) {
	u := newUploads(t, 4096)
	// 40 chunks a second: a second of work is 40 requests.
	now := t0
	for i := range 20 {
		u.Add(Ask{Peer: pid(1), Chunk: i})
		a, _ := u.Next(now)
		now = now.Add(25 * time.Millisecond)
		u.Done(a.Peer, chunk, now)
	}
	if got := u.Limit(); got < 36 || got > 44 {
		t.Errorf("limit %d at 40 chunks/s, want about 40", got)
	}
	// One peer cannot fill it alone.
	n := 0
	for i := range 2 * MaxWaitingPerPeer {
		if u.Add(Ask{Peer: pid(2), Chunk: i}) {
			n++
		}
	}
	if n != min(MaxWaitingPerPeer, u.Limit()) {
		t.Errorf("one peer queued %d, want %d", n, min(MaxWaitingPerPeer, u.Limit()))
	}
}

func TestUploadsForgetALeaverBeingServed(t *testing.T) {
	u := newUploads(t, 4)
	if err := u.Bitfield(pid(1), setOf(4, 3)); err != nil {
		t.Fatal(err)
	}
	u.Add(Ask{Peer: pid(1), Chunk: 0})
	u.Next(t0)
	u.RemovePeer(pid(1), t0)
	if u.Serving() != 0 || u.holders[3] != 0 {
		t.Errorf("after leaving: serving %d, holders of chunk 3 %d", u.Serving(), u.holders[3])
	}
	if err := u.Bitfield(pid(2), setOf(5)); err == nil {
		t.Error("a bitfield of the wrong length was taken")
	}
}
