package platform

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The socket tables fleettune reads for the plan are big on a busy host
// (an exhausted Solaris host prints 32,000 rows, 2.5 MB), and only a few of
// their rows matter: the LISTEN ones and the TIME_WAIT count. The parsers
// below read them in one pass over the output, without splitting it into
// lines or allocating per row: nextLine walks the lines, splitRow slices a
// row's fields into a fixed array. They mean exactly what
// strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") and
// strings.Fields would.

// nextLine returns the line of out starting at pos, without its "\n" or
// "\r\n", and where the next one starts (len(out)+1 after the last). A
// lone "\r" is part of the line, as with ReplaceAll("\r\n", "\n").
func nextLine(out string, pos int) (line string, next int) {
	end := strings.IndexByte(out[pos:], '\n')
	if end < 0 {
		return out[pos:], len(out) + 1
	}
	line = out[pos : pos+end]
	if strings.HasSuffix(line, "\r") {
		line = line[:len(line)-1]
	}
	return line, pos + end + 1
}

// netstatFields is how many of a row's fields splitRow keeps: the widest
// row read here (Solaris IPv6) has eight.
const netstatFields = 8

// netstatRow is one row split on blanks: its first fields, its last one
// and how many it has.
type netstatRow struct {
	f    [netstatFields]string
	n    int
	last string
}

// byteClass sorts bytes for splitRow: 0 in a field, 1 strings.Fields'
// ASCII white space, 2 not ASCII (a Unicode space, maybe).
var byteClass = func() (c [256]uint8) {
	for _, b := range []byte("\t\n\v\f\r ") {
		c[b] = 1
	}
	for b := 0x80; b < 0x100; b++ {
		c[b] = 2
	}
	return c
}()

// splitRow splits line as strings.Fields does, into r.
func splitRow(line string, r *netstatRow) {
	r.n, r.last = 0, ""
	i, n := 0, len(line)
	for i < n {
		for i < n && byteClass[line[i]] == 1 {
			i++
		}
		if i == n {
			return
		}
		start := i
		for i < n && byteClass[line[i]] == 0 {
			i++
		}
		if i < n && byteClass[line[i]] == 2 { // Unicode: as strings.Fields splits it
			splitRowSlow(line, r)
			return
		}
		if r.n < netstatFields {
			r.f[r.n] = line[start:i]
		}
		r.n++
		r.last = line[start:i]
	}
}

func splitRowSlow(line string, r *netstatRow) {
	fs := strings.Fields(line)
	r.n, r.last = len(fs), ""
	copy(r.f[:], fs)
	if len(fs) > 0 {
		r.last = fs[len(fs)-1]
	}
}

// parseBSDNetstat reads the TCP rows of `netstat -an` in the BSD layout
// HP-UX, AIX and Tru64 share: protocol first (tcp, tcp4, tcp6), local
// address fourth as host.port ("*.22", "10.0.0.5.1025", "::1.30080"), the
// state last. It returns the ports with a LISTEN socket and the number of
// TIME_WAIT sockets, and stops at the UNIX domain table. A LISTEN row whose
// port cannot be read is an error: a guardrail must not miss a listener.
func parseBSDNetstat(out string) (listening []int, timeWait int, err error) {
	var r netstatRow
	for pos := 0; pos <= len(out); {
		var line string
		line, pos = nextLine(out, pos)
		if strings.HasPrefix(line, "Active UNIX domain sockets") {
			break
		}
		splitRow(line, &r)
		if r.n < 6 || !strings.HasPrefix(r.f[0], "tcp") {
			continue
		}
		switch r.last {
		case "TIME_WAIT":
			timeWait++
		case "LISTEN":
			local := r.f[3]
			i := strings.LastIndexByte(local, '.')
			p, perr := strconv.Atoi(local[i+1:])
			if i < 0 || perr != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("netstat -an: unexpected local address %q in %q", local, strings.TrimSpace(line))
			}
			listening = append(listening, p)
		}
	}
	return uniqueSorted(listening), timeWait, nil
}

