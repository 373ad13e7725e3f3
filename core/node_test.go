package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"peerflow/core"
	"peerflow/core/content"
	"peerflow/core/coretest"
	"peerflow/core/trackerapi"
)

func openNode(t testing.TB, dir string, opts core.Options) *core.Node {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	n, err := core.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func randomFile(t testing.TB, dir, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 3))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func waitDownload(t testing.TB, d *core.Download) core.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := d.Wait(ctx)
	if err != nil {
		t.Fatalf("download: %v (%+v)", err, d.Progress())
	}
	return r
}

func TestShareAndDownloadThroughTracker(t *testing.T) {
	tr := coretest.Tracker(t)
	path, data := randomFile(t, t.TempDir(), "talk.webm", 3<<20+1234)
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}})
	shared, err := seeder.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(shared.Link.Trackers) != 1 || shared.Link.Trackers[0] != tr || shared.Link.Name != "talk.webm" {
		t.Fatalf("link %s does not name the tracker and the file", shared.Link)
	}

	// The downloader knows nothing but the link.
	leech := openNode(t, t.TempDir(), core.Options{})
	folder := t.TempDir()
	d, err := leech.Download(context.Background(), shared.Link.String(), folder)
	if err != nil {
		t.Fatal(err)
	}
	r := waitDownload(t, d)
	got, err := os.ReadFile(r.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
	if filepath.Dir(r.Path) != folder || filepath.Base(r.Path) != "talk.webm" {
		t.Errorf("downloaded to %s", r.Path)
	}
	items, err := leech.Library()
	if err != nil || len(items) != 1 || !items[0].Complete || items[0].Path != r.Path {
		t.Fatalf("library after download: %+v, %v", items, err)
	}
	if st := seeder.Stats(); st.Uploaded < int64(len(data)) || st.PeersServed != 1 {
		t.Errorf("seeder stats %+v", st)
	}
	// Downloading it again names the file that is already there.
	if _, err := leech.Download(context.Background(), shared.Link.String(), folder); err == nil || !strings.Contains(err.Error(), "already here") {
		t.Errorf("second download: %v", err)
	}
}

func TestUserErrors(t *testing.T) {
	tr := coretest.Tracker(t)
	n := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}})
	ctx := context.Background()
	if _, err := n.Share(ctx, t.TempDir(), core.ShareOptions{}); !errors.Is(err, core.ErrIsFolder) {
		t.Errorf("share a folder: %v", err)
	}
	if _, err := n.Share(ctx, filepath.Join(t.TempDir(), "nope"), core.ShareOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("share a missing file: %v", err)
	}
	unknown := strings.Repeat("a", 52)
	if _, err := n.Download(ctx, unknown, t.TempDir()); !errors.Is(err, core.ErrUnknownContent) {
		t.Errorf("unknown content: %v", err)
	}
	if _, err := n.Download(ctx, "peerflow://garbage", t.TempDir()); err == nil {
		t.Error("bad link accepted")
	}
	if _, err := n.Download(ctx, unknown, filepath.Join(t.TempDir(), "missing")); !errors.Is(err, core.ErrNoFolder) {
		t.Errorf("missing folder: %v", err)
	}
}

