package testtools

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Etcd is an etcd server (Debian's etcd-server package) that a test
// started on free ports of 127.0.0.1, with its data in a temporary
// folder. It is stopped when the test ends; Stop and Start take it down
// and up again on the same ports and data, as an outage would.
type Etcd struct {
	URL string // the client URL, http://127.0.0.1:PORT (https:// with TLS)
	// With TLS (StartEtcdTLS): the PEM files of the CA that signed the
	// server's certificate and the client's, and the client's certificate
	// and key; etcd asks every client for a certificate of that CA.
	CAFile, CertFile, KeyFile string

	t          testing.TB
	bin, dir   string
	clientAddr string
	peerAddr   string
	cmd        *exec.Cmd
	exited     chan struct{}
}

// StartEtcd starts an etcd server and returns once it answers.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	return startEtcd(t, false)
}

// StartEtcdTLS starts an etcd server that clients reach over TLS only,
// with a certificate of a CA made for the test (see Etcd.CAFile).
func StartEtcdTLS(t testing.TB) *Etcd {
	t.Helper()
	return startEtcd(t, true)
}

func startEtcd(t testing.TB, withTLS bool) *Etcd {
	t.Helper()
	e := &Etcd{t: t, bin: Require(t, "etcd")[0], dir: filepath.Join(t.TempDir(), "etcd"), clientAddr: freeAddr(t), peerAddr: freeAddr(t)}
	e.URL = "http://" + e.clientAddr
	if withTLS {
		e.URL = "https://" + e.clientAddr
		e.CAFile, e.CertFile, e.KeyFile = makeCerts(t, filepath.Dir(e.dir))
	}
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

// makeCerts writes a CA, a certificate for 127.0.0.1 (the server's and
// the client's both: one is enough for a test) and its key into dir.
func makeCerts(t testing.TB, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peerflow test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "peerflow-test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caTmpl, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, kind string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// httpClient is a client of e's HTTP endpoints (/health).
func (e *Etcd) httpClient() *http.Client {
	c := &http.Client{Timeout: time.Second}
	if e.CAFile == "" {
		return c
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(e.CAFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		e.t.Fatalf("read %s: %v", e.CAFile, err)
	}
	pair, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}
	return c
}

// freeAddr is a loopback address with a port that was free just now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts the server (again) and waits until it reports healthy.
func (e *Etcd) Start() {
	e.t.Helper()
	if e.cmd != nil {
		e.t.Fatal("etcd is running already")
	}
	peer := "http://" + e.peerAddr
	args := []string{"--name", "test", "--data-dir", e.dir, "--logger", "zap", "--log-level", "error",
		"--listen-client-urls", e.URL, "--advertise-client-urls", e.URL,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "test=" + peer}
	if e.CAFile != "" {
		args = append(args, "--cert-file", e.CertFile, "--key-file", e.KeyFile, "--trusted-ca-file", e.CAFile, "--client-cert-auth")
	}
	cmd := exec.Command(e.bin, args...)
	log, err := os.Create(filepath.Join(filepath.Dir(e.dir), "etcd.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(e.exited) }()
	client := e.httpClient()
	for range 500 { // up to 10 s; it takes under 1 s here
		select {
		case <-e.exited:
			e.cmd = nil
			e.t.Fatalf("etcd exited at start (its log: %s)", log.Name())
		default:
		}
		if resp, err := client.Get(e.URL + "/health"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"true"`) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.Stop()
	e.t.Fatalf("etcd did not become healthy within 10 s (its log: %s)", log.Name())
}

// Stop stops the server, as SIGTERM does (SIGKILL after 10 s), and waits
// until it has exited. Stopping a stopped server does nothing.
func (e *Etcd) Stop() {
	if e.cmd == nil {
		return
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		e.cmd.Process.Kill()
		<-e.exited
	}
	e.cmd = nil
}
