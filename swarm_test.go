package main

// The swarm benchmark: real peerflow processes (one tracker, one sharer, N
// getters that seed while and after they download) on 127.0.0.1, compared
// with the P2P lower bound. `make bench-swarm` runs it inside .ci/netns.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"peerflow/app/cli"
	"peerflow/core/content"
	"peerflow/core/testtools"
)

var (
	swarmN        = flag.Int("swarm.n", 0, "TestSwarmBench: number of getters; 0 skips the benchmark (make bench-swarm sets it)")
	swarmSize     = flag.String("swarm.size", "256MiB", "TestSwarmBench: file size; KiB/MiB/GiB are powers of 2, KB/MB/GB powers of 10, as in peerflow's rates")
	swarmUp       = flag.String("swarm.up", "20MiB/s", "TestSwarmBench: upload limit of every getter, unless -swarm.caps")
	swarmCaps     = flag.String("swarm.caps", "", "TestSwarmBench: comma-separated getter upload limits; getter i gets cap i mod len")
	swarmSharerUp = flag.String("swarm.sharer-up", "", "TestSwarmBench: the sharer's upload limit (default: -swarm.up)")
	swarmRuns     = flag.Int("swarm.runs", 3, "TestSwarmBench: number of runs")
	swarmLate     = flag.Duration("swarm.late", 0, "TestSwarmBench: the last getter starts this long after the others (0: all at once)")
)

const mib = 1 << 20

// swarmSetup is one benchmark configuration. Rates are bytes/s.
type swarmSetup struct {
	size     int64
	sharerUp int64
	ups      []int64       // one per getter
	late     time.Duration // the last getter starts this long after the first; 0: all at once
	limit    time.Duration // the run is killed and failed after this; 0: max(5 min, 20×T*)
}

// swarmBound is the least time in which every getter can hold the whole
// file, and the name of the term that sets it.
//
// All getters at once (Kumar & Ross): T* = max(F/u_s, F/d_min,
// N·F/(u_s+Σu_i)). Getters have no download limit, so F/d_min = 0.
//
// The last getter starting L after the others (T counted from the first
// start), each term a necessary condition, so their max is a lower bound:
// F/u_s; (N·F + u_L·L)/(u_s+Σu_i), because every byte received is
// uploaded by someone and the late getter uploads only after it starts;
// L + F/(u_s+Σ_{i≠L}u_i), because the late getter gets F after it starts
// from the sharer and the other getters at most.
func swarmBound(size, sharerUp int64, ups []int64, late time.Duration) (time.Duration, string) {
	F, us, N := float64(size), float64(sharerUp), float64(len(ups))
	var sum float64
	for _, u := range ups {
		sum += float64(u)
	}
	type term struct {
		name string
		sec  float64
	}
	terms := []term{{"F/u_s", F / us}}
	if late <= 0 {
		terms = append(terms, term{"N·F/(u_s+Σu_i)", N * F / (us + sum)})
	} else {
		L, uL := late.Seconds(), float64(ups[len(ups)-1])
		terms = append(terms,
			term{"(N·F+u_L·L)/(u_s+Σu_i)", (N*F + uL*L) / (us + sum)},
			term{"L+F/(u_s+Σ_{i≠L}u_i)", L + F/(us+sum-uL)})
	}
	best := terms[0]
	for _, tm := range terms[1:] {
		if tm.sec > best.sec {
			best = tm
		}
	}
	return time.Duration(best.sec * float64(time.Second)), best.name
}

// swarmRun is what one run measured.
type swarmRun struct {
	T           time.Duration   // first getter's start → the last getter has the whole file
	bound       time.Duration   // T*
	binding     string          // the term of T* that is largest
	lateStart   time.Duration   // the late getter's start after the first's (0 without one)
	skew        time.Duration   // the last on-time getter's start after the first's
	times       []time.Duration // per getter, from its own start to its result
	copies      float64         // bytes the sharer uploaded / F
	fromSharer  float64         // bytes the getters' results credit to the sharer / F
	peersServed int
	sharerSays  string // the sharer's own "uploaded …" line
}

