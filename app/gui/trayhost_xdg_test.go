//go:build linux || freebsd || netbsd || openbsd || dragonfly

package gui

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"peerflow/core/testtools"
)

// TestTrayHostRunning: on a session bus of its own (dbus-daemon, a Unix
// socket in a temporary folder), there is no tray host until someone
// owns org.kde.StatusNotifierWatcher, as a desktop's panel does; with no
// session bus at all there is none either.
func TestTrayHostRunning(t *testing.T) {
	daemon := testtools.Require(t, "dbus-daemon")[0]
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "none"))
	if trayHostRunning() {
		t.Fatal("a tray host without a session bus")
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 512) // the daemon prints its address once it listens
	if n, err := out.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "unix:") {
		t.Fatalf("dbus-daemon printed %q (%v)", buf[:n], err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	if trayHostRunning() {
		t.Fatal("a tray host on a bus where nobody shows tray icons")
	}
	panel, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer panel.Close()
	if reply, err := panel.RequestName("org.kde.StatusNotifierWatcher", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("become the watcher: %v, %v", reply, err)
	}
	if !trayHostRunning() {
		t.Error("no tray host while the watcher runs")
	}
}
