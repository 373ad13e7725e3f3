package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"peerflow/core"
)

func runShare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("share", "share PATH... [--tracker ADDR]... [--listen ADDR] [--data DIR] [--origin URL] [--up-limit RATE] [--token T]",
		"Shares each file (a folder: the files directly inside it), prints one share link\nper file, and seeds until interrupted (Ctrl-C).", stderr)
	var trackers trackerList
	fs.Var(&trackers, "tracker", "tracker `ADDR` (host:port) to publish to; repeatable (default: trackers found on the LAN)")
	listen := addrFlag("0.0.0.0:0")
	fs.Var(&listen, "listen", "`ADDR` (host:port) where peers connect; port 0 picks a free one")
	data := fs.String("data", "", "data `DIR` (default: the user config folder + /peerflow)")
	origin := fs.String("origin", "", "http(s) `URL` that also serves the file, recorded in its manifest")
	var upLimit rateFlag
	fs.Var(&upLimit, "up-limit", "upload rate limit `RATE`, e.g. 500KB/s, 20MB/s; 0 = unlimited")
	token := fs.String("token", "", "publish `T`oken, for trackers that require one")
	verbose := fs.Bool("v", false, "log more")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(paths) == 0 {
		return usageError(fs, stderr, "name at least one file to share")
	}
	files, err := expandPaths(paths)
	if err != nil {
		fmt.Fprintf(stderr, "peerflow share: %v\n", err)
		return ExitFailure
	}
	dir, err := dataDir(*data)
	if err != nil {
		fmt.Fprintf(stderr, "peerflow share: %v\n", err)
		return ExitFailure
	}
	n, err := core.Open(dir, core.Options{
		Listen: string(listen), Trackers: trackers, LAN: len(trackers) == 0,
		UpLimit: int64(upLimit), Token: *token, Logger: newLogger(stderr, *verbose),
	})
	if err != nil {
		fmt.Fprintf(stderr, "peerflow share: %v\n", explain(err))
		return ExitFailure
	}
	defer n.Close()
	if len(trackers) == 0 {
		waitCtx, cancel := context.WithTimeout(ctx, lanWait)
		err := n.WaitForTracker(waitCtx)
		cancel()
		if interrupted(ctx) {
			return ExitInterrupted
		}
		if err != nil {
			fmt.Fprintf(stderr, "peerflow share: %v; sharing anyway, peers find this node once a tracker appears on the LAN\n", explain(err))
		}
	}
	for _, path := range files {
		shared, err := n.Share(ctx, path, core.ShareOptions{Origin: *origin})
		if interrupted(ctx) {
			return ExitInterrupted
		}
		if err != nil {
			fmt.Fprintf(stderr, "peerflow share: %v\n", explain(err))
			return ExitFailure
		}
		fmt.Fprintln(stdout, shared.Link)
	}
	fmt.Fprintf(stderr, "seeding %d file(s) on %s; press Ctrl-C to stop\n", len(files), n.Addr())
	<-ctx.Done()
	return ExitInterrupted
}

// expandPaths replaces each folder by the files directly inside it.
func expandPaths(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		inside, err := core.FilesIn(p)
		if err != nil {
			return nil, err
		}
		if len(inside) == 0 {
			return nil, fmt.Errorf("%s: the folder holds no files to share (subfolders are not shared)", p)
		}
		files = append(files, inside...)
	}
	return files, nil
}

// explain adds what to do next to errors a user meets.
func explain(err error) error {
	switch {
	case errors.Is(err, core.ErrNoTracker):
		return fmt.Errorf("%w; pass one with --tracker HOST:PORT", err)
	case errors.Is(err, core.ErrInUse):
		return fmt.Errorf("%w; pass --data DIR to run another node alongside it", err)
	case errors.Is(err, core.ErrDiskFull):
		return fmt.Errorf("%w; free some space (or use -o to download elsewhere) and run the same command again to resume", err)
	}
	return err
}