// swarmGetResult is the part of `peerflow get --json` the harness reads.
type swarmGetResult struct {
	ContentID string           `json:"content_id"`
	Path      string           `json:"path"`
	Bytes     int64            `json:"bytes"`
	Sources   map[string]int64 `json:"sources"`
}

// tailKeeper drains a lineReader (so the process never blocks on a full
// pipe) and keeps its last lines for error messages.
type tailKeeper struct {
	mu    sync.Mutex
	lines []string
}

func keepTail(lr *lineReader) *tailKeeper {
	tk := &tailKeeper{}
	go func() {
		for l := range lr.lines {
			tk.mu.Lock()
			tk.lines = append(tk.lines, l)
			if len(tk.lines) > 20 {
				tk.lines = tk.lines[1:]
			}
			tk.mu.Unlock()
		}
	}()
	return tk
}

func (tk *tailKeeper) String() string {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return strings.Join(tk.lines, "\n")
}

// rateArg is a rate as peerflow parses it exactly: whole bytes per second.
func rateArg(bytesPerSec int64) string { return strconv.FormatInt(bytesPerSec, 10) + "B/s" }

// stopSharer interrupts a `share --json` process and returns its report
// on content id; it fails t unless the sharer exits as interrupted.
// stderr is the sharer's kept stderr, for the failure messages.
func stopSharer(t *testing.T, sharer *proc, id content.ID, stderr *tailKeeper) cli.ShareReport {
	t.Helper()
	sharer.cmd.Process.Signal(os.Interrupt)
	var rep cli.ShareReport
	for got := false; !got; {
		select {
		case line, ok := <-sharer.stdout.lines:
			if !ok {
				t.Fatalf("the sharer's output ended without its --json report; stderr:\n%s", stderr)
			}
			if strings.HasPrefix(line, "{") {
				if err := json.Unmarshal([]byte(line), &rep); err != nil {
					t.Fatalf("the sharer's report %q: %v", line, err)
				}
				got = rep.ContentID == id.String()
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no --json report from the sharer within 30 s of SIGINT; stderr:\n%s", stderr)
		}
	}
	if code, err := waitExit(sharer); err != nil || code != cli.ExitInterrupted {
		t.Errorf("sharer: exit %d (%v), want %d; stderr:\n%s", code, err, cli.ExitInterrupted, stderr)
	}
	return rep
}

// stopProc interrupts p as Ctrl-C does and waits for it to exit (see
// waitExit). Only one SIGINT: a second one kills peerflow at once.
func stopProc(p *proc) (int, error) {
	p.cmd.Process.Signal(os.Interrupt)
	return waitExit(p)
}

// waitExit waits up to 30 s for p to exit, then kills it. It returns the
// exit code (-1 when a signal ended it), or an error if it was killed.
func waitExit(p *proc) (int, error) {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), nil
		}
		return 0, err
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
		return -1, errors.New("did not exit within 30 s of SIGINT; killed")
	}
}

// writeRandomFile writes size random bytes to path and returns their SHA-256.
func writeRandomFile(path string, size int64, seed uint64) ([32]byte, error) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	rng := rand.NewChaCha8(key)
	f, err := os.Create(path)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	buf := make([]byte, mib)
	for left := size; left > 0; {
		b := buf[:min(left, int64(len(buf)))]
		rng.Read(b)
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return [32]byte{}, err
		}
		left -= int64(len(b))
	}
	if err := f.Close(); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

