package discover

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/hashicorp/mdns"
)

// FuzzParseEntry feeds parseEntry the fields of an mDNS answer as any host
// on the LAN may send them (instance name, TXT strings, addresses, port):
// it never panics, and what it accepts is a valid tracker ID and a
// host:port that dials an IP address.
func FuzzParseEntry(f *testing.F) {
	f.Add("t1."+Service+".local.", "v=1\x00id=t1", []byte{127, 0, 0, 1}, []byte{}, 7070)
	f.Add("t1."+Service+".local.", "id=t1\x00v=1\x00extra", []byte{}, []byte(net.ParseIP("fe80::1").To16()), 1)
	f.Add("x._http._tcp.local.", "v=1\x00id=x", []byte{10, 0, 0, 1}, []byte{}, 80)
	f.Add("t1."+Service+".local.", "v=1\x00id=T 1\n", []byte{127, 0, 0, 1}, []byte{}, 70000)
	f.Fuzz(func(t *testing.T, name, txt string, v4, v6 []byte, port int) {
		e := &mdns.ServiceEntry{Name: name, Port: port, InfoFields: strings.Split(txt, "\x00")}
		if len(v4) == net.IPv4len {
			e.AddrV4 = net.IP(v4)
		}
		if len(v6) == net.IPv6len {
			// The library sets the zone from the interface the answer came in on.
			e.AddrV6IPAddr = &net.IPAddr{IP: net.IP(v6), Zone: "eth0"}
		}
		ev, err := parseEntry(e)
		if err != nil {
			return
		}
		if ev.Kind != Found {
			t.Fatalf("kind %v", ev.Kind)
		}
		if err := ValidateTrackerID(ev.TrackerID); err != nil {
			t.Fatalf("accepted tracker ID: %v", err)
		}
		for _, r := range ev.Addr {
			if !unicode.IsPrint(r) {
				t.Fatalf("address %q holds an unprintable rune", ev.Addr)
			}
		}
		host, p, err := net.SplitHostPort(ev.Addr)
		if err != nil {
			t.Fatalf("accepted address %q: %v", ev.Addr, err)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			t.Fatalf("accepted port %q", p)
		}
		ip, _, _ := strings.Cut(host, "%")
		if addr := net.ParseIP(ip); addr == nil || addr.IsUnspecified() || addr.IsMulticast() {
			t.Fatalf("accepted host %q is not a unicast IP address", host)
		}
	})
}
