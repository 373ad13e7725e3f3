package tracker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"peerflow/core/trackerapi"
)

// countRecords returns the number of keys in bucket.
func countRecords(t *testing.T, s *Server, bucket []byte) int {
	t.Helper()
	n := 0
	err := s.store.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRestartKeepsEverything(t *testing.T) {
	cfg := Config{Now: newFakeClock().Now, DB: t.TempDir() + "/t.db"}
	tt := startTracker(t, cfg)
	id := tt.ID()
	a, b := testManifest("a", 10, 1), testManifest("b", 20, 2)
	tt.publish(t, a)
	tt.publish(t, b)
	tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true,
		Contents: []trackerapi.ContentState{{ID: a.ID(), Have: haveOf(10, 1, 3, 9), Uploaded: 7, Downloaded: 9}, {ID: b.ID(), Complete: true}}})
	tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2), Full: true,
		Contents: []trackerapi.ContentState{{ID: a.ID(), Have: haveOf(10, 0)}}})
	before := tt.list(t, "")
	holdersBefore := tt.holders(t, a.ID(), "?exclude="+testPeer(2).String())
	tt.stop()

	tt = startTracker(t, cfg)
	if tt.ID() != id {
		t.Fatalf("tracker ID changed: %s, was %s", tt.ID(), id)
	}
	after := tt.list(t, "")
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("list after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	if h := tt.holders(t, a.ID(), "?exclude="+testPeer(2).String()); fmt.Sprint(h) != fmt.Sprint(holdersBefore) {
		t.Fatalf("holders after restart: %+v, before %+v", h, holdersBefore)
	}
	if _, err := tt.client.Manifest(context.Background(), b.ID()); err != nil {
		t.Fatal(err)
	}
	var ups int64
	for _, h := range tt.state.swarms[a.ID()].holders {
		ups += h.uploaded
	}
	if ups != 7 {
		t.Fatalf("uploaded counters after restart: %d, want 7", ups)
	}
}

// TestCrashLosesOnlyUnflushedAnnounces copies the database file while the
// tracker runs, as a kill -9 would leave it: published manifests and
// flushed announces are there, announces after the last flush are not.
func TestCrashLosesOnlyUnflushedAnnounces(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Now: newFakeClock().Now, DB: dir + "/t.db", FlushInterval: time.Hour}
	tt := startTracker(t, cfg)
	m := testManifest("m", 8, 1)
	tt.publish(t, m)
	complete := []trackerapi.ContentState{{ID: m.ID(), Complete: true}}
	tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true, Contents: complete})
	if err := tt.tick(); err != nil { // the write-behind flush
		t.Fatal(err)
	}
	tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(2), Addr: testAddr(2), Full: true, Contents: complete})

	crashed := dir + "/crashed.db"
	copyFile(t, cfg.DB, crashed)
	cfg.DB = crashed
	after := startTracker(t, cfg)
	hl := after.holders(t, m.ID(), "")
	if hl.Total != 1 || hl.Holders[0].Peer != testPeer(1) {
		t.Fatalf("after the crash: %+v, want only the flushed peer 1", hl)
	}
	if after.ID() != tt.ID() {
		t.Fatal("tracker ID lost")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKill9KeepsPublishedManifests runs a tracker in a child process,
// publishes to it, kills it with SIGKILL and reopens its database: a
// manifest whose publish was answered is there.
func TestKill9KeepsPublishedManifests(t *testing.T) {
	if os.Getenv("PEERFLOW_TRACKER_CHILD") != "" {
		t.Skip("child process")
	}
	db := filepath.Join(t.TempDir(), "t.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestTrackerChild$")
	cmd.Env = append(os.Environ(), "PEERFLOW_TRACKER_CHILD="+db)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("child said %q, %v", line, err)
	}
	c, err := trackerapi.NewClient(addr, trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	m := testManifest("m", 8, 1)
	if resp, err := c.Publish(context.Background(), m); err != nil || !resp.Created {
		t.Fatalf("publish: %+v, %v", resp, err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no flush
		t.Fatal(err)
	}
	cmd.Wait()
	io.Copy(io.Discard, out)

	tt := startTracker(t, Config{DB: db})
	if _, err := tt.client.Manifest(context.Background(), m.ID()); err != nil {
		t.Fatalf("manifest after kill -9: %v", err)
	}
}

// TestTrackerChild is the tracker process of TestKill9KeepsPublishedManifests.
func TestTrackerChild(t *testing.T) {
	db := os.Getenv("PEERFLOW_TRACKER_CHILD")
	if db == "" {
		t.Skip("runs only as the child of TestKill9KeepsPublishedManifests")
	}
	s, err := Open(Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening %s\n", l.Addr())
	s.Serve(context.Background(), l) // until killed
}
