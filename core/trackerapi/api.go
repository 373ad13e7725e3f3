// Package trackerapi is the tracker protocol, version 1: the HTTP paths and
// JSON bodies a tracker (package tracker) serves, and the client a node uses
// to publish, announce and look up holders.
//
// Endpoints (all under /v1):
//
//	POST /v1/manifests                 body: a canonical manifest (application/octet-stream)
//	GET  /v1/manifests/{id}            the canonical manifest of content id
//	POST /v1/announce                  AnnounceRequest → AnnounceResponse
//	GET  /v1/contents?q=&offset=&limit= ContentList
//	GET  /v1/contents/{id}/holders?limit=&exclude=  HolderList
//	GET  /v1/health                    Health
//
// Every error is an ErrorBody with a fitting status code.
package trackerapi

import (
	"crypto/hmac"
	"crypto/sha256"

	"peerflow/core/content"
	"peerflow/core/peer"
)

// ProtocolVersion is the version of this protocol; paths carry it as /v1.
const ProtocolVersion = 1

// Paths of the endpoints.
const (
	PathManifests = "/v1/manifests"
	PathAnnounce  = "/v1/announce"
	PathContents  = "/v1/contents"
	PathHealth    = "/v1/health"
)

// Heartbeat and lease: a peer re-announces every Interval; a peer not heard
// from for Lease (three missed heartbeats) expires and its chunks stop
// counting.
const (
	DefaultIntervalSeconds = 30
	DefaultLeaseSeconds    = 3 * DefaultIntervalSeconds
)

// Bounds a tracker enforces on what it is sent and a client on what it
// reads, checked before decoding.
const (
	MaxAnnounceBody     = 64 << 20 // an announce of many large bitfields
	MaxContentsPerPeer  = 4096     // entries in one announce
	MaxHoldersPerCall   = 200      // holders returned by one call
	MaxListLimit        = 500      // contents returned by one list call
	MaxResponseBody     = MaxAnnounceBody
	MaxManifestBody     = content.MaxEncodedSize
	DefaultHoldersLimit = MaxHoldersPerCall
	DefaultListLimit    = 100
)

// AnnounceRequest tells a tracker that a peer is alive, where it listens,
// and which chunks it holds.
//
// With Full set, Contents is everything the peer holds and anything else
// the tracker kept for it is dropped. Without it the announce is
// incremental: listed contents are replaced, Stopped ones removed, the rest
// kept. Either way the peer's lease is renewed.
type AnnounceRequest struct {
	Peer peer.ID `json:"peer_id"`
	// Addr is where the peer listens, "host:port" or ":port". Only the
	// port is used: the tracker lists the peer at the address the request
	// came from, so no one can list a third party's host.
	Addr     string         `json:"addr"`
	Full     bool           `json:"full,omitempty"`
	Contents []ContentState `json:"contents,omitempty"`
	Stopped  []content.ID   `json:"stopped,omitempty"`
	// Key is the peer's Ed25519 public key: Peer must be its ID. The
	// body is signed with it (SignatureHeader), so only the holder of
	// the key can announce for Peer. An announce authenticated by its
	// session instead (SessionHeader) leaves it out.
	Key []byte `json:"key,omitempty"`
	// Nonce is the one this tracker gave the peer last (in
	// AnnounceResponse, or in the ErrorBody of a 401). A tracker takes
	// each nonce once, so an announce cannot be replayed, nor one sent to
	// another tracker be used here.
	Nonce string `json:"nonce,omitempty"`
	// SessionKey, in a signed announce, is a fresh X25519 public key of
	// the peer's: the tracker answers with its own (AnnounceResponse
	// .SessionKey), and the peer's next announces are authenticated with
	// a MAC under the key both derive (SessionHeader) instead of a
	// signature, which costs the tracker far more to check.
	SessionKey []byte `json:"session_key,omitempty"`
}

// SignatureHeader carries the base64 (standard, padded) Ed25519
// signature of SignedAnnounce(body) by AnnounceRequest.Key.
const SignatureHeader = "Peerflow-Signature"

// SessionHeader carries, instead of SignatureHeader, the base64
// (standard, padded) SessionMAC of the body under the peer's session
// with this tracker (AnnounceRequest.SessionKey). A tracker that does not
// know the session answers 401 with a fresh nonce, and the peer announces
// signed again.
const SessionHeader = "Peerflow-Session"

// Session derivations.
const (
	sessionKeyTag = "peerflow announce session v1\x00"
	sessionMACTag = "peerflow announce mac v1\x00"
)

// SessionSecret derives the announce session key of peer p from the
// X25519 shared secret of its key peerKey and the tracker's trackerKey.
func SessionSecret(shared []byte, p peer.ID, peerKey, trackerKey []byte) [32]byte {
	m := hmac.New(sha256.New, shared)
	m.Write([]byte(sessionKeyTag))
	m.Write(p[:])
	m.Write(peerKey)
	m.Write(trackerKey)
	return [32]byte(m.Sum(nil))
}

// SessionMAC returns the MAC of an announce body under session key k.
func SessionMAC(k *[32]byte, body []byte) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(sessionMACTag))
	m.Write(body)
	return m.Sum(nil)
}

// AccessHeader carries, base64 (standard, padded), the tracker key of a
// private swarm (content.Secret.TrackerKey) on a publish, a manifest or a
// holders request about it. A tracker answers a request about a private
// content without the right key as it answers one about a content it has
// never heard of, and leaves private contents out of its list.
const AccessHeader = "Peerflow-Access"

