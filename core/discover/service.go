package discover

import (
	"errors"
	"fmt"
	"strings"
)

// Service is the DNS-SD service type trackers advertise, in the "local"
// domain.
const Service = "_peerflow._tcp"

// TXTVersion is the version of the TXT record layout below.
const TXTVersion = "1"

// maxTrackerIDLen bounds a tracker ID read from the network; it must also
// fit in one DNS label (63 bytes) with room to spare.
const maxTrackerIDLen = 48

// TXT returns the TXT record a tracker with trackerID advertises:
// "v=1" and "id=<tracker id>".
func TXT(trackerID string) []string {
	return []string{"v=" + TXTVersion, "id=" + trackerID}
}

// ParseTXT returns the tracker ID of a TXT record in the layout TXT
// writes. Records of another version or with a malformed ID are refused,
// so a node ignores what it cannot understand.
func ParseTXT(fields []string) (string, error) {
	var version, id string
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "v":
			version = v
		case "id":
			id = v
		}
	}
	if version != TXTVersion {
		return "", fmt.Errorf("mdns TXT version %q, want %q", version, TXTVersion)
	}
	if err := ValidateTrackerID(id); err != nil {
		return "", err
	}
	return id, nil
}

// ValidateTrackerID checks that id is 1 to 48 lowercase letters, digits or
// dashes: what a tracker generates, and safe in a DNS label and a log line.
func ValidateTrackerID(id string) error {
	if id == "" || len(id) > maxTrackerIDLen {
		return fmt.Errorf("tracker ID %.60q: want 1 to %d characters", id, maxTrackerIDLen)
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("tracker ID %q: want only a-z, 0-9 and -", id)
		}
	}
	return nil
}

var (
	errNotTracker = errors.New("not a " + Service + " instance")
	errNoAddr     = errors.New("answer has no usable address or port")
)
