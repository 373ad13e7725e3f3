// Package peer names the nodes of a Peerflow network. A node's identity
// is an Ed25519 key, made once per data folder and kept; its peer ID is
// derived from the public key (as Syncthing's device IDs are), so that
// a peer proves its ID by proving it holds the key: in the TLS handshake
// with other peers and in the signature of its announces.
package peer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// ID identifies one node: the first 16 bytes of SHA-256 over a domain
// tag and its public key. Finding another key with a given ID costs
// about 2^128 tries.
type ID [16]byte

// ErrBadID is returned for a text that is not a peer ID.
var ErrBadID = errors.New("not a peer ID (want 32 hex characters)")

// idTag separates peer IDs from any other hash of a public key.
const idTag = "peerflow peer id\x00"

// IDOf returns the peer ID of public key pub.
func IDOf(pub ed25519.PublicKey) ID {
	h := sha256.New()
	h.Write([]byte(idTag))
	h.Write(pub)
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// NewKey returns a fresh identity key.
func NewKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(nil) // never fails (crypto/rand since Go 1.24)
	return k
}

// KeyID returns the peer ID of private key k.
func KeyID(k ed25519.PrivateKey) ID { return IDOf(k.Public().(ed25519.PublicKey)) }

// pemKeyType is the PEM block of an encoded key (PKCS #8).
const pemKeyType = "PRIVATE KEY"

// MaxKeyFile bounds what ParseKey reads: an Ed25519 PKCS #8 PEM block is
// about 120 bytes.
const MaxKeyFile = 4 << 10

// EncodeKey returns k as a PEM "PRIVATE KEY" block (PKCS #8).
func EncodeKey(k ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil { // only for a key of the wrong length
		panic(fmt.Sprintf("peer: encode key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemKeyType, Bytes: der})
}

// ErrBadKey wraps every reason a key file is refused.
var ErrBadKey = errors.New("not a Peerflow identity key (want a PEM PKCS #8 Ed25519 private key)")

// ParseKey decodes a key written by EncodeKey.
func ParseKey(b []byte) (ed25519.PrivateKey, error) {
	if len(b) > MaxKeyFile {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(b))
	}
	block, rest := pem.Decode(b)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%w: no PEM block", ErrBadKey)
	case block.Type != pemKeyType:
		return nil, fmt.Errorf("%w: PEM block %.40q", ErrBadKey, block.Type)
	case len(block.Headers) > 0 || len(bytes.TrimSpace(rest)) > 0:
		return nil, fmt.Errorf("%w: extra data", ErrBadKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T", ErrBadKey, k)
	}
	return ek, nil
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
