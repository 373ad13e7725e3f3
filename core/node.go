package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"peerflow/core/content"
	"peerflow/core/control"
	"peerflow/core/discover"
	"peerflow/core/peer"
	"peerflow/core/store"
	"peerflow/core/trackerapi"
	"peerflow/core/transfer"
)

// Options tune a Node. The zero value works: a node on a random port that
// knows no tracker until one is added.
type Options struct {
	// Listen is where peers connect, host:port; default 0.0.0.0:0 (every
	// interface, a free port).
	Listen string
	// Trackers are tracker addresses (host:port) typed in by hand.
	Trackers []string
	// LAN makes the node look for trackers on the local network (mDNS).
	LAN bool
	// UpLimit and DownLimit cap transfer rates in bytes/s; 0 = unlimited.
	UpLimit, DownLimit int64
	// Token is sent when publishing to the trackers in Trackers (and any
	// added by hand later) that require one; never to others.
	Token string
	// Scope says what trackers found on the LAN or named in links hear of
	// (trackerapi.Scope); the zero value tells LAN trackers of this node's
	// own shares, and each tracker of what came from it.
	Scope trackerapi.Scope
	// Logger receives the node's logs; default: discarded.
	Logger *slog.Logger
}

// Node is a Peerflow peer: it shares files, downloads content, and keeps
// the trackers it knows informed. It is the one facade both front ends
// use. It is safe for concurrent use.
type Node struct {
	opts   Options
	log    *slog.Logger
	store  *store.Store
	engine *transfer.Engine
	pool   *trackerapi.Pool
	// control answers `peerflow status`; nil if its socket could not be made.
	control *control.Server

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	announce  chan struct{} // asks the announcer to announce now
	found     chan struct{} // closed when the first LAN tracker is found
	onceFound sync.Once

	mu        sync.Mutex
	downloads map[content.ID]*Download
	starting  map[content.ID]bool        // downloads being set up by Download
	shares    map[content.ID]store.Entry // complete files served in place
	changed   map[content.ID]error       // library entries that cannot be served
	closed    bool
}

// DefaultDataDir is where a node keeps its state unless told otherwise:
// the OS user config folder (XDG_CONFIG_HOME on Linux) + "peerflow".
func DefaultDataDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config folder: %w (pass a data folder explicitly)", err)
	}
	return filepath.Join(dir, "peerflow"), nil
}

