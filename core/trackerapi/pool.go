package trackerapi

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"peerflow/core/content"
	"peerflow/core/discover"
	"peerflow/core/peer"
)

// Source says how a node learned of a tracker; a tracker may have several.
type Source uint8

// Sources of trackers.
const (
	SourceManual Source = 1 << iota // added by hand
	SourceLAN                       // found over mDNS
	SourceLink                      // named in a share link
)

func (s Source) String() string {
	var names []string
	for _, n := range []struct {
		bit  Source
		name string
	}{{SourceManual, "manual"}, {SourceLAN, "lan"}, {SourceLink, "link"}} {
		if s&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "+")
}

// TrackerStatus is what a Pool knows of one tracker.
type TrackerStatus struct {
	Addr        string
	TrackerID   string // as it said in an announce answer or on the LAN; "" if not yet known
	Sources     Source
	LastSuccess time.Time
	LastError   string // of the last call, "" if it succeeded
	LastErrorAt time.Time
	Synced      bool // has the node's whole state: announces to it are incremental
}

// ErrNoTrackers is returned by Pool calls when no tracker is known.
var ErrNoTrackers = errors.New("no tracker known: add one by hand, open a share link that names one, or wait for one on the LAN")

// PoolOptions tune a Pool. Zero fields take defaults.
type PoolOptions struct {
	Client ClientOptions // for every tracker; one HTTP client is shared; its Token and Access are not used
	// Key is the node's identity key: announces are signed with it and
	// name its peer ID (AnnounceRequest.Peer is ignored).
	Key ed25519.PrivateKey
	// Token is sent when publishing to the trackers added by hand
	// (SourceManual) only: never to one found on the LAN or named in a
	// link, which could be anyone's.
	Token string
	// CallTimeout bounds each call over all trackers (they are asked in
	// parallel), so a dead tracker cannot stall the node. Default 15 s.
	CallTimeout time.Duration
	// Manifest, if set, returns the manifest of a content the node
	// shares. Announce then publishes it to a tracker that answers that
	// it does not know the content, and re-announces it there.
	Manifest func(content.ID) *content.Manifest
	Now      func() time.Time // for status times; default time.Now
	// Scope says what the trackers not added by hand hear of; see Scope.
	Scope Scope
}

// Scope says which of the node's contents a tracker found on the LAN or
// named in a link hears of, in announces, publishes and questions: such a
// tracker may be anyone's. A tracker added by hand hears of everything.
//
// Whatever the scope, a tracker hears of the contents that came from it:
// those bound to it (Pool.Bind: a link named it, or the user looked the
// content up everywhere) and those it listed itself (Pool.Contents).
type Scope uint8

const (
	// ScopeShares (the default): LAN trackers also hear of the node's own
	// shares (Pool.Own), so sharing on a LAN needs no set-up; the rest of
	// the library (what came through links) stays with the trackers it
	// came from.
	ScopeShares Scope = iota
	// ScopeOrigin: only what came from each tracker.
	ScopeOrigin
	// ScopeAll: every tracker hears of the whole library.
	ScopeAll
)

// maxListed bounds how many listed contents the pool remembers (see
// Contents); past it the memory starts again.
const maxListed = 1 << 14

// Pool is the set of trackers a node knows: added by hand, found on the
// LAN or named in share links. Calls go to every tracker (about a content:
// every tracker that may hear of it, see Scope) in parallel and merge the
// answers. It is safe for concurrent use.
type Pool struct {
	opts PoolOptions
	mu   sync.Mutex
	all  map[string]*poolTracker
	// reach says which trackers hear of each content (see Scope).
	reach  map[content.ID]*reach
	listed map[content.ID]map[string]struct{} // trackers whose list showed it
	keys   map[content.ID]*[32]byte           // tracker keys of private contents
	active map[string]string                  // by fleetKey: the tracker of the fleet that answered last
}

// reach is which trackers a content goes to beyond those added by hand.
type reach struct {
	addrs map[string]struct{} // bound to these trackers
	every bool                // bound to every tracker
	own   bool                // one of the node's own shares
}

