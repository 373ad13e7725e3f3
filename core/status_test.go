package core_test

import (
	"context"
	"testing"

	"peerflow/core"
	"peerflow/core/coretest"
	"peerflow/flow/chunkset"
)

// TestStatusFollowsADownload: a node's status lists a running download
// with its chunk bitfield, and the same content as a share once done; the
// sharer's lists what it sent.
func TestStatusFollowsADownload(t *testing.T) {
	tr := coretest.Tracker(t)
	path, data := randomFile(t, t.TempDir(), "talk.webm", 4<<20)
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}, UpLimit: 4 << 20})
	shared, err := seeder.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leech := openNode(t, t.TempDir(), core.Options{})
	d, err := leech.Download(context.Background(), shared.Link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	chunk := make(chan struct{}, 1)
	cancel := d.Subscribe(func(ev core.Event) {
		if ev.Kind == core.EventChunk {
			select {
			case chunk <- struct{}{}:
			default:
			}
		}
	})
	<-chunk
	cancel()
	st := leech.Status()
	if len(st.Downloads) != 1 || len(st.Shares) != 0 || st.PeerID != leech.PeerID().String() {
		t.Fatalf("status mid-download: %+v", st)
	}
	got := st.Downloads[0]
	have, err := chunkset.FromBytes(got.Have, shared.Manifest.NumChunks())
	if err != nil || got.Name != "talk.webm" || got.Chunks != shared.Manifest.NumChunks() || have.Count() < 1 || got.Done > have.Count() { // the bitfield is read after the count
		t.Errorf("status mid-download: %+v (have %v, %v)", got, have, err)
	}
	waitDownload(t, d)
	st = leech.Status()
	if len(st.Downloads) != 0 || len(st.Shares) != 1 || st.Shares[0].Size != int64(len(data)) {
		t.Errorf("status after the download: %+v", st)
	}
	if sst := seeder.Status(); len(sst.Shares) != 1 || sst.Shares[0].Uploaded < int64(len(data)) || len(sst.Trackers) != 1 || sst.Trackers[0].Addr != tr {
		t.Errorf("the seeder's status: %+v", sst)
	}
}
