// Package coretest has helpers for tests of the front ends that run real
// nodes (on 127.0.0.1).
package coretest

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"peerflow/core"
	"peerflow/tracker"
)

// PauseAt waits until download d holds at least chunks chunks, then
// pauses it: a peer that is downloading the content itself and serves
// what it has. It fails t if that takes over a minute or if d finished
// first.
func PauseAt(t testing.TB, d *core.Download, chunks int) {
	t.Helper()
	// Wait on chunk events; the check after subscribing covers chunks
	// that came before.
	got := make(chan struct{})
	var once sync.Once
	enough := func() {
		if d.Progress().Done >= chunks {
			once.Do(func() { close(got) })
		}
	}
	unsubscribe := d.Subscribe(func(ev core.Event) {
		if ev.Kind == core.EventChunk {
			enough()
		}
	})
	enough()
	select {
	case <-got:
	case <-time.After(time.Minute):
		t.Fatalf("the partial holder got %d of %d chunks in a minute", d.Progress().Done, chunks)
	}
	unsubscribe()
	if err := d.Pause(); err != nil {
		t.Fatal(err)
	}
	if p := d.Progress(); p.Done == p.Chunks {
		t.Fatalf("the partial holder finished before it paused: %d chunks", p.Done)
	}
}

// Tracker runs a tracker on 127.0.0.1 for the test and returns its
// address; it stops when the test ends.
func Tracker(t testing.TB) string {
	t.Helper()
	h, err := tracker.Host(tracker.HostConfig{
		Config: tracker.Config{DB: filepath.Join(t.TempDir(), "tracker.db"), Version: core.Version},
		Listen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() })
	return h.Addr().String()
}
