package tracker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"peerflow/core/content"
	"peerflow/core/discover"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
)

// Etcd is where a fleet of trackers keeps its records: any number of
// tracker processes on one etcd cluster serve the same swarms.
type Etcd struct {
	Endpoints []string // host:port of the cluster's members
	// Prefix leads every key, so that several fleets (or other users) can
	// share a cluster. Default "peerflow/".
	Prefix             string
	Username, Password string      // etcd's own authentication, if enabled
	TLS                *tls.Config // nil: plain HTTP/2 to the members
}

// ParseEtcdURL reads etcd://[user[:password]@]host:port[,host:port...][/prefix],
// or etcds:// for TLS with the system's roots (Etcd.TLS can be replaced).
func ParseEtcdURL(s string) (*Etcd, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "etcd" && scheme != "etcds") {
		return nil, fmt.Errorf("etcd store %q: want etcd://host:port[,host:port...][/prefix] (etcds:// for TLS)", s)
	}
	// url.Parse would refuse the comma-separated hosts, so the parts are
	// cut by hand.
	e := &Etcd{}
	if user, hosts, ok := strings.Cut(rest, "@"); ok {
		u, err := url.PathUnescape(user)
		if err != nil {
			return nil, fmt.Errorf("etcd store: user: %w", err)
		}
		e.Username, e.Password, _ = strings.Cut(u, ":")
		rest = hosts
	}
	hosts, prefix, _ := strings.Cut(rest, "/")
	for h := range strings.SplitSeq(hosts, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, fmt.Errorf("etcd store: member %q: want host:port", h)
		}
		e.Endpoints = append(e.Endpoints, h)
	}
	if prefix != "" {
		e.Prefix = strings.TrimSuffix(prefix, "/") + "/"
	}
	if scheme == "etcds" {
		e.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return e, nil
}

func (e *Etcd) String() string {
	scheme := "etcd://"
	if e.TLS != nil {
		scheme = "etcds://"
	}
	return scheme + strings.Join(e.Endpoints, ",") + "/" + e.prefix()
}

func (e *Etcd) prefix() string {
	if e.Prefix == "" {
		return "peerflow/"
	}
	return e.Prefix
}

// Keys, under the prefix:
//
//	fleet                the fleet's tracker ID, made by the first tracker
//	m/<content>          a manifest's head: written once, create-if-absent,
//	                     after its parts
//	mp/<content>/<n>     part n of the manifest's canonical bytes
//	p/<peer>             a live peer's lease record (as in bbolt)
//	h/<content>/<peer>   what the peer holds of the content (as in bbolt)
//
// IDs are lowercase hex. A peer's p/ and h/ keys are attached to one etcd
// lease of the peer's: it is kept alive when the peer announces, and when
// it runs out etcd deletes them all, which every tracker sees in its watch.
const (
	keyFleet     = "fleet"
	keyManifests = "m/"
	keyParts     = "mp/"
	keyPeers     = "p/"
	keyHeld      = "h/"
)

// Bounds of what one request to etcd carries: etcd refuses requests over
// 1.5 MiB and transactions of over 128 operations by default.
const (
	manifestPart = 512 << 10
	maxTxnOps    = 128
	maxTxnBytes  = 1 << 20
	// etcdTimeout bounds one call; a flush or a load may make many.
	etcdTimeout = 5 * time.Second
	// pingTimeout bounds the janitor's question whether etcd answers.
	pingTimeout = 2 * time.Second
	// grantsAtOnce and txnsAtOnce are the calls a flush has in flight.
	grantsAtOnce = 32
	txnsAtOnce   = 4
	pageSize     = 500
)

// head of a manifest record: 0x01, flags (bit 0: private), the access
// hash if private, uvarint length of the manifest, uvarint parts.
func appendManifestHead(b []byte, size, parts int, access *[32]byte) []byte {
	b = append(b, recordVersion)
	if access != nil {
		b = append(b, 1)
		b = append(b, access[:]...)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(size))
	return binary.AppendUvarint(b, uint64(parts))
}

type manifestHead struct {
	size, parts int
	access      *[32]byte
}

func decodeManifestHead(b []byte) (manifestHead, error) {
	var h manifestHead
	if len(b) < 2 || b[0] != recordVersion || b[1] > 1 {
		return h, errRecord
	}
	private := b[1] == 1
	b = b[2:]
	if private {
		if len(b) < sha256.Size {
			return h, errRecord
		}
		h.access = (*[32]byte)(bytes.Clone(b[:sha256.Size]))
		b = b[sha256.Size:]
	}
	size, err1 := readUvarint(&b, uint64(content.MaxEncodedSize))
	parts, err2 := readUvarint(&b, uint64(content.MaxEncodedSize/manifestPart+1))
	if err := errors.Join(err1, err2); err != nil || len(b) != 0 || int(parts) != (int(size)+manifestPart-1)/manifestPart {
		return h, errRecord
	}
	h.size, h.parts = int(size), int(parts)
	return h, nil
}

