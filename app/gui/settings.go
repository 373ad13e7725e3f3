package gui

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/core"
	"peerflow/core/trackerapi"
)

// Preference keys.
const (
	prefDownloadFolder = "downloadFolder"
	prefListenPort     = "listenPort"
	prefUpLimit        = "upLimit"   // bytes/s, 0 = unlimited
	prefDownLimit      = "downLimit" // bytes/s, 0 = unlimited
	prefHostAtStart    = "hostAtStart"
	prefTrackers       = "trackers" // added by hand on the Trackers tab
	prefScope          = "trackerScope"
	prefOnClose        = "onClose"     // a closeMode
	prefStartHidden    = "startHidden" // start in the background (tray only)
)

// hostMode says whether to host a tracker when the app starts.
type hostMode string

const (
	hostAuto   hostMode = "auto" // when no tracker is configured or found on the LAN
	hostAlways hostMode = "always"
	hostNever  hostMode = "never"
)

// choice is one option of a Select of the Settings form: the value it
// stands for and what the form says.
type choice[T comparable] struct {
	value T
	label string
}

// choices are a Select's options, in the form's order.
type choices[T comparable] []choice[T]

func (cs choices[T]) newSelect() *widget.Select {
	labels := make([]string, len(cs))
	for i, c := range cs {
		labels[i] = c.label
	}
	return widget.NewSelect(labels, nil)
}

// labelOf is what the form says for v.
func (cs choices[T]) labelOf(v T) string {
	for _, c := range cs {
		if c.value == v {
			return c.label
		}
	}
	return ""
}

// valueOf is the value of the option labelled label, else def.
func (cs choices[T]) valueOf(label string, def T) T {
	for _, c := range cs {
		if c.label == label {
			return c.value
		}
	}
	return def
}

// hostModes are the choices of hosting a tracker at start.
var hostModes = choices[hostMode]{
	{hostAuto, "When no tracker is found on the LAN"},
	{hostAlways, "Always"},
	{hostNever, "Never"},
}

// scopes are the choices of what trackers not added by hand hear of
// (trackerapi.Scope); scopeKeys are the names the preferences keep.
var (
	scopes = choices[trackerapi.Scope]{
		{trackerapi.ScopeShares, "My shares (LAN), and what came from each"},
		{trackerapi.ScopeOrigin, "Only what came from each"},
		{trackerapi.ScopeAll, "Everything in my library"},
	}
	scopeKeys = choices[trackerapi.Scope]{
		{trackerapi.ScopeShares, "shares"},
		{trackerapi.ScopeOrigin, "origin"},
		{trackerapi.ScopeAll, "all"},
	}
)

// settings are what the preferences hold, defaults filled in.
type settings struct {
	folder      string
	port        int
	up, down    int64 // bytes/s
	host        hostMode
	scope       trackerapi.Scope
	trackers    []string
	onClose     closeMode
	startHidden bool
}

// prefs are the settings of one data folder, kept in the app's
// Preferences. A node started with --data DIR keeps its own under keys
// scoped by DIR, so several nodes run side by side on one machine.
type prefs struct {
	p     fyne.Preferences
	scope string
}

func newPrefs(p fyne.Preferences, dataDir string) prefs {
	if def, err := core.DefaultDataDir(); err == nil && def == dataDir {
		dataDir = ""
	}
	return prefs{p: p, scope: dataDir}
}

func (p prefs) key(name string) string {
	if p.scope == "" {
		return name
	}
	return p.scope + "|" + name
}

func (p prefs) load() settings {
	scope := scopeKeys.valueOf(p.p.String(p.key(prefScope)), trackerapi.ScopeShares)
	onClose := closeMode(p.p.String(p.key(prefOnClose)))
	if onClose != closeBackground && onClose != closeQuit {
		onClose = closeAsk
	}
	return settings{
		scope:       scope,
		folder:      p.p.StringWithFallback(p.key(prefDownloadFolder), defaultDownloadFolder()),
		port:        p.p.Int(p.key(prefListenPort)),
		up:          int64(p.p.Int(p.key(prefUpLimit))),
		down:        int64(p.p.Int(p.key(prefDownLimit))),
		host:        hostMode(p.p.StringWithFallback(p.key(prefHostAtStart), string(hostAuto))),
		trackers:    p.p.StringList(p.key(prefTrackers)),
		onClose:     onClose,
		startHidden: p.p.Bool(p.key(prefStartHidden)),
	}
}

