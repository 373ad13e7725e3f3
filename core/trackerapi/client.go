package trackerapi

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/flow/chunkset"
)

// Client defaults.
const (
	DefaultTimeout    = 10 * time.Second // per attempt
	DefaultRetries    = 2
	DefaultBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// ClientOptions tune a Client. Zero fields take the defaults above.
type ClientOptions struct {
	// HTTPClient sends the requests; share one between clients to share
	// connections. Its own Timeout should be zero: Timeout below applies.
	HTTPClient *http.Client
	// Timeout bounds each attempt (connect, send, read the answer).
	Timeout time.Duration
	// Retries is how many times a transient failure (connection refused or
	// reset, timeout, 5xx, 429) is retried; negative means never. Other
	// 4xx answers are never retried: repeating the request cannot help.
	Retries int
	// Backoff is the wait before the first retry; it doubles on each retry
	// up to MaxBackoff, with random jitter so that many nodes do not retry
	// in step.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Token is sent with Publish to a tracker that requires one.
	Token string
	// Access, if set, returns the tracker key of a private content
	// (content.Secret.TrackerKey), or nil for a public one: it goes with
	// every request about the content (AccessHeader, ContentState.Access).
	Access func(content.ID) *[32]byte
}

// Client talks to one tracker. It is safe for concurrent use.
type Client struct {
	addr string
	base string
	opts ClientOptions

	mu       sync.Mutex
	nonces   map[peer.ID]string   // the tracker's last nonce for each peer announced as
	sessions map[peer.ID]*session // each peer's announce session with the tracker
}

// session is a peer's announce session with the tracker: pending (priv
// sent in a signed announce) until the tracker answers with its key, then
// established (key).
type session struct {
	priv *ecdh.PrivateKey
	key  *[32]byte
}

// NewClient returns a client for the tracker at addr (host:port).
func NewClient(addr string, opts ClientOptions) (*Client, error) {
	if err := content.ValidateAddr(addr); err != nil {
		return nil, fmt.Errorf("tracker address: %w", err)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	switch {
	case opts.Retries == 0:
		opts.Retries = DefaultRetries
	case opts.Retries < 0:
		opts.Retries = 0
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	return &Client{addr: addr, base: "http://" + addr, opts: opts}, nil
}

// Addr returns the tracker's address.
func (c *Client) Addr() string { return c.addr }

// StatusError is an error answer of a tracker.
type StatusError struct {
	Code    int    // HTTP status
	Message string // the tracker's ErrorBody, or the status text
	Nonce   string // a 401's fresh nonce (see AnnounceRequest.Nonce)
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// IsNotFound reports whether err is a tracker's 404 answer: it does not
// know the content asked for.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// accessHeader returns the header that opens private content id, or nil.
func (c *Client) accessHeader(id content.ID) http.Header {
	if c.opts.Access == nil {
		return nil
	}
	if k := c.opts.Access(id); k != nil {
		return http.Header{AccessHeader: {base64.StdEncoding.EncodeToString(k[:])}}
	}
	return nil
}

// IsConflict reports whether err is a tracker's 409 answer to a publish:
// it has the content with other access (public, or under another key).
func IsConflict(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusConflict
}

// call is one API request.
type call struct {
	op     string // what is being done, for errors: "announce to"
	method string
	path   string
	query  url.Values
	body   []byte
	ctype  string
	token  string // sent as the bearer token if set
	header http.Header
	limit  int // bytes of answer read at most
}

// do runs c, retrying transient failures, and returns the answer's body.
// Errors say what was being done and where: "announce to 10.0.0.2:7070: …".
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	var err error
	for attempt := 0; ; attempt++ {
		var body []byte
		var retry bool
		if body, retry, err = c.once(ctx, cl); err == nil {
			return body, nil
		}
		if !retry || attempt >= c.opts.Retries || c.wait(ctx, attempt) != nil {
			break
		}
	}
	return nil, fmt.Errorf("%s %s: %w", cl.op, c.addr, err)
}

// once makes one attempt and says whether its failure is worth retrying.
func (c *Client) once(ctx context.Context, cl call) (body []byte, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, bytes.NewReader(cl.body))
	if err != nil {
		return nil, false, err
	}
	if cl.ctype != "" {
		req.Header.Set("Content-Type", cl.ctype)
	}
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		// Refused, reset or timed out: worth another try unless the
		// caller gave up.
		return nil, ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, int64(cl.limit)+1))
	switch {
	case err != nil:
		return nil, ctx.Err() == nil, fmt.Errorf("read answer: %w", err)
	case len(body) > cl.limit:
		return nil, false, fmt.Errorf("answer is over the %d-byte limit", cl.limit)
	case resp.StatusCode >= 400:
		se := &StatusError{Code: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		var eb ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
			se.Message, se.Nonce = cleanText(eb.Error), eb.Nonce
		}
		return nil, resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, se
	}
	return body, false, nil
}

