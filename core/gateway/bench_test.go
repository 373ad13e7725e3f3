package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"peerflow/core"
	"peerflow/core/coretest"
	"peerflow/core/testtools"
)

// BenchmarkGateway measures, on loopback, a 256 MiB file shared by one
// node:
//
//   - first-byte: from starting a fresh download to the first byte of the
//     file through the downloader's gateway (peers found through the
//     tracker, TLS, Hellos, the first chunk verified);
//   - seek-90: the same for a range starting at 90% of the file;
//   - complete: the whole file through the sharer's gateway against nginx
//     serving the same file (sendfile on), alternated run by run;
//     x-vs-nginx is the median of the per-run ratios, of-tcp the
//     gateway's rate over one plain loopback TCP stream's (testtools
//     LoopbackTCP, measured after each pair). Without nginx (Debian's
//     nginx-light) that part is skipped.
func BenchmarkGateway(b *testing.B) {
	const size = 256 << 20
	tr := coretest.Tracker(b)
	sharer := openNode(b, core.Options{Trackers: []string{tr}})
	sh, _ := shareRandom(b, sharer, "film.mp4", size)
	timeTo := func(b *testing.B, from int64) time.Duration {
		leech := openNode(b, core.Options{})
		g := listen(b, leech)
		start := time.Now()
		if _, err := leech.Download(context.Background(), sh.Link.String(), b.TempDir()); err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest("GET", g.URL(sh.Manifest), nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", from))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = resp.Body.Read(make([]byte, 1))
		took := time.Since(start)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		g.Close()
		leech.Close()
		return took
	}
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	b.Run("first-byte", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			ds = append(ds, timeTo(b, 0))
		}
		b.ReportMetric(median(ds), "median-ms")
	})
	b.Run("seek-90", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			ds = append(ds, timeTo(b, size*9/10))
		}
		b.ReportMetric(median(ds), "median-ms")
	})
	b.Run("complete", func(b *testing.B) {
		items, err := sharer.Library()
		if err != nil || len(items) != 1 {
			b.Fatalf("library: %v, %v", items, err)
		}
		nginx, _ := testtools.Nginx(b, filepath.Dir(items[0].Path))
		g := listen(b, sharer)
		ours := g.URL(sh.Manifest)
		theirs := nginx + "/film.mp4"
		fetch := func(url string) time.Duration {
			start := time.Now()
			resp, err := http.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n != size {
				b.Fatalf("%s: %d bytes, %v", url, n, err)
			}
			return time.Since(start)
		}
		b.SetBytes(size)
		var ratios []float64
		var oursTotal, theirsTotal time.Duration
		var tcp float64
		for i := range b.N {
			var o, n time.Duration
			if i%2 == 0 {
				o, n = fetch(ours), fetch(theirs)
			} else {
				n, o = fetch(theirs), fetch(ours)
			}
			oursTotal += o
			theirsTotal += n
			ratios = append(ratios, n.Seconds()/o.Seconds())
			tcp += testtools.LoopbackTCP(b, size)
		}
		tcp /= float64(b.N)
		slices.Sort(ratios)
		b.ReportMetric(ratios[len(ratios)/2], "x-vs-nginx")
		b.ReportMetric(float64(size)*float64(b.N)/oursTotal.Seconds()/1e6, "gateway-MB/s")
		b.ReportMetric(float64(size)*float64(b.N)/oursTotal.Seconds()/tcp, "of-tcp")
		b.ReportMetric(float64(size)*float64(b.N)/theirsTotal.Seconds()/1e6, "nginx-MB/s")
	})
}

