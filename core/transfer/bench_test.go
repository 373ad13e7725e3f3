package transfer

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"peerflow/core/testtools"
)

// BenchmarkDownloadLoopback downloads 256 MiB from 4 unlimited seeders on
// loopback to disk, verified, fsynced and moved into place, and in the
// same run a reference that does the same work the simple way: one
// single-stream HTTP download of the same file from a Go file server,
// hashed on the way (1 MiB copy buffer), fsynced and renamed into place.
// The two alternate, each going first every other run; x-vs-http is the
// median of the per-run ratios (above 1: the download is faster).
//
// The machine's limits are measured in the same run (testtools'
// DurableWrite after each pair, SHA256 and LoopbackTCP once), and the
// download's rate is given as a fraction of each: of-disk (the disk with
// the download's fsyncs), of-sha (SHA-256 on every core, which the
// download's verification and everything else share) and of-tcp (one
// plaintext loopback stream). The largest fraction names the limit that
// binds.
func BenchmarkDownloadLoopback(b *testing.B) {
	const size = 256 << 20
	f := makeFile(b, size, 256<<10)
	var holders StaticHolders
	for range 4 {
		p := newPeer(b, Config{})
		p.seed(b, f)
		holders = append(holders, p.holder())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, f.path)
	}))
	defer srv.Close()
	want := sha256.Sum256(f.data)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	ours := func() (took, finishing time.Duration) {
		took, r := timedDownload(b, Config{}, f, holders)
		return took, r.Finishing
	}

	sha := testtools.SHA256(size) * float64(runtime.GOMAXPROCS(0))
	tcp := testtools.LoopbackTCP(b, size)
	b.SetBytes(size)
	b.ReportAllocs()
	var ratios []float64
	var httpTotal, oursTotal, finishing time.Duration
	var disk float64
	b.ResetTimer()
	// The timer (so MB/s and ns/op) counts the download alone.
	reference := func() time.Duration {
		b.StopTimer()
		defer b.StartTimer()
		return httpDownload(b, client, srv.URL, want)
	}
	for i := range b.N {
		var took, fin, ref time.Duration
		if i%2 == 0 {
			took, fin = ours()
			ref = reference()
		} else {
			ref = reference()
			took, fin = ours()
		}
		finishing += fin
		httpTotal += ref
		oursTotal += took
		ratios = append(ratios, ref.Seconds()/took.Seconds())
		b.StopTimer()
		disk += testtools.DurableWrite(b, b.TempDir(), size)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-vs-http")
	rate := float64(size) * float64(b.N) / oursTotal.Seconds()
	disk /= float64(b.N)
	b.ReportMetric(disk/1e6, "disk-MB/s")
	b.ReportMetric(rate/disk, "of-disk")
	b.ReportMetric(rate/sha, "of-sha")
	b.ReportMetric(rate/tcp, "of-tcp")
	b.ReportMetric(float64(size)*float64(b.N)/httpTotal.Seconds()/1e6, "http-MB/s")
	// Of each run: the final fsync and move into place.
	b.ReportMetric(float64(finishing.Milliseconds())/float64(b.N), "finish-ms")
}

// httpDownload is the careful single-stream reference: GET, write to a
// part file through a 1 MiB buffer while hashing, fsync, compare the
// hash, rename into place: what the download does, the simple way.
func httpDownload(b *testing.B, client *http.Client, url string, want [32]byte) time.Duration {
	dir := b.TempDir()
	part, path := filepath.Join(dir, "ref.part"), filepath.Join(dir, "ref.bin")
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	out, err := os.Create(part)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	_, err = io.CopyBuffer(io.MultiWriter(out, h), resp.Body, make([]byte, 1<<20))
	resp.Body.Close()
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != want {
		b.Fatal("reference download hash mismatch")
	}
	if err := os.Rename(part, path); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	os.Remove(path)
	return took
}

// BenchmarkDownloadTLS measures what TLS costs: 256 MiB from 4 unlimited
// seeders on loopback, to disk and verified, over TLS (as always in the
// product) and, in the same run, over plaintext connections that are
// otherwise the same. The two alternate, each going first every other
// run; tls-vs-plain is the median of the per-run throughput ratios.
func BenchmarkDownloadTLS(b *testing.B) {
	const size = 256 << 20
	f := makeFile(b, size, 256<<10)
	swarm := func(cfg Config) StaticHolders {
		var hs StaticHolders
		for range 4 {
			p := newPeer(b, cfg)
			p.seed(b, f)
			hs = append(hs, p.holder())
		}
		return hs
	}
	secure, plain := swarm(Config{}), swarm(Config{plaintext: true})
	// fetch downloads f and returns how long it took and how much CPU
	// time the process (downloader and seeders: they share the cores)
	// spent on it.
	fetch := func(cfg Config, holders StaticHolders) (took, cpu time.Duration) {
		cpu0 := cpuTime()
		took, _ = timedDownload(b, cfg, f, holders)
		return took, cpuTime() - cpu0
	}
	b.SetBytes(size)
	var ratios []float64
	var tlsTotal, plainTotal, tlsCPU, plainCPU time.Duration
	for i := range b.N {
		var ts, ps, tc, pc time.Duration
		if i%2 == 0 {
			ts, tc = fetch(Config{}, secure)
			ps, pc = fetch(Config{plaintext: true}, plain)
		} else {
			ps, pc = fetch(Config{plaintext: true}, plain)
			ts, tc = fetch(Config{}, secure)
		}
		tlsTotal += ts
		plainTotal += ps
		tlsCPU += tc
		plainCPU += pc
		ratios = append(ratios, ps.Seconds()/ts.Seconds())
	}
	b.StopTimer()
	slices.Sort(ratios)
	bytes := float64(size) * float64(b.N)
	b.ReportMetric(ratios[len(ratios)/2], "tls-vs-plain")
	b.ReportMetric(bytes/tlsTotal.Seconds()/1e6, "tls-MB/s")
	// CPU per byte, both ends together: when it is the cores that bind,
	// the throughput ratio cannot beat the ratio of these.
	b.ReportMetric(float64(tlsCPU.Nanoseconds())/bytes, "tls-cpu-ns/B")
	b.ReportMetric(float64(plainCPU.Nanoseconds())/bytes, "plain-cpu-ns/B")
	b.ReportMetric(float64(size)*float64(b.N)/plainTotal.Seconds()/1e6, "plain-MB/s")
}
