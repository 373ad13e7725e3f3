package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"peerflow/core/testtools"
	"peerflow/core/trackerapi"
)

func TestRunTrackerFlags(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"-h"}, ExitOK, "0.0.0.0:7070"},
		{[]string{"--bogus"}, ExitUsage, "flag provided but not defined"},
		{[]string{"extra"}, ExitUsage, `unexpected argument "extra"`},
		{[]string{"--listen", "nope"}, ExitUsage, "want host:port"},
		{[]string{"--listen", "h:99999"}, ExitUsage, "port must be"},
		{[]string{"--db", t.TempDir(), "--listen", "127.0.0.1:0", "--no-mdns"}, ExitFailure, "tracker"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := runTracker(context.Background(), tt.args, &stdout, &stderr); code != tt.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tt.args, code, tt.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%v: stderr %q does not contain %q", tt.args, stderr.String(), tt.stderr)
		}
	}
}

func TestRunTrackerServesUntilInterrupted(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		r, w := io.Pipe()
		var stderr bytes.Buffer
		done := make(chan int)
		args := []string{"--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "t.db"), "--no-mdns"}
		if asJSON {
			args = append(args, "--json")
		}
		go func() {
			done <- runTracker(ctx, args, w, &stderr)
			w.Close()
		}()
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, r)
		addr := strings.TrimSpace(line[strings.LastIndex(line, " "):])
		if asJSON {
			var started trackerStarted
			if err := json.Unmarshal([]byte(line), &started); err != nil || started.TrackerID == "" || started.MDNS || !strings.Contains(started.Store, "t.db") ||
				len(started.Addresses) != 1 || started.Addresses[0] != started.Listen {
				t.Fatalf("tracker --json printed %q (%v)", line, err)
			}
			addr = started.Listen
		}
		resp, err := http.Get("http://" + addr + "/v1/health")
		if err != nil {
			t.Fatalf("health: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("health: %s", resp.Status)
		}
		cancel()
		if code := <-done; code != ExitInterrupted {
			t.Fatalf("exit %d after interrupt, want %d: %s", code, ExitInterrupted, stderr.String())
		}
	}
}

// TestRunTrackerOnEtcd runs `peerflow tracker --store etcds://...` against
// an etcd that takes clients over TLS with a certificate of its CA only,
// with authentication on: the password comes from the environment.
func TestRunTrackerOnEtcd(t *testing.T) {
	e := testtools.StartEtcdTLS(t)
	host := strings.TrimPrefix(e.URL, "https://")
	tlsFlags := []string{"--etcd-ca", e.CAFile, "--etcd-cert", e.CertFile, "--etcd-key", e.KeyFile}
	enableAuth(t, e, "root", "s3cret")

	t.Setenv("PEERFLOW_ETCD_PASSWORD", "wrong")
	var stdout, stderr bytes.Buffer
	args := append([]string{"--listen", "127.0.0.1:0", "--no-mdns", "--store", "etcds://root@" + host}, tlsFlags...)
	if code := runTracker(context.Background(), args, &stdout, &stderr); code != ExitFailure || !strings.Contains(stderr.String(), "authentication failed") {
		t.Fatalf("wrong password: exit %d, stderr %q", code, stderr.String())
	}

	t.Setenv("PEERFLOW_ETCD_PASSWORD", "s3cret")
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	stderr.Reset()
	done := make(chan int)
	go func() {
		done <- runTracker(ctx, args, w, &stderr)
		w.Close()
	}()
	br := bufio.NewReader(r)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err, stderr.String())
	}
	reachable, _ := br.ReadString('\n')
	store, _ := br.ReadString('\n')
	go io.Copy(io.Discard, r)
	if !strings.HasPrefix(reachable, "reachable at 127.0.0.1:") {
		t.Errorf("printed %q, want where the tracker is reachable", reachable)
	}
	if want := "store: etcds://" + host + "/peerflow/"; strings.TrimSpace(store) != want {
		t.Errorf("printed %q, want %q", store, want)
	}
	addr := strings.TrimSpace(line[strings.LastIndex(line, " "):])
	resp, err := http.Get("http://" + addr + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	var h trackerapi.Health
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || h.Store != "etcd" || !h.OK {
		t.Fatalf("health: %s %+v", resp.Status, h)
	}
	cancel()
	if code := <-done; code != ExitInterrupted {
		t.Fatalf("exit %d after interrupt, want %d: %s", code, ExitInterrupted, stderr.String())
	}
}

// enableAuth makes user the root user of e, with password, and turns
// etcd's authentication on.
func enableAuth(t *testing.T, e *testtools.Etcd, user, password string) {
	t.Helper()
	conf, err := etcdTLS(e.CAFile, e.CertFile, e.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{strings.TrimPrefix(e.URL, "https://")}, TLS: conf, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	cli.RoleAdd(ctx, "root") // there already on some versions
	if _, err := cli.UserGrantRole(ctx, user, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
}
