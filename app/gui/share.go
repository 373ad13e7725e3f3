package gui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

// shareColumns are the widths of the share table after the name: size,
// content ID, uploaded (copies, peers, bytes), actions.
var shareColumns = columns{80, 120, 270, 250}

// shareScreen lists what this node shares (its own files and finished
// downloads) and shares more: files dropped on the window or picked.
type shareScreen struct {
	u        *UI
	tab      *container.TabItem
	rows     map[content.ID]*shareRow
	list     *fyne.Container
	empty    fyne.CanvasObject
	busy     *widget.Activity
	busyText *widget.Label
	status   *widget.Label
	private  *widget.Check // share as private swarms
	sharing  int           // share jobs running
	// swarms is what the trackers last listed of the shared contents
	// (for the offload of those with an origin server), asked for every
	// swarmsEvery.
	swarms      map[content.ID]trackerapi.ContentInfo
	swarmsAsked time.Time
	anyOrigin   bool // a shared file has an origin server: ask the trackers
}

// swarmsEvery spaces the Share screen's questions to the trackers.
const swarmsEvery = 10 * time.Second

// shareRow is one shared file.
type shareRow struct {
	name, size, id *widget.Label
	// uploaded says how many copies of the file this node sent, to how
	// many peers: the figure the sharer should keep near one.
	uploaded             *widget.Label
	play, copyLink, stop *widget.Button
	box                  *fyne.Container
	manifest             *content.Manifest // the content's, for Play
}

func newShareScreen(u *UI) *shareScreen {
	s := &shareScreen{u: u, rows: make(map[content.ID]*shareRow)}
	s.buildUI()
	return s
}

func (s *shareScreen) buildUI() {
	addFiles := widget.NewButtonWithIcon("Share a file…", theme.FileIcon(), s.pickFile)
	addFiles.Importance = widget.HighImportance
	addFolder := widget.NewButtonWithIcon("Share a folder…", theme.FolderIcon(), s.pickFolder)
	s.private = widget.NewCheck("Private: only people with the link", nil)
	s.busy = widget.NewActivity()
	s.busy.Hide()
	s.busyText = widget.NewLabel("")
	hint := widget.NewLabel("Drop files or a folder onto this window to share them. A folder shares the files directly inside it; its subfolders are not shared.")
	hint.Wrapping = fyne.TextWrapWord
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	s.status.Hide()
	top := container.NewVBox(
		container.NewHBox(addFiles, addFolder, s.private, s.busy, s.busyText),
		hint,
		s.status,
		widget.NewSeparator(),
		shareColumns.header("Name", "Size", "Content ID", "Uploaded", ""),
	)
	s.list = container.NewVBox()
	empty := widget.NewLabelWithStyle("Nothing shared yet: drop a file here.", fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
	empty.Importance = widget.LowImportance
	s.empty = container.NewCenter(empty)
	s.tab = container.NewTabItemWithIcon(TabShare, theme.UploadIcon(),
		container.NewPadded(container.NewBorder(top, nil, nil, nil, container.NewStack(s.empty, container.NewVScroll(s.list)))))
}

func (s *shareScreen) tabItem() *container.TabItem { return s.tab }

// reload shows the library's shared files with fresh numbers.
func (s *shareScreen) reload() {
	background(s.u, func(context.Context) ([]core.Item, error) {
		return s.u.node.Library()
	}, func(items []core.Item, err error) {
		if err == nil {
			s.show(items)
		} // else the next refresh tries again; a dialog every second helps nobody
	})
	if time.Since(s.swarmsAsked) < swarmsEvery || !s.anyOrigin {
		return
	}
	s.swarmsAsked = time.Now()
	background(s.u, func(ctx context.Context) (trackerapi.ContentList, error) {
		return s.u.node.Network(ctx, "", 0, trackerapi.MaxListLimit)
	}, func(list trackerapi.ContentList, err error) {
		if err != nil {
			return // no tracker answered: the rows keep what they showed
		}
		s.swarms = make(map[content.ID]trackerapi.ContentInfo, len(list.Contents))
		for _, ci := range list.Contents {
			s.swarms[ci.ID] = ci
		}
	})
}

// show updates the rows to items: complete files are shared, downloads
// in progress are on Transfers.
func (s *shareScreen) show(items []core.Item) {
	objects := make([]fyne.CanvasObject, 0, len(items))
	seen := make(map[content.ID]bool, len(items))
	for _, it := range items {
		if !it.Complete {
			continue
		}
		r := s.rows[it.ID]
		if r == nil {
			r = s.newRow(it.ID)
			s.rows[it.ID] = r
		}
		r.show(it, s.swarms[it.ID])
		s.anyOrigin = s.anyOrigin || it.Manifest.Origin != ""
		seen[it.ID] = true
		objects = append(objects, r.box)
	}
	for id := range s.rows {
		if !seen[id] {
			delete(s.rows, id)
		}
	}
	if !sameObjects(s.list.Objects, objects) {
		s.list.Objects = objects
		s.list.Refresh()
	}
	if len(objects) == 0 {
		s.empty.Show()
	} else {
		s.empty.Hide()
	}
}

func sameObjects(a, b []fyne.CanvasObject) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *shareScreen) newRow(id content.ID) *shareRow {
	r := &shareRow{name: cell(), size: cell(), id: cell(), uploaded: cell()}
	r.id.TextStyle.Monospace = true
	r.play = widget.NewButtonWithIcon("Play", theme.MediaPlayIcon(), func() { s.u.play(r.manifest) })
	r.copyLink = widget.NewButtonWithIcon("Copy link", theme.ContentCopyIcon(), func() { s.copyLink(id) })
	r.stop = widget.NewButtonWithIcon("Stop sharing", theme.MediaStopIcon(), func() { s.unshare(id) })
	r.box = shareColumns.row(r.name, r.size, r.id, r.uploaded, container.NewHBox(r.play, r.copyLink, r.stop))
	return r
}

