package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"peerflow/core"
)

// buildBinary builds peerflow into a temporary folder and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "peerflow")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// headlessEnv is the environment without any display, so a command that
// tried to start a GUI driver would fail.
func headlessEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DISPLAY=") || strings.HasPrefix(kv, "WAYLAND_DISPLAY=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func TestTerminalCommandsNeedNoDisplay(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		stdoutNone bool
	}{
		{args: []string{"version"}, code: 0, stdout: "peerflow " + core.Version},
		{args: []string{"help"}, code: 0, stdout: "Usage:"},
		{args: []string{"frobnicate"}, code: 2, stderr: "Usage:", stdoutNone: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = headlessEnv()
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.stderr)
			}
			if tt.stdoutNone && stdout.Len() > 0 {
				t.Errorf("stdout should be empty, got %q", stdout.String())
			}
		})
	}
}

// TestFyneAppVersion keeps FyneApp.toml's version (used by `fyne package`)
// equal to the one the binary reports.
func TestFyneAppVersion(t *testing.T) {
	f, err := os.Open("FyneApp.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(s.Text()), "=")
		if ok && strings.TrimSpace(key) == "Version" {
			if got := strings.Trim(strings.TrimSpace(value), `"`); got != core.Version {
				t.Errorf("FyneApp.toml Version = %q, core.Version = %q", got, core.Version)
			}
			return
		}
	}
	t.Fatal("FyneApp.toml has no Version")
}

func TestOpensDesktop(t *testing.T) {
	for arg, want := range map[string]bool{
		"--data":           true,
		"--data=/tmp/x":    true,
		"-data":            true,
		"-v":               true,
		"peerflow://abc":   true,
		"get":              false,
		"version":          false,
		"--version":        false,
		"-h":               false,
		"--datadir":        false,
		"http://peerflow/": false,
	} {
		if got := opensDesktop(arg); got != want {
			t.Errorf("opensDesktop(%q) = %v, want %v", arg, got, want)
		}
	}
}
