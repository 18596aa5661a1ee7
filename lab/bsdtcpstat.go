package lab

import (
	"fmt"
	"strings"
	"time"
)

// The TCP statistics `netstat -p tcp` prints on AIX, HP-UX and Tru64: the
// 4.3BSD-Reno layout of netstat's inet.c tcp_stats, which all three
// inherit. A "tcp:" line, then one line per counter of struct tcpstat,
// "\t%d <what>" with the noun pluralised unless the value is 1 and
// sub-counters indented by a second tab. Only this printer lives here; the
// drivers' parser (platform/netstat.go) is written from the same layout,
// independently, and the fixtures in platform/testdata/{aix,hpux,tru64}
// say which parts are real captures.

// bsdTCPLine is one line of the report: the counters it shows and the
// format, whose %s after each %d is the plural "s" of that counter.
type bsdTCPLine struct {
	names  []string
	format string
}

// bsdTCPReport is tcp_stats' order (4.3BSD-Reno inet.c).
var bsdTCPReport = []bsdTCPLine{
	{[]string{"sndtotal"}, "\t%d packet%s sent\n"},
	{[]string{"sndpack", "sndbyte"}, "\t\t%d data packet%s (%d byte%s)\n"},
	{[]string{"sndrexmitpack", "sndrexmitbyte"}, "\t\t%d data packet%s (%d byte%s) retransmitted\n"},
	{[]string{"sndacks", "delack"}, "\t\t%d ack-only packet%s (%d delayed)\n"},
	{[]string{"sndurg"}, "\t\t%d URG only packet%s\n"},
	{[]string{"sndprobe"}, "\t\t%d window probe packet%s\n"},
	{[]string{"sndwinup"}, "\t\t%d window update packet%s\n"},
	{[]string{"sndctrl"}, "\t\t%d control packet%s\n"},
	{[]string{"rcvtotal"}, "\t%d packet%s received\n"},
	{[]string{"rcvackpack", "rcvackbyte"}, "\t\t%d ack%s (for %d byte%s)\n"},
	{[]string{"rcvdupack"}, "\t\t%d duplicate ack%s\n"},
	{[]string{"rcvacktoomuch"}, "\t\t%d ack%s for unsent data\n"},
	{[]string{"rcvpack", "rcvbyte"}, "\t\t%d packet%s (%d byte%s) received in-sequence\n"},
	{[]string{"rcvduppack", "rcvdupbyte"}, "\t\t%d completely duplicate packet%s (%d byte%s)\n"},
	{[]string{"rcvpartduppack", "rcvpartdupbyte"}, "\t\t%d packet%s with some dup. data (%d byte%s duped)\n"},
	{[]string{"rcvoopack", "rcvoobyte"}, "\t\t%d out-of-order packet%s (%d byte%s)\n"},
	{[]string{"rcvpackafterwin", "rcvbyteafterwin"}, "\t\t%d packet%s (%d byte%s) of data after window\n"},
	{[]string{"rcvwinprobe"}, "\t\t%d window probe%s\n"},
	{[]string{"rcvwinupd"}, "\t\t%d window update packet%s\n"},
	{[]string{"rcvafterclose"}, "\t\t%d packet%s received after close\n"},
	{[]string{"rcvbadsum"}, "\t\t%d discarded for bad checksum%s\n"},
	{[]string{"rcvbadoff"}, "\t\t%d discarded for bad header offset field%s\n"},
	{[]string{"rcvshort"}, "\t\t%d discarded because packet too short\n"},
	{[]string{"connattempt"}, "\t%d connection request%s\n"},
	{[]string{"accepts"}, "\t%d connection accept%s\n"},
	{[]string{"connects"}, "\t%d connection%s established (including accepts)\n"},
	{[]string{"closed", "drops"}, "\t%d connection%s closed (including %d drop%s)\n"},
	{[]string{"conndrops"}, "\t%d embryonic connection%s dropped\n"},
	{[]string{"rttupdated", "segstimed"}, "\t%d segment%s updated rtt (of %d attempt%s)\n"},
	{[]string{"rexmttimeo"}, "\t%d retransmit timeout%s\n"},
	{[]string{"timeoutdrop"}, "\t\t%d connection%s dropped by rexmit timeout\n"},
	{[]string{"persisttimeo"}, "\t%d persist timeout%s\n"},
	{[]string{"keeptimeo"}, "\t%d keepalive timeout%s\n"},
	{[]string{"keepprobe"}, "\t\t%d keepalive probe%s sent\n"},
	{[]string{"keepdrops"}, "\t\t%d connection%s dropped by keepalive\n"},
}