// TestLinkTrackersHearOnlyTheirContents: a node that downloads one
// content through a link naming tracker 1 and another through a link
// naming tracker 2 tells each tracker only of the content that came from
// it, and neither of its own shares: they are trackers of other people.
func TestLinkTrackersHearOnlyTheirContents(t *testing.T) {
	t1, t2 := coretest.Tracker(t), coretest.Tracker(t)
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{t1, t2}})
	dir := t.TempDir()
	share := func(n *core.Node, name string) core.Shared {
		path, _ := randomFile(t, dir, name, 200<<10+len(name))
		sh, err := n.Share(context.Background(), path, core.ShareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sh
	}
	one, two := share(seeder, "one.bin"), share(seeder, "two.bin")
	linkOne, linkTwo := one.Link, two.Link
	linkOne.Trackers, linkTwo.Trackers = []string{t1}, []string{t2}

	leech := openNode(t, t.TempDir(), core.Options{})
	for _, l := range []content.Link{linkOne, linkTwo} {
		d, err := leech.Download(context.Background(), l.String(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		waitDownload(t, d)
	}
	// Sharing announces to every tracker before it returns: after it,
	// each tracker has all the leech will tell it.
	own := share(leech, "mine.bin")
	for _, tc := range []struct {
		tracker string
		m       *content.Manifest
		listed  bool
	}{{t1, one.Manifest, true}, {t1, two.Manifest, false}, {t2, one.Manifest, false}, {t2, two.Manifest, true}} {
		c, err := trackerapi.NewClient(tc.tracker, trackerapi.ClientOptions{Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseIdleConnections()
		hs, err := c.Holders(context.Background(), tc.m, seeder.PeerID())
		if err != nil {
			t.Fatal(err)
		}
		listed := len(hs) == 1 && hs[0].Peer == leech.PeerID()
		if listed != tc.listed || len(hs) > 1 {
			t.Errorf("tracker %s lists %+v for %s; want the leech listed: %v", tc.tracker, hs, tc.m.Name, tc.listed)
		}
		if _, err := c.Manifest(context.Background(), own.Manifest.ID()); !trackerapi.IsNotFound(err) {
			t.Errorf("tracker %s got the leech's own share: %v", tc.tracker, err)
		}
	}
}

// TestPrivateShare: a private share's link carries its secret; with the
// link a node downloads it, without the secret a node learns nothing of it
// from the tracker, and the tracker lists it to nobody.
func TestPrivateShare(t *testing.T) {
	tr := coretest.Tracker(t)
	path, data := randomFile(t, t.TempDir(), "family.mkv", 1<<20+77)
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}})
	sh, err := seeder.Share(context.Background(), path, core.ShareOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Link.Secret == nil || !strings.Contains(sh.Link.String(), "s="+sh.Link.Secret.String()) {
		t.Fatalf("the link %s carries no secret", sh.Link)
	}
	if again, err := seeder.Link(sh.Manifest.ID()); err != nil || again.String() != sh.Link.String() {
		t.Fatalf("the library's link %s (%v) differs from %s", again, err, sh.Link)
	}
	list, err := seeder.Network(context.Background(), "", 0, 10)
	if err != nil || list.Total != 0 {
		t.Fatalf("the tracker lists %+v (%v)", list, err)
	}

	bare := sh.Link
	bare.Secret = nil
	outsider := openNode(t, t.TempDir(), core.Options{})
	if _, err := outsider.Download(context.Background(), bare.String(), t.TempDir()); !errors.Is(err, core.ErrUnknownContent) {
		t.Fatalf("the link without its secret: %v, want ErrUnknownContent", err)
	}

	dir := t.TempDir()
	leech := openNode(t, dir, core.Options{})
	d, err := leech.Download(context.Background(), sh.Link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := waitDownload(t, d)
	if got, err := os.ReadFile(r.Path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
	leech.Close()
	leech = openNode(t, dir, core.Options{})
	if l, err := leech.Link(sh.Manifest.ID()); err != nil || l.Secret == nil || *l.Secret != *sh.Link.Secret {
		t.Errorf("after a restart, the leech's link %s (%v) lost the secret", l, err)
	}
}

// TestShareKeepsPrivacy: sharing a private file again keeps its secret
// (the CLI shares again at every start); a public one cannot be made
// private; a link with a made-up secret for a content shared here
// changes nothing of it.
func TestShareKeepsPrivacy(t *testing.T) {
	tr := coretest.Tracker(t)
	n := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}})
	ctx := context.Background()
	dir := t.TempDir()
	private, _ := randomFile(t, dir, "private.bin", 100<<10)
	public, _ := randomFile(t, dir, "public.bin", 120<<10)
	first, err := n.Share(ctx, private, core.ShareOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	again, err := n.Share(ctx, private, core.ShareOptions{})
	if err != nil || again.Link.String() != first.Link.String() {
		t.Fatalf("sharing the private file again: %s (%v), want %s", again.Link, err, first.Link)
	}
	pub, err := n.Share(ctx, public, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Share(ctx, public, core.ShareOptions{Private: true}); !errors.Is(err, core.ErrPublicAlready) {
		t.Fatalf("making a public share private: %v, want ErrPublicAlready", err)
	}
	forged := pub.Link
	forged.Secret = &content.Secret{1}
	if _, err := n.Download(ctx, forged.String(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "already here") {
		t.Fatalf("a link with a made-up secret: %v", err)
	}
	// The public share is still served to anyone with its link.
	leech := openNode(t, t.TempDir(), core.Options{})
	d, err := leech.Download(ctx, pub.Link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	waitDownload(t, d)
}

// TestOriginKeptAcrossRestarts: a download whose link names an origin
// (ws=), stopped and resumed after a restart, still fetches from it.
func TestOriginKeptAcrossRestarts(t *testing.T) {
	tr := coretest.Tracker(t)
	path, data := randomFile(t, t.TempDir(), "lecture.mp4", 2<<20)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }))
	defer origin.Close()
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}})
	sh, err := seeder.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seeder.Close() // only the origin serves it now
	link := sh.Link
	link.Origin = origin.URL + "/lecture.mp4"
	dir := t.TempDir()
	leech := openNode(t, dir, core.Options{DownLimit: 1 << 20})
	d, err := leech.Download(context.Background(), link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	coretest.PauseAt(t, d, 1)
	leech.Close()
	leech = openNode(t, dir, core.Options{})
	ds := leech.Downloads()
	if len(ds) != 1 {
		t.Fatalf("after the restart: %d downloads", len(ds))
	}
	ds[0].Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := ds[0].Wait(ctx)
	if err != nil {
		t.Fatalf("the resumed download: %v (%+v)", err, ds[0].Progress())
	}
	if got, _ := os.ReadFile(r.Path); !bytes.Equal(got, data) || r.OriginBytes == 0 {
		t.Fatalf("resumed: %d bytes from the origin, file equal: %v", r.OriginBytes, bytes.Equal(got, data))
	}
}