// save keeps everything the Settings form edits.
func (p prefs) save(s settings) {
	p.p.SetString(p.key(prefDownloadFolder), s.folder)
	p.p.SetInt(p.key(prefListenPort), s.port)
	p.p.SetInt(p.key(prefUpLimit), int(s.up))
	p.p.SetInt(p.key(prefDownLimit), int(s.down))
	p.p.SetString(p.key(prefHostAtStart), string(s.host))
	p.p.SetString(p.key(prefOnClose), string(s.onClose))
	p.p.SetBool(p.key(prefStartHidden), s.startHidden)
	p.p.SetString(p.key(prefScope), scopeKeys.labelOf(s.scope))
}

// saveTrackers keeps the trackers added by hand.
func (p prefs) saveTrackers(addrs []string) { p.p.SetStringList(p.key(prefTrackers), addrs) }

// defaultDownloadFolder is ~/Downloads, or the home folder without one.
func defaultDownloadFolder() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "."
	}
	if fi, err := os.Stat(filepath.Join(home, "Downloads")); err == nil && fi.IsDir() {
		return filepath.Join(home, "Downloads")
	}
	return home
}

// settingsScreen edits the settings. Limits apply at once, the listen port
// at the next start.
type settingsScreen struct {
	u           *UI
	folder      *widget.Entry
	port        *widget.Entry
	up, down    *widget.Entry
	onClose     *widget.Select
	startHidden *widget.Check
	autostart   *widget.Check
	hostAtStart *widget.Select
	scope       *widget.Select
	form        *widget.Form
	saved       *widget.Label
	tab         *container.TabItem
	current     settings
}

func newSettingsScreen(u *UI) *settingsScreen {
	s := &settingsScreen{u: u}
	s.buildUI()
	return s
}

func (s *settingsScreen) buildUI() {
	s.folder = widget.NewEntry()
	s.folder.SetPlaceHolder("Download folder")
	s.port = widget.NewEntry()
	s.up = widget.NewEntry()
	s.down = widget.NewEntry()
	s.hostAtStart = hostModes.newSelect()
	s.scope = scopes.newSelect()
	s.onClose = closeModes.newSelect()
	s.startHidden = widget.NewCheck("Start in the background, in the system tray", nil)
	s.autostart = widget.NewCheck("Start Peerflow when I log in", nil)
	if !autostartSupported {
		s.autostart.Disable()
	}
	choose := widget.NewButtonWithIcon("Choose…", theme.FolderOpenIcon(), s.chooseFolder)
	s.form = &widget.Form{
		Items: []*widget.FormItem{
			{Text: "Download folder", Widget: container.NewBorder(nil, nil, nil, choose, s.folder), HintText: "Where downloads are saved."},
			{Text: "Listen port", Widget: s.port, HintText: "Where other peers connect; 0 picks a free port. Applies at next start."},
			{Text: "Upload limit", Widget: s.up, HintText: "MB/s; 0 = unlimited. Applies at once."},
			{Text: "Download limit", Widget: s.down, HintText: "MB/s; 0 = unlimited. Applies at once."},
			{Text: "Host a tracker at start", Widget: s.hostAtStart, HintText: "A tracker tells peers who holds what; one on the LAN is enough."},
			{Text: "Other trackers hear of", Widget: s.scope,
				HintText: "What trackers found on the LAN or named in links, which may be anyone's, are told. Trackers added by hand hear of everything."},
			{Text: "Closing the window", Widget: s.onClose, HintText: "In the background, Peerflow keeps sharing and downloading; its tray icon opens it again."},
			{Text: "At start", Widget: s.startHidden, HintText: "Applies when a system tray is there to open the window from."},
			{Text: "At login", Widget: s.autostart},
		},
		SubmitText: "Save",
		OnSubmit:   s.save,
	}
	s.saved = widget.NewLabel("")
	s.tab = container.NewTabItemWithIcon(TabSettings, theme.SettingsIcon(),
		container.NewPadded(container.NewVBox(s.form, s.saved)))
}

