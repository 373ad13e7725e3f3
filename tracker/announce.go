package tracker

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/core/sources"
	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// maxAddrLen bounds an announced address: a 253-byte DNS name, brackets,
// a colon and a port fit.
const maxAddrLen = 300

// errBadAnnounce wraps every reason an announce is refused as the peer's
// fault (400).
var errBadAnnounce = errors.New("bad announce")

// announce is a decoded and fully validated AnnounceRequest: applying it
// cannot fail halfway.
type announce struct {
	peer    peer.ID
	source  netip.Addr // the IP the request came from
	addr    string     // source:port, in canonical form
	full    bool
	updates []update     // known contents, sorted by ID
	stopped []content.ID // sorted
	unknown []content.ID // announced contents without a manifest here
}

// update is what a peer holds of one known content.
type update struct {
	id         content.ID
	have       *chunkset.Set // nil when complete
	held       int           // chunks held
	uploaded   int64
	downloaded int64
	fromOrigin int64
}

// chunkCounter returns the chunk count of a content the tracker has a
// manifest for and that access (a private swarm's tracker key) opens.
type chunkCounter func(id content.ID, access []byte) (chunks int, ok bool)

// validateAnnounce checks a decoded and authenticated announce. The peer
// is listed at source, the IP the request came from, with the port of
// the announced address: a peer cannot name another host, so a swarm
// cannot be aimed at a third party. Contents without a manifest (per
// chunks), and private ones announced without their key, are listed in
// unknown, not refused. Every error wraps
// errBadAnnounce.
func validateAnnounce(req trackerapi.AnnounceRequest, source netip.Addr, chunks chunkCounter) (*announce, error) {
	if req.Peer.IsZero() {
		return nil, fmt.Errorf("%w: peer_id is missing", errBadAnnounce)
	}
	addr, err := listenAddr(req.Addr, source)
	if err != nil {
		return nil, fmt.Errorf("%w: addr: %w", errBadAnnounce, err)
	}
	if len(req.Contents) > trackerapi.MaxContentsPerPeer || len(req.Stopped) > trackerapi.MaxContentsPerPeer {
		return nil, fmt.Errorf("%w: more than %d contents or stopped entries", errBadAnnounce, trackerapi.MaxContentsPerPeer)
	}
	a := &announce{peer: req.Peer, source: source, addr: addr, full: req.Full, stopped: req.Stopped}
	slices.SortFunc(a.stopped, compareIDs)
	for i, id := range a.stopped {
		if i > 0 && id == a.stopped[i-1] {
			return nil, fmt.Errorf("%w: content %s stopped twice", errBadAnnounce, id)
		}
	}
	slices.SortFunc(req.Contents, func(x, y trackerapi.ContentState) int { return compareIDs(x.ID, y.ID) })
	for i, cs := range req.Contents {
		if i > 0 && cs.ID == req.Contents[i-1].ID {
			return nil, fmt.Errorf("%w: content %s listed twice", errBadAnnounce, cs.ID)
		}
		if _, stopped := slices.BinarySearchFunc(a.stopped, cs.ID, compareIDs); stopped {
			return nil, fmt.Errorf("%w: content %s is both held and stopped", errBadAnnounce, cs.ID)
		}
		u, known, err := decodeState(cs, chunks)
		if err != nil {
			return nil, fmt.Errorf("%w: content %s: %w", errBadAnnounce, cs.ID, err)
		}
		if !known {
			a.unknown = append(a.unknown, cs.ID)
			continue
		}
		a.updates = append(a.updates, u)
	}
	return a, nil
}

// decodeState validates one ContentState against its manifest's chunk
// count. A bitfield with every chunk set is stored as complete.
func decodeState(cs trackerapi.ContentState, chunks chunkCounter) (update, bool, error) {
	switch {
	case cs.ID.IsZero():
		return update{}, false, errors.New("content ID is missing")
	case cs.Uploaded < 0 || cs.Downloaded < 0:
		return update{}, false, errors.New("negative uploaded or downloaded counter")
	case cs.FromOrigin < 0 || cs.FromOrigin > cs.Downloaded:
		return update{}, false, errors.New("from_origin is negative or more than downloaded")
	case cs.Complete && len(cs.Have) > 0:
		return update{}, false, errors.New("have is set although complete is")
	}
	n, ok := chunks(cs.ID, cs.Access)
	if !ok {
		return update{}, false, nil
	}
	u := update{id: cs.ID, held: n, uploaded: cs.Uploaded, downloaded: cs.Downloaded, fromOrigin: cs.FromOrigin}
	if cs.Complete {
		return u, true, nil
	}
	have, err := chunkset.FromBytes(cs.Have, n)
	if err != nil {
		return update{}, false, fmt.Errorf("have-bitfield of %d bytes for %d chunks: %w", len(cs.Have), n, err)
	}
	if u.held = have.Count(); u.held < n {
		u.have = have
	}
	return u, true, nil
}

// listenAddr is where peers reach the announcing peer: the source IP
// with the port of addr ("host:port" or ":port"; the host is not used).
// The result is canonical (an IPv4-mapped IPv6 address is written as
// IPv4, the port without leading zeros), so one host:port is one entry
// however the announce spelled it.
func listenAddr(addr string, source netip.Addr) (string, error) {
	if len(addr) > maxAddrLen {
		return "", fmt.Errorf("longer than %d bytes", maxAddrLen)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: %w", addr, content.ErrBadAddr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", fmt.Errorf("port %q: %w", port, content.ErrBadAddr)
	}
	if !source.IsValid() {
		return "", errors.New("the request's source address is unknown")
	}
	return netip.AddrPortFrom(sources.Canonical(source), uint16(n)).String(), nil
}

func compareIDs(x, y content.ID) int { return bytes.Compare(x[:], y[:]) }
