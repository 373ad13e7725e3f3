package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"peerflow/core"
	"peerflow/core/content"
)

// lanWait is how long commands without --tracker wait for a tracker to
// answer on the LAN.
const lanWait = 3 * time.Second

// getResult is the --json output of get.
type getResult struct {
	ContentID   string           `json:"content_id"`
	Name        string           `json:"name"`
	Path        string           `json:"path"`
	Bytes       int64            `json:"bytes"`
	Seconds     float64          `json:"seconds"`
	Sources     map[string]int64 `json:"sources"`
	OriginBytes int64            `json:"origin_bytes"`
	// SeederBytes came from peers that held the whole content (the sharer,
	// or peers done before), PeerBytes from peers that were downloading it
	// themselves; with OriginBytes they add up to Bytes.
	SeederBytes int64 `json:"seeder_bytes"`
	PeerBytes   int64 `json:"peer_bytes"`
	Refetched   int   `json:"refetched_chunks"`
}

func newGetResult(d *core.Download, r core.Result) getResult {
	return getResult{
		ContentID: d.ID().String(), Name: d.Manifest().Name, Path: r.Path,
		Bytes: r.Bytes, Seconds: (r.Duration + r.Finishing).Seconds(),
		Sources: r.Sources, OriginBytes: r.OriginBytes, SeederBytes: r.SeederBytes, PeerBytes: r.PeerBytes,
		Refetched: r.Refetched,
	}
}

func runGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("get", "get LINK|ID [--tracker ADDR]... [-o DIR] [--data DIR] [--listen ADDR] [--seed] [--down-limit RATE] [--up-limit RATE] [--timeout DUR] [--json]",
		"Downloads a shared file from the peers that hold it, verifying every chunk.\nWhile it downloads it serves the chunks it has to other peers. Interrupted\n(Ctrl-C), it resumes where it stopped when run again with the same --data.", stderr)
	var trackers trackerList
	fs.Var(&trackers, "tracker", "tracker `ADDR` (host:port); repeatable (default: those in the link and on the LAN)")
	out := fs.String("o", ".", "`DIR` to save the file in; made if missing")
	data := fs.String("data", "", "data `DIR` (default: the user config folder + /peerflow)")
	listen := addrFlag("0.0.0.0:0")
	fs.Var(&listen, "listen", "`ADDR` (host:port) where other peers connect; port 0 picks a free one")
	seed := fs.Bool("seed", false, "keep seeding after the download, until interrupted")
	var downLimit, upLimit rateFlag
	fs.Var(&downLimit, "down-limit", "download rate limit `RATE`, e.g. 500KB/s, 20MB/s; 0 = unlimited")
	fs.Var(&upLimit, "up-limit", "upload rate limit `RATE`; 0 = unlimited")
	timeout := fs.Duration("timeout", time.Minute, "give up when no data arrived for `DUR` (e.g. 30s, 5m); 0 = wait forever")
	asJSON := fs.Bool("json", false, "print one JSON object with the result at the end")
	verbose := fs.Bool("v", false, "log more")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return usageError(fs, stderr, "name exactly one link or content ID")
	}
	if *timeout < 0 {
		return usageError(fs, stderr, "--timeout must not be negative")
	}
	fail := func(err error) int {
		if interrupted(ctx) {
			fmt.Fprintln(stderr, "peerflow get: interrupted; run the same command again to resume")
			return ExitInterrupted
		}
		fmt.Fprintf(stderr, "peerflow get: %v\n", explain(err))
		return ExitFailure
	}
	link := pos[0]
	n, noTracker, err := openGetter(ctx, *data, link, trackers, core.Options{
		Listen: string(listen), UpLimit: int64(upLimit), DownLimit: int64(downLimit), Logger: newLogger(stderr, *verbose),
	})
	if err != nil {
		return fail(err)
	}
	defer n.Close()
	if noTracker != nil {
		return fail(noTracker)
	}
	undo, err := makeFolder(*out)
	if err != nil {
		return fail(err)
	}
	d, err := n.Download(ctx, link, *out)
	if err != nil {
		undo()
		return fail(err)
	}
	var lastData atomic.Int64 // unix nanos of the last chunk
	lastData.Store(time.Now().UnixNano())
	unsubscribe := d.Subscribe(func(ev core.Event) {
		if ev.Kind == core.EventChunk {
			lastData.Store(ev.At.UnixNano())
		}
	})
	defer unsubscribe()
	stopProgress := showProgress(d, stderr)
	r, err := waitWithTimeout(ctx, d, *timeout, &lastData)
	stopProgress(err == nil)
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		printJSON(stdout, true, newGetResult(d, r))
	} else {
		fmt.Fprintf(stderr, "saved %s (%s in %.1fs)%s\n", r.Path, content.FormatBytes(r.Bytes), (r.Duration + r.Finishing).Seconds(), sharesText(r))
	}
	if *seed {
		fmt.Fprintf(stderr, "seeding on %s; press Ctrl-C to stop\n", n.Addr())
		<-ctx.Done()
	}
	return ExitOK
}

