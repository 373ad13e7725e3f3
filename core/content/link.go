package content

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// LinkScheme is the URL scheme of share links.
const LinkScheme = "peerflow"

// MaxLinkLen bounds a share link's text, so a pasted or clicked link cannot
// make the parser work on megabytes.
const MaxLinkLen = 8 << 10

// maxLinkTrackers bounds the tr parameters of one link.
const maxLinkTrackers = 32

// ErrBadLink wraps every reason a share link is rejected.
var ErrBadLink = errors.New("not a valid peerflow:// share link")

// Link is a share link: peerflow://<content-id>?dn=<name>&tr=<host:port>&ws=<origin-url>&s=<secret>.
// Only the ID is required; the rest are hints where to look, and the
// secret of a private swarm.
type Link struct {
	ID       ID
	Name     string   // dn: display name
	Trackers []string // tr: tracker addresses, host:port, repeatable
	Origin   string   // ws: origin URL ("web seed")
	Secret   *Secret  // s: the swarm's secret; nil for a public content
}

// String encodes l as a share link.
func (l Link) String() string {
	q := url.Values{}
	if l.Name != "" {
		q.Set("dn", l.Name)
	}
	for _, t := range l.Trackers {
		q.Add("tr", t)
	}
	if l.Origin != "" {
		q.Set("ws", l.Origin)
	}
	if l.Secret != nil {
		q.Set("s", l.Secret.String())
	}
	s := LinkScheme + "://" + l.ID.String()
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// ParseLink parses a share link. A bare content ID is accepted as a link
// with no hints.
func ParseLink(s string) (Link, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxLinkLen {
		return Link{}, fmt.Errorf("%w: longer than %d bytes", ErrBadLink, MaxLinkLen)
	}
	if !strings.Contains(s, "://") {
		id, err := ParseID(s)
		if err != nil {
			return Link{}, fmt.Errorf("%w: %w", ErrBadLink, err)
		}
		return Link{ID: id}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Link{}, fmt.Errorf("%w: %w", ErrBadLink, err)
	}
	if u.Scheme != LinkScheme {
		return Link{}, fmt.Errorf("%w: scheme is %q, want %q", ErrBadLink, u.Scheme, LinkScheme)
	}
	id, err := ParseID(u.Host)
	if err != nil {
		return Link{}, fmt.Errorf("%w: %w", ErrBadLink, err)
	}
	q := u.Query()
	l := Link{ID: id, Name: q.Get("dn"), Origin: q.Get("ws")}
	if l.Name != "" {
		if err := ValidateName(l.Name); err != nil {
			return Link{}, fmt.Errorf("%w: dn: %w", ErrBadLink, err)
		}
	}
	if err := ValidateOrigin(l.Origin); err != nil {
		return Link{}, fmt.Errorf("%w: ws: %w", ErrBadLink, err)
	}
	switch secrets := q["s"]; {
	case len(secrets) > 1:
		return Link{}, fmt.Errorf("%w: more than one secret", ErrBadLink)
	case len(secrets) == 1:
		secret, err := ParseSecret(secrets[0])
		if err != nil {
			return Link{}, fmt.Errorf("%w: s: %w", ErrBadLink, err)
		}
		l.Secret = &secret
	}
	if len(q["tr"]) > maxLinkTrackers {
		return Link{}, fmt.Errorf("%w: more than %d trackers", ErrBadLink, maxLinkTrackers)
	}
	for _, t := range q["tr"] {
		if err := ValidateAddr(t); err != nil {
			return Link{}, fmt.Errorf("%w: tr: %w", ErrBadLink, err)
		}
		l.Trackers = append(l.Trackers, t)
	}
	return l, nil
}

// ErrBadAddr wraps every reason a host:port address is rejected.
var ErrBadAddr = errors.New("not a host:port address")

// ValidateAddr checks that addr is host:port with a non-empty host and a
// port in 1–65535.
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", truncate(addr, 80), ErrBadAddr)
	}
	p, err := strconv.Atoi(port)
	if host == "" || err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: %w", truncate(addr, 80), ErrBadAddr)
	}
	if strings.ContainsAny(host, " /\\@?#") {
		return fmt.Errorf("%q: %w", truncate(addr, 80), ErrBadAddr)
	}
	return nil
}
