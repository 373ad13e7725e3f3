package tracker

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"peerflow/core/content"
	"peerflow/core/discover"
	"peerflow/core/peer"
	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

// Durability. bbolt fsyncs every transaction it commits (NoSync stays
// false); what differs is how often the tracker commits:
//
//   - A published manifest is committed, and so fsynced, in its own
//     transaction before the 201 answer: a publish the client saw succeed
//     survives any crash.
//   - Announces are soft state that every peer repeats each heartbeat. They
//     change memory only; a write-behind flush (the janitor, every
//     Config.FlushInterval, 1 s by default, and Close) commits what changed
//     since the last flush in one transaction: one fsync per flush instead
//     of one (~6 ms) per announce. What changed is counted in records: a
//     peer's lease, and one record per peer and content it holds, so an
//     announce that changes one content rewrites that content's record
//     only, never the peer's whole library. A kill -9 or a power cut loses at
//     most the announces of the last flush interval. That is harmless: each
//     of those peers announces again within one heartbeat (30 s), well
//     inside its lease (three heartbeats), and a peer re-sends its whole
//     state to a restarted tracker because the tracker asks it to
//     (AnnounceResponse.NeedFull).
//
// Buckets:
var (
	bucketMeta      = []byte("meta")      // keyTrackerID → tracker ID
	bucketManifests = []byte("manifests") // content ID (32 bytes) → canonical manifest
	bucketLeases    = []byte("leases")    // peer ID (16 bytes) → lease record
	bucketHeld      = []byte("held")      // peer ID ‖ content ID (48 bytes) → holding record
	bucketAccess    = []byte("access")    // content ID → SHA-256 of a private swarm's tracker key
	keyTrackerID    = []byte("tracker_id")
	// bucketOldHoldings (peer ID → every holding of the peer in one record)
	// is how trackers before per-content records stored holdings; it is
	// converted when the database is opened.
	bucketOldHoldings = []byte("holdings")
)

// heldKeyLen is the length of a key in bucketHeld.
const heldKeyLen = len(peer.ID{}) + len(content.ID{})

func heldKey(p peer.ID, c content.ID) []byte {
	return append(p[:len(p):len(p)], c[:]...)
}

// boltStore is the tracker's bbolt file: the embedded backend, what the
// desktop app's tracker and `peerflow tracker` use unless told otherwise.
type boltStore struct {
	db *bolt.DB
	id string // tracker ID
}

// openStore opens (or creates) the bbolt file at path and returns it with
// the tracker ID it holds, made on first use.
func openStore(path string) (*boltStore, error) {
	// The timeout turns a second tracker on the same file into an error
	// instead of a hang on bbolt's file lock.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open tracker database %s: in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open tracker database %s: %w", path, err)
	}
	s := &boltStore{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketManifests, bucketLeases, bucketHeld, bucketAccess} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := convertOldHoldings(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyTrackerID); v != nil {
			s.id = string(v)
			return discover.ValidateTrackerID(s.id)
		}
		var raw [16]byte
		rand.Read(raw[:])
		s.id = hex.EncodeToString(raw[:])
		return meta.Put(keyTrackerID, []byte(s.id))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open tracker database %s: %w", path, err)
	}
	return s, nil
}

func (s *boltStore) trackerID() string { return s.id }

func (s *boltStore) String() string { return "bbolt " + s.db.Path() }

// follow has nothing to follow: the file is this tracker's alone.
func (s *boltStore) follow(*state, func() time.Time) {}

// ping: a local file always answers; a failing disk shows in write.
func (s *boltStore) ping() error { return nil }

func (s *boltStore) close() error { return s.db.Close() }