// Open starts a node on the data folder dir: it opens the store, listens
// for peers, serves the library and resumes every unfinished download.
func Open(dir string, opts Options) (*Node, error) {
	if opts.Listen == "" {
		opts.Listen = "0.0.0.0:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(dir)
	if err != nil {
		return nil, err
	}
	eng, err := transfer.Listen(transfer.Config{
		Key: st.Key(), Listen: opts.Listen,
		UpLimit: opts.UpLimit, DownLimit: opts.DownLimit,
		Logger: opts.Logger,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		opts: opts, log: opts.Logger, store: st, engine: eng,
		ctx: ctx, cancel: cancel,
		announce:  make(chan struct{}, 1),
		found:     make(chan struct{}),
		downloads: make(map[content.ID]*Download),
		starting:  make(map[content.ID]bool),
		shares:    make(map[content.ID]store.Entry),
		changed:   make(map[content.ID]error),
	}
	n.pool = trackerapi.NewPool(trackerapi.PoolOptions{Key: st.Key(), Manifest: n.sharedManifest, Token: opts.Token, Scope: opts.Scope})
	for _, addr := range opts.Trackers {
		if err := n.pool.Add(addr, trackerapi.SourceManual); err != nil {
			n.Close()
			return nil, fmt.Errorf("tracker %q: %w", addr, err)
		}
	}
	if err := n.restore(); err != nil {
		n.Close()
		return nil, err
	}
	// Without its control socket (a data folder path too long for one,
	// a file system that has none) the node runs; only `peerflow status`
	// cannot reach it.
	if n.control, err = control.Serve(dir, n.Status); err != nil {
		n.log.Warn("peerflow status will not reach this node", "err", err)
	}
	n.wg.Go(n.announceLoop)
	if opts.LAN {
		n.wg.Go(n.browseLAN)
	}
	return n, nil
}

// restore serves the library and resumes unfinished downloads.
func (n *Node) restore() error {
	entries, err := n.store.Entries()
	if err != nil {
		return fmt.Errorf("read the library: %w", err)
	}
	for _, e := range entries {
		n.bind(e)
		if e.Complete() {
			n.serve(e)
			continue
		}
		if _, err := n.startDownload(e, content.Link{ID: e.ID, Origin: e.Origin}); err != nil {
			n.log.Warn("resume download", "name", e.Manifest.Name, "err", err)
			n.mu.Lock()
			n.changed[e.ID] = err
			n.mu.Unlock()
		}
	}
	return nil
}

// bind tells the pool which trackers hear of entry e (see
// trackerapi.Scope), and the pool and the engine the keys of a private
// swarm.
func (n *Node) bind(e store.Entry) {
	n.pool.Own(e.ID, e.Kind == store.KindShare)
	n.pool.Bind(e.ID, e.Trackers...)
	if e.AnyTracker {
		n.pool.BindEvery(e.ID)
	}
	n.private(e.ID, e.Secret)
}

// private gives the pool and the engine the keys of private content id,
// or takes them back for a nil secret.
func (n *Node) private(id content.ID, secret *content.Secret) {
	n.pool.Private(id, secret)
	var key *[32]byte
	if secret != nil {
		k := secret.PeerKey(id)
		key = &k
	}
	n.engine.Private(id, key)
}

// SetScope changes what trackers found on the LAN or named in links hear
// of; they are told at once.
func (n *Node) SetScope(s trackerapi.Scope) {
	n.pool.SetScope(s)
	n.announceSoon()
}

// serve starts serving a complete file, unless it changed on disk. An
// entry recorded before file IDs were kept is stored again with its
// file's ID.
func (n *Node) serve(e store.Entry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	recorded := e.File
	if err := store.CheckFile(&e); err != nil {
		n.changed[e.ID] = err
		return
	}
	if e.File != recorded {
		if err := n.store.Put(e); err != nil {
			n.log.Warn("could not record the shared file's ID", "path", e.Path, "err", err)
		}
	}
	delete(n.changed, e.ID)
	n.shares[e.ID] = e
	n.engine.Seed(e.Manifest, transfer.NewFileSource(e))
}

// sharedManifest gives the tracker pool the manifest of a content this
// node offers, so it can publish it to a tracker that lacks it.
func (n *Node) sharedManifest(id content.ID) *content.Manifest {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.shares[id]; ok {
		return e.Manifest
	}
	if d, ok := n.downloads[id]; ok {
		return d.m
	}
	return nil
}

// PeerID is this node's identity.
func (n *Node) PeerID() peer.ID { return n.store.PeerID() }

// Addr is where peers connect to this node.
func (n *Node) Addr() net.Addr { return n.engine.Addr() }

// DataDir is the node's data folder.
func (n *Node) DataDir() string { return n.store.Dir() }

// ShareOptions tune Share.
type ShareOptions struct {
	Origin string // an http(s) URL that also serves the file, recorded in the manifest
	// Private makes a private swarm: its link carries a secret, and
	// without it no tracker or peer gives anything away about it.
	Private bool
	// Progress, when set, follows the hashing: bytes read so far and in
	// all (content.BuildOptions.Progress). Cancelling ctx stops it.
	Progress func(read, total int64)
}

// Shared is the result of sharing a file.
type Shared struct {
	Manifest *content.Manifest
	Link     content.Link
}

// Share makes the file at path available to the network: it hashes it
// (streaming, every core), records it in the library, serves it in place,
// and publishes its manifest to the known trackers. A tracker that cannot
// be reached is not an error: the file is shared and the link works; the
// announcer retries.
func (n *Node) Share(ctx context.Context, path string, opts ShareOptions) (Shared, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return Shared{}, err
	}
	// A symlink is shared as the file it names, under the link's name: the
	// library records the real path, which is then never opened through a
	// symlink again.
	name := filepath.Base(path)
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return Shared{}, fmt.Errorf("share: %w", err)
	}
	path = real
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return Shared{}, fmt.Errorf("share %s: %w", path, ErrIsFolder)
	}
	// The manifest is built from this descriptor and the entry records
	// its device and inode: what is served later is checked to be the
	// file that was hashed.
	f, before, err := store.OpenRegular(path)
	if err != nil {
		return Shared{}, fmt.Errorf("share: %w", err)
	}
	defer f.Close()
	m, err := content.Build(ctx, f, content.BuildOptions{Name: name, Origin: opts.Origin, Progress: opts.Progress})
	if err != nil {
		return Shared{}, fmt.Errorf("share: %w", err)
	}
	after, err := f.Stat()
	if err != nil {
		return Shared{}, fmt.Errorf("share %s: %w", path, err)
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		return Shared{}, fmt.Errorf("share %s: the file changed while it was being read; try again when it is not being written", path)
	}
	return n.addShare(ctx, store.ShareEntry(m, path, after), opts)
}

