package audit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// The Unix collectors (Solaris, HP-UX, AIX, Tru64) stay within the lab
// shell's subset: echo, one command per line, 2>&1, ||, no pipes, no
// variables, no control flow.

func unixSection(b *strings.Builder, name, cmd string) {
	fmt.Fprintf(b, "echo '%s%s'; %s 2>&1 || echo '%sfailed %s'\n", sectionMarker, name, cmd, sectionMarker, name)
}

func unixEnd(b *strings.Builder) string {
	b.WriteString("echo '" + sectionMarker + endSection + "'\n")
	return b.String()
}

// SolarisScript reads both variants' knobs, as the driver does: ndd works
// on 10 and 11; ipadm exists on 11 only and is preferred there.
func SolarisScript() string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	unixSection(&b, "uname", "uname -r")
	for _, k := range []string{"tcp_smallest_anon_port", "tcp_largest_anon_port", "tcp_time_wait_interval"} {
		unixSection(&b, "ndd "+k, "/usr/sbin/ndd -get /dev/tcp "+k)
	}
	unixSection(&b, "ipadm", "/usr/sbin/ipadm show-prop -p smallest_anon_port,largest_anon_port,_time_wait_interval tcp")
	unixSection(&b, "netstat inet", "netstat -an -f inet -P tcp")
	unixSection(&b, "netstat inet6", "netstat -an -f inet6 -P tcp")
	return unixEnd(&b)
}

// HPUXScript reads the anon range and TIME_WAIT interval with ndd.
func HPUXScript() string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	unixSection(&b, "uname", "uname -r")
	for _, k := range []string{"tcp_smallest_anon_port", "tcp_largest_anon_port", "tcp_time_wait_interval"} {
		unixSection(&b, "ndd "+k, "ndd -get /dev/tcp "+k)
	}
	unixSection(&b, "netstat", "netstat -an -f inet")
	return unixEnd(&b)
}

// AIXScript reads the ephemeral range and tcp_timewait with no -o.
func AIXScript() string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	unixSection(&b, "uname", "uname -srv")
	for _, k := range []string{"tcp_ephemeral_low", "tcp_ephemeral_high", "tcp_timewait"} {
		unixSection(&b, "no "+k, "no -o "+k)
	}
	unixSection(&b, "netstat", "netstat -an -f inet")
	return unixEnd(&b)
}

// Tru64Script reads the reserved-port range and tcp_msl with sysconfig.
func Tru64Script() string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	unixSection(&b, "uname", "uname -r")
	unixSection(&b, "sysconfig", "sysconfig -q inet ipport_userreserved_min ipport_userreserved tcp_msl")
	unixSection(&b, "netstat", "netstat -an -f inet")
	return unixEnd(&b)
}

func unixSnapshot(os string, s map[string]string) *Snapshot {
	return &Snapshot{OS: os, Version: firstLine(s["uname"]), TwReuse: -1, Timestamps: -1, MaxTwBuckets: -1,
		Counters: map[string]int64{}}
}

func rangeOf(what string, lo, hi int) (platform.PortRange, error) {
	r := platform.PortRange{Low: lo, High: hi}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("%s: %w", what, err)
	}
	return r, nil
}

// ndd reads one `ndd -get` section; HP-UX's Mentat ndd prints errors on
// stdout with status 0, so anything but one integer is an error.
func ndd(s map[string]string, k string) (int, error) {
	if _, failed := s["failed ndd "+k]; failed {
		return 0, fmt.Errorf("ndd -get /dev/tcp %s failed: %s", k, quoteCut(firstLine(s["ndd "+k]), 100))
	}
	return intValue("ndd -get /dev/tcp "+k, s["ndd "+k])
}