func fileSHA256(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

// runSwarm runs one swarm: a tracker, a sharer of a fresh random file and
// len(s.ups) getters, each a peerflow process on 127.0.0.1. It fails the
// test if a getter's file differs from the original or the run outlives
// its limit; every process is stopped when it returns or fails.
func runSwarm(t *testing.T, bin string, s swarmSetup, seed uint64) swarmRun {
	t.Helper()
	n := len(s.ups)
	nominal, _ := swarmBound(s.size, s.sharerUp, s.ups, s.late)
	limit := s.limit
	if limit == 0 {
		limit = max(5*time.Minute, 20*nominal)
	}
	dir := t.TempDir()
	mkdir := func(name string) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}

	// Every process started is killed when the run outlives its limit.
	var mu sync.Mutex
	var procs []*proc
	var timedOut atomic.Bool
	killer := time.AfterFunc(limit, func() {
		timedOut.Store(true)
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs {
			p.cmd.Process.Kill()
		}
	})
	defer killer.Stop()
	deadline := time.Now().Add(limit)
	launch := func(args ...string) *proc {
		t.Helper()
		p := start(t, bin, args...)
		mu.Lock()
		procs = append(procs, p)
		mu.Unlock()
		return p
	}
	overLimit := func(what string) string {
		return fmt.Sprintf("the run outlived its limit of %s (max(5 min, 20×T*), T* = %s) %s; every process was killed", limit, nominal.Round(time.Millisecond), what)
	}

	tr := launch("tracker", "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "tracker.db"), "--no-mdns")
	trAddr := tr.stdout.waitFor(t, listeningRe)[1]
	if !strings.HasPrefix(trAddr, "127.0.0.1:") {
		t.Fatalf("the tracker listens on %s, not on 127.0.0.1", trAddr)
	}
	keepTail(tr.stdout)
	keepTail(tr.stderr)

	src := filepath.Join(mkdir("src"), "movie.bin")
	want, err := writeRandomFile(src, s.size, seed)
	if err != nil {
		t.Fatal(err)
	}
	sharer := launch("share", src, "--tracker", trAddr, "--up-limit", rateArg(s.sharerUp),
		"--data", mkdir("sharer"), "--listen", "127.0.0.1:0", "--json")
	link := sharer.stdout.waitFor(t, linkRe)[1]
	sharerAddr := sharer.stderr.waitFor(t, seedingRe)[1]
	if !strings.HasPrefix(sharerAddr, "127.0.0.1:") {
		t.Fatalf("the sharer listens on %s, not on 127.0.0.1", sharerAddr)
	}
	sharerErr := keepTail(sharer.stderr)
	l, err := content.ParseLink(link)
	if err != nil {
		t.Fatal(err)
	}

	type finish struct {
		i   int
		at  time.Time
		res swarmGetResult
		err error
	}
	finished := make(chan finish, n)
	starts := make([]time.Time, n)
	outs := make([]string, n)
	getters := make([]*proc, n)
	for i := range n {
		if s.late > 0 && i == n-1 {
			time.Sleep(time.Until(starts[0].Add(s.late)))
		}
		outs[i] = mkdir(fmt.Sprintf("out%d", i))
		data := mkdir(fmt.Sprintf("get%d", i))
		starts[i] = time.Now()
		p := launch("get", link, "--tracker", trAddr, "-o", outs[i], "--data", data,
			"--listen", "127.0.0.1:0", "--seed", "--up-limit", rateArg(s.ups[i]), "--json")
		getters[i] = p
		stderr := keepTail(p.stderr)
		// get --json prints one indented object once the file is in place.
		go func() {
			var obj []string
			for line := range p.stdout.lines {
				if line == "{" {
					obj = obj[:0]
				}
				obj = append(obj, line)
				if line == "}" {
					at := time.Now()
					var res swarmGetResult
					err := json.Unmarshal([]byte(strings.Join(obj, "\n")), &res)
					finished <- finish{i, at, res, err}
					for range p.stdout.lines { // keep draining
					}
					return
				}
			}
			time.Sleep(200 * time.Millisecond) // let the stderr keeper catch up
			finished <- finish{i: i, err: fmt.Errorf("its output ended without a result; stderr:\n%s", stderr)}
		}()
	}

	results := make([]swarmGetResult, n)
	ends := make([]time.Time, n)
	for got := 0; got < n; got++ {
		select {
		case f := <-finished:
			if timedOut.Load() {
				t.Fatal(overLimit(fmt.Sprintf("with %d of %d getters done", got, n)))
			}
			if f.err != nil {
				t.Fatalf("getter %d: %v", f.i, f.err)
			}
			results[f.i], ends[f.i] = f.res, f.at
		case <-time.After(time.Until(deadline) + 10*time.Second):
			t.Fatal(overLimit(fmt.Sprintf("with %d of %d getters done", got, n)))
		}
	}

	r := swarmRun{times: make([]time.Duration, n)}
	for i := range n {
		r.times[i] = ends[i].Sub(starts[i])
		r.T = max(r.T, ends[i].Sub(starts[0]))
	}
	lateAt := time.Duration(0)
	if s.late > 0 {
		r.lateStart = starts[n-1].Sub(starts[0])
		lateAt = r.lateStart
		r.skew = starts[n-2].Sub(starts[0])
	} else {
		r.skew = starts[n-1].Sub(starts[0])
	}
	r.bound, r.binding = swarmBound(s.size, s.sharerUp, s.ups, lateAt)

	// Every getter is done: the sharer says what it sent.
	rep := stopSharer(t, sharer, l.ID, sharerErr)
	if rep.Size != s.size {
		t.Fatalf("the sharer reports a size of %d, want %d", rep.Size, s.size)
	}
	r.copies = float64(rep.Uploaded) / float64(s.size)
	r.peersServed = rep.PeersServed
	for _, l := range strings.Split(sharerErr.String(), "\n") {
		if strings.HasPrefix(l, "uploaded ") {
			r.sharerSays = l
		}
	}

	var wg sync.WaitGroup
	for i, p := range getters {
		wg.Go(func() {
			if code, err := stopProc(p); err != nil || code != cli.ExitOK {
				t.Errorf("getter %d: exit %d (%v) after SIGINT while seeding, want %d", i, code, err, cli.ExitOK)
			}
		})
	}
	wg.Go(func() {
		if code, err := stopProc(tr); err != nil || code != cli.ExitInterrupted {
			t.Errorf("tracker: exit %d (%v), want %d", code, err, cli.ExitInterrupted)
		}
	})
	wg.Wait()
	if timedOut.Load() {
		t.Fatal(overLimit("while stopping"))
	}

	// Verified after the timing, so hashing steals no CPU from the swarm.
	var fromSharer int64
	for i, res := range results {
		if res.ContentID != l.ID.String() || res.Bytes != s.size || filepath.Dir(res.Path) != outs[i] {
			t.Errorf("getter %d: result %+v, want content %s, %d bytes, in %s", i, res, l.ID, s.size, outs[i])
			continue
		}
		got, err := fileSHA256(res.Path)
		if err != nil || got != want {
			t.Errorf("getter %d: %s differs from the original (SHA-256 %x, want %x; %v)", i, res.Path, got, want, err)
		}
		fromSharer += res.Sources[sharerAddr]
	}
	r.fromSharer = float64(fromSharer) / float64(s.size)
	return r
}

// percentile is the nearest-rank p-th percentile of d (p in (0, 100]).
func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Sorted(slices.Values(d))
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// median of v (the mean of the two middle values for an even count).
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// parseSize parses a size with peerflow's units: "256MiB" is 256·2^20.
func parseSize(s string) (int64, error) {
	if strings.Contains(s, "/") {
		return 0, fmt.Errorf("size %q: want a size such as 256MiB, not a rate", s)
	}
	return cli.ParseRate(s)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mibps(b int64) string { return fmt.Sprintf("%.2f MiB/s", float64(b)/mib) }

// TestSwarmBench is `make bench-swarm`: -swarm.runs runs of one sharer and
// -swarm.n getters, real processes on 127.0.0.1, each run's time set
// against the P2P lower bound.
func TestSwarmBench(t *testing.T) {
	if *swarmN == 0 {
		t.Skip("the swarm benchmark runs only when asked: make bench-swarm [N=4 SIZE=256MiB UP=20MiB/s SHARER_UP=… CAPS=… LATE=… RUNS=3], " +
			"or: .ci/netns go test -run '^TestSwarmBench$' -count 1 -timeout 60m -v . -args -swarm.n 4 -swarm.size 256MiB -swarm.up 20MiB/s")
	}
	n, runs := *swarmN, *swarmRuns
	if n < 1 || runs < 1 || *swarmLate < 0 || (*swarmLate > 0 && n < 2) {
		t.Fatalf("want -swarm.n ≥ 1 (≥ 2 with -swarm.late), -swarm.runs ≥ 1, -swarm.late ≥ 0")
	}
	size, err := parseSize(*swarmSize)
	if err != nil || size <= 0 {
		t.Fatalf("-swarm.size %q: want a size > 0 such as 256MiB (%v)", *swarmSize, err)
	}
	rateOf := func(name, v string) int64 {
		r, err := cli.ParseRate(v)
		if err != nil || r <= 0 {
			t.Fatalf("%s %q: want a rate > 0 such as 20MiB/s; the bound needs finite limits (%v)", name, v, err)
		}
		return r
	}
	up := rateOf("-swarm.up", *swarmUp)
	sharerUp := up
	if *swarmSharerUp != "" {
		sharerUp = rateOf("-swarm.sharer-up", *swarmSharerUp)
	}
	ups := make([]int64, n)
	for i := range ups {
		ups[i] = up
	}
	if *swarmCaps != "" {
		caps := strings.Split(*swarmCaps, ",")
		for i := range ups {
			ups[i] = rateOf("-swarm.caps", caps[i%len(caps)])
		}
	}
	s := swarmSetup{size: size, sharerUp: sharerUp, ups: ups, late: *swarmLate}
	bin := buildBinary(t)

	var upList []string
	var sumUp int64
	for _, u := range ups {
		upList = append(upList, fmt.Sprintf("%.2f", float64(u)/mib))
		sumUp += u
	}
	bound, binding := swarmBound(size, sharerUp, ups, s.late)
	F := float64(size)
	fmt.Printf("swarm: %d getters, F = %.1f MiB (%d B), sharer up u_s = %s, getters up u_i = %s MiB/s, no download limits; %d runs\n",
		n, F/mib, size, mibps(sharerUp), strings.Join(upList, ", "), runs)
	fmt.Printf("swarm: units: 1 MiB = 2^20 B, 1 MiB/s = 2^20 B/s; limits are passed to peerflow as whole B/s\n")
	if s.late == 0 {
		fmt.Printf("swarm: T* = max(F/u_s, F/d_min, N·F/(u_s+Σu_i)) (Kumar & Ross) = %s, set by %s; F/d_min = 0 (getters have no download limit)\n", secs(bound), binding)
	} else {
		fmt.Printf("swarm: late joiner: the last getter starts %s after the first (measured per run); T counts from the first getter's start\n", s.late)
		fmt.Printf("swarm: T* = max(F/u_s, (N·F+u_L·L)/(u_s+Σu_i), L+F/(u_s+Σ_{i≠L}u_i)), L = the late start measured in the run: every byte is uploaded by someone and the late getter uploads only after it starts and downloads only from the others; each term is necessary, the max a lower bound (nominal L: %s, set by %s)\n", secs(bound), binding)
	}
	fmt.Printf("swarm: client-server time N·F/u_s = %s\n", secs(time.Duration(float64(n)*F/float64(sharerUp)*float64(time.Second))))
	sha := max(testtools.SHA256(256*mib), testtools.SHA256(256*mib), testtools.SHA256(256*mib)) // best of three
	fmt.Printf("swarm: machine: %d CPUs (GOMAXPROCS %d); SHA-256 on one core %.0f MiB/s (best of 3 passes over 256 MiB in memory); "+
		"verifying at the bound's aggregate rate N·F/T* = %.1f MiB/s takes %.3f of one core\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), sha/mib, float64(n)*F/bound.Seconds()/mib, float64(n)*F/bound.Seconds()/sha)
	where := "NOT in an isolated namespace"
	if os.Getenv("NETNS_RUN") == "1" {
		where = "in the isolated namespace .ci/netns"
	}
	fmt.Printf("swarm: network: %s; every process listens on 127.0.0.1 (tracker --no-mdns)\n", where)
	fmt.Printf("swarm: T = first getter's start until every getter has the whole file (its get --json result on stdout); " +
		"p50/p99 = nearest rank over the getters, each timed from its own start; copies = the sharer's uploaded bytes / F (share --json at SIGINT); " +
		"from-sharer = bytes the getters verified from the sharer / F\n")

	// With mixed caps, the fastest getters are also timed against the
	// bound they would have without the slower ones.
	fastCap := slices.Max(ups)
	var fastUps []int64
	for _, u := range ups {
		if u == fastCap {
			fastUps = append(fastUps, u)
		}
	}
	mixed := len(fastUps) < len(ups) && s.late == 0
	fastBound, _ := swarmBound(size, sharerUp, fastUps, 0)
	if mixed {
		fmt.Printf("swarm: the %d getters at %s alone would have T* = %s\n", len(fastUps), mibps(fastCap), secs(fastBound))
	}

	var ratios, copies, fastRatios []float64
	for run := range runs {
		t.Run(fmt.Sprintf("run%d", run+1), func(t *testing.T) {
			r := runSwarm(t, bin, s, uint64(run+1))
			if t.Failed() {
				return
			}
			ratio := r.T.Seconds() / r.bound.Seconds()
			ratios = append(ratios, ratio)
			copies = append(copies, r.copies)
			late := ""
			if s.late > 0 {
				late = fmt.Sprintf("  late start +%s", secs(r.lateStart))
			}
			fmt.Printf("run %d/%d: T %s  T* %s (%s)  T/T* %.2f  client-server %s  copies %.2f to %d peers (from-sharer %.2f)  p50 %s  p99 %s  starts within %d ms%s\n",
				run+1, runs, secs(r.T), secs(r.bound), r.binding, ratio,
				secs(time.Duration(float64(n)*F/float64(sharerUp)*float64(time.Second))),
				r.copies, r.peersServed, r.fromSharer,
				secs(percentile(r.times, 50)), secs(percentile(r.times, 99)), r.skew.Milliseconds(), late)
			fmt.Printf("run %d/%d: sharer: %s\n", run+1, runs, r.sharerSays)
			if mixed {
				var slowest time.Duration
				for i, d := range r.times {
					if ups[i] == fastCap {
						slowest = max(slowest, d)
					}
				}
				fastRatios = append(fastRatios, slowest.Seconds()/fastBound.Seconds())
				fmt.Printf("run %d/%d: the getters at %s: the last done after %s = %.2f× their own T*\n",
					run+1, runs, mibps(fastCap), secs(slowest), fastRatios[len(fastRatios)-1])
			}
		})
	}
	if len(ratios) == 0 {
		t.Fatal("no run completed")
	}
	summary := func(name string, v []float64) string {
		m := median(v)
		return fmt.Sprintf("%s median %.2f, range %.2f–%.2f (worst/median %.2f)", name, m, slices.Min(v), slices.Max(v), slices.Max(v)/m)
	}
	fmt.Printf("summary over %d of %d runs: %s; %s\n", len(ratios), runs, summary("T/T*", ratios), summary("copies", copies))
	if mixed {
		fmt.Printf("summary: the getters at %s against their own T*: %s\n", mibps(fastCap), summary("ratio", fastRatios))
	}
}

func TestSwarmBound(t *testing.T) {
	const F = 256 * mib
	u := int64(20 * mib)
	four := []int64{u, u, u, u}
	tests := []struct {
		us    int64
		ups   []int64
		late  time.Duration
		want  float64
		term  string
		about string
	}{
		{u, four, 0, 12.8, "F/u_s", "N·F/(5u) = 10.24 s < F/u_s"},
		{80 * mib, four, 0, 256.0 * 4 / 160, "N·F/(u_s+Σu_i)", "a fast sharer: capacity binds"},
		{u, []int64{u, u, 2 * mib}, 10 * time.Second, 10 + 256.0/60, "L+F/(u_s+Σ_{i≠L}u_i)", "a slow late getter"},
		{u, []int64{u, u, 2 * mib}, 5 * time.Second, 12.8, "F/u_s", "a little late"},
		{u, four, 100 * time.Second, 100 + 256.0/80, "L+F/(u_s+Σ_{i≠L}u_i)", "very late"},
		{200 * mib, four, time.Second, (4*256.0 + 20) / 280, "(N·F+u_L·L)/(u_s+Σu_i)", "capacity, with the late getter's lost upload"},
	}
	for _, tt := range tests {
		got, term := swarmBound(F, tt.us, tt.ups, tt.late)
		if math.Abs(got.Seconds()-tt.want) > 1e-6 || term != tt.term {
			t.Errorf("%s: bound %v (%s), want %.6f s (%s)", tt.about, got, term, tt.want, tt.term)
		}
	}
	if p := percentile([]time.Duration{4, 1, 3, 2}, 50); p != 2 {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile([]time.Duration{4, 1, 3, 2}, 99); p != 4 {
		t.Errorf("p99 = %v", p)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
}
