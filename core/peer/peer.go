// Package peer names the nodes of a Peerflow network.
package peer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// ID identifies one node. It is random, made once per data folder and kept,
// so a node is the same peer across restarts.
type ID [16]byte

// ErrBadID is returned for a text that is not a peer ID.
var ErrBadID = errors.New("not a peer ID (want 32 hex characters)")

// NewID returns a fresh random ID.
func NewID() ID {
	var id ID
	rand.Read(id[:]) // never fails (crypto/rand since Go 1.24)
	return id
}

// String returns the 32-character hex form of id.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex characters, for display.
func (id ID) Short() string { return id.String()[:8] }

// IsZero reports whether id is the zero ID, which no node uses.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler (JSON uses the hex form).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses the hex form of an ID. The zero ID is refused.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != hex.EncodedLen(len(id)) {
		return ID{}, fmt.Errorf("%.40q: %w", s, ErrBadID)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || id.IsZero() {
		return ID{}, fmt.Errorf("%q: %w", s, ErrBadID)
	}
	return id, nil
}
