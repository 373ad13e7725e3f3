package testtools

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
)

// kv calls etcd's JSON gateway (the v3 API over HTTP) at path with req
// and decodes the answer into resp.
func kv(t *testing.T, e *Etcd, path string, req, resp any) {
	t.Helper()
	body, _ := json.Marshal(req)
	r, err := http.Post(e.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", path, r.Status)
	}
	if err := json.NewDecoder(r.Body).Decode(resp); err != nil {
		t.Fatal(err)
	}
}

// TestEtcdKeepsDataAcrossRestarts: a key written before Stop is read
// back after Start, from the same data folder.
func TestEtcdKeepsDataAcrossRestarts(t *testing.T) {
	e := StartEtcd(t)
	b64 := base64.StdEncoding.EncodeToString
	var put struct{}
	kv(t, e, "/v3/kv/put", map[string]string{"key": b64([]byte("k")), "value": b64([]byte("v"))}, &put)
	e.Stop()
	if _, err := http.Get(e.URL + "/health"); err == nil {
		t.Fatal("etcd still answers after Stop")
	}
	e.Start()
	var got struct {
		Kvs []struct{ Value string }
	}
	kv(t, e, "/v3/kv/range", map[string]string{"key": b64([]byte("k"))}, &got)
	if len(got.Kvs) != 1 || got.Kvs[0].Value != b64([]byte("v")) {
		t.Fatalf("read back %+v, want the value written before the restart", got)
	}
}
