package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
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
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- runTracker(ctx, []string{"--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "t.db"), "--no-mdns"}, w, &stderr)
		w.Close()
	}()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, r)
	addr := strings.TrimSpace(line[strings.LastIndex(line, " "):])
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
