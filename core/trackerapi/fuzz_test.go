package trackerapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"unicode"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// answer is a tracker that answers every request with one status and
// body, whatever was asked.
type answer struct {
	status int
	body   []byte
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: req}, nil
}

// FuzzTrackerAnswers gives the client arbitrary answers to each of its
// calls. None may panic; what it accepts must be what it promises (holder
// bitfields sized to the manifest, the manifest the ID names), and error
// text from the tracker must be fit to print.
func FuzzTrackerAnswers(f *testing.F) {
	m := testManifest("m", 70, 1)
	id := m.ID()
	p := testPeer(1).String()
	f.Add(uint8(0), 200, []byte(`{"interval":30,"lease":90,"nonce":"abc","tracker_id":"t1","session_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add(uint8(0), 401, []byte(`{"error":"sign again\u001b[2J","nonce":"n2"}`))
	f.Add(uint8(1), 200, []byte(`{"total":1,"contents":[{"id":"`+id.String()+`","name":"m","size":1,"chunks":1}]}`))
	f.Add(uint8(2), 200, m.Encode())
	f.Add(uint8(2), 200, testManifest("other", 3, 2).Encode())
	f.Add(uint8(3), 200, []byte(`{"holders":[{"peer_id":"`+p+`","addr":"10.0.0.1:7000","have":"/////////w=="},{"peer_id":"`+p+`","addr":"10.0.0.2:7000","complete":true}]}`))
	f.Add(uint8(3), 200, []byte(`{"holders":[{"peer_id":"`+p+`","addr":"10.0.0.1","have":"AA=="}]}`))
	f.Add(uint8(4), 503, []byte(`{"version":"1","tracker_id":"t","store":"etcd","store_error":"down"}`))
	f.Add(uint8(4), 200, bytes.Repeat([]byte("x"), trackerapi.MaxResponseBody+1))
	key := testKey(1)

	f.Fuzz(func(t *testing.T, op uint8, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		c, err := trackerapi.NewClient("127.0.0.1:7070", trackerapi.ClientOptions{Retries: -1,
			HTTPClient: &http.Client{Transport: answer{status, body}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		switch op % 5 {
		case 0:
			_, err = c.Announce(ctx, key, trackerapi.AnnounceRequest{Addr: ":7000", Full: true,
				Contents: []trackerapi.ContentState{{ID: id, Complete: true}}})
		case 1:
			_, err = c.Contents(ctx, "m", 0, 10)
		case 2:
			var got *content.Manifest
			if got, err = c.Manifest(ctx, id); err == nil && got.ID() != id {
				t.Fatalf("accepted the manifest of %s for %s", got.ID().Short(), id.Short())
			}
		case 3:
			var hs []trackerapi.Holder
			hs, err = c.Holders(ctx, m, peer.ID{})
			if len(hs) > trackerapi.MaxHoldersPerCall {
				t.Fatalf("%d holders accepted", len(hs))
			}
			for _, h := range hs {
				if h.Peer.IsZero() || content.ValidateAddr(h.Addr) != nil || h.Have.Len() != m.NumChunks() {
					t.Fatalf("accepted holder %+v (%d chunks)", h, h.Have.Len())
				}
			}
		case 4:
			_, err = c.Health(ctx)
		}
		if err == nil && status >= 400 {
			t.Fatalf("answer %d accepted", status)
		}
		if err != nil {
			for _, r := range err.Error() {
				if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
					t.Fatalf("error text has %U: %s", r, strconv.Quote(err.Error()))
				}
			}
		}
	})
}
