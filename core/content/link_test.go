package content

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLinkRoundTrip(t *testing.T) {
	id := ID(sha256.Sum256([]byte("link")))
	links := []Link{
		{ID: id},
		{ID: id, Name: "my film & more?.mkv"},
		{ID: id, Name: "a b", Trackers: []string{"127.0.0.1:7070", "[::1]:7071", "tracker.lan:80"}, Origin: "https://cdn.example/f?x=1&y=2"},
		{ID: id, Secret: &Secret{1, 2, 3}},
	}
	for _, l := range links {
		s := l.String()
		if !strings.HasPrefix(s, "peerflow://"+id.String()) {
			t.Fatalf("link %q does not start with the scheme and ID", s)
		}
		got, err := ParseLink(s)
		if err != nil {
			t.Fatalf("ParseLink(%q): %v", s, err)
		}
		if got.ID != l.ID || got.Name != l.Name || got.Origin != l.Origin || !slices.Equal(got.Trackers, l.Trackers) ||
			(got.Secret == nil) != (l.Secret == nil) || (l.Secret != nil && *got.Secret != *l.Secret) {
			t.Fatalf("round trip of %q: got %+v, want %+v", s, got, l)
		}
	}
	// A bare ID is a link without hints.
	got, err := ParseLink("  " + id.String() + "\n")
	if err != nil || got.ID != id {
		t.Fatalf("bare ID: %+v, %v", got, err)
	}
}

func TestParseLinkRejects(t *testing.T) {
	id := ID(sha256.Sum256([]byte("link"))).String()
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrBadID},
		{"http://" + id, ErrBadLink},
		{"peerflow://notanid", ErrBadID},
		{"peerflow://" + id + "?dn=../../etc/passwd", ErrNameSeparator},
		{"peerflow://" + id + "?dn=..", ErrNameDots},
		{"peerflow://" + id + "?ws=file:///etc/passwd", ErrOrigin},
		{"peerflow://" + id + "?tr=nohost", ErrBadAddr},
		{"peerflow://" + id + "?tr=:80", ErrBadAddr},
		{"peerflow://" + id + "?tr=host:0", ErrBadAddr},
		{"peerflow://" + id + "?tr=host:99999", ErrBadAddr},
		{"peerflow://" + id + strings.Repeat("?tr=a:1", 2000), ErrBadLink},
		{"peerflow://" + id + "?" + strings.Repeat("tr=a:1&", 33), ErrBadLink},
	}
	for _, tt := range tests {
		_, err := ParseLink(tt.in)
		if !errors.Is(err, tt.want) || !errors.Is(err, ErrBadLink) {
			t.Errorf("ParseLink(%.60q) = %v, want %v (and ErrBadLink)", tt.in, err, tt.want)
		}
	}
}

func TestValidateAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:7070", "[::1]:1", "host.lan:65535"} {
		if err := ValidateAddr(ok); err != nil {
			t.Errorf("ValidateAddr(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "host", "host:", ":80", "host:abc", "host:-1", "a b:80", "user@host:80"} {
		if err := ValidateAddr(bad); !errors.Is(err, ErrBadAddr) {
			t.Errorf("ValidateAddr(%q) = %v, want ErrBadAddr", bad, err)
		}
	}
}

func FuzzParseLink(f *testing.F) {
	id := ID(sha256.Sum256([]byte("fuzz")))
	f.Add(Link{ID: id, Name: "a", Trackers: []string{"h:1"}, Origin: "http://o/"}.String())
	f.Add(id.String())
	f.Add("peerflow://x?dn=%zz")
	f.Add(Link{ID: id, Secret: &Secret{9}}.String())
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLink(s)
		if err != nil {
			return
		}
		again, err := ParseLink(l.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", l.String(), err)
		}
		if again.ID != l.ID || again.Name != l.Name || again.Origin != l.Origin || !slices.Equal(again.Trackers, l.Trackers) ||
			(again.Secret == nil) != (l.Secret == nil) || (l.Secret != nil && *again.Secret != *l.Secret) {
			t.Fatalf("re-parse changed the link: %+v vs %+v", again, l)
		}
	})
}

// A link's secret is checked like an ID: one text form, one secret per
// link; the keys derived from it differ per purpose and per content.
func TestLinkSecret(t *testing.T) {
	id := ID(sha256.Sum256([]byte("private")))
	secret := NewSecret()
	l := Link{ID: id, Secret: &secret}
	for _, bad := range []string{
		l.String() + "&s=" + secret.String(),
		"peerflow://" + id.String() + "?s=short",
		"peerflow://" + id.String() + "?s=" + strings.ToUpper(secret.String())[:51] + "9",
	} {
		if _, err := ParseLink(bad); !errors.Is(err, ErrBadLink) {
			t.Errorf("%q: %v, want ErrBadLink", bad, err)
		}
	}
	other := ID(sha256.Sum256([]byte("other")))
	keys := map[[32]byte]bool{secret.TrackerKey(id): true, secret.PeerKey(id): true, secret.TrackerKey(other): true, secret.PeerKey(other): true}
	if len(keys) != 4 {
		t.Fatal("derived keys collide")
	}
	if secret.TrackerKey(id) != secret.TrackerKey(id) || NewSecret() == secret {
		t.Fatal("keys are not deterministic, or secrets are not random")
	}
}
