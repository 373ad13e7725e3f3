package trackerapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/discover"
	"peerflow/core/trackerapi"
)

// announceLog records the announces a tracker takes (answers 200): a
// first announce that is answered 401 with a nonce and sent again counts
// once.
type announceLog struct {
	mu   sync.Mutex
	reqs []trackerapi.AnnounceRequest
}

func (l *announceLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == trackerapi.PathAnnounce {
			body, _ := io.ReadAll(r.Body)
			var req trackerapi.AnnounceRequest
			json.Unmarshal(body, &req)
			r.Body = io.NopCloser(bytes.NewReader(body))
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			if sw.status == http.StatusOK {
				l.mu.Lock()
				l.reqs = append(l.reqs, req)
				l.mu.Unlock()
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter notes the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// take returns the announces since the last call, summed up as
// "full:N" or "inc:N-S" (N contents, S stopped).
func (l *announceLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		s := "inc:"
		if r.Full {
			s = "full:"
		}
		s += string(rune('0' + len(r.Contents)))
		if !r.Full {
			s += "-" + string(rune('0'+len(r.Stopped)))
		}
		out = append(out, s)
	}
	l.reqs = nil
	return out
}

func TestPoolAnnounceFullThenIncremental(t *testing.T) {
	var log1, log2 announceLog
	t1 := serveTracker(t, "", "", log1.wrap)
	t2 := serveTracker(t, "", "", log2.wrap)
	clock := newTestClock()
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1), Token: "tok", Now: clock.Now})
	defer pool.CloseIdleConnections()
	for _, lt := range []*liveTracker{t1, t2} {
		if err := pool.Add(lt.addr, trackerapi.SourceManual); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	a, b := testManifest("a", 8, 1), testManifest("b", 8, 2)
	for _, m := range []*content.Manifest{a, b} {
		if err := pool.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	state := []trackerapi.ContentState{{ID: a.ID(), Have: haveOf(8, 1)}, {ID: b.ID(), Complete: true}}
	announce := func(step string, want1, want2 []string) {
		t.Helper()
		res, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000", Contents: state})
		if err != nil || res.Accepted != 2 || !res.Next.Equal(clock.Now().Add(trackerapi.DefaultIntervalSeconds*time.Second)) {
			t.Fatalf("%s: %+v, %v", step, res, err)
		}
		if got1, got2 := log1.take(), log2.take(); !slices.Equal(got1, want1) || !slices.Equal(got2, want2) {
			t.Fatalf("%s: tracker 1 got %v (want %v), tracker 2 got %v (want %v)", step, got1, want1, got2, want2)
		}
	}
	announce("first", []string{"full:2"}, []string{"full:2"})
	// Nothing changed and no heartbeat is due: no tracker is asked.
	if res, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000", Contents: state}); err != nil || res.Skipped != 2 || res.Accepted != 0 {
		t.Fatalf("nothing new: %+v, %v", res, err)
	}
	if got := log1.take(); len(got) != 0 {
		t.Fatalf("nothing new, yet tracker 1 got %v", got)
	}
	clock.Advance(trackerapi.DefaultIntervalSeconds * time.Second)
	announce("heartbeat", []string{"inc:0-0"}, []string{"inc:0-0"})
	state[0].Have = haveOf(8, 1, 2)
	announce("one chunk more", []string{"inc:1-0"}, []string{"inc:1-0"})
	state = state[1:]
	announce("a dropped", []string{"inc:0-1"}, []string{"inc:0-1"})
	for _, st := range pool.Trackers() {
		if !st.Synced || st.LastError != "" || st.LastSuccess.IsZero() || st.Sources != trackerapi.SourceManual {
			t.Fatalf("status %+v", st)
		}
	}

	// Tracker 2 restarts on its address: it asks for a full announce, and
	// gets it in the same call.
	t2.stop()
	t2 = serveTracker(t, t2.db, t2.addr, log2.wrap)
	clock.Advance(trackerapi.DefaultIntervalSeconds * time.Second)
	announce("after restart", []string{"inc:0-0"}, []string{"inc:0-0", "full:1"})
	clock.Advance(trackerapi.DefaultIntervalSeconds * time.Second)
	announce("synced again", []string{"inc:0-0"}, []string{"inc:0-0"})

	// A tracker that failed is retried sooner, with a full announce.
	t2.stop()
	clock.Advance(trackerapi.DefaultIntervalSeconds * time.Second)
	res, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000", Contents: state})
	if err != nil || res.Accepted != 1 || !res.Next.Equal(clock.Now().Add(trackerapi.RetryInterval)) {
		t.Fatalf("with tracker 2 down: %+v, %v", res, err)
	}
	log1.take()
	t2 = serveTracker(t, t2.db, t2.addr, log2.wrap)
	clock.Advance(trackerapi.RetryInterval)
	if res, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000", Contents: state}); err != nil || res.Accepted != 1 || res.Skipped != 1 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	if got1, got2 := log1.take(), log2.take(); len(got1) != 0 || !slices.Equal(got2, []string{"full:1"}) {
		t.Fatalf("retry: tracker 1 got %v, tracker 2 got %v", got1, got2)
	}
}

