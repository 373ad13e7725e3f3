package core_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/coretest"
)

var soakFor = flag.Duration("soak", 0, "TestSoak: how long to run; 0 skips it (make soak sets it)")

// The soak's swarm.
const (
	soakNodes    = 6
	soakContents = 30
	soakSample   = 10 * time.Second // how often goroutines and RSS are sampled
)

// soakNode is one slot of the soak: a data folder, and the node on it
// while it is online.
type soakNode struct {
	dir   string
	node  *core.Node
	downs []*core.Download
	runs  int // downloads started, for fresh folders
}

// TestSoak runs one tracker and 6 nodes that share 30 contents between
// them for -soak (bounded), at random: nodes leave and join again (on the
// same data folder, so their shares and downloads come back), downloads
// start and are cancelled, and most finished ones are deleted to be
// fetched again later. Every finished download must be byte-identical
// to its content. It prints goroutines and RSS every 10 s; at the end,
// with every node closed, the goroutines must be back where they started
// and the RSS of the last third must not exceed the middle third's by
// more than a fifth.
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("the soak runs only when asked: make soak [SOAK=10m]")
	}
	rng := rand.New(rand.NewPCG(1, 15))
	tr := coretest.Tracker(t)
	before := runtime.NumGoroutine()
	// Uploads limited, so that downloads last long enough to be cancelled.
	opts := core.Options{Listen: "127.0.0.1:0", Trackers: []string{tr}, UpLimit: 4 << 20}
	nodes := make([]*soakNode, soakNodes)
	for i := range nodes {
		nodes[i] = &soakNode{dir: t.TempDir()}
	}
	join := func(s *soakNode) {
		n, err := core.Open(s.dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		s.node = n
		s.downs = n.Downloads() // the unfinished ones, resumed
	}
	leave := func(s *soakNode) {
		if err := s.node.Close(); err != nil {
			t.Errorf("close a node: %v", err)
		}
		s.node, s.downs = nil, nil
	}
	for _, s := range nodes {
		join(s)
	}
	defer func() {
		for _, s := range nodes {
			if s.node != nil {
				leave(s)
			}
		}
	}()

	// Contents of 1 to 4 MiB, each shared by one node.
	type soakContent struct {
		link   string
		id     content.ID
		sharer int // the node that shared it, which keeps it
		data   []byte
	}
	var contents []soakContent
	src := t.TempDir()
	for i := range soakContents {
		data := make([]byte, (1+rng.IntN(4))<<20)
		for k := range data {
			data[k] = byte(rng.Uint32())
		}
		path := filepath.Join(src, fmt.Sprintf("c%02d.bin", i))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		shared, err := nodes[i%soakNodes].node.Share(context.Background(), path, core.ShareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, soakContent{shared.Link.String(), shared.Link.ID, i % soakNodes, data})
	}
	byName := func(name string) []byte {
		i, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "c"), ".bin"))
		return contents[i].data
	}

	var goroutines, rss []int64
	var started, cancelled, finished, leaves int
	sample := func(at time.Duration) {
		goroutines = append(goroutines, int64(runtime.NumGoroutine()))
		rss = append(rss, residentBytes(t))
		fmt.Printf("soak: %4.0fs  goroutines %5d  RSS %6.1f MiB  started %d, cancelled %d, finished %d, leaves %d\n",
			at.Seconds(), goroutines[len(goroutines)-1], float64(rss[len(rss)-1])/(1<<20), started, cancelled, finished, leaves)
	}
	// check verifies the downloads of s that finished and forgets them.
	check := func(s *soakNode) {
		kept := s.downs[:0]
		for _, d := range s.downs {
			p := d.Progress()
			if p.State != core.StateComplete {
				kept = append(kept, d)
				continue
			}
			r, err := d.Wait(context.Background())
			if err != nil {
				t.Fatalf("a complete download: %v", err)
			}
			got, err := os.ReadFile(r.Path)
			if err != nil || !bytes.Equal(got, byName(filepath.Base(r.Path))) {
				t.Fatalf("%s is not its content (%v): a failed verification", r.Path, err)
			}
			finished++
			// Mostly watched and deleted, so that it is fetched again
			// later; else kept and seeded.
			if rng.Float64() < 0.7 {
				if err := s.node.Unshare(d.ID()); err != nil {
					t.Fatal(err)
				}
				os.Remove(r.Path)
			}
		}
		s.downs = kept
	}

	start := time.Now()
	next := soakSample
	sample(0)
	for time.Since(start) < *soakFor {
		s := nodes[rng.IntN(soakNodes)]
		switch r := rng.Float64(); {
		case s.node == nil:
			join(s)
		case r < 0.05:
			check(s)
			leave(s)
			leaves++
		case r < 0.25 && len(s.downs) > 0:
			i := rng.IntN(len(s.downs))
			if s.downs[i].Progress().State != core.StateComplete && s.downs[i].Cancel() == nil {
				s.downs = append(s.downs[:i], s.downs[i+1:]...)
				cancelled++
			}
		default:
			s.runs++
			folder := filepath.Join(s.dir, fmt.Sprint("down", s.runs))
			if err := os.Mkdir(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			// Refused when the node holds it already: that is fine.
			// The same download comes back while it runs. One refused
			// because the node kept the file is deleted now, to be
			// fetched another time; the sharer keeps its own.
			c := contents[rng.IntN(soakContents)]
			d, err := s.node.Download(context.Background(), c.link, folder)
			switch {
			case err == nil && !slices.Contains(s.downs, d):
				s.downs = append(s.downs, d)
				started++
			case err != nil && strings.Contains(err.Error(), "already here") && nodes[c.sharer] != s:
				if err := s.node.Unshare(c.id); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, s := range nodes {
			if s.node != nil {
				check(s)
			}
		}
		if at := time.Since(start); at >= next {
			sample(at)
			next += soakSample
		}
		time.Sleep(100 * time.Millisecond) // the soak's pace: ten actions a second
	}
	for _, s := range nodes {
		if s.node != nil {
			check(s)
			leave(s)
		}
	}
	if finished == 0 {
		t.Fatal("no download finished during the soak")
	}
	third := len(rss) / 3
	if third > 0 {
		mid, last := mean(rss[third:2*third]), mean(rss[2*third:])
		if last > mid*1.2 {
			t.Errorf("RSS grew from %.1f MiB (middle third) to %.1f MiB (last third)", mid/(1<<20), last/(1<<20))
		}
	}
	// Every node closed: what is left of the goroutines is the tracker's
	// and the test's, as before the nodes opened.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+8 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // goroutines winding down
	}
	fmt.Printf("soak: %v, %d downloads started, %d cancelled, %d finished and byte-identical, %d leaves; goroutines %d before, %d after every node closed\n",
		soakFor, started, cancelled, finished, leaves, before, runtime.NumGoroutine())
	if n := runtime.NumGoroutine(); n > before+8 {
		t.Errorf("%d goroutines after every node closed, %d before they opened", n, before)
	}
}

func mean(v []int64) float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	return sum / float64(len(v))
}

// residentBytes is this process's resident set size (Linux /proc).
func residentBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm: the soak measures RSS on Linux")
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
