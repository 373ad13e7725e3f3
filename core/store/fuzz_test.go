package store

import (
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// FuzzStoredEntry writes a damaged library record and manifest into the
// database, as a disk fault or an older build could leave them, and reads
// the library back: Get and Entries must refuse what the node cannot act
// on, never panic, and agree with each other.
func FuzzStoredEntry(f *testing.F) {
	dir := f.TempDir()
	path, _, m := sample(f, dir, 3*testChunk+5)
	fi, err := os.Stat(path)
	if err != nil {
		f.Fatal(err)
	}
	share := ShareEntry(m, path, fi)
	download := downloadEntry(m, dir)
	for _, e := range []Entry{share, download} {
		v, err := marshalEntry(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v, m.Encode())
	}
	// Found by this target: a manifest filed under another content's ID.
	_, _, other := sample(f, f.TempDir(), 2*testChunk)
	v, err := marshalEntry(share)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v, other.Encode())
	f.Add([]byte(`{"id":"`+m.ID().String()+`","kind":"share"}`), m.Encode())
	f.Add([]byte(`{"id":"`+m.ID().String()+`","kind":"seed","path":"/x"}`), []byte{})

	s := openStore(f, f.TempDir())
	defer s.Close()
	s.db.NoSync = true // the records are thrown away: no need to wait on the disk
	id := m.ID()
	f.Fuzz(func(t *testing.T, record, manifest []byte) {
		err := s.db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketLibrary).Put(id[:], record); err != nil {
				return err
			}
			return tx.Bucket(bucketManifests).Put(id[:], manifest)
		})
		if err != nil {
			t.Fatal(err)
		}
		e, getErr := s.Get(id)
		all, err := s.Entries()
		if err != nil {
			t.Fatalf("Entries: %v", err)
		}
		if getErr != nil {
			if len(all) != 0 {
				t.Fatalf("Get refused the entry (%v) but Entries lists it", getErr)
			}
			return
		}
		if len(all) != 1 || all[0].ID != id {
			t.Fatalf("Get accepted the entry, Entries lists %d", len(all))
		}
		if e.ID != id || e.Manifest == nil || e.Manifest.ID() != id {
			t.Fatalf("entry under %s has ID %s and a manifest for another content", id.Short(), e.ID.Short())
		}
		switch e.Kind {
		case KindShare:
			if e.Path == "" {
				t.Fatal("a share without a path was accepted")
			}
		case KindDownload:
			if e.Path == "" && e.Folder == "" {
				t.Fatal("a download without a folder was accepted")
			}
		default:
			t.Fatalf("kind %q accepted", e.Kind)
		}
	})
}
