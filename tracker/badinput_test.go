package tracker

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// TestBadInput sends every endpoint malformed requests over real HTTP and
// checks the status code and that the answer is a JSON ErrorBody.
func TestBadInput(t *testing.T) {
	tt := startTracker(t, Config{Now: newFakeClock().Now, Token: "s3cret"})
	m := testManifest("m", 10, 1)
	tt.publish(t, m)
	id := m.ID().String()
	unknownID := testManifest("x", 1, 9).ID().String()
	p := testPeer(1).String()

	announce := func(fields string) string {
		return `{"peer_id":"` + p + `","addr":"10.0.0.1:7000"` + fields + `}`
	}
	state := func(fields string) string {
		return announce(`,"contents":[{"id":"` + id + `"` + fields + `}]`)
	}
	many := make([]string, trackerapi.MaxContentsPerPeer+1)
	for i := range many {
		many[i] = `{"id":"` + testManifest("x", 1, uint64(i)).ID().String() + `","complete":true}`
	}
	b64 := func(b []byte) string { s, _ := json.Marshal(b); return string(s) }

	tests := []struct {
		name, method, path, ctype, auth, body string
		want                                  int
	}{
		// publish
		{"publish no token", "POST", "/v1/manifests", "application/octet-stream", "", string(m.Encode()), 401},
		{"publish wrong token", "POST", "/v1/manifests", "application/octet-stream", "Bearer nope", string(m.Encode()), 401},
		{"publish token without Bearer", "POST", "/v1/manifests", "application/octet-stream", "s3cret", string(m.Encode()), 401},
		{"publish wrong type", "POST", "/v1/manifests", "application/json", "Bearer s3cret", string(m.Encode()), 415},
		{"publish garbage", "POST", "/v1/manifests", "application/octet-stream", "Bearer s3cret", "not a manifest", 400},
		{"publish empty", "POST", "/v1/manifests", "application/octet-stream", "Bearer s3cret", "", 400},
		{"publish truncated", "POST", "/v1/manifests", "application/octet-stream", "Bearer s3cret", string(m.Encode()[:40]), 400},
		{"publish GET", "GET", "/v1/manifests", "", "", "", 405},
		// get manifest
		{"manifest bad id", "GET", "/v1/manifests/xyz", "", "", "", 400},
		{"manifest unknown", "GET", "/v1/manifests/" + unknownID, "", "", "", 404},
		{"manifest POST", "POST", "/v1/manifests/" + id, "application/octet-stream", "", "", 405},
		// announce
		{"announce wrong type", "POST", "/v1/announce", "text/plain", "", announce(""), 415},
		{"announce no type", "POST", "/v1/announce", "", "", announce(""), 415},
		{"announce malformed", "POST", "/v1/announce", "application/json", "", `{"peer_id":`, 400},
		{"announce not an object", "POST", "/v1/announce", "application/json", "", `[1,2]`, 400},
		{"announce trailing data", "POST", "/v1/announce", "application/json", "", announce("") + "x", 400},
		{"announce empty", "POST", "/v1/announce", "application/json", "", "", 400},
		{"no peer", "POST", "/v1/announce", "application/json", "", `{"addr":"10.0.0.1:7000"}`, 400},
		{"bad peer", "POST", "/v1/announce", "application/json", "", `{"peer_id":"abc","addr":"10.0.0.1:7000"}`, 400},
		{"zero peer", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + peer.ID{}.String() + `","addr":"10.0.0.1:7000"}`, 400},
		{"no addr", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `"}`, 400},
		{"addr without port", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `","addr":"10.0.0.1"}`, 400},
		{"addr port 0", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `","addr":"10.0.0.1:0"}`, 400},
		{"addr port 70000", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `","addr":":70000"}`, 400},
		{"addr port not a number", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `","addr":"a:b"}`, 400},
		{"addr port zero", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `","addr":":0"}`, 400},
		{"addr port too big", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `","addr":":65536"}`, 400},
		{"addr too long", "POST", "/v1/announce", "application/json", "", `{"peer_id":"` + p + `","addr":"` + strings.Repeat("a", 300) + `:1"}`, 400},
		{"too many contents", "POST", "/v1/announce", "application/json", "", announce(`,"contents":[` + strings.Join(many, ",") + `]`), 400},
		{"content twice", "POST", "/v1/announce", "application/json", "", announce(`,"contents":[{"id":"` + id + `","complete":true},{"id":"` + id + `","complete":true}]`), 400},
		{"held and stopped", "POST", "/v1/announce", "application/json", "", announce(`,"contents":[{"id":"` + id + `","complete":true}],"stopped":["` + id + `"]`), 400},
		{"stopped twice", "POST", "/v1/announce", "application/json", "", announce(`,"stopped":["` + id + `","` + id + `"]`), 400},
		{"bad content id", "POST", "/v1/announce", "application/json", "", announce(`,"contents":[{"id":"nope","complete":true}]`), 400},
		{"missing content id", "POST", "/v1/announce", "application/json", "", announce(`,"contents":[{"complete":true}]`), 400},
		{"have too short", "POST", "/v1/announce", "application/json", "", state(`,"have":` + b64([]byte{0xff})), 400},
		{"have too long", "POST", "/v1/announce", "application/json", "", state(`,"have":` + b64([]byte{0xff, 0xc0, 0})), 400},
		{"have padding set", "POST", "/v1/announce", "application/json", "", state(`,"have":` + b64([]byte{0xff, 0xe0})), 400},
		{"have not base64", "POST", "/v1/announce", "application/json", "", state(`,"have":"!!"`), 400},
		{"no have, not complete", "POST", "/v1/announce", "application/json", "", state(``), 400},
		{"have and complete", "POST", "/v1/announce", "application/json", "", state(`,"complete":true,"have":` + b64([]byte{0xff, 0xc0})), 400},
		{"negative uploaded", "POST", "/v1/announce", "application/json", "", state(`,"complete":true,"uploaded":-1`), 400},
		{"negative downloaded", "POST", "/v1/announce", "application/json", "", state(`,"complete":true,"downloaded":-1`), 400},
		{"announce GET", "GET", "/v1/announce", "", "", "", 405},
		// list
		{"offset negative", "GET", "/v1/contents?offset=-1", "", "", "", 400},
		{"offset word", "GET", "/v1/contents?offset=x", "", "", "", 400},
		{"offset huge", "GET", "/v1/contents?offset=99999999999999999999", "", "", "", 400},
		{"limit zero", "GET", "/v1/contents?limit=0", "", "", "", 400},
		{"limit too big", "GET", fmt.Sprintf("/v1/contents?limit=%d", trackerapi.MaxListLimit+1), "", "", "", 400},
		{"query too long", "GET", "/v1/contents?q=" + strings.Repeat("a", content.MaxNameLen+1), "", "", "", 400},
		{"list POST", "POST", "/v1/contents", "application/json", "", "{}", 405},
		// holders
		{"holders bad id", "GET", "/v1/contents/abc/holders", "", "", "", 400},
		{"holders unknown", "GET", "/v1/contents/" + unknownID + "/holders", "", "", "", 404},
		{"holders limit zero", "GET", "/v1/contents/" + id + "/holders?limit=0", "", "", "", 400},
		{"holders limit too big", "GET", fmt.Sprintf("/v1/contents/%s/holders?limit=%d", id, trackerapi.MaxHoldersPerCall+1), "", "", "", 400},
		{"holders bad exclude", "GET", "/v1/contents/" + id + "/holders?exclude=me", "", "", "", 400},
		{"holders DELETE", "DELETE", "/v1/contents/" + id + "/holders", "", "", "", 405},
		// health and the rest
		{"health POST", "POST", "/v1/health", "application/json", "", "{}", 405},
		{"unknown path", "GET", "/v2/health", "", "", "", 404},
		{"root", "GET", "/", "", "", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tt.url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if body, ok := strings.CutPrefix(tc.body, `{"peer_id":"`+p+`"`); ok && tc.path == trackerapi.PathAnnounce {
				// Signed, with a fresh nonce: what is refused is the
				// content, not the authentication.
				body = `{"peer_id":"` + p + `","key":"` + base64.StdEncoding.EncodeToString(testKey(1).Public().(ed25519.PublicKey)) +
					`","nonce":"` + tt.nonces.issue(testPeer(1), tt.Server.cfg.Now()) + `"` + body
				sig := ed25519.Sign(testKey(1), trackerapi.SignedAnnounce([]byte(body)))
				req.Body = io.NopCloser(strings.NewReader(body))
				req.ContentLength = int64(len(body))
				req.Header.Set(trackerapi.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkErrorAnswer(t, resp.StatusCode, resp.Header, resp.Body, tc.want)
			if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
	// None of the refused announces left anything behind.
	if l := tt.list(t, ""); l.Contents[0].Holders != 0 {
		t.Fatalf("a refused announce was applied: %+v", l.Contents[0])
	}
}

// TestBodyLimits sends bodies over the limits through the handler (a
// real connection would be cut while the client still writes).
func TestBodyLimits(t *testing.T) {
	tt := startTracker(t, Config{Now: newFakeClock().Now})
	tests := []struct {
		name, path, ctype string
		limit             int
		declared          bool // Content-Length says so up front
	}{
		{"announce streamed", trackerapi.PathAnnounce, "application/json", trackerapi.MaxAnnounceBody, false},
		{"announce declared", trackerapi.PathAnnounce, "application/json", trackerapi.MaxAnnounceBody, true},
		{"manifest streamed", trackerapi.PathManifests, "application/octet-stream", trackerapi.MaxManifestBody, false},
		{"manifest declared", trackerapi.PathManifests, "application/octet-stream", trackerapi.MaxManifestBody, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := io.LimitReader(zeros{}, int64(tc.limit)+1)
			req := httptest.NewRequest(http.MethodPost, tc.path, body)
			req.ContentLength = -1
			if tc.declared {
				req = httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader("{}"))
				req.ContentLength = int64(tc.limit) + 1
			}
			req.Header.Set("Content-Type", tc.ctype)
			rec := httptest.NewRecorder()
			tt.Handler().ServeHTTP(rec, req)
			checkErrorAnswer(t, rec.Code, rec.Header(), rec.Body, http.StatusRequestEntityTooLarge)
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// checkErrorAnswer checks an error answer: the status and a JSON
// ErrorBody that says something.
func checkErrorAnswer(t *testing.T, code int, h http.Header, body io.Reader, want int) {
	t.Helper()
	raw, _ := io.ReadAll(body)
	if code != want {
		t.Fatalf("status %d, want %d; body %s", code, want, raw)
	}
	var eb trackerapi.ErrorBody
	if h.Get("Content-Type") != "application/json" || json.NewDecoder(bytes.NewReader(raw)).Decode(&eb) != nil || eb.Error == "" {
		t.Fatalf("not a JSON ErrorBody: %q (%s)", raw, h.Get("Content-Type"))
	}
}
