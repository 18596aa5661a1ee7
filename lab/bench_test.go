package lab

import (
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