// convertOldHoldings splits each record of bucketOldHoldings into one
// record per content, then deletes the old bucket. A record it cannot read
// is dropped: holdings are soft state that the peer sends again in full to
// a restarted tracker.
func convertOldHoldings(tx *bolt.Tx) error {
	old := tx.Bucket(bucketOldHoldings)
	if old == nil {
		return nil
	}
	held := tx.Bucket(bucketHeld)
	err := old.ForEach(func(k, v []byte) error {
		id, err := peerKey(k)
		if err != nil {
			return nil
		}
		hs, err := decodeOldHoldings(v)
		if err != nil {
			return nil
		}
		for _, h := range hs {
			if err := held.Put(heldKey(id, h.ID), appendHolding(nil, h)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("convert holdings: %w", err)
	}
	return tx.DeleteBucket(bucketOldHoldings)
}

// putManifest stores a canonical manifest durably (committed and fsynced
// when it returns), with the access of a private one, and reports whether
// it was new.
func (s *boltStore) putManifest(id content.ID, body []byte, access *[32]byte) (created bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketManifests)
		if b.Get(id[:]) != nil {
			if a := tx.Bucket(bucketAccess).Get(id[:]); (a == nil) != (access == nil) || (a != nil && !bytes.Equal(a, access[:])) {
				return errAccessConflict
			}
			return nil
		}
		created = true
		if access != nil {
			if err := tx.Bucket(bucketAccess).Put(id[:], access[:]); err != nil {
				return err
			}
		}
		return b.Put(id[:], body)
	})
	if err != nil {
		return false, fmt.Errorf("store manifest %s: %w", id, err)
	}
	return created, nil
}

