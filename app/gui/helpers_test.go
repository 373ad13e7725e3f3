package gui

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"peerflow/core/content"
	"peerflow/tracker"
)

// uiQueue stands in for fyne.Do: fyne's test driver runs fyne.Do's
// function at once on the calling goroutine, so background work would
// touch widgets while the test reads them. Functions queue here instead,
// and the test goroutine runs them: it is the UI goroutine.
type uiQueue struct {
	mu    sync.Mutex
	fns   []func()
	ready chan struct{} // holds one signal while fns is not empty
}

func newUIQueue() *uiQueue { return &uiQueue{ready: make(chan struct{}, 1)} }

func (q *uiQueue) post(fn func()) {
	q.mu.Lock()
	q.fns = append(q.fns, fn)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *uiQueue) runPending() {
	q.mu.Lock()
	fns := q.fns
	q.fns = nil
	q.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// until runs queued functions until cond holds, and fails the test if it
// does not within a generous bound (the race detector is slow).
func (q *uiQueue) until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for {
		q.runPending()
		if cond() {
			return
		}
		select {
		case <-q.ready:
		case <-timeout.C:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// testNode is a window with a real node behind it, on loopback.
type testNode struct {
	*UI
	q         *uiQueue
	downloads string // the download folder
}

// nodeOptions tune startNode.
type nodeOptions struct {
	trackers []string
	host     hostMode // default hostNever: tests that host say so
	open     string   // a share link to download at start
	// lan looks for trackers over mDNS and advertises a hosted one:
	// only inside an isolated network namespace.
	lan bool
	// tray stands in for the desktop's system tray (none by default, as
	// on fyne's test driver).
	tray *fakeTray
}

// fakeTray records what the app puts in the system tray.
type fakeTray struct {
	menu *fyne.Menu
	icon fyne.Resource
}

func (f *fakeTray) SetSystemTrayMenu(m *fyne.Menu)    { f.menu = m }
func (f *fakeTray) SetSystemTrayIcon(r fyne.Resource) { f.icon = r }
func (f *fakeTray) SetSystemTrayWindow(fyne.Window)   {}

// item is the tray menu's item labelled label.
func (f *fakeTray) item(t testing.TB, label string) *fyne.MenuItem {
	t.Helper()
	if f.menu == nil {
		t.Fatal("nothing in the system tray")
	}
	for _, it := range f.menu.Items {
		if it.Label == label {
			return it
		}
	}
	t.Fatalf("the tray menu has no %q", label)
	return nil
}

// startNode opens a window on a of the test app (several windows share
// one app: their preferences are scoped by data folder) with a node that
// listens on 127.0.0.1, hosts on 127.0.0.1:0, and multicasts only if
// opts.lan says so.
func startNode(t testing.TB, a fyne.App, q *uiQueue, opts nodeOptions) *testNode {
	t.Helper()
	if opts.host == "" {
		opts.host = hostNever
	}
	dir := t.TempDir()
	n := &testNode{UI: New(a), q: q, downloads: t.TempDir()}
	n.do = q.post
	if opts.tray != nil {
		n.tray, n.trayShown = opts.tray, func() bool { return true }
	}
	p := newPrefs(a.Preferences(), dir)
	p.save(settings{folder: n.downloads, host: opts.host})
	p.saveTrackers(opts.trackers)
	if err := n.Start(Config{
		DataDir: dir, ListenHost: "127.0.0.1", TrackerListen: "127.0.0.1:0",
		LAN: opts.lan, Advertise: opts.lan, Open: opts.open,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n
}

// startTracker runs a tracker on loopback for the test.
func startTracker(t testing.TB) string {
	t.Helper()
	srv, err := tracker.Open(tracker.Config{DB: filepath.Join(t.TempDir(), "tracker.db")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx, "127.0.0.1:0") }()
	for srv.Addr() == "" {
		select {
		case err := <-done:
			t.Fatalf("tracker: %v", err)
		default:
			runtime.Gosched()
		}
	}
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return srv.Addr()
}

// randomFile writes size random bytes to dir/name.
func randomFile(t testing.TB, dir, name string, size int) string {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dialogText returns the text of the dialog on top of w, or "" if none.
func dialogText(w fyne.Window) string {
	top := w.Canvas().Overlays().Top()
	if top == nil {
		return ""
	}
	var texts []string
	for _, o := range test.LaidOutObjects(top) {
		switch o := o.(type) {
		case *widget.Label:
			texts = append(texts, o.Text)
		case *widget.RichText:
			texts = append(texts, o.String())
		}
	}
	return strings.Join(texts, "\n")
}

// tapDialogButton taps the button labelled text in the dialog on top of
// w, failing the test if there is none.
func tapDialogButton(t testing.TB, w fyne.Window, text string) {
	t.Helper()
	top := w.Canvas().Overlays().Top()
	if top == nil {
		t.Fatalf("no dialog shows (wanted its %q button)", text)
	}
	for _, o := range test.LaidOutObjects(top) {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			test.Tap(b)
			return
		}
	}
	t.Fatalf("the dialog %q has no %q button", dialogText(w), text)
}

// sharedLink starts a tracker and a node sharing a random file of size
// bytes called name, and returns the file's share link, as its Copy link
// button gives it.
func sharedLink(t *testing.T, a fyne.App, q *uiQueue, name string, size int) content.Link {
	t.Helper()
	tr := startTracker(t)
	sharer := startNode(t, a, q, nodeOptions{trackers: []string{tr}})
	test.Tap(dropAndWait(t, sharer, randomFile(t, t.TempDir(), name, size)).copyLink)
	link, err := content.ParseLink(a.Clipboard().Content())
	if err != nil {
		t.Fatal(err)
	}
	return link
}
