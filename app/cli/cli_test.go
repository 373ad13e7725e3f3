package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "peerflow 0.", ""},
		{[]string{"--version"}, 0, "peerflow 0.", ""},
		{[]string{"version", "--json"}, 0, `{"arch":"`, ""},
		{[]string{"help"}, 0, "Commands:", ""},
		{[]string{"-h"}, 0, "Commands:", ""},
		{[]string{"nope"}, ExitUsage, "", `unknown command "nope"`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), tt.args, &stdout, &stderr); code != tt.code {
			t.Errorf("%v: exit %d, want %d", tt.args, code, tt.code)
		}
		if !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%v: stdout %q stderr %q", tt.args, stdout.String(), stderr.String())
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"500KB/s", 500_000},
		{"20MB/s", 20_000_000},
		{"1GB/s", 1_000_000_000},
		{"1.5MB/s", 1_500_000},
		{"64KiB/s", 65536},
		{"2MiB/s", 2 << 20},
		{"20mb/s", 20_000_000},
		{"20M", 20_000_000},
		{"100", 100},
		{"100B/s", 100},
		{" 3 MB/s ", 3_000_000},
		{"10MBps", 10_000_000},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "fast", "-1MB/s", "1TB/s", "MB/s", "1e400", "NaN", "0.5", "1 2MB/s", "5/s/s"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	tests := []struct {
		args      []string
		pos       []string
		trackers  []string
		out, json string
	}{
		{[]string{"LINK", "--tracker", "h:1", "-o", "dir"}, []string{"LINK"}, []string{"h:1"}, "dir", "false"},
		{[]string{"--tracker", "h:1", "LINK", "--tracker=h:2", "--json"}, []string{"LINK"}, []string{"h:1", "h:2"}, ".", "true"},
		{[]string{"a", "b", "-o", "x", "c"}, []string{"a", "b", "c"}, nil, "x", "false"},
		{[]string{"-o", "x", "--", "-not-a-flag"}, []string{"-not-a-flag"}, nil, "x", "false"},
	}
	for _, tt := range tests {
		fs := newFlags("get", "", "", new(bytes.Buffer))
		var trackers trackerList
		fs.Var(&trackers, "tracker", "")
		out := fs.String("o", ".", "")
		asJSON := fs.Bool("json", false, "")
		pos, err := parseArgs(fs, tt.args)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if strings.Join(pos, " ") != strings.Join(tt.pos, " ") || strings.Join(trackers, " ") != strings.Join(tt.trackers, " ") ||
			*out != tt.out || fmt.Sprint(*asJSON) != tt.json {
			t.Errorf("%v: pos %v trackers %v o %q json %v", tt.args, pos, trackers, *out, *asJSON)
		}
	}
}

func TestBadFlagValuesExit2(t *testing.T) {
	for _, args := range [][]string{
		{"get", "LINK", "--down-limit", "fast"},
		{"get", "LINK", "--tracker", "nohost"},
		{"get", "LINK", "--listen", "1.2.3.4"},
		{"get", "LINK", "--timeout", "soon"},
		{"get", "LINK", "--timeout", "-1s"},
		{"get"},
		{"get", "a", "b"},
		{"share"},
		{"share", "f", "--up-limit", "x"},
		{"ls", "extra"},
		{"get", "LINK", "--bogus"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), args, &stdout, &stderr); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, ExitUsage, stderr.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	want := map[string][]string{
		"share":   {"-tracker", "-listen", "-data", "-origin", "-up-limit", "-token"},
		"get":     {"-tracker", "-o", "-data", "-listen", "-seed", "-down-limit", "-up-limit", "-timeout", "-json"},
		"ls":      {"-tracker", "-json"},
		"tracker": {"-listen", "-db", "-token", "-no-mdns"},
	}
	for cmd, flags := range want {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), []string{cmd, "-h"}, &stdout, &stderr); code != ExitOK {
			t.Errorf("%s -h: exit %d", cmd, code)
		}
		for _, f := range flags {
			if !strings.Contains(stderr.String(), "  "+f) {
				t.Errorf("%s -h does not document %s:\n%s", cmd, f, stderr.String())
			}
		}
	}
}
