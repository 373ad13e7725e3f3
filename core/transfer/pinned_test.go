package transfer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
)

// BenchmarkDownloadTLSPinned is BenchmarkDownloadTLS with each end on a
// core of its own, as on two machines: the 4 seeders (TLS and plaintext
// ones) run in one child process pinned to CPU 0, the downloader in
// another pinned to CPU 1 (taskset, GOMAXPROCS=1 each). The downloader
// alternates TLS and plaintext downloads of 256 MiB, to disk, verified;
// tls-vs-plain is the median of the per-run throughput ratios. It needs
// two CPUs and taskset.
func BenchmarkDownloadTLSPinned(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("needs taskset (util-linux)")
	}
	const size, chunk = 256 << 20, 256 << 10
	f := makeFile(b, size, chunk)
	seeder := pinnedChild(b, 0, "seed", f.path, strconv.Itoa(chunk))
	var holders []string
	for range 8 {
		line, err := seeder.out.ReadString('\n')
		if err != nil {
			b.Fatalf("seeder: %v", err)
		}
		holders = append(holders, strings.TrimSpace(line))
	}
	b.SetBytes(size)
	b.ResetTimer()
	getter := pinnedChild(b, 1, "get", f.path, strconv.Itoa(chunk), strconv.Itoa(b.N), strings.Join(holders, ","))
	var tlsTotal, plainTotal time.Duration
	var ratios []float64
	for range b.N {
		line, err := getter.out.ReadString('\n')
		var ts, ps time.Duration
		if err == nil {
			_, err = fmt.Sscanf(line, "%d %d", &ts, &ps)
		}
		if err != nil {
			b.Fatalf("downloader said %q: %v", line, err)
		}
		tlsTotal += ts
		plainTotal += ps
		ratios = append(ratios, ps.Seconds()/ts.Seconds())
	}
	b.StopTimer()
	if err := getter.cmd.Wait(); err != nil {
		b.Fatalf("downloader: %v", err)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "tls-vs-plain")
	b.ReportMetric(float64(size)*float64(b.N)/tlsTotal.Seconds()/1e6, "tls-MB/s")
	b.ReportMetric(float64(size)*float64(b.N)/plainTotal.Seconds()/1e6, "plain-MB/s")
}

// child is a running child process of the benchmark.
type child struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

// pinnedChild runs TestPinnedChild with args on CPU cpu; it is killed
// when the benchmark ends.
func pinnedChild(b *testing.B, cpu int, args ...string) *child {
	b.Helper()
	cmd := exec.Command("taskset", "-c", strconv.Itoa(cpu), os.Args[0], "-test.run=^TestPinnedChild$")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "PEERFLOW_PINNED_CHILD="+strings.Join(args, "|"))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // closed when the benchmark ends: the seeder stops
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return &child{cmd: cmd, out: bufio.NewReader(out)}
}

// TestPinnedChild is a child process of BenchmarkDownloadTLSPinned:
// "seed FILE CHUNK" seeds FILE from 4 TLS and 4 plaintext engines, prints
// "tls|plain ID ADDR" per engine and runs until stdin closes; "get FILE
// CHUNK N HOLDERS" downloads FILE N times each way, alternating, and
// prints the two durations (ns) of each round.
func TestPinnedChild(t *testing.T) {
	spec := os.Getenv("PEERFLOW_PINNED_CHILD")
	if spec == "" {
		t.Skip("a child process of BenchmarkDownloadTLSPinned")
	}
	args := strings.Split(spec, "|")
	chunk, _ := strconv.ParseInt(args[2], 10, 64)
	fh, err := os.Open(args[1])
	if err != nil {
		t.Fatal(err)
	}
	m, err := content.Build(context.Background(), fh, content.BuildOptions{ChunkSize: chunk})
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	f := testFile{path: args[1], m: m}
	switch args[0] {
	case "seed":
		for _, plain := range []bool{false, true} {
			for range 4 {
				p := newPeer(t, Config{plaintext: plain})
				p.seed(t, f)
				fmt.Printf("%v %s %s\n", plain, p.e.Self(), p.e.Addr())
			}
		}
		bufio.NewReader(os.Stdin).ReadString(0) // until the benchmark closes stdin
	case "get":
		rounds, _ := strconv.Atoi(args[3])
		holders := map[bool]StaticHolders{}
		for _, h := range strings.Split(args[4], ",") {
			var plain bool
			var id, addr string
			if _, err := fmt.Sscanf(h, "%t %s %s", &plain, &id, &addr); err != nil {
				t.Fatalf("holder %q: %v", h, err)
			}
			pid, err := peer.ParseID(id)
			if err != nil {
				t.Fatal(err)
			}
			holders[plain] = append(holders[plain], Holder{Peer: pid, Addr: addr})
		}
		fetch := func(plain bool) time.Duration {
			took, _ := timedDownload(t, Config{plaintext: plain}, f, holders[plain])
			return took
		}
		for i := range rounds {
			var ts, ps time.Duration
			if i%2 == 0 {
				ts, ps = fetch(false), fetch(true)
			} else {
				ps, ts = fetch(true), fetch(false)
			}
			fmt.Printf("%d %d\n", ts, ps)
		}
	}
}
