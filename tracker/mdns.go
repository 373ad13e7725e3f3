package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"

	"github.com/hashicorp/mdns"

	"peerflow/core/discover"
)

// Advertise announces a tracker over mDNS (service _peerflow._tcp, TXT
// "v=1" and "id=<trackerID>") at port on ips until ctx is done or stop is
// called. stop returns once the responder is shut down; calling it again
// is harmless. It is separate from the Server because the desktop app
// turns advertising on and off with the tracker.
//
// mDNS multicasts onto the LAN: tests may call it only inside an
// isolated network namespace.
func Advertise(ctx context.Context, trackerID string, port int, ips []net.IP) (stop func(), err error) {
	if err := discover.ValidateTrackerID(trackerID); err != nil {
		return nil, fmt.Errorf("advertise tracker: %w", err)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("advertise tracker %s: port %d out of range", trackerID, port)
	}
	// Without IPs (or with a host name that is not fully qualified) the
	// library asks the system resolver; a name of our own avoids that and
	// cannot clash with another tracker on the same host.
	if len(ips) == 0 {
		return nil, fmt.Errorf("advertise tracker %s: no IP address to advertise", trackerID)
	}
	// The trackers of a fleet share an ID, and may share a LAN: the port
	// keeps their instance and host names apart.
	instance := trackerID + "-" + strconv.Itoa(port)
	host := "peerflow-" + instance + ".local."
	svc, err := mdns.NewMDNSService(instance, discover.Service, "local.", host, port, ips, discover.TXT(trackerID))
	if err != nil {
		return nil, fmt.Errorf("advertise tracker %s: %w", trackerID, err)
	}
	srv, err := mdns.NewServer(&mdns.Config{Zone: svc, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return nil, fmt.Errorf("advertise tracker %s: %w", trackerID, err)
	}
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-quit:
		}
		srv.Shutdown()
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-stopped
	}, nil
}

// AdvertiseIPs returns the addresses to advertise for a tracker listening
// on addr: 127.0.0.1 when it listens on loopback, its own IP when it
// listens on one, else the machine's non-loopback IPv4 addresses.
func AdvertiseIPs(addr net.Addr) ([]net.IP, error) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("advertise: %v is not a TCP address", addr)
	}
	switch {
	case tcp.IP.IsLoopback():
		return []net.IP{net.IPv4(127, 0, 0, 1)}, nil
	case tcp.IP != nil && !tcp.IP.IsUnspecified():
		return []net.IP{tcp.IP}, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("advertise: list addresses: %w", err)
	}
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ips = append(ips, n.IP.To4())
		}
	}
	if len(ips) == 0 {
		return nil, errors.New("advertise: no non-loopback IPv4 address")
	}
	return ips, nil
}
