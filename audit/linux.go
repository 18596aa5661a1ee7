package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// linuxT is TCP_TIMEWAIT_LEN: fixed in the kernel.
const linuxT = 60 * time.Second

// linuxProcHeader starts /proc/net/tcp and tcp6: when the sockets section
// begins with it, ss was missing and the script fell back.
const linuxProcHeader = "sl"

// LinuxScript is the one command the audit runs on a Linux host: ss over
// netlink (one line per socket, with timers), falling back to /proc/net/tcp
// and tcp6 when ss is missing or too old for -H; then the configuration the
// arithmetic needs and the TcpExt counters. Read-only; everything constant.
func LinuxScript() string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	b.WriteString("echo '@@fleettune@@ uname'; uname -r\n")
	for _, k := range []string{"ip_local_port_range", "ip_local_reserved_ports", "tcp_tw_reuse", "tcp_timestamps", "tcp_max_tw_buckets"} {
		fmt.Fprintf(&b, "echo '@@fleettune@@ %s'; cat /proc/sys/net/ipv4/%s\n", k, k)
	}
	b.WriteString("echo '@@fleettune@@ sockstat'; cat /proc/net/sockstat\n")
	b.WriteString("echo '@@fleettune@@ netstat'; cat /proc/net/netstat\n")
	b.WriteString("echo '@@fleettune@@ sockets'; ss -Htano 2>/dev/null || cat /proc/net/tcp /proc/net/tcp6\n")
	b.WriteString("echo '@@fleettune@@ end'\n")
	return b.String()
}

// ParseLinux reads the output of LinuxScript.
func ParseLinux(out string, lim Limits) (*Snapshot, error) {
	s := sections(out)
	if err := requireEnd(s, "linux audit"); err != nil {
		return nil, err
	}
	snap := &Snapshot{OS: platform.Linux, Version: firstLine(s["uname"]), T: linuxT,
		TSource: "fixed by the kernel: TCP_TIMEWAIT_LEN", Counters: map[string]int64{}}
	f := strings.Fields(s["ip_local_port_range"])
	if len(f) != 2 {
		return nil, fmt.Errorf("ip_local_port_range: expected two ports, got %s", quoteCut(firstLine(s["ip_local_port_range"]), 80))
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	snap.Range = platform.PortRange{Low: lo, High: hi}
	if err1 != nil || err2 != nil || snap.Range.Validate() != nil {
		return nil, fmt.Errorf("ip_local_port_range: expected two ports LOW HIGH, got %s", quoteCut(firstLine(s["ip_local_port_range"]), 80))
	}
	res, err := parsePortList(firstLine(s["ip_local_reserved_ports"]))
	if err != nil {
		return nil, fmt.Errorf("ip_local_reserved_ports: %w", err)
	}
	snap.Excluded = res
	snap.TwReuse, snap.Timestamps, snap.MaxTwBuckets = -1, -1, -1
	for _, k := range []struct {
		name string
		dst  *int
	}{{"tcp_tw_reuse", &snap.TwReuse}, {"tcp_timestamps", &snap.Timestamps}, {"tcp_max_tw_buckets", &snap.MaxTwBuckets}} {
		if v, err := intValue(k.name, s[k.name]); err == nil {
			*k.dst = v
		}
	}
	if tw, ok := parseSockstat(s["sockstat"]); ok {
		snap.Counters["sockstat.tw"] = tw
	}
	for k, v := range parseNetstatCounters(s["netstat"], "TcpExt", "TWRecycled", "TCPTimeWaitOverflow") {
		snap.Counters[k] = v
	}

	body := s["sockets"]
	src := sockSource{name: "ss -Htano", body: body, parse: parseSSLine, listen: "LISTEN"}
	snap.SocketSource = "ss -Htano"
	if strings.HasPrefix(strings.TrimLeft(body, " "), linuxProcHeader) {
		src = sockSource{name: "/proc/net/tcp", body: body, parse: parseProcTCPLine}
		snap.SocketSource = "/proc/net/tcp and tcp6"
		snap.Notes = append(snap.Notes, "ss is missing or too old for -H: read /proc/net/tcp and tcp6 instead (slower on the host)")
	}
	tab, trunc, err := buildTable(PerDestination, snap.Range, snap.T, lim.maxLines(), src)
	if err != nil {
		return nil, err
	}
	snap.Table, snap.Truncated = tab, trunc
	if trunc {
		snap.Notes = append(snap.Notes, truncNote(lim.maxLines()))
	}
	return snap, nil
}

// parsePortList reads ip_local_reserved_ports: "8080,9148,50000-50100".
func parsePortList(s string) ([]platform.PortRange, error) {
	var out []platform.PortRange
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		l, ok1 := parsePort(lo)
		h := l
		ok2 := true
		if isRange {
			h, ok2 = parsePort(hi)
		}
		if !ok1 || !ok2 || l == 0 || h < l {
			return nil, fmt.Errorf("expected ports or ranges separated by commas, got %s", quoteCut(part, 40))
		}
		out = append(out, platform.PortRange{Low: int(l), High: int(h)})
	}
	return out, nil
}

