package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/coretest"
	"peerflow/core/discover/discovertest"
	"peerflow/tracker"
)

// testNetwork is a tracker on loopback and a node sharing one file.
type testNetwork struct {
	tracker string
	link    string
	sharer  *core.Node
	name    string
	data    []byte // the shared file's bytes
}

func newTestNetwork(t *testing.T) *testNetwork {
	t.Helper()
	return newTestNetworkOf(t, 1<<20, 0)
}

// hostTracker runs a tracker on 127.0.0.1 for the test.
func hostTracker(t *testing.T) *tracker.Hosted {
	t.Helper()
	h, err := tracker.Host(tracker.HostConfig{
		Config: tracker.Config{DB: filepath.Join(t.TempDir(), "t.db")},
		Listen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() })
	return h
}

// newTestNetworkOf is newTestNetwork with a file of size bytes and a
// sharer that uploads at most upLimit bytes/s (0: unlimited).
func newTestNetworkOf(t *testing.T, size int, upLimit int64) *testNetwork {
	t.Helper()
	h := hostTracker(t)
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "song.flac")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0", Trackers: []string{h.Addr().String()}, UpLimit: upLimit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	shared, err := n.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &testNetwork{tracker: h.Addr().String(), link: shared.Link.String(), sharer: n, name: "song.flac", data: data}
}

// run runs `peerflow CMD ARGS...` in process and returns its exit code
// and output.
func run(cmd string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), append([]string{cmd}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func get(args ...string) (int, string, string) { return run("get", args...) }

func TestGetErrorsSayWhatToDo(t *testing.T) {
	net := newTestNetwork(t)
	unknownID := content.ID{1, 2, 3}.String()
	data := t.TempDir()

	// A real full disk: a 64 KiB tmpfs, for the 1 MiB file (needs root,
	// as CI has; the part file refuses symlinks, so /dev/full cannot
	// stand in).
	full := t.TempDir()
	mounted := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).Run() == nil
	if mounted {
		t.Cleanup(func() { exec.Command("umount", full).Run() })
	}

	aFile := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
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
		{"folder is a file", []string{net.link, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", filepath.Join(aFile, "sub")},
			[]string{"make the download folder", "not a directory"}},
		{"disk full", []string{net.link, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", full},
			[]string{"no space left", "free some space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "disk full" && !mounted {
				t.Skip("cannot mount a small tmpfs here (not root?)")
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

	// A content no tracker knows, into folders that do not exist: nothing
	// is made.
	parent := t.TempDir()
	if code, _, _ := get(unknownID, "--tracker", net.tracker, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", filepath.Join(parent, "new", "dir")); code != ExitFailure {
		t.Errorf("get of an unknown content: exit %d", code)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a get that failed left %v behind", entries)
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

// partialHolder starts a node that downloads link and pauses once it
// holds at least chunks chunks: a peer that is downloading the content
// itself, and serves what it has.
func partialHolder(t *testing.T, net *testNetwork, chunks int) {
	t.Helper()
	n, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0", Trackers: []string{net.tracker}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	d, err := n.Download(t.Context(), net.link, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	coretest.PauseAt(t, d, chunks)
}

// get --json says how many bytes came from seeders and how many from
// peers that were downloading too; the "saved" line says it in percent.
// The swarm: a sharer capped at 2 MB/s and a peer that paused with part of
// the file, so both send chunks.
func TestGetSaysWhereBytesCameFrom(t *testing.T) {
	const size = 4 << 20 // 16 chunks of 256 KiB
	net := newTestNetworkOf(t, size, 2<<20)
	partialHolder(t, net, 6)

	code, stdout, stderr := get(net.link, "--tracker", net.tracker, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", t.TempDir(), "--json")
	if code != ExitOK {
		t.Fatalf("get --json: exit %d: %s", code, stderr)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(stdout), &fields); err != nil {
		t.Fatalf("get --json printed %q: %v", stdout, err)
	}
	for _, k := range []string{"content_id", "name", "path", "bytes", "seconds", "sources", "origin_bytes", "seeder_bytes", "peer_bytes", "refetched_chunks"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("get --json has no %q: %s", k, stdout)
		}
	}
	var res getResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Bytes != size || res.OriginBytes+res.SeederBytes+res.PeerBytes != res.Bytes {
		t.Errorf("%d bytes = %d from the origin server + %d from seeders + %d from peers? want %d in all",
			res.Bytes, res.OriginBytes, res.SeederBytes, res.PeerBytes, size)
	}
	sharer := net.sharer.Addr().String()
	if res.OriginBytes != 0 || res.SeederBytes != res.Sources[sharer] || res.PeerBytes == 0 {
		t.Errorf("seeder bytes %d, peer bytes %d, origin bytes %d; want the sharer's %d, some, none (sources %v)",
			res.SeederBytes, res.PeerBytes, res.OriginBytes, res.Sources[sharer], res.Sources)
	}

	code, _, stderr = get(net.link, "--tracker", net.tracker, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", t.TempDir())
	if code != ExitOK {
		t.Fatalf("get: exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`(?m)^saved .*\); (\d+)% from seeders, (\d+)% from other peers$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no saved line with the seeders' and peers' shares in %q", stderr)
	}
	seeders, _ := strconv.Atoi(m[1])
	peers, _ := strconv.Atoi(m[2])
	if seeders+peers != 100 || seeders == 0 || peers == 0 {
		t.Errorf("saved line says %d%% from seeders, %d%% from other peers", seeders, peers)
	}
}

func TestSharesText(t *testing.T) {
	tests := []struct {
		origin, seeders, peers int64
		want                   string
	}{
		{0, 48, 52, "; 48% from seeders, 52% from other peers"},
		{0, 1 << 20, 0, "; 100% from seeders, 0% from other peers"},
		{0, 0, 3 << 20, "; 0% from seeders, 100% from other peers"},
		{10, 30, 60, "; 10% from the origin server, 30% from seeders, 60% from other peers"},
		// Thirds: rounded so they still add up to 100.
		{1, 1, 1, "; 34% from the origin server, 33% from seeders, 33% from other peers"},
		{0, 0, 0, ""},
	}
	for _, tt := range tests {
		r := core.Result{Bytes: tt.origin + tt.seeders + tt.peers, OriginBytes: tt.origin, SeederBytes: tt.seeders, PeerBytes: tt.peers}
		if got := sharesText(r); got != tt.want {
			t.Errorf("sharesText(%d, %d, %d) = %q, want %q", tt.origin, tt.seeders, tt.peers, got, tt.want)
		}
	}
}

// TestGetMakesTheFolder: -o names folders that do not exist yet; get
// makes them, as wget -P and aria2c -d do.
func TestGetMakesTheFolder(t *testing.T) {
	net := newTestNetwork(t)
	out := filepath.Join(t.TempDir(), "new", "dir")
	if code, _, stderr := get(net.link, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "-o", out); code != ExitOK {
		t.Fatalf("get -o new/dir: exit %d: %s", code, stderr)
	}
	if got, err := os.ReadFile(filepath.Join(out, net.name)); err != nil || !bytes.Equal(got, net.data) {
		t.Errorf("the file in %s: %v", out, err)
	}
}
