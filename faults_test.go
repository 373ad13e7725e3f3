package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"peerflow/core/content"
	"peerflow/core/control"
	"peerflow/core/peer"
	"peerflow/core/testtools"
	"peerflow/core/trackerapi"
	"peerflow/flow/chunkset"
)

var faultRounds = flag.Int("faults.rounds", 0, "TestFaultGetterKilled: rounds; 0 skips the fault campaign (make faults sets it)")

// The getter-kill campaign: a 64 MiB file from one sharer limited to
// faultRate, so that a download lasts about faultSize/faultRate.
const (
	faultSize = 64 << 20
	faultRate = 40 << 20 // bytes/s
	// durabilityLag is the download's syncEvery: chunks verified since
	// the last sync are fetched again after a crash.
	durabilityLag = 250 * time.Millisecond
	// inFlight bounds what was on its way when the getter died: the
	// deepest pipeline (32 chunks of 256 KiB), sent by the sharer and lost.
	inFlight = 32 * 256 << 10
)

// TestFaultGetterKilled: each round shares a new file and gets it; the
// getter is SIGKILLed at a random point of the download and started
// again with the same data folder and output folder. Every round must end
// with the file byte-identical, alone in its folder (no second copy, no
// part file left), and the bytes fetched again after the kill (what the
// sharer uploaded beyond one copy) within what the durability interval
// allows: the sharer's rate times durabilityLag, plus a full pipeline.
func TestFaultGetterKilled(t *testing.T) {
	bin, dir := campaign(t)
	_, trAddr := startTrackerProc(t, bin, "127.0.0.1:0", filepath.Join(dir, "tracker.db"))
	allowed := int64(float64(faultRate)*durabilityLag.Seconds()) + inFlight
	rng := rand.New(rand.NewPCG(uint64(*faultRounds), 15))
	expected := time.Duration(float64(faultSize) / faultRate * float64(time.Second))
	var refetched []int64
	for round := range *faultRounds {
		rdir := filepath.Join(dir, fmt.Sprint(round))
		src, out, data := filepath.Join(rdir, "src", "movie.bin"), filepath.Join(rdir, "out"), filepath.Join(rdir, "get")
		for _, d := range []string{filepath.Dir(src), out, data} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		want, err := writeRandomFile(src, faultSize, uint64(round))
		if err != nil {
			t.Fatal(err)
		}
		sharer, link, l := startSharer(t, bin, src, trAddr, faultRate, filepath.Join(rdir, "sharer"), "--json")
		sharerErr := keepTail(sharer.stderr)
		get := func() *proc {
			return start(t, bin, "get", link, "--tracker", trAddr, "-o", out, "--data", data, "--listen", "127.0.0.1:0", "--json")
		}
		// Killed somewhere between a tenth and nine tenths of the way.
		killAt := time.Duration(float64(expected) * (0.1 + 0.8*rng.Float64()))
		first := get()
		keepTail(first.stderr)
		time.Sleep(killAt) // the fault's moment: a random point of a running download
		first.cmd.Process.Kill()
		first.cmd.Wait()

		second := get()
		secondErr := keepTail(second.stderr)
		res := readGetResult(t, second, secondErr)
		got, err := fileSHA256(res.Path)
		if err != nil || got != want {
			t.Fatalf("round %d: %s is not the shared file (%v)", round, res.Path, err)
		}
		if names := testtools.DirNames(t, out); !slices.Equal(names, []string{"movie.bin"}) {
			t.Errorf("round %d: the output folder holds %q, want only movie.bin", round, names)
		}
		rep := stopSharer(t, sharer, l.ID, sharerErr)
		again := rep.Uploaded - faultSize
		refetched = append(refetched, again)
		t.Logf("round %d: killed at %v; fetched again %.1f MiB (allowed %.1f MiB)", round, killAt.Round(time.Millisecond),
			float64(again)/(1<<20), float64(allowed)/(1<<20))
		if again > allowed {
			t.Errorf("round %d: %d bytes fetched again after the kill, more than the %d the durability interval allows", round, again, allowed)
		}
		stopProc(second)
	}
	slices.Sort(refetched)
	fmt.Printf("faults: getter SIGKILLed once in each of %d rounds (%d MiB at %d MiB/s): every file byte-identical and alone; "+
		"fetched again after the kill: median %.1f MiB, max %.1f MiB (allowed: %.0f ms at the rate + a 32-chunk pipeline = %.1f MiB)\n",
		len(refetched), faultSize>>20, faultRate>>20, float64(refetched[len(refetched)/2])/(1<<20),
		float64(refetched[len(refetched)-1])/(1<<20), float64(durabilityLag.Milliseconds()), float64(allowed)/(1<<20))
}

