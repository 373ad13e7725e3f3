package tracker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"peerflow/core/trackerapi"
)

// boltOf is the bbolt file under s.
func boltOf(s *Server) *bolt.DB { return s.store.(*boltStore).db }

// countRecords returns the number of keys in bucket.
func countRecords(t *testing.T, s *Server, bucket []byte) int {
	t.Helper()
	n := 0
	err := boltOf(s).View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRestartKeepsEverything(t *testing.T) { eachStore(t, testRestartKeepsEverything) }

func testRestartKeepsEverything(t *testing.T, st store) {
	cfg := st.cfg(Config{Now: newFakeClock().Now})
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

// appendOldHoldings encodes a record of bucketOldHoldings, as trackers
// before per-content records wrote it.
func appendOldHoldings(b []byte, hs []trackerapi.ContentState) []byte {
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = append(b, h.ID[:]...)
		b = appendHoldingFields(b, h, false)
	}
	return b
}

// TestOldHoldingsAreConverted opens a database written in the old layout
// (one holdings record per peer): every holding is kept, stored one record
// per content, and the old bucket is gone.
func TestOldHoldingsAreConverted(t *testing.T) {
	clock := newFakeClock()
	cfg := Config{Now: clock.Now, DB: t.TempDir() + "/t.db"}
	tt := startTracker(t, cfg)
	a, b := testManifest("a", 10, 1), testManifest("b", 20, 2)
	tt.publish(t, a)
	tt.publish(t, b)
	tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true,
		Contents: []trackerapi.ContentState{{ID: a.ID(), Have: haveOf(10, 1, 3), Uploaded: 7}, {ID: b.ID(), Complete: true}}})
	before := tt.list(t, "")
	tt.stop()

	db, err := bolt.Open(cfg.DB, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketHeld); err != nil {
			return err
		}
		old, err := tx.CreateBucket(bucketOldHoldings)
		if err != nil {
			return err
		}
		id := testPeer(1)
		rec := appendOldHoldings(nil, []trackerapi.ContentState{
			{ID: a.ID(), Have: haveOf(10, 1, 3), Uploaded: 7}, {ID: b.ID(), Complete: true}})
		return errors.Join(old.Put(id[:], rec), old.Put([]byte("short key"), rec), old.Put(heldKey(testPeer(2), a.ID())[:16], []byte{1, 9}))
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	tt = startTracker(t, cfg)
	if after := tt.list(t, ""); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("list after conversion:\n%+v\nbefore:\n%+v", after, before)
	}
	if n := countRecords(t, tt.Server, bucketHeld); n != 2 {
		t.Fatalf("%d holding records, want 2 (one per content)", n)
	}
	err = boltOf(tt.Server).View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketOldHoldings) != nil {
			return errors.New("old holdings bucket still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFlushWritesOnlyWhatChanged is the amplified-writes attack: a peer
// holds many contents with large bitfields, then sends small announces
// that each change one content. Each flush must write about that
// content's record, not the peer's whole library (what the old layout
// rewrote). Bytes are counted as bbolt counts the pages a commit writes.
func TestFlushWritesOnlyWhatChanged(t *testing.T) {
	const contents, chunks = 100, 1 << 13 // 1 KiB bitfields
	tt := startTracker(t, Config{Now: newFakeClock().Now, FlushInterval: time.Hour})
	full := trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Full: true}
	have := make([]int, 0, chunks/2)
	for i := 0; i < chunks; i += 2 {
		have = append(have, i)
	}
	for n := range contents {
		m := testManifest(fmt.Sprint("m", n), chunks, uint64(n))
		tt.publish(t, m)
		full.Contents = append(full.Contents, trackerapi.ContentState{ID: m.ID(), Have: haveOf(chunks, have...)})
	}
	tt.announce(t, full)
	written := func() int64 {
		before := boltOf(tt.Server).Stats()
		if err := tt.tick(); err != nil {
			t.Fatal(err)
		}
		after := boltOf(tt.Server).Stats()
		return after.TxStats.GetPageAlloc() - before.TxStats.GetPageAlloc()
	}
	if w := written(); w < contents*chunks/8 {
		t.Fatalf("the first flush wrote %d bytes, less than the bitfields", w)
	}
	var total int64
	const rounds = 20
	for i := range rounds {
		cs := full.Contents[i%contents]
		cs.Uploaded = int64(i + 1)
		tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: testAddr(1), Contents: []trackerapi.ContentState{cs}})
		total += written()
	}
	// A flush writes the leaf pages that hold the changed record (bbolt
	// keeps at least two records on a leaf), the branches above it, the
	// lease's leaf and bbolt's freelist: a few pages. The old layout wrote
	// the whole library, over 100 KiB, on every flush.
	library := int64(len(appendOldHoldings(nil, full.Contents)))
	if perFlush := total / rounds; perFlush > library/4 {
		t.Fatalf("a flush after a one-content announce wrote %d bytes on average (%d in %d flushes); the whole library is %d", perFlush, total, rounds, library)
	}
	t.Logf("%d bytes in %d flushes; the library's record is %d bytes", total, rounds, library)
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

