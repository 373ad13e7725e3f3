package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

var faultRounds = flag.Int("faults.rounds", 0, "TestFaultGetterKilled: rounds; 0 skips the fault campaign (make faults sets it)")

// The getter-kill campaign: a 64 MiB file from one sharer limited to
// faultRate, so that a download lasts about faultSize/faultRate.
const (
	faultSize = 64 << 20
	faultRate = 40 << 20 // bytes/s
	// durabilityLag is the download's syncEvery: chunks verified since
	// the last sync are fetched again after a crash.
	durabilityLag = 250 * time.Millisecond
	// inFlight bounds what was on its way when the getter died: the
	// deepest pipeline (32 chunks of 256 KiB), sent by the sharer and lost.
	inFlight = 32 * 256 << 10
)

// TestFaultGetterKilled: each round shares a new file and gets it; the
// getter is SIGKILLed at a random point of the download and started
// again with the same data folder and output folder. Every round must end
// with the file byte-identical, alone in its folder (no second copy, no
// part file left), and the bytes fetched again after the kill (what the
// sharer uploaded beyond one copy) within what the durability interval
// allows: the sharer's rate times durabilityLag, plus a full pipeline.
func TestFaultGetterKilled(t *testing.T) {
	if *faultRounds == 0 {
		t.Skip("the fault campaign runs only when asked: make faults [ROUNDS=20]")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	tr := start(t, bin, "tracker", "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "tracker.db"), "--no-mdns")
	trAddr := tr.stdout.waitFor(t, listeningRe)[1]
	keepTail(tr.stdout)
	keepTail(tr.stderr)
	allowed := int64(float64(faultRate)*durabilityLag.Seconds()) + inFlight
	rng := rand.New(rand.NewPCG(uint64(*faultRounds), 15))
	expected := time.Duration(float64(faultSize) / faultRate * float64(time.Second))
	var refetched []int64
	for round := range *faultRounds {
		rdir := filepath.Join(dir, fmt.Sprint(round))
		src, out, data := filepath.Join(rdir, "src", "movie.bin"), filepath.Join(rdir, "out"), filepath.Join(rdir, "get")
		for _, d := range []string{filepath.Dir(src), out, data} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		want, err := writeRandomFile(src, faultSize, uint64(round))
		if err != nil {
			t.Fatal(err)
		}
		sharer := start(t, bin, "share", src, "--tracker", trAddr, "--up-limit", rateArg(faultRate),
			"--data", filepath.Join(rdir, "sharer"), "--listen", "127.0.0.1:0", "--json")
		link := sharer.stdout.waitFor(t, linkRe)[1]
		sharer.stderr.waitFor(t, seedingRe)
		sharerErr := keepTail(sharer.stderr)
		l, err := content.ParseLink(link)
		if err != nil {
			t.Fatal(err)
		}
		get := func() *proc {
			return start(t, bin, "get", link, "--tracker", trAddr, "-o", out, "--data", data, "--listen", "127.0.0.1:0", "--json")
		}
		// Killed somewhere between a tenth and nine tenths of the way.
		killAt := time.Duration(float64(expected) * (0.1 + 0.8*rng.Float64()))
		first := get()
		keepTail(first.stderr)
		time.Sleep(killAt) // the fault's moment: a random point of a running download
		first.cmd.Process.Kill()
		first.cmd.Wait()

		second := get()
		secondErr := keepTail(second.stderr)
		res := readGetResult(t, second, secondErr)
		got, err := fileSHA256(res.Path)
		if err != nil || got != want {
			t.Fatalf("round %d: %s is not the shared file (%v)", round, res.Path, err)
		}
		if names := dirNames(t, out); !slices.Equal(names, []string{"movie.bin"}) {
			t.Errorf("round %d: the output folder holds %q, want only movie.bin", round, names)
		}
		rep := stopSharer(t, sharer, l.ID, sharerErr)
		again := rep.Uploaded - faultSize
		refetched = append(refetched, again)
		t.Logf("round %d: killed at %v; fetched again %.1f MiB (allowed %.1f MiB)", round, killAt.Round(time.Millisecond),
			float64(again)/(1<<20), float64(allowed)/(1<<20))
		if again > allowed {
			t.Errorf("round %d: %d bytes fetched again after the kill, more than the %d the durability interval allows", round, again, allowed)
		}
		stopProc(second)
	}
	slices.Sort(refetched)
	fmt.Printf("faults: getter SIGKILLed once in each of %d rounds (%d MiB at %d MiB/s): every file byte-identical and alone; "+
		"fetched again after the kill: median %.1f MiB, max %.1f MiB (allowed: %.0f ms at the rate + a 32-chunk pipeline = %.1f MiB)\n",
		len(refetched), faultSize>>20, faultRate>>20, float64(refetched[len(refetched)/2])/(1<<20),
		float64(refetched[len(refetched)-1])/(1<<20), float64(durabilityLag.Milliseconds()), float64(allowed)/(1<<20))
}

// TestFaultTrackerKilled: one sharer and three getters that seed; while
// the getters are mid-download the tracker is SIGKILLed and started again
// on its database and address. Every getter must still end with the file
// byte-identical, and the restarted tracker must have the manifest back
// and list every getter, complete, as holding it.
func TestFaultTrackerKilled(t *testing.T) {
	if *faultRounds == 0 {
		t.Skip("the fault campaign runs only when asked: make faults")
	}
	const getters = 3
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "tracker.db")
	tr := start(t, bin, "tracker", "--listen", "127.0.0.1:0", "--db", db, "--no-mdns")
	trAddr := tr.stdout.waitFor(t, listeningRe)[1]
	keepTail(tr.stdout)
	keepTail(tr.stderr)
	src := filepath.Join(dir, "movie.bin")
	want, err := writeRandomFile(src, faultSize, 99)
	if err != nil {
		t.Fatal(err)
	}
	// Limited so that the getters are still at it when the fault comes.
	rate := rateArg(faultRate / 4)
	sharer := start(t, bin, "share", src, "--tracker", trAddr, "--up-limit", rate, "--data", filepath.Join(dir, "sharer"), "--listen", "127.0.0.1:0")
	link := sharer.stdout.waitFor(t, linkRe)[1]
	sharer.stderr.waitFor(t, seedingRe)
	keepTail(sharer.stderr)
	l, err := content.ParseLink(link)
	if err != nil {
		t.Fatal(err)
	}
	var procs []*proc
	for i := range getters {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, start(t, bin, "get", link, "--tracker", trAddr, "-o", out,
			"--data", filepath.Join(dir, fmt.Sprint("get", i)), "--listen", "127.0.0.1:0", "--seed", "--up-limit", rate, "--json"))
	}
	// Mid-download: each getter's progress line (every 2 s) shows part.
	var errs []*tailKeeper
	for _, p := range procs {
		p.stderr.waitFor(t, midwayRe)
		errs = append(errs, keepTail(p.stderr))
	}
	tr.cmd.Process.Kill()
	tr.cmd.Wait()
	tr = start(t, bin, "tracker", "--listen", trAddr, "--db", db, "--no-mdns")
	if got := tr.stdout.waitFor(t, listeningRe)[1]; got != trAddr {
		t.Fatalf("the restarted tracker listens on %s, not %s", got, trAddr)
	}
	keepTail(tr.stdout)
	keepTail(tr.stderr)
	for i, p := range procs {
		res := readGetResult(t, p, errs[i])
		if got, err := fileSHA256(res.Path); err != nil || got != want {
			t.Fatalf("getter %d: %s is not the shared file (%v)", i, res.Path, err)
		}
	}
	client, err := trackerapi.NewClient(trAddr, trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	m, err := client.Manifest(t.Context(), l.ID)
	if err != nil {
		t.Fatalf("the restarted tracker lost the manifest: %v", err)
	}
	// The getters announce again within their heartbeat (at most
	// MaxRetryInterval after the tracker came back).
	deadline := time.Now().Add(2*trackerapi.MinInterval + trackerapi.MaxRetryInterval)
	for {
		hs, err := client.Holders(t.Context(), m, peer.ID{})
		if err != nil {
			t.Fatal(err)
		}
		complete := 0
		for _, h := range hs {
			if h.Have.Full() {
				complete++
			}
		}
		if complete >= getters+1 { // the getters and the sharer
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted tracker lists %d complete holders, want %d", complete, getters+1)
		}
		time.Sleep(100 * time.Millisecond) // polling the tracker on loopback
	}
	fmt.Printf("faults: tracker SIGKILLed with %d getters mid-download and restarted: every getter finished byte-identical; the tracker has the manifest and every holder's lease back\n", getters)
}

// midwayRe matches a progress line of a download that is under way.
var midwayRe = regexp.MustCompile(`: +([1-8]\d|[1-9])\.\d% `)

// readGetResult waits for the object `get --json` prints once the file is
// in place.
func readGetResult(t *testing.T, p *proc, stderr *tailKeeper) swarmGetResult {
	t.Helper()
	var obj []string
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-p.stdout.lines:
			if !ok {
				t.Fatalf("get ended without a result; stderr:\n%s", stderr)
			}
			if line == "{" {
				obj = obj[:0]
			}
			obj = append(obj, line)
			if line == "}" {
				var res swarmGetResult
				if err := json.Unmarshal([]byte(strings.Join(obj, "\n")), &res); err != nil {
					t.Fatalf("get --json printed %q: %v", obj, err)
				}
				return res
			}
		case <-timeout:
			t.Fatalf("no result from get within 2 minutes; stderr:\n%s", stderr)
		}
	}
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
