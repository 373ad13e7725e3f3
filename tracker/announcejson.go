package tracker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// parseAnnounce decodes the JSON body of an announce. It is written by
// hand for this one shape because announces are the tracker's hot path:
// encoding/json spent about 45 µs of the 55 µs an announce of 10 contents
// took (reflection, and scanning the body twice); this decoder scans it
// once. It accepts what encoding/json accepts for an AnnounceRequest,
// except that keys are matched exactly (encoding/json ignores case) and
// that it stops at MaxContentsPerPeer+1 entries instead of decoding them
// all. FuzzAnnounce checks it against encoding/json.
func parseAnnounce(b []byte) (trackerapi.AnnounceRequest, error) {
	var req trackerapi.AnnounceRequest
	s := &jsonScanner{b: b}
	if !s.null() {
		if err := s.object(func(key []byte) error { return s.announceField(&req, key) }); err != nil {
			return trackerapi.AnnounceRequest{}, err
		}
	}
	if s.peek(); s.pos != len(s.b) {
		return trackerapi.AnnounceRequest{}, s.errorf("data after the announce")
	}
	return req, nil
}

// errTooMany stops decoding a list longer than any valid announce has.
var errTooMany = fmt.Errorf("more than %d contents or stopped entries", trackerapi.MaxContentsPerPeer)

// announceField decodes the value of one key of an AnnounceRequest. As in
// encoding/json, null makes a list nil and leaves other fields as they are.
func (s *jsonScanner) announceField(req *trackerapi.AnnounceRequest, key []byte) error {
	switch string(key) {
	case "peer_id":
		return s.text(func(v []byte) (err error) { req.Peer, err = peer.ParseID(string(v)); return })
	case "addr":
		return s.text(func(v []byte) error { req.Addr = string(v); return nil })
	case "full":
		return s.boolean(&req.Full)
	case "key":
		return s.base64(&req.Key)
	case "nonce":
		return s.text(func(v []byte) error { req.Nonce = string(v); return nil })
	case "session_key":
		return s.base64(&req.SessionKey)
	case "contents":
		if s.null() {
			req.Contents = nil
			return nil
		}
		req.Contents = []trackerapi.ContentState{}
		return s.array(func() error {
			if len(req.Contents) == trackerapi.MaxContentsPerPeer {
				return errTooMany
			}
			var cs trackerapi.ContentState
			if !s.null() {
				if err := s.object(func(key []byte) error { return s.contentField(&cs, key) }); err != nil {
					return err
				}
			}
			req.Contents = append(req.Contents, cs)
			return nil
		})
	case "stopped":
		if s.null() {
			req.Stopped = nil
			return nil
		}
		req.Stopped = []content.ID{}
		return s.array(func() error {
			if len(req.Stopped) == trackerapi.MaxContentsPerPeer {
				return errTooMany
			}
			var id content.ID
			if err := s.text(func(v []byte) (err error) { id, err = content.ParseID(string(v)); return }); err != nil {
				return err
			}
			req.Stopped = append(req.Stopped, id)
			return nil
		})
	}
	return s.skip()
}

// contentField decodes the value of one key of a ContentState.
func (s *jsonScanner) contentField(cs *trackerapi.ContentState, key []byte) error {
	switch string(key) {
	case "id":
		return s.text(func(v []byte) (err error) { cs.ID, err = content.ParseID(string(v)); return })
	case "complete":
		return s.boolean(&cs.Complete)
	case "have":
		if s.null() {
			cs.Have = nil
			return nil
		}
		return s.text(func(v []byte) error {
			// Bitfields are decoded into one buffer per announce, sized
			// once for all that is left of the body: one allocation
			// instead of one per content.
			if len(v) == 0 {
				cs.Have = []byte{} // empty, not missing: as encoding/json has it
				return nil
			}
			need := base64.StdEncoding.DecodedLen(len(v))
			if len(s.haves) < need {
				s.haves = make([]byte, max(need, base64.StdEncoding.DecodedLen(len(s.b)-s.pos)))
			}
			n, err := base64.StdEncoding.Decode(s.haves, v)
			cs.Have, s.haves = s.haves[:n:n], s.haves[n:]
			return err
		})
	case "access":
		return s.base64(&cs.Access)
	case "uploaded":
		return s.integer(&cs.Uploaded)
	case "downloaded":
		return s.integer(&cs.Downloaded)
	case "from_origin":
		return s.integer(&cs.FromOrigin)
	}
	return s.skip()
}

// base64 decodes a base64 string (or null, which leaves nil) into *dst.
func (s *jsonScanner) base64(dst *[]byte) error {
	if s.null() {
		*dst = nil
		return nil
	}
	return s.text(func(v []byte) error {
		b := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
		n, err := base64.StdEncoding.Decode(b, v)
		*dst = b[:n]
		return err
	})
}

