package tracker

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// An announce for peer ID X is taken only if it proves X's key: the body
// names the public key (whose hash must be X) and carries a nonce this
// tracker issued to X, and the request carries the key's signature of
// the body. The tracker takes each nonce once (a peer's nonces are taken
// in the order they were issued) and only within a lease of issuing it,
// so a captured announce cannot be replayed, here or at another tracker
// (whose nonces another secret made). Nonces need no state: each is the
// time it was issued, with a MAC over it and X under a secret made at
// start. A restart makes a new secret, so old nonces fail and peers are
// answered 401 with a fresh one, which clients retry with once.

// A signature costs the tracker about 50 µs of CPU to check, more than
// the rest of an announce. So a signed announce may open a session: it
// carries a fresh X25519 key of the peer's (signed with the rest), the
// tracker answers with its own, and both derive a session key from the
// shared secret (trackerapi.SessionSecret). The peer's next announces
// carry a MAC under that key instead of a signature, and nonces as
// before. An eavesdropper sees only the public keys; a replayed signed
// announce is refused by its nonce before any session opens. Sessions
// live in memory, for a lease after their last use; a restarted tracker
// knows none, answers 401 with a nonce, and peers sign again.

// maxSessions bounds the sessions kept: past it, signed announces open
// none (the peers keep signing).
const maxSessions = 1 << 18

// Errors of announce sessions.
var (
	errBadSessionKey = errors.New("session_key is not an X25519 public key")
	errNoSession     = errors.New("no such announce session here (the tracker restarted, or it expired): announce signed")
)

// sessions are the open announce sessions, by peer.
type sessions struct {
	priv *ecdh.PrivateKey // the tracker's X25519 key, made at start
	pub  []byte
	life time.Duration
	max  int

	mu sync.Mutex
	m  map[peer.ID]*announceSession
}

type announceSession struct {
	key  [32]byte
	used time.Time
}

func newSessions(life time.Duration, limit int) *sessions {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return &sessions{priv: priv, pub: priv.PublicKey().Bytes(), life: life, max: limit, m: make(map[peer.ID]*announceSession)}
}

// check reports whether mac (base64) is the MAC of body under p's
// session, and marks the session used.
func (ss *sessions) check(p peer.ID, body []byte, mac string, now time.Time) bool {
	got, err := base64.StdEncoding.DecodeString(mac)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ss.mu.Lock()
	s := ss.m[p]
	ss.mu.Unlock()
	if s == nil || !hmac.Equal(got, trackerapi.SessionMAC(&s.key, body)) {
		return false
	}
	ss.mu.Lock()
	s.used = now // only a valid MAC keeps a session alive
	ss.mu.Unlock()
	return true
}

// open opens (or replaces) p's session with the peer's X25519 key and
// returns the tracker's, or nil when the table is full.
func (ss *sessions) open(p peer.ID, peerKey []byte, now time.Time) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peerKey)
	if err != nil {
		return nil, errBadSessionKey
	}
	shared, err := ss.priv.ECDH(pub)
	if err != nil {
		return nil, errBadSessionKey
	}
	s := &announceSession{key: trackerapi.SessionSecret(shared, p, peerKey, ss.pub), used: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.m[p]; !ok && len(ss.m) >= ss.max {
		return nil, nil
	}
	ss.m[p] = s
	return ss.pub, nil
}

// sweep forgets the sessions unused for a lifetime.
func (ss *sessions) sweep(now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for p, s := range ss.m {
		if now.Sub(s.used) > ss.life {
			delete(ss.m, p)
		}
	}
}

// nonceSize is the bytes of a nonce: issue time (8) and MAC (16).
const nonceSize = 8 + 16

// Errors of announce authentication.
var (
	errBadKey       = errors.New("key is missing or is not the key of peer_id")
	errBadSignature = errors.New("signature is missing or does not verify with key")
	errBadNonce     = errors.New("nonce is missing, expired, used already or not from this tracker")
)

// nonces issues and checks announce nonces.
type nonces struct {
	secret [32]byte
	life   time.Duration
	last   atomic.Int64 // issue time of the newest nonce, unix ns: nonces are strictly ordered
}

func newNonces(life time.Duration) *nonces {
	n := &nonces{life: life}
	rand.Read(n.secret[:])
	return n
}

func (n *nonces) mac(p peer.ID, issued int64) []byte {
	m := hmac.New(sha256.New, n.secret[:])
	m.Write(p[:])
	binary.Write(m, binary.BigEndian, issued)
	return m.Sum(nil)[:nonceSize-8]
}

// issue returns a fresh nonce for p, issued now (or just after the last
// one, so that nonces never tie).
func (n *nonces) issue(p peer.ID, now time.Time) string {
	t := now.UnixNano()
	for {
		last := n.last.Load()
		t = max(t, last+1)
		if n.last.CompareAndSwap(last, t) {
			break
		}
	}
	b := binary.BigEndian.AppendUint64(make([]byte, 0, nonceSize), uint64(t))
	return base64.RawURLEncoding.EncodeToString(append(b, n.mac(p, t)...))
}

// check returns the issue time of a nonce this tracker gave p and that is
// not older than a lease; the caller takes it only if it is newer than
// the last one p used (state.apply).
func (n *nonces) check(p peer.ID, nonce string, now time.Time) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceSize {
		return 0, errBadNonce
	}
	t := int64(binary.BigEndian.Uint64(b))
	if !hmac.Equal(b[8:], n.mac(p, t)) || now.Sub(time.Unix(0, t)) > n.life {
		return 0, errBadNonce
	}
	return t, nil
}

// authenticate checks that req (whose body is body) comes from the
// holder of the key of req.Peer, by its signature or its session's MAC,
// with a nonce of this tracker's. It returns the nonce's issue time. A 401
// for a nonce or a session carries a fresh nonce.
func (s *Server) authenticate(r *http.Request, body []byte, req *trackerapi.AnnounceRequest, now time.Time) (int64, error) {
	if mac := r.Header.Get(trackerapi.SessionHeader); mac != "" {
		if req.Peer.IsZero() || !s.sessions.check(req.Peer, body, mac, now) {
			return 0, &apiError{status: http.StatusUnauthorized, msg: errNoSession.Error(), nonce: s.nonces.issue(req.Peer, now)}
		}
	} else {
		if len(req.Key) != ed25519.PublicKeySize || req.Peer.IsZero() || peer.IDOf(req.Key) != req.Peer {
			return 0, errorf(http.StatusBadRequest, "%v: %v", errBadAnnounce, errBadKey)
		}
		sig, err := base64.StdEncoding.DecodeString(r.Header.Get(trackerapi.SignatureHeader))
		if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(req.Key, trackerapi.SignedAnnounce(body), sig) {
			return 0, errorf(http.StatusUnauthorized, "%v", errBadSignature)
		}
	}
	issued, err := s.nonces.check(req.Peer, req.Nonce, now)
	if err != nil {
		return 0, s.nonceError(req.Peer, now)
	}
	return issued, nil
}

// nonceError is the 401 that gives p a fresh nonce.
func (s *Server) nonceError(p peer.ID, now time.Time) error {
	return &apiError{status: http.StatusUnauthorized, msg: fmt.Sprintf("%v; announce again with the nonce given", errBadNonce),
		nonce: s.nonces.issue(p, now)}
}
