package chunkset

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func setOf(n int, chunks ...int) *Set {
	b := New(n)
	for _, c := range chunks {
		b.Set(c)
	}
	return b
}

func TestBasics(t *testing.T) {
	b := New(130)
	if b.Len() != 130 || b.Count() != 0 || b.Any() || b.Full() {
		t.Fatalf("new set: len %d count %d any %v full %v", b.Len(), b.Count(), b.Any(), b.Full())
	}
	for _, i := range []int{0, 63, 64, 129} {
		b.Set(i)
	}
	b.Set(64) // setting twice is a no-op
	if got := slices.Collect(b.All()); !slices.Equal(got, []int{0, 63, 64, 129}) {
		t.Fatalf("All = %v", got)
	}
	if b.Count() != 4 || !b.Has(63) || b.Has(62) || !b.Any() {
		t.Fatalf("after Set: count %d has(63) %v has(62) %v", b.Count(), b.Has(63), b.Has(62))
	}
	c := b.Clone()
	b.Clear(63)
	if b.Has(63) || !c.Has(63) || b.Equal(c) {
		t.Fatal("Clone shares storage or Clear failed")
	}
	b.Fill()
	if !b.Full() || b.Count() != 130 || b.Words()[2] != 3 {
		t.Fatalf("Fill: count %d, last word %#x", b.Count(), b.Words()[2])
	}
	b.AndNot(c)
	if b.Count() != 126 || b.Has(0) {
		t.Fatalf("AndNot: count %d", b.Count())
	}
	if b.Intersects(setOf(130, 0, 63)) || !b.Intersects(setOf(130, 0, 128)) {
		t.Fatal("Intersects: wrong answer across words")
	}
	b.Or(c)
	if !b.Full() {
		t.Fatal("Or did not restore the full set")
	}
	if New(0).Full() != true || New(0).Any() {
		t.Fatal("empty set: want full and not any")
	}
}

func TestPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"negative length": func() { New(-1) },
		"too long":        func() { New(MaxChunks + 1) },
		"set past end":    func() { New(10).Set(10) },
		"has negative":    func() { New(10).Has(-1) },
		"clear past end":  func() { New(0).Clear(0) },
		"or lengths":      func() { New(10).Or(New(11)) },
		"intersects":      func() { New(10).Intersects(New(11)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				switch v := recover().(type) {
				case nil:
					t.Fatal("no panic")
				case string:
					if !strings.HasPrefix(v, "chunkset: ") {
						t.Fatalf("panic %q does not name the package", v)
					}
				default:
					t.Fatalf("panic with %T %v, want a string", v, v)
				}
			}()
			f()
		})
	}
}

func TestChanges(t *testing.T) {
	b, o := New(70), setOf(70, 3)
	last := b.Changes()
	for name, f := range map[string]func(){
		"Set":                func() { b.Set(69) },
		"Clear":              func() { b.Clear(69) },
		"Fill":               func() { b.Fill() },
		"AndNot":             func() { b.AndNot(o) },
		"Or":                 func() { b.Or(o) },
		"Set again, a no-op": func() { b.Set(3) },
	} {
		f()
		if c := b.Changes(); c <= last {
			t.Fatalf("%s: Changes went from %d to %d", name, last, c)
		}
		last = b.Changes()
	}
	for name, f := range map[string]func(){
		"Has":   func() { b.Has(3) },
		"Count": func() { b.Count() },
		"Bytes": func() { b.Bytes() },
		"Equal": func() { b.Equal(o) },
		"Clone": func() { b.Clone() },
		"Words": func() { b.Words() },
	} {
		f()
		if c := b.Changes(); c != last {
			t.Fatalf("%s: Changes went from %d to %d", name, last, c)
		}
	}
}

func TestFromWords(t *testing.T) {
	words := []uint64{1<<63 | 1, 1<<5 | 1}
	b, err := FromWords(words, 70)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Equal(setOf(70, 0, 63, 64, 69)) {
		t.Fatalf("FromWords = %v", slices.Collect(b.All()))
	}
	words[0] = 0
	if !b.Has(0) {
		t.Fatal("FromWords shares the caller's slice")
	}
	if b, err := FromWords(nil, 0); err != nil || b.Len() != 0 {
		t.Fatalf("FromWords(nil, 0) = %v, %v", b, err)
	}
	for _, tt := range []struct {
		name  string
		words []uint64
		n     int
	}{
		{"negative length", nil, -1},
		{"above MaxChunks", make([]uint64, MaxChunks/64+1), MaxChunks + 1},
		{"too short", []uint64{0}, 65},
		{"too long", []uint64{0, 0}, 64},
		{"bit past the end", []uint64{1 << 6}, 6},
		{"top bit past the end", []uint64{0, 1 << 63}, 127},
	} {
		if b, err := FromWords(tt.words, tt.n); err == nil || b != nil {
			t.Errorf("%s: FromWords = %v, %v; want an error", tt.name, b, err)
		}
	}
}

func TestWireForm(t *testing.T) {
	tests := []struct {
		n      int
		chunks []int
		wire   []byte
	}{
		{0, nil, []byte{}},
		{1, []int{0}, []byte{0x80}},
		{8, []int{0, 7}, []byte{0x81}},
		{9, []int{1, 8}, []byte{0x40, 0x80}},
		{16, []int{8, 15}, []byte{0x00, 0x81}},
		{70, []int{0, 63, 64, 69}, []byte{0x80, 0, 0, 0, 0, 0, 0, 0x01, 0x84}},
	}
	for _, tt := range tests {
		b := setOf(tt.n, tt.chunks...)
		if got := b.Bytes(); !bytes.Equal(got, tt.wire) {
			t.Errorf("Bytes of %d chunks %v = %x, want %x", tt.n, tt.chunks, got, tt.wire)
		}
		back, err := FromBytes(tt.wire, tt.n)
		if err != nil || !back.Equal(b) {
			t.Errorf("FromBytes(%x, %d) = %v, %v; want %v", tt.wire, tt.n, back, err, tt.chunks)
		}
	}
}

func TestFromBytesRejects(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		n    int
	}{
		{"negative length", nil, -1},
		{"above MaxChunks", make([]byte, MaxChunks/8+1), MaxChunks + 1},
		{"too short", []byte{0}, 9},
		{"too long", []byte{0, 0}, 8},
		{"padding bit set", []byte{0x01}, 7},
		{"padding bit of last byte", []byte{0xff, 0x40}, 9},
	}
	for _, tt := range tests {
		if _, err := FromBytes(tt.p, tt.n); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func FuzzFromBytes(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add([]byte{0x80}, 1)
	f.Add([]byte{0xff, 0x80}, 9)
	f.Add([]byte{0xff, 0x40}, 9)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 72)
	f.Add([]byte{0}, -5)
	f.Fuzz(func(t *testing.T, p []byte, n int) {
		b, err := FromBytes(p, n)
		if err != nil {
			if b != nil {
				t.Fatal("set returned with an error")
			}
			return
		}
		if b.Len() != n {
			t.Fatalf("Len = %d, want %d", b.Len(), n)
		}
		if got := b.Bytes(); !bytes.Equal(got, p) {
			t.Fatalf("Bytes = %x, want %x", got, p)
		}
		count := 0
		for i := range b.All() {
			if !b.Has(i) || p[i/8]&(0x80>>(i%8)) == 0 {
				t.Fatalf("chunk %d in All but not in the input", i)
			}
			count++
		}
		if count != b.Count() {
			t.Fatalf("All yields %d chunks, Count says %d", count, b.Count())
		}
	})
}