// TestFaultTrackerKilled: one sharer and three getters that seed; while
// the getters are mid-download the tracker is SIGKILLed and started again
// on its database and address. Every getter must still end with the file
// byte-identical, and the restarted tracker must have the manifest back
// and list every getter, complete, as holding it.
func TestFaultTrackerKilled(t *testing.T) {
	const getters = 3
	bin, dir := campaign(t)
	db := filepath.Join(dir, "tracker.db")
	tr, trAddr := startTrackerProc(t, bin, "127.0.0.1:0", db)
	src := filepath.Join(dir, "movie.bin")
	want, err := writeRandomFile(src, faultSize, 99)
	if err != nil {
		t.Fatal(err)
	}
	// Limited so that the getters are still at it when the fault comes.
	rate := rateArg(faultRate / 4)
	sharer, link, l := startSharer(t, bin, src, trAddr, faultRate/4, filepath.Join(dir, "sharer"))
	keepTail(sharer.stderr)
	var procs []*proc
	for i := range getters {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, start(t, bin, "get", link, "--tracker", trAddr, "-o", out,
			"--data", filepath.Join(dir, fmt.Sprint("get", i)), "--listen", "127.0.0.1:0", "--seed", "--up-limit", rate, "--json"))
	}
	// Mid-download: each getter's progress line (every 2 s) shows part.
	var errs []*tailKeeper
	for _, p := range procs {
		p.stderr.waitFor(t, midwayRe)
		errs = append(errs, keepTail(p.stderr))
	}
	tr.cmd.Process.Kill()
	tr.cmd.Wait()
	if _, got := startTrackerProc(t, bin, trAddr, db); got != trAddr {
		t.Fatalf("the restarted tracker listens on %s, not %s", got, trAddr)
	}
	for i, p := range procs {
		res := readGetResult(t, p, errs[i])
		if got, err := fileSHA256(res.Path); err != nil || got != want {
			t.Fatalf("getter %d: %s is not the shared file (%v)", i, res.Path, err)
		}
	}
	client, err := trackerapi.NewClient(trAddr, trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	m, err := client.Manifest(t.Context(), l.ID)
	if err != nil {
		t.Fatalf("the restarted tracker lost the manifest: %v", err)
	}
	// The getters announce again within their heartbeat (at most
	// MaxRetryInterval after the tracker came back).
	deadline := time.Now().Add(2*trackerapi.MinInterval + trackerapi.MaxRetryInterval)
	for {
		hs, err := client.Holders(t.Context(), m, peer.ID{})
		if err != nil {
			t.Fatal(err)
		}
		complete := 0
		for _, h := range hs {
			if h.Have.Full() {
				complete++
			}
		}
		if complete >= getters+1 { // the getters and the sharer
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted tracker lists %d complete holders, want %d", complete, getters+1)
		}
		time.Sleep(100 * time.Millisecond) // polling the tracker on loopback
	}
	fmt.Printf("faults: tracker SIGKILLed with %d getters mid-download and restarted: every getter finished byte-identical; the tracker has the manifest and every holder's lease back\n", getters)
}

