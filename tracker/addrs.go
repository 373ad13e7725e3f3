package tracker

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Address is one address a hosted tracker can be reached at, with what
// it is good for, so the window can list them all and a share link can
// carry those that make sense for others.
type Address struct {
	Addr      string // host:port
	Interface string // the network interface's name ("" for a tracker listening on one IP)
	Scope     Scope
}

// Scope says who can reach an address.
type Scope int

// Scopes, best for handing out first.
const (
	ScopeLAN      Scope = iota // a private network: the people around (192.168.x.x, 10.x, fd00::/8 …)
	ScopePublic                // a public address: anyone on the internet, if no firewall is in the way
	ScopeVirtual               // a container or VM bridge (docker0, virbr0 …): only that machine's guests
	ScopeLoopback              // this computer only
)

func (s Scope) String() string {
	switch s {
	case ScopeLAN:
		return "local network"
	case ScopePublic:
		return "internet"
	case ScopeVirtual:
		return "containers and VMs on this computer"
	}
	return "this computer only"
}

// Shareable reports whether others may reach an address of this scope:
// what a share link should name.
func (s Scope) Shareable() bool { return s == ScopeLAN || s == ScopePublic }

// ifaceAddrs is one interface's name and addresses.
type ifaceAddrs struct {
	name  string
	addrs []net.Addr
}

// systemInterfaces lists the machine's interfaces that are up.
func systemInterfaces() []ifaceAddrs {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []ifaceAddrs
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		if addrs, err := ifc.Addrs(); err == nil {
			out = append(out, ifaceAddrs{ifc.Name, addrs})
		}
	}
	return out
}

// Addresses lists where a tracker listening on listen can be reached:
// its own IP when it listens on one; for one listening on every
// interface, every address of every interface that is up (IPv6 too,
// link-local ones left out: they need a zone to be used), best first:
// LAN, public, container bridges, loopback.
func Addresses(listen net.Addr) []Address { return addressesOf(listen, systemInterfaces()) }

func addressesOf(listen net.Addr, ifs []ifaceAddrs) []Address {
	tcp, ok := listen.(*net.TCPAddr)
	if !ok {
		return nil
	}
	port := strconv.Itoa(tcp.Port)
	if tcp.IP != nil && !tcp.IP.IsUnspecified() {
		return []Address{{Addr: net.JoinHostPort(tcp.IP.String(), port), Scope: scopeOf(tcp.IP, "")}}
	}
	onlyV4 := tcp.IP != nil && tcp.IP.To4() != nil // listening on 0.0.0.0, not [::]
	var out []Address
	for _, ifc := range ifs {
		for _, a := range ifc.addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() || (onlyV4 && n.IP.To4() == nil) {
				continue
			}
			out = append(out, Address{Addr: net.JoinHostPort(n.IP.String(), port), Interface: ifc.name, Scope: scopeOf(n.IP, ifc.name)})
		}
	}
	slices.SortStableFunc(out, func(a, b Address) int {
		// IPv4 first within a scope: the address people can type.
		return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(isV6(a.Addr), isV6(b.Addr)))
	})
	return out
}

// isV6 is 1 for an IPv6 host:port, 0 for IPv4.
func isV6(hostport string) int {
	if strings.HasPrefix(hostport, "[") {
		return 1
	}
	return 0
}

// virtualPrefixes name the interfaces of container and VM bridges (a
// VPN's, such as wg0 or tun0, reach real peers and count as networks).
var virtualPrefixes = []string{"docker", "br-", "virbr", "veth", "lxcbr", "lxdbr", "cni", "podman", "vboxnet", "vmnet", "flannel", "cali"}

func scopeOf(ip net.IP, iface string) Scope {
	switch {
	case ip.IsLoopback():
		return ScopeLoopback
	case slices.ContainsFunc(virtualPrefixes, func(p string) bool { return strings.HasPrefix(iface, p) }):
		return ScopeVirtual
	case ip.IsPrivate() || isSharedCGNAT(ip):
		return ScopeLAN
	}
	return ScopePublic
}

// isSharedCGNAT reports 100.64.0.0/10, the carrier-grade NAT range (and
// what Tailscale hands out): private to its network, like a LAN.
func isSharedCGNAT(ip net.IP) bool {
	v4 := ip.To4()
	return v4 != nil && v4[0] == 100 && v4[1]&0xc0 == 64
}