// wait sleeps before retry number attempt+1: exponential, with the upper
// half jittered.
func (c *Client) wait(ctx context.Context, attempt int) error {
	d := min(c.opts.Backoff<<min(attempt, 20), c.opts.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// doJSON runs cl and decodes its JSON answer into v.
func (c *Client) doJSON(ctx context.Context, cl call, v any) error {
	body, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", cl.op, c.addr, err)
	}
	return nil
}

// Publish stores manifest m on the tracker, with the token if one is set.
func (c *Client) Publish(ctx context.Context, m *content.Manifest) (PublishResponse, error) {
	return c.publish(ctx, m, c.opts.Token)
}

// publish is Publish with the token to send ("" for none).
func (c *Client) publish(ctx context.Context, m *content.Manifest, token string) (PublishResponse, error) {
	var resp PublishResponse
	body := m.Encode()
	id := content.ID(sha256.Sum256(body))
	err := c.doJSON(ctx, call{
		op: "publish " + id.Short() + " to", method: http.MethodPost, path: PathManifests,
		body: body, ctype: "application/octet-stream", token: token, limit: MaxResponseBody,
		header: c.accessHeader(id),
	}, &resp)
	return resp, err
}

// Announce sends req for the peer whose key is key (req.Peer and req.Key
// are set from it; req.Nonce from the last answer of this tracker) and
// returns the tracker's answer. The first announce is signed and opens a
// session (AnnounceRequest.SessionKey); the next are authenticated by the
// session's MAC, which the tracker checks for a fraction of a signature's
// cost. A tracker that refuses the nonce or the session (it restarted, or
// the nonce expired) answers with a fresh nonce, and the announce is sent
// again with it, signed, once.
func (c *Client) Announce(ctx context.Context, key ed25519.PrivateKey, req AnnounceRequest) (AnnounceResponse, error) {
	if len(key) != ed25519.PrivateKeySize {
		return AnnounceResponse{}, fmt.Errorf("announce to %s: no identity key to sign with", c.addr)
	}
	pub := key.Public().(ed25519.PublicKey)
	req.Peer = peer.IDOf(pub)
	for attempt := 0; ; attempt++ {
		req.Nonce = c.nonce(req.Peer, "")
		resp, err := c.announceOnce(ctx, key, req)
		var se *StatusError
		if attempt == 0 && errors.As(err, &se) && se.Code == http.StatusUnauthorized && se.Nonce != "" {
			c.dropSession(req.Peer)
			c.nonce(req.Peer, se.Nonce)
			continue
		}
		if err == nil {
			c.nonce(req.Peer, resp.Nonce)
		}
		return resp, err
	}
}

// nonce returns the nonce kept for p, after replacing it with next if
// next is not "".
func (c *Client) nonce(p peer.ID, next string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if next != "" {
		if c.nonces == nil {
			c.nonces = make(map[peer.ID]string)
		}
		c.nonces[p] = next
	}
	return c.nonces[p]
}

// sessionKey returns p's established session key, or nil.
func (c *Client) sessionKey(p peer.ID) *[32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[p]; s != nil {
		return s.key
	}
	return nil
}

// pendSession makes a fresh session key pair for p, to send its public
// key in a signed announce.
func (c *Client) pendSession(p peer.ID) (*ecdh.PrivateKey, error) {
	priv, err := ecdh.X25519().GenerateKey(crand.Reader)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = make(map[peer.ID]*session)
	}
	c.sessions[p] = &session{priv: priv}
	return priv, nil
}

