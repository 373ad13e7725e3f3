package gui

import (
	"fmt"
	"strconv"
	"time"
)

// formatBytes formats a byte count for people, in decimal units like the
// terminal front end ("1.5 MB").
func formatBytes(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	const units = "KMGTP"
	v, i := float64(n)/1000, 0
	for v >= 999.95 && i < len(units)-1 { // 999.96 KB prints as 1.0 MB, not 1000.0 KB
		v /= 1000
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "B"
}

// formatRate formats a transfer rate in bytes/s.
func formatRate(bytesPerSec float64) string { return formatBytes(int64(bytesPerSec)) + "/s" }

// formatDuration formats how long a transfer took or still needs
// ("1:05:09", "4:07", "12 s").
func formatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 1:
		return "under a second"
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d:%02d", s/60, s%60)
	}
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// count says how many of noun there are: "1 peer", "3 peers".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// formatAgo says how long ago t was, coarsely: tracker status needs no
// more.
func formatAgo(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "never"
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	}
	return t.Format("Jan 2 15:04")
}
