package peer

import (
	"errors"
	"strings"
	"testing"
)

func TestIDText(t *testing.T) {
	id := NewID()
	if id.IsZero() || NewID() == id {
		t.Fatal("NewID is not random")
	}
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if id.Short() != id.String()[:8] {
		t.Errorf("Short() = %q", id.Short())
	}
	b, _ := id.MarshalText()
	var back ID
	if err := back.UnmarshalText(b); err != nil || back != id {
		t.Fatalf("text round trip: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("0", 32), strings.Repeat("g", 32), id.String() + "0"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) = %v, want ErrBadID", bad, err)
		}
	}
	if err := back.UnmarshalText([]byte("x")); err == nil {
		t.Error("UnmarshalText accepted garbage")
	}
}
