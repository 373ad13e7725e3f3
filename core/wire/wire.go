package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
)

// Protocol identity, sent in every Hello. Version 2 runs over mutually
// authenticated TLS (tls.go); version 3 adds the swarm proof.
const (
	Magic   = "PFLW"
	Version = 3
)

// Type is a frame's type byte.
type Type uint8

// Frame types.
const (
	KeepAlive Type = iota
	Hello
	Bitfield
	Have
	Request
	Data
	Cancel
	Reject
)

var typeNames = [...]string{"keep-alive", "hello", "bitfield", "have", "request", "data", "cancel", "reject"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Reason says why a request or a connection was rejected.
type Reason uint8

// Reject reasons.
const (
	ReasonNone Reason = iota
	ReasonBadMagic
	ReasonBadVersion
	ReasonUnknownContent // the peer does not share this content
	ReasonNotHeld        // the peer does not hold that chunk (yet)
	ReasonBusy           // no upload slot free; ask again later
	ReasonBanned         // this peer sent bad data before
	ReasonBadRequest     // the request broke the protocol
	ReasonChanged        // the shared file changed on disk; it is no longer served
	ReasonShutdown       // the peer is closing
	ReasonDuplicate      // the two peers are already connected for this content
	ReasonWrongID        // the Hello names another peer ID than the TLS handshake proved
)

var reasonNames = [...]string{"none", "bad magic", "unsupported protocol version", "content not shared here",
	"chunk not held", "busy", "banned", "bad request", "shared file changed on disk", "shutting down", "already connected",
	"peer ID does not match its key"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Payload sizes of the fixed-size frames.
const (
	helloSize   = len(Magic) + 1 + len(peer.ID{}) + len(content.ID{}) + 2 + proofSize
	proofSize   = 32
	haveSize    = 4
	requestSize = 12 // index, offset, length
	rejectSize  = 1 + requestSize
	dataHeader  = 8 // index, offset
	frameHeader = 5 // length, type
)

// Decoding errors. ReadMsg wraps one of these, so callers can tell them
// apart with errors.Is and answer with the right Reject.
var (
	ErrBadMagic      = errors.New("wire: bad magic (not a peerflow peer)")
	ErrBadVersion    = errors.New("wire: unsupported protocol version")
	ErrTooLarge      = errors.New("wire: frame larger than allowed")
	ErrBadLength     = errors.New("wire: frame length wrong for its type")
	ErrUnknownType   = errors.New("wire: unknown frame type")
	ErrOutOfRange    = errors.New("wire: chunk or range outside the content")
	ErrBadBitfield   = errors.New("wire: bitfield has padding bits set")
	ErrNotNegotiated = errors.New("wire: frame needs a completed handshake")
)

// HelloMsg opens a connection.
type HelloMsg struct {
	Version    uint8
	Peer       peer.ID
	Content    content.ID
	ListenPort uint16 // where the sender accepts connections; 0 if it does not
	// Proof shows that the sender knows the peer key of a private swarm
	// (content.Secret), bound to this connection (see Proof); zero for a
	// public content.
	Proof [proofSize]byte
}

// Msg is one decoded frame. Payload is the bitfield of a Bitfield frame or
// the bytes of a Data frame; it aliases the caller's buffer (see ReadMsg).
type Msg struct {
	Type    Type
	Index   uint32 // Have, Request, Cancel, Reject, Data
	Offset  uint32 // Request, Cancel, Reject, Data
	Length  uint32 // Request, Cancel, Reject
	Reason  Reason // Reject
	Hello   HelloMsg
	Payload []byte
	// Dropped marks a Data frame that WantData refused: its bytes were
	// read past, Payload is empty.
	Dropped bool
}

// Limits describe the content a connection carries; they bound every frame.
type Limits struct {
	Chunks    int
	ChunkSize int64
	Size      int64
}

// LimitsOf returns the limits of m's content.
func LimitsOf(m *content.Manifest) Limits {
	return Limits{Chunks: m.NumChunks(), ChunkSize: m.ChunkSize, Size: m.Size}
}

func (l Limits) chunkLen(i uint32) int64 {
	return min(l.ChunkSize, l.Size-int64(i)*l.ChunkSize)
}

// bitfieldLen is the exact payload size of a bitfield.
func (l Limits) bitfieldLen() int { return (l.Chunks + 7) / 8 }

// maxFrame is the largest length field accepted.
func (l Limits) maxFrame() int64 {
	return 1 + max(int64(helloSize), int64(rejectSize), int64(l.bitfieldLen()), dataHeader+l.ChunkSize)
}

// Timeouts for one frame. A peer that sends nothing for ReadTimeout (it
// should send keep-alives) or stops reading for WriteTimeout is dead.
const (
	DefaultReadTimeout  = 2 * time.Minute
	DefaultWriteTimeout = 30 * time.Second
	KeepAliveInterval   = 30 * time.Second
)

// Conn is one peer connection. Reads must come from one goroutine; writes
// may come from several (they are serialised).
type Conn struct {
	rw  io.ReadWriter
	nc  net.Conn // nil when rw is not a network connection (tests, fuzzing)
	br  *bufio.Reader
	lim Limits
	set bool // lim is known: the handshake is done

	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MinDataRate, if set, is the slowest a peer may read the data we
	// send (bytes/s): below it, WriteDataFrom fails (see write.go).
	MinDataRate int64

	// WantData, if set, is asked about every Data frame before its bytes
	// are read: a frame it refuses is read past without keeping its bytes,
	// so a peer cannot make us hold chunks we never asked for.
	WantData func(index, offset uint32) bool
	// NewBuffer, if set, gives the buffer a payload is read into when the
	// Msg has none large enough (a pool, so idle connections hold none).
	NewBuffer func(n int) []byte

	rhdr [frameHeader + helloSize]byte // the largest fixed-size frame

	wmu  sync.Mutex
	bw   *bufio.Writer
	wbuf [frameHeader + helloSize]byte
}

// NewConn wraps a connection. rw is usually a net.Conn; then deadlines are
// set on every frame.
func NewConn(rw io.ReadWriter) *Conn {
	c := &Conn{
		rw:           rw,
		br:           bufio.NewReaderSize(rw, 64<<10),
		bw:           bufio.NewWriterSize(rw, 64<<10),
		ReadTimeout:  DefaultReadTimeout,
		WriteTimeout: DefaultWriteTimeout,
	}
	c.nc, _ = rw.(net.Conn)
	return c
}

// SetLimits sets the content the connection carries, after the handshake.
func (c *Conn) SetLimits(l Limits) {
	c.lim, c.set = l, true
}

// Limits returns what SetLimits set.
func (c *Conn) Limits() Limits { return c.lim }

// NetConn returns the underlying network connection, or nil.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection if it can be closed.
func (c *Conn) Close() error {
	if cl, ok := c.rw.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// ReadMsg reads the next frame into m. For a Data or Bitfield frame the
// payload is read into m.Payload's backing array when it is large enough
// (else a new one is allocated once and kept in m); it stays valid until
// the next ReadMsg with the same m.
func (c *Conn) ReadMsg(m *Msg) error {
	if c.nc != nil && c.ReadTimeout > 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(c.ReadTimeout)); err != nil {
			return err
		}
	}
	h := c.rhdr[:frameHeader]
	if _, err := io.ReadFull(c.br, h); err != nil {
		return err
	}
	n := int64(binary.BigEndian.Uint32(h)) - 1 // payload length
	*m = Msg{Type: Type(h[4]), Payload: m.Payload[:0]}
	if n < 0 {
		return fmt.Errorf("%w: zero length", ErrBadLength)
	}
	limit := int64(helloSize)
	if c.set {
		limit = c.lim.maxFrame() - 1
	}
	if n > limit {
		return fmt.Errorf("%w: %s frame of %d bytes (limit %d)", ErrTooLarge, m.Type, n, limit)
	}
	if m.Type > Reject {
		return fmt.Errorf("%w: %d", ErrUnknownType, uint8(m.Type))
	}
	if !c.set && m.Type != Hello && m.Type != KeepAlive && m.Type != Reject {
		return fmt.Errorf("%w: got %s", ErrNotNegotiated, m.Type)
	}
	if want, fixed := fixedSize(m.Type); fixed && n != int64(want) {
		return fmt.Errorf("%w: %s frame of %d bytes, want %d", ErrBadLength, m.Type, n, want)
	}
	switch m.Type {
	case Bitfield:
		if n != int64(c.lim.bitfieldLen()) {
			return fmt.Errorf("%w: bitfield of %d bytes for %d chunks", ErrBadLength, n, c.lim.Chunks)
		}
		if err := c.readPayload(m, int(n)); err != nil {
			return err
		}
		return checkPadding(m.Payload, c.lim.Chunks)
	case Data:
		if n <= dataHeader {
			return fmt.Errorf("%w: empty data frame", ErrBadLength)
		}
		fields := c.rhdr[frameHeader : frameHeader+dataHeader]
		if _, err := io.ReadFull(c.br, fields); err != nil {
			return noEOF(err)
		}
		m.Index = binary.BigEndian.Uint32(fields)
		m.Offset = binary.BigEndian.Uint32(fields[4:])
		if err := c.checkRange(m.Index, m.Offset, uint32(n-dataHeader)); err != nil {
			return err
		}
		if c.WantData != nil && !c.WantData(m.Index, m.Offset) {
			m.Dropped = true
			_, err := io.CopyN(io.Discard, c.br, n-dataHeader)
			return noEOF(err)
		}
		return c.readPayload(m, int(n-dataHeader))
	}
	p := c.rhdr[frameHeader : frameHeader+n]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return noEOF(err)
	}
	return c.decodeFixed(m, p)
}

