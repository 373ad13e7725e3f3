package testtools

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// echoServer echoes every connection on 127.0.0.1 until t ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends data through the relay to the echo server, half-closes,
// and returns what came back and how long it took.
func roundTrip(t *testing.T, addr string, data []byte) ([]byte, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(c)
		got <- b
	}()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b := <-got
	return b, time.Since(start)
}

// TestRelayDelays: a round trip takes at least twice the delay, and the
// window bounds a stream's rate to Window/Delay. (Only lower bounds are
// checked: a busy machine makes things slower, never faster.)
func TestRelayDelays(t *testing.T) {
	link := Link{Delay: 20 * time.Millisecond, Window: 64 << 10}
	r := StartRelay(t, echoServer(t), link)
	got, took := roundTrip(t, r.Addr(), []byte("ping"))
	if string(got) != "ping" {
		t.Fatalf("echo %q", got)
	}
	if took < 2*link.Delay {
		t.Errorf("a round trip took %v, less than twice the delay %v", took, link.Delay)
	}
	data := make([]byte, 1<<20)
	got, took = roundTrip(t, r.Addr(), data)
	if !bytes.Equal(got, data) {
		t.Fatalf("%d bytes came back, want the %d sent", len(got), len(data))
	}
	// 1 MiB through a 64 KiB window: 16 windows, each a delay each way.
	if least := time.Duration(len(data)/link.Window) * link.Delay; took < least {
		t.Errorf("1 MiB through a 64 KiB window took %v, less than %v", took, least)
	}
}

// TestRelayLossKeepsBytes: with losses, every byte still arrives, in
// order, and lost segments come a retransmission timeout late.
func TestRelayLossKeepsBytes(t *testing.T) {
	link := Link{Delay: time.Millisecond, Loss: 0.2, LossRTO: 30 * time.Millisecond, Seed: 3}
	r := StartRelay(t, echoServer(t), link)
	data := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	got, took := roundTrip(t, r.Addr(), data)
	if !bytes.Equal(got, data) {
		t.Fatalf("%d bytes came back, not the %d sent", len(got), len(data))
	}
	if took < link.LossRTO {
		t.Errorf("took %v with a fifth of segments lost, less than one retransmission timeout", took)
	}
}

// TestRelayClose cuts relayed connections: the far end sees them end.
func TestRelayClose(t *testing.T) {
	r := StartRelay(t, echoServer(t), Link{Delay: time.Millisecond})
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := c.Read(b); err == nil {
		t.Fatal("read after the relay closed succeeded")
	}
}