// etcdStore is the etcd backend. Its watch feeds what other trackers
// write into this tracker's state; its own writes come back through the
// watch too and are skipped by their revision.
type etcdStore struct {
	cli    *clientv3.Client
	leaseC pb.LeaseClient
	cfg    *Etcd
	pfx    string
	id     string // the fleet's tracker ID
	ttl    int64  // seconds of a peer's etcd lease
	log    *slog.Logger

	// mu is held across every write and across applying each watch
	// response: a write's revision is in own before the watch can see it.
	mu     sync.Mutex
	own    map[int64]struct{}
	leases map[peer.ID]clientv3.LeaseID // each live peer's etcd lease
	// written is the revision of each live peer's last lease record, as
	// this tracker wrote or watched it.
	written map[peer.ID]int64
	rev     int64 // of the last load; the watch starts after it

	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// openEtcd connects to the cluster and reads (or makes) the fleet's ID.
// A peer's etcd lease lasts its tracker lease plus one flush interval,
// since keep-alives are sent at the flush after an announce.
func openEtcd(cfg *Etcd, lease, flush time.Duration, log *slog.Logger) (*etcdStore, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints, Username: cfg.Username, Password: cfg.Password, TLS: cfg.TLS,
		DialTimeout: etcdTimeout, Logger: zap.NewNop(),
		// The tracker never blocks on a lost connection: its calls time
		// out, and the janitor reports the store down.
		DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: etcdTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd store %s: %w", cfg, err)
	}
	s := &etcdStore{
		cli: cli, leaseC: pb.NewLeaseClient(cli.ActiveConnection()), cfg: cfg, pfx: cfg.prefix(),
		ttl: int64((lease+flush+time.Second-1)/time.Second) + 1, log: log,
		own: make(map[int64]struct{}), leases: make(map[peer.ID]clientv3.LeaseID), written: make(map[peer.ID]int64),
	}
	ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
	defer cancel()
	var raw [16]byte
	rand.Read(raw[:])
	key := s.pfx + keyFleet
	resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, hex.EncodeToString(raw[:]))).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd store %s: %w", cfg, err)
	}
	if resp.Succeeded {
		s.id = hex.EncodeToString(raw[:])
	} else if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		s.id = string(kvs[0].Value)
	}
	if err := discover.ValidateTrackerID(s.id); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd store %s: key %s: %w", cfg, key, err)
	}
	return s, nil
}

func (s *etcdStore) trackerID() string { return s.id }

func (s *etcdStore) String() string { return s.cfg.String() }

func (s *etcdStore) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	_, err := s.cli.Get(ctx, s.pfx+keyFleet)
	return err
}

func (s *etcdStore) close() error {
	if s.stopWatch != nil {
		s.stopWatch()
		<-s.watchDone
	}
	return s.cli.Close()
}

func manifestKey(id content.ID) string { return keyManifests + hex.EncodeToString(id[:]) }

func partKey(id content.ID, n int) string {
	return fmt.Sprintf("%s%x/%04d", keyParts, id[:], n)
}

func peerKeyOf(id peer.ID) string { return keyPeers + hex.EncodeToString(id[:]) }

func heldKeyOf(p peer.ID, c content.ID) string {
	return keyHeld + hex.EncodeToString(c[:]) + "/" + hex.EncodeToString(p[:])
}

// putManifest writes the parts, then the head if no tracker of the fleet
// has: the head's presence means the manifest is whole.
func (s *etcdStore) putManifest(id content.ID, body []byte, access *[32]byte) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
	defer cancel()
	parts := (len(body) + manifestPart - 1) / manifestPart
	for n := range parts {
		part := body[n*manifestPart : min(len(body), (n+1)*manifestPart)]
		if _, err := s.cli.Put(ctx, s.pfx+partKey(id, n), string(part)); err != nil {
			return false, fmt.Errorf("store manifest %s: %w", id, err)
		}
	}
	key := s.pfx + manifestKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(appendManifestHead(nil, len(body), parts, access)))).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return false, fmt.Errorf("store manifest %s: %w", id, err)
	}
	if resp.Succeeded {
		s.own[resp.Header.Revision] = struct{}{}
		return true, nil
	}
	// Another tracker of the fleet published it first: same bytes (the
	// key is their hash), but maybe other access.
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		h, err := decodeManifestHead(kvs[0].Value)
		if err == nil && (h.access == nil) == (access == nil) && (access == nil || *h.access == *access) {
			return false, nil
		}
	}
	return false, errAccessConflict
}

// manifest reads a manifest's parts and checks them against its ID.
func (s *etcdStore) manifest(id content.ID) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.pfx+manifestKey(id))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	body, _, err := s.manifestBody(ctx, id, resp.Kvs[0].Value, resp.Header.Revision)
	return body, err
}