// TestShareAndDownloadFolder: a folder shared as one content arrives as
// the same tree, file for file, in a new folder of the downloader's; a
// file swapped inside the shared folder stops it being served.
func TestShareAndDownloadFolder(t *testing.T) {
	tr := coretest.Tracker(t)
	src := filepath.Join(t.TempDir(), "rendition")
	want := map[string][]byte{}
	for i, rel := range []string{"index.m3u8", "video/seg-0.ts", "video/seg-1.ts", "audio/en/seg-0.aac", "empty.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(src, rel)), 0o755)
		_, data := randomFile(t, filepath.Dir(filepath.Join(src, rel)), filepath.Base(rel), []int{300, 200 << 10, 150 << 10, 70 << 10, 0}[i])
		want[rel] = data
	}
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}})
	sh, err := seeder.ShareFolder(context.Background(), src, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Manifest.Name != "rendition" || len(sh.Manifest.Files) != len(want) {
		t.Fatalf("manifest: %s, %d files", sh.Manifest.Name, len(sh.Manifest.Files))
	}
	leech := openNode(t, t.TempDir(), core.Options{})
	folder := t.TempDir()
	os.Mkdir(filepath.Join(folder, "rendition"), 0o755) // taken: the download goes beside it
	d, err := leech.Download(context.Background(), sh.Link.String(), folder)
	if err != nil {
		t.Fatal(err)
	}
	r := waitDownload(t, d)
	if r.Path != filepath.Join(folder, "rendition (1)") {
		t.Errorf("downloaded to %s", r.Path)
	}
	for rel, data := range want {
		if got, err := os.ReadFile(filepath.Join(r.Path, filepath.FromSlash(rel))); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v", rel, len(got), err)
		}
	}
	if left, _ := os.ReadDir(folder); len(left) != 2 { // "rendition" and "rendition (1)": the part file is gone
		t.Errorf("the download folder holds %v", left)
	}
	items, err := leech.Library()
	if err != nil || len(items) != 1 || !items[0].Complete || items[0].Problem != "" {
		t.Fatalf("the leech's library: %+v, %v", items, err)
	}
	// A segment replaced in the shared folder: the share is no longer served.
	seg := filepath.Join(src, "video", "seg-1.ts")
	os.Remove(seg)
	os.WriteFile(seg, want["video/seg-1.ts"], 0o644)
	seeder.Close()
	seeder = openNode(t, seeder.DataDir(), core.Options{})
	items, err = seeder.Library()
	if err != nil || len(items) != 1 || items[0].Problem == "" {
		t.Fatalf("after a file was swapped in the folder: %+v, %v", items, err)
	}
}