// ParseSolaris reads the output of SolarisScript.
func ParseSolaris(out string, lim Limits) (*Snapshot, error) {
	s := sections(out)
	if err := requireEnd(s, "solaris audit"); err != nil {
		return nil, err
	}
	snap := unixSnapshot(platform.Solaris, s)
	lo, hi, tw, src := 0, 0, 0, ""
	if _, failed := s["failed ipadm"]; !failed {
		if p := parseIpadm(s["ipadm"]); len(p) == 3 {
			lo, hi, tw, src = p["smallest_anon_port"], p["largest_anon_port"], p["_time_wait_interval"], "ipadm _time_wait_interval"
		}
	}
	if src == "" {
		var err error
		if lo, err = ndd(s, "tcp_smallest_anon_port"); err != nil {
			return nil, err
		}
		if hi, err = ndd(s, "tcp_largest_anon_port"); err != nil {
			return nil, err
		}
		if tw, err = ndd(s, "tcp_time_wait_interval"); err != nil {
			return nil, err
		}
		src = "ndd tcp_time_wait_interval"
	}
	r, err := rangeOf("anon port range", lo, hi)
	if err != nil {
		return nil, err
	}
	snap.Range = r
	snap.T, snap.TSource = time.Duration(tw)*time.Millisecond, fmt.Sprintf("%s = %d ms", src, tw)
	var srcs []sockSource
	for _, fam := range []string{"inet", "inet6"} {
		if _, failed := s["failed netstat "+fam]; failed {
			if fam == "inet" {
				return nil, fmt.Errorf("netstat -an -f inet -P tcp failed: %s", quoteCut(firstLine(s["netstat inet"]), 120))
			}
			continue
		}
		srcs = append(srcs, sockSource{name: "netstat -an -f " + fam + " -P tcp", body: s["netstat "+fam], parse: parseSolarisLine, listen: "LISTEN"})
	}
	return finishUnix(snap, "netstat -an -P tcp", lim, srcs...)
}

// parseIpadm reads `ipadm show-prop` rows "tcp PROPERTY PERM CURRENT ...";
// the PROPERTY column may be hyphenated (smallest-anon-port).
func parseIpadm(out string) map[string]int {
	p := map[string]int{}
	var f [5]string
	for pos := 0; pos < len(out); {
		line, next := nextLine(out, pos)
		pos = next
		if fields(line, f[:]) < 4 || f[0] != "tcp" {
			continue
		}
		name := strings.ReplaceAll(f[1], "-", "_")
		if strings.HasPrefix(f[1], "-") || strings.HasPrefix(f[1], "_") {
			name = "_" + strings.TrimLeft(name, "_")
		}
		if v, err := strconv.Atoi(f[3]); err == nil {
			p[name] = v
		}
	}
	return p
}

// ParseHPUX reads the output of HPUXScript.
func ParseHPUX(out string, lim Limits) (*Snapshot, error) {
	s := sections(out)
	if err := requireEnd(s, "hpux audit"); err != nil {
		return nil, err
	}
	snap := unixSnapshot(platform.HPUX, s)
	lo, err := ndd(s, "tcp_smallest_anon_port")
	if err != nil {
		return nil, err
	}
	hi, err := ndd(s, "tcp_largest_anon_port")
	if err != nil {
		return nil, err
	}
	if snap.Range, err = rangeOf("anon port range", lo, hi); err != nil {
		return nil, err
	}
	tw, err := ndd(s, "tcp_time_wait_interval")
	if err != nil {
		return nil, err
	}
	snap.T, snap.TSource = time.Duration(tw)*time.Millisecond, fmt.Sprintf("ndd tcp_time_wait_interval = %d ms (reaped every tcp_tw_cleanup_interval)", tw)
	return finishBSD(snap, s, lim)
}

