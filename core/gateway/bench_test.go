package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

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
//     x-vs-nginx is the median of the per-run ratios. Without nginx
//     (Debian's nginx-light) that part is skipped.
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
		req, _ := http.NewRequest("GET", g.URL(sh.Manifest.ID(), "film.mp4"), nil)
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
		ours := g.URL(sh.Manifest.ID(), "film.mp4")
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
		}
		slices.Sort(ratios)
		b.ReportMetric(ratios[len(ratios)/2], "x-vs-nginx")
		b.ReportMetric(float64(size)*float64(b.N)/oursTotal.Seconds()/1e6, "gateway-MB/s")
		b.ReportMetric(float64(size)*float64(b.N)/theirsTotal.Seconds()/1e6, "nginx-MB/s")
	})
}
