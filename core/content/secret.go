package content

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Secret is the secret of a private swarm. It travels only in share links
// (the s= parameter): whoever has the link may join, nobody else gets
// anything from the trackers or the peers.
//
// Two keys are derived from it, each bound to the content ID, so neither
// party learns more than its part:
//
//   - The tracker key is given to trackers when the content is published
//     and shown with every question about it. A tracker keeps only its
//     SHA-256, and answers nobody who cannot show the key.
//   - The peer key never leaves the peers. A dialer proves it with an HMAC
//     over its TLS connection's keying material, so a proof seen by one
//     peer cannot be replayed to another.
//
// A tracker thus cannot join the swarm of peers from what it was given.
type Secret [32]byte

// NewSecret returns a random secret.
func NewSecret() Secret {
	var s Secret
	rand.Read(s[:])
	return s
}

// ErrBadSecret is returned for a text that is not a swarm secret.
var ErrBadSecret = errors.New("not a swarm secret (want 52 base32 characters)")

// String returns the 52-character text form, as content IDs have.
func (s Secret) String() string { return idEncoding.EncodeToString(s[:]) }

// ParseSecret parses the text form of a secret.
func ParseSecret(text string) (Secret, error) {
	var s Secret
	lower := strings.ToLower(text)
	if len(text) != idTextLen {
		return s, fmt.Errorf("%w: %d characters", ErrBadSecret, len(text))
	}
	n, err := idEncoding.Decode(s[:], []byte(lower))
	if err != nil || n != len(s) || s.String() != lower {
		return Secret{}, ErrBadSecret
	}
	return s, nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Secret) UnmarshalText(b []byte) (err error) {
	*s, err = ParseSecret(string(b))
	return err
}

// TrackerKey is what trackers are given, and asked for, about content id.
func (s Secret) TrackerKey(id ID) [32]byte { return s.derive("peerflow tracker access", id) }

// PeerKey is what peers of content id prove to each other.
func (s Secret) PeerKey(id ID) [32]byte { return s.derive("peerflow peer access", id) }

func (s Secret) derive(purpose string, id ID) [32]byte {
	mac := hmac.New(sha256.New, s[:])
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write(id[:])
	return [32]byte(mac.Sum(nil))
}
