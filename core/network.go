package core

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"peerflow/core/trackerapi"
)

// BrowseOptions say where to look for contents without running a node.
type BrowseOptions struct {
	Trackers []string // host:port, typed in by hand
	// LAN looks for trackers on the local network when no Trackers are
	// given, waiting up to Wait (default 3 s) for the first one.
	LAN    bool
	Wait   time.Duration
	Logger *slog.Logger
}

// Browse lists what the trackers offer, for callers that do not run a
// node (the terminal's ls). It opens no data folder, so it works while
// another Peerflow process holds it.
func Browse(ctx context.Context, opts BrowseOptions, query string, offset, limit int) (trackerapi.ContentList, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pool := trackerapi.NewPool(trackerapi.PoolOptions{})
	defer pool.CloseIdleConnections()
	for _, t := range opts.Trackers {
		if err := pool.Add(t, trackerapi.SourceManual); err != nil {
			return trackerapi.ContentList{}, err
		}
	}
	if len(opts.Trackers) == 0 {
		if !opts.LAN {
			return trackerapi.ContentList{}, ErrNoTracker
		}
		browseCtx, stop := context.WithCancel(ctx)
		found := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		wg.Go(func() {
			browseInto(browseCtx, pool, opts.Logger, func() { once.Do(func() { close(found) }) })
		})
		defer wg.Wait()
		defer stop()
		if opts.Wait <= 0 {
			opts.Wait = 3 * time.Second
		}
		timer := time.NewTimer(opts.Wait)
		defer timer.Stop()
		select {
		case <-found:
		case <-timer.C:
			return trackerapi.ContentList{}, ErrNoTracker
		case <-ctx.Done():
			return trackerapi.ContentList{}, ctx.Err()
		}
	}
	return pool.Contents(ctx, query, offset, limit)
}

// FilesIn lists the regular files directly inside dir (not in its
// subfolders, not hidden ones), for sharing a dropped or named folder.
func FilesIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name()[0] != '.' {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}