// manifest returns the canonical encoding of content id, or nil.
func (s *boltStore) manifest(id content.ID) ([]byte, error) {
	var body []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		body = bytes.Clone(tx.Bucket(bucketManifests).Get(id[:]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", id, err)
	}
	return body, nil
}

// stored is the tracker's state as read from disk, before validation
// against the manifests.
type stored struct {
	manifests map[content.ID]*content.Manifest
	access    map[content.ID]*[32]byte // of private contents
	leases    []storedLease
	holdings  map[peer.ID][]trackerapi.ContentState
	bad       []peer.ID // peers with unreadable lease records, to delete
	badHeld   []heldRef // unreadable holding records, to delete
	skipped   []string  // records that failed to decode, for the log
}

// heldRef names one holding record: a peer and a content.
type heldRef struct {
	peer    peer.ID
	content content.ID
}

type storedLease struct {
	peer     peer.ID
	lastSeen time.Time
	addr     string
}

// load reads every record. A record that cannot be decoded is reported in
// bad or skipped rather than failing the start.
func (s *boltStore) load() (*stored, error) {
	out := &stored{manifests: make(map[content.ID]*content.Manifest), access: make(map[content.ID]*[32]byte),
		holdings: make(map[peer.ID][]trackerapi.ContentState)}
	err := s.db.View(func(tx *bolt.Tx) error {
		access := tx.Bucket(bucketAccess)
		err := tx.Bucket(bucketManifests).ForEach(func(k, v []byte) error {
			m, err := content.Decode(v)
			if err == nil && !bytes.Equal(k, sha256Of(v)) {
				err = errors.New("key is not the content ID")
			}
			a := access.Get(k)
			if err == nil && a != nil && len(a) != sha256.Size {
				err = fmt.Errorf("access record of %d bytes", len(a))
			}
			if err != nil {
				// Kept on disk for inspection, but not served.
				out.skipped = append(out.skipped, fmt.Sprintf("manifest %x: %v", k, err))
				return nil
			}
			out.manifests[content.ID(k)] = m
			if a != nil {
				out.access[content.ID(k)] = (*[32]byte)(bytes.Clone(a))
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketLeases).ForEach(func(k, v []byte) error {
			id, err := peerKey(k)
			if err != nil { // kept on disk for inspection, but not used
				out.skipped = append(out.skipped, fmt.Sprintf("lease key %x: %v", k, err))
				return nil
			}
			l, err := decodeLease(v)
			if err != nil {
				out.bad = append(out.bad, id)
				return nil
			}
			l.peer = id
			out.leases = append(out.leases, l)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketHeld).ForEach(func(k, v []byte) error {
			if len(k) != heldKeyLen { // kept on disk for inspection, but not used
				out.skipped = append(out.skipped, fmt.Sprintf("holding key %x: %d bytes", k, len(k)))
				return nil
			}
			ref := heldRef{peer: peer.ID(k), content: content.ID(k[len(peer.ID{}):])}
			h, err := decodeHolding(v)
			if err != nil {
				out.badHeld = append(out.badHeld, ref)
				return nil
			}
			h.ID = ref.content
			out.holdings[ref.peer] = append(out.holdings[ref.peer], h)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load tracker database: %w", err)
	}
	return out, nil
}

func sha256Of(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

func peerKey(k []byte) (peer.ID, error) {
	var id peer.ID
	if len(k) != len(id) {
		return id, fmt.Errorf("peer key of %d bytes", len(k))
	}
	copy(id[:], k)
	return id, nil
}

// peerSnapshot is what a flush writes of one peer, copied under the state
// lock and encoded outside it.
type peerSnapshot struct {
	id       peer.ID
	lease    bool // write the lease record: put it when live, else delete it
	live     bool
	addr     string
	lastSeen time.Time
	puts     []trackerapi.ContentState // holding records to put; Have unset
	haves    []*chunkset.Set           // Have of puts[i] still to encode; nil when complete
	deletes  []content.ID              // holding records to delete
}

// write commits a flush in one transaction.
func (s *boltStore) write(snaps []peerSnapshot) error {
	slices.SortFunc(snaps, func(a, b peerSnapshot) int { return bytes.Compare(a.id[:], b.id[:]) })
	err := s.db.Update(func(tx *bolt.Tx) error {
		leases, held := tx.Bucket(bucketLeases), tx.Bucket(bucketHeld)
		for i := range snaps {
			if err := snaps[i].write(leases, held); err != nil {
				return fmt.Errorf("peer %s: %w", snaps[i].id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("flush %d peers: %w", len(snaps), err)
	}
	return nil
}

func (p *peerSnapshot) write(leases, held *bolt.Bucket) error {
	switch {
	case p.lease && p.live:
		if err := leases.Put(p.id[:], appendLease(nil, p.lastSeen, p.addr)); err != nil {
			return err
		}
	case p.lease:
		if err := leases.Delete(p.id[:]); err != nil {
			return err
		}
	}
	for j, h := range p.puts {
		if have := p.haves[j]; have != nil {
			h.Have = have.Bytes()
		}
		if err := held.Put(heldKey(p.id, h.ID), appendHolding(nil, h)); err != nil {
			return err
		}
	}
	for _, id := range p.deletes {
		if err := held.Delete(heldKey(p.id, id)); err != nil {
			return err
		}
	}
	return nil
}

// Record layouts (integers big-endian or uvarint), each led by a version
// byte so a later tracker can read or skip older records:
//
//	lease:   0x01, int64 last announce (Unix ns), address bytes
//	holding: 0x01, flags (bit 0: complete), uvarint uploaded,
//	         uvarint downloaded, uvarint from origin, uvarint len,
//	         have bytes
//
// The old holdings record (bucketOldHoldings) was 0x01, uvarint count,
// then per content its 32-byte ID and a holding record without the
// version byte nor the from-origin counter.
const recordVersion = 1

// maxHaveLen bounds a stored bitfield: one bit per chunk.
const maxHaveLen = (content.MaxChunks + 7) / 8

var errRecord = errors.New("malformed tracker record")

func appendLease(b []byte, lastSeen time.Time, addr string) []byte {
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(lastSeen.UnixNano()))
	return append(b, addr...)
}

func decodeLease(b []byte) (storedLease, error) {
	if len(b) < 9 || b[0] != recordVersion {
		return storedLease{}, errRecord
	}
	l := storedLease{
		lastSeen: time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))),
		addr:     string(b[9:]),
	}
	if len(l.addr) > maxAddrLen || content.ValidateAddr(l.addr) != nil {
		return storedLease{}, fmt.Errorf("%w: address", errRecord)
	}
	return l, nil
}

// appendHolding encodes h without its content ID, which is in the key.
func appendHolding(b []byte, h trackerapi.ContentState) []byte {
	b = append(b, recordVersion)
	return appendHoldingFields(b, h, true)
}

// appendHoldingFields encodes h's fields; the old per-peer records lack
// the from-origin counter.
func appendHoldingFields(b []byte, h trackerapi.ContentState, fromOrigin bool) []byte {
	var flags byte
	if h.Complete {
		flags = 1
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(h.Uploaded))
	b = binary.AppendUvarint(b, uint64(h.Downloaded))
	if fromOrigin {
		b = binary.AppendUvarint(b, uint64(h.FromOrigin))
	}
	b = binary.AppendUvarint(b, uint64(len(h.Have)))
	return append(b, h.Have...)
}

// decodeHolding parses a holding record; every length is checked against
// its bound and the bytes left before it is used. The ID is left unset.
func decodeHolding(b []byte) (trackerapi.ContentState, error) {
	if len(b) < 1 || b[0] != recordVersion {
		return trackerapi.ContentState{}, errRecord
	}
	b = b[1:]
	h, err := readHoldingFields(&b, true)
	if err == nil && len(b) != 0 {
		err = fmt.Errorf("%w: %d trailing bytes", errRecord, len(b))
	}
	return h, err
}

// minHoldingFields is the shortest encoding of a holding's fields: flags
// and three one-byte uvarints.
const minHoldingFields = 4

func readHoldingFields(b *[]byte, fromOrigin bool) (trackerapi.ContentState, error) {
	var h trackerapi.ContentState
	if len(*b) < minHoldingFields {
		return h, fmt.Errorf("%w: truncated", errRecord)
	}
	flags := (*b)[0]
	*b = (*b)[1:]
	if flags > 1 {
		return h, fmt.Errorf("%w: flags %#x", errRecord, flags)
	}
	h.Complete = flags == 1
	up, err1 := readUvarint(b, 1<<63-1)
	down, err2 := readUvarint(b, 1<<63-1)
	var origin uint64
	var err3 error
	if fromOrigin {
		origin, err3 = readUvarint(b, down)
	}
	l, err4 := readUvarint(b, maxHaveLen)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return h, err
	}
	h.FromOrigin = int64(origin)
	if l > uint64(len(*b)) {
		return h, fmt.Errorf("%w: truncated bitfield", errRecord)
	}
	h.Uploaded, h.Downloaded = int64(up), int64(down)
	if l > 0 {
		h.Have = bytes.Clone((*b)[:l])
	}
	*b = (*b)[l:]
	return h, nil
}

// decodeOldHoldings parses a record of bucketOldHoldings.
func decodeOldHoldings(b []byte) ([]trackerapi.ContentState, error) {
	if len(b) < 1 || b[0] != recordVersion {
		return nil, errRecord
	}
	b = b[1:]
	n, err := readUvarint(&b, trackerapi.MaxContentsPerPeer)
	if err != nil {
		return nil, err
	}
	const minEntry = sha256.Size + minHoldingFields
	if n > uint64(len(b)/minEntry) {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errRecord, n, len(b))
	}
	hs := make([]trackerapi.ContentState, n)
	for i := range hs {
		if len(b) < sha256.Size {
			return nil, fmt.Errorf("%w: truncated", errRecord)
		}
		id := content.ID(b)
		b = b[sha256.Size:]
		if hs[i], err = readHoldingFields(&b, false); err != nil {
			return nil, err
		}
		hs[i].ID = id
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errRecord, len(b))
	}
	return hs, nil
}

// readUvarint reads a uvarint of at most limit from *b and advances it.
func readUvarint(b *[]byte, limit uint64) (uint64, error) {
	v, k := binary.Uvarint(*b)
	if k <= 0 || v > limit {
		return 0, fmt.Errorf("%w: bad number", errRecord)
	}
	*b = (*b)[k:]
	return v, nil
}
