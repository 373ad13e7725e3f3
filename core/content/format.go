package content

import "strconv"

// FormatBytes formats a byte count for humans, decimal units.
func FormatBytes(b int64) string {
	switch {
	case b >= 1e9:
		return strconv.FormatFloat(float64(b)/1e9, 'f', 1, 64) + " GB"
	case b >= 1e6:
		return strconv.FormatFloat(float64(b)/1e6, 'f', 1, 64) + " MB"
	case b >= 1e3:
		return strconv.FormatFloat(float64(b)/1e3, 'f', 1, 64) + " KB"
	}
	return strconv.FormatInt(b, 10) + " B"
}
