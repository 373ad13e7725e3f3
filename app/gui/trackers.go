package gui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"peerflow/core/content"
	"peerflow/core/trackerapi"
	"peerflow/tracker"
)

// trackerColumns are the widths of the tracker table after the address.
var trackerColumns = columns{190, 380}

// trackersScreen lists the trackers the node knows (found on the LAN,
// added by hand, named in links), adds one by address, and hosts one on
// this computer.
type trackersScreen struct {
	u         *UI
	hostCheck *widget.Check
	hostInfo  *widget.Label
	hostAddrs *fyne.Container // the hosted tracker's addresses, each with Copy
	addr      *widget.Entry
	addButton *widget.Button
	list      *widget.List
	remove    *widget.Button
	tab       *container.TabItem

	known    []trackerapi.TrackerStatus
	selected int      // index into known, -1 for none
	hosted   []string // the hosted tracker's addresses this node uses (and links name); nil when not hosting
}

func newTrackersScreen(u *UI) *trackersScreen {
	s := &trackersScreen{u: u, selected: -1}
	s.buildUI()
	return s
}

func (s *trackersScreen) buildUI() {
	s.hostCheck = widget.NewCheck("Host a tracker on this computer", s.setHosting)
	s.hostInfo = widget.NewLabel("")
	s.hostInfo.Wrapping = fyne.TextWrapWord
	s.hostAddrs = container.NewVBox()
	s.showHost(hostStatus{}, false)

	s.addr = widget.NewEntry()
	s.addr.SetPlaceHolder("host:port, e.g. 192.168.1.20:7070")
	s.addr.OnSubmitted = func(string) { s.add() }
	s.addButton = widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), s.add)

	s.list = widget.NewList(
		func() int { return len(s.known) },
		func() fyne.CanvasObject { return trackerColumns.row(cell(), cell(), cell()) },
		s.updateRow,
	)
	s.list.OnSelected = func(id widget.ListItemID) { s.selected = id; s.updateRemove() }
	s.list.OnUnselected = func(widget.ListItemID) { s.selected = -1; s.updateRemove() }
	s.remove = widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), s.removeSelected)
	s.remove.Disable()

	hint := widget.NewLabel("Trackers on the LAN are found by themselves (mDNS). Add one by address where multicast is blocked; it is remembered.")
	hint.Wrapping = fyne.TextWrapWord
	top := container.NewVBox(
		s.hostCheck, s.hostInfo, s.hostAddrs,
		widget.NewSeparator(),
		widget.NewLabelWithStyle("Add a tracker by address", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewBorder(nil, nil, nil, s.addButton, s.addr),
		hint,
		widget.NewSeparator(),
		trackerColumns.header("Tracker", "Known from", "Status"),
	)
	bottom := container.NewHBox(s.remove)
	s.tab = container.NewTabItemWithIcon(TabTrackers, theme.ComputerIcon(), container.NewPadded(container.NewBorder(top, bottom, nil, nil, s.list)))
}

func (s *trackersScreen) tabItem() *container.TabItem { return s.tab }

// reload shows the trackers the node knows now.
func (s *trackersScreen) reload() {
	var selected string
	if s.selected >= 0 && s.selected < len(s.known) {
		selected = s.known[s.selected].Addr
	}
	s.known = s.u.node.Trackers()
	s.selected = slices.IndexFunc(s.known, func(t trackerapi.TrackerStatus) bool { return t.Addr == selected })
	s.list.Refresh()
	s.updateRemove()
}

func (s *trackersScreen) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(s.known) {
		return
	}
	t := s.known[id]
	cells := o.(*fyne.Container).Objects
	cells[0].(*widget.Label).SetText(t.Addr)
	cells[1].(*widget.Label).SetText(s.knownFrom(t))
	status := cells[2].(*widget.Label)
	text, failing := trackerStatus(t, time.Now())
	status.Importance = widget.MediumImportance
	if failing {
		status.Importance = widget.DangerImportance
	}
	status.SetText(text)
}

// knownFrom says how the node learned of t, in words.
func (s *trackersScreen) knownFrom(t trackerapi.TrackerStatus) string {
	var from []string
	if slices.Contains(s.hosted, t.Addr) {
		from = append(from, "this computer")
	} else if t.Sources&trackerapi.SourceManual != 0 {
		from = append(from, "added by hand")
	}
	if t.Sources&trackerapi.SourceLAN != 0 {
		from = append(from, "LAN")
	}
	if t.Sources&trackerapi.SourceLink != 0 {
		from = append(from, "a share link")
	}
	return strings.Join(from, ", ")
}

// trackerStatus describes how t answered lately, and whether its last call
// failed.
func trackerStatus(t trackerapi.TrackerStatus, now time.Time) (string, bool) {
	switch {
	case t.LastError != "" && !t.LastErrorAt.Before(t.LastSuccess):
		return "failing: " + t.LastError, true
	case !t.LastSuccess.IsZero():
		return "answered " + formatAgo(t.LastSuccess, now), false
	}
	return "not asked yet", false
}

// updateRemove enables Remove for a selected tracker added by hand.
func (s *trackersScreen) updateRemove() {
	if s.selected >= 0 && s.known[s.selected].Sources&trackerapi.SourceManual != 0 && !slices.Contains(s.hosted, s.known[s.selected].Addr) {
		s.remove.Enable()
	} else {
		s.remove.Disable()
	}
}