// ShareFolder makes the folder dir available to the network as one
// content (an HLS or DASH rendition, say: its playlist and segments): it
// hashes every file in it, in path order, records it, serves it in place
// and publishes its manifest, as Share does for a file. Symlinks and
// other special files in the folder are refused.
func (n *Node) ShareFolder(ctx context.Context, dir string, opts ShareOptions) (Shared, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Shared{}, err
	}
	name := filepath.Base(dir)
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return Shared{}, fmt.Errorf("share: %w", err)
	}
	m, stats, err := content.BuildFolder(ctx, dir, content.BuildOptions{Name: name, Origin: opts.Origin, Progress: opts.Progress})
	if err != nil {
		return Shared{}, fmt.Errorf("share: %w", err)
	}
	return n.addShare(ctx, store.FolderEntry(m, dir, stats), opts)
}

// addShare records the share e (a file or a folder, just hashed), serves
// it, and tells the trackers.
func (n *Node) addShare(ctx context.Context, e store.Entry, opts ShareOptions) (Shared, error) {
	m, path := e.Manifest, e.Path
	old, err := n.store.Get(e.ID)
	known := err == nil
	// A content keeps the privacy it has here: sharing a private one again
	// keeps its secret (and so its links); a public one cannot become
	// private, since trackers list it already.
	switch {
	case known && old.Secret != nil:
		e.Secret, e.Trackers = old.Secret, old.Trackers
	case known && opts.Private:
		return Shared{}, fmt.Errorf("share %s: %w", path, ErrPublicAlready)
	case opts.Private:
		secret := content.NewSecret()
		e.Secret, e.Trackers = &secret, n.linkTrackers()
	}
	// Sharing a file we were downloading: the local copy wins, and the
	// unfinished download goes, part file and all.
	n.mu.Lock()
	d := n.downloads[e.ID]
	delete(n.downloads, e.ID)
	n.mu.Unlock()
	if d != nil {
		d.t.Stop()
	}
	if known && !old.Complete() {
		store.RemovePart(old.Folder, old.Manifest)
	}
	if err := n.store.Put(e); err != nil {
		return Shared{}, fmt.Errorf("share %s: %w", path, err)
	}
	n.bind(e)
	n.serve(e)
	if err := n.pool.Publish(ctx, m); err != nil && !errors.Is(err, trackerapi.ErrNoTrackers) {
		if trackerapi.IsConflict(err) {
			n.Unshare(e.ID)
			return Shared{}, fmt.Errorf("share %s: %w", path, ErrAccessConflict)
		}
		n.log.Warn("publish manifest", "name", m.Name, "err", err)
	}
	// Announce before returning, so that a link handed out now finds
	// this node as a holder at once.
	if _, err := n.pool.Announce(ctx, n.announceRequest()); err != nil && !errors.Is(err, trackerapi.ErrNoTrackers) {
		n.log.Warn("announce", "err", err)
	}
	return Shared{Manifest: m, Link: n.linkFor(e)}, nil
}

