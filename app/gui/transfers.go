package gui

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
	"peerflow/core/content"
)

// redrawEvery bounds how often a download's progress and chunk map redraw
// while chunks arrive: thousands of chunk events a second become at most
// ten redraws.
const redrawEvery = 100 * time.Millisecond

// transfersScreen shows the downloads of this run: progress, speed, time
// left, peers, how many bytes came from seeders and how many from other
// peers, the chunk map, and pause, resume, cancel, open folder.
type transfersScreen struct {
	u     *UI
	tab   *container.TabItem
	rows  map[content.ID]*transferRow
	list  *fyne.Container
	empty fyne.CanvasObject
	news  chan struct{} // a download has events not shown yet; holds at most one
}

// transferRow is one download.
type transferRow struct {
	*tracked
	s                                 *transfersScreen
	name                              *widget.Label
	bar                               *widget.ProgressBar
	status                            *widget.Label
	from                              *widget.Label // bytes from seeders, other peers, the origin server
	play, pause, cancel, open, remove *widget.Button
	box                               *fyne.Container
	ended                             bool
	folder                            string // where the file went, once complete
}

func newTransfersScreen(u *UI) *transfersScreen {
	s := &transfersScreen{u: u, rows: make(map[content.ID]*transferRow), news: make(chan struct{}, 1)}
	s.buildUI()
	return s
}

func (s *transfersScreen) buildUI() {
	s.list = container.NewVBox()
	empty := widget.NewLabelWithStyle("No downloads yet: pick one on the Network tab, or paste a share link there.", fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
	empty.Importance = widget.LowImportance
	s.empty = container.NewCenter(empty)
	s.tab = container.NewTabItemWithIcon(TabTransfers, theme.DownloadIcon(),
		container.NewPadded(container.NewStack(s.empty, container.NewVScroll(s.list))))
}

func (s *transfersScreen) tabItem() *container.TabItem { return s.tab }

// tracked is a download whose events feed a chunk map.
type tracked struct {
	d           *core.Download
	chunks      *chunkMap
	unsubscribe func()
}

// track subscribes a new chunk map to d's events. It may run on any
// goroutine: it makes no widget (the map's legend is made when shown).
func (s *transfersScreen) track(d *core.Download) *tracked {
	t := &tracked{d: d, chunks: newChunkMap(d.Manifest())}
	// Subscribe, then replay what came before: a chunk verified in between
	// is recorded twice, harmlessly. What is left of Have was verified
	// before this run.
	t.unsubscribe = d.Subscribe(func(ev core.Event) {
		t.chunks.record(ev)
		s.poke()
	})
	t.chunks.replay(d.Sources())
	t.chunks.markEarlier(d.Have())
	return t
}

// add shows a tracked download, newest first, and follows it until it
// ends.
func (s *transfersScreen) add(t *tracked) {
	if old := s.rows[t.d.ID()]; old != nil {
		if !old.ended {
			t.unsubscribe() // shown already: Download returned the running one
			return
		}
		s.removeRow(old) // downloaded again: the new run replaces the old row
	}
	r := s.newRow(t)
	s.rows[t.d.ID()] = r
	s.list.Objects = append([]fyne.CanvasObject{r.box}, s.list.Objects...)
	s.list.Refresh()
	s.empty.Hide()
	r.update()
	s.u.spawn(func() {
		select {
		case <-t.d.Done():
		case <-s.u.ctx.Done():
			return
		}
		res, err := t.d.Wait(s.u.ctx)
		s.u.ui(func() { r.end(res, err) })
	})
}

func (s *transfersScreen) newRow(t *tracked) *transferRow {
	m := t.d.Manifest()
	r := &transferRow{s: s, tracked: t, bar: widget.NewProgressBar(), status: cell(), from: cell()}
	r.name = widget.NewLabelWithStyle(m.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.play = widget.NewButtonWithIcon("Play", theme.MediaPlayIcon(), func() { s.u.play(m) })
	r.pause = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), r.togglePause)
	r.cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), r.confirmCancel)
	r.open = widget.NewButtonWithIcon("Open folder", theme.FolderOpenIcon(), func() { s.u.openFolder(r.folder) })
	r.open.Importance = widget.HighImportance
	r.open.Hide()
	r.remove = widget.NewButtonWithIcon("Remove from list", theme.ContentClearIcon(), func() { s.removeRow(r) })
	r.remove.Hide()
	// Chunk sizes are powers of two: KiB says them exactly.
	about := widget.NewLabel(fmt.Sprintf("Chunk map: %d chunks of %d KiB, each coloured by the peer it came from", m.NumChunks(), m.ChunkSize>>10))
	about.Truncation = fyne.TextTruncateEllipsis
	r.box = container.NewVBox(
		container.NewBorder(nil, nil, nil, container.NewHBox(r.play, r.pause, r.cancel, r.open, r.remove), r.name),
		r.bar,
		r.status,
		r.from,
		about,
		r.chunks.object(),
		widget.NewSeparator(),
	)
	return r
}

// poke tells the redraw loop that a download has news.
func (s *transfersScreen) poke() {
	select {
	case s.news <- struct{}{}:
	default:
	}
}

// redrawLoop redraws after news, at most once per redrawEvery, so a burst
// of events costs one redraw.
func (s *transfersScreen) redrawLoop() {
	wait := time.NewTimer(redrawEvery)
	defer wait.Stop()
	for {
		select {
		case <-s.u.ctx.Done():
			return
		case <-s.news:
		}
		s.u.ui(s.update)
		wait.Reset(redrawEvery)
		select {
		case <-s.u.ctx.Done():
			return
		case <-wait.C:
		}
	}
}

