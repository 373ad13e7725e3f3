package tracker

import (
	"context"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"peerflow/core/testtools"
)

// The contract tests (those that call eachStore) run against both
// backends: the same test, once on a bbolt file and once on a real etcd
// (Debian's etcd-server, started on loopback for the test).

// store is the backend of one run of a contract test.
type store struct {
	db   string // bbolt file
	etcd *Etcd
	e    *testtools.Etcd // the server behind etcd
}

// cfg returns c with the store set; every call of one run names the same
// store, so a tracker opened again finds what the last one kept.
func (s store) cfg(c Config) Config {
	c.DB, c.Etcd = s.db, s.etcd
	return c
}

// eachStore runs f against a fresh bbolt file, then against a fresh etcd.
func eachStore(t *testing.T, f func(t *testing.T, st store)) {
	t.Run("bbolt", func(t *testing.T) { f(t, store{db: t.TempDir() + "/t.db"}) })
	t.Run("etcd", func(t *testing.T) { f(t, etcdStoreOf(testtools.StartEtcd(t))) })
}

func etcdStoreOf(e *testtools.Etcd) store {
	return store{etcd: &Etcd{Endpoints: []string{strings.TrimPrefix(e.URL, "http://")}, Prefix: "test/"}, e: e}
}

// peerRecords counts the lease and holding records in the store of s.
func peerRecords(t *testing.T, s *Server) int {
	t.Helper()
	switch st := s.store.(type) {
	case *boltStore:
		n := 0
		err := st.db.View(func(tx *bolt.Tx) error {
			n = tx.Bucket(bucketLeases).Stats().KeyN + tx.Bucket(bucketHeld).Stats().KeyN
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	case *etcdStore:
		return etcdKeys(t, st.cfg, keyPeers) + etcdKeys(t, st.cfg, keyHeld)
	}
	t.Fatalf("store %T", s.store)
	return 0
}

// etcdKeys counts the keys under prefix, through a client of its own.
func etcdKeys(t *testing.T, e *Etcd, prefix string) int {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, e.prefix()+prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return int(resp.Count)
}
