package tracker

import (
	"net"
	"slices"
	"testing"
)

func ipNet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

// TestAddresses: a tracker on every interface lists every address, LAN
// first (IPv4 before IPv6), then public, then container bridges, then
// loopback; link-local addresses, which need a zone, are left out; one
// listening on a single IP has that one.
func TestAddresses(t *testing.T) {
	ifs := []ifaceAddrs{
		{"lo", []net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128")}},
		{"docker0", []net.Addr{ipNet("172.17.0.1/16")}},
		{"eth0", []net.Addr{ipNet("203.0.113.7/24"), ipNet("fe80::1/64")}},
		{"wlan0", []net.Addr{ipNet("192.168.1.20/24"), ipNet("fd12:3456::20/64")}},
		{"tailscale0", []net.Addr{ipNet("100.101.102.103/32")}},
	}
	got := addressesOf(&net.TCPAddr{IP: net.IPv6unspecified, Port: 7070}, ifs)
	want := []Address{
		{"192.168.1.20:7070", "wlan0", ScopeLAN},
		{"100.101.102.103:7070", "tailscale0", ScopeLAN},
		{"[fd12:3456::20]:7070", "wlan0", ScopeLAN},
		{"203.0.113.7:7070", "eth0", ScopePublic},
		{"172.17.0.1:7070", "docker0", ScopeVirtual},
		{"127.0.0.1:7070", "lo", ScopeLoopback},
		{"[::1]:7070", "lo", ScopeLoopback},
	}
	if !slices.Equal(got, want) {
		t.Errorf("on [::]:\n got %v\nwant %v", got, want)
	}
	v4 := addressesOf(&net.TCPAddr{IP: net.IPv4zero, Port: 7070}, ifs)
	if len(v4) != 5 || v4[0].Addr != "192.168.1.20:7070" {
		t.Errorf("on 0.0.0.0 (IPv4 only): %v", v4)
	}
	one := addressesOf(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, ifs)
	if len(one) != 1 || one[0] != (Address{Addr: "127.0.0.1:9", Scope: ScopeLoopback}) {
		t.Errorf("on 127.0.0.1: %v", one)
	}
	for _, s := range []Scope{ScopeLAN, ScopePublic} {
		if !s.Shareable() {
			t.Errorf("%v is not shareable", s)
		}
	}
	if ScopeVirtual.Shareable() || ScopeLoopback.Shareable() {
		t.Error("a bridge or loopback address would go into links")
	}
}