// TestFaultSharerKilled: one sharer and three getters that seed, their
// uploads capped so that none is done when the sharer has sent the last
// chunk. The getters' status (their control sockets, as `peerflow
// status` reads them) is the oracle: the moment their chunks together
// cover the file, the sharer is SIGKILLed, and the swarm must complete
// from the getters alone, every file byte-identical.
func TestFaultSharerKilled(t *testing.T) {
	const getters = 3
	bin, dir := campaign(t)
	_, trAddr := startTrackerProc(t, bin, "127.0.0.1:0", filepath.Join(dir, "tracker.db"))
	src := filepath.Join(dir, "movie.bin")
	want, err := writeRandomFile(src, faultSize, 21)
	if err != nil {
		t.Fatal(err)
	}
	sharer, link, l := startSharer(t, bin, src, trAddr, faultRate/4, filepath.Join(dir, "sharer"))
	keepTail(sharer.stderr)
	manifest := trackerManifest(t, trAddr, l.ID)
	var procs []*proc
	var data []string
	for i := range getters {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		data = append(data, filepath.Join(dir, fmt.Sprint("get", i)))
		procs = append(procs, start(t, bin, "get", link, "--tracker", trAddr, "-o", out,
			"--data", data[i], "--listen", "127.0.0.1:0", "--seed", "--up-limit", rateArg(faultRate/8), "--json"))
	}
	var errs []*tailKeeper
	for _, p := range procs {
		errs = append(errs, keepTail(p.stderr))
	}
	// Each getter's chunks, as its status gives them; the union, until it
	// is the whole file.
	chunks := manifest.NumChunks()
	held := make([]int, getters)
	deadline := time.Now().Add(4 * time.Duration(float64(faultSize)/(faultRate/4)*float64(time.Second)))
	for {
		union := chunkset.New(chunks)
		for i, d := range data {
			st, err := control.Ask(t.Context(), d)
			if err != nil || len(st.Downloads) != 1 {
				held[i] = 0 // not up yet
				continue
			}
			have, err := chunkset.FromBytes(st.Downloads[0].Have, chunks)
			if err != nil {
				t.Fatalf("getter %d's status: %v", i, err)
			}
			held[i] = have.Count()
			union.Or(have)
		}
		if union.Full() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the getters never held the whole file between them: %v of %d chunks", held, chunks)
		}
		time.Sleep(20 * time.Millisecond) // polling the getters' control sockets
	}
	sharer.cmd.Process.Kill()
	sharer.cmd.Wait()
	for i, n := range held {
		if n == chunks {
			t.Fatalf("getter %d held the whole file when the sharer was killed: the test tests nothing; slow the getters", i)
		}
	}
	// What a user sees of it: `peerflow status` on a getter.
	var shown strings.Builder
	st := exec.Command(bin, "status", "--data", data[0], "--interval", "0")
	st.Stdout, st.Stderr = &shown, &shown
	if err := st.Run(); err != nil || !strings.Contains(shown.String(), "DOWNLOADING") || !strings.Contains(shown.String(), "movie.bin") {
		t.Errorf("peerflow status on a getter (%v):\n%s", err, shown.String())
	}
	for i, p := range procs {
		res := readGetResult(t, p, errs[i])
		if got, err := fileSHA256(res.Path); err != nil || got != want {
			t.Fatalf("getter %d: %s is not the shared file (%v)", i, res.Path, err)
		}
	}
	pct := make([]string, getters)
	for i, n := range held {
		pct[i] = fmt.Sprintf("%.0f%%", 100*float64(n)/float64(chunks))
	}
	fmt.Printf("faults: sharer SIGKILLed the moment %d getters held the file between them (each held %s): "+
		"the swarm completed from the getters, every file byte-identical\n", getters, strings.Join(pct, ", "))
}

