package gateway_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"peerflow/core"
	"peerflow/core/coretest"
	"peerflow/core/testtools"
)

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPlayersStreamFromTheGateway: a video made here by ffmpeg (30 s of
// its test pattern, about 3.5 MB, never kept) is shared by one node, and
// a second node that is still downloading it from there (the sharer sends
// at most 1 MB/s) serves it to real clients through the gateway: ffprobe
// reads its duration and streams, and ffmpeg decodes a frame at 90%.
func TestPlayersStreamFromTheGateway(t *testing.T) {
	tools := testtools.Require(t, "ffmpeg", "ffprobe")
	ffmpeg, ffprobe := tools[0], tools[1]
	video := filepath.Join(t.TempDir(), "pattern.mp4")
	run(t, ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=30:size=1280x720:rate=25",
		"-c:v", "mpeg4", "-q:v", "2", "-f", "mp4", video)

	tr := coretest.Tracker(t)
	seeder := openNode(t, core.Options{Trackers: []string{tr}, UpLimit: 1 << 20})
	sh, err := seeder.Share(context.Background(), video, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leech := openNode(t, core.Options{})
	d, err := leech.Download(context.Background(), sh.Link.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	url := listen(t, leech).URL(sh.Manifest)

	out := run(t, ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "default=noprint_wrappers=1", url)
	if !strings.Contains(out, "codec_type=video") {
		t.Errorf("ffprobe found no video stream:\n%s", out)
	}
	var duration float64
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "duration="); ok {
			duration, _ = strconv.ParseFloat(v, 64)
		}
	}
	if duration < 29.5 || duration > 30.5 {
		t.Errorf("ffprobe read a duration of %v s, want 30:\n%s", duration, out)
	}
	if p := d.Progress(); p.Done == p.Chunks {
		t.Errorf("the download was complete before ffprobe was done: nothing was streamed")
	}
	// A frame at 27 s, 90% in.
	run(t, ffmpeg, "-v", "error", "-ss", "27", "-i", url, "-frames:v", "1", "-f", "null", "-")
}

// TestHLSPlaysFromTheGateway: an HLS rendition made here by ffmpeg (a
// playlist and its segments) is shared as one folder content; a second
// node, which starts downloading it from there (at most 1 MB/s) as
// playback starts, serves it, and ffmpeg plays the playlist from its
// gateway to the end. The folder's own URL lists its files.
func TestHLSPlaysFromTheGateway(t *testing.T) {
	ffmpeg := testtools.Require(t, "ffmpeg")[0]
	dir := filepath.Join(t.TempDir(), "rendition")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=12:size=640x360:rate=25",
		"-c:v", "mpeg2video", "-q:v", "3", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
		"-hls_segment_filename", filepath.Join(dir, "seg-%03d.ts"), filepath.Join(dir, "index.m3u8"))

	tr := coretest.Tracker(t)
	seeder := openNode(t, core.Options{Trackers: []string{tr}, UpLimit: 1 << 20})
	sh, err := seeder.ShareFolder(context.Background(), dir, core.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leech := openNode(t, core.Options{})
	if _, err := leech.Download(context.Background(), sh.Link.String(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	g := listen(t, leech)
	url := g.URL(sh.Manifest)
	if !strings.HasSuffix(url, "/index.m3u8") {
		t.Fatalf("the folder's URL is %s, want its playlist", url)
	}
	out := run(t, ffmpeg, "-v", "error", "-i", url, "-f", "null", "-")
	if strings.TrimSpace(out) != "" {
		t.Errorf("ffmpeg said: %s", out)
	}
	resp, body := get(t, "GET", strings.TrimSuffix(url, "index.m3u8"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `href="seg-000.ts"`) {
		t.Errorf("the folder's list: %d\n%s", resp.StatusCode, body)
	}
	seg, err := os.ReadFile(filepath.Join(dir, "seg-001.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, "GET", strings.TrimSuffix(url, "index.m3u8")+"seg-001.ts"); resp.StatusCode != 200 || !bytes.Equal(body, seg) ||
		resp.Header.Get("Content-Type") != "video/mp2t" {
		t.Errorf("a segment by its path: %d, %d bytes, %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
}
