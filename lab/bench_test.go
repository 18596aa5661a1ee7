package lab

import (
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// The lab's own cost of answering one Linux gather (what plan runs) on a
// host whose whole range is in TIME_WAIT: ss -tn state listening walks
// the socket table for its listeners.
func BenchmarkLinuxGatherExhausted(b *testing.B) {
	h, err := NewHost("lnx-01", "linux", "6.1")
	if err != nil {
		b.Fatal(err)
	}
	if err := SetProfile(h, ProfileExhausted, 0, 1); err != nil {
		b.Fatal(err)
	}
	script := platform.LinuxGatherScript(nil)
	b.ReportAllocs()
	for b.Loop() {
		if out := h.Run("root", script); out.Code != 0 {
			b.Fatal(out)
		}
	}
}

// ss -Htano of the same host: what an audit reads.
func BenchmarkLinuxSSExhausted(b *testing.B) {
	h, _ := NewHost("lnx-01", "linux", "6.1")
	if err := SetProfile(h, ProfileExhausted, 0, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if out := h.Run("root", "ss -Htano"); out.Code != 0 {
			b.Fatal(out)
		}
	}
}

// The lab's cost of one Solaris gather on an exhausted host: netstat -an
// -P tcp with its whole anonymous range in TIME_WAIT (about 32,000 rows).
func BenchmarkSolarisGatherExhausted(b *testing.B) {
	h, _ := NewHost("sol-01", "solaris", "5.11")
	if err := SetProfile(h, ProfileExhausted, 0, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if out := h.Run("root", "/usr/bin/netstat -an -P tcp"); out.Code != 0 {
			b.Fatal(out)
		}
	}
}

// The same table as the gather reads it since issue 11: through the awk
// filter on the host, which prints the LISTEN rows and a TIME_WAIT count.
// The difference with BenchmarkSolarisGatherExhausted is what the pipe and
// the lab's awk cost; the bytes sent fall from megabytes to a kilobyte.
func BenchmarkSolarisGatherExhaustedFiltered(b *testing.B) {
	h, _ := NewHost("sol-01", "solaris", "5.11")
	if err := SetProfile(h, ProfileExhausted, 0, 1); err != nil {
		b.Fatal(err)
	}
	var cmd string
	for _, line := range strings.Split(platform.SolarisGatherScript(), "\n") {
		if c, ok := strings.CutPrefix(line, "echo '@@fleettune@@ netstat'; "); ok {
			cmd = c
		}
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out := h.Run("root", cmd)
		if out.Code != 0 || !strings.Contains(out.Stdout, "@@tw ") {
			b.Fatal(out)
		}
		n = len(out.Stdout)
	}
	b.ReportMetric(float64(n), "bytes/out")
}

// ParseSolarisFacts of an exhausted host's gather output: as the filter
// leaves it, and with the whole table in its netstat section (the gather
// before issue 11).
func BenchmarkSolarisParseGatherExhausted(b *testing.B) {
	h, _ := NewHost("sol-01", "solaris", "5.11")
	if err := SetProfile(h, ProfileExhausted, 0, 1); err != nil {
		b.Fatal(err)
	}
	filtered := h.Run("root", platform.SolarisGatherScript()).Stdout
	start := strings.Index(filtered, "@@fleettune@@ netstat\n") + len("@@fleettune@@ netstat\n")
	end := strings.Index(filtered, "@@tw ")
	end += strings.IndexByte(filtered[end:], '\n') + 1
	whole := filtered[:start] + h.Run("root", "/usr/bin/netstat -an -P tcp").Stdout + filtered[end:]
	for _, bc := range []struct{ name, out string }{{"filtered", filtered}, {"whole", whole}} {
		b.Run(bc.name, func(b *testing.B) {
			f0, err := platform.ParseSolarisFacts(bc.out)
			if err != nil || f0.TimeWait < 1000 {
				b.Fatal(err, f0)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := platform.ParseSolarisFacts(bc.out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(bc.out)), "bytes/out")
		})
	}
}