// netstatFilter is the awk program a gather pipes netstat's table (and its
// 2>&1 messages) through on the host, so that a busy host sends the few
// rows the plan reads instead of tens of thousands: a row whose state
// field (stateField, "$7" or "$NF") is TIME_WAIT is only counted, one in
// any other connection state but LISTEN is dropped, and everything else
// (headers, LISTEN rows, netstat's own errors) passes unchanged; the count
// ends the output as "@@tw N" (netstatTrailer). The program is what the
// old awk of Solaris 10's /usr/bin/awk runs: patterns joined by ||, next,
// n++ and an END rule. A failing netstat still shows: its message passes,
// and the parsers' "no table" check fires as before.
func netstatFilter(stateField string) string {
	var drop []string
	for _, st := range []string{"ESTABLISHED", "CLOSE_WAIT", "SYN_SENT", "SYN_RCVD", "SYN_RECEIVED",
		"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "LAST_ACK", "CLOSED", "IDLE", "BOUND"} {
		drop = append(drop, fmt.Sprintf("%s == %q", stateField, st))
	}
	return fmt.Sprintf(`awk '%s == "TIME_WAIT" { n++; next } %s { next } { print } END { print "%s", n+0 }'`,
		stateField, strings.Join(drop, " || "), netstatTrailerTag)
}

