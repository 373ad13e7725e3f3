// Package gui is Peerflow's desktop front end, built with Fyne. It talks only
// to core.Node: never to sockets or the database. The one exception is the
// tracker this computer can host (host.go), run through the tracker
// package's API.
//
// Every screen is one file with one small struct: share.go, network.go,
// transfers.go (with chunkmap.go), trackers.go and settings.go; bridge.go
// runs core calls off the UI goroutine and explains their errors.
//
// The package does not import fyne.io/fyne/v2/app (main does), so its tests
// run on fyne's headless test driver without cgo or a display.
package gui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/control"
	"peerflow/core/gateway"
)

// Tab titles, in the order the window shows them.
const (
	TabShare     = "Share"
	TabNetwork   = "Network"
	TabTransfers = "Transfers"
	TabTrackers  = "Trackers"
	TabSettings  = "Settings"
)

// Config says how to run the node behind the window: main fills it from
// the command line, tests point everything at loopback. The zero value
// never multicasts.
type Config struct {
	// DataDir is the node's data folder; "" means core.DefaultDataDir().
	DataDir string
	// LAN looks for trackers on the local network over mDNS; Advertise
	// announces a hosted tracker there. Both multicast.
	LAN, Advertise bool
	// ListenHost is the address peers connect to (default 0.0.0.0, every
	// interface); the port is a setting.
	ListenHost string
	// TrackerListen is where a hosted tracker listens. Default: port
	// 7070 on every interface, or any free port when 7070 is taken.
	TrackerListen string
	// LANWait is how long a start with nothing configured looks for a
	// tracker on the LAN before hosting one; default 3 s.
	LANWait time.Duration
	// Open is a share link to download once the node runs (a link the
	// desktop passed on the command line).
	Open   string
	Logger *slog.Logger
}

// refreshEvery is how often the screens show fresh numbers from core.
const refreshEvery = time.Second

// UI is the main window, the screens inside it and the node behind them.
type UI struct {
	app   fyne.App
	win   fyne.Window
	tabs  *container.AppTabs
	prefs prefs
	cfg   Config
	node  *core.Node // set by Start, before the window shows
	host  *trackerHost
	gw    *gateway.Gateway // what Play opens: the library over HTTP on loopback
	gwErr error            // why there is no gateway
	// openURL opens a URL with the desktop's handler (fyne's OpenURL);
	// tests see what would be opened.
	openURL func(*url.URL) error
	// tray is the system tray when the driver has one (fyne's desktop.App),
	// and trayShown whether the desktop shows its icon now; tests put in
	// fakes.
	tray      desktop.App
	trayShown func() bool

	share     *shareScreen
	network   *networkScreen
	transfers *transfersScreen
	trackers  *trackersScreen
	settings  *settingsScreen

	// do runs a function on the UI goroutine: fyne.Do. Tests swap in a
	// queue their own goroutine drains, because fyne's test driver runs
	// fyne.Do's function at once on the calling goroutine.
	do func(func())

	ctx    context.Context // ends when the window closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // the goroutines of background work

	mu        sync.Mutex
	closed    bool
	closeOnce sync.Once
}

// New builds the main window of a; Start then runs the node behind it.
func New(a fyne.App) *UI {
	u := &UI{app: a, win: a.NewWindow("Peerflow"), do: fyne.Do, openURL: a.OpenURL, tray: trayOf(a), trayShown: trayHostRunning}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	u.share = newShareScreen(u)
	u.network = newNetworkScreen(u)
	u.transfers = newTransfersScreen(u)
	u.trackers = newTrackersScreen(u)
	u.settings = newSettingsScreen(u)
	u.tabs = container.NewAppTabs(
		u.share.tabItem(),
		u.network.tabItem(),
		u.transfers.tabItem(),
		u.trackers.tabItem(),
		u.settings.tabItem(),
	)
	u.tabs.OnSelected = func(item *container.TabItem) {
		if item.Text == TabNetwork && u.node != nil {
			u.network.reload()
		}
		// The keyboard starts where the screen is typed into first.
		switch item.Text {
		case TabNetwork:
			u.win.Canvas().Focus(u.network.link)
		case TabTrackers:
			u.win.Canvas().Focus(u.trackers.addr)
		}
	}
	u.win.SetContent(u.tabs)
	u.win.Resize(fyne.NewSize(1000, 660))
	u.win.SetOnDropped(func(_ fyne.Position, uris []fyne.URI) { u.share.drop(uris) })
	u.win.SetCloseIntercept(u.closeWindow)
	u.addShortcuts()
	return u
}

// Window is the main window.
func (u *UI) Window() fyne.Window { return u.win }

