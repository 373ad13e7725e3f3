// Package testtools runs the real programs some tests check Peerflow
// against: ffmpeg and ffprobe (players), nginx (an origin server), etcd
// (the tracker fleet's store), dbus-daemon (a desktop's session bus),
// script (a terminal). They come from Debian's packages (ffmpeg,
// nginx-light, etcd-server, dbus-daemon; script is in bsdutils), which
// `make test` and CI install. Without them a test is skipped, unless
// PEERFLOW_REQUIRE_TOOLS is set (CI sets it), which makes it fail.
package testtools

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Require returns the paths of the named programs, or skips (or, with
// PEERFLOW_REQUIRE_TOOLS, fails) t.
func Require(t testing.TB, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	for i, name := range names {
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("PEERFLOW_REQUIRE_TOOLS") != "" {
				t.Fatalf("%s is needed (Debian: make test-deps installs it)", name)
			}
			t.Skipf("needs %s (Debian: make test-deps installs it)", name)
		}
		paths[i] = p
	}
	return paths
}

// Nginx serves the folder root on a free port of 127.0.0.1 with nginx
// (one worker, sendfile on, as shipped) and returns its base URL and its
// access log, one line per request: method, URI, Range header, status,
// body bytes sent. It stops when t ends.
func Nginx(t testing.TB, root string) (url, accessLog string) {
	t.Helper()
	bin := Require(t, "nginx")[0]
	addr := freeAddr(t)
	work := t.TempDir()
	accessLog = filepath.Join(work, "access.log")
	conf := fmt.Sprintf(`daemon off; master_process off; worker_processes 1; pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	log_format ranges '$request_method $uri "$http_range" $status $body_bytes_sent';
	access_log %[4]s ranges;
	sendfile on; tcp_nopush on;
	client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
	server { listen %[2]s; root %[3]s; }
}
`, work, addr, root, accessLog)
	if err := os.WriteFile(filepath.Join(work, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", filepath.Join(work, "nginx.conf"), "-p", work)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 250 { // until it listens: nginx says nothing when it does
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, accessLog
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("nginx did not start listening within 5 s")
	return "", ""
}

// DirNames lists the names in dir, sorted, failing t if it cannot.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