// manifestBody reads the parts a head names, at revision rev.
func (s *etcdStore) manifestBody(ctx context.Context, id content.ID, head []byte, rev int64) ([]byte, *[32]byte, error) {
	h, err := decodeManifestHead(head)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: head: %w", id, err)
	}
	pfx := s.pfx + fmt.Sprintf("%s%x/", keyParts, id[:])
	resp, err := s.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest %s: %w", id, err)
	}
	if len(resp.Kvs) != h.parts {
		return nil, nil, fmt.Errorf("manifest %s: %d parts of %d", id, len(resp.Kvs), h.parts)
	}
	body := make([]byte, 0, h.size)
	for _, kv := range resp.Kvs {
		if len(body)+len(kv.Value) > h.size {
			return nil, nil, fmt.Errorf("manifest %s: parts longer than %d bytes", id, h.size)
		}
		body = append(body, kv.Value...)
	}
	if len(body) != h.size || sha256.Sum256(body) != id {
		return nil, nil, fmt.Errorf("manifest %s: parts do not hash to its ID", id)
	}
	return body, h.access, nil
}

// getAll reads every key under prefix at one revision, in pages.
func (s *etcdStore) getAll(ctx context.Context, prefix string, rev int64) ([]*mvccpb.KeyValue, int64, error) {
	var out []*mvccpb.KeyValue
	key, end := s.pfx+prefix, clientv3.GetPrefixRangeEnd(s.pfx+prefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, key, opts...)
		if err != nil {
			return nil, 0, err
		}
		rev = resp.Header.Revision
		out = append(out, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// load reads every record at one revision; the watch starts after it.
func (s *etcdStore) load() (*stored, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*etcdTimeout)
	defer cancel()
	out := &stored{manifests: make(map[content.ID]*content.Manifest), access: make(map[content.ID]*[32]byte),
		holdings: make(map[peer.ID][]trackerapi.ContentState)}
	heads, rev, err := s.getAll(ctx, keyManifests, 0)
	if err != nil {
		return nil, fmt.Errorf("load from etcd: %w", err)
	}
	for _, kv := range heads {
		id, err := s.contentIDOf(kv.Key, keyManifests)
		var body []byte
		var access *[32]byte
		if err == nil {
			body, access, err = s.manifestBody(ctx, id, kv.Value, rev)
		}
		var m *content.Manifest
		if err == nil {
			m, err = content.Decode(body)
		}
		if err != nil {
			out.skipped = append(out.skipped, fmt.Sprintf("manifest %s: %v", kv.Key, err))
			continue
		}
		out.manifests[id], out.access[id] = m, access
		if access == nil {
			delete(out.access, id)
		}
	}
	leases, _, err := s.getAll(ctx, keyPeers, rev)
	if err != nil {
		return nil, fmt.Errorf("load from etcd: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.leases)
	clear(s.written)
	for _, kv := range leases {
		id, err := s.peerIDOf(kv.Key)
		if err != nil {
			out.skipped = append(out.skipped, fmt.Sprintf("lease key %s: %v", kv.Key, err))
			continue
		}
		s.leases[id], s.written[id] = clientv3.LeaseID(kv.Lease), kv.ModRevision
		l, err := decodeLease(kv.Value)
		if err != nil {
			out.bad = append(out.bad, id)
			continue
		}
		l.peer = id
		out.leases = append(out.leases, l)
	}
	held, _, err := s.getAll(ctx, keyHeld, rev)
	if err != nil {
		return nil, fmt.Errorf("load from etcd: %w", err)
	}
	for _, kv := range held {
		ref, err := s.heldRefOf(kv.Key)
		if err != nil {
			out.skipped = append(out.skipped, fmt.Sprintf("holding key %s: %v", kv.Key, err))
			continue
		}
		h, err := decodeHolding(kv.Value)
		if err != nil {
			out.badHeld = append(out.badHeld, ref)
			continue
		}
		h.ID = ref.content
		out.holdings[ref.peer] = append(out.holdings[ref.peer], h)
	}
	s.rev = rev
	return out, nil
}

// hexBytes parses the lowercase hex of an n-byte ID.
func hexBytes(s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("not the hex of a %d-byte ID", n)
	}
	return b, nil
}

func (s *etcdStore) contentIDOf(key []byte, prefix string) (content.ID, error) {
	b, err := hexBytes(strings.TrimPrefix(string(key), s.pfx+prefix), len(content.ID{}))
	return content.ID(b), err
}

func (s *etcdStore) peerIDOf(key []byte) (peer.ID, error) {
	b, err := hexBytes(strings.TrimPrefix(string(key), s.pfx+keyPeers), len(peer.ID{}))
	return peer.ID(b), err
}

func (s *etcdStore) heldRefOf(key []byte) (heldRef, error) {
	c, p, ok := strings.Cut(strings.TrimPrefix(string(key), s.pfx+keyHeld), "/")
	if !ok {
		return heldRef{}, errors.New("want h/<content>/<peer>")
	}
	cid, err1 := hexBytes(c, len(content.ID{}))
	pid, err2 := hexBytes(p, len(peer.ID{}))
	if err := errors.Join(err1, err2); err != nil {
		return heldRef{}, err
	}
	return heldRef{peer: peer.ID(pid), content: content.ID(cid)}, nil
}
