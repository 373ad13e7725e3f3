package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/testtools"
)

// testLimits: 10 chunks of 16 KiB, the last one 100 bytes.
var testLimits = Limits{Chunks: 10, ChunkSize: 16 << 10, Size: 9*(16<<10) + 100}

// tcpPair returns two ends of a real loopback TCP connection.
func tcpPair(t testing.TB) (*Conn, *Conn) {
	t.Helper()
	a, b := rawTCPPair(t)
	return NewConn(a), NewConn(b)
}

// rawTCPPair returns two ends of a loopback TCP connection, closed when
// the test ends.
func rawTCPPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// frame builds raw frame bytes.
func frame(t Type, payload ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)+1))
	b = append(b, byte(t))
	return append(b, payload...)
}

// readerConn is a Conn reading raw bytes, with limits set.
func readerConn(raw []byte, limits bool) *Conn {
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(raw), io.Discard})
	if limits {
		c.SetLimits(testLimits)
	}
	return c
}

func TestRoundTrips(t *testing.T) {
	a, b := tcpPair(t)
	a.SetLimits(testLimits)
	b.SetLimits(testLimits)
	hello := HelloMsg{Version: Version, Peer: peer.KeyID(peer.NewKey()), Content: content.ID{1, 2, 3}, ListenPort: 7001}
	bitfield := []byte{0xff, 0xc0} // chunks 0-9 held
	data := bytes.Repeat([]byte{0xab}, 1000)
	lastChunk := bytes.Repeat([]byte{0xcd}, 100)

	f, err := os.Create(filepath.Join(t.TempDir(), "chunk"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(lastChunk)
	f.Seek(0, io.SeekStart)

	sends := []func() error{
		func() error { return a.WriteHello(hello) },
		func() error { return a.WriteBitfield(bitfield) },
		func() error { return a.WriteHave(9) },
		func() error { return a.WriteRequest(3, 16, 1000) },
		func() error { return a.WriteData(3, 16, data) },
		func() error { return a.WriteCancel(3, 16, 1000) },
		func() error { return a.WriteReject(ReasonBusy, 4, 0, 16<<10) },
		func() error { return a.WriteKeepAlive() },
		func() error { return a.WriteDataFrom(9, 0, 100, f) },
	}
	want := []Msg{
		{Type: Hello, Hello: hello},
		{Type: Bitfield, Payload: bitfield},
		{Type: Have, Index: 9},
		{Type: Request, Index: 3, Offset: 16, Length: 1000},
		{Type: Data, Index: 3, Offset: 16, Payload: data},
		{Type: Cancel, Index: 3, Offset: 16, Length: 1000},
		{Type: Reject, Reason: ReasonBusy, Index: 4, Length: 16 << 10},
		{Type: KeepAlive},
		{Type: Data, Index: 9, Payload: lastChunk},
	}
	errc := make(chan error, 1)
	go func() {
		for _, send := range sends {
			if err := send(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var m Msg
	for i, w := range want {
		if err := b.ReadMsg(&m); err != nil {
			t.Fatalf("message %d (%s): %v", i, w.Type, err)
		}
		if m.Type != w.Type || m.Index != w.Index || m.Offset != w.Offset || m.Length != w.Length ||
			m.Reason != w.Reason || (w.Type == Hello && m.Hello != w.Hello) ||
			(w.Payload != nil && !bytes.Equal(m.Payload, w.Payload)) {
			t.Errorf("message %d: got %+v, want %+v", i, m, w)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestMalformedFrames(t *testing.T) {
	helloPayload := append([]byte(Magic), Version)
	helloPayload = append(helloPayload, make([]byte, helloSize-len(helloPayload))...)
	badMagic := bytes.Clone(helloPayload)
	badMagic[0] = 'X'
	badVersion := bytes.Clone(helloPayload)
	badVersion[4] = 99
	u32 := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return b
	}
	tests := []struct {
		name    string
		raw     []byte
		limits  bool
		want    error
		wantEOF bool
	}{
		{"truncated header", []byte{0, 0, 0}, true, io.ErrUnexpectedEOF, true},
		{"truncated payload", frame(Have, 0, 0, 0, 1)[:7], true, io.ErrUnexpectedEOF, true},
		{"truncated data", frame(Data, u32(0, 0, 0xdeadbeef)...)[:15], true, io.ErrUnexpectedEOF, true},
		{"zero length", []byte{0, 0, 0, 0, 1}, true, ErrBadLength, false},
		{"oversize before handshake", frame(Data, make([]byte, 200)...), false, ErrTooLarge, false},
		{"oversize length field", []byte{0xff, 0xff, 0xff, 0xff, byte(Data)}, true, ErrTooLarge, false},
		{"data over chunk size", frame(Data, append(u32(0, 0), make([]byte, 16<<10+1)...)...), true, ErrTooLarge, false},
		{"unknown type", frame(99), true, ErrUnknownType, false},
		{"have before handshake", frame(Have, u32(1)...), false, ErrNotNegotiated, false},
		{"bad magic", frame(Hello, badMagic...), false, ErrBadMagic, false},
		{"bad version", frame(Hello, badVersion...), false, ErrBadVersion, false},
		{"short hello", frame(Hello, helloPayload[:10]...), false, ErrBadLength, false},
		{"long keep-alive", frame(KeepAlive, 1), true, ErrBadLength, false},
		{"bitfield too short", frame(Bitfield, 0xff), true, ErrBadLength, false},
		{"bitfield too long", frame(Bitfield, 0xff, 0xc0, 0), true, ErrBadLength, false},
		{"bitfield padding", frame(Bitfield, 0xff, 0xe0), true, ErrBadBitfield, false},
		{"have out of range", frame(Have, u32(10)...), true, ErrOutOfRange, false},
		{"request chunk out of range", frame(Request, u32(10, 0, 1)...), true, ErrOutOfRange, false},
		{"request past chunk end", frame(Request, u32(0, 16<<10-1, 2)...), true, ErrOutOfRange, false},
		{"request past last chunk", frame(Request, u32(9, 0, 101)...), true, ErrOutOfRange, false},
		{"request of zero bytes", frame(Request, u32(0, 0, 0)...), true, ErrOutOfRange, false},
		{"request huge offset", frame(Request, u32(0, 0xffffffff, 0xffffffff)...), true, ErrOutOfRange, false},
		{"cancel out of range", frame(Cancel, u32(99, 0, 1)...), true, ErrOutOfRange, false},
		{"reject out of range", frame(Reject, append([]byte{byte(ReasonNotHeld)}, u32(0xffffffff, 0, 1)...)...), true, ErrOutOfRange, false},
		{"data out of range", frame(Data, append(u32(9, 50), make([]byte, 51)...)...), true, ErrOutOfRange, false},
		{"empty data", frame(Data, u32(0, 0)...), true, ErrBadLength, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Msg
			err := readerConn(tt.raw, tt.limits).ReadMsg(&m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadMsg error = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestOversizeAllocatesNothing checks that a huge length field is refused
// before any payload buffer is made.
func TestOversizeAllocatesNothing(t *testing.T) {
	raw := []byte{0x7f, 0xff, 0xff, 0xff, byte(Bitfield)}
	r := bytes.NewReader(raw)
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{r, io.Discard})
	c.SetLimits(testLimits)
	var m Msg
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		r.Reset(raw)
		if err := c.ReadMsg(&m); !errors.Is(err, ErrTooLarge) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The frame claims 2 GiB; refusing it may cost an error value, no more.
	if perFrame := (after.TotalAlloc - before.TotalAlloc) / 100; perFrame > 1024 {
		t.Errorf("%d bytes allocated per refused frame", perFrame)
	}
	if m.Payload != nil {
		t.Error("a payload buffer was allocated")
	}
}

func TestHandshake(t *testing.T) {
	id := content.ID{9}
	server := peer.KeyID(peer.NewKey())
	tests := []struct {
		name       string
		hello      func(c *Conn) error
		reason     Reason
		wantServer error
	}{
		{"accepted", nil, ReasonNone, nil},
		{"unknown content", nil, ReasonUnknownContent, &RejectedError{}},
		{"bad magic", func(c *Conn) error {
			p := make([]byte, helloSize)
			copy(p, "NOPE")
			return writeRawHello(c, p)
		}, ReasonBadMagic, ErrBadMagic},
		{"bad version", func(c *Conn) error {
			p := make([]byte, helloSize)
			copy(p, Magic)
			p[4] = Version + 1
			return writeRawHello(c, p)
		}, ReasonBadVersion, ErrBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tcpPair(t)
			mine := HelloMsg{Peer: peer.KeyID(peer.NewKey()), Content: id, ListenPort: 1}
			done := make(chan error, 1)
			go func() {
				_, err := ServerHandshake(b, func(h HelloMsg) (HelloMsg, Limits, Reason) {
					if tt.reason != ReasonNone {
						return HelloMsg{}, Limits{}, tt.reason
					}
					return HelloMsg{Peer: server, Content: h.Content}, testLimits, ReasonNone
				})
				b.Close() // as the caller does on error; harmless on success here
				done <- err
			}()
			if tt.hello == nil {
				got, err := ClientHandshake(a, mine)
				var rej *RejectedError
				if tt.reason == ReasonNone {
					if err != nil || got.Peer != server {
						t.Fatalf("ClientHandshake = %+v, %v", got, err)
					}
				} else if !errors.As(err, &rej) || rej.Reason != tt.reason {
					t.Fatalf("ClientHandshake error = %v, want reject %v", err, tt.reason)
				}
			} else {
				if err := tt.hello(a); err != nil {
					t.Fatal(err)
				}
				a.SetLimits(testLimits)
				var m Msg
				if err := a.ReadMsg(&m); err != nil || m.Type != Reject || m.Reason != tt.reason {
					t.Fatalf("after a bad hello: %+v, %v; want reject %v", m, err, tt.reason)
				}
				if err := a.ReadMsg(&m); err != io.EOF {
					t.Fatalf("connection not closed after the reject: %v", err)
				}
			}
			err := <-done
			if tt.wantServer == nil && err != nil {
				t.Fatalf("ServerHandshake: %v", err)
			}
			if tt.wantServer != nil && err == nil {
				t.Fatal("ServerHandshake accepted")
			}
			if errors.Is(tt.wantServer, ErrBadMagic) || errors.Is(tt.wantServer, ErrBadVersion) {
				if !errors.Is(err, tt.wantServer) {
					t.Fatalf("ServerHandshake error = %v, want %v", err, tt.wantServer)
				}
			}
		})
	}
}

func TestWrongContentAnswer(t *testing.T) {
	a, b := tcpPair(t)
	go ServerHandshake(b, func(h HelloMsg) (HelloMsg, Limits, Reason) {
		return HelloMsg{Content: content.ID{7}}, testLimits, ReasonNone
	})
	if _, err := ClientHandshake(a, HelloMsg{Content: content.ID{8}}); !errors.Is(err, ErrWrongContent) {
		t.Fatalf("got %v, want ErrWrongContent", err)
	}
}

// writeRawHello sends p as a Hello payload, whatever it holds.
func writeRawHello(c *Conn, p []byte) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	copy(c.putHeader(Hello, helloSize, 0), p)
	return c.send(helloSize, nil)
}

func FuzzDecode(f *testing.F) {
	f.Add(frame(Have, 0, 0, 0, 1), true)
	f.Add(frame(Bitfield, 0xff, 0xc0), true)
	f.Add(frame(Data, 0, 0, 0, 9, 0, 0, 0, 0, 1, 2, 3), true)
	f.Add(frame(Request, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 10), true)
	f.Add(append(frame(Hello, append([]byte(Magic), make([]byte, helloSize-4)...)...), frame(KeepAlive)...), false)
	f.Fuzz(func(t *testing.T, raw []byte, limits bool) {
		c := readerConn(raw, limits)
		var m Msg
		for range 64 {
			if err := c.ReadMsg(&m); err != nil {
				return
			}
			switch m.Type {
			case Data:
				if int64(m.Offset)+int64(len(m.Payload)) > c.lim.chunkLen(m.Index) || int(m.Index) >= c.lim.Chunks {
					t.Fatalf("accepted data outside the content: %+v", m)
				}
			case Bitfield:
				if len(m.Payload) != c.lim.bitfieldLen() {
					t.Fatalf("accepted a bitfield of %d bytes", len(m.Payload))
				}
			case Request, Cancel, Reject:
				if m.Type == Reject && (m.Length == 0 || !c.set) {
					continue
				}
				if m.Length == 0 || int(m.Index) >= c.lim.Chunks || int64(m.Offset)+int64(m.Length) > c.lim.chunkLen(m.Index) {
					t.Fatalf("accepted a request outside the content: %+v", m)
				}
			}
		}
	})
}

// BenchmarkWireData measures data frames through a loopback TCP connection:
// the sender writes from one buffer, the receiver reads into one reused Msg.
// of-tcp is the rate over one plain loopback stream's (testtools
// LoopbackTCP), measured before and after.
func BenchmarkWireData(b *testing.B) {
	const chunk = 256 << 10
	lim := Limits{Chunks: 1 << 20, ChunkSize: chunk, Size: 1 << 38}
	a, r := tcpPair(b)
	a.SetLimits(lim)
	r.SetLimits(lim)
	payload := make([]byte, chunk)
	done := make(chan error, 1)
	tcp := testtools.LoopbackTCP(b, 256<<20)
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := range b.N {
			if err := a.WriteData(uint32(i%lim.Chunks), 0, payload); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var m Msg
	for range b.N {
		if err := r.ReadMsg(&m); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	rate := float64(b.N) * chunk / b.Elapsed().Seconds()
	tcp = (tcp + testtools.LoopbackTCP(b, 256<<20)) / 2
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(rate/tcp, "of-tcp")
	b.ReportMetric(tcp/1e6, "tcp-MB/s")
}

func TestWantDataDropsUnaskedChunks(t *testing.T) {
	raw := append(frame(Data, append([]byte{0, 0, 0, 2, 0, 0, 0, 0}, bytes.Repeat([]byte{7}, 500)...)...), frame(Have, 0, 0, 0, 3)...)
	c := readerConn(raw, true)
	c.WantData = func(index, offset uint32) bool { return index != 2 }
	var m Msg
	if err := c.ReadMsg(&m); err != nil || m.Type != Data || !m.Dropped || len(m.Payload) != 0 {
		t.Fatalf("unwanted data: %+v, %v", m, err)
	}
	if err := c.ReadMsg(&m); err != nil || m.Type != Have || m.Index != 3 || m.Dropped {
		t.Fatalf("frame after dropped data: %+v, %v", m, err)
	}
}
