// Package control lets a command on the same machine ask a running node
// what it is doing. The node listens on a Unix socket in its data folder
// (SocketName), which only the folder's owner can reach (the folder is
// 0700, the socket 0600), and answers GET /status with a Status in JSON:
// `peerflow status` is its client. The desktop app also takes POST /open:
// a second start of the app (a peerflow:// link clicked in a browser)
// hands its link to the running one and exits. Nothing here listens on
// the network.
package control

import (
	"bytes"
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
	"strings"
	"sync/atomic"
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
	open atomic.Pointer[func(link string)]
}

// MaxLinkBytes bounds an open request's body: a link with a few tracker
// addresses and an origin URL is far below it.
const MaxLinkBytes = 64 << 10

// openRequest is the body of POST /open.
type openRequest struct {
	Link string `json:"link"` // "" only shows the window
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
	s := &Server{path: path, ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(status())
	})
	mux.HandleFunc("POST /open", s.serveOpen)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// SetOpen makes the server take POST /open, handing each link (or "")
// to fn, which must not block; nil stops it. Only the desktop app opens
// links (and says itself what is wrong with a bad one).
func (s *Server) SetOpen(fn func(link string)) {
	if fn == nil {
		s.open.Store(nil)
		return
	}
	s.open.Store(&fn)
}

func (s *Server) serveOpen(w http.ResponseWriter, r *http.Request) {
	fn := s.open.Load()
	if fn == nil {
		http.Error(w, ErrNoWindow.Error(), http.StatusNotImplemented)
		return
	}
	var req openRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLinkBytes))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		http.Error(w, "bad open request: "+err.Error(), http.StatusBadRequest)
		return
	}
	(*fn)(req.Link)
	w.WriteHeader(http.StatusNoContent)
}

// Close stops answering and removes the socket.
func (s *Server) Close() error {
	// Shutdown lets a request being answered finish (and a connection
	// closed after an oversize request linger out) so no goroutine
	// outlives Close; Close then ends whatever is left.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	err := s.srv.Close()
	<-s.done
	os.Remove(s.path)
	return err
}

// ErrNotRunning is returned by Ask and Open when no node runs on the
// data folder; ErrNoWindow by Open when one runs without a window (a
// terminal command).
var (
	ErrNotRunning = errors.New("no node is running on this data folder")
	ErrNoWindow   = errors.New("the node running on this data folder has no window (a terminal command runs it): stop it first")
)

// Ask returns the status of the node running on the data folder dir.
func Ask(ctx context.Context, dir string) (Status, error) {
	var st Status
	body, err := call(ctx, dir, http.MethodGet, "/status", nil, MaxStatusBytes)
	if err != nil {
		return Status{}, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("the node on %s answered: %w", dir, err)
	}
	return st, nil
}

// Open hands link ("" to only show the window) to the desktop app
// running on the data folder dir, which shows its window and offers to
// download the link.
func Open(ctx context.Context, dir, link string) error {
	req, err := json.Marshal(openRequest{Link: link})
	if err != nil {
		return err
	}
	_, err = call(ctx, dir, http.MethodPost, "/open", req, MaxStatusBytes)
	return err
}

// call makes one request to the control socket in dir and returns the
// answer's body, at most limit bytes.
func call(ctx context.Context, dir, method, path string, body []byte, limit int64) ([]byte, error) {
	sock := filepath.Join(dir, SocketName)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, "http://node"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: %w", dir, ErrNotRunning)
		}
		return nil, fmt.Errorf("ask the node on %s: %w", dir, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("ask the node on %s: %w", dir, err)
	}
	if int64(len(answer)) > limit {
		return nil, fmt.Errorf("the node on %s answered more than %d bytes", dir, limit)
	}
	switch {
	case resp.StatusCode == http.StatusNotImplemented:
		return nil, fmt.Errorf("%s: %w", dir, ErrNoWindow)
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("the node on %s: %s", dir, strings.TrimSpace(string(answer)))
	}
	return answer, nil
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
