package audit

import (
	"fmt"
	"strings"
)

// linuxHost builds the Linux script's output for a host with the given
// range and, per destination, TIME_WAIT and ESTABLISHED sockets from
// 10.0.1.7; timers spread evenly over the 60 seconds.
type linuxHost struct {
	low, high int
	reserved  string
	twReuse   int
	dests     []linuxDest
	listen    []int
	overflow  int64
}

type linuxDest struct {
	addr        string
	tw, est, cw int
}

func (h linuxHost) output() string {
	var b strings.Builder
	fmt.Fprintf(&b, "@@fleettune@@ uname\n6.1.0-18-amd64\n@@fleettune@@ ip_local_port_range\n%d\t%d\n", h.low, h.high)
	fmt.Fprintf(&b, "@@fleettune@@ ip_local_reserved_ports\n%s\n@@fleettune@@ tcp_tw_reuse\n%d\n@@fleettune@@ tcp_timestamps\n1\n", h.reserved, h.twReuse)
	b.WriteString("@@fleettune@@ tcp_max_tw_buckets\n262144\n@@fleettune@@ sockstat\nTCP: inuse 5 orphan 0 tw 10 alloc 7 mem 1\n")
	fmt.Fprintf(&b, "@@fleettune@@ netstat\nTcpExt: TW TWRecycled TCPTimeWaitOverflow\nTcpExt: 100 0 %d\n@@fleettune@@ sockets\n", h.overflow)
	for _, l := range h.listen {
		fmt.Fprintf(&b, "LISTEN 0 4096 0.0.0.0:%d 0.0.0.0:*\n", l)
	}
	port := h.low
	for _, d := range h.dests {
		for i := 0; i < d.tw; i++ {
			fmt.Fprintf(&b, "TIME-WAIT 0 0 10.0.1.7:%d %s timer:(timewait,%dsec,0)\n", port, d.addr, 59-i%60)
			port++
		}
		for i := 0; i < d.est; i++ {
			fmt.Fprintf(&b, "ESTAB 0 0 10.0.1.7:%d %s timer:(keepalive,100min,0)\n", port, d.addr)
			port++
		}
		for i := 0; i < d.cw; i++ {
			fmt.Fprintf(&b, "CLOSE-WAIT 1 0 10.0.1.7:%d %s\n", port, d.addr)
			port++
		}
		port = h.low // per destination: the same ports again
	}
	b.WriteString("@@fleettune@@ end\n")
	return b.String()
}
