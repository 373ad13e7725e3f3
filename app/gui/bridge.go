package gui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"fyne.io/fyne/v2/dialog"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

// The bridge between the screens and core: core calls can block on disk
// or network, so they run off the UI goroutine, and their results come
// back to it; errors end in a dialog that says what to do.

// background runs work off the UI goroutine, then done with its result and
// error on the UI goroutine; done usually hands the error to u.failed.
// Nothing runs once the window is closing.
func background[T any](u *UI, work func(ctx context.Context) (T, error), done func(T, error)) {
	u.spawn(func() {
		v, err := work(u.ctx)
		u.ui(func() { done(v, err) })
	})
}

// act is background for core calls that return only an error.
func (u *UI) act(work func(ctx context.Context) error, done func(error)) {
	background(u, func(ctx context.Context) (struct{}, error) { return struct{}{}, work(ctx) },
		func(_ struct{}, err error) { done(err) })
}

// failed shows err, if any, in a dialog and reports whether there was one.
func (u *UI) failed(err error) bool {
	if err != nil {
		u.showError(err)
	}
	return err != nil
}

// spawn runs f on a goroutine that Close waits for, unless the window is
// closing.
func (u *UI) spawn(f func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.closed {
		u.wg.Go(f)
	}
}

// ui runs f on the UI goroutine, unless the window is closing by then.
func (u *UI) ui(f func()) {
	u.do(func() {
		if !u.isClosed() {
			f()
		}
	})
}

func (u *UI) isClosed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

// showError shows err in a dialog, with what to do about it.
func (u *UI) showError(err error) {
	if errors.Is(err, context.Canceled) {
		return // the window is closing: nobody asked
	}
	d := dialog.NewError(explain(err), u.win)
	u.showAnswerable(d, d.Hide, d.Hide) // Enter or Escape closes it
}

// explain adds what to do next to the errors people meet in the window,
// and rephrases core's terminal-minded advice in terms of the window.
func explain(err error) error {
	switch {
	case errors.Is(err, core.ErrNoTracker), errors.Is(err, trackerapi.ErrNoTrackers):
		return errors.New("no tracker is known yet: add one on the Trackers tab, turn on \"Host a tracker on this computer\" there, or open a share link that names one")
	case errors.Is(err, core.ErrInUse):
		return fmt.Errorf("%w: close the other Peerflow window, or start this one with --data DIR to run a second node", err)
	case errors.Is(err, core.ErrDiskFull):
		return fmt.Errorf("%w: free some space, then resume the download", err)
	case errors.Is(err, content.ErrBadLink):
		return fmt.Errorf("%w: paste the whole link, starting with peerflow://", err)
	case errors.Is(err, content.ErrBadAddr):
		return fmt.Errorf("%w: type the tracker's address as host:port, e.g. 192.168.1.20:7070", err)
	case errors.Is(err, core.ErrNoFolder):
		return fmt.Errorf("%w: choose an existing download folder on the Settings tab", err)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w: another program uses this port; choose another one on the Settings tab (0 picks a free one)", err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: check that it still exists", err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: Peerflow may not read or write there; choose another place", err)
	}
	return err
}
