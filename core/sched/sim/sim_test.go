package sim

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"peerflow/core/sched"
)

const mib = 1 << 20

// swarmOf is one origin and n downloaders, every upload at up.
func swarmOf(n int, size, up int64) Config {
	cfg := Config{Size: size, ChunkSize: 256 << 10, Origins: []Peer{{Up: up, Latency: time.Millisecond}}}
	for range n {
		cfg.Peers = append(cfg.Peers, Peer{Up: up, Latency: time.Millisecond})
	}
	return cfg
}

func run(t *testing.T, cfg Config) Result {
	t.Helper()
	r, err := Run(cfg)
	if err != nil {
		t.Fatalf("%v (after %v, %d events)", err, r.Time, r.Events)
	}
	t.Logf("%d downloaders: %v = %.3f x the bound %v; origin sent %.3f copies; %d events",
		len(cfg.Peers), r.Time, r.Ratio(), r.Bound, r.OriginCopies, r.Events)
	return r
}

func TestSwarmsReachTheBoundWithOneCopy(t *testing.T) {
	for _, tc := range []struct {
		n         int
		maxRatio  float64
		maxCopies float64
	}{
		{1, 1.05, 1.0},
		{2, 1.05, 1.05},
		{4, 1.05, 1.05},
		{8, 1.10, 1.05},
	} {
		r := run(t, swarmOf(tc.n, 32*mib, 8*mib))
		if r.Ratio() > tc.maxRatio || r.OriginCopies > tc.maxCopies {
			t.Errorf("1+%d: %.3f x the bound, %.3f copies; want <= %.2f and <= %.2f", tc.n, r.Ratio(), r.OriginCopies, tc.maxRatio, tc.maxCopies)
		}
	}
}

func TestPlainOriginSendsCopiesPerDownloader(t *testing.T) {
	// The reference: an origin that advertises everything to everyone
	// sends some chunks to several downloaders, more as they grow in
	// number (uploads rarest first keep it from sending everything to
	// everyone, as the previous release did); a super-seeding one sends
	// each chunk once in the same swarm.
	for _, plain := range []bool{true, false} {
		cfg := swarmOf(8, 32*mib, 8*mib)
		cfg.PlainOrigins = plain
		r := run(t, cfg)
		if plain && r.OriginCopies < 1.1 {
			t.Errorf("a plain origin sent only %.3f copies: the simulator misses the swarm's problem", r.OriginCopies)
		}
		if !plain && r.OriginCopies > 1.01 {
			t.Errorf("a super-seeding origin sent %.3f copies", r.OriginCopies)
		}
	}
}

func TestLateJoinerCompletes(t *testing.T) {
	cfg := swarmOf(4, 32*mib, 8*mib)
	cfg.Peers[3].Join = 2 * time.Second // half way through the others' download
	r := run(t, cfg)
	if r.OriginCopies > 1.1 {
		t.Errorf("origin sent %.3f copies with a late joiner", r.OriginCopies)
	}
	if r.Completion[3] <= 0 || r.Time > cfg.Peers[3].Join+2*r.Bound {
		t.Errorf("the late joiner took %v (swarm done at %v)", r.Completion[3], r.Time)
	}
}

func TestEarlyLeaverHoldingNothingUnique(t *testing.T) {
	cfg := swarmOf(4, 32*mib, 8*mib)
	cfg.Peers[3].Leave = time.Second
	r := run(t, cfg)
	if r.Completion[3] != -1 {
		t.Fatalf("the leaver completed in %v", r.Completion[3])
	}
	if r.OriginCopies > 1.1 || r.Ratio() > 1.2 {
		t.Errorf("with an early leaver: %.3f copies, %.3f x the bound", r.OriginCopies, r.Ratio())
	}
}

func TestSlowUploaderDoesNotHoldBackTheFast(t *testing.T) {
	fast := swarmOf(7, 32*mib, 8*mib)
	alone := run(t, fast).Bound
	mixed := swarmOf(8, 32*mib, 8*mib)
	mixed.Peers[7].Up = 8 * mib / 10
	r := run(t, mixed)
	worst := slices.Max(r.Completion[:7])
	t.Logf("fast downloaders done within %v; their bound alone %v (%.3f x)", worst, alone, worst.Seconds()/alone.Seconds())
	// The goal is 1.15; today it is 1.16: the swarm's uploads are nearly
	// all needed, and the slow peer's handouts leave it at its rate. This
	// keeps it from getting worse.
	if worst.Seconds() > 1.25*alone.Seconds() {
		t.Errorf("a slow uploader held the fast ones back: %v against %v alone", worst, alone)
	}
}

func TestRunsAreDeterministic(t *testing.T) {
	cfg := swarmOf(5, 8*mib, 4*mib)
	cfg.Peers[2].Join = 300 * time.Millisecond
	a, errA := Run(cfg)
	b, errB := Run(cfg)
	if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs differ: %+v (%v) and %+v (%v)", a, errA, b, errB)
	}
}

func TestBound(t *testing.T) {
	cfg := Config{Size: 100 * mib, Origins: []Peer{{Up: 10 * mib}}}
	for _, tc := range []struct {
		peers []Peer
		want  time.Duration
	}{
		{nil, 10 * time.Second},                                                      // F/u_s
		{[]Peer{{Up: 10 * mib, Down: 5 * mib}}, 20 * time.Second},                    // F/d_min
		{[]Peer{{Up: mib}, {Up: mib}, {Up: mib}, {Up: mib}}, 400 * time.Second / 14}, // N*F/(u_s+sum u_i)
	} {
		cfg.Peers = tc.peers
		if got := Bound(cfg); (got - tc.want).Abs() > time.Millisecond {
			t.Errorf("bound for %+v: %v, want %v", tc.peers, got, tc.want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Size: 0, ChunkSize: 1, Origins: []Peer{{Up: 1}}},
		{Size: 1, ChunkSize: 1},
		{Size: 1, ChunkSize: 1, Origins: []Peer{{Up: 0}}},
		{Size: 1, ChunkSize: 1, Origins: []Peer{{Up: 1}}, Peers: []Peer{{Up: 1, Latency: -1}}},
	} {
		if _, err := Run(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestDownloadersThatCannotReachEachOtherAreServedDirectly(t *testing.T) {
	cfg := swarmOf(3, 8*mib, 8*mib)
	cfg.Degree = 1 // each dials the origin only: nobody can pass chunks on
	r := run(t, cfg)
	// Each must get the whole file from the origin; handouts wait for
	// spreading that cannot happen until the origin offers everything.
	if r.OriginCopies < 2.99 || r.Time > Bound(cfg)*3+3*sched.WidenAfter {
		t.Errorf("star swarm: %.2f copies in %v", r.OriginCopies, r.Time)
	}
}
