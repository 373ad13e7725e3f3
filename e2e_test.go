package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// proc is a peerflow process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stderr *lineReader
	stdout *lineReader
}

// lineReader collects a pipe's lines and lets a test wait for one.
type lineReader struct {
	lines chan string
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 1024)}
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			lr.lines <- s.Text()
		}
		close(lr.lines)
	}()
	return lr
}

// waitFor returns the first line matching re, failing after a minute.
func (lr *lineReader) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				t.Fatalf("output ended before a line matching %s", re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no line matching %s within a minute", re)
		}
	}
}

// start runs bin with args; the process is interrupted when the test ends.
func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = headlessEnv()
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: newLineReader(stdout), stderr: newLineReader(stderr)}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return p
}

var (
	listeningRe = regexp.MustCompile(`listening on (\S+)`)
	seedingRe   = regexp.MustCompile(`seeding \d+ file\(s\) on ([^;\s]+)`)
	linkRe      = regexp.MustCompile(`^(peerflow://\S+)$`)
)

// TestSwarmOfProcesses runs, as separate processes on loopback, a tracker,
// two sharers of the same file and one getter with --json.
func TestSwarmOfProcesses(t *testing.T) {
	bin := buildBinary(t)
	tr := start(t, bin, "tracker", "--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "t.db"), "--no-mdns")
	trAddr := tr.stdout.waitFor(t, listeningRe)[1]

	data := make([]byte, 24<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	src := filepath.Join(t.TempDir(), "lecture.mp4")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sharers []string
	var link string
	for range 2 {
		// Limited so that both sharers have time to serve.
		p := start(t, bin, "share", src, "--tracker", trAddr, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--up-limit", "20MB/s")
		link = p.stdout.waitFor(t, linkRe)[1]
		sharers = append(sharers, p.stderr.waitFor(t, seedingRe)[1])
	}

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	get := exec.CommandContext(ctx, bin, "get", link, "--tracker", trAddr, "-o", out, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--json")
	get.Env = headlessEnv()
	var stdout, stderr bytes.Buffer
	get.Stdout, get.Stderr = &stdout, &stderr
	if err := get.Run(); err != nil {
		t.Fatalf("get: %v\n%s", err, stderr.String())
	}
	var res struct {
		ContentID   string           `json:"content_id"`
		Name        string           `json:"name"`
		Path        string           `json:"path"`
		Bytes       int64            `json:"bytes"`
		Seconds     float64          `json:"seconds"`
		Sources     map[string]int64 `json:"sources"`
		OriginBytes int64            `json:"origin_bytes"`
		Refetched   *int             `json:"refetched_chunks"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("get --json printed %q: %v", stdout.String(), err)
	}
	got, err := os.ReadFile(res.Path)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("downloaded file %s differs from the original (%v)", res.Path, err)
	}
	if !strings.Contains(link, res.ContentID) || res.Name != "lecture.mp4" || res.Bytes != int64(len(data)) ||
		res.Seconds <= 0 || res.OriginBytes != 0 || res.Refetched == nil || filepath.Dir(res.Path) != out {
		t.Errorf("JSON result %+v", res)
	}
	var total int64
	for _, s := range sharers {
		if res.Sources[s] == 0 {
			t.Errorf("sharer %s is not among the sources %v", s, res.Sources)
		}
		total += res.Sources[s]
	}
	if total != res.Bytes {
		t.Errorf("sources add up to %d bytes, want %d", total, res.Bytes)
	}
}