// add adds the tracker typed in, and remembers it for the next start.
func (s *trackersScreen) add() {
	addr := strings.TrimSpace(s.addr.Text)
	if err := content.ValidateAddr(addr); err != nil {
		s.u.showError(fmt.Errorf("tracker %w", err))
		return
	}
	if s.u.failed(s.u.node.AddTracker(addr)) {
		return
	}
	saved := s.u.prefs.load().trackers
	if !slices.Contains(saved, addr) {
		s.u.prefs.saveTrackers(append(saved, addr))
	}
	s.addr.SetText("")
	s.reload()
}

// removeSelected forgets the selected tracker added by hand.
func (s *trackersScreen) removeSelected() {
	if s.selected < 0 {
		return
	}
	addr := s.known[s.selected].Addr
	s.u.node.RemoveTracker(addr)
	s.u.prefs.saveTrackers(slices.DeleteFunc(s.u.prefs.load().trackers, func(a string) bool { return a == addr }))
	s.list.UnselectAll()
	s.reload()
}

// setHosting starts or stops the hosted tracker as the toggle says; the
// node uses it while it runs.
func (s *trackersScreen) setHosting(on bool) {
	s.hostCheck.Disable() // until this toggle is done
	if !on {
		addrs := s.hosted
		s.u.act(func(context.Context) error {
			for _, a := range addrs {
				s.u.node.RemoveTracker(a)
			}
			return s.u.host.stop()
		}, func(err error) {
			s.hostCheck.Enable()
			s.u.failed(err)
			s.showHost(hostStatus{}, false)
			s.reload()
		})
		return
	}
	s.hostInfo.SetText("Starting the tracker…")
	background(s.u, func(context.Context) (hostStatus, error) {
		st, err := s.u.host.start()
		if err != nil {
			return st, err
		}
		// Every address others may use goes into share links; the node
		// announces to one (they answer with one tracker ID).
		for _, a := range st.linkAddrs() {
			if err := s.u.node.AddTracker(a); err != nil {
				return st, err
			}
		}
		return st, nil
	}, func(st hostStatus, err error) {
		s.hostCheck.Enable()
		if s.u.failed(err) {
			s.hostCheck.SetChecked(false) // stops what did start
			return
		}
		s.showHost(st, true)
		s.reload()
	})
}

// showHost says whether a tracker is hosted here and where others find it.
func (s *trackersScreen) showHost(st hostStatus, on bool) {
	s.hosted = nil
	if on {
		s.hosted = st.linkAddrs()
	}
	s.showAddrs(st.Addresses)
	switch {
	case !on:
		s.hostInfo.SetText("Off. Turn it on when no tracker runs on your network: peers then find each other through this computer.")
	case st.Advertised:
		s.hostInfo.SetText(fmt.Sprintf("Hosting tracker %s, advertised on the LAN. Others reach it at the addresses below; share links name those of the local network and the internet. Its data is kept in the Peerflow data folder.", st.ID))
	case st.AdvertiseErr != nil:
		s.hostInfo.SetText(fmt.Sprintf("Hosting tracker %s. Not advertised on the LAN (%v): others add it by one of the addresses below.", st.ID, st.AdvertiseErr))
	default:
		s.hostInfo.SetText(fmt.Sprintf("Hosting tracker %s. Others add it by one of the addresses below.", st.ID))
	}
}

// showAddrs lists the hosted tracker's addresses, each with who can
// reach it and a Copy button.
func (s *trackersScreen) showAddrs(addrs []tracker.Address) {
	rows := make([]fyne.CanvasObject, 0, len(addrs))
	for _, a := range addrs {
		where := a.Scope.String()
		if a.Interface != "" {
			where += ", " + a.Interface
		}
		addr := a.Addr
		copyAddr := widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() {
			s.u.app.Clipboard().SetContent(addr)
			s.hostInfo.SetText("Copied " + addr + ": give it to whoever adds this tracker by hand.")
		})
		label := widget.NewLabel(addr + "  ·  " + where)
		label.TextStyle.Monospace = a.Scope.Shareable()
		if !a.Scope.Shareable() {
			label.Importance = widget.LowImportance
		}
		rows = append(rows, container.NewBorder(nil, nil, nil, copyAddr, label))
	}
	s.hostAddrs.Objects = rows
	s.hostAddrs.Refresh()
}

// hostAtStart hosts a tracker as the setting says: always, never, or when
// no tracker was given and none answers on the LAN within Config.LANWait,
// so that one person alone can start sharing at once.
func (s *trackersScreen) hostAtStart(mode hostMode) {
	switch mode {
	case hostAlways:
		s.hostCheck.SetChecked(true)
	case hostAuto:
		s.u.spawn(func() {
			ctx, cancel := context.WithTimeout(s.u.ctx, s.u.cfg.LANWait)
			defer cancel()
			err := s.u.node.WaitForTracker(ctx)
			// A share link opened at start may have named one meanwhile.
			if err == nil || len(s.u.node.Trackers()) > 0 || s.u.ctx.Err() != nil {
				return
			}
			s.u.ui(func() { s.hostCheck.SetChecked(true) })
		})
	}
}