// ParseAIX reads the output of AIXScript.
func ParseAIX(out string, lim Limits) (*Snapshot, error) {
	s := sections(out)
	if err := requireEnd(s, "aix audit"); err != nil {
		return nil, err
	}
	snap := unixSnapshot(platform.AIX, s)
	vals := map[string]int{}
	for _, k := range []string{"tcp_ephemeral_low", "tcp_ephemeral_high", "tcp_timewait"} {
		body := s["no "+k]
		name, v, ok := strings.Cut(firstLine(body), "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if _, failed := s["failed no "+k]; failed || !ok || strings.TrimSpace(name) != k || err != nil {
			return nil, fmt.Errorf("no -o %s: expected \"%s = N\", got %s", k, k, quoteCut(firstLine(body), 100))
		}
		vals[k] = n
	}
	var err error
	if snap.Range, err = rangeOf("tcp_ephemeral_low/high", vals["tcp_ephemeral_low"], vals["tcp_ephemeral_high"]); err != nil {
		return nil, err
	}
	snap.T = time.Duration(vals["tcp_timewait"]) * 15 * time.Second
	snap.TSource = fmt.Sprintf("tcp_timewait = %d (15-second units)", vals["tcp_timewait"])
	return finishBSD(snap, s, lim)
}

// ParseTru64 reads the output of Tru64Script.
func ParseTru64(out string, lim Limits) (*Snapshot, error) {
	s := sections(out)
	if err := requireEnd(s, "tru64 audit"); err != nil {
		return nil, err
	}
	snap := unixSnapshot(platform.Tru64, s)
	if _, failed := s["failed sysconfig"]; failed {
		return nil, fmt.Errorf("sysconfig -q inet failed: %s", quoteCut(firstLine(s["sysconfig"]), 120))
	}
	vals := map[string]int{}
	body := s["sysconfig"]
	for pos := 0; pos < len(body); {
		line, next := nextLine(body, pos)
		pos = next
		name, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			vals[strings.TrimSpace(name)] = n
		}
	}
	for _, k := range []string{"ipport_userreserved_min", "ipport_userreserved", "tcp_msl"} {
		if _, ok := vals[k]; !ok {
			return nil, fmt.Errorf("sysconfig -q inet: expected \"%s = N\" in %s", k, quoteCut(body, 200))
		}
	}
	var err error
	if snap.Range, err = rangeOf("ipport_userreserved_min/ipport_userreserved", vals["ipport_userreserved_min"], vals["ipport_userreserved"]); err != nil {
		return nil, err
	}
	// tcp_msl is in half-seconds and TIME_WAIT is two of them.
	snap.T = time.Duration(vals["tcp_msl"]) * time.Second
	snap.TSource = fmt.Sprintf("2 × tcp_msl = 2 × %d half-seconds", vals["tcp_msl"])
	return finishBSD(snap, s, lim)
}

func finishBSD(snap *Snapshot, s map[string]string, lim Limits) (*Snapshot, error) {
	if _, failed := s["failed netstat"]; failed {
		return nil, fmt.Errorf("netstat -an -f inet failed: %s", quoteCut(firstLine(s["netstat"]), 120))
	}
	return finishUnix(snap, "netstat -an -f inet", lim, sockSource{name: "netstat -an -f inet", body: s["netstat"], parse: parseBSDLine, listen: "LISTEN"})
}

func finishUnix(snap *Snapshot, source string, lim Limits, srcs ...sockSource) (*Snapshot, error) {
	if snap.T <= 0 {
		return nil, fmt.Errorf("%s: TIME_WAIT length must be positive", snap.TSource)
	}
	snap.SocketSource = source
	snap.Notes = append(snap.Notes, "pools per local address are assumed: the vendor does not document how ephemeral ports are shared")
	tab, trunc, err := buildTable(PerAddress, snap.Range, snap.T, lim.maxLines(), srcs...)
	if err != nil {
		return nil, err
	}
	snap.Table, snap.Truncated = tab, trunc
	if trunc {
		snap.Notes = append(snap.Notes, truncNote(lim.maxLines()))
	}
	return snap, nil
}

