package cli

import (
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"

	"peerflow/core/trackerapi"
)

func lsRows() []lsEntry {
	return []lsEntry{
		{trackerapi.ContentInfo{Name: "a rather long name for a film of the holidays.mkv", Size: 1 << 30, Holders: 12, Availability: 1}, "peerflow://c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?tr=127.0.0.1:7070"},
		{trackerapi.ContentInfo{Name: "映画のタイトルがとても長いファイル.mkv", Size: 5 << 20, Holders: 1, Availability: 0.5}, "peerflow://c/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"},
	}
}

// TestLsFitsTheTerminal: a table wider than the terminal has its names
// cut to fit and its links, whole, on lines of their own; on a wide
// terminal or into a pipe it is one row per content. (Below about 55
// columns the other columns alone are wider and the lines wrap.)
func TestLsFitsTheTerminal(t *testing.T) {
	rows := lsRows()
	for _, width := range []int{0, 300} {
		var b strings.Builder
		printContents(&b, rows, width)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 3 || !strings.Contains(lines[1], rows[0].Name) || !strings.HasSuffix(lines[1], rows[0].Link) || !strings.HasSuffix(lines[0], "LINK") {
			t.Errorf("width %d:\n%s", width, b.String())
		}
	}
	for _, width := range []int{80, 60} {
		var b strings.Builder
		printContents(&b, rows, width)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 5 {
			t.Fatalf("width %d: want a header and two lines per content:\n%s", width, b.String())
		}
		for i, l := range lines {
			if i > 0 && i%2 == 0 {
				if l != "  "+rows[i/2-1].Link {
					t.Errorf("width %d: line %d is %q, want the whole link", width, i, l)
				}
				continue
			}
			if w := runewidth.StringWidth(l); w > width {
				t.Errorf("width %d: line %d is %d wide: %q", width, i, w, l)
			}
		}
		if !strings.Contains(lines[1], "…") || !strings.Contains(lines[1], "1.1 GB") || !strings.Contains(lines[3], "50%") {
			t.Errorf("width %d: rows %q, %q", width, lines[1], lines[3])
		}
	}
}
