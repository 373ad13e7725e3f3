package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/coretest"
)

// TestReaderWaitsOnlyAsLongAsAsked: a Reader of a content nobody serves
// waits for its chunk until its context ends; of a paused download it
// says so at once; of a content not in the library it is refused; and a
// complete one reads like a file.
func TestReaderWaitsOnlyAsLongAsAsked(t *testing.T) {
	tr := coretest.Tracker(t)
	n := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}})
	if _, err := n.OpenContent(context.Background(), content.ID{3}); !errors.Is(err, core.ErrNotHere) {
		t.Fatalf("a content not here: %v, want ErrNotHere", err)
	}
	path, data := randomFile(t, t.TempDir(), "clip.webm", 3<<20)
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}, UpLimit: 1 << 20})
	sh, err := seeder.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := seeder.OpenContent(context.Background(), sh.Manifest.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading the complete content: %d bytes, %v", len(got), err)
	}
	r.Close()

	d, err := n.Download(context.Background(), sh.Link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	coretest.PauseAt(t, d, 1)
	r, err = n.OpenContent(context.Background(), sh.Manifest.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	have := d.Have()
	missing := -1
	for c := range have.Len() {
		if !have.Has(c) {
			missing = c
			break
		}
	}
	r.Seek(sh.Manifest.ChunkOffset(missing), io.SeekStart)
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, core.ErrPaused) {
		t.Fatalf("reading a missing chunk of a paused download: %v, want ErrPaused", err)
	}
	// Nobody serves it any more: a read waits until its context ends.
	seeder.Close()
	d.Resume()
	ctx, cancel := context.WithCancel(context.Background())
	r2, err := n.OpenContent(ctx, sh.Manifest.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	r2.Seek(sh.Manifest.ChunkOffset(missing), io.SeekStart)
	done := make(chan error, 1)
	go func() {
		_, err := r2.Read(make([]byte, 10))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a read whose context ended: %v", err)
	}
}