func TestPoolBoundsDeadTrackers(t *testing.T) {
	live := serveTracker(t, "", "", nil)
	dead, silent := deadAddr(t), hangingAddr(t)
	pool := trackerapi.NewPool(trackerapi.PoolOptions{
		Key:         testKey(1),
		Client:      trackerapi.ClientOptions{Timeout: 100 * time.Millisecond, Backoff: time.Millisecond},
		CallTimeout: time.Second,
	})
	defer pool.CloseIdleConnections()
	for _, addr := range []string{live.addr, dead, silent} {
		pool.Add(addr, trackerapi.SourceLink)
	}
	start := time.Now()
	res, err := pool.Announce(context.Background(), trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000"})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("announce: %+v, %v", res, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	for _, st := range pool.Trackers() {
		ok := st.Addr == live.addr
		if ok != (st.LastError == "") || ok != st.Synced || ok == st.LastSuccess.IsZero() || ok != st.LastErrorAt.IsZero() {
			t.Errorf("status %+v", st)
		}
	}
	// With no tracker answering, calls fail.
	pool.Remove(live.addr, trackerapi.SourceLink)
	if _, err := pool.Announce(context.Background(), trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000"}); err == nil {
		t.Fatal("announce to dead trackers succeeded")
	}
	pool.Remove(dead, trackerapi.SourceLink)
	pool.Remove(silent, trackerapi.SourceLink)
	if _, err := pool.Contents(context.Background(), "", 0, 0); err != trackerapi.ErrNoTrackers {
		t.Fatalf("empty pool: %v", err)
	}
}

func TestPoolPublishesUnknownContents(t *testing.T) {
	lt := serveTracker(t, "", "", nil)
	m := testManifest("m", 4, 1)
	state := trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000", Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}}
	ctx := context.Background()

	without := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1)})
	defer without.CloseIdleConnections()
	without.Add(lt.addr, trackerapi.SourceManual)
	res, err := without.Announce(ctx, state)
	if err != nil || !slices.Equal(res.Unknown[lt.addr], []content.ID{m.ID()}) {
		t.Fatalf("without manifests: %+v, %v", res, err)
	}

	with := trackerapi.NewPool(trackerapi.PoolOptions{
		Key:      testKey(1),
		Token:    "tok",
		Manifest: func(id content.ID) *content.Manifest { return map[content.ID]*content.Manifest{m.ID(): m}[id] },
	})
	defer with.CloseIdleConnections()
	with.Add(lt.addr, trackerapi.SourceManual)
	if res, err := with.Announce(ctx, state); err != nil || len(res.Unknown) != 0 {
		t.Fatalf("with manifests: %+v, %v", res, err)
	}
	hs, err := with.Holders(ctx, m, testPeer(9))
	if err != nil || len(hs) != 1 || hs[0].Peer != testPeer(1) {
		t.Fatalf("holders after publish and re-announce: %+v, %v", hs, err)
	}
}