// Errors of sharing a file whose content has other access elsewhere.
var (
	ErrPublicAlready  = errors.New("this file is shared publicly already (trackers list it), so it cannot be made private; unshare it first, or share a copy saved anew")
	ErrAccessConflict = errors.New("the trackers have this content with other access (public, or private under another link): share a copy saved anew")
)

// ErrClosed is returned by calls on a closed node.
var ErrClosed = errors.New("the node is closed")

// ErrIsFolder is returned when a folder is given where a file is needed.
var ErrIsFolder = errors.New("is a folder; share the files inside it")

// linkFor is the share link of library entry e: it names the trackers
// this node uses (for a private swarm, the ones it was shared with, the
// only ones that hear of it) and carries a private swarm's secret.
func (n *Node) linkFor(e store.Entry) content.Link {
	l := content.Link{ID: e.ID, Name: e.Manifest.Name, Origin: e.Manifest.Origin, Secret: e.Secret, Trackers: n.linkTrackers()}
	if e.Secret != nil {
		l.Trackers = e.Trackers
	}
	return l
}

// linkTrackers are the trackers a new link names: up to 4 this node uses.
func (n *Node) linkTrackers() []string {
	var addrs []string
	for _, t := range n.pool.Trackers() {
		if len(addrs) < 4 {
			addrs = append(addrs, t.Addr)
		}
	}
	return addrs
}

// Link returns the share link of a content in the library.
func (n *Node) Link(id content.ID) (content.Link, error) {
	e, err := n.store.Get(id)
	if err != nil {
		return content.Link{}, err
	}
	return n.linkFor(e), nil
}

// Unshare stops serving a content and forgets it; files stay on disk. An
// unfinished download of it is cancelled (its part file deleted).
func (n *Node) Unshare(id content.ID) error {
	defer n.pool.Forget(id)
	n.mu.Lock()
	d := n.downloads[id]
	n.mu.Unlock()
	if d != nil {
		return d.Cancel()
	}
	n.engine.Unseed(id)
	n.mu.Lock()
	delete(n.shares, id)
	delete(n.changed, id)
	n.mu.Unlock()
	n.announceSoon()
	return n.store.Remove(id)
}

// Errors a user can meet when starting a download.
var (
	ErrAlreadyHere       = errors.New("already here")
	ErrUnknownContent    = errors.New("no tracker knows this content: check the link, or add the tracker that has it")
	ErrNoFolder          = errors.New("the download folder does not exist or is not a folder")
	ErrNoTrackerAnswered = errors.New("no tracker answered: check the tracker addresses (--tracker) and that they are running")
)

