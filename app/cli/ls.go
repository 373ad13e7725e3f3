package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

// lsEntry is one row of ls --json.
type lsEntry struct {
	trackerapi.ContentInfo
	Link string `json:"link"`
}

// offloadText is the share of what the holders downloaded that came from
// peers rather than the origin server ("97%"), or "-" before any download.
func offloadText(c trackerapi.ContentInfo) string {
	share, ok := c.FromPeers()
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*share)
}

func runLs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("ls", "ls [--tracker ADDR]... [--json]", "Lists what the trackers offer: name, size, holders, availability and link.", stderr)
	var trackers trackerList
	fs.Var(&trackers, "tracker", "tracker `ADDR` (host:port); repeatable (default: trackers found on the LAN)")
	query := fs.String("q", "", "show only names containing `TEXT`")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	verbose := fs.Bool("v", false, "log more")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return usageError(fs, stderr, "ls takes no arguments")
	}
	list, err := core.Browse(ctx, core.BrowseOptions{Trackers: trackers, LAN: true, Wait: lanWait, Logger: newLogger(stderr, *verbose)},
		*query, 0, trackerapi.MaxListLimit)
	if err != nil {
		if interrupted(ctx) {
			return ExitInterrupted
		}
		fmt.Fprintf(stderr, "peerflow ls: %v\n", explain(err))
		return ExitFailure
	}
	rows := make([]lsEntry, len(list.Contents))
	for i, c := range list.Contents {
		rows[i] = lsEntry{c, content.Link{ID: c.ID, Name: c.Name, Trackers: trackers, Origin: c.Origin}.String()}
	}
	if *asJSON {
		printJSON(stdout, true, rows)
		return ExitOK
	}
	printContents(stdout, rows, terminalWidth(stdout))
	if list.Total > len(rows) {
		fmt.Fprintf(stderr, "showing %d of %d; narrow it down with -q\n", len(rows), list.Total)
	}
	return ExitOK
}

// printContents writes the ls table. width is the terminal's (0: not a
// terminal, no limit). When the whole table is wider, names are cut
// (with "…") to fit and each link, which must stay whole to be used, goes
// on its own line under its row.
func printContents(w io.Writer, rows []lsEntry, width int) {
	header := []string{"NAME", "SIZE", "HOLDERS", "AVAILABLE", "FROM PEERS", "LINK"}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{r.Name, content.FormatBytes(r.Size), strconv.Itoa(r.Holders),
			fmt.Sprintf("%.0f%%", 100*r.Availability), offloadText(r.ContentInfo), r.Link}
	}
	widths := columnWidths(header, cells)
	full := 0
	for _, cw := range widths {
		full += cw + columnGap
	}
	if width == 0 || full-columnGap <= width {
		writeColumns(w, header, cells, widths)
		return
	}
	// Without the link column, the name gets what the others leave.
	header, widths = header[:len(header)-1], widths[:len(widths)-1]
	rest := 0
	for _, cw := range widths[1:] {
		rest += cw + columnGap
	}
	widths[0] = min(widths[0], max(width-rest, minNameWidth))
	for i, r := range cells {
		r[0] = runewidth.Truncate(r[0], widths[0], "…")
		cells[i] = r[:len(r)-1]
	}
	fmt.Fprintln(w, pad(header, widths))
	for i, r := range cells {
		fmt.Fprintln(w, pad(r, widths))
		fmt.Fprintln(w, "  "+rows[i].Link)
	}
}

// columnGap is the space between columns; minNameWidth the least a
// name is cut to, however narrow the terminal.
const (
	columnGap    = 2
	minNameWidth = 12
)

// columnWidths is each column's widest cell, in terminal cells.
func columnWidths(header []string, rows [][]string) []int {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], runewidth.StringWidth(c))
		}
	}
	return widths
}

func writeColumns(w io.Writer, header []string, rows [][]string, widths []int) {
	fmt.Fprintln(w, pad(header, widths))
	for _, r := range rows {
		fmt.Fprintln(w, pad(r, widths))
	}
}

// pad joins cells, each filled out to its column's width but the last.
func pad(cells []string, widths []int) string {
	var b strings.Builder
	for i, c := range cells {
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", widths[i]-runewidth.StringWidth(c)+columnGap))
		}
	}
	return b.String()
}

// terminalWidth is the width of the terminal w writes to, or of $COLUMNS
// when set; 0 when w is not a terminal.
func terminalWidth(w io.Writer) int {
	if !isTerminal(w) {
		return 0
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if n, _, err := term.GetSize(int(w.(*os.File).Fd())); err == nil && n > 0 {
		return n
	}
	return 0
}
