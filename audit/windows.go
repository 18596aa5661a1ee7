package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// WindowsTcpipKey holds TcpTimedWaitDelay.
const WindowsTcpipKey = `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`

// windowsEventQuery selects the Tcpip events that say ports ran out.
const windowsEventQuery = `"*[System[Provider[@Name='Tcpip'] and (EventID=4227 or EventID=4231)]]"`

// WindowsScript is the one cmd.exe line the audit runs on a Windows host
// (over WinRM or OpenSSH). Each command follows a section marker, has its
// stderr folded in, and is followed by a "failed NAME" marker when it fails,
// as the driver's gather command does. Read-only; everything constant.
func WindowsScript() string {
	var parts []string
	section := func(name, cmd string) {
		parts = append(parts, fmt.Sprintf("echo %s%s & %s 2>&1 || echo %sfailed %s", sectionMarker, name, cmd, sectionMarker, name))
	}
	section("ver", "ver")
	section("dynamicport ipv4", "netsh int ipv4 show dynamicport tcp")
	section("dynamicport ipv6", "netsh int ipv6 show dynamicport tcp")
	section("excluded", "netsh int ipv4 show excludedportrange protocol=tcp")
	section("reg", fmt.Sprintf(`reg query %s /v TcpTimedWaitDelay`, WindowsTcpipKey))
	section("maxuserport", fmt.Sprintf(`reg query %s /v MaxUserPort`, WindowsTcpipKey))
	section("events", "wevtutil qe System /q:"+windowsEventQuery+" /c:50 /rd:true /f:text")
	section("netstat tcp", "netstat -ano -p tcp")
	section("netstat tcpv6", "netstat -ano -p tcpv6")
	parts = append(parts, "echo "+sectionMarker+endSection)
	return strings.Join(parts, " & ")
}

// Defaults for an absent TcpTimedWaitDelay (platforms.md 2.2: the sources
// disagree for 2008 and later).
const (
	windowsTOld = 120 * time.Second // KB 314053, Server 2003
	windowsTNew = 240 * time.Second // the current port-exhaustion article
)

// ParseWindows reads the output of WindowsScript.
func ParseWindows(out string, lim Limits) (*Snapshot, error) {
	out = strings.ReplaceAll(out, "\r\r\n", "\n")
	s := sections(out)
	if err := requireEnd(s, "windows audit"); err != nil {
		return nil, err
	}
	snap := &Snapshot{OS: platform.Windows, TwReuse: -1, Timestamps: -1, MaxTwBuckets: -1,
		Counters: map[string]int64{}, Events: map[int]EventCount{}}
	major := 0
	if rel, m, err := platform.ParseVer(s["ver"]); err == nil {
		snap.Version, major = rel, m
	}
	start, num, err := parseDynamicPort(s["dynamicport ipv4"])
	_, failed := s["failed dynamicport ipv4"]
	switch {
	case (failed || err != nil) && major > 0 && major < 6:
		// Server 2003 has no dynamicport: 1025 to MaxUserPort (default 5000).
		high := int64(5000)
		if _, f := s["failed maxuserport"]; !f {
			if v, err := parseRegDword(s["maxuserport"], "MaxUserPort"); err == nil {
				high = v
			}
		}
		start, num = 1025, int(high)-1025+1
	case failed:
		return nil, fmt.Errorf("netsh int ipv4 show dynamicport tcp failed: %s", quoteCut(firstLine(s["dynamicport ipv4"]), 120))
	case err != nil:
		return nil, fmt.Errorf("netsh int ipv4 show dynamicport tcp: %w", err)
	}
	snap.Range = platform.PortRange{Low: start, High: start + num - 1}
	if snap.Range.Validate() != nil {
		return nil, fmt.Errorf("netsh int ipv4 show dynamicport tcp: start %d and %d ports is not a port range", start, num)
	}
	if s6, n6, err := parseDynamicPort(s["dynamicport ipv6"]); err == nil && (s6 != start || n6 != num) {
		snap.Notes = append(snap.Notes, fmt.Sprintf("the IPv6 dynamic range %d-%d differs from IPv4's; IPv6 pools are measured against IPv4's", s6, s6+n6-1))
	}
	snap.Excluded = parseExcluded(s["excluded"])

	_, regFailed := s["failed reg"]
	v, regErr := parseRegDword(s["reg"], "TcpTimedWaitDelay")
	switch {
	case !regFailed && regErr == nil:
		snap.T, snap.TSource = time.Duration(v)*time.Second, "TcpTimedWaitDelay in the registry, in force since the last boot"
	case major > 0 && major < 6:
		snap.T, snap.TSource = windowsTOld, "TcpTimedWaitDelay not set: 120 s, the Server 2003 default in KB 314053"
	default:
		snap.T, snap.TSource, snap.Ambiguous = windowsTNew, "TcpTimedWaitDelay not set: 240 s assumed; the port-exhaustion article says 240 s, TechNet 120 s", true
	}
	if _, failed := s["failed events"]; !failed {
		snap.Events = parseWevtutil(s["events"])
	}

	var srcs []sockSource
	for _, name := range []string{"netstat tcp", "netstat tcpv6"} {
		if _, failed := s["failed "+name]; failed {
			if name == "netstat tcp" {
				return nil, fmt.Errorf("netstat -ano -p tcp failed: %s", quoteCut(firstLine(s[name]), 120))
			}
			continue
		}
		srcs = append(srcs, sockSource{name: "netstat -ano -p " + strings.TrimPrefix(name, "netstat "), body: s[name], parse: parseWinNetstatLine, listen: "LISTENING"})
	}
	snap.SocketSource = "netstat -ano"
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

// parseDynamicPort reads netsh's "Start Port : 49152" and "Number of Ports
// : 16384"; the labels are localised, so the two numbers are taken in order.
func parseDynamicPort(out string) (start, num int, err error) {
	var nums []int
	for pos := 0; pos < len(out); {
		line, next := nextLine(out, pos)
		pos = next
		_, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			nums = append(nums, n)
		}
	}
	if len(nums) != 2 {
		return 0, 0, fmt.Errorf("expected a start port and a number of ports, got %s", quoteCut(firstLine(out), 80))
	}
	return nums[0], nums[1], nil
}