// BenchmarkStreamingSwarm: one sharer (uploads capped at 8 MB/s), an
// origin server (capped at 4 MB/s, named in the link) and 4 viewers that
// start together and each play a 32 MiB file through their own gateway
// at 4 MB/s, so the viewers need 16 MB/s in all and must pass chunks on
// among themselves. A viewer's player starts one second after its first
// byte and then needs each byte when playback reaches it; max-stall-ms is
// the longest any player waited past that, origin-copies what the origin
// sent over the file's size.
func BenchmarkStreamingSwarm(b *testing.B) {
	const size, playback = 32 << 20, 4 << 20
	tr := coretest.Tracker(b)
	sharer := openNode(b, core.Options{Trackers: []string{tr}, UpLimit: 8 << 20})
	sh, data := shareRandom(b, sharer, "show.mp4", size)
	var originSent atomic.Int64
	originCap := rate.NewLimiter(4<<20, 256<<10) // for all its requests together
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{w: w, n: &originSent, limit: originCap}
		http.ServeContent(cw, r, "show.mp4", time.Time{}, bytes.NewReader(data))
	}))
	defer origin.Close()
	link := sh.Link
	link.Origin = origin.URL + "/show.mp4"
	var worst time.Duration
	var copies []float64
	for range b.N {
		originSent.Store(0)
		stalls := make([]time.Duration, 4)
		var wg sync.WaitGroup
		for v := range stalls {
			viewer := openNode(b, core.Options{UpLimit: 8 << 20})
			g := listen(b, viewer)
			wg.Go(func() {
				defer viewer.Close()
				defer g.Close()
				if _, err := viewer.Download(context.Background(), link.String(), b.TempDir()); err != nil {
					b.Error(err)
					return
				}
				stalls[v] = play(b, g.URL(sh.Manifest), size, playback)
			})
		}
		wg.Wait()
		worst = max(worst, slices.Max(stalls))
		copies = append(copies, float64(originSent.Load())/size)
	}
	slices.Sort(copies)
	b.ReportMetric(float64(worst.Milliseconds()), "max-stall-ms")
	b.ReportMetric(copies[len(copies)/2], "origin-copies")
	if worst > stallBound || copies[len(copies)-1] > 1.1 {
		b.Errorf("a player waited %v (bound %v), the origin sent %.2f copies (bound 1.1)", worst, stallBound, copies[len(copies)-1])
	}
}

// stallBound is the longest a player of BenchmarkStreamingSwarm may wait
// for bytes after its first second, as README states it.
const stallBound = 500 * time.Millisecond

// play reads url as a player does: playback starts a second after the
// first byte and then moves at bps bytes/s, and the player reads at most
// playerBuffer ahead of it; it returns the longest time the player waited
// for bytes that playback had reached.
func play(b *testing.B, url string, size int64, bps float64) time.Duration {
	resp, err := http.Get(url)
	if err != nil {
		b.Error(err)
		return 0
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var got int64
	var start time.Time
	var worst time.Duration
	for got < size {
		if !start.IsZero() { // a full buffer: wait for playback to use some
			if ahead := start.Add(time.Duration(float64(got)/bps*float64(time.Second)) - playerBuffer); time.Now().Before(ahead) {
				time.Sleep(time.Until(ahead))
			}
		}
		n, err := resp.Body.Read(buf)
		now := time.Now()
		if got == 0 && n > 0 {
			start = now.Add(time.Second)
		}
		got += int64(n)
		// The bytes up to got were needed when playback reached them.
		if due := start.Add(time.Duration(float64(got-int64(n)) / bps * float64(time.Second))); n > 0 && now.After(due) {
			worst = max(worst, now.Sub(due))
		}
		if err != nil {
			if err != io.EOF || got != size {
				b.Errorf("played %d of %d bytes: %v", got, size, err)
			}
			break
		}
	}
	return worst
}

// playerBuffer is how far ahead of playback a player reads.
const playerBuffer = 2 * time.Second

// countingWriter writes at most limit's rate and counts the bytes.
type countingWriter struct {
	w     http.ResponseWriter
	n     *atomic.Int64
	limit *rate.Limiter
}

func (c *countingWriter) Header() http.Header  { return c.w.Header() }
func (c *countingWriter) WriteHeader(code int) { c.w.WriteHeader(code) }
func (c *countingWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		if err := c.limit.WaitN(context.Background(), k); err != nil {
			return written, err
		}
		n, err := c.w.Write(p[:k])
		c.n.Add(int64(n))
		written += n
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}
