package tracker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// HostConfig says how to host a tracker on this computer.
type HostConfig struct {
	Config
	Listen    string // host:port; port 0 picks a free one
	Advertise bool   // announce it on the LAN over mDNS
}

// Hosted is a running tracker: open, listening, serving, and maybe
// advertised. Both front ends host trackers through it (the terminal's
// `peerflow tracker`, the desktop's "Host a tracker" toggle).
type Hosted struct {
	srv          *Server
	addr         net.Addr
	addresses    []Address
	reachable    string
	advertised   bool
	advertiseErr error
	cancel       context.CancelFunc
	done         chan struct{} // closed when serving ended and the database is closed
	err          error         // why serving ended; set before done closes
}

// Host opens the tracker database, listens and starts serving. An mDNS
// advertisement that fails does not stop the tracker; Advertised says
// whether it runs, AdvertiseErr why not.
func Host(cfg HostConfig) (*Hosted, error) {
	srv, err := Open(cfg.Config)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("tracker: listen on %s: %w (is another tracker running? choose another port)", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hosted{srv: srv, addr: l.Addr(), cancel: cancel, done: make(chan struct{})}
	port := l.Addr().(*net.TCPAddr).Port
	ips, ipErr := AdvertiseIPs(l.Addr())
	h.addresses = Addresses(l.Addr())
	h.reachable = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if len(h.addresses) > 0 {
		h.reachable = h.addresses[0].Addr // the best: Addresses sorts them
	}
	var stopAdvertising func()
	if cfg.Advertise {
		h.advertiseErr = ipErr
		if ipErr == nil {
			stopAdvertising, h.advertiseErr = Advertise(ctx, srv.ID(), port, ips)
		}
		if h.advertiseErr != nil {
			srv.log.Warn("not advertising the tracker on the LAN", "err", h.advertiseErr)
		}
		h.advertised = h.advertiseErr == nil
	}
	go func() {
		err := srv.Serve(ctx, l)
		if stopAdvertising != nil {
			stopAdvertising()
		}
		h.err = errors.Join(err, srv.Close())
		close(h.done)
	}()
	return h, nil
}

// Addr is where the tracker listens.
func (h *Hosted) Addr() net.Addr { return h.addr }

// ID is the tracker's persistent ID.
func (h *Hosted) ID() string { return h.srv.ID() }

// Store names the store the tracker keeps its records in.
func (h *Hosted) Store() string { return h.srv.Store() }

// Reachable is the address other computers use: the best of Addresses
// (a LAN address of a tracker listening on every interface), 127.0.0.1
// for one on loopback.
func (h *Hosted) Reachable() string { return h.reachable }

// Addresses are every address the tracker can be reached at, best first
// (see Addresses).
func (h *Hosted) Addresses() []Address { return h.addresses }

// Advertised reports whether the tracker is announced on the LAN.
func (h *Hosted) Advertised() bool { return h.advertised }

// AdvertiseErr says why a tracker asked to advertise is not advertised.
func (h *Hosted) AdvertiseErr() error { return h.advertiseErr }

// Done is closed when the tracker has stopped, by Stop or on an error.
func (h *Hosted) Done() <-chan struct{} { return h.done }

// Err is why the tracker stopped (nil after a plain Stop); valid once Done
// is closed.
func (h *Hosted) Err() error {
	<-h.done
	return h.err
}

// Stop stops serving and advertising, flushes and closes the database,
// and waits until all of it is done. It may be called more than once.
func (h *Hosted) Stop() error {
	h.cancel()
	return h.Err()
}
