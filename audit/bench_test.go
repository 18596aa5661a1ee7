package audit

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds CPU milliseconds per operation: on a shared machine the
// wall clock (ns/op) also counts time spent waiting for a core.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// bigLinux is a Linux host with n sockets: a few listeners, a tenth inbound,
// the rest outbound to 20 destinations, four in five in TIME_WAIT.
func bigLinux(n int) string {
	var b strings.Builder
	b.WriteString("@@fleettune@@ uname\n6.1.0\n@@fleettune@@ ip_local_port_range\n1024\t65535\n@@fleettune@@ ip_local_reserved_ports\n\n")
	b.WriteString("@@fleettune@@ tcp_tw_reuse\n2\n@@fleettune@@ tcp_timestamps\n1\n@@fleettune@@ tcp_max_tw_buckets\n262144\n")
	b.WriteString("@@fleettune@@ sockstat\nTCP: inuse 1 orphan 0 tw 1 alloc 1 mem 1\n@@fleettune@@ netstat\nTcpExt: TWRecycled\nTcpExt: 0\n@@fleettune@@ sockets\n")
	b.WriteString("LISTEN 0 4096 0.0.0.0:22 0.0.0.0:*\nLISTEN 0 4096 [::]:443 [::]:*\n")
	for i := 0; i < n; i++ {
		port := 1024 + i%64000
		switch {
		case i%10 == 0:
			fmt.Fprintf(&b, "ESTAB 0 0 [::ffff:10.0.1.7]:443 [::ffff:10.9.%d.%d]:%d timer:(keepalive,100min,0)\n", i/250%250, i%250, 30000+i%30000)
		case i%5 == 1:
			fmt.Fprintf(&b, "ESTAB 0 0 10.0.1.7:%d 10.0.0.%d:5432\n", port, i%20)
		default:
			fmt.Fprintf(&b, "TIME-WAIT 0 0 10.0.1.7:%d 10.0.0.%d:5432 timer:(timewait,%dsec,0)\n", port, i%20, i%60)
		}
	}
	b.WriteString("@@fleettune@@ end\n")
	return b.String()
}

func bigWindows(n int) string {
	var b strings.Builder
	b.WriteString("@@fleettune@@ ver \r\n\r\nMicrosoft Windows [Version 10.0.17763.5936]\r\n@@fleettune@@ dynamicport ipv4 \r\nStart Port      : 1025\r\nNumber of Ports : 64511\r\n")
	b.WriteString("@@fleettune@@ reg \r\nERROR: The system was unable to find the specified registry key or value.\r\n@@fleettune@@ failed reg\r\n")
	b.WriteString("@@fleettune@@ netstat tcp \r\n\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n")
	b.WriteString("  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1268\r\n")
	for i := 0; i < n; i++ {
		st, pid := "TIME_WAIT", 0
		if i%5 == 0 {
			st, pid = "ESTABLISHED", 3000+i%7
		}
		fmt.Fprintf(&b, "  TCP    10.0.2.2:%d         10.0.0.%d:1433          %s       %d\r\n", 1025+i%64000, i%20, st, pid)
	}
	b.WriteString("@@fleettune@@ end\r\n")
	return b.String()
}

// BenchmarkParseLinux50k is the budget: a host with 50,000 sockets
// parsed and analysed under 50 ms of CPU and 10 MB.
// go test ./audit -run '^$' -bench . -benchmem
func BenchmarkParseLinux50k(b *testing.B) { benchLinux(b, 50_000) }

// BenchmarkParseLinux100k shows the cost grows linearly with the table.
func BenchmarkParseLinux100k(b *testing.B) { benchLinux(b, 100_000) }

func benchLinux(b *testing.B, n int) {
	out := bigLinux(n)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	start := cpuTime(b)
	defer reportCPU(b, start)
	for b.Loop() {
		s, err := ParseLinux(out, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if h := Analyze(Input{Host: "h", Snapshots: []*Snapshot{s}}, DefaultThresholds()); h.PoolCount != 18 {
			b.Fatalf("pools %d", h.PoolCount)
		}
	}
}

func BenchmarkParseWindows50k(b *testing.B) {
	out := bigWindows(50_000)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	start := cpuTime(b)
	defer reportCPU(b, start)
	for b.Loop() {
		s, err := ParseWindows(out, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if h := Analyze(Input{Host: "h", Snapshots: []*Snapshot{s}}, DefaultThresholds()); h.PoolCount != 1 || h.Pools[0].Held != 50_000 {
			b.Fatalf("pools %d held %d", h.PoolCount, h.Pools[0].Held)
		}
	}
}