// bsdTCPStats are one host's struct tcpstat, by field name without tcps_.
type bsdTCPStats map[string]int64

// bsdUptimeTCPStats are the counters of a host that has been up a while.
func bsdUptimeTCPStats() bsdTCPStats {
	return bsdTCPStats{
		"sndtotal": 2841631, "sndpack": 2180145, "sndbyte": 1010018470, "sndrexmitpack": 1422,
		"sndrexmitbyte": 803311, "sndacks": 560214, "delack": 201877, "sndurg": 0, "sndprobe": 12,
		"sndwinup": 3340, "sndctrl": 96455, "rcvtotal": 2920112, "rcvackpack": 2005513,
		"rcvackbyte": 1009127551, "rcvdupack": 8812, "rcvacktoomuch": 0, "rcvpack": 1610284,
		"rcvbyte": 688312890, "rcvduppack": 511, "rcvdupbyte": 40122, "rcvpartduppack": 3,
		"rcvpartdupbyte": 911, "rcvoopack": 2210, "rcvoobyte": 2866214, "rcvpackafterwin": 0,
		"rcvbyteafterwin": 0, "rcvwinprobe": 1, "rcvwinupd": 12377, "rcvafterclose": 31,
		"rcvbadsum": 0, "rcvbadoff": 0, "rcvshort": 0, "connattempt": 48211, "accepts": 13377,
		"connects": 61170, "closed": 61455, "drops": 96, "conndrops": 212, "rttupdated": 1991025,
		"segstimed": 2004417, "rexmttimeo": 1901, "timeoutdrop": 4, "persisttimeo": 7,
		"keeptimeo": 880, "keepprobe": 611, "keepdrops": 9,
	}
}

// bsdTCPTraffic is how much the counters rise at every read: a couple of
// connections opened and served. No failure counter moves.
var bsdTCPTraffic = map[string]int64{
	"sndtotal": 38, "sndpack": 21, "sndbyte": 2876, "sndacks": 9, "delack": 4, "sndctrl": 6,
	"rcvtotal": 41, "rcvackpack": 20, "rcvackbyte": 2876, "rcvpack": 17, "rcvbyte": 1934,
	"connattempt": 2, "accepts": 1, "connects": 3, "closed": 3, "rttupdated": 19, "segstimed": 19,
}

// bsdHandshakeFailures is how much the embryonic drops and the drops of
// established connections rise at every read while the handshake-failure
// fault shows (Faults.HandshakeFailures on and TIME_WAIT below its
// baseline): stray segments of old connections reset new ones on the same
// 4-tuple. Well above the drivers' threshold of 50 per watch window.
const bsdHandshakeFailures = 120

// isNetstatPTCP reports whether argv is `netstat -p tcp`.
func isNetstatPTCP(argv []string) bool {
	return len(argv) == 3 && (argv[0] == "netstat" || strings.HasSuffix(argv[0], "/netstat")) && argv[1] == "-p" && argv[2] == "tcp"
}

// netstat answers `netstat -p tcp` after letting the counters move on.
func (s bsdTCPStats) netstat(h *Host, timeWait time.Duration) Output {
	for n, d := range bsdTCPTraffic {
		s[n] += d
	}
	if h.Faults.HandshakeFailures && timeWait < h.BaselineTimeWait {
		s["conndrops"] += bsdHandshakeFailures
		s["drops"] += bsdHandshakeFailures
		s["closed"] += bsdHandshakeFailures
	}
	var b strings.Builder
	b.WriteString("tcp:\n")
	for _, l := range bsdTCPReport {
		args := make([]any, 0, 2*len(l.names))
		for _, n := range l.names {
			args = append(args, s[n])
			if strings.Count(l.format, "%s") > len(args)/2 {
				args = append(args, plural(s[n]))
			}
		}
		fmt.Fprintf(&b, l.format, args...)
	}
	return Output{Stdout: b.String()}
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
