// Package sources counts what each source address holds (connections,
// handshakes), so that one host cannot crowd out the others. The tracker
// and the peer engine both use it.
package sources

import (
	"net"
	"net/netip"
	"sync"
)

// Of returns the IP of a remote address in canonical form (IPv4-mapped
// IPv6 unmapped, no zone), or the zero Addr if it has none.
func Of(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return Canonical(ap.Addr())
}

// Canonical is ip without a zone and with IPv4-mapped IPv6 unmapped, so
// that one host has one spelling.
func Canonical(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

// Counter bounds what is held at once: in all, and per source. It is
// safe for concurrent use.
type Counter struct {
	total, perSource int

	mu   sync.Mutex
	open int
	by   map[netip.Addr]int
}

// NewCounter returns a counter allowing total at once, perSource from
// one source.
func NewCounter(total, perSource int) *Counter {
	return &Counter{total: total, perSource: perSource, by: make(map[netip.Addr]int)}
}

// Take takes one for src, or reports false if a bound is reached.
func (c *Counter) Take(src netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open >= c.total || c.by[src] >= c.perSource {
		return false
	}
	c.open++
	c.by[src]++
	return true
}

// Give gives back one that Take took for src.
func (c *Counter) Give(src netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if c.by[src]--; c.by[src] <= 0 {
		delete(c.by, src)
	}
}
