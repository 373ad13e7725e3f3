// Package discovertest keeps multicast tests off real networks.
package discovertest

import (
	"net"
	"os"
	"testing"
)

// RequireIsolatedNetwork skips t unless it runs inside an isolated network
// namespace: NETNS_RUN=1 is set (by .ci/netns) and no interface but lo
// exists, so a multicast cannot reach a real network. With
// PEERFLOW_REQUIRE_MDNS=1 (CI sets it) a skip is a failure instead, so the
// multicast tests cannot silently stop running.
func RequireIsolatedNetwork(t testing.TB) {
	t.Helper()
	const how = "multicasts: run it inside an isolated network namespace with `.ci/netns go test ./...`"
	skip := t.Skipf
	if os.Getenv("PEERFLOW_REQUIRE_MDNS") == "1" {
		skip = t.Fatalf
	}
	if os.Getenv("NETNS_RUN") != "1" {
		skip("NETNS_RUN is not 1; this test %s", how)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		skip("cannot list network interfaces (%v); this test %s", err, how)
	}
	for _, ifi := range ifaces {
		if ifi.Name != "lo" {
			skip("interface %s is present; this test %s", ifi.Name, how)
		}
	}
}