// addrsOf returns the trackers r is bound to; r may be nil.
func (r *reach) addrsOf() map[string]struct{} {
	if r == nil {
		return nil
	}
	return r.addrs
}

// poolTracker is one tracker of a Pool.
type poolTracker struct {
	client *Client

	// Guarded by Pool.mu.
	id          string
	sources     Source
	lastSuccess time.Time
	lastError   string
	lastErrorAt time.Time

	// synced is set while the tracker has the node's whole state, so
	// announces to it can be incremental.
	synced atomic.Bool
	// announceMu serializes announces to this tracker, so sent stays the
	// state the tracker acknowledged last; it also guards due, when the
	// next heartbeat is (at the clamped interval the tracker asked for).
	announceMu sync.Mutex
	sent       map[content.ID]ContentState
	due        time.Time
	failures   int // announces failed in a row
}

// Heartbeats a tracker may ask for are clamped to [MinInterval,
// MaxInterval] before any arithmetic, so a rogue or broken tracker can
// neither make the node flood every tracker nor silence it. A tracker
// whose announce failed is tried again after RetryInterval, and after
// each further failure in a row twice as long, up to MaxRetryInterval: a
// tracker that is down (or whose store is: it answers 503) is not
// hammered, and is back in use within half a minute of its return.
const (
	MinInterval      = 15 * time.Second
	MaxInterval      = time.Hour
	RetryInterval    = 5 * time.Second
	MaxRetryInterval = 30 * time.Second
)

// retryAfter is the wait before the next announce to a tracker whose last
// failures announces failed in a row.
func retryAfter(failures int) time.Duration {
	d := RetryInterval
	for range min(failures, 8) - 1 {
		d *= 2
	}
	return min(d, MaxRetryInterval)
}

// errNotDue is what announceTo returns for a tracker it skipped, and
// errBackingOff for one it skipped because its last announces failed and
// its retry is not due (another tracker of its fleet may be asked).
var (
	errNotDue     = errors.New("not due")
	errBackingOff = errors.New("not asked: its last announces failed and its next try is not due")
)

// clampInterval turns a tracker's "interval" (seconds) into a heartbeat.
func clampInterval(seconds int) time.Duration {
	switch {
	case seconds <= 0:
		return DefaultIntervalSeconds * time.Second
	case seconds < int(MinInterval/time.Second):
		return MinInterval
	case seconds > int(MaxInterval/time.Second):
		return MaxInterval
	}
	return time.Duration(seconds) * time.Second
}

// NewPool returns an empty pool.
func NewPool(opts PoolOptions) *Pool {
	if opts.Client.HTTPClient == nil {
		opts.Client.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Pool{opts: opts, all: make(map[string]*poolTracker), active: make(map[string]string),
		reach: make(map[content.ID]*reach), listed: make(map[content.ID]map[string]struct{}),
		keys: make(map[content.ID]*[32]byte)}
	p.opts.Client.Access = p.access
	return p
}

// Private makes content id a private swarm (secret not nil): every
// request about it shows the tracker key of secret, and it goes only to
// the trackers added by hand and those bound to it. A nil secret makes it
// public again.
func (p *Pool) Private(id content.ID, secret *content.Secret) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if secret == nil {
		delete(p.keys, id)
		return
	}
	k := secret.TrackerKey(id)
	p.keys[id] = &k
}

// access is the clients' ClientOptions.Access.
func (p *Pool) access(id content.ID) *[32]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[id]
}

// SetScope changes what the trackers not added by hand hear of; the next
// announce tells each what it should now know (and stops what it should
// not).
func (p *Pool) SetScope(s Scope) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.Scope = s
}

// reachOf returns the reach of id, made on first use; p.mu is held.
func (p *Pool) reachOf(id content.ID) *reach {
	r := p.reach[id]
	if r == nil {
		r = &reach{addrs: map[string]struct{}{}}
		p.reach[id] = r
	}
	return r
}

// Bind makes content id go to the trackers at addrs: a link named them.
func (p *Pool) Bind(id content.ID, addrs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reachOf(id)
	for _, a := range addrs {
		r.addrs[a] = struct{}{}
	}
}

