package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestStreamServesWhileDownloading: stream prints a URL on stdout at once,
// which answers a range at the end of the file while the download from a
// slow sharer has far to go, and the whole file after; stopped, it keeps
// the file.
func TestStreamServesWhileDownloading(t *testing.T) {
	const size = 8 << 20
	net := newTestNetworkOf(t, size, 2<<20) // 4 s for the whole file
	data := net.data
	var stdout, stderr lockedBuffer
	out := t.TempDir()
	stop := runInProcess(t, &stdout, &stderr, "stream", net.link, "--data", t.TempDir(), "--peer-listen", "127.0.0.1:0", "-o", out)
	url := waitForOutput(t, &stdout, regexp.MustCompile(`(http://127\.0\.0\.1:\d+/c/\S+)\n`))[1]
	if !strings.HasSuffix(url, "/"+net.name) {
		t.Errorf("URL %s does not end with the file's name", url)
	}
	read := func(rng string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
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
		return resp.StatusCode, body
	}
	if code, body := read(fmt.Sprintf("bytes=%d-", size-1000)); code != 206 || !bytes.Equal(body, data[size-1000:]) {
		t.Fatalf("the last 1000 bytes: %d, %d bytes", code, len(body))
	}
	if strings.Contains(stderr.String(), "saved ") {
		t.Errorf("the end of the file came only after the whole download: %s", stderr.String())
	}
	net.sharer.SetLimits(0, 0)
	if code, body := read(""); code != 200 || !bytes.Equal(body, data) {
		t.Fatalf("the whole file: %d, %d bytes", code, len(body))
	}
	waitForOutput(t, &stderr, regexp.MustCompile(`serving .* press Ctrl-C`))
	if code := stop(); code != ExitInterrupted {
		t.Errorf("exit %d", code)
	}
	if got, err := os.ReadFile(out + "/" + net.name); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the file kept in -o: %d bytes, %v", len(got), err)
	}
}

// TestStreamJSON: with --json, stream prints the URL as a JSON line when
// it serves, and get's result as another when the file is in place.
func TestStreamJSON(t *testing.T) {
	net := newTestNetwork(t)
	var stdout, stderr lockedBuffer
	stop := runInProcess(t, &stdout, &stderr, "stream", net.link, "--data", t.TempDir(), "--peer-listen", "127.0.0.1:0", "-o", t.TempDir(), "--json")
	lines := waitForOutput(t, &stdout, regexp.MustCompile(`(?s)^(\{[^\n]*\})\n(\{[^\n]*\})\n`))
	var serving streamServing
	var saved getResult
	if err := json.Unmarshal([]byte(lines[1]), &serving); err != nil || !strings.HasSuffix(serving.URL, "/"+net.name) || serving.Name != net.name {
		t.Errorf("the first line %q (%v)", lines[1], err)
	}
	if err := json.Unmarshal([]byte(lines[2]), &saved); err != nil || saved.ContentID != serving.ContentID || saved.Bytes != int64(len(net.data)) {
		t.Errorf("the second line %q (%v)", lines[2], err)
	}
	if code := stop(); code != ExitInterrupted {
		t.Errorf("exit %d", code)
	}
}
