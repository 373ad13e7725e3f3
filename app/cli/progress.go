package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"peerflow/core"
	"peerflow/core/content"
)

// Progress display cadence: a bar redraws often; plain lines (logs,
// pipes) come every few seconds.
const (
	barEvery  = 200 * time.Millisecond
	lineEvery = 2 * time.Second
)

// showProgress reports d's progress on w until the returned stop is
// called: a progress bar (bytes, speed, ETA, peers) when w is a terminal,
// plain periodic lines otherwise. stop(true) draws the finished state.
func showProgress(d *core.Download, w io.Writer) (stop func(ok bool)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	if isTerminal(w) {
		bar := newBar(d, w)
		wg.Go(func() { follow(d, done, barEvery, func(p core.Progress) { updateBar(bar, d, p) }) })
		return func(ok bool) {
			close(done)
			wg.Wait()
			if ok {
				updateBar(bar, d, d.Progress())
				bar.Finish()
			} else {
				bar.Exit()
			}
			fmt.Fprintln(w)
		}
	}
	wg.Go(func() { follow(d, done, lineEvery, func(p core.Progress) { fmt.Fprintln(w, progressLine(d, p)) }) })
	return func(bool) {
		close(done)
		wg.Wait()
	}
}

// follow calls show with a fresh snapshot every period until done.
func follow(d *core.Download, done <-chan struct{}, period time.Duration, show func(core.Progress)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			show(d.Progress())
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newBar(d *core.Download, w io.Writer) *progressbar.ProgressBar {
	return bytesBar(w, d.Manifest().Size, d.Manifest().Name,
		progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionSetRenderBlankState(true))
}

// bytesBar is a terminal bar of total bytes, as every command draws it:
// bytes done and in all, rate, time left, the terminal's width.
func bytesBar(w io.Writer, total int64, desc string, more ...progressbar.Option) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total, append([]progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(barEvery / 2),
		progressbar.OptionUseANSICodes(true),
	}, more...)...)
}

func updateBar(bar *progressbar.ProgressBar, d *core.Download, p core.Progress) {
	bar.Describe(fmt.Sprintf("%s · %s", d.Manifest().Name, peersText(p)))
	bar.Set64(p.Bytes)
}

// peersText says how many peers (and the state, when not plainly
// downloading) in a few words.
func peersText(p core.Progress) string {
	s := fmt.Sprintf("%d peers", p.Peers)
	if p.Peers == 1 {
		s = "1 peer"
	}
	switch p.State {
	case core.StateDownloading, core.StateComplete:
		return s
	case core.StateStalled:
		return fmt.Sprintf("%s, %d chunks held by nobody", s, p.Unavailable)
	}
	return fmt.Sprintf("%s, %s", s, p.State)
}

// progressLine is one plain report line.
func progressLine(d *core.Download, p core.Progress) string {
	pct := 100.0
	if p.Size > 0 {
		pct = 100 * float64(p.Bytes) / float64(p.Size)
	}
	eta := "?"
	if p.Rate > 0 {
		eta = (time.Duration(float64(p.Size-p.Bytes)/p.Rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %5.1f%% %s of %s, %s, ETA %s, %s", d.Manifest().Name, pct,
		content.FormatBytes(p.Bytes), content.FormatBytes(p.Size), FormatRate(int64(p.Rate)), eta, peersText(p))
}

// hashProgress shows the hashing of a share named name on w, when w is
// a terminal: a bar of the bytes read, with rate and time left. It
// returns the callback for core.ShareOptions.Progress (nil when w is not
// a terminal: scripts get the link line only) and done, which ends the
// bar.
func hashProgress(name string, w io.Writer) (progress func(read, total int64), done func()) {
	if !isTerminal(w) {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	progress = func(read, total int64) {
		if bar == nil {
			bar = bytesBar(w, total, "hashing "+name, progressbar.OptionClearOnFinish())
		}
		bar.Set64(read)
	}
	return progress, func() {
		if bar != nil {
			bar.Finish()
		}
	}
}
