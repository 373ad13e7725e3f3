package testtools

import (
	"crypto/rand"
	"crypto/sha256"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The machine's limits, measured in the same run as a benchmark so that
// its figure can be given as a fraction of the limit that binds it: on
// another machine the figure moves with the limits, the fraction should
// not. Each returns bytes per second.

// limitChunk is the unit the limits move bytes in: a download's chunk.
const limitChunk = 256 << 10

// DurableWrite writes size bytes to a new file in dir the way a download
// makes its bytes durable: in 256 KiB chunks, an fsync every 250 ms of
// writing (the download's durability interval), then a last fsync, a
// rename into place and an fsync of the folder. It is the rate the disk
// under dir gives a download that did nothing else.
func DurableWrite(tb testing.TB, dir string, size int64) float64 {
	tb.Helper()
	buf := make([]byte, limitChunk)
	rand.Read(buf)
	part, final := filepath.Join(dir, "limit.part"), filepath.Join(dir, "limit.bin")
	defer os.Remove(final)
	start := time.Now()
	f, err := os.Create(part)
	if err != nil {
		tb.Fatal(err)
	}
	lastSync := start
	for off := int64(0); off < size && err == nil; off += limitChunk {
		_, err = f.Write(buf[:min(limitChunk, size-off)])
		if now := time.Now(); err == nil && now.Sub(lastSync) >= 250*time.Millisecond {
			err, lastSync = f.Sync(), now
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(part, final)
	}
	if err == nil {
		err = syncFolder(dir)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return float64(size) / time.Since(start).Seconds()
}

func syncFolder(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SHA256 hashes size bytes in 256 KiB chunks on one goroutine: what one
// core gives the verification of chunks.
func SHA256(size int64) float64 {
	buf := make([]byte, limitChunk)
	rand.Read(buf)
	start := time.Now()
	for off := int64(0); off < size; off += limitChunk {
		sha256.Sum256(buf[:min(limitChunk, size-off)])
	}
	return float64(size) / time.Since(start).Seconds()
}

// LoopbackTCP sends size bytes over one plaintext TCP connection on
// 127.0.0.1, 256 KiB writes into 1 MiB reads: what the loopback carries
// for one stream with nothing else done to the bytes.
func LoopbackTCP(tb testing.TB, size int64) float64 {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		buf := make([]byte, limitChunk)
		for off := int64(0); off < size && err == nil; off += limitChunk {
			_, err = c.Write(buf[:min(limitChunk, size-off)])
		}
		sent <- err
	}()
	start := time.Now()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for n < size && err == nil {
		var k int
		k, err = c.Read(buf)
		n += int64(k)
	}
	took := time.Since(start)
	if serr := <-sent; err == nil {
		err = serr
	}
	if err != nil {
		tb.Fatal(err)
	}
	return float64(size) / took.Seconds()
}
