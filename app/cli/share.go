package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"peerflow/core"
	"peerflow/core/content"
)

func runShare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("share", "share PATH... [--folder] [--tracker ADDR]... [--listen ADDR] [--data DIR] [--origin URL] [--private] [--up-limit RATE] [--token T] [--json]",
		"Shares each file (a folder: the files directly inside it; with --folder, the\nfolder and all it holds as one content), prints one share link per content, and\nseeds until interrupted (Ctrl-C). On a terminal, a bar follows the hashing;\nCtrl-C stops it too. When it stops it says, per content, how much it\nuploaded: bytes, copies of it (uploaded / size) and peers.", stderr)
	var trackers trackerList
	fs.Var(&trackers, "tracker", "tracker `ADDR` (host:port) to publish to; repeatable (default: trackers found on the LAN)")
	listen := addrFlag("0.0.0.0:0")
	fs.Var(&listen, "listen", "`ADDR` (host:port) where peers connect; port 0 picks a free one")
	data := fs.String("data", "", "data `DIR` (default: the user config folder + /peerflow)")
	origin := fs.String("origin", "", "http(s) `URL` that also serves the file, recorded in its manifest")
	whole := fs.Bool("folder", false, "share each folder as one content, with all it holds (an HLS or DASH rendition, say); players get its files by path")
	private := fs.Bool("private", false, "a private swarm: the link carries a secret, and trackers and peers give nothing away to anyone without it")
	var upLimit rateFlag
	fs.Var(&upLimit, "up-limit", "upload rate limit `RATE`, e.g. 500KB/s, 20MB/s; 0 = unlimited")
	token := fs.String("token", "", "publish `T`oken, for trackers that require one")
	asJSON := fs.Bool("json", false, "when stopped, also print on stdout one JSON object per shared file: content_id, name, size, uploaded, copies, peers_served")
	verbose := fs.Bool("v", false, "log more")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(paths) == 0 {
		return usageError(fs, stderr, "name at least one file to share")
	}
	files := paths
	if !*whole {
		files, err = expandPaths(paths)
	}
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
	var ids []content.ID // shared so far, each once, in order
	for _, path := range files {
		share := n.Share
		if fi, err := os.Stat(path); err == nil && fi.IsDir() { // with --folder
			share = n.ShareFolder
		}
		progress, hashed := hashProgress(filepath.Base(path), stderr)
		shared, err := share(ctx, path, core.ShareOptions{Origin: *origin, Private: *private, Progress: progress})
		hashed()
		if interrupted(ctx) {
			reportUploads(n, ids, *asJSON, stdout, stderr)
			return ExitInterrupted
		}
		if err != nil {
			fmt.Fprintf(stderr, "peerflow share: %v\n", explain(err))
			return ExitFailure
		}
		fmt.Fprintln(stdout, shared.Link)
		if id := shared.Manifest.ID(); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	fmt.Fprintf(stderr, "seeding %d file(s) on %s; press Ctrl-C to stop\n", len(files), n.Addr())
	<-ctx.Done()
	reportUploads(n, ids, *asJSON, stdout, stderr)
	return ExitInterrupted
}

// ShareReport is what share prints with --json, one object per line and
// shared file, when it stops. Copies is Uploaded / Size: how many times
// over this node sent the file (0 for an empty file).
type ShareReport struct {
	ContentID   string  `json:"content_id"`
	Name        string  `json:"name"`
	Size        int64   `json:"size"`
	Uploaded    int64   `json:"uploaded"`
	Copies      float64 `json:"copies"`
	PeersServed int     `json:"peers_served"`
}

// reportUploads tells, per content in ids, what the node uploaded since it
// started: one line on stderr ("uploaded 312.0 MiB of movie.mkv (1.22
// copies) to 4 peers") and, with asJSON, one JSON object on stdout.
func reportUploads(n *core.Node, ids []content.ID, asJSON bool, stdout, stderr io.Writer) {
	if len(ids) == 0 {
		return
	}
	items, err := n.Library()
	if err != nil {
		fmt.Fprintf(stderr, "peerflow share: the upload totals are unknown: %v\n", err)
		return
	}
	byID := make(map[content.ID]core.Item, len(items))
	for _, it := range items {
		byID[it.ID] = it
	}
	enc := json.NewEncoder(stdout)
	for _, id := range ids {
		it, ok := byID[id]
		if !ok || it.Manifest == nil {
			continue
		}
		r := ShareReport{
			ContentID: id.String(), Name: it.Manifest.Name, Size: it.Manifest.Size,
			Uploaded: it.Stats.Uploaded, PeersServed: it.Stats.PeersServed,
		}
		if r.Size > 0 {
			r.Copies = float64(r.Uploaded) / float64(r.Size)
		}
		peers := "peers"
		if r.PeersServed == 1 {
			peers = "peer"
		}
		fmt.Fprintf(stderr, "uploaded %s of %s (%.2f copies) to %d %s\n", formatBinaryBytes(r.Uploaded), r.Name, r.Copies, r.PeersServed, peers)
		if asJSON {
			enc.Encode(r) // one line each
		}
	}
}

// formatBinaryBytes formats a byte count in binary units (1 MiB = 2^20
// bytes), one decimal.
func formatBinaryBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + " GiB"
	case b >= 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
	case b >= 1<<10:
		return strconv.FormatFloat(float64(b)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(b, 10) + " B"
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
