package wire

import (
	"errors"
	"fmt"
	"time"
)

// HandshakeTimeout bounds the whole opening exchange.
const HandshakeTimeout = 10 * time.Second

// RejectedError is a peer's refusal of a connection or a request.
type RejectedError struct{ Reason Reason }

func (e *RejectedError) Error() string { return "wire: rejected by peer: " + e.Reason.String() }

// ErrWrongContent is returned when the answering peer names another content.
var ErrWrongContent = errors.New("wire: peer answered for another content")

// ClientHandshake is the dialer's side: send our Hello for the content we want, then read
// the peer's Hello or its Reject.
func ClientHandshake(c *Conn, mine HelloMsg) (HelloMsg, error) {
	defer c.handshakeTimeouts()()
	if err := c.WriteHello(mine); err != nil {
		return HelloMsg{}, fmt.Errorf("send hello: %w", err)
	}
	var m Msg
	if err := c.ReadMsg(&m); err != nil {
		return HelloMsg{}, fmt.Errorf("read hello: %w", err)
	}
	switch {
	case m.Type == Reject:
		return HelloMsg{}, &RejectedError{m.Reason}
	case m.Type != Hello:
		return HelloMsg{}, fmt.Errorf("read hello: got %s first", m.Type)
	case m.Hello.Content != mine.Content:
		return HelloMsg{}, ErrWrongContent
	}
	return m.Hello, nil
}

// ServerHandshake reads a dialer's Hello and asks accept whether to serve
// its content. accept returns our Hello and the content's limits, or a
// reason to refuse. A wrong magic or version, or a refusal, is answered
// with a Reject before the error is returned; the caller closes c.
func ServerHandshake(c *Conn, accept func(HelloMsg) (HelloMsg, Limits, Reason)) (HelloMsg, error) {
	defer c.handshakeTimeouts()()
	var m Msg
	if err := c.ReadMsg(&m); err != nil {
		switch {
		case errors.Is(err, ErrBadMagic):
			c.WriteReject(ReasonBadMagic, 0, 0, 0)
		case errors.Is(err, ErrBadVersion):
			c.WriteReject(ReasonBadVersion, 0, 0, 0)
		}
		return HelloMsg{}, fmt.Errorf("read hello: %w", err)
	}
	if m.Type != Hello {
		c.WriteReject(ReasonBadRequest, 0, 0, 0)
		return HelloMsg{}, fmt.Errorf("read hello: got %s first", m.Type)
	}
	mine, lim, reason := accept(m.Hello)
	if reason != ReasonNone {
		c.WriteReject(reason, 0, 0, 0)
		return m.Hello, &RejectedError{reason}
	}
	if err := c.WriteHello(mine); err != nil {
		return m.Hello, fmt.Errorf("send hello: %w", err)
	}
	c.SetLimits(lim)
	return m.Hello, nil
}

// handshakeTimeouts shortens the per-frame timeouts to HandshakeTimeout
// and returns the function that restores them.
func (c *Conn) handshakeTimeouts() (restore func()) {
	r, w := c.ReadTimeout, c.WriteTimeout
	c.ReadTimeout, c.WriteTimeout = HandshakeTimeout, HandshakeTimeout
	return func() { c.ReadTimeout, c.WriteTimeout = r, w }
}
