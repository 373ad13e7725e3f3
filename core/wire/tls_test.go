package wire

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"peerflow/core/peer"
)

func newIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := NewIdentity(peer.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tlsPair runs the client side with client (and want) against the
// server side with server over a pipe, and returns what each side got.
type tlsResult struct {
	conn   net.Conn
	proven peer.ID
	err    error
}

func tlsPair(t *testing.T, client func(net.Conn) (net.Conn, peer.ID, error), server func(net.Conn) (net.Conn, peer.ID, error)) (c, s tlsResult) {
	t.Helper()
	a, b := rawTCPPair(t)
	done := make(chan tlsResult, 1)
	go func() {
		conn, p, err := server(b)
		if err != nil {
			b.Close() // unblock the client
		}
		done <- tlsResult{conn, p, err}
	}()
	conn, p, err := client(a)
	if err != nil {
		a.Close()
	}
	return tlsResult{conn, p, err}, <-done
}

// TestTLSProvesBothIDs: after the handshake each side knows the other's
// peer ID from its key, and the bytes pass encrypted.
func TestTLSProvesBothIDs(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	ctx := context.Background()
	c, s := tlsPair(t,
		func(nc net.Conn) (net.Conn, peer.ID, error) { return alice.Client(ctx, nc, bob.ID) },
		func(nc net.Conn) (net.Conn, peer.ID, error) { return bob.Server(ctx, nc) })
	if c.err != nil || s.err != nil {
		t.Fatalf("client %v, server %v", c.err, s.err)
	}
	if c.proven != bob.ID || s.proven != alice.ID {
		t.Fatalf("proven: client saw %s (want %s), server saw %s (want %s)", c.proven.Short(), bob.ID.Short(), s.proven.Short(), alice.ID.Short())
	}
	if v := c.conn.(*tls.Conn).ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("TLS version %x", v)
	}
	go c.conn.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := s.conn.Read(buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// TestTLSRefusesAnotherKey: a peer that is not the one the tracker listed
// at an address (its key has another ID) is refused by the dialer.
func TestTLSRefusesAnotherKey(t *testing.T) {
	alice, bob, mallory := newIdentity(t), newIdentity(t), newIdentity(t)
	ctx := context.Background()
	c, _ := tlsPair(t,
		func(nc net.Conn) (net.Conn, peer.ID, error) { return alice.Client(ctx, nc, bob.ID) },
		func(nc net.Conn) (net.Conn, peer.ID, error) { return mallory.Server(ctx, nc) })
	if !errors.Is(c.err, ErrWrongPeer) {
		t.Fatalf("dialing bob reached mallory: %v", c.err)
	}
}

// selfSigned returns a certificate over a P-256 key: valid TLS, but not
// a Peerflow identity.
func selfSigned(t *testing.T) tls.Certificate {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// TestTLSRefusesStrangers: a client with no certificate, one with a
// non-Ed25519 key, one that speaks another protocol, and one that speaks
// TLS 1.2 are all refused by the answering side.
func TestTLSRefusesStrangers(t *testing.T) {
	bob := newIdentity(t)
	ctx := context.Background()
	for name, cfg := range map[string]*tls.Config{
		"no certificate": {InsecureSkipVerify: true, NextProtos: []string{ALPN}},
		"ECDSA key":      {InsecureSkipVerify: true, NextProtos: []string{ALPN}, Certificates: []tls.Certificate{selfSigned(t)}},
		"other protocol": {InsecureSkipVerify: true, NextProtos: []string{"h2"}, Certificates: []tls.Certificate{bob.cert}},
		"TLS 1.2":        {InsecureSkipVerify: true, NextProtos: []string{ALPN}, Certificates: []tls.Certificate{bob.cert}, MaxVersion: tls.VersionTLS12},
	} {
		_, s := tlsPair(t,
			func(nc net.Conn) (net.Conn, peer.ID, error) {
				c := tls.Client(nc, cfg)
				return c, peer.ID{}, c.HandshakeContext(ctx)
			},
			func(nc net.Conn) (net.Conn, peer.ID, error) { return bob.Server(ctx, nc) })
		if s.err == nil {
			t.Errorf("%s: accepted as %s", name, s.proven.Short())
		}
	}
}

// FuzzTLSServer: whatever a dialer sends first, the answering side of
// the handshake returns an error (no panic, no hang).
func FuzzTLSServer(f *testing.F) {
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte("PFLW\x02"))
	bob, err := NewIdentity(peer.NewKey())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, s := net.Pipe()
		defer a.Close()
		go func() {
			a.Write(b)
			a.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, _, err := bob.Server(ctx, s); err == nil {
			t.Fatal("handshake succeeded on bytes from no key")
		}
	})
}

// BenchmarkHandshake measures whole handshakes on loopback TCP: connect,
// TLS 1.3 with both identities proven, and the Hello each way. In the
// same run it measures the limit they are bound by, the public-key work
// of one handshake (each side: an X25519 key and shared secret, an
// Ed25519 signature and a verification) done on every core with nothing
// else, and reports the handshakes' rate as a fraction of it.
func BenchmarkHandshake(b *testing.B) {
	server, client := newIdentity(b), newIdentity(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	lim := Limits{Chunks: 1, ChunkSize: 1 << 10, Size: 1 << 10}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				tc, _, err := server.Server(context.Background(), nc)
				if err != nil {
					return
				}
				c := NewConn(tc)
				ServerHandshake(c, func(h HelloMsg) (HelloMsg, Limits, Reason) {
					return HelloMsg{Peer: server.ID, Content: h.Content}, lim, ReasonNone
				})
				var m Msg
				c.ReadMsg(&m) // until the client closes
			}()
		}
	}()
	b.ReportAllocs()
	b.SetParallelism(4) // clients enough to hide the round trips
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Error(err)
				return
			}
			tc, _, err := client.Client(context.Background(), nc, server.ID)
			if err == nil {
				_, err = ClientHandshake(NewConn(tc), HelloMsg{Peer: client.ID})
			}
			nc.Close()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	limit := handshakeCryptoRate()
	b.ReportMetric(rate, "handshakes/s")
	b.ReportMetric(limit, "crypto-limit/s")
	b.ReportMetric(rate/limit, "of-limit")
}

// handshakeCryptoRate is how many handshakes' worth of public-key work
// (two X25519 keys and shared secrets, two Ed25519 signatures and two
// verifications) every core can do per second.
func handshakeCryptoRate() float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 130) // what TLS 1.3 signs: padding, context, transcript hash
	const each = 100
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for range each {
				for range 2 {
					a, _ := ecdh.X25519().GenerateKey(rand.Reader)
					c, _ := ecdh.X25519().GenerateKey(rand.Reader)
					a.ECDH(c.PublicKey())
					ed25519.Verify(pub, msg, ed25519.Sign(priv, msg))
				}
			}
		})
	}
	wg.Wait()
	return float64(each*runtime.GOMAXPROCS(0)) / time.Since(start).Seconds()
}
