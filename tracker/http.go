package tracker

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// apiError is an error answered with its status code and message.
type apiError struct {
	status int
	msg    string
	nonce  string // a fresh announce nonce, with a 401 (see auth.go)
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// routes builds the API. Each path also gets a method-less pattern, which
// Go's mux ranks below the one with a method, so that a wrong method is
// answered 405 with a JSON body and an unknown path 404 likewise.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	route := func(method, path string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(method+" "+path, s.handle(h))
		allow := method
		if method == http.MethodGet {
			allow += ", " + http.MethodHead
		}
		mux.Handle(path, s.handle(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return errorf(http.StatusMethodNotAllowed, "%s %s: method not allowed (use %s)", r.Method, path, method)
		}))
	}
	route(http.MethodPost, trackerapi.PathManifests, s.publish)
	route(http.MethodGet, trackerapi.PathManifests+"/{id}", s.getManifest)
	route(http.MethodPost, trackerapi.PathAnnounce, s.announce)
	route(http.MethodGet, trackerapi.PathContents, s.contents)
	route(http.MethodGet, trackerapi.PathContents+"/{id}/holders", s.holders)
	route(http.MethodGet, trackerapi.PathHealth, s.health)
	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "%s: no such endpoint", r.URL.Path)
	}))
	return s.recoverer(mux)
}

// handle adapts a handler that returns an error, answering the error as
// an ErrorBody: an apiError with its status, anything else as a 500 whose
// details go to the log, not to the client.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = &apiError{status: http.StatusInternalServerError, msg: "internal error"}
		}
		writeJSON(w, ae.status, trackerapi.ErrorBody{Error: ae.msg, Nonce: ae.nonce})
	})
}

// recoverer answers 500 instead of dropping the connection if a handler
// panics; no input should make one, this is the last resort.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeJSON(w, http.StatusInternalServerError, trackerapi.ErrorBody{Error: "internal error"})
		}()
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only for values no handler builds
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// bodyPiece is how much of a body is taken from the budget and read at a
// time: memory follows the bytes that arrived, never a Content-Length
// claim.
const bodyPiece = 64 << 10

// errBusy answers a request the tracker has no memory for right now.
var errBusy = errorf(http.StatusServiceUnavailable, "tracker busy: too many request bodies in flight, retry shortly")

// readBody checks the media type and reads at most limit bytes of body,
// piece by piece, each piece taken from the tracker's body budget first.
// The caller gives len(body) back to s.budget when done with it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, mediaType string, limit int) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != mediaType {
		return nil, errorf(http.StatusUnsupportedMediaType, "Content-Type must be %s", mediaType)
	}
	if r.ContentLength > int64(limit) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body of %d bytes is over the %d-byte limit", r.ContentLength, limit)
	}
	rd := http.MaxBytesReader(w, r.Body, int64(limit))
	var body []byte
	for {
		n := bodyPiece
		if r.ContentLength >= 0 { // known: read that much, no more
			if n = min(n, int(r.ContentLength)-len(body)); n == 0 {
				return body, nil
			}
		}
		if !s.budget.take(int64(n)) {
			s.budget.give(int64(len(body)))
			// The rest of the body is not read: close rather than wait
			// for it to keep the connection.
			w.Header().Set("Connection", "close")
			return nil, errBusy
		}
		body = slices.Grow(body, n)
		got, err := io.ReadFull(rd, body[len(body):len(body)+n])
		body = body[:len(body)+got]
		s.budget.give(int64(n - got))
		var tooBig *http.MaxBytesError
		switch {
		case err == nil:
			continue
		case (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && r.ContentLength < 0:
			return body, nil
		case errors.As(err, &tooBig):
			err = errorf(http.StatusRequestEntityTooLarge, "body is over the %d-byte limit", limit)
		default:
			err = errorf(http.StatusBadRequest, "read body: %v", err)
		}
		s.budget.give(int64(len(body)))
		return nil, err
	}
}

// authorized reports whether r carries the publish token, if one is set.
// Hashing first makes the comparison constant-time in the token's length
// too.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.Token))
	return ok && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// publish stores a manifest. The content ID is computed from the body,
