package testtools

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Etcd is an etcd server (Debian's etcd-server package) that a test
// started on free ports of 127.0.0.1, with its data in a temporary
// folder. It is stopped when the test ends; Stop and Start take it down
// and up again on the same ports and data, as an outage would.
type Etcd struct {
	URL string // the client URL, http://127.0.0.1:PORT

	t          testing.TB
	bin, dir   string
	clientAddr string
	peerAddr   string
	cmd        *exec.Cmd
	exited     chan struct{}
}

// StartEtcd starts an etcd server and returns once it answers.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	e := &Etcd{t: t, bin: Require(t, "etcd")[0], dir: filepath.Join(t.TempDir(), "etcd"), clientAddr: freeAddr(t), peerAddr: freeAddr(t)}
	e.URL = "http://" + e.clientAddr
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

// freeAddr is a loopback address with a port that was free just now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts the server (again) and waits until it reports healthy.
func (e *Etcd) Start() {
	e.t.Helper()
	if e.cmd != nil {
		e.t.Fatal("etcd is running already")
	}
	peer := "http://" + e.peerAddr
	cmd := exec.Command(e.bin, "--name", "test", "--data-dir", e.dir, "--logger", "zap", "--log-level", "error",
		"--listen-client-urls", e.URL, "--advertise-client-urls", e.URL,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "test="+peer)
	log, err := os.Create(filepath.Join(filepath.Dir(e.dir), "etcd.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(e.exited) }()
	client := http.Client{Timeout: time.Second}
	for range 500 { // up to 10 s; it takes under 1 s here
		select {
		case <-e.exited:
			e.cmd = nil
			e.t.Fatalf("etcd exited at start (its log: %s)", log.Name())
		default:
		}
		if resp, err := client.Get(e.URL + "/health"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"true"`) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.Stop()
	e.t.Fatalf("etcd did not become healthy within 10 s (its log: %s)", log.Name())
}

// Stop stops the server, as SIGTERM does (SIGKILL after 10 s), and waits
// until it has exited. Stopping a stopped server does nothing.
func (e *Etcd) Stop() {
	if e.cmd == nil {
		return
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		e.cmd.Process.Kill()
		<-e.exited
	}
	e.cmd = nil
}