// update shows the current progress of every running download.
func (s *transfersScreen) update() {
	for _, r := range s.rows {
		if !r.ended {
			r.update()
		}
	}
}

func (s *transfersScreen) removeRow(r *transferRow) {
	delete(s.rows, r.d.ID())
	s.list.Remove(r.box)
	if len(s.rows) == 0 {
		s.empty.Show()
	}
}

func (r *transferRow) update() {
	p := r.d.Progress()
	if p.Size > 0 {
		r.bar.SetValue(float64(p.Bytes) / float64(p.Size))
	}
	setText(r.status, progressText(p))
	setText(r.from, sourcesText(p))
	if p.State == core.StatePaused {
		r.pause.SetText("Resume")
		r.pause.SetIcon(theme.MediaPlayIcon())
	} else {
		r.pause.SetText("Pause")
		r.pause.SetIcon(theme.MediaPauseIcon())
	}
	r.chunks.flush()
}

// progressText sums up a running download in one line.
func progressText(p core.Progress) string {
	parts := []string{formatBytes(p.Bytes) + " of " + formatBytes(p.Size)}
	switch p.State {
	case core.StateDownloading:
		parts = append(parts, formatRate(p.Rate))
		if p.Rate > 0 {
			left := time.Duration(float64(p.Size-p.Bytes) / p.Rate * float64(time.Second))
			parts = append(parts, formatDuration(left)+" left")
		}
	case core.StateConnecting:
		parts = append(parts, "looking for peers")
	case core.StateStalled:
		parts = append(parts, fmt.Sprintf("waiting: no reachable peer holds %d of the chunks", p.Unavailable))
	default:
		parts = append(parts, string(p.State))
	}
	parts = append(parts, count(p.Peers, "peer"))
	return strings.Join(parts, "  ·  ")
}

// sourcesText says where the bytes of a download came from: peers that
// held the whole file (the sharer, or peers done before), peers that were
// downloading it too, the origin server if it sent any, and earlier runs
// if they fetched some.
func sourcesText(p core.Progress) string {
	parts := []string{"From seeders " + formatBytes(p.SeederBytes), "from other peers " + formatBytes(p.PeerBytes)}
	if p.OriginBytes > 0 {
		parts = append(parts, "from the origin server "+formatBytes(p.OriginBytes))
	}
	if earlier := p.Bytes - p.SeederBytes - p.PeerBytes - p.OriginBytes; earlier > 0 {
		parts = append(parts, "before this run "+formatBytes(earlier))
	}
	return strings.Join(parts, "  ·  ")
}

// end shows how the download ended.
func (r *transferRow) end(res core.Result, err error) {
	r.unsubscribe()
	r.ended = true
	r.chunks.flush()
	p := r.d.Progress()
	setText(r.from, sourcesText(p))
	switch p.State {
	case core.StateComplete:
		name := r.d.Manifest().Name
		r.folder = filepath.Dir(res.Path)
		r.bar.SetValue(1)
		r.status.SetText(fmt.Sprintf("Done: %s from %s in %s, saved in %s",
			formatBytes(p.Size), count(len(res.Sources), "source"), formatDuration(res.Duration+res.Finishing), r.folder))
		r.pause.Hide()
		r.cancel.Hide()
		r.open.Show()
		r.remove.Show()
		r.s.u.app.SendNotification(fyne.NewNotification("Download complete", fmt.Sprintf("%s is in %s", name, r.folder)))
		r.s.u.share.reload() // it is shared now
	case core.StateFailed:
		if err == nil {
			err = p.Err
		}
		r.status.Importance = widget.DangerImportance
		r.status.SetText(fmt.Sprintf("Failed: %v", explain(err)))
		r.pause.Hide()
		r.remove.Show()
	}
	// Stopped: cancelled (the row is gone) or the node is closing.
}

func (r *transferRow) togglePause() {
	u := r.s.u
	pause := r.d.Progress().State != core.StatePaused
	u.act(func(context.Context) error {
		if pause {
			return r.d.Pause()
		}
		return r.d.Resume()
	}, func(err error) {
		u.failed(err)
		r.update()
	})
}

// confirmCancel cancels after asking: the part downloaded is deleted.
func (r *transferRow) confirmCancel() {
	u := r.s.u
	u.showConfirm(dialog.NewConfirm("Cancel this download?",
		fmt.Sprintf("What was downloaded of %s so far is deleted.", r.d.Manifest().Name),
		func(ok bool) {
			if !ok {
				return
			}
			u.act(func(context.Context) error { return r.d.Cancel() }, func(err error) {
				if !u.failed(err) {
					r.s.removeRow(r)
				}
			})
		}, u.win))
}

// openFolder opens dir in the desktop's file manager.
func (u *UI) openFolder(dir string) {
	u.failed(u.openURL(&url.URL{Scheme: "file", Path: dir}))
}

// play opens content m in the desktop's player or browser, through the
// gateway: it plays while it downloads.
func (u *UI) play(m *content.Manifest) {
	if u.gw == nil {
		u.failed(fmt.Errorf("Play is not available: %w", u.gwErr))
		return
	}
	link, err := url.Parse(u.gw.URL(m))
	if !u.failed(err) {
		u.failed(u.openURL(link))
	}
}
