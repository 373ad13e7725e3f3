package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/coretest"
	"peerflow/core/gateway"
)

func openNode(t testing.TB, opts core.Options) *core.Node {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	n, err := core.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func listen(t testing.TB, n *core.Node) *gateway.Gateway {
	t.Helper()
	g, err := gateway.Listen(n, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// shareRandom shares a file of size random bytes named name.
func shareRandom(t testing.TB, n *core.Node, name string, size int) (core.Shared, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 5))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sh, err := n.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sh, data
}

// get sends a request with the given headers and returns the answer with
// its body read.
func get(t testing.TB, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestRanges: the edge cases of HTTP ranges on a complete content.
func TestRanges(t *testing.T) {
	n := openNode(t, core.Options{})
	const size = 1<<20 + 123
	sh, data := shareRandom(t, n, "talk.mp4", size)
	g := listen(t, n)
	url := g.URL(sh.Manifest)
	etag := `"` + sh.Manifest.ID().String() + `"`

	resp, body := get(t, "GET", url)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("Content-Type") != "video/mp4" ||
		resp.Header.Get("ETag") != etag || resp.Header.Get("Accept-Ranges") != "bytes" || resp.ContentLength != size {
		t.Fatalf("GET: %d, %d bytes, headers %v", resp.StatusCode, len(body), resp.Header)
	}
	if resp, body := get(t, "HEAD", url); resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != size {
		t.Errorf("HEAD: %d, %d bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	for _, tc := range []struct {
		rng, contentRange string
		from, to          int // the bytes expected, [from, to)
	}{
		{"bytes=0-0", fmt.Sprintf("bytes 0-0/%d", size), 0, 1},
		{"bytes=-500", fmt.Sprintf("bytes %d-%d/%d", size-500, size-1, size), size - 500, size},
		{"bytes=1000-", fmt.Sprintf("bytes 1000-%d/%d", size-1, size), 1000, size},
		{"bytes=262143-262144", fmt.Sprintf("bytes 262143-262144/%d", size), 262143, 262145}, // across a chunk boundary
		{fmt.Sprintf("bytes=%d-%d", size-10, size+1000), fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size), size - 10, size},
	} {
		resp, body := get(t, "GET", url, "Range", tc.rng)
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != tc.contentRange || !bytes.Equal(body, data[tc.from:tc.to]) {
			t.Errorf("%s: %d %q, %d bytes", tc.rng, resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
		}
	}
	if resp, _ := get(t, "GET", url, "Range", fmt.Sprintf("bytes=%d-", size)); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Errorf("a range beyond the end: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	// Several ranges: one multipart answer with each part right.
	resp, body = get(t, "GET", url, "Range", "bytes=0-9,500000-500099")
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusPartialContent || mt != "multipart/byteranges" {
		t.Fatalf("two ranges: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][2]int{{0, 10}, {500000, 500100}} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(part)
		if !bytes.Equal(got, data[want[0]:want[1]]) {
			t.Errorf("part %v differs", want)
		}
	}
	// If-Range: a stale ETag gets the whole content, the right one the range.
	if resp, body := get(t, "GET", url, "Range", "bytes=0-9", "If-Range", `"stale"`); resp.StatusCode != 200 || len(body) != size {
		t.Errorf("If-Range with a stale ETag: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := get(t, "GET", url, "Range", "bytes=0-9", "If-Range", etag); resp.StatusCode != 206 || len(body) != 10 {
		t.Errorf("If-Range with the ETag: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get(t, "GET", url, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d", resp.StatusCode)
	}
}

// TestBadRequests: what the gateway refuses, and how.
func TestBadRequests(t *testing.T) {
	n := openNode(t, core.Options{})
	sh, _ := shareRandom(t, n, "a.webm", 1000)
	g := listen(t, n)
	url := g.URL(sh.Manifest)
	base := "http://" + g.Addr().String()
	for name, tc := range map[string]struct {
		method, url string
		header      []string
		want        int
	}{
		"another name":      {"GET", base + "/c/" + sh.Manifest.ID().String() + "/b.webm", nil, 404},
		"unknown content":   {"GET", base + "/c/" + content.ID{7}.String(), nil, 404},
		"not a content ID":  {"GET", base + "/c/xyz", nil, 400},
		"another path":      {"GET", base + "/etc/passwd", nil, 404},
		"a POST":            {"POST", url, nil, 405},
		"a rebinding Host":  {"GET", url, []string{"Host", "evil.example:80"}, http.StatusMisdirectedRequest},
		"localhost is fine": {"GET", url, []string{"Host", "localhost"}, 200},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Host = tc.header[i+1]
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, tc.want)
		}
	}
}

// TestStreamWhileDownloading: a node downloading from a slow seeder
// answers ranged reads anywhere in the content, each with the right
// bytes, long before the download is complete: a read of a chunk not
// here yet moves the download there. A client that goes away mid-body
// leaves the gateway working.
func TestStreamWhileDownloading(t *testing.T) {
	tr := coretest.Tracker(t)
	seeder := openNode(t, core.Options{Trackers: []string{tr}, UpLimit: 2 << 20})
	const size = 16 << 20 // 8 s at the seeder's rate
	sh, data := shareRandom(t, seeder, "film.mkv", size)
	leech := openNode(t, core.Options{})
	d, err := leech.Download(context.Background(), sh.Link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := listen(t, leech)
	url := g.URL(sh.Manifest)

	// A seek to 90% first: answered while most of the file is missing.
	at := size * 9 / 10
	resp, body := get(t, "GET", url, "Range", fmt.Sprintf("bytes=%d-%d", at, at+99))
	if resp.StatusCode != 206 || !bytes.Equal(body, data[at:at+100]) {
		t.Fatalf("seek to 90%%: %d, %d bytes", resp.StatusCode, len(body))
	}
	if p := d.Progress(); p.Done*2 > p.Chunks {
		t.Errorf("the seek was answered only after %d of %d chunks", p.Done, p.Chunks)
	}

	// A client that goes away while its chunk is fetched.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", size/2))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Read(make([]byte, 10))
		cancel()
		resp.Body.Close()
	}
	cancel()

	// A seek storm: ranged reads at random offsets, some at once, each
	// answered with the right bytes (the seeder faster now: the storm
	// needs most of the file).
	seeder.SetLimits(8<<20, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	type span struct{ from, n int }
	spans := make([]span, 200)
	for i := range spans {
		spans[i] = span{rng.IntN(size - 1), 1 + rng.IntN(64<<10)}
		spans[i].n = min(spans[i].n, size-spans[i].from)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(spans))
	sem := make(chan struct{}, 8)
	for _, s := range spans {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			resp, body := get(t, "GET", url, "Range", fmt.Sprintf("bytes=%d-%d", s.from, s.from+s.n-1))
			if resp.StatusCode != 206 || !bytes.Equal(body, data[s.from:s.from+s.n]) {
				errs <- fmt.Errorf("bytes %d+%d: %d, %d bytes", s.from, s.n, resp.StatusCode, len(body))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// And the whole file, from the start, as a player would play it (the
	// seeder unlimited now: the test need not wait 8 s).
	seeder.SetLimits(0, 0)
	resp, body = get(t, "GET", url)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("the whole file: %d, %d bytes", resp.StatusCode, len(body))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "video/") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
}

// TestListensOnlyOnLoopback: the gateway refuses to listen where other
// machines could reach it.
func TestListensOnlyOnLoopback(t *testing.T) {
	n := openNode(t, core.Options{})
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:80"} {
		if g, err := gateway.Listen(n, addr, nil); err == nil {
			g.Close()
			t.Errorf("listened on %s", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		g, err := gateway.Listen(n, addr, nil)
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		g.Close()
	}
}
