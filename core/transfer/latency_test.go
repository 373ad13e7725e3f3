package transfer

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"peerflow/core/testtools"
)

// seedersBehind starts one seeder of f per delay, each reached through
// its own relay that holds bytes that long each way (window: the relay's
// default), and returns them as holders.
func seedersBehind(tb testing.TB, f testFile, link testtools.Link, delays ...time.Duration) StaticHolders {
	var holders StaticHolders
	for _, d := range delays {
		p := newPeer(tb, Config{})
		p.seed(tb, f)
		l := link
		l.Delay = d
		h := p.holder()
		h.Addr = testtools.StartRelay(tb, h.Addr, l).Addr()
		holders = append(holders, h)
	}
	return holders
}

// TestDownloadOverLongLossyLinks: through 50 ms round trips that lose a
// segment in a hundred, the download still ends byte-identical, and every
// seeder served part of it.
func TestDownloadOverLongLossyLinks(t *testing.T) {
	f := makeFile(t, 24<<20, 256<<10)
	const d = 25 * time.Millisecond
	holders := seedersBehind(t, f, testtools.Link{Loss: 0.01, Seed: 7}, d, d, d, 4*d)
	leech := newPeer(t, Config{})
	dl, _ := leech.download(t, f, DownloadOptions{Holders: holders})
	r := wait(t, dl)
	checkSame(t, r.Path, f.data)
	for _, h := range holders[:3] {
		if r.Sources[h.Addr] == 0 {
			t.Errorf("seeder at %s served nothing: %v", h.Addr, r.Sources)
		}
	}
}

// BenchmarkLatency: 256 MiB from 4 seeders, each 50 ms away (round trip)
// through a relay whose window (1 MiB each way) bounds one stream to
// 1 MiB per 25 ms, as a path's bandwidth-delay product does.
//   - 4x50ms: against the same file fetched as 4 parallel single-stream
//     HTTP range requests, each through a relay of the same link, written
//     at its place in one part file while hashed, fsynced and renamed
//     (x-vs-streams, median of per-run ratios; 1 means as fast).
//   - 3x50ms+200ms: one of the four 200 ms away, against the download
//     from the three fast ones alone (x-vs-fast-only: above 1, the slow
//     seeder added to the rate; below, it held the download back).
//
// The two of each pair alternate, each first every other run.
func BenchmarkLatency(b *testing.B) {
	const size = 256 << 20
	const fast, slow = 25 * time.Millisecond, 100 * time.Millisecond
	f := makeFile(b, size, 256<<10)
	download := func(holders StaticHolders) time.Duration {
		took, _ := timedDownload(b, Config{}, f, holders)
		return took
	}
	b.Run("4x50ms", func(b *testing.B) {
		holders := seedersBehind(b, f, testtools.Link{}, fast, fast, fast, fast)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, f.path)
		}))
		defer srv.Close()
		var urls []string
		for range 4 {
			urls = append(urls, "http://"+testtools.StartRelay(b, srv.Listener.Addr().String(), testtools.Link{Delay: fast}).Addr()+"/")
		}
		alternate(b, size, "x-vs-streams",
			func() time.Duration { return download(holders) },
			func() time.Duration { return rangeStreams(b, urls, f) })
	})
	b.Run("3x50ms+200ms", func(b *testing.B) {
		holders := seedersBehind(b, f, testtools.Link{}, fast, fast, fast, slow)
		alternate(b, size, "x-vs-fast-only",
			func() time.Duration { return download(holders) },
			func() time.Duration { return download(holders[:3]) })
	})
}

// alternate runs ours and ref b.N times each, alternating which goes
// first, and reports metric: the median of ref's time over ours. The
// benchmark's timer counts ours alone.
func alternate(b *testing.B, size int64, metric string, ours, ref func() time.Duration) {
	b.SetBytes(size)
	var ratios []float64
	var refTotal time.Duration
	timedRef := func() time.Duration {
		b.StopTimer()
		defer b.StartTimer()
		return ref()
	}
	b.ResetTimer()
	for i := range b.N {
		var took, r time.Duration
		if i%2 == 0 {
			took = ours()
			r = timedRef()
		} else {
			r = timedRef()
			took = ours()
		}
		b.Logf("run %d: %v, reference %v", i, took.Round(time.Millisecond), r.Round(time.Millisecond))
		refTotal += r
		ratios = append(ratios, r.Seconds()/took.Seconds())
	}
	b.StopTimer()
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], metric)
	b.ReportMetric(float64(size)*float64(b.N)/refTotal.Seconds()/1e6, "ref-MB/s")
}

// rangeStreams fetches f as len(urls) parallel HTTP range requests, one
// per URL (each a fresh connection), each range written at its place in
// one part file while hashed, then checks the hashes, fsyncs and renames:
// the download's work, done by plain TCP streams.
func rangeStreams(b *testing.B, urls []string, f testFile) time.Duration {
	dir := b.TempDir()
	part, path := filepath.Join(dir, "ref.part"), filepath.Join(dir, "ref.bin")
	size := int64(len(f.data))
	n := int64(len(urls))
	start := time.Now()
	out, err := os.Create(part)
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, url := range urls {
		from, to := size*int64(i)/n, size*int64(i+1)/n
		wg.Go(func() { errs[i] = fetchRange(client, url, out, from, to, sha256.Sum256(f.data[from:to])) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := out.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(part, path); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	os.Remove(path)
	return took
}

// fetchRange GETs bytes [from, to) of url into out at from, hashing them.
func fetchRange(client *http.Client, url string, out *os.File, from, to int64, want [32]byte) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("range %d-%d: %s", from, to, resp.Status)
	}
	h := sha256.New()
	w := io.NewOffsetWriter(out, from)
	if _, err := io.CopyBuffer(io.MultiWriter(w, h), resp.Body, make([]byte, 1<<20)); err != nil {
		return err
	}
	if [32]byte(h.Sum(nil)) != want {
		return fmt.Errorf("range %d-%d: hash mismatch", from, to)
	}
	return nil
}
