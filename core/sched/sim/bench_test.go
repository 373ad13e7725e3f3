package sim

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Flags of TestSwarmSim (make bench-sim).
var (
	simN      = flag.Int("sim.n", 0, "downloaders; 0 skips TestSwarmSim")
	simSize   = flag.String("sim.size", "64MiB", "content size")
	simUp     = flag.String("sim.up", "1MiB/s", "upload rate of the origin and of every downloader")
	simSlow   = flag.Int("sim.slow", 0, "every k-th downloader uploads slowly (see -sim.slow-factor); 0: none")
	simFactor = flag.Int("sim.slow-factor", 5, "a slow downloader uploads at the rate over this")
	simDegree = flag.Int("sim.degree", 20, "connections each joining downloader opens")
	simRuns   = flag.Int("sim.runs", 3, "runs, with different seeds")
)

// TestSwarmSim runs a large simulated swarm and prints the figures the
// real-process benchmark prints. Run it with make bench-sim.
func TestSwarmSim(t *testing.T) {
	if *simN == 0 {
		t.Skip("a benchmark: make bench-sim N=1000 (or go test -run TestSwarmSim ./core/sched/sim/ -args -sim.n 1000)")
	}
	size, err := parseSize(*simSize)
	if err != nil {
		t.Fatal(err)
	}
	up, err := parseSize(strings.TrimSuffix(*simUp, "/s"))
	if err != nil {
		t.Fatal(err)
	}
	var ratios, copies []float64
	for run := range *simRuns {
		cfg := swarmOf(*simN, size, up)
		cfg.Degree, cfg.Seed = *simDegree, uint64(run)
		for i := range cfg.Peers {
			if *simSlow > 0 && i%*simSlow == *simSlow-1 {
				cfg.Peers[i].Up = up / int64(max(1, *simFactor))
			}
		}
		start := time.Now()
		r, err := Run(cfg)
		wall := time.Since(start)
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		done := slices.Clone(r.Completion)
		slices.Sort(done)
		fmt.Printf("run %d/%d: T %.2f s  T* %.2f s  T/T* %.3f  client-server %.1f s  copies %.3f  p50 %.2f s  p99 %.2f s  (%d events, %.1f plans per downloader-second, %.0fx real time)\n",
			run+1, *simRuns, r.Time.Seconds(), r.Bound.Seconds(), r.Ratio(), float64(*simN)*float64(size)/float64(up),
			r.OriginCopies, pct(done, 50).Seconds(), pct(done, 99).Seconds(), r.Events, float64(r.Plans)/float64(*simN)/r.Time.Seconds(), r.Time.Seconds()/wall.Seconds())
		ratios, copies = append(ratios, r.Ratio()), append(copies, r.OriginCopies)
	}
	slices.Sort(ratios)
	slices.Sort(copies)
	fmt.Printf("summary over %d runs: T/T* median %.3f, range %.3f-%.3f; copies median %.3f, range %.3f-%.3f\n",
		len(ratios), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], copies[len(copies)/2], copies[0], copies[len(copies)-1])
}

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[max(0, (p*len(sorted)+99)/100-1)]
}

// parseSize reads sizes like 64MiB, 512KiB, 1000000.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("size %q: want a number with KiB, MiB or GiB", s)
	}
	return int64(v * float64(mult)), nil
}