// unixStates are the BSD and Solaris netstat state words.
var unixStates = map[string]State{
	"LISTEN": Listen, "ESTABLISHED": Established, "SYN_SENT": SynSent, "SYN_RCVD": SynRecv,
	"SYN_RECEIVED": SynRecv, "FIN_WAIT_1": FinWait1, "FIN_WAIT_2": FinWait2, "CLOSE_WAIT": CloseWait,
	"CLOSING": Closing, "LAST_ACK": LastAck, "TIME_WAIT": TimeWait, "CLOSED": Closed,
	"BOUND": Bound, "IDLE": Closed,
}

// parseDotAddr reads "10.0.0.5.1025", "*.22", "*.*", "::1.5999",
// "fe80::1%net0.22": address and port joined by the last dot.
func parseDotAddr(s string) (a Socket, err error) {
	h, p, ok := splitLast(s, '.')
	if !ok {
		return a, fmt.Errorf("expected ADDRESS.PORT, got %s", quoteCut(s, 60))
	}
	port, ok := parsePort(p)
	if !ok {
		return a, fmt.Errorf("expected a port after the last dot, got %s", quoteCut(s, 60))
	}
	addr, ok := parseHost(h, strings.Contains(h, ":"))
	if !ok {
		return a, fmt.Errorf("expected an IP address, got %s", quoteCut(s, 60))
	}
	a.Local = addrPort(addr, port)
	return a, nil
}

func unixSocket(local, remote, state, line string) (Socket, bool, error) {
	st, ok := unixStates[state]
	if !ok {
		return Socket{}, false, fmt.Errorf("expected a TCP state (LISTEN, ESTABLISHED, TIME_WAIT, ...) last, got %s", quoteCut(line, 120))
	}
	l, err := parseDotAddr(local)
	if err != nil {
		return Socket{}, false, fmt.Errorf("local address: %w", err)
	}
	r, err := parseDotAddr(remote)
	if err != nil {
		return Socket{}, false, fmt.Errorf("remote address: %w", err)
	}
	return Socket{Local: l.Local, Remote: r.Local, State: st, Timer: -1, PID: -1}, true, nil
}

// parseSolarisLine reads a row of `netstat -an -P tcp`:
// "10.0.3.1.22  10.0.0.9.51234  64128  0 128872  0 ESTABLISHED"; IPv6
// rows may end with an interface column after the state.
func parseSolarisLine(line string) (Socket, bool, error) {
	var f [9]string
	n := fields(line, f[:])
	if n == 0 || f[0] == "TCP:" || f[0] == "Local" || strings.HasPrefix(f[0], "-") {
		return Socket{}, false, nil
	}
	if n < 7 {
		return Socket{}, false, fmt.Errorf("expected LOCAL REMOTE SWIND SEND-Q RWIND RECV-Q STATE, got %s", quoteCut(line, 120))
	}
	return unixSocket(f[0], f[1], f[6], line)
}

// errStopTable ends a table early (the UNIX domain part of netstat -an).
var errStopTable = errors.New("end of the TCP table")

// parseBSDLine reads a row of BSD-layout `netstat -an -f inet` (HP-UX, AIX,
// Tru64): "tcp  0  0  10.0.0.1.1025  10.0.0.5.5432  TIME_WAIT".
func parseBSDLine(line string) (Socket, bool, error) {
	if strings.HasPrefix(line, "Active UNIX domain sockets") {
		return Socket{}, false, errStopTable
	}
	var f [7]string
	n := fields(line, f[:])
	if n == 0 || !strings.HasPrefix(f[0], "tcp") {
		return Socket{}, false, nil // headers, udp rows
	}
	if n != 6 {
		return Socket{}, false, fmt.Errorf("expected PROTO RECV-Q SEND-Q LOCAL FOREIGN STATE, got %s", quoteCut(line, 120))
	}
	return unixSocket(f[3], f[4], f[5], line)
}
