package cli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"peerflow/core/content"
)

// rateUnits are the accepted units, bytes per second; decimal (KB = 1000)
// and binary (KiB = 1024). Matching ignores case: "20mb/s" is 20 MB/s.
var rateUnits = []struct {
	suffix string
	scale  float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9},
	{"b", 1}, {"", 1},
}

// errRate is the help every bad RATE gets.
var errRate = errors.New(`want a rate like 500KB/s, 20MB/s, 1GB/s or 0 for unlimited`)

// ParseRate parses a transfer rate such as "500KB/s", "20MB/s", "1.5GiB/s"
// or "0" (unlimited) into bytes per second.
func ParseRate(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "/s")
	t = strings.TrimSuffix(t, "ps")
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			break
		}
		bytes := v * u.scale
		if bytes > math.MaxInt64/2 {
			return 0, fmt.Errorf("rate %q is too large", s)
		}
		if bytes > 0 && bytes < 1 {
			return 0, fmt.Errorf("rate %q is below 1 byte/s: %w", s, errRate)
		}
		return int64(bytes), nil
	}
	return 0, fmt.Errorf("bad rate %q: %w", s, errRate)
}

// FormatRate formats bytes/s for humans, decimal units.
func FormatRate(b int64) string { return content.FormatBytes(b) + "/s" }
