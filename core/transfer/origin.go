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

// Origin retry policy: a failed fetch waits before the next, longer each
// time; an origin that refuses the same way (4xx) this many times in a row
// is given up, and so is one that serves bytes not matching the manifest.
const (
	originBackoffMin = 500 * time.Millisecond
	originBackoffMax = 30 * time.Second
	originGiveUp     = 5
)

// origin is the download's view of its origin server. Guarded by Download.mu
// except url, which never changes.
type origin struct {
	url      string
	queue    []int        // planned chunks, in order
	inflight map[int]bool // chunks being fetched
	meter    meter
	failures int       // fetches failed in a row
	retryAt  time.Time // no fetch before this, after a failure
	refused  int       // 4xx answers in a row
	bad      error     // why the origin is no longer used; nil while usable
}

// usable reports whether the origin may be planned for; d.mu held.
func (o *origin) usable() bool { return o.url != "" && o.bad == nil }

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
	o := &d.origin
	if d.paused || !o.usable() || time.Now().Before(o.retryAt) {
		return 0, false
	}
	for len(o.queue) > 0 {
		c := o.queue[0]
		o.queue = o.queue[1:]
		if d.missing.Has(c) && d.inflight[c] == 0 {
			d.inflight[c]++
			o.inflight[c] = true
			return c, true
		}
	}
	return 0, false
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
	d.mu.Lock()
	o := &d.origin
	if o.inflight[c] { // not if a pause withdrew it meanwhile
		delete(o.inflight, c)
		d.inflight[c]--
	}
	switch {
	case errors.Is(putErr, store.ErrHashMismatch):
		o.bad = fmt.Errorf("origin %s served bytes that do not match the manifest", o.url)
		d.result.Refetched++
	case putErr != nil:
		if d.err == nil {
			d.err = fmt.Errorf("download %s: %w", d.m.Name, putErr)
		}
	case fetchErr != nil:
		if d.ctx.Err() == nil {
			o.failures++
			o.retryAt = now.Add(min(originBackoffMax, originBackoffMin<<min(o.failures-1, 10)))
			var status errOriginStatus
			if errors.As(fetchErr, &status) && status.code >= 400 && status.code < 500 {
				if o.refused++; o.refused >= originGiveUp {
					o.bad = fmt.Errorf("origin %s: %w", o.url, fetchErr)
				}
			}
			o.queue = append(o.queue, c) // try again later
			d.log.Debug("origin fetch failed", "chunk", c, "err", fetchErr)
		}
	case fresh:
		o.failures, o.refused = 0, 0
		d.missing.Clear(c)
		d.bytes += n
		d.rate.add(n)
		d.result.Bytes += n
		d.result.OriginBytes += n
		d.result.Sources[OriginSource] += n
		d.noteSourceLocked(c, OriginSource)
		o.meter.add(n)
		o.meter.tick(took)
		if d.missing.Count() == 0 {
			d.result.Duration = now.Sub(d.start)
		}
	default:
		d.result.Refetched++
	}
	if o.bad != nil && o.queue != nil {
		d.log.Warn("not using the origin any more", "err", o.bad)
		o.queue = nil
	}
	d.replan = d.replan || fetchErr != nil || putErr != nil
	rate := o.meter.rate
	d.mu.Unlock()
	if fetchErr == nil && putErr == nil && fresh {
		d.sw.countDownload(n)
		d.emit(Event{Kind: EventChunk, Chunk: c, Source: OriginSource, Bytes: n, Rate: rate})
		d.sw.broadcastHave(c)
	}
	d.wake()
}

// fetchRange reads chunk c from the origin into buf with a Range request.
func (d *Download) fetchRange(ctx context.Context, c int, buf []byte) error {
	url := d.origin.url
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
