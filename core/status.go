package core

import (
	"time"

	"peerflow/core/control"
	"peerflow/flow/chunkset"
)

// Status is a snapshot of what the node shares and downloads, as its
// control socket gives it to `peerflow status`.
func (n *Node) Status() control.Status {
	st := n.Stats()
	s := control.Status{Version: Version, PeerID: st.PeerID.String(), Listen: st.Addr, Time: time.Now(),
		Uploaded: st.Uploaded, Downloaded: st.Downloaded}
	for _, t := range n.Trackers() {
		s.Trackers = append(s.Trackers, control.Tracker{Addr: t.Addr, LastSuccess: t.LastSuccess, LastError: t.LastError})
	}
	items, err := n.Library()
	if err != nil {
		n.log.Warn("status: read the library", "err", err)
	}
	for _, it := range items {
		m := it.Manifest
		switch {
		case it.Complete:
			s.Shares = append(s.Shares, control.Share{ID: it.ID.String(), Name: m.Name, Size: m.Size, Path: it.Path,
				Uploaded: it.Stats.Uploaded, Peers: it.Stats.Connected, Served: it.Stats.PeersServed, Problem: it.Problem})
			continue
		case it.Download == nil: // being set up, or could not be resumed
			d := control.Download{ID: it.ID.String(), Name: m.Name, Size: m.Size, Folder: it.Folder, Chunks: m.NumChunks(),
				State: string(StateConnecting), Have: chunkset.New(m.NumChunks()).Bytes()}
			if it.Problem != "" {
				d.State, d.Err = string(StateStopped), it.Problem
			}
			s.Downloads = append(s.Downloads, d)
			continue
		}
		p := it.Download.Progress()
		d := control.Download{ID: it.ID.String(), Name: m.Name, Size: m.Size, Folder: it.Folder, State: string(p.State),
			Chunks: p.Chunks, Done: p.Done, Bytes: p.Bytes, Rate: p.Rate, Uploaded: it.Stats.Uploaded,
			Peers: p.Peers, Unavailable: p.Unavailable, Have: it.Download.Have().Bytes()}
		if p.Err != nil {
			d.Err = p.Err.Error()
		}
		s.Downloads = append(s.Downloads, d)
	}
	return s
}

// HandleOpen makes the node's control socket take links handed over by
// a second start of the desktop app (control.Open): fn shows the window
// and offers to download the link ("" only shows the window); it must
// not block. Only the
// desktop app calls it; a node without its socket ignores it.
func (n *Node) HandleOpen(fn func(link string)) {
	if n.control != nil {
		n.control.SetOpen(fn)
	}
}
