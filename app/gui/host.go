package gui

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"peerflow/core"
	"peerflow/tracker"
)

// defaultTrackerListen are the addresses a hosted tracker tries in turn:
// the port `peerflow tracker` uses, so people who type an address by hand
// can guess it, else any free port (mDNS tells the LAN which).
var defaultTrackerListen = []string{"0.0.0.0:7070", "0.0.0.0:0"}

// trackerHost runs the tracker this computer can host for its LAN (the
// "Host a tracker" toggle) through tracker.Host: its database lives in the
// node's data folder, and it is advertised over mDNS when the Config
// allows. It is safe for concurrent use.
type trackerHost struct {
	listen    []string
	advertise bool
	db        string
	log       *slog.Logger

	mu      sync.Mutex
	running *tracker.Hosted // nil while not hosting
}

// hostStatus describes a hosted tracker for the Trackers tab.
type hostStatus struct {
	Addr         string            // where this node and others reach it
	Addresses    []tracker.Address // every address it can be reached at, best first
	ID           string
	Advertised   bool
	AdvertiseErr error // why it is not advertised, when it should be
}

func newTrackerHost(cfg Config, dataDir string) *trackerHost {
	h := &trackerHost{listen: defaultTrackerListen, advertise: cfg.Advertise, db: filepath.Join(dataDir, "tracker.db"), log: cfg.Logger}
	if cfg.TrackerListen != "" {
		h.listen = []string{cfg.TrackerListen}
	}
	return h
}

func statusOf(t *tracker.Hosted) hostStatus {
	return hostStatus{Addr: t.Reachable(), Addresses: t.Addresses(), ID: t.ID(), Advertised: t.Advertised(), AdvertiseErr: t.AdvertiseErr()}
}

// start hosts the tracker on the first free listen address, or returns
// the one already hosted.
func (h *trackerHost) start() (hostStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running != nil {
		return statusOf(h.running), nil
	}
	var errs []error
	for _, addr := range h.listen {
		t, err := tracker.Host(tracker.HostConfig{
			Config:    tracker.Config{DB: h.db, Version: core.Version, Logger: h.log},
			Listen:    addr,
			Advertise: h.advertise,
		})
		if err == nil {
			h.running = t
			return statusOf(t), nil
		}
		errs = append(errs, err)
	}
	return hostStatus{}, fmt.Errorf("host a tracker: %w", errors.Join(errs...))
}

// stop stops hosting: advertising ends, requests in flight finish, the
// database is flushed and closed. Stopping when not hosting does nothing.
func (h *trackerHost) stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == nil {
		return nil
	}
	err := h.running.Stop()
	h.running = nil
	return err
}

// maxLinkAddrs bounds the hosted tracker's addresses a share link names
// (a link carries at most 4 tracker hints).
const maxLinkAddrs = 4

// linkAddrs are the addresses of st that share links name, so that
// whoever gets a link finds the tracker from the network they are on:
// Addr (the best one, which this node uses), then the others that others
// can reach (local network, internet), up to maxLinkAddrs; never a
// container bridge's or loopback, unless Addr is one (a tracker on
// loopback, in tests).
func (st hostStatus) linkAddrs() []string {
	out := []string{st.Addr}
	for _, a := range st.Addresses {
		if a.Scope.Shareable() && a.Addr != st.Addr && len(out) < maxLinkAddrs {
			out = append(out, a.Addr)
		}
	}
	return out
}