// parseExcluded reads excludedportrange's table: rows of "START END", an
// administered exclusion marked with a trailing "*".
func parseExcluded(out string) []platform.PortRange {
	var rs []platform.PortRange
	var f [3]string
	for pos := 0; pos < len(out); {
		line, next := nextLine(out, pos)
		pos = next
		n := fields(line, f[:])
		if n < 2 || (n == 3 && f[2] != "*") {
			continue
		}
		lo, ok1 := parsePort(f[0])
		hi, ok2 := parsePort(f[1])
		if ok1 && ok2 && lo > 0 && hi >= lo {
			rs = append(rs, platform.PortRange{Low: int(lo), High: int(hi)})
		}
	}
	return rs
}

// parseRegDword reads reg query's "    NAME    REG_DWORD    0x1e".
func parseRegDword(out, name string) (int64, error) {
	for pos := 0; pos < len(out); {
		line, next := nextLine(out, pos)
		pos = next
		f := strings.Fields(line)
		if len(f) == 3 && strings.EqualFold(f[0], name) && f[1] == "REG_DWORD" {
			return strconv.ParseInt(strings.TrimPrefix(strings.ToLower(f[2]), "0x"), 16, 64)
		}
	}
	return 0, fmt.Errorf("no REG_DWORD %s in reg query's output", name)
}

// parseWevtutil counts the events in wevtutil's text format: each starts
// "Event[N]:", then indented "Label: value" lines ("Date:", "Event ID:").
// With /rd:true the newest comes first, so the first date is the last.
func parseWevtutil(out string) map[int]EventCount {
	ev := map[int]EventCount{}
	date := ""
	for pos := 0; pos < len(out); {
		line, next := nextLine(out, pos)
		pos = next
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "Event[") && strings.HasSuffix(t, "]:"):
			date = ""
		case strings.HasPrefix(t, "Date:"):
			date = strings.TrimSpace(strings.TrimPrefix(t, "Date:"))
		case strings.HasPrefix(t, "Event ID:"):
			id, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(t, "Event ID:")))
			if err != nil || (id != 4227 && id != 4231) {
				continue
			}
			c := ev[id]
			c.Count++
			if c.Last == "" {
				c.Last = date
			}
			ev[id] = c
		}
	}
	return ev
}

// winStates are netstat's state words (English editions).
var winStates = map[string]State{
	"LISTENING": Listen, "SYN_SENT": SynSent, "SYN_RECEIVED": SynRecv, "ESTABLISHED": Established,
	"FIN_WAIT_1": FinWait1, "FIN_WAIT_2": FinWait2, "CLOSE_WAIT": CloseWait, "CLOSING": Closing,
	"LAST_ACK": LastAck, "TIME_WAIT": TimeWait, "CLOSED": Closed, "BOUND": Bound, "DELETE_TCB": Closed,
}

// parseWinNetstatLine reads one row of `netstat -ano -p tcp|tcpv6`:
// "  TCP    10.0.2.2:49700   10.0.0.5:1433   TIME_WAIT   0".
func parseWinNetstatLine(line string) (Socket, bool, error) {
	var f [6]string
	n := fields(line, f[:])
	if n == 0 || f[0] != "TCP" {
		return Socket{}, false, nil // the title, the header, blank lines
	}
	if n != 5 {
		return Socket{}, false, fmt.Errorf("expected TCP LOCAL FOREIGN STATE PID, got %s", quoteCut(line, 120))
	}
	st, ok := winStates[f[3]]
	if !ok {
		return Socket{}, false, fmt.Errorf("expected a netstat state (LISTENING, ESTABLISHED, TIME_WAIT, ...; English editions), got %s", quoteCut(f[3], 40))
	}
	local, err := parseColonAddr(f[1])
	if err != nil {
		return Socket{}, false, fmt.Errorf("local address: %w", err)
	}
	remote, err := parseColonAddr(f[2])
	if err != nil {
		return Socket{}, false, fmt.Errorf("foreign address: %w", err)
	}
	pid, err := strconv.Atoi(f[4])
	if err != nil || pid < 0 {
		return Socket{}, false, fmt.Errorf("expected a process id, got %s", quoteCut(f[4], 40))
	}
	return Socket{Local: local, Remote: remote, State: st, Timer: -1, PID: pid}, true, nil
}
