package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peerflow/core/testtools"
	"peerflow/core/trackerapi"
)

// TestFleetSwarmOfProcesses runs a swarm against a fleet of three
// tracker processes on one etcd: the sharer announces through the first
// tracker, each of three getters through another. Mid-swarm the first
// tracker is killed with SIGKILL and etcd goes down until the trackers
// left answer 503, then comes back; every getter still ends with the
// file, byte for byte.
func TestFleetSwarmOfProcesses(t *testing.T) {
	bin := buildBinary(t)
	e := testtools.StartEtcd(t)
	store := "etcd://" + strings.TrimPrefix(e.URL, "http://")
	var trackers []string
	var procs []*proc
	for range 3 {
		p := start(t, bin, "tracker", "--listen", "127.0.0.1:0", "--store", store, "--no-mdns")
		trackers = append(trackers, p.stdout.waitFor(t, listeningRe)[1])
		procs = append(procs, p)
	}

	const size = 24 << 20
	src := filepath.Join(t.TempDir(), "talk.mkv")
	want, err := writeRandomFile(src, size, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Slow enough that the getters are still at it when the faults come.
	sharer := start(t, bin, "share", src, "--tracker", trackers[0], "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--up-limit", "2MB/s")
	link := sharer.stdout.waitFor(t, linkRe)[1]
	sharer.stderr.waitFor(t, seedingRe)

	var getters []*proc
	var outs []string
	for i := range 3 {
		out := t.TempDir()
		outs = append(outs, out)
		getters = append(getters, start(t, bin, "get", link, "--tracker", trackers[i], "-o", out, "--data", t.TempDir(),
			"--listen", "127.0.0.1:0", "--up-limit", "2MB/s", "--timeout", "3m"))
	}
	// Mid-swarm: every getter is listed (it announced) while none is done.
	id := strings.TrimPrefix(strings.SplitN(link, "?", 2)[0], "peerflow://")
	waitHolders(t, trackers[2], id, 4)

	if err := procs[0].cmd.Process.Kill(); err != nil { // SIGKILL: no flush, no goodbye
		t.Fatal(err)
	}
	e.Stop()
	waitHealth(t, trackers[1], http.StatusServiceUnavailable) // the outage is seen: announces get 503
	e.Start()
	// The uploads (2 MB/s each, 8 MB/s in all) need at least 9 s for
	// the 72 MB the getters fetch, so the faults came mid-swarm.
	for i, out := range outs {
		if _, err := os.Stat(filepath.Join(out, "talk.mkv")); err == nil {
			t.Fatalf("getter %d was done before the faults: the test proves nothing", i)
		}
	}

	for i, g := range getters {
		code, err := waitExitWithin(g, 3*time.Minute)
		if err != nil || code != 0 {
			t.Fatalf("getter %d: exit %d, %v", i, code, err)
		}
		got, err := fileSHA256(filepath.Join(outs[i], "talk.mkv"))
		if err != nil || got != want {
			t.Fatalf("getter %d: the file differs from the original (%v)", i, err)
		}
	}
	// The trackers left take announces again: the fleet recovered.
	for _, tr := range trackers[1:] {
		waitHealth(t, tr, http.StatusOK)
	}
}

// waitHealth polls the health endpoint of the tracker at addr until it
// answers status.
func waitHealth(t *testing.T, addr string, status int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + trackerapi.PathHealth)
		if err == nil {
			var h trackerapi.Health
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if resp.StatusCode == status && h.Store == "etcd" && h.OK == (status == http.StatusOK) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracker %s did not answer %d within a minute", addr, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHolders polls the tracker at addr until content id has n holders.
func waitHolders(t *testing.T, addr, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(fmt.Sprintf("http://%s%s/%s/holders", addr, trackerapi.PathContents, id))
		if err == nil {
			var hl trackerapi.HolderList
			json.NewDecoder(resp.Body).Decode(&hl)
			resp.Body.Close()
			if hl.Total >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("content %s: fewer than %d holders at %s within a minute", id, n, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitExitWithin waits up to d for p to exit and returns its exit code.
func waitExitWithin(p *proc, d time.Duration) (int, error) {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			if p.cmd.ProcessState != nil {
				return p.cmd.ProcessState.ExitCode(), err
			}
			return -1, err
		}
		return 0, nil
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-done
		return -1, fmt.Errorf("still running after %v; killed", d)
	}
}
