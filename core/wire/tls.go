package wire

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"peerflow/core/peer"
)

// Every peer connection runs over TLS 1.3 with both sides presenting a
// certificate. No certificate authority names peers: a certificate is
// self-signed over the node's identity key, and what counts is the key
// in it, whose hash is the peer ID (package peer). TLS proves that the
// other side holds that key, so after the handshake each side knows the
// other's ID for certain, whatever a Hello or a tracker claims.

// ALPN is the application protocol both sides name in the TLS handshake.
const ALPN = "peerflow/3"

// Errors of the TLS handshake.
var (
	ErrNoPeerKey = errors.New("wire: peer presented no Ed25519 certificate")
	ErrWrongPeer = errors.New("wire: peer's key is not that of the peer ID it was dialed for")
)

// Identity is a node's key as TLS presents it.
type Identity struct {
	ID   peer.ID
	cert tls.Certificate
}

// NewIdentity makes the self-signed certificate of key. Its dates are
// not checked by peers (the key is what counts), so it never expires.
func NewIdentity(key ed25519.PrivateKey) (*Identity, error) {
	id := peer.KeyID(key)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "peerflow " + id.String()},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("wire: make the identity certificate: %w", err)
	}
	return &Identity{ID: id, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}, nil
}

// PeerOf returns the peer ID proven by a finished TLS handshake.
func PeerOf(cs tls.ConnectionState) (peer.ID, error) {
	if len(cs.PeerCertificates) == 0 {
		return peer.ID{}, ErrNoPeerKey
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return peer.ID{}, ErrNoPeerKey
	}
	return peer.IDOf(pub), nil
}

// Roles of a swarm proof: the dialer's and the answering side's differ,
// so neither can send back the other's.
const (
	RoleDialer   byte = 'd'
	RoleAnswerer byte = 'a'
)

// Proof is what a Hello carries to show that its sender knows key, the
// peer key of a private swarm (content.Secret.PeerKey): an HMAC over
// keying material exported from this TLS connection (RFC 8446, 7.5), so
// a proof is worth nothing on any other connection. Over a connection
// that is not TLS (the benchmarks' plain reference) there is nothing to
// bind to, and the proof is the HMAC of the role alone.
func Proof(nc net.Conn, key [32]byte, role byte) ([proofSize]byte, error) {
	var ekm []byte
	if tc, ok := nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		var err error
		if ekm, err = cs.ExportKeyingMaterial("EXPORTER-peerflow-swarm-proof", nil, 32); err != nil {
			return [proofSize]byte{}, fmt.Errorf("wire: swarm proof: %w", err)
		}
	}
	mac := hmac.New(sha256.New, key[:])
	mac.Write([]byte{role})
	mac.Write(ekm)
	return [proofSize]byte(mac.Sum(nil)), nil
}

// config is the TLS configuration of one handshake. want, if not zero,
// is the peer ID the other side must prove.
func (id *Identity) config(want peer.ID) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		NextProtos:   []string{ALPN},
		// Peers are not named by a CA; VerifyConnection checks the key
		// instead. The handshake itself (CertificateVerify) proves the
		// other side holds the key of the certificate it sent.
		InsecureSkipVerify:     true,
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := PeerOf(cs)
			switch {
			case err != nil:
				return err
			case cs.NegotiatedProtocol != ALPN:
				return fmt.Errorf("wire: peer speaks %q, not %s", cs.NegotiatedProtocol, ALPN)
			case !want.IsZero() && got != want:
				return fmt.Errorf("%w: want %s, got %s", ErrWrongPeer, want.Short(), got.Short())
			}
			return nil
		},
	}
}

// Client runs the dialer's side of TLS on nc and returns the secured
// connection with the peer's proven ID; want, if not zero, is the ID the
// peer must prove. ctx bounds the handshake; on error nc is closed.
func (id *Identity) Client(ctx context.Context, nc net.Conn, want peer.ID) (net.Conn, peer.ID, error) {
	return handshakeTLS(ctx, tls.Client(nc, id.config(want)))
}

// Server runs the answering side of TLS on nc, like Client.
func (id *Identity) Server(ctx context.Context, nc net.Conn) (net.Conn, peer.ID, error) {
	return handshakeTLS(ctx, tls.Server(nc, id.config(peer.ID{})))
}

func handshakeTLS(ctx context.Context, c *tls.Conn) (net.Conn, peer.ID, error) {
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, peer.ID{}, fmt.Errorf("TLS handshake: %w", err)
	}
	p, err := PeerOf(c.ConnectionState())
	if err != nil { // VerifyConnection checked it already
		c.Close()
		return nil, peer.ID{}, err
	}
	return c, p, nil
}