// fixedSize returns the payload size of fixed-size frame types.
func fixedSize(t Type) (int, bool) {
	switch t {
	case KeepAlive:
		return 0, true
	case Hello:
		return helloSize, true
	case Have:
		return haveSize, true
	case Request, Cancel:
		return requestSize, true
	case Reject:
		return rejectSize, true
	}
	return 0, false
}

func (c *Conn) decodeFixed(m *Msg, p []byte) error {
	switch m.Type {
	case Hello:
		if string(p[:len(Magic)]) != Magic {
			return ErrBadMagic
		}
		p = p[len(Magic):]
		m.Hello.Version = p[0]
		if m.Hello.Version != Version {
			return fmt.Errorf("%w: %d (this peer speaks %d)", ErrBadVersion, m.Hello.Version, Version)
		}
		p = p[1:]
		copy(m.Hello.Peer[:], p)
		p = p[len(m.Hello.Peer):]
		copy(m.Hello.Content[:], p)
		p = p[len(m.Hello.Content):]
		m.Hello.ListenPort = binary.BigEndian.Uint16(p)
		copy(m.Hello.Proof[:], p[2:])
	case Have:
		m.Index = binary.BigEndian.Uint32(p)
		if int64(m.Index) >= int64(c.lim.Chunks) {
			return fmt.Errorf("%w: have %d of %d chunks", ErrOutOfRange, m.Index, c.lim.Chunks)
		}
	case Request, Cancel:
		m.Index, m.Offset, m.Length = decodeRange(p)
		return c.checkRange(m.Index, m.Offset, m.Length)
	case Reject:
		m.Reason = Reason(p[0])
		m.Index, m.Offset, m.Length = decodeRange(p[1:])
		// A zero length refuses the whole connection; anything else names
		// one of our requests, so it must lie inside the content.
		if m.Length != 0 && c.set {
			return c.checkRange(m.Index, m.Offset, m.Length)
		}
	}
	return nil
}

