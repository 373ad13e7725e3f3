package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"peerflow/core"
	"peerflow/tracker"
)

// runTracker runs 'peerflow tracker' until interrupted; then it flushes
// its state and exits with ExitInterrupted.
func runTracker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	defaultDB := "<user config folder>/peerflow/tracker.db"
	if dir, err := os.UserConfigDir(); err == nil {
		defaultDB = filepath.Join(dir, "peerflow", "tracker.db")
	}
	fs := newFlags("tracker", "tracker [--listen ADDR] [--db FILE] [--token T] [--no-mdns]",
		"Runs a tracker: peers announce to it which chunks they hold, and ask it who\nholds the chunks they need. Manifests, peers and leases are kept in a\ndatabase file and survive restarts. Stop it with Ctrl-C.", stderr)
	listen := addrFlag("0.0.0.0:7070")
	fs.Var(&listen, "listen", "`ADDR` (host:port) to serve the tracker API on; port 0 picks a free one")
	db := fs.String("db", defaultDB, "database `FILE`; created if missing")
	token := fs.String("token", "", "require this `T`oken to publish manifests (announcing and reading stay open)")
	noMDNS := fs.Bool("no-mdns", false, "do not advertise the tracker on the LAN over mDNS")
	trustForwarded := fs.Bool("trust-forwarded", false, "behind a reverse proxy: list peers at the address in the last X-Forwarded-For entry (never set it for a tracker reached directly)")
	verbose := fs.Bool("v", false, "log more")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return usageError(fs, stderr, "unexpected argument %q (it takes only flags)", pos[0])
	}
	if *db == defaultDB {
		if err := os.MkdirAll(filepath.Dir(*db), 0o700); err != nil {
			fmt.Fprintf(stderr, "peerflow tracker: %v (choose a database file with --db)\n", err)
			return ExitFailure
		}
	}
	h, err := tracker.Host(tracker.HostConfig{
		Config: tracker.Config{DB: *db, Token: *token, Version: core.Version, Logger: newLogger(stderr, *verbose),
			TrustForwarded: *trustForwarded},
		Listen:    string(listen),
		Advertise: !*noMDNS,
	})
	if err != nil {
		fmt.Fprintf(stderr, "peerflow tracker: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(stdout, "tracker %s listening on %s\n", h.ID(), h.Addr())
	if h.Advertised() {
		fmt.Fprintln(stdout, "advertising on the LAN over mDNS (_peerflow._tcp)")
	}
	select {
	case <-ctx.Done():
		if err := h.Stop(); err != nil {
			fmt.Fprintf(stderr, "peerflow tracker: %v\n", err)
			return ExitFailure
		}
		return ExitInterrupted
	case <-h.Done():
		fmt.Fprintf(stderr, "peerflow tracker: %v\n", h.Err())
		return ExitFailure
	}
}