// Start opens the node on the data folder and brings the screens to life:
// it resumes unfinished downloads, hosts a tracker if the settings say so
// (or if none is found on a first run), and opens cfg.Open. Call it once,
// on the UI goroutine, before the window shows. If the node cannot open,
// the window says why and what to do, and Start returns the error.
func (u *UI) Start(cfg Config) error {
	if cfg.ListenHost == "" {
		cfg.ListenHost = "0.0.0.0"
	}
	if cfg.LANWait <= 0 {
		cfg.LANWait = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := dataDir(cfg.DataDir)
	cfg.DataDir = dir
	u.cfg = cfg
	if err != nil {
		return u.startFailed(err)
	}
	u.prefs = newPrefs(u.app.Preferences(), cfg.DataDir)
	s := u.prefs.load()
	n, err := core.Open(cfg.DataDir, core.Options{
		Listen:    net.JoinHostPort(cfg.ListenHost, strconv.Itoa(s.port)),
		Trackers:  s.trackers,
		LAN:       cfg.LAN,
		UpLimit:   s.up,
		DownLimit: s.down,
		Scope:     s.scope,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return u.startFailed(err)
	}
	u.node = n
	if u.gw, err = gateway.Listen(n, "", cfg.Logger); err != nil {
		u.gwErr = err // Play says so; everything else works
	}
	u.host = newTrackerHost(cfg, n.DataDir())
	u.settings.show(s)
	for _, d := range n.Downloads() {
		u.transfers.add(u.transfers.track(d))
	}
	u.share.reload()
	u.trackers.reload()
	u.trackers.hostAtStart(s.host)
	// A second start of the app (a link clicked in a browser) hands its
	// link over here instead of failing on the data folder in use.
	// A bad link is shown there too, where the user looks.
	n.HandleOpen(func(link string) {
		u.ui(func() {
			u.showWindow()
			if link != "" {
				u.askToDownload(link)
			}
		})
	})
	if cfg.Open != "" {
		u.askToDownload(cfg.Open)
	}
	u.setUpTray()
	u.spawn(u.refreshLoop)
	u.spawn(u.transfers.redrawLoop)
	return nil
}

// dataDir is the absolute path of the data folder dir, by default
// core's.
func dataDir(dir string) (string, error) {
	if dir == "" {
		return core.DefaultDataDir()
	}
	return filepath.Abs(dir)
}

// startFailed replaces the screens by what went wrong and what to do.
func (u *UI) startFailed(err error) error {
	err = explain(err)
	msg := widget.NewLabel("Peerflow could not start:\n\n" + err.Error())
	msg.Wrapping = fyne.TextWrapWord
	u.win.SetContent(container.NewPadded(container.NewVBox(widget.NewIcon(theme.ErrorIcon()), msg)))
	return err
}

// refreshLoop shows fresh numbers (bytes uploaded, download progress,
// tracker status) every refreshEvery.
func (u *UI) refreshLoop() {
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-tick.C:
		}
		u.ui(func() {
			u.share.reload()
			u.trackers.reload()
			u.transfers.update()
		})
	}
}

// download starts downloading a share link or content ID into the
// download folder and shows it on Transfers.
func (u *UI) download(link string) {
	folder := u.prefs.load().folder
	background(u, func(ctx context.Context) (*tracked, error) {
		d, err := u.node.Download(ctx, link, folder)
		if err != nil {
			return nil, err
		}
		return u.transfers.track(d), nil
	}, func(t *tracked, err error) {
		if u.failed(err) {
			return
		}
		u.transfers.add(t)
		u.tabs.Select(u.transfers.tab)
	})
}

// askToDownload shows what a link opened from outside the app (a
// browser, another program) names and where it would go, and downloads
// it only once the user says so.
func (u *UI) askToDownload(link string) {
	l, err := content.ParseLink(link)
	if err != nil {
		u.showError(err)
		return
	}
	name := l.Name
	if name == "" {
		name = "Content " + l.ID.Short()
	}
	d := dialog.NewConfirm("Download this?",
		fmt.Sprintf("%s\n\nA link opened from outside Peerflow. It is saved in %s.", name, u.prefs.load().folder),
		func(ok bool) {
			if ok {
				u.download(link)
			}
		}, u.win)
	d.SetConfirmText("Download")
	d.SetDismissText("Not now")
	u.showConfirm(d)
}

// HandOver gives link ("" for none) to the app already running on the
// data folder dir ("" for the default), which shows its window and asks
// about the link (or says what is wrong with it). It reports whether the
// running app took it: then this start should end there. Otherwise (no
// app runs there, or a terminal command holds the folder) this start
// opens its own window, which says what is wrong if anything is.
func HandOver(dir, link string) bool {
	dir, err := dataDir(dir)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return control.Open(ctx, dir, link) == nil
}

// Quit closes the window: the window goes at once, the node and a hosted
// tracker shut down cleanly behind it (downloads resume next start), then
// the app exits.
func (u *UI) Quit() {
	u.win.Hide()
	go func() {
		if err := u.Close(); err != nil {
			u.cfg.Logger.Warn("shut down", "err", err)
		}
		u.do(u.app.Quit) // not u.ui: it must run although the window is closed
	}()
}

// Close stops the background work, then the node (it tells the trackers
// it leaves; unfinished downloads stay resumable) and a hosted tracker.
// It is safe to call more than once, from any goroutine.
func (u *UI) Close() error {
	var err error
	u.closeOnce.Do(func() {
		u.mu.Lock()
		u.closed = true
		u.mu.Unlock()
		u.cancel()
		u.wg.Wait()
		if u.gw != nil {
			u.gw.Close()
		}
		if u.node != nil {
			err = u.node.Close()
		}
		if u.host != nil {
			err = errors.Join(err, u.host.stop())
		}
	})
	return err
}