// Download starts (or returns the running) download of a share link or
// content ID into folder.
func (n *Node) Download(ctx context.Context, linkOrID, folder string) (*Download, error) {
	link, err := content.ParseLink(linkOrID)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(folder); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s: %w", folder, ErrNoFolder)
	}
	folder, err = filepath.Abs(folder)
	if err != nil {
		return nil, err
	}
	for _, t := range link.Trackers {
		n.pool.Add(t, trackerapi.SourceLink)
	}
	if e, err := n.store.Get(link.ID); err == nil && e.Complete() {
		if store.CheckFile(&e) == nil {
			return nil, fmt.Errorf("%s is %w: %s", e.Manifest.Name, ErrAlreadyHere, e.Path)
		}
		// The finished file was moved, deleted or edited: fetch it anew.
		if err := n.Unshare(link.ID); err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	running, starting := n.downloads[link.ID], n.starting[link.ID]
	closed := n.closed
	if running == nil && !starting && !closed {
		n.starting[link.ID] = true
		defer func() {
			n.mu.Lock()
			delete(n.starting, link.ID)
			n.mu.Unlock()
		}()
	}
	n.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case running != nil:
		return running, nil
	case starting:
		return nil, fmt.Errorf("content %s: the download is starting already", link.ID.Short())
	}
	// Only now, with nothing of this content running or here, does the
	// link say which trackers hear of it, and with what keys: the link's
	// trackers, else those that listed it (kept, so the listing can be
	// forgotten); a bare ID nobody listed was typed by the user to be
	// looked up everywhere (not a private one: that goes only to the
	// trackers named with it).
	addrs, _ := n.pool.Reach(link.ID)
	n.pool.Bind(link.ID, append(addrs, link.Trackers...)...)
	if len(addrs) == 0 && len(link.Trackers) == 0 {
		n.pool.BindEvery(link.ID)
	}
	n.private(link.ID, link.Secret)
	d, err := n.newDownload(ctx, link, folder)
	if err != nil {
		if _, gerr := n.store.Get(link.ID); gerr != nil {
			n.pool.Forget(link.ID) // nothing of it here: the pool keeps nothing either
		}
		return nil, err
	}
	return d, nil
}

// newDownload fetches the manifest of link's content (unless it is known
// here), records the download and starts it.
func (n *Node) newDownload(ctx context.Context, link content.Link, folder string) (*Download, error) {
	m, err := n.store.Manifest(link.ID)
	if err != nil {
		if m, err = n.pool.Manifest(ctx, link.ID); err != nil {
			switch {
			case trackerapi.IsNotFound(err):
				return nil, fmt.Errorf("content %s: %w", link.ID.Short(), ErrUnknownContent)
			case errors.Is(err, trackerapi.ErrNoTrackers):
				return nil, fmt.Errorf("content %s: %w", link.ID.Short(), ErrNoTracker)
			}
			return nil, fmt.Errorf("content %s: %w (%v)", link.ID.Short(), ErrNoTrackerAnswered, err)
		}
	}
	e := store.Entry{ID: link.ID, Kind: store.KindDownload, Folder: folder, Added: time.Now(), Manifest: m}
	e.Trackers, e.AnyTracker = n.pool.Reach(link.ID)
	e.Secret, e.Origin = link.Secret, link.Origin
	if err := n.store.Put(e); err != nil {
		return nil, err
	}
	return n.startDownload(e, link)
}

// startDownload opens the part file of entry e and starts transferring.
func (n *Node) startDownload(e store.Entry, link content.Link) (*Download, error) {
	part, err := n.store.OpenPart(e)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", e.Manifest.Name, err)
	}
	origin := link.Origin
	if origin == "" {
		origin = e.Manifest.Origin
	}
	d := &Download{n: n, id: e.ID, m: e.Manifest, subs: make(map[int]func(Event))}
	t, err := n.engine.Download(e, part, transfer.DownloadOptions{
		Holders: poolHolders{n.pool, n.PeerID()},
		Origin:  origin,
		OnEvent: d.dispatch,
	})
	if err != nil {
		part.Close()
		return nil, fmt.Errorf("download %s: %w", e.Manifest.Name, err)
	}
	d.t = t
	if e.Paused {
		t.Pause()
	}
	n.mu.Lock()
	n.downloads[e.ID] = d
	n.mu.Unlock()
	n.wg.Go(func() { n.watch(d) })
	n.announceSoon() // a downloader announces at once, so others find it
	return d, nil
}

// watch follows a download to its end: a finished one becomes a share.
func (n *Node) watch(d *Download) {
	<-d.t.Done()
	n.mu.Lock()
	if n.downloads[d.id] == d {
		delete(n.downloads, d.id)
	}
	n.mu.Unlock()
	if d.t.Progress().State == transfer.StateComplete {
		if e, err := n.store.Get(d.id); err == nil {
			n.mu.Lock()
			n.shares[d.id] = e
			n.mu.Unlock()
		}
	}
	n.announceSoon()
}