// TestMalformedKeysDoNotStopTheTracker: a lease or holding record under a
// key of the wrong length is skipped (and kept), not a failed start.
func TestMalformedKeysDoNotStopTheTracker(t *testing.T) {
	cfg := Config{Now: newFakeClock().Now, DB: t.TempDir() + "/t.db"}
	tt := startTracker(t, cfg)
	m := testManifest("m", 4, 1)
	tt.publish(t, m)
	tt.stop()
	db, err := bolt.Open(cfg.DB, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return errors.Join(tx.Bucket(bucketLeases).Put([]byte("short"), []byte{1}), tx.Bucket(bucketHeld).Put([]byte("short"), []byte{1}))
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	tt = startTracker(t, cfg)
	if l := tt.list(t, ""); l.Total != 1 {
		t.Fatalf("after a restart with malformed keys: %+v", l)
	}
}

// TestOffloadIsListedAndKept: the list sums what the live holders
// downloaded and fetched of it from the origin, across a restart; a
// holder claiming more from the origin than it downloaded is refused.
func TestOffloadIsListedAndKept(t *testing.T) {
	cfg := Config{Now: newFakeClock().Now, DB: t.TempDir() + "/t.db"}
	tt := startTracker(t, cfg)
	m := testManifest("m", 8, 1)
	tt.publish(t, m)
	for n, cs := range []trackerapi.ContentState{
		{ID: m.ID(), Complete: true, Downloaded: 1000, FromOrigin: 100},
		{ID: m.ID(), Have: haveOf(8, 1, 2), Downloaded: 500, FromOrigin: 0},
	} {
		tt.announce(t, trackerapi.AnnounceRequest{Peer: testPeer(n + 1), Addr: testAddr(n + 1), Full: true, Contents: []trackerapi.ContentState{cs}})
	}
	check := func(when string) {
		t.Helper()
		l := tt.list(t, "")
		if len(l.Contents) != 1 || l.Contents[0].Downloaded != 1500 || l.Contents[0].FromOrigin != 100 {
			t.Fatalf("%s: the list says %+v, want 1500 downloaded, 100 from the origin", when, l.Contents)
		}
	}
	check("running")
	body, sig := tt.signed(t, trackerapi.AnnounceRequest{Peer: testPeer(3), Addr: testAddr(3), Full: true,
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true, Downloaded: 10, FromOrigin: 11}}})
	if code, _ := postAnnounce(t, tt, body, sig); code != http.StatusBadRequest {
		t.Errorf("from_origin over downloaded: %d, want 400", code)
	}
	tt.stop()
	tt = startTracker(t, cfg)
	check("after a restart")
}
