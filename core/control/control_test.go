package control

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peerflow/core/testtools"
)

func TestMain(m *testing.M) { testtools.VerifyNoLeaks(m) }

// TestAskGetsTheStatus: a client gets what the node's status function
// gives, over the socket in the data folder, which only its owner can use.
func TestAskGetsTheStatus(t *testing.T) {
	dir := t.TempDir()
	want := Status{PeerID: "ab12", Listen: "127.0.0.1:7070", Uploaded: 5,
		Downloads: []Download{{ID: "c1", Name: "movie.bin", Chunks: 10, Done: 3, Have: []byte{0xe0, 0}}}}
	s, err := Serve(dir, func() Status { return want })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the socket's mode is %v, want 0600", fi.Mode().Perm())
	}
	got, err := Ask(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.PeerID != want.PeerID || got.Uploaded != 5 || len(got.Downloads) != 1 || string(got.Downloads[0].Have) != string(want.Downloads[0].Have) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	s.Close()
	if _, err := os.Lstat(filepath.Join(dir, SocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is still there after Close: %v", err)
	}
	if _, err := Ask(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Ask after Close: %v, want ErrNotRunning", err)
	}
}

// TestStaleSocketIsReplaced: a node that was killed leaves its socket;
// the next node on the folder (which holds its lock) listens anew, and a
// client of the stale socket alone hears that no node runs.
func TestStaleSocketIsReplaced(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // as a SIGKILL leaves it: the file, nobody listening
	if _, err := Ask(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Ask on a stale socket: %v, want ErrNotRunning", err)
	}
	s, err := Serve(dir, func() Status { return Status{PeerID: "new"} })
	if err != nil {
		t.Fatalf("Serve over a stale socket: %v", err)
	}
	defer s.Close()
	if got, err := Ask(t.Context(), dir); err != nil || got.PeerID != "new" {
		t.Errorf("Ask: %+v, %v", got, err)
	}
}

// TestServeLeavesOtherFilesAlone: a file of that name that is not a
// socket is not removed; Serve fails instead.
func TestServeLeavesOtherFilesAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SocketName)
	if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Serve(dir, func() Status { return Status{} }); err == nil {
		s.Close()
		t.Fatal("Serve replaced a regular file")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "mine" {
		t.Errorf("the file is now %q (%v)", b, err)
	}
}

// TestSampleMeasuresRates: the rates are the counters' growth over the
// time between the two snapshots, as the node stamped them.
func TestSampleMeasuresRates(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	asked := 0
	s, err := Serve(dir, func() Status {
		asked++ // the test's two asks come one after the other
		k := int64(asked - 1)
		return Status{Time: t0.Add(time.Duration(k) * 2 * time.Second), Uploaded: 3000 * k, Downloaded: 1000 * k,
			Shares:    []Share{{ID: "s", Uploaded: 2000 * k}},
			Downloads: []Download{{ID: "d", Uploaded: 1000 * k}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := Sample(t.Context(), dir, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if st.UpRate != 1500 || st.DownRate != 500 || st.Shares[0].UpRate != 1000 || st.Downloads[0].UpRate != 500 {
		t.Errorf("rates: node ↑%v ↓%v, share ↑%v, download ↑%v; want 1500, 500, 1000, 500",
			st.UpRate, st.DownRate, st.Shares[0].UpRate, st.Downloads[0].UpRate)
	}
}

// TestAskBoundsTheAnswer: an answer over MaxStatusBytes is refused, not
// read into memory whole; a malformed one is an error.
func TestAskBoundsTheAnswer(t *testing.T) {
	for name, body := range map[string]string{
		"oversize":  `{"peer_id":"` + strings.Repeat("a", MaxStatusBytes) + `"}`,
		"malformed": `{"peer_id":`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ln, err := net.Listen("unix", filepath.Join(dir, SocketName))
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) })}
			done := make(chan struct{})
			go func() { defer close(done); srv.Serve(ln) }()
			defer func() { srv.Close(); <-done }()
			if _, err := Ask(t.Context(), dir); err == nil {
				t.Error("Ask took it")
			} else if name == "oversize" && !strings.Contains(err.Error(), "more than") {
				t.Errorf("Ask: %v, want it refused for its size", err)
			}
		})
	}
}

// TestOpenHandsTheLinkOver: a node without a window says so; with one,
// the link reaches it; an oversize request is refused.
func TestOpenHandsTheLinkOver(t *testing.T) {
	dir := t.TempDir()
	s, err := Serve(dir, func() Status { return Status{} })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := Open(t.Context(), dir, "peerflow://x"); !errors.Is(err, ErrNoWindow) {
		t.Errorf("Open on a node without a window: %v, want ErrNoWindow", err)
	}
	got := make(chan string, 1)
	s.SetOpen(func(link string) { got <- link })
	if err := Open(t.Context(), dir, "peerflow://x"); err != nil {
		t.Fatal(err)
	}
	if link := <-got; link != "peerflow://x" {
		t.Errorf("the window got %q", link)
	}
	if err := Open(t.Context(), dir, strings.Repeat("a", MaxLinkBytes)); err == nil || !strings.Contains(err.Error(), "bad open request") {
		t.Errorf("Open of an oversize link: %v", err)
	}
	if err := Open(t.Context(), t.TempDir(), ""); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Open with no node: %v, want ErrNotRunning", err)
	}
}