// BindEvery makes content id go to every tracker, known now or later: the
// user looked it up by its ID alone.
func (p *Pool) BindEvery(id content.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reachOf(id).every = true
}

// Own marks content id as one of the node's own shares, or not.
func (p *Pool) Own(id content.ID, own bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reachOf(id).own = own
}

// Forget drops what the pool knows of where content id goes: the node no
// longer holds it.
func (p *Pool) Forget(id content.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.reach, id)
	delete(p.listed, id)
	delete(p.keys, id)
}

// Reach returns where content id goes beyond the trackers added by hand:
// every tracker, or the addresses it is bound to or was listed by, sorted.
// The node keeps it with the content, to Bind it again after a restart.
func (p *Pool) Reach(id content.ID) (addrs []string, every bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.reach[id]; r != nil {
		every = r.every
		for a := range r.addrs {
			addrs = append(addrs, a)
		}
	}
	for a := range p.listed[id] {
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	slices.Sort(addrs)
	return addrs, every
}

// hears reports whether the tracker at addr may hear of content id; p.mu
// is held.
func (p *Pool) hears(addr string, t *poolTracker, id content.ID) bool {
	if t.sources&SourceManual != 0 {
		return true
	}
	if p.keys[id] != nil {
		// A private content goes only to the trackers its link names
		// (Bind): whatever the scope, not to one that listed it or that
		// the LAN offers.
		_, ok := p.reach[id].addrsOf()[addr]
		return ok
	}
	if p.opts.Scope == ScopeAll {
		return true
	}
	if _, ok := p.listed[id][addr]; ok {
		return true
	}
	r := p.reach[id]
	if r == nil {
		return false
	}
	if _, ok := r.addrs[addr]; ok || r.every {
		return true
	}
	return r.own && p.opts.Scope == ScopeShares && t.sources&SourceLAN != 0
}

// scoped returns the contents of req that t may hear of.
func (p *Pool) scoped(t *poolTracker, req AnnounceRequest) AnnounceRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	addr := t.client.Addr()
	out := req
	out.Contents = make([]ContentState, 0, len(req.Contents))
	for _, cs := range req.Contents {
		if p.hears(addr, t, cs.ID) {
			out.Contents = append(out.Contents, cs)
		}
	}
	return out
}

// noteListed remembers that the tracker at addr listed the contents in
// list.
func (p *Pool) noteListed(addr string, list []ContentInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ci := range list {
		by := p.listed[ci.ID]
		if by == nil {
			if len(p.listed) >= maxListed {
				clear(p.listed)
			}
			by = map[string]struct{}{}
			p.listed[ci.ID] = by
		}
		by[addr] = struct{}{}
	}
}

// Add adds the tracker at addr (host:port), or adds src to its sources.
func (p *Pool) Add(addr string, src Source) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.all[addr]; t != nil {
		t.sources |= src
		return nil
	}
	opts := p.opts.Client
	opts.Token = ""
	c, err := NewClient(addr, opts)
	if err != nil {
		return err
	}
	p.all[addr] = &poolTracker{client: c, sources: src}
	return nil
}

// Remove takes src from the tracker's sources and forgets the tracker
// once it has none: a LAN tracker that vanished stays if it was also
// added by hand.
func (p *Pool) Remove(addr string, src Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.all[addr]; t != nil {
		if t.sources &^= src; t.sources == 0 {
			delete(p.all, addr)
		}
	}
}

// Discovered applies an event of discover.Browse: a tracker found on the
// LAN is added, a lost one removed (unless it has another source).
func (p *Pool) Discovered(ev discover.Event) error {
	switch ev.Kind {
	case discover.Found:
		if err := p.Add(ev.Addr, SourceLAN); err != nil {
			return err
		}
		p.mu.Lock()
		p.all[ev.Addr].id = ev.TrackerID
		p.mu.Unlock()
	case discover.Lost:
		p.Remove(ev.Addr, SourceLAN)
	}
	return nil
}