func (r *shareRow) show(it core.Item, swarm trackerapi.ContentInfo) {
	r.manifest = it.Manifest
	name := it.Manifest.Name
	r.name.Importance = widget.MediumImportance
	if it.Private {
		name += " (private)"
	}
	if it.Manifest.Origin != "" && swarm.ID == it.ID { // listed by a tracker
		name += " — " + offloadText(swarm)
	}
	if it.Problem != "" {
		name += " — " + it.Problem
		r.name.Importance = widget.DangerImportance
	}
	setText(r.name, name)
	setText(r.size, formatBytes(it.Manifest.Size))
	setText(r.id, it.ID.Short())
	setText(r.uploaded, uploadedText(it.Stats.Uploaded, it.Stats.PeersServed, it.Manifest.Size))
}

// offloadText says how much the swarm spared a content's origin server,
// as the trackers report what its viewers downloaded.
func offloadText(swarm trackerapi.ContentInfo) string {
	spared, ok := swarm.FromPeers()
	if !ok {
		return "origin: no viewer yet"
	}
	return fmt.Sprintf("origin spared %.0f%% of %s", 100*spared, formatBytes(swarm.Downloaded))
}

// uploadedText says how many copies of a file of size bytes this node
// uploaded (uploaded bytes since it started), to how many peers:
// "1.02 copies to 4 peers · 51.3 MB".
func uploadedText(uploaded int64, peers int, size int64) string {
	if uploaded <= 0 {
		return "not uploaded yet"
	}
	copies := formatBytes(uploaded)
	if size > 0 {
		c := float64(uploaded) / float64(size)
		copies = fmt.Sprintf("%.2f copies", c)
		if c < 0.005 { // would say 0.00
			copies = "under 0.01 copies"
		}
	}
	return fmt.Sprintf("%s to %s · %s", copies, count(peers, "peer"), formatBytes(uploaded))
}

