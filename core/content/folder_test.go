package content

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// folderManifest is a valid manifest of a folder of three files.
func folderManifest() *Manifest {
	m := validManifest()
	m.Name = "show"
	m.Files = []File{{"index.m3u8", 100}, {"seg/0.ts", 2 * MinChunkSize}, {"seg/1.ts", MinChunkSize - 95}}
	return m
}

// TestFolderManifest: a folder's manifest round-trips, has another ID
// than any single file's, and its file list is checked.
func TestFolderManifest(t *testing.T) {
	m := folderManifest()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(m.Encode())
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if off, size := m.FileSpan(2); off != 100+2*MinChunkSize || size != MinChunkSize-95 || m.FindFile("seg/0.ts") != 1 || m.FindFile("seg") != -1 {
		t.Fatalf("FileSpan(2) = %d, %d; FindFile wrong", off, size)
	}
	single := validManifest()
	if single.Encode()[3] != 1 || m.Encode()[3] != 2 {
		t.Fatal("a single file's manifest is not version 1, or a folder's not version 2")
	}
	for name, files := range map[string][]File{
		"none":            {},
		"a parent":        {{"../x", 3*MinChunkSize + 5}},
		"absolute":        {{"/x", 3*MinChunkSize + 5}},
		"an empty part":   {{"a//b", 3*MinChunkSize + 5}},
		"a backslash":     {{`a\b`, 3*MinChunkSize + 5}},
		"twice":           {{"a", 5}, {"a", 3 * MinChunkSize}},
		"file and folder": {{"a", 5}, {"a/b", 3 * MinChunkSize}},
		"only case":       {{"Seg/A.ts", 5}, {"seg/a.ts", 3 * MinChunkSize}},
		"folder by case":  {{"A", 5}, {"a/b", 3 * MinChunkSize}},
		"folders by case": {{"Seg/a", 5}, {"seg/b", 3 * MinChunkSize}},
		"sizes off":       {{"a", 5}},
		"negative":        {{"a", -1}, {"b", 3*MinChunkSize + 6}},
	} {
		bad := validManifest()
		bad.Files = files
		if err := bad.Validate(); !errors.Is(err, ErrFiles) {
			t.Errorf("%s: %v, want ErrFiles", name, err)
		}
	}
}

// TestBuildFolder: a folder's files are hashed one after the other in
// path order; a symlink in it is refused.
func TestBuildFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rendition")
	os.MkdirAll(filepath.Join(dir, "seg"), 0o755)
	var all []byte
	for _, f := range []struct {
		path string
		size int64
	}{{"index.m3u8", 300}, {"seg/0.ts", MinChunkSize + 7}, {"seg/1.ts", 2 * MinChunkSize}} {
		p := writeRandomFile(t, filepath.Dir(filepath.Join(dir, f.path)), filepath.Base(f.path), f.size, uint64(f.size))
		data, _ := os.ReadFile(p)
		all = append(all, data...)
	}
	m, stats, err := BuildFolder(context.Background(), dir, BuildOptions{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "rendition" || len(m.Files) != 3 || m.Files[1].Path != "seg/0.ts" || m.Size != int64(len(all)) || len(stats) != 3 {
		t.Fatalf("manifest %+v (%d stats)", m, len(stats))
	}
	single := filepath.Join(t.TempDir(), "all")
	os.WriteFile(single, all, 0o644)
	flat, err := buildPath(context.Background(), single, BuildOptions{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(flat.Hashes, m.Hashes) {
		t.Fatal("the folder's chunks are not those of its files one after the other")
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "seg", "2.ts")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := BuildFolder(context.Background(), dir, BuildOptions{}); err == nil {
		t.Fatal("a folder with a symlink was built")
	}
}