// Trackers returns the status of every tracker, by address.
func (p *Pool) Trackers() []TrackerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]TrackerStatus, 0, len(p.all))
	for addr, t := range p.all {
		out = append(out, TrackerStatus{
			Addr: addr, TrackerID: t.id, Sources: t.sources,
			LastSuccess: t.lastSuccess, LastError: t.lastError, LastErrorAt: t.lastErrorAt,
			Synced: t.synced.Load(),
		})
	}
	slices.SortFunc(out, func(a, b TrackerStatus) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

// each runs f on every tracker in parallel, within CallTimeout, records
// each outcome in the tracker's status, and returns how many succeeded
// with the errors of the others joined. A 404 (the tracker does not know
// the content) counts as an answer, not a failure.
func (p *Pool) each(ctx context.Context, f func(context.Context, *poolTracker) error) (int, error) {
	return p.eachOf(ctx, nil, f)
}

// eachFor is each over the trackers that may hear of content id.
func (p *Pool) eachFor(ctx context.Context, id content.ID, f func(context.Context, *poolTracker) error) (int, error) {
	return p.eachOf(ctx, &id, f)
}

// eachOf is each over every tracker, or those that may hear of *id. The
// trackers of one fleet (see fleetKey) count as one: f runs on the one
// that answered last, and on the next only if it fails.
func (p *Pool) eachOf(ctx context.Context, id *content.ID, f func(context.Context, *poolTracker) error) (int, error) {
	p.mu.Lock()
	fleets := make(map[string][]*poolTracker)
	for addr, t := range p.all {
		if id == nil || p.hears(addr, t, *id) {
			k := fleetKey(addr, t)
			fleets[k] = append(fleets[k], t)
		}
	}
	keys := make([]string, 0, len(fleets))
	for k, ts := range fleets {
		keys = append(keys, k)
		active := p.active[k]
		slices.SortFunc(ts, func(a, b *poolTracker) int {
			return cmp.Or(-cmp.Compare(boolInt(a.client.Addr() == active), boolInt(b.client.Addr() == active)),
				strings.Compare(a.client.Addr(), b.client.Addr()))
		})
	}
	p.mu.Unlock()
	if len(keys) == 0 {
		return 0, ErrNoTrackers
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { errs[i] = p.tryFleet(ctx, k, fleets[k], f) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	return ok, errors.Join(errs...)
}

// tryFleet runs f on the trackers of one fleet in turn until one answers
// (a 404 is an answer), records each outcome, and makes the one that
// answered the fleet's active tracker.
func (p *Pool) tryFleet(ctx context.Context, key string, ts []*poolTracker, f func(context.Context, *poolTracker) error) error {
	var failed, answer error // answer: nil, or a 404
	var answered *poolTracker
	for _, t := range ts {
		err := f(ctx, t)
		switch {
		case errors.Is(err, errNotDue): // not asked: nothing to record
			return nil
		case errors.Is(err, errBackingOff): // not asked; the next may be
			continue
		}
		// A call abandoned (the caller gave up, or another tracker
		// answered first) says nothing about this tracker.
		if !errors.Is(err, context.Canceled) || ctx.Err() == nil {
			p.record(t, err)
		}
		if err == nil || IsNotFound(err) {
			answered, answer = t, err
			break
		}
		failed = err
		if ctx.Err() != nil {
			break
		}
	}
	if answered == nil {
		if failed == nil { // every tracker of the fleet is backing off
			return errBackingOff
		}
		return failed
	}
	if len(ts) > 1 {
		p.mu.Lock()
		p.active[key] = answered.client.Addr()
		p.mu.Unlock()
		for _, o := range ts {
			if o != answered {
				// Told nothing while another tracker of its fleet is: if
				// the node turns to it, it gets the node's whole state.
				o.synced.Store(false)
			}
		}
	}
	return answer
}

// fleetKey names the fleet of the tracker at addr: trackers that gave the
// same tracker ID (in an announce answer, or on the LAN) serve the same
// swarms from one store. Only trackers of the same trust are one fleet, so
// that a tracker found on the LAN or named in a link cannot take the
// announces meant for one added by hand by claiming its ID. A tracker of
// unknown ID is a fleet of its own.
func fleetKey(addr string, t *poolTracker) string {
	switch {
	case t.id == "":
		return "addr " + addr
	case t.sources&SourceManual != 0:
		return "manual " + t.id
	}
	return "other " + t.id
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (p *Pool) record(t *poolTracker, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil || IsNotFound(err) {
		t.lastSuccess, t.lastError = p.opts.Now(), ""
		return
	}
	t.lastError, t.lastErrorAt = err.Error(), p.opts.Now()
}

// AnnounceResult sums up an announce to every tracker.
type AnnounceResult struct {
	// Next is when the earliest tracker is due again (its heartbeat, or
	// after a failure, see RetryInterval): call Announce then, or sooner if
	// what the node holds changes.
	Next     time.Time
	Accepted int // trackers that took the announce
	Skipped  int // trackers not due, with nothing new to tell
	// Unknown lists, per tracker address, contents it has no manifest for
	// and that were not published to it (no PoolOptions.Manifest for them,
	// or the publish failed).
	Unknown map[string][]content.ID
}

// Announce tells the trackers what the node holds. req lists everything
// the node holds now (req.Full and req.Stopped are ignored): the pool
// sends a Full announce to a tracker that has not acknowledged one yet,
// that failed the last announce or that asked for one (it restarted), and
// otherwise only what changed since the last acknowledged announce. A
// tracker that is synced, not due for its heartbeat and would be told
// nothing new is skipped, so each tracker hears from the node at its own
// pace. It fails only if no tracker took the announce and none was
// skipped.
func (p *Pool) Announce(ctx context.Context, req AnnounceRequest) (AnnounceResult, error) {
	res := AnnounceResult{Unknown: map[string][]content.ID{}}
	var mu sync.Mutex
	next := func(t time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if res.Next.IsZero() || t.Before(res.Next) {
			res.Next = t
		}
	}
	ok, err := p.each(ctx, func(ctx context.Context, t *poolTracker) error {
		unknown, due, err := p.announceTo(ctx, t, req)
		next(due)
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, errNotDue) {
			res.Skipped++
		}
		if err == nil && len(unknown) > 0 {
			res.Unknown[t.client.Addr()] = unknown
		}
		return err
	})
	res.Accepted = ok - res.Skipped
	if res.Next.IsZero() {
		res.Next = p.opts.Now().Add(RetryInterval)
	}
	if ok == 0 {
		return res, fmt.Errorf("announce: no tracker took it: %w", err)
	}
	return res, nil
}

// announceTo announces req to one tracker (full or incremental) unless
// it is skipped (see Announce), follows up on NeedFull and on unknown
// contents, and schedules the tracker's next heartbeat. It returns the
// contents that stayed unknown and when the tracker is due again; a
// skipped tracker returns errNotDue.
func (p *Pool) announceTo(ctx context.Context, t *poolTracker, req AnnounceRequest) (unknown []content.ID, due time.Time, err error) {
	t.announceMu.Lock()
	defer t.announceMu.Unlock()
	req = p.scoped(t, req)
	d := t.delta(req)
	now := p.opts.Now()
	if !d.Full && len(d.Contents) == 0 && len(d.Stopped) == 0 && now.Before(t.due) {
		return nil, t.due, errNotDue
	}
	if t.failures > 0 && now.Before(t.due) {
		return nil, t.due, errBackingOff
	}
	defer func() {
		if err != nil {
			t.failures++
			t.due = p.opts.Now().Add(retryAfter(t.failures))
		} else {
			t.failures = 0
		}
		due = t.due
	}()
	resp, err := t.announce(ctx, p.opts.Key, d)
	if err == nil && resp.NeedFull {
		resp, err = t.announce(ctx, p.opts.Key, t.delta(req)) // delta is Full now
	}
	if err != nil {
		return nil, due, err
	}
	p.learnID(t, resp.TrackerID)
	t.due = p.opts.Now().Add(clampInterval(resp.IntervalSeconds))
	if len(resp.Unknown) == 0 || p.opts.Manifest == nil {
		return resp.Unknown, due, nil
	}
	var published []content.ID
	for _, id := range resp.Unknown {
		// Only what this tracker may hear of, and was just told of: a
		// tracker cannot get a manifest by naming its ID.
		if !slices.ContainsFunc(req.Contents, func(cs ContentState) bool { return cs.ID == id }) {
			continue
		}
		if m := p.opts.Manifest(id); m != nil {
			if _, perr := t.client.publish(ctx, m, p.tokenFor(t)); perr == nil {
				published = append(published, id)
				continue
			}
		}
		unknown = append(unknown, id)
	}
	if len(published) == 0 {
		return unknown, due, nil
	}
	// The published contents are missing from sent, so the delta holds
	// them (and anything else that changed meanwhile).
	next, err := t.announce(ctx, p.opts.Key, t.delta(req))
	if err != nil {
		return unknown, due, err
	}
	return next.Unknown, due, nil
}

// learnID notes the tracker ID t gave (one that is not a valid ID is
// ignored): trackers of one ID are one fleet.
func (p *Pool) learnID(t *poolTracker, id string) {
	if discover.ValidateTrackerID(id) != nil {
		return
	}
	p.mu.Lock()
	t.id = id
	p.mu.Unlock()
}

// tokenFor is the publish token to send t: the pool's, if t was added by
// hand.
func (p *Pool) tokenFor(t *poolTracker) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.sources&SourceManual == 0 {
		return ""
	}
	return p.opts.Token
}

// delta is what to send t for the node's whole state req: all of it if t
// is not synced, else what changed since the last acknowledged announce.
func (t *poolTracker) delta(req AnnounceRequest) AnnounceRequest {
	out := AnnounceRequest{Peer: req.Peer, Addr: req.Addr}
	if !t.synced.Load() {
		out.Full, out.Contents = true, req.Contents
		return out
	}
	now := make(map[content.ID]bool, len(req.Contents))
	for _, cs := range req.Contents {
		now[cs.ID] = true
		if old, ok := t.sent[cs.ID]; !ok || !sameState(old, cs) {
			out.Contents = append(out.Contents, cs)
		}
	}
	for id := range t.sent {
		if !now[id] {
			out.Stopped = append(out.Stopped, id)
		}
	}
	slices.SortFunc(out.Stopped, func(a, b content.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func sameState(a, b ContentState) bool {
	return a.Complete == b.Complete && a.Uploaded == b.Uploaded && a.Downloaded == b.Downloaded && a.FromOrigin == b.FromOrigin &&
		bytes.Equal(a.Have, b.Have)
}

// announce sends one announce and updates what t is known to hold of the
// node. Any failure unsyncs t, so the next announce is Full: after an
// error the node cannot know what the tracker kept.
func (t *poolTracker) announce(ctx context.Context, key ed25519.PrivateKey, req AnnounceRequest) (AnnounceResponse, error) {
	resp, err := t.client.Announce(ctx, key, req)
	if err != nil {
		t.synced.Store(false)
		t.sent = nil
		return resp, err
	}
	if req.Full {
		t.sent = make(map[content.ID]ContentState, len(req.Contents))
	}
	for _, id := range req.Stopped {
		delete(t.sent, id)
	}
	for _, cs := range req.Contents {
		cs.Have = bytes.Clone(cs.Have) // the caller may reuse its buffers
		t.sent[cs.ID] = cs
	}
	// A content the tracker did not take is left out, so the next delta
	// offers it again.
	for _, id := range resp.Unknown {
		delete(t.sent, id)
	}
	t.synced.Store(!resp.NeedFull)
	return resp, nil
}

// Publish stores m on every tracker that may hear of it. It fails only if
// none took it; the status of each tracker says how its publish went.
func (p *Pool) Publish(ctx context.Context, m *content.Manifest) error {
	ok, err := p.eachFor(ctx, m.ID(), func(ctx context.Context, t *poolTracker) error {
		_, err := t.client.publish(ctx, m, p.tokenFor(t))
		return err
	})
	if ok == 0 {
		return err
	}
	return nil
}

// Holders returns the live holders of m's content other than exclude, as
// known to the trackers that may hear of it: a peer listed by several is
// listed once, with the union of its bitfields. It fails only if no
// tracker answered.
func (p *Pool) Holders(ctx context.Context, m *content.Manifest, exclude peer.ID) ([]Holder, error) {
	var mu sync.Mutex
	var out []Holder
	index := map[peer.ID]int{}
	ok, err := p.eachFor(ctx, m.ID(), func(ctx context.Context, t *poolTracker) error {
		hs, err := t.client.Holders(ctx, m, exclude)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hs {
			if i, seen := index[h.Peer]; seen {
				out[i].Have.Or(h.Have)
				continue
			}
			index[h.Peer] = len(out)
			out = append(out, h)
		}
		return nil
	})
	if ok == 0 && !allNotFound(err) {
		return nil, err
	}
	return out, nil
}

// allNotFound reports whether every error joined in err is a 404.
func allNotFound(err error) bool {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return IsNotFound(err)
	}
	for _, e := range joined.Unwrap() {
		if e != nil && !IsNotFound(e) {
			return false
		}
	}
	return true
}

// Contents returns a page of the contents of all trackers whose name
// contains query, merged by content ID and sorted by name. Holders,
// Seeders and Availability are the largest any tracker reported, and
// Downloaded and FromOrigin those of the tracker that reported the most
// downloaded: a peer usually announces to every tracker, so a sum would
// count it twice.
// Each tracker is asked for its first offset+limit matches (at most
// MaxListLimit), so pages past that are cut short, and Total is a lower
// bound when trackers know different contents.
func (p *Pool) Contents(ctx context.Context, query string, offset, limit int) (ContentList, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	offset = max(offset, 0)
	var mu sync.Mutex
	merged := map[content.ID]ContentInfo{}
	total := 0
	ok, err := p.each(ctx, func(ctx context.Context, t *poolTracker) error {
		list, err := t.client.Contents(ctx, query, 0, min(offset+limit, MaxListLimit))
		if err != nil {
			return err
		}
		p.noteListed(t.client.Addr(), list.Contents)
		mu.Lock()
		defer mu.Unlock()
		total = max(total, list.Total)
		for _, ci := range list.Contents {
			if old, seen := merged[ci.ID]; seen {
				ci.Holders = max(ci.Holders, old.Holders)
				ci.Seeders = max(ci.Seeders, old.Seeders)
				ci.Availability = max(ci.Availability, old.Availability)
				if old.Downloaded > ci.Downloaded { // the counters of the tracker that heard most
					ci.Downloaded, ci.FromOrigin = old.Downloaded, old.FromOrigin
				}
			}
			merged[ci.ID] = ci
		}
		return nil
	})
	if ok == 0 {
		return ContentList{}, err
	}
	all := make([]ContentInfo, 0, len(merged))
	for _, ci := range merged {
		all = append(all, ci)
	}
	slices.SortFunc(all, func(a, b ContentInfo) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), bytes.Compare(a.ID[:], b.ID[:]))
	})
	page := all[min(offset, len(all)):]
	return ContentList{Contents: page[:min(limit, len(page))], Total: max(total, len(all))}, nil
}

// Manifest fetches the manifest of content id from the trackers that may
// hear of it, asked in parallel; the first verified answer wins and the
// other requests are cancelled.
func (p *Pool) Manifest(ctx context.Context, id content.ID) (*content.Manifest, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var found *content.Manifest
	_, err := p.eachFor(ctx, id, func(ctx context.Context, t *poolTracker) error {
		m, err := t.client.Manifest(ctx, id)
		if err != nil {
			return err
		}
		once.Do(func() {
			found = m
			cancel()
		})
		return nil
	})
	if found != nil {
		return found, nil
	}
	return nil, fmt.Errorf("manifest %s: no tracker has it: %w", id.Short(), err)
}

// CloseIdleConnections closes the kept-alive connections to the trackers,
// e.g. when the node stops.
func (p *Pool) CloseIdleConnections() { p.opts.Client.HTTPClient.CloseIdleConnections() }