// jsonScanner reads JSON values from b one at a time.
type jsonScanner struct {
	b     []byte
	pos   int
	depth int
	haves []byte // unused part of the bitfield buffer
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

var errJSON = errors.New("malformed JSON")

func (s *jsonScanner) errorf(what string) error {
	return fmt.Errorf("%w at byte %d: %s", errJSON, s.pos, what)
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	for ; s.pos < len(s.b); s.pos++ {
		switch c := s.b[s.pos]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// consume skips c if it is the next byte.
func (s *jsonScanner) consume(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

// literal skips word if the input continues with it.
func (s *jsonScanner) literal(word string) bool {
	s.peek()
	if bytes.HasPrefix(s.b[s.pos:], []byte(word)) {
		s.pos += len(word)
		return true
	}
	return false
}

// null skips a null if one is next.
func (s *jsonScanner) null() bool { return s.peek() == 'n' && s.literal("null") }

// object reads an object, calling field with each key; field reads the
// value.
func (s *jsonScanner) object(field func(key []byte) error) error {
	return s.container('{', '}', func() error {
		key, err := s.str()
		if err != nil {
			return err
		}
		if !s.consume(':') {
			return s.errorf("want ':'")
		}
		return field(key)
	})
}

// array reads an array, calling elem to read each element.
func (s *jsonScanner) array(elem func() error) error { return s.container('[', ']', elem) }

func (s *jsonScanner) container(open, close byte, item func() error) error {
	if !s.consume(open) {
		return s.errorf("want '" + string(open) + "'")
	}
	if s.depth++; s.depth > maxDepth {
		return s.errorf("nested too deep")
	}
	defer func() { s.depth-- }()
	if s.consume(close) {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if s.consume(',') {
			continue
		}
		if s.consume(close) {
			return nil
		}
		return s.errorf("want ',' or '" + string(close) + "'")
	}
}

// str reads a string. A plain ASCII string without escapes is returned as
// a slice of the input; any other is decoded by encoding/json, so escapes
// and invalid UTF-8 come out exactly as they would there.
func (s *jsonScanner) str() ([]byte, error) {
	if !s.consume('"') {
		return nil, s.errorf("want a string")
	}
	// Fast path: up to the next quote, nothing but printable ASCII.
	if end := bytes.IndexByte(s.b[s.pos:], '"'); end >= 0 {
		if v := s.b[s.pos : s.pos+end]; isPlain(v) {
			s.pos += end + 1
			return v, nil
		}
	}
	start, plain := s.pos, true
	for s.pos < len(s.b) {
		switch c := s.b[s.pos]; {
		case c == '"':
			s.pos++
			if plain {
				return s.b[start : s.pos-1], nil
			}
			var v string
			if err := json.Unmarshal(s.b[start-1:s.pos], &v); err != nil {
				return nil, s.errorf("bad string")
			}
			return []byte(v), nil
		case c == '\\':
			plain = false
			s.pos += 2 // the escaped byte; \u's hex digits are plain bytes
		case c < 0x20:
			return nil, s.errorf("control character in a string")
		default:
			plain = plain && c < 0x80
			s.pos++
		}
	}
	return nil, s.errorf("unterminated string")
}

// isPlain reports whether v holds only printable ASCII other than '\\'.
func isPlain(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

// text reads a string (null: nothing) and hands it to set.
func (s *jsonScanner) text(set func([]byte) error) error {
	if s.null() {
		return nil
	}
	v, err := s.str()
	if err != nil {
		return err
	}
	return set(v)
}

// boolean reads true or false into *v (null: nothing).
func (s *jsonScanner) boolean(v *bool) error {
	switch {
	case s.null():
	case s.literal("true"):
		*v = true
	case s.literal("false"):
		*v = false
	default:
		return s.errorf("want true or false")
	}
	return nil
}

// integer reads a whole number into *v (null: nothing); like encoding/json
// it refuses a fraction or an exponent for an integer field.
func (s *jsonScanner) integer(v *int64) error {
	if s.null() {
		return nil
	}
	tok, whole, err := s.number()
	if err != nil {
		return err
	}
	if !whole {
		return s.errorf("want a whole number")
	}
	n, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil {
		return s.errorf("number out of range")
	}
	*v = n
	return nil
}

// number reads a JSON number and reports whether it has neither a
// fraction nor an exponent.
func (s *jsonScanner) number() (tok []byte, whole bool, err error) {
	s.peek()
	start := s.pos
	digits := func() int {
		n := 0
		for ; s.pos < len(s.b) && s.b[s.pos] >= '0' && s.b[s.pos] <= '9'; s.pos++ {
			n++
		}
		return n
	}
	if s.pos < len(s.b) && s.b[s.pos] == '-' {
		s.pos++
	}
	switch n := digits(); {
	case n == 0:
		return nil, false, s.errorf("want a number")
	case n > 1 && s.b[s.pos-n] == '0':
		return nil, false, s.errorf("number with a leading zero")
	}
	whole = true
	if s.pos < len(s.b) && s.b[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return nil, false, s.errorf("want digits after '.'")
		}
		whole = false
	}
	if s.pos < len(s.b) && (s.b[s.pos] == 'e' || s.b[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.b) && (s.b[s.pos] == '+' || s.b[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return nil, false, s.errorf("want digits in the exponent")
		}
		whole = false
	}
	return s.b[start:s.pos], whole, nil
}

// skip reads any value and drops it.
func (s *jsonScanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := s.number()
		return err
	case s.literal("true"), s.literal("false"), s.literal("null"):
		return nil
	}
	return s.errorf("want a value")
}