// copyLink puts the share link of id on the clipboard.
func (s *shareScreen) copyLink(id content.ID) {
	link, err := s.u.node.Link(id)
	if s.u.failed(err) {
		return
	}
	s.u.app.Clipboard().SetContent(link.String())
	s.say(fmt.Sprintf("Copied the link of %s: paste it to whoever should download it.", link.Name))
}

// unshare stops sharing id; the file stays where it is.
func (s *shareScreen) unshare(id content.ID) {
	s.u.act(func(context.Context) error { return s.u.node.Unshare(id) }, func(err error) {
		s.u.failed(err)
		s.reload()
	})
}

// say shows a short message above the table.
func (s *shareScreen) say(msg string) {
	s.status.SetText(msg)
	s.status.Show()
}

// drop shares files dropped on the window; a dropped folder shares the
// files directly inside it.
func (s *shareScreen) drop(uris []fyne.URI) {
	var paths []string
	for _, u := range uris {
		if u.Scheme() == "file" {
			paths = append(paths, u.Path())
		}
	}
	s.u.tabs.Select(s.tab)
	s.sharePaths(paths)
}

func (s *shareScreen) pickFile() {
	dialog.ShowFileOpen(func(f fyne.URIReadCloser, err error) {
		if s.u.failed(err) || f == nil {
			return
		}
		f.Close() // only its path is needed: core streams the file itself
		s.sharePaths([]string{f.URI().Path()})
	}, s.u.win)
}

func (s *shareScreen) pickFolder() {
	dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
		if s.u.failed(err) || dir == nil {
			return
		}
		s.sharePaths([]string{dir.Path()})
	}, s.u.win)
}

// shared sums up one share job.
type shared struct {
	files   int
	folders int // folders whose files were shared
}

// sharePaths shares files and the files directly inside folders. Hashing
// takes a while for big files, so it runs in the background and says
// which file it is at.
func (s *shareScreen) sharePaths(paths []string) {
	if len(paths) == 0 {
		return
	}
	s.sharing++
	s.busy.Show()
	s.busy.Start()
	s.busyText.SetText("Reading…")
	opts := core.ShareOptions{Private: s.private.Checked}
	background(s.u, func(ctx context.Context) (shared, error) {
		files, folders, errs := expandFolders(paths)
		done := shared{folders: folders}
		for i, f := range files {
			s.u.ui(func() { s.busyText.SetText(fmt.Sprintf("Hashing %s (%d of %d)…", filepath.Base(f), i+1, len(files))) })
			if _, err := s.u.node.Share(ctx, f, opts); err != nil {
				errs = append(errs, err)
				continue
			}
			done.files++
		}
		return done, errors.Join(errs...)
	}, func(done shared, err error) {
		if s.sharing--; s.sharing == 0 {
			s.busy.Stop()
			s.busy.Hide()
			s.busyText.SetText("")
		}
		s.u.failed(err)
		switch {
		case done.folders > 0:
			s.say(fmt.Sprintf("Shared %s. Only the files directly inside a folder are shared, not its subfolders.", count(done.files, "file")))
		case done.files > 0:
			s.say(fmt.Sprintf("Shared %s. Copy a link to hand it out.", count(done.files, "file")))
		}
		s.reload()
	})
}

// expandFolders replaces each folder by the files directly inside it, and
// returns how many folders there were and what could not be read.
func expandFolders(paths []string) (files []string, folders int, errs []error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot share %s: %w", p, unwrapPath(err)))
			continue
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		inside, err := core.FilesIn(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot share the files in %s: %w", p, unwrapPath(err)))
			continue
		}
		if len(inside) == 0 {
			errs = append(errs, fmt.Errorf("%s holds no files to share (subfolders are not shared): drop the files themselves", p))
			continue
		}
		folders++
		files = append(files, inside...)
	}
	return files, folders, errs
}

// unwrapPath drops the "stat /path" of an *os.PathError: messages name the
// path already.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}