// parseSockstat reads "TCP: inuse N orphan N tw N alloc N mem N".
func parseSockstat(s string) (int64, bool) {
	for pos := 0; pos < len(s); {
		line, next := nextLine(s, pos)
		pos = next
		if !strings.HasPrefix(line, "TCP:") {
			continue
		}
		f := strings.Fields(line)
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				n, err := strconv.ParseInt(f[i+1], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// parseNetstatCounters reads the named fields of one prefix of
// /proc/net/netstat or /proc/net/snmp: a header line "Prefix: a b c" then a
// value line "Prefix: 1 2 3". By name, never by position.
func parseNetstatCounters(s, prefix string, names ...string) map[string]int64 {
	out := map[string]int64{}
	var header []string
	for pos := 0; pos < len(s); {
		line, next := nextLine(s, pos)
		pos = next
		if !strings.HasPrefix(line, prefix+":") {
			continue
		}
		f := strings.Fields(line[len(prefix)+1:])
		if header == nil {
			header = f
			continue
		}
		for i, h := range header {
			if i >= len(f) {
				break
			}
			for _, n := range names {
				if h == n {
					if v, err := strconv.ParseInt(f[i], 10, 64); err == nil {
						out[prefix+"."+n] = v
					}
				}
			}
		}
		break
	}
	return out
}

// ssStates maps ss's state names (iproute2 ss.c sstate_name).
var ssStates = map[string]State{
	"ESTAB": Established, "SYN-SENT": SynSent, "SYN-RECV": SynRecv, "FIN-WAIT-1": FinWait1,
	"FIN-WAIT-2": FinWait2, "TIME-WAIT": TimeWait, "UNCONN": Closed, "CLOSE-WAIT": CloseWait,
	"LAST-ACK": LastAck, "LISTEN": Listen, "CLOSING": Closing,
}

var errNoState = errors.New("a TCP state (ESTAB, TIME-WAIT, LISTEN, ...)")

// parseSSLine reads one line of `ss -Htano`:
// "TIME-WAIT 0 0 127.0.0.1:34460 127.0.0.1:5432 timer:(timewait,58sec,0)".
func parseSSLine(line string) (Socket, bool, error) {
	var f [7]string
	n := fields(line, f[:])
	if n == 0 {
		return Socket{}, false, nil
	}
	if n < 5 {
		return Socket{}, false, fmt.Errorf("expected STATE RECV-Q SEND-Q LOCAL:PORT PEER:PORT, got %s", quoteCut(line, 120))
	}
	st, ok := ssStates[f[0]]
	if !ok {
		return Socket{}, false, fmt.Errorf("expected %v, got %s", errNoState, quoteCut(f[0], 40))
	}
	local, err := parseColonAddr(f[3])
	if err != nil {
		return Socket{}, false, fmt.Errorf("local address: %w", err)
	}
	remote, err := parseColonAddr(f[4])
	if err != nil {
		return Socket{}, false, fmt.Errorf("peer address: %w", err)
	}
	s := Socket{Local: local, Remote: remote, State: st, Timer: -1, PID: -1}
	if n > 5 && st == TimeWait {
		if i := strings.Index(f[5], "timer:(timewait,"); i >= 0 {
			rest := f[5][i+len("timer:(timewait,"):]
			if j := strings.IndexByte(rest, ','); j >= 0 {
				if d, ok := parseSSTime(rest[:j]); ok {
					s.Timer = d
				}
			}
		}
	}
	return s, true, nil
}

// parseColonAddr reads "10.0.0.1:22", "[::1]:22", "*:22", "0.0.0.0:*",
// "127.0.0.53%lo:53", and old ss's unbracketed "::1:22".
func parseColonAddr(s string) (netip.AddrPort, error) {
	h, p, ok := splitLast(s, ':')
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("expected ADDRESS:PORT, got %s", quoteCut(s, 60))
	}
	port, ok := parsePort(p)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("expected a port after the last colon, got %s", quoteCut(s, 60))
	}
	a, ok := parseHost(h, strings.Contains(h, ":"))
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("expected an IP address, got %s", quoteCut(s, 60))
	}
	return addrPort(a, port), nil
}

