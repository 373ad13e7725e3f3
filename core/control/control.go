// Package control lets a command on the same machine ask a running node
// what it is doing. The node listens on a Unix socket in its data folder
// (SocketName), which only the folder's owner can reach (the folder is
// 0700, the socket 0600), and answers GET /status with a Status in JSON.
// `peerflow status` is its client. Nothing here listens on the network.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// SocketName is the control socket's name in a node's data folder.
const SocketName = "peerflow.sock"

// MaxStatusBytes bounds a status answer a client reads: a node with
// thousands of downloads of a million chunks each stays far below it.
const MaxStatusBytes = 64 << 20

// Status is a snapshot of a running node.
type Status struct {
	Version string    `json:"version"`
	PeerID  string    `json:"peer_id"`
	Listen  string    `json:"listen"` // where it accepts peers
	Time    time.Time `json:"time"`   // when the snapshot was taken
	// Uploaded and Downloaded are bytes since the node started, over
	// every share and download.
	Uploaded   int64 `json:"uploaded"`
	Downloaded int64 `json:"downloaded"`
	// UpRate and DownRate are over the interval Sample took; 0 from Ask.
	UpRate    float64    `json:"up_rate"`
	DownRate  float64    `json:"down_rate"`
	Trackers  []Tracker  `json:"trackers"`
	Shares    []Share    `json:"shares"`
	Downloads []Download `json:"downloads"`
}

// Tracker is one tracker the node announces to.
type Tracker struct {
	Addr        string    `json:"addr"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"` // of the last call; "" if it succeeded
}

// Share is a complete content the node serves.
type Share struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Size     int64   `json:"size"`
	Path     string  `json:"path"`
	Uploaded int64   `json:"uploaded"`          // bytes sent to peers since the node started
	UpRate   float64 `json:"up_rate"`           // bytes/s; see Sample
	Peers    int     `json:"peers"`             // connected now
	Served   int     `json:"served"`            // distinct peers that got at least a chunk
	Problem  string  `json:"problem,omitempty"` // why it is not served, "" when all is well
}

// Download is a content the node is downloading.
type Download struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Size        int64   `json:"size"`
	Folder      string  `json:"folder"`
	State       string  `json:"state"`
	Chunks      int     `json:"chunks"`
	Done        int     `json:"done"`  // chunks verified
	Bytes       int64   `json:"bytes"` // bytes verified
	Rate        float64 `json:"rate"`  // bytes/s, recent average
	Uploaded    int64   `json:"uploaded"`
	UpRate      float64 `json:"up_rate"` // bytes/s; see Sample
	Peers       int     `json:"peers"`
	Unavailable int     `json:"unavailable"` // missing chunks no connected peer holds
	// Have is the bitfield of verified chunks (chunk i is bit 7-i%8 of
	// byte i/8), as in an announce; JSON carries it in base64.
	Have []byte `json:"have"`
	Err  string `json:"error,omitempty"`
}

// Server answers status requests on a node's control socket.
type Server struct {
	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Serve listens on the control socket in dir and answers each request
// with status(). The caller must hold the data folder (its store's lock):
// a socket left there by a node that died is then stale and replaced.
func Serve(dir string, status func() Status) (*Server, error) {
	path := filepath.Join(dir, SocketName)
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(status())
	})
	s := &Server{path: path, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops answering and removes the socket.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	os.Remove(s.path)
	return err
}

// ErrNotRunning is returned by Ask when no node runs on the data folder.
var ErrNotRunning = errors.New("no node is running on this data folder")

// Ask returns the status of the node running on the data folder dir.
func Ask(ctx context.Context, dir string) (Status, error) {
	path := filepath.Join(dir, SocketName)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://node/status", nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return Status{}, fmt.Errorf("%s: %w", dir, ErrNotRunning)
		}
		return Status{}, fmt.Errorf("ask the node on %s: %w", dir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("ask the node on %s: %s", dir, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxStatusBytes+1))
	if err != nil {
		return Status{}, fmt.Errorf("ask the node on %s: %w", dir, err)
	}
	if len(body) > MaxStatusBytes {
		return Status{}, fmt.Errorf("the node on %s answered more than %d bytes", dir, MaxStatusBytes)
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("the node on %s answered: %w", dir, err)
	}
	return st, nil
}

// Sample asks the node on dir twice, interval apart, and returns the
// second answer with the upload rates (and the node's download rate)
// over the interval filled in. With interval 0 it is Ask.
func Sample(ctx context.Context, dir string, interval time.Duration) (Status, error) {
	first, err := Ask(ctx, dir)
	if err != nil || interval <= 0 {
		return first, err
	}
	select {
	case <-ctx.Done():
		return Status{}, ctx.Err()
	case <-time.After(interval):
	}
	st, err := Ask(ctx, dir)
	if err != nil {
		return Status{}, err
	}
	secs := st.Time.Sub(first.Time).Seconds()
	if secs <= 0 {
		return st, nil
	}
	rate := func(now, then int64) float64 { return float64(max(now-then, 0)) / secs }
	st.UpRate, st.DownRate = rate(st.Uploaded, first.Uploaded), rate(st.Downloaded, first.Downloaded)
	upBefore := make(map[string]int64)
	for _, sh := range first.Shares {
		upBefore[sh.ID] = sh.Uploaded
	}
	for _, d := range first.Downloads {
		upBefore[d.ID] = d.Uploaded
	}
	for i, sh := range st.Shares {
		// A download that finished in between counts from where it was.
		st.Shares[i].UpRate = rate(sh.Uploaded, upBefore[sh.ID])
	}
	for i, d := range st.Downloads {
		st.Downloads[i].UpRate = rate(d.Uploaded, upBefore[d.ID])
	}
	return st, nil
}
