package main

import (
	"testing"
	"time"
)

// TestSwarmSharerSendsAboutOneCopy: with getters that upload as fast as the
// sharer, the swarm should carry the file and the sharer send it about
// once (a little more for the endgame), not once per getter. Real
// processes on 127.0.0.1 only (no mDNS), bounded at two minutes.
func TestSwarmSharerSendsAboutOneCopy(t *testing.T) {
	bin := buildBinary(t)
	const rate = 4 << 20 // 4 MiB/s
	s := swarmSetup{
		size:     8 << 20,
		sharerUp: rate,
		ups:      []int64{rate, rate, rate, rate},
		limit:    2 * time.Minute,
	}
	r := runSwarm(t, bin, s, 1)
	t.Logf("T %s, T* %s (%s), T/T* %.2f; sharer copies %.2f to %d peers (from-sharer %.2f); p50 %s p99 %s",
		secs(r.T), secs(r.bound), r.binding, r.T.Seconds()/r.bound.Seconds(), r.copies, r.peersServed, r.fromSharer,
		secs(percentile(r.times, 50)), secs(percentile(r.times, 99)))
	if r.copies >= 1.3 {
		t.Errorf("the sharer sent %.2f copies of the file to %d getters, want < 1.3: the getters should serve each other", r.copies, len(s.ups))
	}
}
