package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"peerflow/core/content"
	"peerflow/core/control"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [--data DIR] [--interval DUR] [--json]",
		"Shows what the node running on the data folder (peerflow share, get, or the app)\nshares and downloads, and its rates over --interval.", stderr)
	data := fs.String("data", "", "data `DIR` of the running node (default: the user config folder + /peerflow)")
	interval := fs.Duration("interval", time.Second, "measure the rates over `DUR`; 0 shows totals only")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return usageError(fs, stderr, "status takes no arguments")
	}
	if *interval < 0 {
		return usageError(fs, stderr, "--interval must not be negative")
	}
	dir, err := dataDir(*data)
	if err != nil {
		fmt.Fprintf(stderr, "peerflow status: %v\n", err)
		return ExitFailure
	}
	st, err := control.Sample(ctx, dir, *interval)
	if err != nil {
		if interrupted(ctx) {
			return ExitInterrupted
		}
		if errors.Is(err, control.ErrNotRunning) {
			err = fmt.Errorf("%w (start one with peerflow share, get or the app, or pass its --data)", err)
		}
		fmt.Fprintf(stderr, "peerflow status: %v\n", err)
		return ExitFailure
	}
	if *asJSON {
		printJSON(stdout, true, st)
		return ExitOK
	}
	printStatus(stdout, st, *interval > 0)
	return ExitOK
}

// printStatus writes st as a human reads it: the node, its trackers, then
// a table of shares and one of downloads. Rate columns only with rates.
func printStatus(w io.Writer, st control.Status, rates bool) {
	rate := func(r float64) string {
		if !rates {
			return "-"
		}
		return FormatRate(int64(r))
	}
	id := st.PeerID
	if len(id) > 8 {
		id = id[:8]
	}
	fmt.Fprintf(w, "peer %s, listening on %s; sent %s (%s), received %s (%s)\n", id, st.Listen,
		content.FormatBytes(st.Uploaded), rate(st.UpRate), content.FormatBytes(st.Downloaded), rate(st.DownRate))
	if len(st.Trackers) == 0 {
		fmt.Fprintln(w, "no tracker known")
	}
	for _, t := range st.Trackers {
		switch {
		case t.LastError != "":
			fmt.Fprintf(w, "tracker %s: %s\n", t.Addr, t.LastError)
		case t.LastSuccess.IsZero():
			fmt.Fprintf(w, "tracker %s: not reached yet\n", t.Addr)
		default:
			fmt.Fprintf(w, "tracker %s: answered %s ago\n", t.Addr, st.Time.Sub(t.LastSuccess).Round(time.Second))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(st.Shares) > 0 {
		fmt.Fprintf(tw, "\nSHARING\tSIZE\tSENT\tUP\tPEERS\n")
		for _, s := range st.Shares {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d", s.Name, content.FormatBytes(s.Size), content.FormatBytes(s.Uploaded), rate(s.UpRate), s.Peers)
			if s.Problem != "" {
				fmt.Fprintf(tw, "\t%s", s.Problem)
			}
			fmt.Fprintln(tw)
		}
	}
	if len(st.Downloads) > 0 {
		fmt.Fprintf(tw, "\nDOWNLOADING\tSIZE\tDONE\tDOWN\tUP\tPEERS\tSTATE\n")
		for _, d := range st.Downloads {
			done := "-"
			if d.Size > 0 {
				done = fmt.Sprintf("%.0f%%", 100*float64(d.Bytes)/float64(d.Size))
			}
			state := d.State
			if d.Err != "" {
				state += ": " + d.Err
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Name, content.FormatBytes(d.Size), done, FormatRate(int64(d.Rate)), rate(d.UpRate), d.Peers, state)
		}
	}
	if len(st.Shares)+len(st.Downloads) == 0 {
		fmt.Fprintln(tw, "\nnothing shared or downloading")
	}
	tw.Flush()
}
