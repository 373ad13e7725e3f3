// Package discovertest keeps multicast tests off real networks.
package discovertest

import (
	"net"
	"os"
	"testing"
)

// RequireIsolatedNetwork skips t unless it runs inside an isolated network
// namespace: NETNS_RUN=1 is set (by .ci/netns) and no interface but lo
// exists, so a multicast cannot reach a real network.
func RequireIsolatedNetwork(t testing.TB) {
	t.Helper()
	const how = "multicasts: run it inside an isolated network namespace with `.ci/netns go test ./...`"
	if os.Getenv("NETNS_RUN") != "1" {
		t.Skip("NETNS_RUN is not 1; this test " + how)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Skipf("cannot list network interfaces (%v); this test %s", err, how)
	}
	for _, ifi := range ifaces {
		if ifi.Name != "lo" {
			t.Skipf("interface %s is present; this test %s", ifi.Name, how)
		}
	}
}
