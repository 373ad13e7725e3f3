package testtools

import (
	"runtime"
	"testing"
)

// BenchmarkMachineLimits reports the limits the headline benchmarks are
// given against (see BenchmarkDownloadLoopback): the durable write rate of
// the temporary folder's disk with a download's fsyncs, SHA-256 on one
// core, and one plaintext loopback TCP stream, each over 256 MiB.
func BenchmarkMachineLimits(b *testing.B) {
	const size = 256 << 20
	var disk, sha, tcp float64
	for range b.N {
		disk += DurableWrite(b, b.TempDir(), size)
		sha += SHA256(size)
		tcp += LoopbackTCP(b, size)
	}
	n := float64(b.N)
	b.ReportMetric(disk/n/1e6, "disk-MB/s")
	b.ReportMetric(sha/n/1e6, "sha256-MB/s/core")
	b.ReportMetric(tcp/n/1e6, "tcp-MB/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}

// TestLimitsMeasure: each limit moves its bytes and gives a rate.
func TestLimitsMeasure(t *testing.T) {
	for name, rate := range map[string]float64{
		"disk": DurableWrite(t, t.TempDir(), 4<<20+5),
		"sha":  SHA256(4<<20 + 5),
		"tcp":  LoopbackTCP(t, 4<<20+5),
	} {
		if rate <= 0 {
			t.Errorf("%s: rate %v", name, rate)
		}
	}
}