// parseSSTime reads ss's timer format (iproute2 print_ms_timer): "58sec",
// "1min", "1min5sec", "5.123ms" (5.123 s), "830ms".
func parseSSTime(s string) (time.Duration, bool) {
	var d time.Duration
	if i := strings.Index(s, "min"); i >= 0 {
		m, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, false
		}
		d += time.Duration(m) * time.Minute
		s = s[i+3:]
	}
	switch {
	case s == "":
	case strings.HasSuffix(s, "sec"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "sec"))
		if err != nil {
			return 0, false
		}
		d += time.Duration(n) * time.Second
	case strings.HasSuffix(s, "ms"):
		v := strings.TrimSuffix(s, "ms")
		sec, ms, dotted := strings.Cut(v, ".")
		if dotted {
			a, err1 := strconv.Atoi(sec)
			b, err2 := strconv.Atoi(ms)
			if err1 != nil || err2 != nil {
				return 0, false
			}
			d += time.Duration(a)*time.Second + time.Duration(b)*time.Millisecond
		} else {
			b, err := strconv.Atoi(v)
			if err != nil {
				return 0, false
			}
			d += time.Duration(b) * time.Millisecond
		}
	default:
		return 0, false
	}
	return d, true
}

// linuxUserHZ is the clock the /proc/net/tcp timer is printed in.
const linuxUserHZ = 100

// parseProcTCPLine reads one row of /proc/net/tcp or tcp6:
// "3: 0100007F:869C 0100007F:1538 06 00000000:00000000 03:000016A7 ...".
// Addresses are in the host's byte order; this reads them little-endian,
// as x86 and arm64 print them.
func parseProcTCPLine(line string) (Socket, bool, error) {
	var f [7]string
	n := fields(line, f[:])
	if n == 0 || f[0] == linuxProcHeader {
		return Socket{}, false, nil
	}
	if n < 6 || !strings.HasSuffix(f[0], ":") {
		return Socket{}, false, fmt.Errorf("expected SL: LOCAL REMOTE ST QUEUES TIMER, got %s", quoteCut(line, 120))
	}
	local, err := parseHexAddr(f[1])
	if err != nil {
		return Socket{}, false, fmt.Errorf("local address: %w", err)
	}
	remote, err := parseHexAddr(f[2])
	if err != nil {
		return Socket{}, false, fmt.Errorf("remote address: %w", err)
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil || st < 1 || st > 12 {
		return Socket{}, false, fmt.Errorf("expected a state from 01 to 0C, got %s", quoteCut(f[3], 20))
	}
	s := Socket{Local: local, Remote: remote, State: State(st), Timer: -1, PID: -1}
	if st == 12 { // TCP_NEW_SYN_RECV
		s.State = SynRecv
	}
	if tr, when, ok := strings.Cut(f[5], ":"); ok && tr == "03" && s.State == TimeWait {
		if ticks, err := strconv.ParseUint(when, 16, 32); err == nil {
			s.Timer = time.Duration(ticks) * time.Second / linuxUserHZ
		}
	}
	return s, true, nil
}

func parseHexAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil {
		return netip.AddrPort{}, fmt.Errorf("expected HEXADDR:HEXPORT, got %s", quoteCut(s, 60))
	}
	var a netip.Addr
	switch len(h) {
	case 8:
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("expected 8 hex digits, got %s", quoteCut(h, 40))
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		a = netip.AddrFrom4(b)
	case 32:
		var b [16]byte
		for w := 0; w < 4; w++ {
			v, err := strconv.ParseUint(h[w*8:w*8+8], 16, 32)
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("expected 32 hex digits, got %s", quoteCut(h, 40))
			}
			binary.LittleEndian.PutUint32(b[w*4:], uint32(v))
		}
		a = netip.AddrFrom16(b)
	default:
		return netip.AddrPort{}, fmt.Errorf("expected 8 or 32 hex digits, got %s", quoteCut(h, 40))
	}
	return addrPort(a, uint16(port)), nil
}
