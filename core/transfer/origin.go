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
		case <-d.origin:
		}
		for {
			c, ok := d.nextOriginChunk()
			if !ok {
				break
			}
			signal(d.origin) // let the other workers take the next ones
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
	for len(d.originQ) > 0 && !d.paused && d.opts.Origin != "" {
		c := d.originQ[0]
		d.originQ = d.originQ[1:]
		if d.missing.Has(c) && d.inflight[c] == 0 {
			d.inflight[c]++
			return c, true
		}
	}
	return 0, false
}

// errOriginBad marks an origin that served bytes not matching the manifest.
var errOriginBad = errors.New("origin served bytes that do not match the manifest")

// originDone accounts for one origin fetch.
func (d *Download) originDone(c int, data []byte, took time.Duration, fetchErr error) {
	var fresh bool
	var putErr error
	if fetchErr == nil {
		fresh, putErr = d.part.PutChunk(c, data)
	}
	err := errors.Join(fetchErr, putErr)
	n := int64(len(data))
	d.mu.Lock()
	d.inflight[c]--
	switch {
	case errors.Is(putErr, store.ErrHashMismatch):
		d.log.Warn("origin served a corrupt chunk; not using it any more", "origin", d.opts.Origin, "chunk", c)
		d.opts.Origin = ""
		d.originQ = nil
		d.result.Refetched++
	case putErr != nil:
		d.err = fmt.Errorf("download %s: %w", d.m.Name, putErr)
	case fetchErr != nil:
		if d.ctx.Err() == nil {
			d.log.Debug("origin fetch failed", "chunk", c, "err", fetchErr)
			d.originQ = append(d.originQ, c) // try again later
		}
	case fresh:
		d.missing.Clear(c)
		d.bytes += n
		d.rate.add(n)
		d.result.Bytes += n
		d.result.OriginBytes += n
		d.result.Sources[OriginSource] += n
		d.noteSourceLocked(c, OriginSource)
		d.originMeter.add(n)
		d.originMeter.tick(took)
		if d.missing.Count() == 0 {
			d.result.Duration = time.Since(d.start)
		}
	default:
		d.result.Refetched++
	}
	d.replan = d.replan || err != nil
	rate := d.originMeter.rate
	d.mu.Unlock()
	if err == nil && fresh {
		d.sw.countDownload(n)
		d.emit(Event{Kind: EventChunk, Chunk: c, Source: OriginSource, Bytes: n, Rate: rate})
		d.sw.broadcastHave(c)
	}
	d.wake()
}

// fetchRange reads chunk c from the origin into buf with a Range request.
func (d *Download) fetchRange(ctx context.Context, c int, buf []byte) error {
	off := d.m.ChunkOffset(c)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.opts.Origin, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(buf))-1))
	resp, err := d.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("origin %s: %w", d.opts.Origin, err)
	}
	defer resp.Body.Close()
	whole := off == 0 && int64(len(buf)) == d.m.Size
	if resp.StatusCode != http.StatusPartialContent && !(whole && resp.StatusCode == http.StatusOK) {
		return fmt.Errorf("origin %s: range request answered %s", d.opts.Origin, resp.Status)
	}
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return fmt.Errorf("origin %s: read chunk %d: %w", d.opts.Origin, c, err)
	}
	return nil
}
