package content

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ID names a content: the SHA-256 of its manifest's canonical encoding.
type ID [sha256.Size]byte

// idEncoding is the text form of an ID: lowercase base32 without padding,
// 52 characters, safe in URLs and file names and case-insensitive to parse.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idTextLen is the length of an ID's text form.
var idTextLen = idEncoding.EncodedLen(sha256.Size)

// ErrBadID is returned for a text that is not a content ID.
var ErrBadID = errors.New("not a content ID (want 52 base32 or 64 hex characters)")

// String returns the 52-character text form of id.
func (id ID) String() string { return idEncoding.EncodeToString(id[:]) }

// Short returns the first 12 characters of the text form, for display.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler (JSON uses the text form).
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

// ParseID parses the text form of an ID; 64 hex characters are accepted too.
func ParseID(s string) (ID, error) {
	var id ID
	switch len(s) {
	case idTextLen:
		lower := strings.ToLower(s)
		n, err := idEncoding.Decode(id[:], []byte(lower))
		// Re-encoding rejects texts whose unused low bits are not zero, so
		// every ID has exactly one text form.
		if err != nil || n != len(id) || id.String() != lower {
			return ID{}, fmt.Errorf("%q: %w", s, ErrBadID)
		}
	case hex.EncodedLen(sha256.Size):
		if _, err := hex.Decode(id[:], []byte(s)); err != nil {
			return ID{}, fmt.Errorf("%q: %w", s, ErrBadID)
		}
	default:
		return ID{}, fmt.Errorf("%q: %w", truncate(s, 80), ErrBadID)
	}
	return id, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
