package sources

import (
	"net"
	"net/netip"
	"testing"
)

func TestCounter(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	c := NewCounter(3, 2)
	if !c.Take(a) || !c.Take(a) || c.Take(a) {
		t.Fatal("per-source bound of 2 not kept")
	}
	if !c.Take(b) || c.Take(b) {
		t.Fatal("total bound of 3 not kept")
	}
	c.Give(a)
	if !c.Take(b) || c.Take(a) {
		t.Fatal("a slot given back was not reused, or the bound moved")
	}
	c.Give(a)
	c.Give(b)
	c.Give(b)
	if len(c.by) != 0 || c.open != 0 {
		t.Fatalf("counts left: %v, %d open", c.by, c.open)
	}
}

func TestOf(t *testing.T) {
	for in, want := range map[net.Addr]string{
		&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.2"), Port: 1}:      "127.0.0.2",
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"}: "fe80::1",
		&net.UnixAddr{Name: "/x", Net: "unix"}:                          "invalid IP",
	} {
		if got := Of(in).String(); got != want {
			t.Errorf("Of(%v) = %s, want %s", in, got, want)
		}
	}
}
