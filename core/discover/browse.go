package discover

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/mdns"
)

// EventKind says whether a tracker appeared or vanished.
type EventKind int

// Kinds of Event.
const (
	Found EventKind = iota + 1 // a tracker answered for the first time
	Lost                       // a tracker stopped answering
)

func (k EventKind) String() string {
	switch k {
	case Found:
		return "found"
	case Lost:
		return "lost"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event reports a tracker that appeared on or vanished from the LAN.
type Event struct {
	Kind      EventKind
	TrackerID string
	Addr      string // host:port of its HTTP API
}

// Config tunes Browse. Start from DefaultConfig and change what you need.
type Config struct {
	// Period is the time between the starts of two query rounds.
	Period time.Duration
	// Window is how long a round listens for answers; at most Period.
	Window time.Duration
	// LostAfter is how many rounds in a row a tracker may miss before it
	// is reported Lost; one lost UDP packet must not drop a tracker.
	LostAfter int
	// Interface to query on; nil means the system's default multicast
	// interface.
	Interface *net.Interface
	// Logger receives debug logs (failed rounds, refused answers).
	Logger *slog.Logger
}

// DefaultConfig queries every 10 s, listens 1 s per round and reports a
// tracker Lost after 3 silent rounds (30 s).
func DefaultConfig() Config {
	return Config{Period: 10 * time.Second, Window: time.Second, LostAfter: 3}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Period <= 0 {
		c.Period = d.Period
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	c.Window = min(c.Window, c.Period)
	if c.LostAfter <= 0 {
		c.LostAfter = d.LostAfter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Browse looks for trackers every cfg.Period until ctx is done and sends
// an Event whenever one appears or vanishes. The channel is closed once
// the browsing goroutine has stopped: at most cfg.Window after ctx is
// done, because the mdns library listens out its window before returning.
// Zero fields of cfg take their DefaultConfig values.
func Browse(ctx context.Context, cfg Config) <-chan Event {
	out := make(chan Event)
	b := &browser{cfg: cfg.withDefaults(), lastSeen: make(map[Event]int), out: out}
	go func() {
		defer close(out)
		b.run(ctx)
	}()
	return out
}

// browser is the state of one Browse call, owned by its goroutine.
type browser struct {
	cfg   Config
	round int
	// lastSeen maps each known tracker (as a Found event: ID and address)
	// to the last round it answered in.
	lastSeen map[Event]int
	out      chan<- Event
}

func (b *browser) run(ctx context.Context) {
	tick := time.NewTicker(b.cfg.Period)
	defer tick.Stop()
	for ctx.Err() == nil {
		b.round++
		if err := b.query(ctx); err != nil && ctx.Err() == nil {
			b.cfg.Logger.Debug("mdns query failed", "err", err)
		}
		b.expire(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// query runs one round: it multicasts a question and reports trackers as
// their answers arrive.
func (b *browser) query(ctx context.Context) error {
	// The library drops answers when Entries is full, so it is buffered
	// and drained while the query runs.
	entries := make(chan *mdns.ServiceEntry, 32)
	params := &mdns.QueryParam{
		Service:   Service,
		Domain:    "local",
		Timeout:   b.cfg.Window,
		Interface: b.cfg.Interface,
		Entries:   entries,
		// IPv4 only: the library fails the whole query when sending on
		// IPv6 fails, as it does on hosts without IPv6 multicast routes.
		DisableIPv6: true,
		Logger:      log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- mdns.QueryContext(ctx, params) }()
	for {
		select {
		case e := <-entries:
			b.saw(ctx, e)
		case err := <-done:
			for {
				select {
				case e := <-entries:
					b.saw(ctx, e)
				default:
					return err
				}
			}
		}
	}
}

// saw records an answer and reports the tracker if it is new.
func (b *browser) saw(ctx context.Context, e *mdns.ServiceEntry) {
	ev, err := parseEntry(e)
	if err != nil {
		b.cfg.Logger.Debug("mdns answer ignored", "name", e.Name, "err", err)
		return
	}
	_, known := b.lastSeen[ev]
	b.lastSeen[ev] = b.round
	if !known {
		b.send(ctx, ev)
	}
}

// expire reports trackers that have missed LostAfter rounds.
func (b *browser) expire(ctx context.Context) {
	for ev, r := range b.lastSeen {
		if b.round-r >= b.cfg.LostAfter {
			delete(b.lastSeen, ev)
			ev.Kind = Lost
			b.send(ctx, ev)
		}
	}
}

func (b *browser) send(ctx context.Context, ev Event) {
	select {
	case b.out <- ev:
	case <-ctx.Done():
	}
}

// serviceSuffix ends every instance name of Service; the library passes
// on answers to other questions too.
const serviceSuffix = "." + Service + ".local."

// dialable reports whether ip can be a tracker's address: not missing,
// not the unspecified address (which dials this machine), not multicast.
func dialable(ip net.IP) bool {
	return ip != nil && !ip.IsUnspecified() && !ip.IsMulticast()
}

// parseEntry turns a tracker's answer into a Found event.
func parseEntry(e *mdns.ServiceEntry) (Event, error) {
	if !strings.HasSuffix(e.Name, serviceSuffix) {
		return Event{}, errNotTracker
	}
	id, err := ParseTXT(e.InfoFields)
	if err != nil {
		return Event{}, err
	}
	var host string
	switch {
	case dialable(e.AddrV4):
		host = e.AddrV4.String()
	case e.AddrV6IPAddr != nil && dialable(e.AddrV6IPAddr.IP):
		host = e.AddrV6IPAddr.String() // keeps the zone of a link-local address
	default:
		return Event{}, errNoAddr
	}
	if e.Port <= 0 || e.Port > 65535 {
		return Event{}, errNoAddr
	}
	return Event{Kind: Found, TrackerID: id, Addr: net.JoinHostPort(host, strconv.Itoa(e.Port))}, nil
}