func decodeRange(p []byte) (index, offset, length uint32) {
	return binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:]), binary.BigEndian.Uint32(p[8:])
}

// checkRange checks that [offset, offset+length) lies inside chunk index.
func (c *Conn) checkRange(index, offset, length uint32) error {
	if int64(index) >= int64(c.lim.Chunks) {
		return fmt.Errorf("%w: chunk %d of %d", ErrOutOfRange, index, c.lim.Chunks)
	}
	if length == 0 || int64(offset)+int64(length) > c.lim.chunkLen(index) {
		return fmt.Errorf("%w: bytes %d+%d of chunk %d (%d bytes)", ErrOutOfRange, offset, length, index, c.lim.chunkLen(index))
	}
	return nil
}

// readPayload reads n bytes into m.Payload, reusing its backing array.
func (c *Conn) readPayload(m *Msg, n int) error {
	if cap(m.Payload) < n {
		if c.NewBuffer != nil {
			m.Payload = c.NewBuffer(n)
		} else {
			m.Payload = make([]byte, n, max(n, int(c.lim.ChunkSize)))
		}
	}
	m.Payload = m.Payload[:n]
	_, err := io.ReadFull(c.br, m.Payload)
	return noEOF(err)
}

// noEOF turns a clean EOF inside a frame into ErrUnexpectedEOF: only a
// frame boundary is a clean end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// checkPadding rejects a bitfield with bits set past the last chunk.
func checkPadding(b []byte, chunks int) error {
	if r := chunks % 8; r != 0 && b[len(b)-1]&(0xff>>r) != 0 {
		return ErrBadBitfield
	}
	return nil
}
