package gui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	u     *UI
	tab   *container.TabItem
	rows  map[content.ID]*shareRow
	list  *fyne.Container
	empty fyne.CanvasObject
	// The hashing of a share job: a bar of the bytes read, what is being
	// hashed, and Cancel, shown while a job runs.
	hashing  *fyne.Container
	progress *widget.ProgressBar
	busyText *widget.Label
	cancel   *widget.Button
	status   *widget.Label
	private  *widget.Check // share as private swarms
	jobs     []*shareJob   // running
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
	s.progress = widget.NewProgressBar()
	s.busyText = widget.NewLabel("")
	s.cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), s.cancelJobs)
	s.hashing = container.NewBorder(nil, nil, nil, s.cancel, container.NewVBox(s.busyText, s.progress))
	s.hashing.Hide()
	hint := widget.NewLabel("Drop files or folders onto this window to share them. A folder is shared whole, subfolders and all, as one content.")
	hint.Wrapping = fyne.TextWrapWord
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	s.status.Hide()
	top := container.NewVBox(
		container.NewHBox(addFiles, addFolder, s.private),
		hint,
		s.hashing,
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

// drop shares files and folders dropped on the window.
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

// confirmFiles is the number of files in the folders of one share above
// which the window asks first: a folder dropped by mistake (a home
// folder, say) would be hashed whole.
const confirmFiles = 100

// toShare is a file or a folder about to be shared.
type toShare struct {
	path   string
	folder bool
	files  int // a folder's, subfolders included
	size   int64
}

// sharePaths shares each file, and each folder whole, subfolders and
// all, as one content. Folders of more than confirmFiles files in all
// ask first. Hashing runs in the background, with a progress bar and
// Cancel.
func (s *shareScreen) sharePaths(paths []string) {
	if len(paths) == 0 {
		return
	}
	background(s.u, func(context.Context) ([]toShare, error) { return measure(paths) }, func(items []toShare, err error) {
		s.u.failed(err) // what cannot be read; the rest is shared
		files, size := 0, int64(0)
		for _, it := range items {
			if it.folder {
				files += it.files
				size += it.size
			}
		}
		if files <= confirmFiles {
			s.run(items)
			return
		}
		d := dialog.NewConfirm("Share these folders whole?",
			fmt.Sprintf("%s holding %s (%s) in all, each as one content, subfolders and all.",
				count(folderCount(items), "folder"), count(files, "file"), formatBytes(size)),
			func(ok bool) {
				if ok {
					s.run(items)
				}
			}, s.u.win)
		d.SetConfirmText("Share")
		d.SetDismissText("Not now")
		s.u.showConfirm(d)
	})
}

func folderCount(items []toShare) (n int) {
	for _, it := range items {
		if it.folder {
			n++
		}
	}
	return n
}

// measure stats each path and counts what each folder holds.
func measure(paths []string) ([]toShare, error) {
	var items []toShare
	var errs []error
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot share %s: %w", p, unwrapPath(err)))
			continue
		}
		it := toShare{path: p, folder: fi.IsDir(), size: fi.Size()}
		if it.folder {
			it.size = 0
			err = filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				info, err := d.Info()
				if err == nil {
					it.files++
					it.size += info.Size()
				}
				return err
			})
			if err == nil && it.files == 0 {
				err = errors.New("it holds no files")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("cannot share the folder %s: %w", p, unwrapPath(err)))
				continue
			}
		}
		items = append(items, it)
	}
	return items, errors.Join(errs...)
}

// shareJob is one run of sharing, which Cancel stops.
type shareJob struct{ cancel context.CancelFunc }

// hashUpdateEvery spaces the progress bar's updates.
const hashUpdateEvery = 100 * time.Millisecond

// run shares items one after the other, showing the hashing until it
// ends or Cancel stops it.
func (s *shareScreen) run(items []toShare) {
	ctx, cancel := context.WithCancel(s.u.ctx)
	job := &shareJob{cancel}
	s.jobs = append(s.jobs, job)
	s.progress.SetValue(0)
	s.busyText.SetText("Reading…")
	s.hashing.Show()
	opts := core.ShareOptions{Private: s.private.Checked}
	background(s.u, func(context.Context) (int, error) {
		shared := 0
		var errs []error
		for i, it := range items {
			name := fmt.Sprintf("%s (%d of %d)", filepath.Base(it.path), i+1, len(items))
			var last time.Time
			opts.Progress = func(read, total int64) {
				if now := time.Now(); now.Sub(last) >= hashUpdateEvery || read == total {
					last = now
					s.u.ui(func() { s.showHashing(name, read, total) })
				}
			}
			share := s.u.node.Share
			if it.folder {
				share = s.u.node.ShareFolder
			}
			if _, err := share(ctx, it.path, opts); err != nil {
				if ctx.Err() != nil {
					return shared, ctx.Err()
				}
				errs = append(errs, err)
				continue
			}
			shared++
		}
		return shared, errors.Join(errs...)
	}, func(shared int, err error) {
		cancel()
		s.jobs = slices.DeleteFunc(s.jobs, func(j *shareJob) bool { return j == job })
		if len(s.jobs) == 0 {
			s.hashing.Hide()
		}
		switch {
		case errors.Is(err, context.Canceled):
			s.say(fmt.Sprintf("Sharing cancelled; %s shared before.", count(shared, "content")))
		case shared > 0:
			s.u.failed(err)
			s.say(fmt.Sprintf("Shared %s. Copy a link to hand it out.", count(shared, "content")))
		default:
			s.u.failed(err)
		}
		s.reload()
	})
}

// showHashing shows how far the hashing of name is.
func (s *shareScreen) showHashing(name string, read, total int64) {
	frac := 1.0
	if total > 0 {
		frac = float64(read) / float64(total)
	}
	s.progress.SetValue(frac)
	s.busyText.SetText(fmt.Sprintf("Hashing %s: %s of %s", name, formatBytes(read), formatBytes(total)))
}

// cancelJobs stops every share job running; what was shared stays.
func (s *shareScreen) cancelJobs() {
	for _, j := range s.jobs {
		j.cancel()
	}
}

// unwrapPath drops the "stat /path" of an *os.PathError: messages name the
// path already.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}
