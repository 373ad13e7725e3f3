package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"peerflow/core/store"
)

// originWorker fetches the chunks the planner gave the origin, one HTTP
// range request at a time.
func (d *Download) originWorker() {
	var buf []byte
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.originWake:
		}
		for {
			c, ok := d.nextOriginChunk()
			if !ok {
				break
			}
			signal(d.originWake) // let the other workers take the next ones
			n := d.m.ChunkLen(c)
			if int64(cap(buf)) < n {
				buf = make([]byte, d.m.ChunkSize)
			}
			// The origin's bytes count against the download limit too.
			if err := d.e.down.Load().wait(d.ctx, n); err != nil {
				d.originDone(c, buf[:n], 0, err)
				continue
			}
			start := time.Now()
			err := d.fetchRange(d.ctx, c, buf[:n])
			d.originDone(c, buf[:n], time.Since(start), err)
		}
	}
}

// nextOriginChunk takes the next origin chunk that is still needed.
func (d *Download) nextOriginChunk() (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.s.NextOriginChunk(time.Now())
}

// originClient is the HTTP client of a download's origin when the caller
// gives none: timeouts, and no redirect to another host (an origin is
// trusted for its own bytes, not to send the node elsewhere); another port
// of the same host, or https for http, is fine.
func originClient() *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			switch {
			case len(via) >= 5:
				return errors.New("origin: more than 5 redirects")
			case req.URL.Hostname() != via[0].URL.Hostname() ||
				req.URL.Scheme != via[0].URL.Scheme && !(via[0].URL.Scheme == "http" && req.URL.Scheme == "https"):
				return fmt.Errorf("origin: refused a redirect from %s to another host, %s", via[0].URL.Host, req.URL.Host)
			}
			return nil
		},
	}
}

// errOriginStatus is an origin's refusal of a range request.
type errOriginStatus struct{ code int }

func (e errOriginStatus) Error() string {
	return fmt.Sprintf("range request answered %d %s", e.code, http.StatusText(e.code))
}

// originDone accounts for one origin fetch.
func (d *Download) originDone(c int, data []byte, took time.Duration, fetchErr error) {
	var fresh bool
	var putErr error
	if fetchErr == nil {
		fresh, putErr = d.part.PutChunk(c, data)
	}
	n := int64(len(data))
	now := time.Now()
	var cancels []request
	d.mu.Lock()
	switch {
	case errors.Is(putErr, store.ErrHashMismatch):
		d.s.OriginFailed(c, false, true, now)
		d.originBad = fmt.Errorf("origin %s served bytes that do not match the manifest", d.opts.Origin)
		d.result.Refetched++
	case putErr != nil:
		d.s.OriginFailed(c, false, false, now)
		if d.err == nil {
			d.err = fmt.Errorf("download %s: %w", d.m.Name, putErr)
		}
	case fetchErr != nil:
		if d.ctx.Err() != nil {
			d.s.OriginGot(c, 0, took, false, now) // withdrawn: the download is ending
			break
		}
		var status errOriginStatus
		refused := errors.As(fetchErr, &status) && status.code >= 400 && status.code < 500
		if d.s.OriginFailed(c, refused, false, now) {
			d.originBad = fmt.Errorf("origin %s: %w", d.opts.Origin, fetchErr)
		}
		d.log.Debug("origin fetch failed", "chunk", c, "err", fetchErr)
	case fresh:
		cancels = d.requestsLocked(d.s.OriginGot(c, n, took, true, now))
		d.result.OriginBytes += n
		d.accountLocked(c, n, OriginSource, now)
	default:
		d.s.OriginGot(c, n, took, false, now)
		d.result.Refetched++
	}
	if d.originBad != nil && !d.s.OriginUsable() && (putErr != nil || fetchErr != nil) {
		d.log.Warn("not using the origin any more", "err", d.originBad)
	}
	rate := d.s.OriginRate()
	d.mu.Unlock()
	sendCancels(cancels)
	if fetchErr == nil && putErr == nil && fresh {
		d.sw.countDownload(n, true)
		d.emit(Event{Kind: EventChunk, Chunk: c, Source: OriginSource, Bytes: n, Rate: rate})
		d.sw.broadcastHave(c)
	}
	d.wake()
}

// fetchRange reads chunk c from the origin into buf with a Range request.
func (d *Download) fetchRange(ctx context.Context, c int, buf []byte) error {
	url := d.opts.Origin
	off := d.m.ChunkOffset(c)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(buf))-1))
	resp, err := d.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("origin %s: %w", url, err)
	}
	defer resp.Body.Close()
	whole := off == 0 && int64(len(buf)) == d.m.Size
	if resp.StatusCode != http.StatusPartialContent && !(whole && resp.StatusCode == http.StatusOK) {
		return fmt.Errorf("origin %s: %w", url, errOriginStatus{resp.StatusCode})
	}
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return fmt.Errorf("origin %s: read chunk %d: %w", url, c, err)
	}
	return nil
}