// A symlink is shared as the file it names, under the link's name, and
// the library records the real path.
func TestShareSymlink(t *testing.T) {
	n := openNode(t, t.TempDir(), core.Options{})
	dir := t.TempDir()
	real, _ := randomFile(t, dir, "d41d8cd9.bin", 300<<10)
	link := filepath.Join(dir, "holiday.mp4")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	sh, err := n.Share(context.Background(), link, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Manifest.Name != "holiday.mp4" {
		t.Errorf("shared as %q, want the link's name", sh.Manifest.Name)
	}
	items, err := n.Library()
	if err != nil || len(items) != 1 {
		t.Fatalf("library: %v, %v", items, err)
	}
	if want, _ := filepath.EvalSymlinks(real); items[0].Path != want || items[0].Problem != "" {
		t.Errorf("library has %q (%q), want the real path %q", items[0].Path, items[0].Problem, want)
	}
}

// ourGoroutines lists goroutines running code of this module (or the HTTP
// connections its tracker client opened).
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "peerflow/core") && !strings.Contains(g, "core_test.") {
			out = append(out, g)
		}
	}
	return out
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	tr := coretest.Tracker(t)
	path, _ := randomFile(t, t.TempDir(), "a.bin", 1<<20)
	seeder, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0", Trackers: []string{tr}})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := seeder.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leech, err := core.Open(t.TempDir(), core.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := leech.Download(context.Background(), shared.Link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	waitDownload(t, d)
	if err := leech.Close(); err != nil {
		t.Fatal(err)
	}
	if err := seeder.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for every goroutine it owns; HTTP connections to the
	// tracker end as their sockets close, within moments.
	deadline := time.Now().Add(5 * time.Second)
	for left := ourGoroutines(); len(left) > 0; left = ourGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlived Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		runtime.Gosched()
	}
}

// TestAbruptStopResumes kills a downloading process (SIGKILL, no cleanup)
// at about half way and reopens its data folder in this process: the
// download resumes and fetches only what was not yet durable.
func TestAbruptStopResumes(t *testing.T) {
	if os.Getenv("PEERFLOW_CHILD") != "" {
		t.Skip("in the child")
	}
	tr := coretest.Tracker(t)
	const size, chunk = 16 << 20, 256 << 10
	path, data := randomFile(t, t.TempDir(), "movie.mkv", size)
	// Limited, so the child is mid-way when it is killed.
	seeder := openNode(t, t.TempDir(), core.Options{Trackers: []string{tr}, UpLimit: 8 << 20})
	shared, err := seeder.Share(context.Background(), path, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dataDir, folder := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDownloadChild$")
	cmd.Env = append(os.Environ(), "PEERFLOW_CHILD=1", "CHILD_DATA="+dataDir, "CHILD_FOLDER="+folder, "CHILD_LINK="+shared.Link.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The child exits when its stdin closes, so it cannot outlive this
	// process, and it is killed if it has not got half way within a minute.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	chunks := size / chunk
	done := 0
	sc := bufio.NewScanner(out)
	for done < chunks/2 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "chunk ") {
			done++
		}
	}
	cmd.Process.Kill() // SIGKILL: no Close, no sync
	cmd.Wait()
	if done < chunks/2 {
		t.Fatalf("child stopped after %d chunks", done)
	}

	n := openNode(t, dataDir, core.Options{Trackers: []string{tr}})
	ds := n.Downloads()
	if len(ds) != 1 {
		t.Fatalf("%d downloads resumed, want 1", len(ds))
	}
	r := waitDownload(t, ds[0])
	got, err := os.ReadFile(r.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("resumed download differs (%v)", err)
	}
	// Fetched again at most: what was not done at the kill, plus the
	// requests in flight, plus chunks verified since the last sync (the
	// durability lag, 250 ms at 8 MiB/s = 8 chunks).
	refetchedAllowed := chunks - done + 2*2 + 8
	fetched := int(r.Bytes / chunk)
	t.Logf("killed after %d of %d chunks; second run fetched %d", done, chunks, fetched)
	if fetched > refetchedAllowed {
		t.Errorf("second run fetched %d chunks, want at most %d", fetched, refetchedAllowed)
	}
}

// TestDownloadChild is the process TestAbruptStopResumes kills.
func TestDownloadChild(t *testing.T) {
	if os.Getenv("PEERFLOW_CHILD") == "" {
		t.Skip("run by TestAbruptStopResumes")
	}
	n, err := core.Open(os.Getenv("CHILD_DATA"), core.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := n.Download(context.Background(), os.Getenv("CHILD_LINK"), os.Getenv("CHILD_FOLDER"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(1) // the test that started this process is gone
	}()
	lines := make(chan string, 1<<12)
	d.Subscribe(func(ev core.Event) {
		if ev.Kind == core.EventChunk {
			lines <- "chunk " + strconv.Itoa(ev.Chunk)
		}
	})
	for l := range lines {
		fmt.Println(l)
	}
}