func TestPoolMergesAnswers(t *testing.T) {
	t1, t2 := serveTracker(t, "", "", nil), serveTracker(t, "", "", nil)
	ctx := context.Background()
	only := func(lt *liveTracker) *trackerapi.Pool {
		p := trackerapi.NewPool(trackerapi.PoolOptions{Token: "tok"})
		t.Cleanup(p.CloseIdleConnections)
		p.Add(lt.addr, trackerapi.SourceManual)
		return p
	}
	p1, p2 := only(t1), only(t2)
	a, b := testManifest("a", 16, 1), testManifest("b", 4, 2)
	p1.Publish(ctx, a)
	p2.Publish(ctx, a)
	p2.Publish(ctx, b)
	announce := func(p *trackerapi.Pool, peer byte, cs ...trackerapi.ContentState) {
		// One pool per node: a node's pool announces with its key.
		c, _ := trackerapi.NewClient(p.Trackers()[0].Addr, trackerapi.ClientOptions{})
		defer c.CloseIdleConnections()
		if _, err := c.Announce(ctx, testKey(peer), trackerapi.AnnounceRequest{Addr: fmt.Sprintf(":%d", 7000+int(peer)), Full: true, Contents: cs}); err != nil {
			t.Fatal(err)
		}
	}
	announce(p1, 1, trackerapi.ContentState{ID: a.ID(), Have: haveOf(16, 0, 1)})
	announce(p2, 1, trackerapi.ContentState{ID: a.ID(), Have: haveOf(16, 2)})
	announce(p2, 2, trackerapi.ContentState{ID: a.ID(), Complete: true}, trackerapi.ContentState{ID: b.ID(), Complete: true})

	both := trackerapi.NewPool(trackerapi.PoolOptions{})
	defer both.CloseIdleConnections()
	both.Add(t1.addr, trackerapi.SourceManual)
	if err := both.Discovered(discover.Event{Kind: discover.Found, TrackerID: "t2", Addr: t2.addr}); err != nil {
		t.Fatal(err)
	}
	// The LAN tracker is asked about a and b once it listed them.
	list, err := both.Contents(ctx, "", 0, 10)
	if err != nil || list.Total != 2 || len(list.Contents) != 2 || list.Contents[0].ID != a.ID() || list.Contents[0].Holders != 2 || list.Contents[0].Seeders != 1 {
		t.Fatalf("contents: %+v, %v", list, err)
	}
	if list, _ := both.Contents(ctx, "", 1, 10); len(list.Contents) != 1 || list.Contents[0].ID != b.ID() {
		t.Fatalf("second page: %+v", list)
	}
	hs, err := both.Holders(ctx, a, testPeer(9))
	if err != nil || len(hs) != 2 {
		t.Fatalf("holders: %+v, %v", hs, err)
	}
	for _, h := range hs {
		if h.Peer == testPeer(1) && (h.Have.Count() != 3 || !h.Have.Has(2)) {
			t.Fatalf("peer 1's bitfields were not merged: %d chunks", h.Have.Count())
		}
	}
	got, err := both.Manifest(ctx, b.ID()) // only tracker 2 has it
	if err != nil || got.ID() != b.ID() {
		t.Fatalf("manifest: %v", err)
	}
	if _, err := both.Manifest(ctx, testManifest("c", 1, 3).ID()); err == nil {
		t.Fatal("a manifest no tracker has was found")
	}
	if hs, err := both.Holders(ctx, testManifest("c", 1, 3), testPeer(9)); err != nil || len(hs) != 0 {
		t.Fatalf("holders of a content no tracker knows: %+v, %v", hs, err)
	}
	for _, st := range both.Trackers() {
		if st.LastError != "" {
			t.Fatalf("a 404 was recorded as a failure: %+v", st)
		}
	}

	// Sources: a tracker found on the LAN and added by hand stays when it
	// vanishes from the LAN.
	both.Add(t2.addr, trackerapi.SourceManual)
	both.Discovered(discover.Event{Kind: discover.Lost, TrackerID: "t2", Addr: t2.addr})
	if sts := both.Trackers(); len(sts) != 2 {
		t.Fatalf("trackers: %+v", sts)
	}
	both.Remove(t2.addr, trackerapi.SourceManual)
	if sts := both.Trackers(); len(sts) != 1 || sts[0].Addr != t1.addr {
		t.Fatalf("trackers: %+v", sts)
	}
}