func (s *settingsScreen) tabItem() *container.TabItem { return s.tab }

// show fills the form with s.
func (s *settingsScreen) show(st settings) {
	s.current = st
	s.folder.SetText(st.folder)
	s.port.SetText(strconv.Itoa(st.port))
	s.up.SetText(formatLimit(st.up))
	s.down.SetText(formatLimit(st.down))
	s.hostAtStart.SetSelected(hostModes.labelOf(st.host))
	s.scope.SetSelected(scopes.labelOf(st.scope))
	s.onClose.SetSelected(closeModes.labelOf(st.onClose))
	s.startHidden.SetChecked(st.startHidden)
	s.autostart.SetChecked(autostartEnabled())
}

// save checks the form, keeps it and applies the limits.
func (s *settingsScreen) save() {
	st, err := s.read()
	if err != nil {
		s.u.showError(err)
		return
	}
	if s.autostart.Checked != autostartEnabled() {
		exe, err := os.Executable()
		if err == nil {
			err = setAutostart(s.autostart.Checked, exe)
		}
		if err != nil {
			s.u.showError(fmt.Errorf("start with the session: %w", err))
			return
		}
	}
	s.u.prefs.save(st)
	s.u.node.SetLimits(st.up, st.down)
	s.u.node.SetScope(st.scope)
	msg := "Saved."
	if st.port != s.current.port {
		msg += " The new listen port applies at the next start of Peerflow."
	}
	s.current = st
	s.saved.SetText(msg)
}

// read returns the settings the form holds, or what is wrong with them.
func (s *settingsScreen) read() (settings, error) {
	st := s.current
	st.folder = strings.TrimSpace(s.folder.Text)
	if fi, err := os.Stat(st.folder); err != nil || !fi.IsDir() {
		return st, fmt.Errorf("the download folder %q does not exist or is not a folder: create it, or choose another", st.folder)
	}
	port, err := strconv.Atoi(strings.TrimSpace(s.port.Text))
	if err != nil || port < 0 || port > 65535 {
		return st, fmt.Errorf("listen port %q: type a number from 0 to 65535 (0 picks a free port)", s.port.Text)
	}
	st.port = port
	if st.up, err = parseLimit("upload", s.up.Text); err != nil {
		return st, err
	}
	if st.down, err = parseLimit("download", s.down.Text); err != nil {
		return st, err
	}
	st.host = hostModes.valueOf(s.hostAtStart.Selected, st.host)
	st.scope = scopes.valueOf(s.scope.Selected, st.scope)
	st.onClose = closeModes.valueOf(s.onClose.Selected, st.onClose)
	st.startHidden = s.startHidden.Checked
	return st, nil
}

// parseLimit parses a rate limit typed in MB/s into bytes/s.
func parseLimit(what, text string) (int64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	// !(v >= 0) also refuses NaN, which every comparison fails; a rate
	// above 0 must be at least 1 byte/s.
	if err != nil || !(v >= 0) || math.IsInf(v, 0) || v > 1e6 || (v > 0 && v*1e6 < 1) {
		return 0, fmt.Errorf("%s limit %q: type a number of MB/s, e.g. 2.5, or 0 for unlimited", what, text)
	}
	return int64(v * 1e6), nil
}

// formatLimit shows a limit in bytes/s as MB/s, the form's unit.
func formatLimit(bytesPerSec int64) string {
	return strconv.FormatFloat(float64(bytesPerSec)/1e6, 'f', -1, 64)
}

// chooseFolder picks the download folder with a folder dialog.
func (s *settingsScreen) chooseFolder() {
	d := dialog.NewFolderOpen(func(dir fyne.ListableURI, err error) {
		if err != nil {
			s.u.showError(err)
			return
		}
		if dir != nil {
			s.folder.SetText(dir.Path())
		}
	}, s.u.win)
	if loc, err := storage.ListerForURI(storage.NewFileURI(s.folder.Text)); err == nil {
		d.SetLocation(loc) // else the dialog starts in the home folder
	}
	d.Show()
}
