// Package gateway serves the contents of a node's library over HTTP on
// the local machine, for any media player or browser:
//
//	GET|HEAD /c/<content-id>
//	GET|HEAD /c/<content-id>/<name>
//	GET|HEAD /c/<content-id>/<path>   a file of a folder content
//
// (the second names the file, which players use to guess its type; a
// folder content's own URL lists its files, linked by relative paths, so
// an HLS playlist finds its segments). It
// answers with Content-Type (from the name), Content-Length,
// Accept-Ranges, ETag (the content ID) and Last-Modified; single and
// multiple Range requests (206, multipart/byteranges for several), 416
// for an unsatisfiable range, If-Range and the other conditional headers,
// as net/http's ServeContent does.
//
// A content still downloading streams: a read of bytes not here yet
// makes the download fetch in order from there and waits for them (see
// core.Reader); only verified bytes go out. A client that goes away
// drops its wait.
//
// The gateway listens only on loopback and answers only requests from
// this machine whose Host names a loopback address or localhost, so a web
// page cannot reach it through a DNS name it rebinds to 127.0.0.1.
package gateway

import (
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"peerflow/core"
	"peerflow/core/content"
)

// Gateway is an HTTP server of one node's contents.
type Gateway struct {
	n   *core.Node
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen starts serving n's contents on addr (host:port; "" is
// 127.0.0.1:0, a free port on loopback).
func Listen(n *core.Node, addr string, log *slog.Logger) (*Gateway, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// The gateway serves the whole library, private contents too, to
	// whoever asks: only this machine may.
	if host, _, err := net.SplitHostPort(addr); err != nil || !loopbackHost(host) {
		return nil, fmt.Errorf("gateway: %q is not a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", addr)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", addr, err)
	}
	g := &Gateway{n: n, ln: ln, log: log}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go g.srv.Serve(ln)
	return g, nil
}

// Addr is where the gateway listens.
func (g *Gateway) Addr() net.Addr { return g.ln.Addr() }

// URL is the address of content m on the gateway for a player: a file's
// ends with its name, so that players can tell its type; a folder's is
// that of its playlist (an .m3u8 or .mpd at its top), or of the list of
// its files.
func (g *Gateway) URL(m *content.Manifest) string {
	name := m.Name
	if m.Files != nil {
		name = ""
		for _, f := range m.Files {
			if ext := path.Ext(f.Path); !strings.Contains(f.Path, "/") && (ext == ".m3u8" || ext == ".mpd") {
				name = f.Path
				break
			}
		}
	}
	u := url.URL{Scheme: "http", Host: g.ln.Addr().String(), Path: "/c/" + m.ID().String() + "/" + name}
	return u.String()
}

// Close stops the gateway; requests under way are cut.
func (g *Gateway) Close() error { return g.srv.Close() }

// ServeHTTP answers one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err != nil || !loopbackHost(host) {
		http.Error(w, "this gateway answers only this machine", http.StatusForbidden)
		return
	}
	if !loopbackHost(r.Host) {
		http.Error(w, "this gateway answers only requests for a loopback address or localhost", http.StatusMisdirectedRequest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/c/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	idText, name, _ := strings.Cut(rest, "/")
	id, err := content.ParseID(idText)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rd, err := g.n.OpenContent(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	defer rd.Close()
	m := rd.Manifest()
	h := w.Header()
	h.Set("Cache-Control", "no-cache") // a download's bytes are the content's, but let players revalidate
	if m.Files == nil {
		if name != "" && name != m.Name {
			http.Error(w, fmt.Sprintf("content %s is %q, not %q", id.Short(), m.Name, name), http.StatusNotFound)
			return
		}
		h.Set("Content-Type", contentType(m.Name))
		h.Set("ETag", `"`+id.String()+`"`)
		http.ServeContent(w, r, m.Name, m.Created, rd)
		return
	}
	// A folder: each file by its path, the folder itself as a list.
	if name == "" {
		serveIndex(w, r, id, m)
		return
	}
	i := m.FindFile(name)
	if i < 0 {
		http.Error(w, fmt.Sprintf("content %s (%s) has no file %q", id.Short(), m.Name, name), http.StatusNotFound)
		return
	}
	off, size := m.FileSpan(i)
	h.Set("Content-Type", contentType(name))
	h.Set("ETag", fmt.Sprintf(`"%s/%d"`, id, i))
	http.ServeContent(w, r, path.Base(name), m.Created, io.NewSectionReader(rd, off, size))
}

// serveIndex answers a folder content's own URL with a list of links to
// its files.
func serveIndex(w http.ResponseWriter, r *http.Request, id content.ID, m *content.Manifest) {
	if !strings.HasSuffix(r.URL.Path, "/") { // relative links need the slash
		http.Redirect(w, r, "/c/"+id.String()+"/", http.StatusMovedPermanently)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><ul>\n", html.EscapeString(m.Name), html.EscapeString(m.Name))
	for _, f := range m.Files {
		u := url.URL{Path: f.Path}
		fmt.Fprintf(w, "<li><a href=\"%s\">%s</a> (%d bytes)\n", html.EscapeString(u.String()), html.EscapeString(f.Path), f.Size)
	}
	fmt.Fprint(w, "</ul>\n")
}

// statusOf is the HTTP status for an error of opening or reading a
// content.
func statusOf(err error) int {
	switch {
	case errors.Is(err, core.ErrNotHere):
		return http.StatusNotFound
	case errors.Is(err, core.ErrPaused):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// mediaTypes are the types of the files players stream, which the OS's
// table (mime.TypeByExtension) may lack: a fresh machine has none.
var mediaTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/mp4", ".mkv": "video/x-matroska", ".webm": "video/webm",
	".mov": "video/quicktime", ".ts": "video/mp2t", ".m4s": "video/iso.segment",
	".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
	".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".ogg": "audio/ogg",
	".opus": "audio/ogg", ".flac": "audio/flac", ".wav": "audio/wav",
	".vtt": "text/vtt", ".srt": "application/x-subrip",
}

// contentType is the type of a file by its name; an unknown one is
// application/octet-stream, not sniffed (that would wait for the first
// chunk).
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := mediaTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// loopbackHost reports whether a Host header names this machine: a
// loopback IP or localhost, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