// Downloads returns the running downloads.
func (n *Node) Downloads() []*Download {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*Download, 0, len(n.downloads))
	for _, d := range n.downloads {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Download) int { return cmp.Compare(a.m.Name, b.m.Name) })
	return out
}

// Item is one entry of the library, as the front ends show it.
type Item struct {
	ID       content.ID
	Manifest *content.Manifest
	Kind     store.Kind
	Path     string // the file served in place; "" while downloading
	Folder   string // where a download goes
	Complete bool
	Private  bool // a private swarm: its link carries the secret
	// Problem says why the item is not served ("the file changed on
	// disk…"); "" when all is well.
	Problem  string
	Stats    transfer.Stats
	Download *Download // the running download, if any
}

// Library lists what this node shares and downloads.
func (n *Node) Library() ([]Item, error) {
	entries, err := n.store.Entries()
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	items := make([]Item, 0, len(entries))
	for _, e := range entries {
		it := Item{ID: e.ID, Manifest: e.Manifest, Kind: e.Kind, Path: e.Path, Folder: e.Folder,
			Complete: e.Complete(), Private: e.Secret != nil, Stats: n.engine.Stats(e.ID), Download: n.downloads[e.ID]}
		if err := n.changed[e.ID]; err != nil {
			it.Problem = err.Error()
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b Item) int { return cmp.Compare(a.Manifest.Name, b.Manifest.Name) })
	return items, nil
}

// Stats are node-wide totals.
type Stats struct {
	PeerID      peer.ID
	Addr        string
	Uploaded    int64
	Downloaded  int64
	PeersServed int
	Shares      int
	Downloads   int
}

// Stats returns node-wide totals over the library.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{PeerID: n.PeerID(), Addr: n.Addr().String(), Shares: len(n.shares), Downloads: len(n.downloads)}
	add := func(id content.ID) {
		st := n.engine.Stats(id)
		s.Uploaded += st.Uploaded
		s.Downloaded += st.Downloaded
		s.PeersServed += st.PeersServed
	}
	for id := range n.shares {
		add(id)
	}
	for id := range n.downloads {
		add(id)
	}
	return s
}

// SetLimits changes the upload and download rate limits (bytes/s; 0 =
// unlimited) while the node runs.
func (n *Node) SetLimits(up, down int64) { n.engine.SetLimits(up, down) }

// AddTracker adds a tracker typed in by hand.
func (n *Node) AddTracker(addr string) error {
	if err := n.pool.Add(addr, trackerapi.SourceManual); err != nil {
		return err
	}
	n.announceSoon()
	return nil
}

// RemoveTracker forgets a tracker added by hand.
func (n *Node) RemoveTracker(addr string) {
	n.pool.Remove(addr, trackerapi.SourceManual)
}

// Trackers returns the trackers this node knows and how they answer.
func (n *Node) Trackers() []trackerapi.TrackerStatus { return n.pool.Trackers() }

// Network lists what the known trackers offer, filtered by name.
func (n *Node) Network(ctx context.Context, query string, offset, limit int) (trackerapi.ContentList, error) {
	return n.pool.Contents(ctx, query, offset, limit)
}

// Close stops the node: downloads stop (resumable), the trackers are told
// the node is leaving, connections close, the store is closed. No
// goroutine the node started outlives Close.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	if n.control != nil {
		n.control.Close()
	}
	n.cancel()
	err := n.engine.Close() // downloads stop, so their watchers return
	n.wg.Wait()
	n.leave()
	n.pool.CloseIdleConnections()
	return errors.Join(err, n.store.Close())
}

// announceSoon wakes the announcer.
func (n *Node) announceSoon() {
	select {
	case n.announce <- struct{}{}:
	default:
	}
}

