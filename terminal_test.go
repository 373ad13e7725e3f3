package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"peerflow/core/testtools"
)

// TestShareShowsHashingProgress runs `peerflow share` on a large file
// under a pseudo-terminal (script(1)), as a person at a terminal does:
// a bar follows the hashing, then the link is printed.
func TestShareShowsHashingProgress(t *testing.T) {
	script := testtools.Require(t, "script")[0]
	bin := buildBinary(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.iso")
	// Sparse: 2 GiB to hash without 2 GiB of disk; long enough for the bar
	// to be drawn more than once.
	if err := os.Truncate(createEmpty(t, big), 2<<30); err != nil {
		t.Fatal(err)
	}
	// No tracker answers at 127.0.0.1:1; sharing goes on regardless.
	p := start(t, script, "-qfec", bin+" share "+big+" --tracker 127.0.0.1:1 --data "+filepath.Join(dir, "data")+
		" --listen 127.0.0.1:0", filepath.Join(dir, "typescript"))
	// The bar redraws in place (carriage returns), so it and the link
	// can come in one line of the terminal's output.
	bar, link := regexp.MustCompile(`hashing big\.iso +\d+% .*[KMG]B/s`), regexp.MustCompile(`peerflow://`)
	timeout := time.After(2 * time.Minute)
	for seen := false; ; {
		select {
		case l, ok := <-p.stdout.lines:
			if !ok {
				t.Fatal("share ended before it printed a link")
			}
			seen = seen || bar.MatchString(l)
			if link.MatchString(l) {
				if !seen {
					t.Fatalf("the link came without a hashing bar before it: %q", l)
				}
				return
			}
		case <-timeout:
			t.Fatal("no link within 2 minutes")
		}
	}
}

// createEmpty creates an empty file at path and returns path.
func createEmpty(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}