// parseCount reads a socket count a host printed: 1 to 9 decimal digits,
// nothing else (no sign, no space).
func parseCount(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// netstatTrailerTag starts the line netstatFilter ends its output with.
const netstatTrailerTag = "@@tw"

// netstatTrailer takes the "@@tw N" line netstatFilter prints off the end
// of out (the last line that is not blank): body is the rest, and ok says
// whether there was one. An output without it is netstat's own, unfiltered
// (older fleettune, fixtures), and comes back whole.
func netstatTrailer(out string) (body string, timeWait int, ok bool, err error) {
	end := len(out)
	for end > 0 && (out[end-1] == '\n' || out[end-1] == '\r' || out[end-1] == ' ' || out[end-1] == '\t') {
		end--
	}
	start := strings.LastIndexByte(out[:end], '\n') + 1
	last := out[start:end]
	rest, found := strings.CutPrefix(last, netstatTrailerTag+" ")
	if !found {
		return out, 0, false, nil
	}
	n, ok := parseCount(rest)
	if !ok {
		return "", 0, false, fmt.Errorf("netstat: the filter's last line %q is not %q and a count", last, netstatTrailerTag)
	}
	return out[:start], n, true, nil
}

// parseFilteredBSDNetstat reads HP-UX's and Tru64's netstat -an section,
// as the gather's filter leaves it or whole. A filtered table must have
// its "Proto" header: the pipe's status is awk's, so a netstat that failed
// shows only as its message, which this names.
func parseFilteredBSDNetstat(out string) (listening []int, timeWait int, err error) {
	body, tw, filtered, err := netstatTrailer(out)
	if err != nil {
		return nil, 0, fmt.Errorf("netstat -an: %w", err)
	}
	if !filtered {
		return parseBSDNetstat(out)
	}
	header := false
	var r netstatRow
	for pos := 0; pos <= len(body) && !header; {
		var line string
		line, pos = nextLine(body, pos)
		splitRow(line, &r)
		header = r.n > 0 && r.f[0] == "Proto"
	}
	if !header {
		return nil, 0, fmt.Errorf("netstat -an: no connection table in output: %s", firstLine(body))
	}
	listening, timeWait, err = parseBSDNetstat(body)
	return listening, timeWait + tw, err
}

// BSDCountersCommand prints the kernel's TCP statistics on AIX, HP-UX and
// Tru64: `netstat -p tcp`, in the layout of 4.3BSD's netstat (inet.c
// tcp_stats) all three inherit.
const BSDCountersCommand = "netstat -p tcp"

// maxCounterOutput caps what a counters command may print: the report is a
// few kilobytes.
const maxCounterOutput = 1 << 20

// bsdTCPPhrases are the lines parseBSDTCPStats reads, each a counter (two
// for "closed (including N drops)") named after its struct tcpstat field.
// The noun is singular when the value is 1.
var bsdTCPPhrases = []struct {
	re    *regexp.Regexp
	names []string
}{
	{regexp.MustCompile(`^([0-9]+) packets? sent$`), []string{"tcps_sndtotal"}},
	{regexp.MustCompile(`^([0-9]+) packets? received$`), []string{"tcps_rcvtotal"}},
	{regexp.MustCompile(`^([0-9]+) connection requests?$`), []string{"tcps_connattempt"}},
	{regexp.MustCompile(`^([0-9]+) connection accepts?$`), []string{"tcps_accepts"}},
	{regexp.MustCompile(`^([0-9]+) connections? established \(including accepts\)$`), []string{"tcps_connects"}},
	{regexp.MustCompile(`^([0-9]+) connections? closed \(including ([0-9]+) drops?\)$`), []string{"tcps_closed", "tcps_drops"}},
	{regexp.MustCompile(`^([0-9]+) embryonic connections? dropped$`), []string{"tcps_conndrops"}},
	{regexp.MustCompile(`^([0-9]+) connections? dropped by rexmit timeout$`), []string{"tcps_timeoutdrop"}},
	{regexp.MustCompile(`^([0-9]+) connections? dropped by keepalive$`), []string{"tcps_keepdrops"}},
}

// bsdThresholds are how much each failure counter may rise in one watch
// window before a host counts as unhealthy (the same reasoning, and the
// same numbers, as solarisThresholds):
//
//   - tcps_conndrops ("embryonic connections dropped"): connections dropped
//     before they were established, a handshake answered with a reset or
//     an old segment (MIB-II's tcpAttemptFails);
//   - tcps_drops ("closed (including N drops)"): established connections
//     dropped, e.g. reset by a segment meant for the previous connection on
//     the same 4-tuple (tcpEstabResets);
//   - tcps_timeoutdrop ("dropped by rexmit timeout"): connections given up
//     after too many retransmissions. Rare on a healthy host.
var bsdThresholds = map[string]int64{
	"tcps_conndrops":   50,
	"tcps_drops":       50,
	"tcps_timeoutdrop": 10,
}

// parseBSDTCPStats reads `netstat -p tcp`: a "tcp:" line, then one counter
// per line, "<tabs>N what". Lines it has no name for are skipped, but each
// must start with a number; the counters bsdThresholds needs must be there.
func parseBSDTCPStats(out string) (Counters, error) {
	if len(out) > maxCounterOutput {
		return nil, fmt.Errorf("netstat -p tcp printed %d bytes, more than the %d a TCP report can be", len(out), maxCounterOutput)
	}
	c := Counters{}
	header := false
	for i, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		text := strings.TrimSpace(line)
		if text == "" {
			continue
		}
		if !header {
			if text != "tcp:" {
				return nil, fmt.Errorf("netstat -p tcp: line %d: expected \"tcp:\", got %q", i+1, firstLine(text))
			}
			header = true
			continue
		}
		if text[0] < '0' || text[0] > '9' {
			return nil, fmt.Errorf("netstat -p tcp: line %d: expected a count and what it counts, got %q", i+1, firstLine(text))
		}
		for _, p := range bsdTCPPhrases {
			m := p.re.FindStringSubmatch(text)
			if m == nil {
				continue
			}
			for j, name := range p.names {
				v, err := strconv.ParseInt(m[j+1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("netstat -p tcp: line %d: %q is not a count", i+1, m[j+1])
				}
				if _, dup := c[name]; dup {
					return nil, fmt.Errorf("netstat -p tcp: line %d: %s appears twice", i+1, name)
				}
				c[name] = v
			}
			break
		}
	}
	if !header {
		return nil, fmt.Errorf("netstat -p tcp printed no \"tcp:\" report")
	}
	for name := range bsdThresholds {
		if _, ok := c[name]; !ok {
			return nil, fmt.Errorf("netstat -p tcp: no line for %s (expected e.g. %q)", name, bsdExample[name])
		}
	}
	return c, nil
}

var bsdExample = map[string]string{
	"tcps_conndrops":   "12 embryonic connections dropped",
	"tcps_drops":       "840 connections closed (including 3 drops)",
	"tcps_timeoutdrop": "2 connections dropped by rexmit timeout",
}

// bsdCounters runs BSDCountersCommand and parses it.
func bsdCounters(ctx context.Context, r Runner) (Counters, error) {
	res, err := r.Run(ctx, BSDCountersCommand)
	if err != nil {
		return nil, fmt.Errorf("read TCP counters: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read TCP counters: %s: exit status %d: %s", BSDCountersCommand, res.ExitCode, firstLine(string(res.Stderr)))
	}
	c, err := parseBSDTCPStats(string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("read TCP counters: %w", err)
	}
	return c, nil
}
