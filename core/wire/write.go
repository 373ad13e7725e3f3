package wire

import (
	"encoding/binary"
	"io"
	"time"
)

// A write takes c.wmu, builds the frame header and fixed fields in c.wbuf
// (a field, so nothing escapes per frame), writes the body, and flushes.

// lockWrite takes the write lock and sets the write deadline.
func (c *Conn) lockWrite() error {
	c.wmu.Lock()
	if c.nc != nil && c.WriteTimeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.WriteTimeout)); err != nil {
			c.wmu.Unlock()
			return err
		}
	}
	return nil
}

// putHeader writes the frame header for k field bytes plus n body bytes
// into c.wbuf and returns the slice where the k field bytes go.
func (c *Conn) putHeader(t Type, k, n int) []byte {
	binary.BigEndian.PutUint32(c.wbuf[:], uint32(1+k+n))
	c.wbuf[4] = byte(t)
	return c.wbuf[frameHeader : frameHeader+k]
}

// send writes the header and k field bytes from c.wbuf, then body, and
// flushes. The caller holds c.wmu.
func (c *Conn) send(k int, body []byte) error {
	c.bw.Write(c.wbuf[:frameHeader+k])
	c.bw.Write(body)
	return c.bw.Flush()
}

// writeFixed writes a frame whose payload is the given 32-bit fields,
// after an optional reason byte.
func (c *Conn) writeFixed(t Type, reason Reason, fields ...uint32) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	k := 4 * len(fields)
	if t == Reject {
		k++
	}
	p := c.putHeader(t, k, 0)
	if t == Reject {
		p[0], p = byte(reason), p[1:]
	}
	for i, v := range fields {
		binary.BigEndian.PutUint32(p[4*i:], v)
	}
	return c.send(k, nil)
}

// WriteHello sends the opening frame.
func (c *Conn) WriteHello(h HelloMsg) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	p := c.putHeader(Hello, helloSize, 0)
	k := copy(p, Magic)
	p[k] = Version
	k++
	k += copy(p[k:], h.Peer[:])
	k += copy(p[k:], h.Content[:])
	binary.BigEndian.PutUint16(p[k:], h.ListenPort)
	copy(p[k+2:], h.Proof[:])
	return c.send(helloSize, nil)
}

// WriteBitfield sends the sender's have-bitfield in wire form.
func (c *Conn) WriteBitfield(b []byte) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	c.putHeader(Bitfield, 0, len(b))
	return c.send(0, b)
}

// WriteHave tells the peer that the sender now holds chunk index.
func (c *Conn) WriteHave(index uint32) error { return c.writeFixed(Have, 0, index) }

// WriteRequest asks for length bytes at offset of chunk index.
func (c *Conn) WriteRequest(index, offset, length uint32) error {
	return c.writeFixed(Request, 0, index, offset, length)
}

// WriteCancel withdraws a request.
func (c *Conn) WriteCancel(index, offset, length uint32) error {
	return c.writeFixed(Cancel, 0, index, offset, length)
}

// WriteReject refuses a request (or, with zeros, the whole connection).
func (c *Conn) WriteReject(r Reason, index, offset, length uint32) error {
	return c.writeFixed(Reject, r, index, offset, length)
}

// WriteKeepAlive tells the peer the connection is alive.
func (c *Conn) WriteKeepAlive() error { return c.writeFixed(KeepAlive, 0) }

// WriteData sends bytes at offset of chunk index.
func (c *Conn) WriteData(index, offset uint32, p []byte) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	c.putDataHeader(index, offset, len(p))
	return c.send(dataHeader, p)
}

func (c *Conn) putDataHeader(index, offset uint32, n int) {
	f := c.putHeader(Data, dataHeader, n)
	binary.BigEndian.PutUint32(f, index)
	binary.BigEndian.PutUint32(f[4:], offset)
}

// WriteDataFrom sends n bytes read from r as the data at offset of chunk
// index. When r is an *os.File positioned at the chunk and the connection
// is plain TCP, the kernel copies the bytes (sendfile): they never pass
// through user memory. With MinDataRate set, the bytes go in pieces of
// dataPiece, each with its own deadline, so a peer that stops reading is
// found within about a second once its buffers are full, not after
// WriteTimeout. On error the stream is broken mid-frame: close the Conn.
func (c *Conn) WriteDataFrom(index, offset uint32, n int64, r io.Reader) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	c.putDataHeader(index, offset, int(n))
	if err := c.send(dataHeader, nil); err != nil {
		return err
	}
	for n > 0 {
		k := min(n, dataPiece)
		if c.nc != nil && c.MinDataRate > 0 {
			d := dataSlack + time.Duration(k)*time.Second/time.Duration(c.MinDataRate)
			if err := c.nc.SetWriteDeadline(time.Now().Add(min(d, c.WriteTimeout))); err != nil {
				return err
			}
		}
		if _, err := io.CopyN(c.rw, r, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// A data frame is written in pieces of dataPiece bytes; with MinDataRate
// set, each may take dataSlack plus its time at that rate.
const (
	dataPiece = 64 << 10
	dataSlack = 500 * time.Millisecond
)