// TestRogueIntervalIsClamped: a tracker that asks for a heartbeat of 1 s,
// or of 2×10^16 s (which would wrap to nanoseconds once multiplied), sets
// only its own schedule, clamped; the honest tracker hears from the node
// at its normal rate.
func TestRogueIntervalIsClamped(t *testing.T) {
	for _, tc := range []struct {
		interval int64
		want     time.Duration
	}{{1, trackerapi.MinInterval}, {20211507185753197, trackerapi.MaxInterval}, {-5, trackerapi.DefaultIntervalSeconds * time.Second}} {
		rogue, honest := serveFakeTracker(t, tc.interval), serveFakeTracker(t, trackerapi.DefaultIntervalSeconds)
		clock := newTestClock()
		pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1), Now: clock.Now})
		pool.Add(rogue.addr, trackerapi.SourceLAN)
		pool.Add(honest.addr, trackerapi.SourceManual)
		req := trackerapi.AnnounceRequest{Peer: testPeer(1), Addr: ":7000"}
		res, err := pool.Announce(context.Background(), req)
		if err != nil || !res.Next.Equal(clock.Now().Add(min(tc.want, trackerapi.DefaultIntervalSeconds*time.Second))) {
			t.Fatalf("interval %d: %+v, %v", tc.interval, res, err)
		}
		// A node that calls Announce in a loop, as fast as it can, for
		// 3 s of its clock: each tracker is asked only when it is due.
		for range 300 {
			clock.Advance(10 * time.Millisecond)
			if _, err := pool.Announce(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}
		r, _ := rogue.seen()
		h, _ := honest.seen()
		if r != 1 || h != 1 {
			t.Errorf("interval %d: in 3 s the rogue tracker got %d announces, the honest one %d; want 1 each", tc.interval, r, h)
		}
		clock.Advance(tc.want)
		pool.Announce(context.Background(), req)
		if r, _ := rogue.seen(); r != 2 {
			t.Errorf("interval %d: no heartbeat after %v", tc.interval, tc.want)
		}
		pool.CloseIdleConnections()
	}
}

// TestTokenGoesOnlyToManualTrackers: the publish token is for the
// trackers the user added by hand, never for one found on the LAN or
// named in a link.
func TestTokenGoesOnlyToManualTrackers(t *testing.T) {
	manual, lan, link := serveFakeTracker(t, 30), serveFakeTracker(t, 30), serveFakeTracker(t, 30)
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Token: "s3cret"})
	defer pool.CloseIdleConnections()
	pool.Add(manual.addr, trackerapi.SourceManual)
	pool.Add(link.addr, trackerapi.SourceLink)
	if err := pool.Discovered(discover.Event{Kind: discover.Found, TrackerID: "lan", Addr: lan.addr}); err != nil {
		t.Fatal(err)
	}
	m := testManifest("m", 1, 1)
	pool.Own(m.ID(), true)       // a share of this node: LAN trackers hear of it
	pool.Bind(m.ID(), link.addr) // and the link named this one
	if err := pool.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, mt := manual.seen()
	_, lt := lan.seen()
	_, kt := link.seen()
	if !slices.Equal(mt, []string{"Bearer s3cret"}) || !slices.Equal(lt, []string{""}) || !slices.Equal(kt, []string{""}) {
		t.Fatalf("tokens sent: manual %q, LAN %q, link %q", mt, lt, kt)
	}
	// Added by hand later, the LAN tracker gets it too.
	pool.Add(lan.addr, trackerapi.SourceManual)
	pool.Publish(context.Background(), m)
	if _, lt := lan.seen(); lt[len(lt)-1] != "Bearer s3cret" {
		t.Fatalf("LAN tracker added by hand got %q", lt)
	}
}

// recorder wraps a tracker's handler and keeps every request it got,
// path and body, so a test can tell what the tracker heard.
type recorder struct {
	mu   sync.Mutex
	seen strings.Builder
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := "none"
		switch {
		case r.Header.Get(trackerapi.SignatureHeader) != "":
			auth = "signed"
		case r.Header.Get(trackerapi.SessionHeader) != "":
			auth = "session"
		}
		rec.mu.Lock()
		fmt.Fprintf(&rec.seen, "%s %s %s\n%s\n", r.Method, r.URL, auth, body)
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

// heard reports whether the tracker got any request naming id.
func (rec *recorder) heard(id content.ID) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return strings.Contains(rec.seen.String(), id.String())
}

