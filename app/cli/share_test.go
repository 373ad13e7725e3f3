package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

// lockedBuffer is a bytes.Buffer a running command writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitForOutput polls b until re matches, failing after 30 s.
func waitForOutput(t *testing.T, b *lockedBuffer, re *regexp.Regexp) []string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
	}
	t.Fatalf("no output matching %s within 30 s; got %q", re, b.String())
	return nil
}

// runInProcess runs `peerflow COMMAND ARGS...` in a goroutine. The
// returned stop interrupts it as Ctrl-C does and returns its exit code;
// the test's end stops it too.
func runInProcess(t *testing.T, stdout, stderr *lockedBuffer, command string, args ...string) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var code int
	go func() {
		defer close(done)
		code = Run(ctx, append([]string{command}, args...), stdout, stderr)
	}()
	stop = func() int {
		cancel()
		select {
		case <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop within 30 s of being interrupted", command)
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestShareReportsUploadsWhenStopped runs `peerflow share --json` in
// process, has one get download the file from it, stops it as Ctrl-C
// does, and checks what it says it uploaded, on stderr and as JSON.
func TestShareReportsUploadsWhenStopped(t *testing.T) {
	h := hostTracker(t)
	trAddr := h.Addr().String()

	const size = 3<<20 + 12345 // not a whole number of chunks
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	dir := t.TempDir()
	song, idle := filepath.Join(dir, "song.flac"), filepath.Join(dir, "idle.bin")
	if err := os.WriteFile(song, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idle, data[:1000], 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr lockedBuffer
	stopShare := runInProcess(t, &stdout, &stderr, "share", song, idle, "--tracker", trAddr, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--json")
	waitForOutput(t, &stderr, regexp.MustCompile(`seeding 2 file\(s\)`))
	links := strings.Fields(stdout.String())
	if len(links) != 2 || !strings.HasPrefix(links[0], "peerflow://") || !strings.HasPrefix(links[1], "peerflow://") {
		t.Fatalf("stdout before the stop: %q, want two links, one a line", stdout.String())
	}

	if c, _, e := get(links[0], "--tracker", trAddr, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", t.TempDir()); c != ExitOK {
		t.Fatalf("get: exit %d: %s", c, e)
	}
	if c := stopShare(); c != ExitInterrupted {
		t.Errorf("share exit %d, want %d", c, ExitInterrupted)
	}

	// stdout: the two links as before, then one JSON object per line.
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 4 || lines[0] != links[0] || lines[1] != links[1] {
		t.Fatalf("stdout %q: want the two links, then two JSON lines", stdout.String())
	}
	var reports []ShareReport
	for _, l := range lines[2:] {
		var r ShareReport
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("JSON line %q: %v", l, err)
		}
		reports = append(reports, r)
	}
	song1, idle1 := reports[0], reports[1]
	if id := mustParse(t, links[0]).ID.String(); song1.ContentID != id || song1.Name != "song.flac" || song1.Size != size {
		t.Errorf("first report %+v, want content %s, song.flac, %d bytes", song1, id, size)
	}
	// The one downloader got every byte from the sharer, the only source.
	if song1.Uploaded < size || song1.PeersServed != 1 || song1.Copies != float64(song1.Uploaded)/size {
		t.Errorf("first report %+v: want at least %d bytes uploaded, to 1 peer, copies = uploaded/size", song1, size)
	}
	if idle1.Name != "idle.bin" || idle1.Size != 1000 || idle1.Uploaded != 0 || idle1.Copies != 0 || idle1.PeersServed != 0 {
		t.Errorf("second report %+v, want idle.bin, 1000 bytes, nothing uploaded", idle1)
	}

	// stderr: the same figures for people.
	wantSong := fmt.Sprintf("uploaded %s of song.flac (%.2f copies) to 1 peer\n", formatBinaryBytes(song1.Uploaded), song1.Copies)
	if !strings.Contains(stderr.String(), wantSong) || !strings.Contains(stderr.String(), "uploaded 0 B of idle.bin (0.00 copies) to 0 peers\n") {
		t.Errorf("stderr %q does not say %q and what idle.bin uploaded", stderr.String(), wantSong)
	}
	if song1.Uploaded == size && wantSong != "uploaded 3.0 MiB of song.flac (1.00 copies) to 1 peer\n" {
		t.Errorf("line %q", wantSong)
	}
}

// Without --json, stopping share prints the totals on stderr and nothing
// more on stdout; -h documents --json.
func TestShareWithoutJSONKeepsStdoutToLinks(t *testing.T) {
	h := hostTracker(t)
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr lockedBuffer
	stopShare := runInProcess(t, &stdout, &stderr, "share", path, "--tracker", h.Addr().String(), "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	waitForOutput(t, &stderr, regexp.MustCompile(`seeding 1 file\(s\)`))
	if c := stopShare(); c != ExitInterrupted {
		t.Errorf("exit %d, want %d", c, ExitInterrupted)
	}
	if out := stdout.String(); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "peerflow://") {
		t.Errorf("stdout %q, want the link alone", out)
	}
	if !strings.HasSuffix(stderr.String(), "uploaded 0 B of notes.txt (0.00 copies) to 0 peers\n") {
		t.Errorf("stderr %q", stderr.String())
	}

	var help lockedBuffer
	Run(context.Background(), []string{"share", "-h"}, &help, &help)
	if !strings.Contains(help.String(), "  -json") {
		t.Errorf("share -h does not document --json:\n%s", help.String())
	}
}

// share --private prints a link that carries the swarm's secret, and the
// tracker does not list the file.
func TestSharePrivate(t *testing.T) {
	h := hostTracker(t)
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("for friends"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr lockedBuffer
	stopShare := runInProcess(t, &stdout, &stderr, "share", path, "--private", "--tracker", h.Addr().String(), "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	waitForOutput(t, &stderr, regexp.MustCompile(`seeding 1 file\(s\)`))
	link, err := content.ParseLink(strings.TrimSpace(stdout.String()))
	if err != nil || link.Secret == nil {
		t.Errorf("share --private printed %q (%v): no secret", stdout.String(), err)
	}
	c, err := trackerapi.NewClient(h.Addr().String(), trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if list, err := c.Contents(context.Background(), "", 0, 10); err != nil || list.Total != 0 {
		t.Errorf("the tracker lists %+v (%v)", list, err)
	}
	stopShare()
}

// share --folder shares a folder, subfolders and all, as one content.
func TestShareFolder(t *testing.T) {
	h := hostTracker(t)
	dir := filepath.Join(t.TempDir(), "album")
	for _, rel := range []string{"01.flac", "disc2/01.flac"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, rel), []byte("music "+rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr lockedBuffer
	stop := runInProcess(t, &stdout, &stderr, "share", dir, "--folder", "--tracker", h.Addr().String(), "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	waitForOutput(t, &stderr, regexp.MustCompile(`seeding 1 file\(s\)`))
	link, err := content.ParseLink(strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("share --folder printed %q: %v", stdout.String(), err)
	}
	c, err := trackerapi.NewClient(h.Addr().String(), trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	m, err := c.Manifest(context.Background(), link.ID)
	if err != nil || m.Name != "album" || len(m.Files) != 2 || m.Files[1].Path != "disc2/01.flac" {
		t.Fatalf("the tracker has %+v, %v", m, err)
	}
	stop()
}
