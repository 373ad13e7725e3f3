package peer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestIDText(t *testing.T) {
	id := KeyID(NewKey())
	if id.IsZero() || KeyID(NewKey()) == id {
		t.Fatal("keys do not give distinct IDs")
	}
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if id.Short() != id.String()[:8] {
		t.Errorf("Short() = %q", id.Short())
	}
	b, _ := id.MarshalText()
	var back ID
	if err := back.UnmarshalText(b); err != nil || back != id {
		t.Fatalf("text round trip: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("0", 32), strings.Repeat("g", 32), id.String() + "0"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) = %v, want ErrBadID", bad, err)
		}
	}
	if err := back.UnmarshalText([]byte("x")); err == nil {
		t.Error("UnmarshalText accepted garbage")
	}
}

// TestIDOfKey: the ID is a function of the public key alone, and the
// same key always gives it.
func TestIDOfKey(t *testing.T) {
	k := NewKey()
	back, err := ParseKey(EncodeKey(k))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(k) || KeyID(back) != KeyID(k) {
		t.Fatal("a key read back has another ID")
	}
	// A known vector keeps the derivation from changing by accident
	// (every node's ID would change with it).
	var seed [32]byte
	if got := KeyID(ed25519.NewKeyFromSeed(seed[:])).String(); got != zeroSeedID {
		t.Fatalf("ID of the zero seed's key is %s, want %s", got, zeroSeedID)
	}
}

func TestParseKeyRefuses(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	good := EncodeKey(NewKey())
	for name, b := range map[string][]byte{
		"empty":       nil,
		"not PEM":     []byte("hello"),
		"other type":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"not ed25519": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"garbage DER": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"extra data":  append(bytes.Clone(good), "more"...),
		"two keys":    append(bytes.Clone(good), good...),
		"headers":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"a": "b"}, Bytes: der}),
		"too long":    bytes.Repeat([]byte{' '}, MaxKeyFile+1),
	} {
		if _, err := ParseKey(b); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", name, err)
		}
	}
	if _, err := ParseKey(append(bytes.Clone(good), "\n\n"...)); err != nil {
		t.Errorf("trailing newlines: %v", err)
	}
}

// FuzzParseKey: a key file from disk never panics the parser, and what it
// accepts encodes back to a key it accepts with the same ID.
func FuzzParseKey(f *testing.F) {
	f.Add(EncodeKey(NewKey()))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			return
		}
		back, err := ParseKey(EncodeKey(k))
		if err != nil || KeyID(back) != KeyID(k) {
			t.Fatalf("accepted key does not round-trip: %v", err)
		}
	})
}

// zeroSeedID is the peer ID of the Ed25519 key with the all-zero seed.
const zeroSeedID = "5c9dca074ffd9a1ac0140e1f951d8931"
