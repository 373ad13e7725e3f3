package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/gateway"
)

func runStream(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("stream", "stream LINK|ID [--listen ADDR] [--open] [--tracker ADDR]... [-o DIR] [--data DIR] [--peer-listen ADDR] [--down-limit RATE] [--up-limit RATE] [--json]",
		"Serves a shared file over HTTP on this computer while it downloads, and prints\nthe URL: any media player or browser plays it before it has arrived, and a\nseek fetches what it needs first. The file is kept (in -o DIR) and served until\ninterrupted (Ctrl-C).", stderr)
	listen := addrFlag("127.0.0.1:0")
	fs.Var(&listen, "listen", "`ADDR` (host:port) of the HTTP server players connect to; keep it on loopback")
	open := fs.Bool("open", false, "open the URL in the system's player or browser")
	var trackers trackerList
	fs.Var(&trackers, "tracker", "tracker `ADDR` (host:port); repeatable (default: those in the link and on the LAN)")
	out := fs.String("o", ".", "`DIR` to save the file in; made if missing")
	data := fs.String("data", "", "data `DIR` (default: the user config folder + /peerflow)")
	peerListen := addrFlag("0.0.0.0:0")
	fs.Var(&peerListen, "peer-listen", "`ADDR` (host:port) where other peers connect; port 0 picks a free one")
	var downLimit, upLimit rateFlag
	fs.Var(&downLimit, "down-limit", "download rate limit `RATE`, e.g. 500KB/s, 20MB/s; 0 = unlimited")
	fs.Var(&upLimit, "up-limit", "upload rate limit `RATE`; 0 = unlimited")
	asJSON := fs.Bool("json", false, "print JSON lines on stdout: the URL (url, content_id, name) when it serves, and the result when the file is in place, as get --json")
	verbose := fs.Bool("v", false, "log more")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return usageError(fs, stderr, "name exactly one link or content ID")
	}
	fail := func(err error) int {
		if interrupted(ctx) {
			return ExitInterrupted
		}
		fmt.Fprintf(stderr, "peerflow stream: %v\n", explain(err))
		return ExitFailure
	}
	link := pos[0]
	n, noTracker, err := openGetter(ctx, *data, link, trackers, core.Options{
		Listen: string(peerListen), UpLimit: int64(upLimit), DownLimit: int64(downLimit), Logger: newLogger(stderr, *verbose),
	})
	if err != nil {
		return fail(err)
	}
	defer n.Close()
	if noTracker != nil && !interrupted(ctx) { // a file here already streams without one
		fmt.Fprintf(stderr, "peerflow stream: %v\n", explain(noTracker))
	}
	undo, err := makeFolder(*out)
	if err != nil {
		return fail(err)
	}
	d, err := n.Download(ctx, link, *out)
	if err != nil && !errors.Is(err, core.ErrAlreadyHere) {
		undo()
		return fail(err)
	}
	if d != nil && d.Progress().State == core.StatePaused {
		d.Resume() // paused in an earlier run: streaming it means fetching it
	}
	l, _ := content.ParseLink(link) // Download parsed it already
	g, err := gateway.Listen(n, string(listen), newLogger(stderr, *verbose))
	if err != nil {
		return fail(err)
	}
	defer g.Close()
	item, err := libraryItem(n, l)
	if err != nil {
		return fail(err)
	}
	url := g.URL(item.Manifest)
	if *asJSON {
		printJSON(stdout, false, streamServing{URL: url, ContentID: item.ID.String(), Name: item.Manifest.Name})
	} else {
		fmt.Fprintln(stdout, url)
	}
	if *open {
		if err := openURL(url); err != nil {
			fmt.Fprintf(stderr, "peerflow stream: open the player: %v\n", err)
		}
	}
	if d != nil {
		stopProgress := showProgress(d, stderr)
		r, err := d.Wait(ctx)
		stopProgress(err == nil)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			printJSON(stdout, false, newGetResult(d, r))
		}
		fmt.Fprintf(stderr, "saved %s (%s in %.1fs)%s\n", r.Path, content.FormatBytes(r.Bytes), (r.Duration + r.Finishing).Seconds(), sharesText(r))
	}
	fmt.Fprintf(stderr, "serving %s at %s; press Ctrl-C to stop\n", item.Manifest.Name, url)
	<-ctx.Done()
	return ExitInterrupted
}

// streamServing is the line stream --json prints once it serves.
type streamServing struct {
	URL       string `json:"url"`
	ContentID string `json:"content_id"`
	Name      string `json:"name"`
}

// libraryItem is the library's item of the content l names.
func libraryItem(n *core.Node, l content.Link) (core.Item, error) {
	items, err := n.Library()
	if err != nil {
		return core.Item{}, err
	}
	for _, it := range items {
		if it.ID == l.ID {
			return it, nil
		}
	}
	return core.Item{}, core.ErrNotHere
}

// openURL opens url with the system's handler: the default player for a
// video, or the browser.
func openURL(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
