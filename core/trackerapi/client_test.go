package trackerapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

func TestClientRoundTrip(t *testing.T) {
	lt := serveTracker(t, "", "", nil)
	c, err := trackerapi.NewClient(lt.addr, trackerapi.ClientOptions{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	m := testManifest("film.mkv", 12, 1)

	if resp, err := c.Publish(ctx, m); err != nil || !resp.Created || resp.ID != m.ID() {
		t.Fatalf("publish: %+v, %v", resp, err)
	}
	for n, cs := range []trackerapi.ContentState{{ID: m.ID(), Have: haveOf(12, 2, 11)}, {ID: m.ID(), Complete: true}} {
		resp, err := c.Announce(ctx, testKey(byte(n)), trackerapi.AnnounceRequest{Addr: fmt.Sprintf(":%d", 7000+n), Full: true, Contents: []trackerapi.ContentState{cs}})
		if err != nil || resp.IntervalSeconds != trackerapi.DefaultIntervalSeconds {
			t.Fatalf("announce: %+v, %v", resp, err)
		}
	}
	list, err := c.Contents(ctx, "FILM", 0, 0)
	if err != nil || list.Total != 1 || list.Contents[0].Holders != 2 || list.Contents[0].Seeders != 1 {
		t.Fatalf("contents: %+v, %v", list, err)
	}
	got, err := c.Manifest(ctx, m.ID())
	if err != nil || got.ID() != m.ID() {
		t.Fatalf("manifest: %v", err)
	}
	hs, err := c.Holders(ctx, m, testPeer(0))
	if err != nil || len(hs) != 1 || hs[0].Peer != testPeer(1) || hs[0].Addr != "127.0.0.1:7001" || hs[0].Have.Count() != 12 {
		t.Fatalf("holders excluding peer 0: %+v, %v", hs, err)
	}
	hs, err = c.Holders(ctx, m, testPeer(1))
	if err != nil || len(hs) != 1 || !hs[0].Have.Has(2) || !hs[0].Have.Has(11) || hs[0].Have.Count() != 2 {
		t.Fatalf("holders excluding peer 1: %+v, %v", hs, err)
	}
	h, err := c.Health(ctx)
	if err != nil || !h.OK || h.Version != core.Version || h.TrackerID != lt.ID() {
		t.Fatalf("health: %+v, %v", h, err)
	}
	if _, err := c.Manifest(ctx, testManifest("other", 1, 2).ID()); !trackerapi.IsNotFound(err) {
		t.Fatalf("unknown manifest: %v", err)
	}
}

// TestClientRetries puts a flaky front in front of a real tracker.
func TestClientRetries(t *testing.T) {
	lt := serveTracker(t, "", "", nil)
	tests := []struct {
		name     string
		failures []int // statuses of the first answers
		retries  int
		wantErr  string
		attempts int
	}{
		{"two 5xx then success", []int{500, 503}, 2, "", 3},
		{"429 then success", []int{429}, 2, "", 2},
		{"5xx beyond retries", []int{500, 500, 500}, 2, "check health of 127.0.0.1:", 3},
		{"no retries", []int{502}, -1, "502 Bad Gateway", 1},
		{"4xx is final", []int{400}, 2, "400 Bad Request", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if i := int(n.Add(1)) - 1; i < len(tc.failures) {
					http.Error(w, `{"error":"flaky"}`, tc.failures[i])
					return
				}
				lt.Handler().ServeHTTP(w, r)
			}))
			defer flaky.Close()
			c, err := trackerapi.NewClient(strings.TrimPrefix(flaky.URL, "http://"), trackerapi.ClientOptions{Retries: tc.retries, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseIdleConnections()
			h, err := c.Health(context.Background())
			if tc.wantErr == "" && (err != nil || h.TrackerID != lt.ID()) {
				t.Fatalf("health: %+v, %v", h, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if int(n.Load()) != tc.attempts {
				t.Fatalf("%d attempts, want %d", n.Load(), tc.attempts)
			}
		})
	}
}

// TestClientDeadTracker checks that a tracker that refuses or never
// answers costs bounded time and a clear error.
func TestClientDeadTracker(t *testing.T) {
	opts := trackerapi.ClientOptions{Timeout: 100 * time.Millisecond, Retries: 2, Backoff: time.Millisecond}
	for _, tc := range []struct {
		name, addr string
	}{
		{"refused", deadAddr(t)},
		{"silent", hangingAddr(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := trackerapi.NewClient(tc.addr, opts)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Announce(context.Background(), testKey(1), trackerapi.AnnounceRequest{Addr: ":1"})
			if err == nil || !strings.HasPrefix(err.Error(), "announce to "+tc.addr+": ") {
				t.Fatalf("error %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	// The caller's context ends retries at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, _ := trackerapi.NewClient(deadAddr(t), trackerapi.ClientOptions{Retries: 100})
	if _, err := c.Health(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestClientRefusesBadAnswers serves answers a correct tracker never
// gives.
func TestClientRefusesBadAnswers(t *testing.T) {
	m, other := testManifest("m", 10, 1), testManifest("other", 10, 2)
	serve := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.Write(body) }
	}
	getManifest := func(c *trackerapi.Client) error { _, err := c.Manifest(context.Background(), m.ID()); return err }
	getHolders := func(c *trackerapi.Client) error {
		_, err := c.Holders(context.Background(), m, testPeer(9))
		return err
	}
	getHealth := func(c *trackerapi.Client) error { _, err := c.Health(context.Background()); return err }
	holder := func(fields string) string { return `{"peer_id":"` + testPeer(1).String() + `",` + fields + `}` }
	tooMany := strings.Repeat(holder(`"addr":"1.2.3.4:5","complete":true`)+",", trackerapi.MaxHoldersPerCall+1)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func(*trackerapi.Client) error
		want    string
	}{
		{"another manifest", serve(other.Encode()), getManifest, "manifest of another content"},
		{"garbage manifest", serve([]byte("nope")), getManifest, "malformed manifest"},
		{"oversized manifest", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(w, io.LimitReader(zeros{}, int64(trackerapi.MaxManifestBody)+1))
		}, getManifest, "over the"},
		{"not JSON", serve([]byte("<html>")), getHealth, "decode answer"},
		{"short bitfield", serve([]byte(`{"holders":[` + holder(`"addr":"1.2.3.4:5","have":"AA=="`) + `]}`)), getHolders, "bitset"},
		{"bad holder address", serve([]byte(`{"holders":[` + holder(`"addr":"nowhere","complete":true`) + `]}`)), getHolders, "host:port"},
		{"no peer ID", serve([]byte(`{"holders":[{"addr":"1.2.3.4:5","complete":true}]}`)), getHolders, "no peer ID"},
		{"too many holders", serve([]byte(`{"holders":[` + strings.TrimSuffix(tooMany, ",") + `]}`)), getHolders, "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c, err := trackerapi.NewClient(strings.TrimPrefix(srv.URL, "http://"), trackerapi.ClientOptions{Retries: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseIdleConnections()
			if err := tc.call(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestNewClientRefusesBadAddress(t *testing.T) {
	for _, addr := range []string{"", "host", ":7070", "h:0", "a b:1", "http://h:1"} {
		if _, err := trackerapi.NewClient(addr, trackerapi.ClientOptions{}); !errors.Is(err, content.ErrBadAddr) {
			t.Errorf("NewClient(%q): %v", addr, err)
		}
	}
}

// TestTrackerTextIsCleaned: a tracker's error text reaches the user
// without terminal escapes, bidi overrides or unbounded length.
func TestTrackerTextIsCleaned(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"\u001b[2J\u001b[31mred\u001b[0m \u202eevil\r\n%s"}`, strings.Repeat("x", 2000))
	})}
	go hs.Serve(l)
	defer hs.Close()
	c, _ := trackerapi.NewClient(l.Addr().String(), trackerapi.ClientOptions{Retries: -1})
	defer c.CloseIdleConnections()
	_, err = c.Contents(context.Background(), "", 0, 0)
	var se *trackerapi.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%v", err)
	}
	if strings.ContainsAny(se.Message, "\x1b\r\n\u202e") || !strings.HasPrefix(se.Message, "[2J[31mred[0m evil") || len(se.Message) > 510 {
		t.Fatalf("message %q", se.Message)
	}
}