// announceRequest describes everything this node holds.
func (n *Node) announceRequest() trackerapi.AnnounceRequest {
	req := trackerapi.AnnounceRequest{Peer: n.PeerID(), Addr: n.announceAddr()}
	n.mu.Lock()
	defer n.mu.Unlock()
	for id := range n.shares {
		st := n.engine.Stats(id)
		req.Contents = append(req.Contents, trackerapi.ContentState{ID: id, Complete: true, Uploaded: st.Uploaded, Downloaded: st.Downloaded, FromOrigin: st.FromOrigin})
	}
	for id, d := range n.downloads {
		st := n.engine.Stats(id)
		req.Contents = append(req.Contents, trackerapi.ContentState{ID: id, Have: d.t.Have().Bytes(), Uploaded: st.Uploaded, Downloaded: st.Downloaded, FromOrigin: st.FromOrigin})
	}
	return req
}

// announceAddr is the address trackers should give peers: the listen
// port, and the listen host unless it is a wildcard (then the tracker
// uses the address the announce came from).
func (n *Node) announceAddr() string {
	host, port, err := net.SplitHostPort(n.Addr().String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	return net.JoinHostPort(host, port)
}

// announceDebounce is how soon after a change an announce goes out
// (changes come in bursts); each tracker's heartbeat is the pool's.
const announceDebounce = 200 * time.Millisecond

// announceLoop tells the trackers what this node holds: on every change
// (shortly after, to batch bursts) and on every heartbeat.
func (n *Node) announceLoop() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.announce:
			timer.Reset(announceDebounce)
			continue
		case <-timer.C:
		}
		res, err := n.pool.Announce(n.ctx, n.announceRequest())
		// After a failure too, res.Next says when: each tracker backs off
		// on its own. Downloads go on meanwhile with the peers they have.
		if err != nil && !errors.Is(err, trackerapi.ErrNoTrackers) && n.ctx.Err() == nil {
			n.log.Debug("announce", "err", err)
		}
		timer.Reset(max(time.Until(res.Next), announceDebounce))
	}
}

// leave tells the trackers this node holds nothing any more, so its
// chunks stop counting at once rather than when its lease runs out.
func (n *Node) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n.pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: n.PeerID(), Addr: n.announceAddr()})
}

// browseLAN feeds trackers found on the LAN into the pool.
func (n *Node) browseLAN() {
	browseInto(n.ctx, n.pool, n.log, func() {
		n.onceFound.Do(func() { close(n.found) })
		n.announceSoon()
	})
}

// browseInto feeds trackers found on the LAN into pool until ctx ends,
// calling found after each one that was added.
func browseInto(ctx context.Context, pool *trackerapi.Pool, log *slog.Logger, found func()) {
	for ev := range discover.Browse(ctx, discover.DefaultConfig()) {
		if err := pool.Discovered(ev); err != nil {
			log.Debug("LAN tracker", "err", err)
			continue
		}
		found()
	}
}

// ErrNoTracker is returned when no tracker was given and none answered on
// the LAN in time.
var ErrNoTracker = errors.New("no tracker is known: none was given and none answered on the LAN")

// WaitForTracker returns once the node knows a tracker: at once if one was
// given, else when one is found on the LAN, or ErrNoTracker when ctx ends
// first.
func (n *Node) WaitForTracker(ctx context.Context) error {
	if len(n.pool.Trackers()) > 0 {
		return nil
	}
	if !n.opts.LAN {
		return ErrNoTracker
	}
	select {
	case <-n.found:
		return nil
	case <-ctx.Done():
		return ErrNoTracker
	}
}

// poolHolders adapts the tracker pool to the downloader's HolderSource.
type poolHolders struct {
	pool *trackerapi.Pool
	self peer.ID
}

func (h poolHolders) Holders(ctx context.Context, m *content.Manifest) ([]transfer.Holder, error) {
	return h.pool.Holders(ctx, m, h.self)
}

// Errors the front ends explain to users.
var (
	// ErrInUse: another process has the data folder open.
	ErrInUse = store.ErrInUse
	// ErrDiskFull: a write failed for lack of space.
	ErrDiskFull = syscall.ENOSPC
)
