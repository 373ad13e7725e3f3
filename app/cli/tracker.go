package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"peerflow/core"
	"peerflow/tracker"
)

// trackerStarted is what tracker --json prints once it serves.
type trackerStarted struct {
	TrackerID string   `json:"tracker_id"`
	Listen    string   `json:"listen"`
	Addresses []string `json:"addresses"` // where it can be reached, best first
	Store     string   `json:"store"`
	MDNS      bool     `json:"mdns"` // advertised on the LAN
}

// runTracker runs 'peerflow tracker' until interrupted; then it flushes
// its state and exits with ExitInterrupted.
func runTracker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	defaultDB := "<user config folder>/peerflow/tracker.db"
	if dir, err := os.UserConfigDir(); err == nil {
		defaultDB = filepath.Join(dir, "peerflow", "tracker.db")
	}
	fs := newFlags("tracker", "tracker [--listen ADDR] [--db FILE | --store etcd://HOST:PORT[,HOST:PORT...][/PREFIX]] [--token T] [--no-mdns] [--json]",
		"Runs a tracker: peers announce to it which chunks they hold, and ask it who\nholds the chunks they need. Manifests, peers and leases are kept in a\ndatabase file and survive restarts; with --store, in an etcd cluster shared\nby any number of trackers (a fleet: each sees what was announced to the\nothers). Stop it with Ctrl-C.", stderr)
	listen := addrFlag("0.0.0.0:7070")
	fs.Var(&listen, "listen", "`ADDR` (host:port) to serve the tracker API on; port 0 picks a free one")
	db := fs.String("db", defaultDB, "database `FILE`; created if missing")
	storeURL := fs.String("store", "", "keep the records in the etcd cluster at `URL` (etcd://[USER@]HOST:PORT[,HOST:PORT...][/PREFIX]; etcds:// for TLS) instead of --db; the password comes from $PEERFLOW_ETCD_PASSWORD")
	etcdCA := fs.String("etcd-ca", "", "with --store: verify the etcd members' certificates against the CA in `FILE` (implies TLS)")
	etcdCert := fs.String("etcd-cert", "", "with --store: client certificate `FILE` for etcd (implies TLS; needs --etcd-key)")
	etcdKey := fs.String("etcd-key", "", "with --store: the client certificate's key `FILE`")
	token := fs.String("token", "", "require this `T`oken to publish manifests (announcing and reading stay open)")
	noMDNS := fs.Bool("no-mdns", false, "do not advertise the tracker on the LAN over mDNS")
	trustForwarded := fs.Bool("trust-forwarded", false, "behind a reverse proxy: list peers at the address in the last X-Forwarded-For entry (never set it for a tracker reached directly)")
	asJSON := fs.Bool("json", false, "print one JSON object (tracker_id, listen, store, mdns) on stdout once it serves, instead of text")
	verbose := fs.Bool("v", false, "log more")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return usageError(fs, stderr, "unexpected argument %q (it takes only flags)", pos[0])
	}
	cfg := tracker.Config{DB: *db, Token: *token, Version: core.Version, Logger: newLogger(stderr, *verbose),
		TrustForwarded: *trustForwarded}
	if *storeURL != "" {
		if cfg.Etcd, err = etcdStore(*storeURL, *etcdCA, *etcdCert, *etcdKey); err != nil {
			return usageError(fs, stderr, "%v", err)
		}
	} else if *etcdCA != "" || *etcdCert != "" || *etcdKey != "" {
		return usageError(fs, stderr, "--etcd-ca, --etcd-cert and --etcd-key go with --store")
	} else if *db == defaultDB {
		if err := os.MkdirAll(filepath.Dir(*db), 0o700); err != nil {
			fmt.Fprintf(stderr, "peerflow tracker: %v (choose a database file with --db)\n", err)
			return ExitFailure
		}
	}
	h, err := tracker.Host(tracker.HostConfig{
		Config:    cfg,
		Listen:    string(listen),
		Advertise: !*noMDNS,
	})
	if err != nil {
		fmt.Fprintf(stderr, "peerflow tracker: %v\n", err)
		return ExitFailure
	}
	var addrs, described []string
	for _, a := range h.Addresses() {
		addrs = append(addrs, a.Addr)
		where := a.Scope.String()
		if a.Interface != "" {
			where += ", " + a.Interface
		}
		described = append(described, fmt.Sprintf("%s (%s)", a.Addr, where))
	}
	if *asJSON {
		printJSON(stdout, false, trackerStarted{TrackerID: h.ID(), Listen: h.Addr().String(), Addresses: addrs, Store: h.Store(), MDNS: h.Advertised()})
	} else {
		fmt.Fprintf(stdout, "tracker %s listening on %s\nreachable at %s\nstore: %s\n", h.ID(), h.Addr(), strings.Join(described, ", "), h.Store())
		if h.Advertised() {
			fmt.Fprintln(stdout, "advertising on the LAN over mDNS (_peerflow._tcp)")
		}
	}
	select {
	case <-ctx.Done():
		if err := h.Stop(); err != nil {
			fmt.Fprintf(stderr, "peerflow tracker: %v\n", err)
			return ExitFailure
		}
		return ExitInterrupted
	case <-h.Done():
		fmt.Fprintf(stderr, "peerflow tracker: %v\n", h.Err())
		return ExitFailure
	}
}

// etcdStore reads --store and the TLS flags that go with it.
func etcdStore(url, ca, cert, key string) (*tracker.Etcd, error) {
	e, err := tracker.ParseEtcdURL(url)
	if err != nil {
		return nil, err
	}
	if e.Username != "" && e.Password == "" {
		e.Password = os.Getenv("PEERFLOW_ETCD_PASSWORD")
	}
	if ca == "" && cert == "" && key == "" {
		return e, nil
	}
	if e.TLS, err = etcdTLS(ca, cert, key); err != nil {
		return nil, err
	}
	return e, nil
}

// etcdTLS is the TLS configuration of --etcd-ca, --etcd-cert and
// --etcd-key.
func etcdTLS(ca, cert, key string) (*tls.Config, error) {
	if (cert == "") != (key == "") {
		return nil, errors.New("--etcd-cert and --etcd-key go together")
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-ca: no PEM certificate in %s", ca)
		}
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}
