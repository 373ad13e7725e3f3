package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

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
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rows)
		return ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tHOLDERS\tAVAILABLE\tFROM PEERS\tLINK")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f%%\t%s\t%s\n", r.Name, content.FormatBytes(r.Size), r.Holders, 100*r.Availability, offloadText(r.ContentInfo), r.Link)
	}
	tw.Flush()
	if list.Total > len(rows) {
		fmt.Fprintf(stderr, "showing %d of %d; narrow it down with -q\n", len(rows), list.Total)
	}
	return ExitOK
}
