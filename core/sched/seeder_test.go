package sched

import (
	"slices"
	"testing"
	"time"

	"peerflow/core/peer"
	"peerflow/flow/chunkset"
)

func newSeeder(t *testing.T, chunks int) *Seeder {
	t.Helper()
	s, err := NewSeeder(int64(chunks)*chunk, chunk, pid(0xAA), t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// join connects a downloader that holds nothing; it returns what it is
// offered first.
func join(t *testing.T, s *Seeder, p peer.ID, chunks int) []int {
	t.Helper()
	first := slices.Collect(s.AddPeer(p).All())
	if o, err := s.Bitfield(p, chunkset.New(chunks)); err != nil || !o.empty() {
		t.Fatalf("bitfield of an empty newcomer: %+v, %v", o, err)
	}
	return first
}

func havesTo(o Offers, p peer.ID) []int {
	var out []int
	for _, h := range o.Haves {
		if h.Peer == p {
			out = append(out, h.Chunk)
		}
	}
	return out
}

func TestSeederOffersEachDownloaderOtherChunks(t *testing.T) {
	s := newSeeder(t, 100)
	a, b := join(t, s, pid(1), 100), join(t, s, pid(2), 100)
	if len(a) != minWindow || len(b) != minWindow {
		t.Fatalf("first offers of %d and %d chunks, want %d", len(a), len(b), minWindow)
	}
	for _, c := range a {
		if slices.Contains(b, c) {
			t.Fatalf("chunk %d offered to both: %v and %v", c, a, b)
		}
	}
	// Two seeders of one content start their walks elsewhere.
	other, _ := NewSeeder(100*chunk, chunk, pid(0xBB), t0)
	if c := slices.Collect(other.AddPeer(pid(1)).All()); slices.Equal(c, a) {
		t.Fatalf("two seeders offer the same first chunks %v", c)
	}
}

func TestSeederHandsOutMoreOnlyOnceAChunkSpread(t *testing.T) {
	s := newSeeder(t, 100)
	a := join(t, s, pid(1), 100)
	join(t, s, pid(2), 100)
	c := a[0]
	// a got c, but b still lacks it: a's window stays full.
	if o := s.Have(pid(1), c); len(havesTo(o, pid(1))) != 0 {
		t.Fatalf("offered more to a before its chunk spread: %+v", o)
	}
	// b got it from a: it spread, and a is offered one new chunk.
	o := s.Have(pid(2), c)
	got := havesTo(o, pid(1))
	if len(got) != 1 || slices.Contains(a, got[0]) {
		t.Fatalf("after the chunk spread a was offered %v (had %v)", got, a)
	}
}

func TestSeederLoneDownloaderRunsFree(t *testing.T) {
	s := newSeeder(t, 100)
	a := join(t, s, pid(1), 100)
	// Nobody else lacks what it got: every chunk it gets frees a place.
	for i, c := range a {
		if o := s.Have(pid(1), c); len(havesTo(o, pid(1))) != 1 {
			t.Fatalf("have %d: offers %+v, want one more chunk", i, o)
		}
	}
}

func TestSeederWindowFollowsSpreadRate(t *testing.T) {
	s := newSeeder(t, 10_000)
	a := join(t, s, pid(1), 10_000)
	// A lone downloader's handouts spread as they arrive: 160 a second
	// makes a window of half a second's worth, 80.
	now := t0
	for tick := range 3 {
		for range 16 {
			p := s.peers[pid(1)]
			s.Have(pid(1), p.handed[0])
		}
		now = now.Add(100 * time.Millisecond)
		s.Tick(now, false)
		_ = tick
	}
	p := s.peers[pid(1)]
	if w := s.window(p); w < 60 || w > 90 {
		t.Fatalf("window %d for %.0f spreads/s", w, p.rate)
	}
	s.Have(pid(1), p.handed[0]) // refills up to the new window
	if len(p.handed) != s.window(p) || len(a) != minWindow {
		t.Fatalf("handed %d, window %d", len(p.handed), s.window(p))
	}
}

func TestSeederGivesBackChunksOfADownloaderThatLeft(t *testing.T) {
	s := newSeeder(t, 20)
	a := join(t, s, pid(1), 20)
	queue := join(t, s, pid(2), 20)
	s.Have(pid(1), a[0]) // only a holds a[0]
	s.RemovePeer(pid(1))
	// As b gets what it was offered, it is offered the rest: a's chunks
	// too, the one only a held among them.
	offered := chunkset.New(20)
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		offered.Set(c)
		queue = append(queue, havesTo(s.Have(pid(2), c), pid(2))...)
	}
	if !offered.Full() {
		t.Fatalf("b was offered only %d of 20 chunks after a left", offered.Count())
	}
}

func TestSeederIdleWidensWindowsThenOffersAll(t *testing.T) {
	s := newSeeder(t, 40)
	join(t, s, pid(1), 40)
	join(t, s, pid(2), 40)
	// Idle with chunks left: windows double.
	o := s.Tick(t0.Add(100*time.Millisecond), true)
	if got := len(havesTo(o, pid(1))); got != minWindow {
		t.Fatalf("idle tick offered %d more chunks, want %d", got, minWindow)
	}
	for s.growth < maxGrowth {
		s.Tick(t0.Add(200*time.Millisecond), true)
	}
	if s.poolLeft() {
		t.Fatalf("chunks left with windows of %d each for 40 chunks", minWindow*maxGrowth)
	}
	// Idle for WidenAfter with all handed out: offer everything.
	o = s.Tick(t0.Add(200*time.Millisecond+WidenAfter/2), true)
	if len(o.Full) != 0 {
		t.Fatalf("widened too early: %+v", o.Full)
	}
	o = s.Tick(t0.Add(100*time.Millisecond+WidenAfter), true)
	if !slices.Equal(o.Full, []peer.ID{pid(1), pid(2)}) {
		t.Fatalf("full offers %v, want both downloaders", o.Full)
	}
	// Work comes back: the idle clock starts again.
	s.Tick(t0.Add(3*WidenAfter), false)
	if !s.idleSince.IsZero() {
		t.Fatal("busy tick did not reset the idle clock")
	}
}

func TestSeederLeavesChunksOthersHoldToThem(t *testing.T) {
	s := newSeeder(t, 30)
	s.AddPeer(pid(9))
	s.Bitfield(pid(9), all(30)) // another seeder is connected
	// Nothing is rare: the newcomer is offered nothing, and gets it all
	// from the other seeder, until this one idles (see WidenAfter).
	if got := join(t, s, pid(1), 30); len(got) != 0 {
		t.Fatalf("first offer %v of chunks another seeder holds", got)
	}
	if s.poolLeft() {
		t.Fatal("chunks another seeder holds are still to be handed out")
	}
}

func TestSeederRejectsBadInput(t *testing.T) {
	if _, err := NewSeeder(10, 0, pid(1), t0); err == nil {
		t.Fatal("chunk size 0 accepted")
	}
	s := newSeeder(t, 10)
	s.AddPeer(pid(1))
	if _, err := s.Bitfield(pid(1), chunkset.New(11)); err == nil {
		t.Fatal("a bitfield of the wrong length was accepted")
	}
	if o := s.Have(pid(1), 10); !o.empty() {
		t.Fatal("a have out of range was taken")
	}
	if o := s.Have(pid(7), 1); !o.empty() {
		t.Fatal("a have from an unknown peer was taken")
	}
}

func TestWalkVisitsEveryChunkOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 64, 97, 1000, 65536} {
		for seed := range uint64(5) {
			stride, offset := walkOf(n, seed)
			seen := make([]bool, n)
			for k := range n {
				c := (stride*k + offset) % n
				if seen[c] {
					t.Fatalf("n %d seed %d: chunk %d twice", n, seed, c)
				}
				seen[c] = true
			}
			if n > 1 && modInverse(stride, n)*stride%n != 1 {
				t.Fatalf("n %d: inverse of %d wrong", n, stride)
			}
		}
	}
}

func TestSeederServesAStuckDownloaderWithChunksLeft(t *testing.T) {
	// b is connected but takes nothing (paused): a's handouts never
	// spread, yet a must not starve while chunks are left to hand out.
	s := newSeeder(t, 1000)
	a := join(t, s, pid(1), 1000)
	join(t, s, pid(2), 1000)
	for _, c := range a {
		s.Have(pid(1), c)
	}
	var full []peer.ID
	now := t0
	for range 50 {
		now = now.Add(100 * time.Millisecond)
		o := s.Tick(now, true)
		for _, h := range o.Haves {
			if h.Peer == pid(1) {
				s.Have(pid(1), h.Chunk)
			}
		}
		full = append(full, o.Full...)
	}
	if !slices.Contains(full, pid(1)) {
		t.Fatalf("a starved: offered everything to %v", full)
	}
}

func TestSeederWindowsGrowOnlyWhenFull(t *testing.T) {
	s := newSeeder(t, 100)
	for i := range 10 {
		s.Tick(t0.Add(time.Duration(i)*100*time.Millisecond), true) // idle, nobody there
	}
	if s.growth != 1 {
		t.Fatalf("windows grew to x%d with no downloader", s.growth)
	}
}