// and the manifest is durable before the answer (see store.go).
func (s *Server) publish(w http.ResponseWriter, r *http.Request) error {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="peerflow tracker"`)
		return errorf(http.StatusUnauthorized, "publishing needs the tracker's token (Authorization: Bearer <token>)")
	}
	body, err := s.readBody(w, r, "application/octet-stream", trackerapi.MaxManifestBody)
	if err != nil {
		return err
	}
	defer s.budget.give(int64(len(body)))
	m, err := content.Decode(body)
	if err != nil {
		return errorf(http.StatusBadRequest, "manifest: %v", err)
	}
	key, err := accessKey(r)
	if err != nil {
		return err
	}
	access := accessHash(key)
	// Decode accepts only the canonical encoding, so the body's hash is
	// the content ID.
	id := content.ID(sha256.Sum256(body))
	created, err := s.addManifest(id, m, body, access)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("manifest published", "id", id, "name", m.Name, "size", m.Size)
	}
	writeJSON(w, status, trackerapi.PublishResponse{ID: id, Created: created})
	return nil
}

// addManifest stores a published manifest unless it is known already,
// and reports whether it was new. Publishes are serialized, so that two
// of one content with different access cannot both pass the check.
func (s *Server) addManifest(id content.ID, m *content.Manifest, body []byte, access *[32]byte) (created bool, err error) {
	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	known, err := s.state.published(id, access)
	if err != nil {
		return false, errorf(http.StatusConflict, "content %s: %v", id, err)
	}
	if known {
		return false, nil
	}
	created, err = s.store.putManifest(id, body, access)
	switch {
	case errors.Is(err, errAccessConflict):
		return false, errorf(http.StatusConflict, "content %s: %v", id, errAccessConflict)
	case err != nil: // a store that does not answer, or a full disk
		return false, errorf(http.StatusServiceUnavailable, "the tracker could not store the manifest; try again later: %v", err)
	}
	s.state.addSwarm(id, m, access)
	return created, nil
}

// accessKey returns the tracker key r carries (AccessHeader), or nil.
func accessKey(r *http.Request) ([]byte, error) {
	v := r.Header.Get(trackerapi.AccessHeader)
	if v == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(key) != sha256.Size {
		return nil, errorf(http.StatusBadRequest, "%s: want the base64 of %d bytes", trackerapi.AccessHeader, sha256.Size)
	}
	return key, nil
}

func (s *Server) getManifest(w http.ResponseWriter, r *http.Request) error {
	id, err := content.ParseID(r.PathValue("id"))
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	key, err := accessKey(r)
	if err != nil {
		return err
	}
	if !s.state.visible(id, key) {
		return errorf(http.StatusNotFound, "no manifest for content %s", id)
	}
	body, err := s.store.manifest(id)
	if err != nil {
		return err
	}
	if body == nil { // known in memory but not on disk: cannot happen
		return fmt.Errorf("manifest %s is missing from the database", id)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
	return nil
}

// announce validates the whole announce before applying any of it, so a
// bad announce changes nothing.
func (s *Server) announce(w http.ResponseWriter, r *http.Request) error {
	now := s.cfg.Now()
	src := sourceOf(r, s.cfg.TrustForwarded)
	if err := s.storeDown(w); err != nil {
		w.Header().Set("Connection", "close") // the body is not read
		return err
	}
	if !s.announces.allow(src, now) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close") // the body is not read
		return errorf(http.StatusTooManyRequests, "too many announces from %s: at most %g a second", src, s.cfg.AnnounceRate)
	}
	body, err := s.readBody(w, r, "application/json", trackerapi.MaxAnnounceBody)
	if err != nil {
		return err
	}
	defer s.budget.give(int64(len(body)))
	req, err := parseAnnounce(body)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v: %v", errBadAnnounce, err)
	}
	issued, err := s.authenticate(r, body, &req, now)
	if err != nil {
		return err
	}
	a, err := validateAnnounce(req, src, s.state.chunks)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	needFull, err := s.state.apply(a, now, issued)
	switch {
	case errors.Is(err, errNonceUsed):
		return s.nonceError(a.peer, now)
	case errors.Is(err, errTooManyPeers):
		return errorf(http.StatusTooManyRequests, "%v", err)
	case err != nil:
		return errorf(http.StatusBadRequest, "%v", err)
	}
	resp := trackerapi.AnnounceResponse{
		IntervalSeconds: int(s.cfg.Interval / time.Second),
		Nonce:           s.nonces.issue(a.peer, now),
		LeaseSeconds:    int(s.cfg.Lease / time.Second),
		Unknown:         a.unknown,
		NeedFull:        needFull,
		TrackerID:       s.ID(),
	}
	// Only now, with the nonce taken, may a signed announce open a
	// session: a replayed one was refused above.
	if req.SessionKey != nil && r.Header.Get(trackerapi.SessionHeader) == "" {
		if resp.SessionKey, err = s.sessions.open(a.peer, req.SessionKey, now); err != nil {
			s.log.Debug("announce session not opened", "peer", a.peer.Short(), "err", err)
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) contents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	query := q.Get("q")
	if len(query) > content.MaxNameLen {
		return errorf(http.StatusBadRequest, "q is longer than %d bytes", content.MaxNameLen)
	}
	offset, err := intParam(q.Get("offset"), 0, 0, maxInt)
	if err != nil {
		return errorf(http.StatusBadRequest, "offset: %v", err)
	}
	limit, err := intParam(q.Get("limit"), trackerapi.DefaultListLimit, 1, trackerapi.MaxListLimit)
	if err != nil {
		return errorf(http.StatusBadRequest, "limit: %v", err)
	}
	writeJSON(w, http.StatusOK, s.state.list(query, offset, limit, s.cfg.Now()))
	return nil
}

func (s *Server) holders(w http.ResponseWriter, r *http.Request) error {
	id, err := content.ParseID(r.PathValue("id"))
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"), trackerapi.DefaultHoldersLimit, 1, trackerapi.MaxHoldersPerCall)
	if err != nil {
		return errorf(http.StatusBadRequest, "limit: %v", err)
	}
	var exclude peer.ID
	if v := q.Get("exclude"); v != "" {
		if exclude, err = peer.ParseID(v); err != nil {
			return errorf(http.StatusBadRequest, "exclude: %v", err)
		}
	}
	key, err := accessKey(r)
	if err != nil {
		return err
	}
	list, ok := s.state.holders(id, key, exclude, limit, s.cfg.Now())
	if !ok {
		return errorf(http.StatusNotFound, "no manifest for content %s", id)
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// health answers 200 while the store answers, 503 when it did not the
// last time the janitor asked (within a FlushInterval).
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	h := trackerapi.Health{
		OK: true, Version: s.cfg.Version, Protocol: trackerapi.ProtocolVersion, TrackerID: s.ID(), Store: s.storeKind(),
	}
	status := http.StatusOK
	if err := s.StoreErr(); err != nil {
		h.OK, h.StoreError, status = false, err.Error(), http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
	return nil
}

// storeKind is the kind of store, as /v1/health names it: "bbolt" or
// "etcd" (never its path or endpoints).
func (s *Server) storeKind() string {
	if _, ok := s.store.(*etcdStore); ok {
		return "etcd"
	}
	return "bbolt"
}

// storeRetry is the Retry-After of a 503 for an unreachable store.
const storeRetry = "5"

// storeDown is the 503 of a request that needs the store while it does
// not answer.
func (s *Server) storeDown(w http.ResponseWriter) error {
	err := s.StoreErr()
	if err == nil {
		return nil
	}
	w.Header().Set("Retry-After", storeRetry)
	return errorf(http.StatusServiceUnavailable, "the tracker's store (%s) does not answer; try again later: %v", s.storeKind(), err)
}

// maxInt bounds parameters that have no smaller natural bound.
const maxInt = 1<<31 - 1

// intParam parses a decimal query parameter in [lo, hi]; empty means def.
func intParam(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%.20q is not a whole number from %d to %d", v, lo, hi)
	}
	return n, nil
}