// announceTag separates announce signatures from any other use of a key.
const announceTag = "peerflow announce v1\x00"

// SignedAnnounce returns what a peer signs for an announce body.
func SignedAnnounce(body []byte) []byte {
	return append([]byte(announceTag), body...)
}

// ContentState is what a peer holds of one content.
type ContentState struct {
	ID content.ID `json:"id"`
	// Complete says the peer holds every chunk; Have is then omitted.
	Complete bool `json:"complete,omitempty"`
	// Have is the have-bitfield in wire form (chunk i is bit 7-i%8 of byte
	// i/8), base64 in JSON; exactly ceil(chunks/8) bytes, padding bits zero.
	Have       []byte `json:"have,omitempty"`
	Uploaded   int64  `json:"uploaded,omitempty"`
	Downloaded int64  `json:"downloaded,omitempty"`
	// FromOrigin is the part of Downloaded fetched from the origin server
	// (the content's web seed): what the swarm did not spare it.
	FromOrigin int64 `json:"from_origin,omitempty"`
	// Access is the tracker key of a private swarm (AccessHeader), base64
	// in JSON; a private content announced without it is unknown.
	Access []byte `json:"access,omitempty"`
}

// AnnounceResponse tells the peer when to announce again.
type AnnounceResponse struct {
	// IntervalSeconds is the heartbeat the tracker asks for; a client
	// clamps it (see MinInterval and MaxInterval in pool.go).
	IntervalSeconds int `json:"interval"`
	// Nonce is for the peer's next announce.
	Nonce        string `json:"nonce,omitempty"`
	LeaseSeconds int    `json:"lease"`
	// Unknown lists announced contents the tracker has no manifest for;
	// the peer should publish them.
	Unknown []content.ID `json:"unknown,omitempty"`
	// NeedFull asks the peer to make its next announce Full: the tracker
	// has not had the peer's whole state since it started (it restarted,
	// or the peer's lease ended), so incremental announces could leave
	// it with a stale picture.
	NeedFull bool `json:"need_full,omitempty"`
	// SessionKey is the tracker's X25519 public key, when it opened the
	// session the announce asked for (AnnounceRequest.SessionKey).
	SessionKey []byte `json:"session_key,omitempty"`
	// TrackerID is the tracker's ID. The trackers of a fleet (one etcd
	// cluster) share it and each serves all the fleet knows, so a node
	// announces to one of them (see Pool).
	TrackerID string `json:"tracker_id,omitempty"`
}

// PublishResponse answers a manifest publish.
type PublishResponse struct {
	ID      content.ID `json:"id"`
	Created bool       `json:"created"` // false: the tracker already had it
}

// ContentInfo is one content in a list.
type ContentInfo struct {
	ID        content.ID `json:"id"`
	Name      string     `json:"name"`
	Size      int64      `json:"size"`
	ChunkSize int64      `json:"chunk_size"`
	Chunks    int        `json:"chunks"`
	Holders   int        `json:"holders"` // live peers holding at least one chunk
	Seeders   int        `json:"seeders"` // live peers holding every chunk
	// Availability is the fraction of chunks at least one live peer holds.
	Availability float64 `json:"availability"`
	Origin       string  `json:"origin,omitempty"`
	// Downloaded and FromOrigin sum what the live holders announced they
	// downloaded, and fetched of that from the origin server: the origin's
	// offload is 1 - FromOrigin/Downloaded.
	Downloaded int64 `json:"downloaded,omitempty"`
	FromOrigin int64 `json:"from_origin,omitempty"`
}

// FromPeers is the share of what the holders downloaded that came from
// peers rather than the origin server; ok is false before any download.
func (ci ContentInfo) FromPeers() (share float64, ok bool) {
	if ci.Downloaded <= 0 {
		return 0, false
	}
	return 1 - float64(ci.FromOrigin)/float64(ci.Downloaded), true
}

// ContentList is a page of the contents a tracker knows.
type ContentList struct {
	Contents []ContentInfo `json:"contents"`
	Total    int           `json:"total"` // matching contents, over all pages
}

// HolderInfo is one live peer in the swarm of a content. It may hold no
// chunk yet: a downloader announces itself as soon as it starts, so that
// other downloaders connect to it.
type HolderInfo struct {
	Peer     peer.ID `json:"peer_id"`
	Addr     string  `json:"addr"`
	Complete bool    `json:"complete,omitempty"`
	Have     []byte  `json:"have,omitempty"` // wire-form bitfield, when not Complete
}

// HolderList answers a holders query.
type HolderList struct {
	Holders []HolderInfo `json:"holders"`
	Total   int          `json:"total"` // live peers in the swarm in all, the excluded one not counted
}

// Health answers /v1/health.
type Health struct {
	OK        bool   `json:"ok"`
	Version   string `json:"version"`
	Protocol  int    `json:"protocol"`
	TrackerID string `json:"tracker_id"` // the trackers of a fleet share one
	// Store is the kind of store the tracker keeps its records in:
	// "bbolt" (its own file) or "etcd" (a fleet's cluster). StoreError,
	// with OK false and status 503, says why the store does not answer.
	Store      string `json:"store,omitempty"`
	StoreError string `json:"store_error,omitempty"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	// Nonce comes with a 401 to an announce whose nonce was missing,
	// used or expired: announce again with it.
	Nonce string `json:"nonce,omitempty"`
}