// TestFaultCorruptingPeer: two sharers of the same file, one of which
// has its copy damaged on disk after sharing it (a byte of every chunk
// flipped, size and modification time kept, as bit rot leaves a file), so
// it serves bad bytes it believes good. The getter must detect them, ban
// that peer, take nothing from it, and end with the file byte-identical.
func TestFaultCorruptingPeer(t *testing.T) {
	bin, dir := campaign(t)
	_, trAddr := startTrackerProc(t, bin, "127.0.0.1:0", filepath.Join(dir, "tracker.db"))
	src, bad := filepath.Join(dir, "good", "movie.bin"), filepath.Join(dir, "bad", "movie.bin")
	for _, p := range []string{src, bad} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want, err := writeRandomFile(src, faultSize, 31)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeRandomFile(bad, faultSize, 31); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(bad, fi.ModTime(), fi.ModTime()); err != nil { // the same content
		t.Fatal(err)
	}
	// The corrupting peer is the faster one, so the getter asks it for much.
	corrupter, link, l := startSharer(t, bin, bad, trAddr, faultRate, filepath.Join(dir, "corrupter"))
	keepTail(corrupter.stderr)
	corruptChunks(t, bad, trackerManifest(t, trAddr, l.ID).ChunkSize)
	honest, again, _ := startSharer(t, bin, src, trAddr, faultRate/4, filepath.Join(dir, "honest"))
	keepTail(honest.stderr)
	if again != link {
		t.Fatalf("the two copies share as %s and %s, not as one content", link, again)
	}
	st, err := control.Ask(t.Context(), filepath.Join(dir, "corrupter"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	getter := start(t, bin, "get", link, "--tracker", trAddr, "-o", out, "--data", filepath.Join(dir, "get"),
		"--listen", "127.0.0.1:0", "-v", "--json")
	banned := getter.stderr.waitFor(t, regexp.MustCompile(`peer sent a corrupt chunk; banning it.*addr=(\S+)`))
	if banned[1] != st.Listen {
		t.Errorf("the getter banned %s, want the corrupting peer at %s", banned[1], st.Listen)
	}
	errs := keepTail(getter.stderr)
	res := readGetResult(t, getter, errs)
	if got, err := fileSHA256(res.Path); err != nil || got != want {
		t.Fatalf("%s is not the shared file (%v)", res.Path, err)
	}
	if n := res.Sources[st.Listen]; n != 0 {
		t.Errorf("%d bytes of the file came from the corrupting peer", n)
	}
	fmt.Printf("faults: a peer serving a copy damaged on disk (a byte of every chunk flipped, stamp kept): "+
		"detected and banned; the file byte-identical, 0 bytes from that peer, %.1f MiB from the honest one\n",
		float64(res.Bytes-res.Sources[st.Listen])/(1<<20))
}

// corruptChunks flips one byte of every chunk of the file at path in
// place and gives the file back its modification time.
func corruptChunks(t *testing.T, path string, chunkSize int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	for off := chunkSize / 2; off < fi.Size(); off += chunkSize {
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// trackerManifest returns the manifest of id from the tracker at addr.
func trackerManifest(t *testing.T, addr string, id content.ID) *content.Manifest {
	t.Helper()
	client, err := trackerapi.NewClient(addr, trackerapi.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	m, err := client.Manifest(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFaultDiskFull: downloads into a small tmpfs (make faults runs the
// campaign in a mount namespace of its own, as root, and sets
// PEERFLOW_FAULTS_TMPFS). A download that does not fit is refused before
// it starts, naming the folder and the space needed; one whose disk fills
// up mid-way (another file written there) stops with the same error and
// loses nothing: once the other file is gone, the same command resumes,
// and the file ends byte-identical with what was verified kept.
func TestFaultDiskFull(t *testing.T) {
	if os.Getenv("PEERFLOW_FAULTS_TMPFS") == "" && *faultRounds != 0 {
		t.Skip("needs a mount namespace of its own to mount a tmpfs in: make faults")
	}
	bin, dir := campaign(t)
	_, trAddr := startTrackerProc(t, bin, "127.0.0.1:0", filepath.Join(dir, "tracker.db"))
	src := filepath.Join(dir, "movie.bin")
	want, err := writeRandomFile(src, faultSize, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Slow enough that the disk fills while the download runs.
	sharer, link, l := startSharer(t, bin, src, trAddr, faultRate/4, filepath.Join(dir, "sharer"), "--json")
	sharerErr := keepTail(sharer.stderr)
	out := filepath.Join(dir, "small")
	mountTmpfs(t, out, faultSize/2)
	get := func() *proc {
		return start(t, bin, "get", link, "--tracker", trAddr, "-o", out, "--data", filepath.Join(dir, "get"), "--listen", "127.0.0.1:0", "--json")
	}
	noRoom := regexp.MustCompile(`no room in ` + regexp.QuoteMeta(out) + ` for movie\.bin: [\d.]+ [KMG]?B more is needed, [\d.]+ [KMG]?B free`)
	refused := get()
	said := refused.stderr.waitFor(t, noRoom)[0]
	if code, err := waitExit(refused); err != nil || code != 1 {
		t.Errorf("get into a folder too small: exit %d (%v), want 1", code, err)
	}

	remountTmpfs(t, out, faultSize+faultSize/2)
	filling := get()
	filling.stderr.waitFor(t, midwayRe)
	filler := filepath.Join(out, "other.bin")
	if _, err := writeRandomFile(filler, 2*faultSize, 8); err == nil { // more than the tmpfs holds
		t.Fatal("the filler fit: the disk never filled")
	}
	filling.stderr.waitFor(t, noRoom)
	if code, err := waitExit(filling); err != nil || code != 1 {
		t.Errorf("get on a disk that filled: exit %d (%v), want 1", code, err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	resumed := get()
	res := readGetResult(t, resumed, keepTail(resumed.stderr))
	if got, err := fileSHA256(res.Path); err != nil || got != want {
		t.Fatalf("%s is not the shared file (%v)", res.Path, err)
	}
	stopProc(resumed)
	rep := stopSharer(t, sharer, l.ID, sharerErr)
	again := rep.Uploaded - faultSize
	allowed := int64(float64(faultRate/4)*durabilityLag.Seconds()) + inFlight
	if again > allowed {
		t.Errorf("%d bytes fetched again after the disk filled, more than the %d the durability interval allows", again, allowed)
	}
	fmt.Printf("faults: a folder too small refused before the download (%q); the disk filled mid-download: "+
		"stopped with the same error, resumed once space was freed, byte-identical, %.1f MiB fetched again (allowed %.1f MiB)\n",
		said, float64(again)/(1<<20), float64(allowed)/(1<<20))
}

// TestFaultShareTruncated: the shared file is truncated while a getter
// fetches it. The sharer stops serving it and says so; the getter gets no
// bad byte, keeps what it verified and fails with a clear error when
// nobody else holds the rest. With the file restored and shared again,
// the same get resumes and ends byte-identical.
func TestFaultShareTruncated(t *testing.T) {
	bin, dir := campaign(t)
	_, trAddr := startTrackerProc(t, bin, "127.0.0.1:0", filepath.Join(dir, "tracker.db"))
	src := filepath.Join(dir, "movie.bin")
	want, err := writeRandomFile(src, faultSize, 11)
	if err != nil {
		t.Fatal(err)
	}
	share := func() (*proc, string) {
		p, link, _ := startSharer(t, bin, src, trAddr, faultRate/4, filepath.Join(dir, "sharer"))
		return p, link
	}
	sharer, link := share()
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	get := func() *proc {
		return start(t, bin, "get", link, "--tracker", trAddr, "-o", out, "--data", filepath.Join(dir, "get"), "--listen", "127.0.0.1:0", "--timeout", "5s", "--json")
	}
	first := get()
	first.stderr.waitFor(t, midwayRe)
	if err := os.Truncate(src, faultSize/3); err != nil {
		t.Fatal(err)
	}
	sharer.stderr.waitFor(t, regexp.MustCompile(`no longer serving a shared file.*changed on disk`))
	first.stderr.waitFor(t, regexp.MustCompile(`chunks are held by no reachable peer`))
	if code, err := waitExit(first); err != nil || code != 1 {
		t.Errorf("get after the share was truncated: exit %d (%v), want 1", code, err)
	}
	if names := testtools.DirNames(t, out); len(names) != 1 || !strings.HasSuffix(names[0], ".part") {
		t.Errorf("the output folder holds %q, want only the part file", names)
	}
	stopProc(sharer)
	// The file restored, bytes and modification time: the same content.
	if _, err := writeRandomFile(src, faultSize, 11); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(src, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	_, again := share()
	if again != link {
		t.Fatalf("the restored file shares as %s, not %s", again, link)
	}
	second := get()
	res := readGetResult(t, second, keepTail(second.stderr))
	if got, err := fileSHA256(res.Path); err != nil || got != want {
		t.Fatalf("%s is not the shared file (%v)", res.Path, err)
	}
	if res.Bytes >= faultSize {
		t.Errorf("the resumed get fetched %d bytes: all of it, nothing kept", res.Bytes)
	}
	fmt.Printf("faults: the shared file truncated mid-download: the sharer stopped serving it and said so, the getter failed clearly with its part kept; "+
		"restored and shared again, the same get fetched the remaining %.1f of %d MiB, byte-identical\n", float64(res.Bytes)/(1<<20), faultSize>>20)
}

// campaign starts a fault test: it is skipped unless make faults asks
// for the campaign; it returns the binary and a folder for the test.
func campaign(t *testing.T) (bin, dir string) {
	t.Helper()
	if *faultRounds == 0 {
		t.Skip("the fault campaign runs only when asked: make faults [ROUNDS=20]")
	}
	return buildBinary(t), t.TempDir()
}

// mountTmpfs mounts a tmpfs of size bytes at dir until t ends.
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprint("size=", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// remountTmpfs gives the tmpfs at dir a new size, its files kept.
func remountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", fmt.Sprint("remount,size=", size), dir).CombinedOutput(); err != nil {
		t.Fatalf("resize the tmpfs: %v: %s", err, out)
	}
}

// midwayRe matches a progress line of a download that is under way.
var midwayRe = regexp.MustCompile(`: +([1-8]\d|[1-9])\.\d% `)

// startTrackerProc runs a tracker listening on listen (host:port, port 0
// for any) with its database db, its output drained; it returns the
// process and the address it listens on.
func startTrackerProc(t *testing.T, bin, listen, db string) (*proc, string) {
	t.Helper()
	tr := start(t, bin, "tracker", "--listen", listen, "--db", db, "--no-mdns")
	addr := tr.stdout.waitFor(t, listeningRe)[1]
	keepTail(tr.stdout)
	keepTail(tr.stderr)
	return tr, addr
}

// startSharer shares src through the tracker at trAddr, uploading at rate
// bytes/s, with its data in data (and extra arguments, such as --json),
// and waits until it seeds; it returns the process and its link. Its
// stderr is the caller's to read or drain.
func startSharer(t *testing.T, bin, src, trAddr string, rate int64, data string, extra ...string) (*proc, string, content.Link) {
	t.Helper()
	args := append([]string{"share", src, "--tracker", trAddr, "--up-limit", rateArg(rate), "--data", data, "--listen", "127.0.0.1:0"}, extra...)
	p := start(t, bin, args...)
	link := p.stdout.waitFor(t, linkRe)[1]
	p.stderr.waitFor(t, seedingRe)
	l, err := content.ParseLink(link)
	if err != nil {
		t.Fatal(err)
	}
	return p, link, l
}

// readGetResult waits for the object `get --json` prints once the file is
// in place.
func readGetResult(t *testing.T, p *proc, stderr *tailKeeper) swarmGetResult {
	t.Helper()
	var obj []string
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-p.stdout.lines:
			if !ok {
				t.Fatalf("get ended without a result; stderr:\n%s", stderr)
			}
			if line == "{" {
				obj = obj[:0]
			}
			obj = append(obj, line)
			if line == "}" {
				var res swarmGetResult
				if err := json.Unmarshal([]byte(strings.Join(obj, "\n")), &res); err != nil {
					t.Fatalf("get --json printed %q: %v", obj, err)
				}
				return res
			}
		case <-timeout:
			t.Fatalf("no result from get within 2 minutes; stderr:\n%s", stderr)
		}
	}
}