// openSession establishes p's session pending with priv, now that the
// tracker answered with its key; if another announce has put another
// pending in its place meanwhile, that one stays. A key that is no X25519
// key opens nothing: the peer goes on signing.
func (c *Client) openSession(p peer.ID, priv *ecdh.PrivateKey, trackerKey []byte) {
	var k *[32]byte
	if tpub, err := ecdh.X25519().NewPublicKey(trackerKey); err == nil {
		if shared, err := priv.ECDH(tpub); err == nil {
			key := SessionSecret(shared, p, priv.PublicKey().Bytes(), trackerKey)
			k = &key
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[p]; s != nil && s.priv == priv {
		if k == nil {
			delete(c.sessions, p)
			return
		}
		c.sessions[p] = &session{key: k}
	}
}

// dropSession forgets p's session: its next announce is signed.
func (c *Client) dropSession(p peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sessions, p)
}

func (c *Client) announceOnce(ctx context.Context, key ed25519.PrivateKey, req AnnounceRequest) (AnnounceResponse, error) {
	var resp AnnounceResponse
	if c.opts.Access != nil {
		req.Contents = slices.Clone(req.Contents)
		for i := range req.Contents {
			if k := c.opts.Access(req.Contents[i].ID); k != nil {
				req.Contents[i].Access = k[:]
			}
		}
	}
	sk := c.sessionKey(req.Peer)
	var pending *ecdh.PrivateKey
	if sk == nil {
		var err error
		req.Key = key.Public().(ed25519.PublicKey)
		if pending, err = c.pendSession(req.Peer); err != nil {
			return resp, fmt.Errorf("announce to %s: %w", c.addr, err)
		}
		req.SessionKey = pending.PublicKey().Bytes()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("announce to %s: %w", c.addr, err)
	}
	if len(body) > MaxAnnounceBody {
		return resp, fmt.Errorf("announce to %s: %d bytes is over the %d-byte limit", c.addr, len(body), MaxAnnounceBody)
	}
	var auth http.Header
	if sk != nil {
		auth = http.Header{SessionHeader: {base64.StdEncoding.EncodeToString(SessionMAC(sk, body))}}
	} else {
		auth = http.Header{SignatureHeader: {base64.StdEncoding.EncodeToString(ed25519.Sign(key, SignedAnnounce(body)))}}
	}
	err = c.doJSON(ctx, call{
		op: "announce to", method: http.MethodPost, path: PathAnnounce,
		body: body, ctype: "application/json", limit: MaxResponseBody, header: auth,
	}, &resp)
	if err == nil && pending != nil && resp.SessionKey != nil {
		c.openSession(req.Peer, pending, resp.SessionKey)
	}
	return resp, err
}

// Contents returns a page of the contents whose name contains query (case
// insensitive). limit 0 asks for the tracker's default page size.
func (c *Client) Contents(ctx context.Context, query string, offset, limit int) (ContentList, error) {
	q := url.Values{}
	if query != "" {
		q.Set("q", query)
	}
	if offset != 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list ContentList
	err := c.doJSON(ctx, call{op: "list contents of", method: http.MethodGet, path: PathContents, query: q, limit: MaxResponseBody}, &list)
	return list, err
}

// Manifest fetches the manifest of content id and checks that it is the
// one id names: a tracker cannot pass off another file.
func (c *Client) Manifest(ctx context.Context, id content.ID) (*content.Manifest, error) {
	op := "get manifest " + id.Short() + " from"
	body, err := c.do(ctx, call{op: op, method: http.MethodGet, path: PathManifests + "/" + id.String(), limit: MaxManifestBody,
		header: c.accessHeader(id)})
	if err != nil {
		return nil, err
	}
	m, err := content.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, c.addr, err)
	}
	if m.ID() != id {
		return nil, fmt.Errorf("%s %s: the tracker sent the manifest of another content (%s)", op, c.addr, m.ID().Short())
	}
	return m, nil
}

// Holder is a live peer holding chunks of a content, decoded.
type Holder struct {
	Peer peer.ID
	Addr string
	Have *chunkset.Set // every chunk set when the peer is complete
}

// Holders returns live holders of m's content other than exclude (zero:
// none excluded), up to the tracker's per-call limit, chosen so that
// holders of rare chunks are included. Bitfields are checked against m.
func (c *Client) Holders(ctx context.Context, m *content.Manifest, exclude peer.ID) ([]Holder, error) {
	id := m.ID()
	op := "get holders of " + id.Short() + " from"
	q := url.Values{}
	if !exclude.IsZero() {
		q.Set("exclude", exclude.String())
	}
	var list HolderList
	if err := c.doJSON(ctx, call{op: op, method: http.MethodGet, path: PathContents + "/" + id.String() + "/holders", query: q, limit: MaxResponseBody,
		header: c.accessHeader(id)}, &list); err != nil {
		return nil, err
	}
	if len(list.Holders) > MaxHoldersPerCall {
		return nil, fmt.Errorf("%s %s: %d holders, more than %d", op, c.addr, len(list.Holders), MaxHoldersPerCall)
	}
	hs := make([]Holder, 0, len(list.Holders))
	for _, hi := range list.Holders {
		h, err := decodeHolder(hi, m.NumChunks())
		if err != nil {
			return nil, fmt.Errorf("%s %s: holder %s: %w", op, c.addr, hi.Peer.Short(), err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func decodeHolder(hi HolderInfo, chunks int) (Holder, error) {
	if hi.Peer.IsZero() {
		return Holder{}, errors.New("no peer ID")
	}
	if err := content.ValidateAddr(hi.Addr); err != nil {
		return Holder{}, err
	}
	h := Holder{Peer: hi.Peer, Addr: hi.Addr}
	if hi.Complete {
		h.Have = chunkset.New(chunks)
		h.Have.Fill()
		return h, nil
	}
	var err error
	h.Have, err = chunkset.FromBytes(hi.Have, chunks)
	return h, err
}

// Health asks the tracker for its version and ID.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.doJSON(ctx, call{op: "check health of", method: http.MethodGet, path: PathHealth, limit: MaxResponseBody}, &h)
	return h, err
}

// CloseIdleConnections closes the kept-alive connections of the client's
// HTTP client, e.g. when the node stops.
func (c *Client) CloseIdleConnections() { c.opts.HTTPClient.CloseIdleConnections() }

// maxMessage bounds a tracker's error text kept for the user.
const maxMessage = 500

// cleanText makes text from a tracker fit to print: control characters
// (which could move a terminal's cursor or change its colours) and bidi
// overrides are dropped, invalid UTF-8 replaced, and the length bounded.
func cleanText(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxMessage {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
