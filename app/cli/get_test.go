package cli

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/discover/discovertest"
	"peerflow/tracker"
)

// testNetwork is a tracker on loopback and a node sharing one file.
type testNetwork struct {
	tracker string
	link    string
	sharer  *core.Node
	name    string
}

func newTestNetwork(t *testing.T) *testNetwork {
	t.Helper()
	h, err := tracker.Host(tracker.HostConfig{
		Config: tracker.Config{DB: filepath.Join(t.TempDir(), "t.db")},
		Listen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() })
	data := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "song.flac")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0", Trackers: []string{h.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	shared, err := n.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &testNetwork{tracker: h.Addr().String(), link: shared.Link.String(), sharer: n, name: "song.flac"}
}

// get runs `peerflow get` in process and returns its exit code and output.
func get(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), append([]string{"get"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestGetErrorsSayWhatToDo(t *testing.T) {
	net := newTestNetwork(t)
	unknownID := content.ID{1, 2, 3}.String()
	data := t.TempDir()

	full := t.TempDir()
	// The part file of a download into full is /dev/full: writes fail
	// with "no space left on device".
	if _, err := os.Stat("/dev/full"); err == nil {
		id := mustParse(t, net.link).ID
		os.Symlink("/dev/full", filepath.Join(full, "."+net.name+"."+id.Short()+".part"))
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown content", []string{unknownID, "--tracker", net.tracker, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", t.TempDir()},
			[]string{"no tracker knows this content", "add the tracker"}},
		{"no tracker reachable", []string{unknownID, "--tracker", "127.0.0.1:1", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", t.TempDir()},
			[]string{"127.0.0.1:1", "--tracker"}},
		{"missing folder", []string{net.link, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", filepath.Join(t.TempDir(), "nope")},
			[]string{"does not exist"}},
		{"disk full", []string{net.link, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", full},
			[]string{"no space left", "free some space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "disk full" {
				if _, err := os.Stat("/dev/full"); err != nil {
					t.Skip("no /dev/full")
				}
			}
			code, _, stderr := get(tt.args...)
			if code != ExitFailure {
				t.Errorf("exit %d, want %d", code, ExitFailure)
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n") + 1; lines != 1 {
				t.Errorf("%d lines of error, want one:\n%s", lines, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("message %q does not say %q", stderr, w)
				}
			}
		})
	}

	// A file already downloaded: the second get says where it is.
	out := t.TempDir()
	if code, _, stderr := get(net.link, "--data", data, "--listen", "127.0.0.1:0", "-o", out); code != ExitOK {
		t.Fatalf("first get: exit %d: %s", code, stderr)
	}
	code, _, stderr := get(net.link, "--data", data, "--listen", "127.0.0.1:0", "-o", out)
	if code != ExitFailure || !strings.Contains(stderr, "already here") || !strings.Contains(stderr, filepath.Join(out, net.name)) {
		t.Errorf("second get: exit %d: %s", code, stderr)
	}
}

func TestGetNoPeersWithinTimeout(t *testing.T) {
	net := newTestNetwork(t)
	net.sharer.Close() // the tracker keeps the manifest; nobody holds the chunks
	code, _, stderr := get(net.link, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", t.TempDir(), "--timeout", "1s")
	if code != ExitFailure || !strings.Contains(stderr, "no peer sent any data") || !strings.Contains(stderr, "--timeout") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func mustParse(t *testing.T, link string) content.Link {
	l, err := content.ParseLink(link)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Without --tracker and with none on the LAN, get says how to pass one.
// It looks for trackers over mDNS, so it runs only in an isolated
// network namespace (as CI does).
func TestGetWithoutTrackerSaysHowToPassOne(t *testing.T) {
	discovertest.RequireIsolatedNetwork(t)
	code, _, stderr := get(content.ID{9}.String(), "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", t.TempDir())
	if code != ExitFailure || !strings.Contains(stderr, "--tracker HOST:PORT") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
