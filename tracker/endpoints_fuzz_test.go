package tracker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

// FuzzEndpoints sends the tracker's handler arbitrary requests: any
// method, path and query, content type, credentials and body. No input
// may make an internal error (a 500 is what the recoverer answers a
// panic with), every refusal is a JSON ErrorBody, and a private swarm's
// manifest and holders are shown only with its key.
func FuzzEndpoints(f *testing.F) {
	tt := startTracker(f, Config{Now: newFakeClock().Now, Token: "s3cret"})
	open := testManifest("open", 10, 1)
	tt.publish(f, open)
	private := testManifest("private", 4, 2)
	key := bytes.Repeat([]byte{7}, 32)
	keyText := base64.StdEncoding.EncodeToString(key)
	member, err := trackerapi.NewClient(tt.addr, trackerapi.ClientOptions{Token: "s3cret", Retries: -1,
		Access: func(content.ID) *[32]byte { return (*[32]byte)(key) }})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := member.Publish(f.Context(), private); err != nil {
		f.Fatal(err)
	}
	member.CloseIdleConnections()
	h := tt.Handler()

	methods := []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, "BREW"}
	seed := func(method byte, path, ctype, auth, access string, body []byte) {
		f.Add(method, path, ctype, auth, access, body)
	}
	seed(1, "/v1/manifests", "application/octet-stream", "Bearer s3cret", "", testManifest("new", 3, 3).Encode())
	seed(1, "/v1/manifests", "application/octet-stream", "Bearer s3cret", keyText, private.Encode())
	seed(0, "/v1/manifests/"+open.ID().String(), "", "", "", nil)
	seed(0, "/v1/manifests/"+private.ID().String(), "", "", keyText, nil)
	seed(0, "/v1/contents?q=op&offset=0&limit=5", "", "", "", nil)
	seed(0, "/v1/contents/"+open.ID().String()+"/holders?exclude="+testPeer(1).String(), "", "", "", nil)
	seed(0, "/v1/contents/"+private.ID().String()+"/holders", "", "", "AAAA", nil)
	seed(1, "/v1/announce", "application/json", "", "", []byte(`{"peer_id":"`+testPeer(1).String()+`","addr":":7000","full":true}`))
	seed(2, "/v1/health", "", "", "", nil)
	seed(5, "/v1/../v1/health", "text/plain; charset=\x00", "Bearer", "====", []byte{0xff})

	f.Fuzz(func(t *testing.T, method byte, path, ctype, auth, access string, body []byte) {
		req, err := http.NewRequest(methods[int(method)%len(methods)], "http://tracker"+path, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(path, "/") {
			return // not a request a server would read
		}
		req.RemoteAddr = "127.0.0.1:40000"
		for name, v := range map[string]string{"Content-Type": ctype, "Authorization": auth, trackerapi.AccessHeader: access} {
			if v != "" {
				req.Header.Set(name, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("%s %q: internal error: %s", req.Method, path, rec.Body)
		}
		if rec.Code >= 400 && req.Method != http.MethodHead {
			var eb trackerapi.ErrorBody
			if rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error == "" {
				t.Fatalf("%s %q: %d without an ErrorBody: %q", req.Method, path, rec.Code, rec.Body)
			}
		}
		shown := strings.Contains(req.URL.Path, private.ID().String()) || strings.Contains(rec.Body.String(), private.ID().String())
		given, _ := base64.StdEncoding.DecodeString(req.Header.Get(trackerapi.AccessHeader))
		if rec.Code < 300 && shown && !bytes.Equal(given, key) {
			t.Fatalf("%s %q: private swarm shown without its key (%d)", req.Method, path, rec.Code)
		}
	})
}