// TestPoolScope: a tracker found on the LAN or named in a link hears only
// of the contents that came from it (and, on the LAN, of the node's own
// shares), in announces, publishes and questions alike; a tracker added
// by hand hears of everything; ScopeAll lifts the filter.
func TestPoolScope(t *testing.T) {
	var recs [3]recorder
	manual := serveTracker(t, "", "", recs[0].wrap)
	lan, link := serveTrackerToken(t, "", "", "", recs[1].wrap), serveTrackerToken(t, "", "", "", recs[2].wrap)
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1), Token: "tok",
		Manifest: func(id content.ID) *content.Manifest { return nil }})
	defer pool.CloseIdleConnections()
	pool.Add(manual.addr, trackerapi.SourceManual)
	pool.Add(link.addr, trackerapi.SourceLink)
	if err := pool.Discovered(discover.Event{Kind: discover.Found, TrackerID: "lan", Addr: lan.addr}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	share, fromLink, private := testManifest("share", 4, 1), testManifest("from-link", 4, 2), testManifest("private", 4, 3)
	pool.Own(share.ID(), true)
	pool.Bind(fromLink.ID(), link.addr)
	// private came through a link that named another tracker: only the
	// tracker added by hand may hear of it.
	for _, m := range []*content.Manifest{share, fromLink, private} {
		if err := pool.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var state []trackerapi.ContentState
	for _, m := range []*content.Manifest{share, fromLink, private} {
		state = append(state, trackerapi.ContentState{ID: m.ID(), Complete: true})
		if _, err := pool.Holders(ctx, m, testPeer(9)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Addr: ":7000", Contents: state}); err != nil {
		t.Fatal(err)
	}
	want := map[string][3]bool{ // manual, LAN, link
		"share":     {true, true, false},
		"from-link": {true, false, true},
		"private":   {true, false, false},
	}
	check := func(when string) {
		t.Helper()
		for _, m := range []*content.Manifest{share, fromLink, private} {
			for i, name := range []string{"manual", "LAN", "link"} {
				if got := recs[i].heard(m.ID()); got != want[m.Name][i] {
					t.Errorf("%s: the %s tracker heard of %q: %v, want %v", when, name, m.Name, got, want[m.Name][i])
				}
			}
		}
	}
	check("default scope")

	// ScopeOrigin: a share is no longer told to LAN trackers; the LAN
	// tracker that had it hears it stopped.
	pool.SetScope(trackerapi.ScopeOrigin)
	c := lanClient(t, lan)
	if hl, err := c.Holders(ctx, share, testPeer(9)); err != nil || len(hl) != 1 {
		t.Fatalf("the LAN tracker does not list the node as a holder of the share: %+v, %v", hl, err)
	}
	pool.Announce(ctx, trackerapi.AnnounceRequest{Addr: ":7000", Contents: state})
	if hl, err := c.Holders(ctx, share, testPeer(9)); err != nil || len(hl) != 0 {
		t.Errorf("the LAN tracker still lists the node as a holder of the share: %+v, %v", hl, err)
	}
	// The user looks a content up by its ID alone: every tracker is asked.
	pool.BindEvery(private.ID())
	pool.Holders(ctx, private, testPeer(9))
	want["private"] = [3]bool{true, true, true}
	check("bound to every tracker")
	if addrs, every := pool.Reach(fromLink.ID()); !every && !slices.Equal(addrs, []string{link.addr}) {
		t.Errorf("reach of the link's content: %q, %v", addrs, every)
	}

	// ScopeAll: the whole library goes everywhere.
	pool.SetScope(trackerapi.ScopeAll)
	pool.Announce(ctx, trackerapi.AnnounceRequest{Addr: ":7000", Contents: state})
	want["share"], want["from-link"] = [3]bool{true, true, true}, [3]bool{true, true, true}
	check("ScopeAll")
}

func lanClient(t *testing.T, lt *liveTracker) *trackerapi.Client {
	c, err := trackerapi.NewClient(lt.addr, trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestClientAnnouncesUnderASession: the first announce is signed and
// opens a session, the next carry its MAC and no key (nor a signature); after a tracker
// restart (which forgets sessions) the client signs again by itself.
func TestClientAnnouncesUnderASession(t *testing.T) {
	var rec recorder
	db := t.TempDir() + "/t.db"
	lt := serveTracker(t, db, "", rec.wrap)
	c, err := trackerapi.NewClient(lt.addr, trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	announce := func() {
		t.Helper()
		if _, err := c.Announce(context.Background(), testKey(1), trackerapi.AnnounceRequest{Addr: ":7000"}); err != nil {
			t.Fatal(err)
		}
	}
	auths := func() []string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var out []string
		for _, line := range strings.Split(rec.seen.String(), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[1] == trackerapi.PathAnnounce {
				out = append(out, f[2])
			}
		}
		return out
	}
	for range 3 {
		announce()
	}
	// The first is refused for want of a nonce, and sent again with it.
	if got := auths(); !slices.Equal(got, []string{"signed", "signed", "session", "session"}) {
		t.Fatalf("announces went %q", got)
	}
	if strings.Count(rec.seen.String(), `"key"`) != 2 {
		t.Errorf("the public key went with session announces:\n%s", rec.seen.String())
	}
	lt.stop()
	c.CloseIdleConnections()
	serveTracker(t, db, lt.addr, rec.wrap)
	announce()
	if got := auths(); !slices.Equal(got, []string{"signed", "signed", "session", "session", "session", "signed"}) {
		t.Fatalf("after a restart, announces went %q", got)
	}
}

// TestRogueUnknownGetsNoManifest: a tracker that answers an announce
// claiming not to know a content it was never told of (here, a share
// that only a tracker added by hand may hear of) is sent nothing of it.
func TestRogueUnknownGetsNoManifest(t *testing.T) {
	rogue := serveFakeTracker(t, 30)
	secret := testManifest("secret", 1, 7)
	rogue.unknown = []content.ID{secret.ID()}
	asked := 0
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1), Scope: trackerapi.ScopeOrigin,
		Manifest: func(id content.ID) *content.Manifest { asked++; return secret }})
	defer pool.CloseIdleConnections()
	pool.Add(rogue.addr, trackerapi.SourceLink)
	_, err := pool.Announce(context.Background(), trackerapi.AnnounceRequest{Addr: ":7000",
		Contents: []trackerapi.ContentState{{ID: secret.ID(), Complete: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, tokens := rogue.seen(); len(tokens) != 0 || asked != 0 {
		t.Fatalf("the rogue tracker was sent %d publishes (the manifest was looked up %d times)", len(tokens), asked)
	}
}

// TestPrivateContentGoesOnlyWhereBound: a private share is not told to
// LAN trackers nor to one that lists it nor everywhere, whatever the
// scope; only to trackers added by hand and those its link names.
func TestPrivateContentGoesOnlyWhereBound(t *testing.T) {
	var recs [3]recorder
	manual := serveTrackerToken(t, "", "", "", recs[0].wrap)
	lan, named := serveTrackerToken(t, "", "", "", recs[1].wrap), serveTrackerToken(t, "", "", "", recs[2].wrap)
	m := testManifest("family", 4, 9)
	pool := trackerapi.NewPool(trackerapi.PoolOptions{Key: testKey(1), Scope: trackerapi.ScopeAll,
		Manifest: func(content.ID) *content.Manifest { return m }})
	defer pool.CloseIdleConnections()
	pool.Add(manual.addr, trackerapi.SourceManual)
	pool.Add(named.addr, trackerapi.SourceLink)
	pool.Discovered(discover.Event{Kind: discover.Found, TrackerID: "lan", Addr: lan.addr})
	secret := content.NewSecret()
	pool.Private(m.ID(), &secret)
	pool.Own(m.ID(), true)
	pool.BindEvery(m.ID())
	pool.Bind(m.ID(), named.addr)
	ctx := context.Background()
	pool.Contents(ctx, "", 0, 10) // a listing binds nothing private either
	if err := pool.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Announce(ctx, trackerapi.AnnounceRequest{Addr: ":7000",
		Contents: []trackerapi.ContentState{{ID: m.ID(), Complete: true}}}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if got := recs[i].heard(m.ID()); got != want {
			t.Errorf("tracker %d (manual, LAN, named) heard of the private content: %v, want %v", i, got, want)
		}
	}
}
