package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"peerflow/core/control"
)

func status(args ...string) (int, string, string) { return run("status", args...) }

// TestStatusShowsARunningNode: status finds the node running on a data
// folder and shows what it shares, as a table and as JSON.
func TestStatusShowsARunningNode(t *testing.T) {
	net := newTestNetwork(t)
	dir := net.sharer.DataDir()
	code, out, errOut := status("--data", dir, "--interval", "10ms")
	if code != ExitOK {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"peer " + net.sharer.PeerID().Short(), "tracker " + net.tracker, "SHARING", net.name, "1.0 MB"} {
		if !strings.Contains(out, want) {
			t.Errorf("status shows no %q:\n%s", want, out)
		}
	}
	code, out, errOut = status("--data", dir, "--interval", "0", "--json")
	if code != ExitOK {
		t.Fatalf("status --json: exit %d: %s", code, errOut)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json printed no status: %v\n%s", err, out)
	}
	if st.PeerID != net.sharer.PeerID().String() || len(st.Shares) != 1 || st.Shares[0].Name != net.name || st.Shares[0].Size != int64(len(net.data)) {
		t.Errorf("status --json: %+v", st)
	}
}

// TestStatusWithoutANode says no node runs there and how to start one.
func TestStatusWithoutANode(t *testing.T) {
	code, _, errOut := status("--data", t.TempDir(), "--interval", "0")
	if code != ExitFailure || !strings.Contains(errOut, "no node is running on this data folder") {
		t.Errorf("status on an empty folder: exit %d, %q", code, errOut)
	}
	if code, _, _ := status("--interval", "-1s"); code != ExitUsage {
		t.Errorf("status --interval -1s: exit %d, want %d", code, ExitUsage)
	}
}