// makeFolder makes dir and its missing parents (as wget -P and aria2c -d
// do), and returns a func that removes what it made, as long as it is
// still empty: a download that could not start leaves no trace.
func makeFolder(dir string) (undo func(), err error) {
	var made []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		made = append(made, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the download folder: %w", err)
	}
	return func() {
		for _, d := range made { // the deepest first
			if os.Remove(d) != nil {
				return
			}
		}
	}, nil
}

// openGetter opens the node of a command that fetches link, with the
// trackers given, else the link's, else those found on the LAN: then it
// waits (up to lanWait) for one, and noTracker says if none answered.
func openGetter(ctx context.Context, data, link string, trackers []string, opts core.Options) (n *core.Node, noTracker, err error) {
	dir, err := dataDir(data)
	if err != nil {
		return nil, nil, err
	}
	opts.Trackers, opts.LAN = trackers, len(trackers) == 0 && !linkNamesTrackers(link)
	if n, err = core.Open(dir, opts); err != nil {
		return nil, nil, err
	}
	if opts.LAN {
		waitCtx, cancel := context.WithTimeout(ctx, lanWait)
		noTracker = n.WaitForTracker(waitCtx)
		cancel()
	}
	return n, noTracker, nil
}

// sharesText says where the bytes of r came from, for the "saved" line:
// "; 48% from seeders, 52% from other peers", with the origin server's
// share first when it sent any; "" when nothing was fetched.
func sharesText(r core.Result) string {
	if r.Bytes <= 0 {
		return ""
	}
	parts := []int64{r.OriginBytes, r.SeederBytes, r.PeerBytes}
	names := []string{"from the origin server", "from seeders", "from other peers"}
	pct := percentages(parts)
	var out []string
	for i, name := range names {
		if i == 0 && parts[i] == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%d%% %s", pct[i], name))
	}
	return "; " + strings.Join(out, ", ")
}

// percentages rounds the shares of parts in their sum to whole percents
// that add up to 100 (largest remainder), so a line never says 49% and
// 50%.
func percentages(parts []int64) []int {
	var sum int64
	for _, p := range parts {
		sum += p
	}
	pct := make([]int, len(parts))
	if sum <= 0 {
		return pct
	}
	rem := make([]int64, len(parts))
	left := 100
	for i, p := range parts {
		pct[i] = int(p * 100 / sum)
		rem[i] = p * 100 % sum
		left -= pct[i]
	}
	for ; left > 0; left-- {
		best := -1
		for i := range parts {
			if rem[i] > 0 && (best < 0 || rem[i] > rem[best]) {
				best = i
			}
		}
		pct[best]++
		rem[best] = 0
	}
	return pct
}

// linkNamesTrackers reports whether a share link carries tr= hints.
func linkNamesTrackers(link string) bool { return strings.Contains(link, "tr=") }

// errNoPeers says what to do when nothing arrives.
var errNoPeers = errors.New("no peer sent any data in time: nobody online holds this content (or its missing chunks); try again later or pass a longer --timeout")

// waitWithTimeout waits for the download, giving up when no chunk arrived
// for timeout (0: never).
func waitWithTimeout(ctx context.Context, d *core.Download, timeout time.Duration, lastData *atomic.Int64) (core.Result, error) {
	if timeout == 0 {
		return d.Wait(ctx)
	}
	tick := time.NewTicker(min(timeout/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-d.Done():
			return d.Wait(ctx)
		case <-ctx.Done():
			return core.Result{}, ctx.Err()
		case now := <-tick.C:
			if now.Sub(time.Unix(0, lastData.Load())) > timeout {
				p := d.Progress()
				if p.Unavailable > 0 {
					return core.Result{}, fmt.Errorf("%d of %d chunks are held by no reachable peer: %w", p.Unavailable, p.Chunks, errNoPeers)
				}
				return core.Result{}, errNoPeers
			}
		}
	}
}
