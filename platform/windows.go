package platform

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Windows: two generations (platforms.md 2.1).
//
//   - Server 2003 and older (ver major < 6): the ephemeral range is
//     1025..MaxUserPort, MaxUserPort a REG_DWORD read at boot.
//   - Server 2008 and later (major >= 6): the range is netsh's dynamic port
//     range, separate for IPv4 and IPv6, set at once and persistently by
//     `netsh int ipvX set dynamicport tcp start=N num=M`.
//
// TcpTimedWaitDelay (seconds) and KeepAliveTime (milliseconds) are REG_DWORD
// values of the Tcpip\Parameters key on both, read only at boot.
//
// # Which registry value is in force
//
// Windows shows no run-time value of the registry knobs: the registry holds
// what the next boot reads (Knob.AtBoot), and nothing says what the running
// TCP/IP stack took at the last boot. fleettune's model, kept simple:
//
//   - the value in force is the registry value as of the last boot, taken to
//     be the registry value now, unless fleettune itself wrote the value
//     during this boot;
//   - whenever fleettune writes a reboot-only value (apply or restore), it
//     first records, under WindowsPendingKey, a REG_SZ value of the same
//     name holding the boot time (wmic os get lastbootuptime, which changes
//     at every boot) and the value in force at that moment ("default" when
//     the registry had none): "20261101060000.000000+000 240";
//   - Gather reads those records: a record whose boot time is the current
//     one gives the value in force (Knob.Live); a record from an earlier boot
//     is stale (that boot read the registry) and is ignored.
//
// So after `reg add` and before a reboot, Live is the old value and AtBoot
// the new one: Propose shows drift and, when AtBoot is the target, a
// Pending change (nothing to run; awaiting a reboot). Changes made by others
// during this boot without a reboot are not seen: Windows does not show
// them. The records stay behind after the reboot, inert.
const (
	windowsDynV4     = "netsh int ipv4 dynamicport tcp"
	windowsDynV6     = "netsh int ipv6 dynamicport tcp"
	windowsMaxUser   = "MaxUserPort"
	windowsTimedWait = "TcpTimedWaitDelay" // seconds
	windowsKeepAlive = "KeepAliveTime"     // milliseconds

	// WindowsTcpipKey holds the TCP/IP registry knobs.
	WindowsTcpipKey = `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`
	// WindowsPendingKey is where fleettune records, per registry knob it
	// wrote, the boot during which it wrote and the value then in force.
	WindowsPendingKey = `HKLM\SOFTWARE\fleettune\PendingReboot`

	// windowsDefault is how Live shows a registry value that was absent:
	// the OS default applies.
	windowsDefault = "default"
)

// windowsRegKnobs are the registry values Gather reads, in this order.
var windowsRegKnobs = []string{windowsMaxUser, windowsTimedWait, windowsKeepAlive}

// Limits and defaults (platforms.md 2.2, 2.5).
const (
	windowsMinStart      = 1025
	windowsMinPorts      = 255
	windowsLegacyLow     = 1025 // the fixed low end on 2003
	windowsMaxUserMin    = 5000
	windowsMaxUserMax    = 65534
	windowsMaxUserDef    = 5000
	windowsTimedWaitMin  = 30
	windowsTimedWaitMax  = 300
	windowsKeepAliveDef  = 7200000
	windowsKeepAliveMax  = 0xFFFFFFFF
	windowsTimedWaitOld  = 120 // KB 314053, XP/2003 IPv4
	windowsTimedWaitNew  = 240 // "4 minutes (default)", the port-exhaustion page
	windowsLegacyVersion = 6   // ver major below this: Server 2003 and older
)

// windowsTimedWaitDefault is the TIME_WAIT interval an absent
// TcpTimedWaitDelay gives. The sources disagree (platforms.md 2.2); fleettune
// follows KB 314053 for 2003 and the current Microsoft page for 2008+.
func windowsTimedWaitDefault(legacy bool) int64 {
	if legacy {
		return windowsTimedWaitOld
	}
	return windowsTimedWaitNew
}

type windowsDriver struct{}

// newWindowsDriver returns the Windows driver (Server 2003 and 2008+).

var (
	_ Driver  = windowsDriver{}
	_ Applier = windowsDriver{}
)

func (windowsDriver) OS() string { return Windows }

// Capabilities: see Driver.
func (windowsDriver) Capabilities() Capabilities { return Capabilities{Counters: true} }

// WindowsCountersCommand prints the TCP statistics of the IPv4 stack (the
// MIB-II TCP group) and, as -p tcp also selects them, the TCP connections.
const WindowsCountersCommand = "netstat -s -p tcp"

// windowsTCPStats are netstat -s's TCP lines in the order Windows prints
// them: the English label and the counter name fleettune gives it. The
// labels are localised, so a non-English Windows is read by position.
var windowsTCPStats = []struct{ label, name string }{
	{"Active Opens", "Tcp.ActiveOpens"},
	{"Passive Opens", "Tcp.PassiveOpens"},
	{"Failed Connection Attempts", "Tcp.FailedConnectionAttempts"},
	{"Reset Connections", "Tcp.ResetConnections"},
	{"Current Connections", "Tcp.CurrentConnections"},
	{"Segments Received", "Tcp.SegmentsReceived"},
	{"Segments Sent", "Tcp.SegmentsSent"},
	{"Segments Retransmitted", "Tcp.SegmentsRetransmitted"},
}

// windowsThresholds are how much each failure counter may rise in one
// watch window, as for the same MIB-II counters on Linux and Solaris:
// Failed Connection Attempts is tcpAttemptFails (a handshake answered with
// a reset or an old segment), Reset Connections is tcpEstabResets (a new
// connection torn down by a segment meant for its predecessor).
//
// The Tcpip events are counted since the boot: any new one is a failure
// (4227: a connection refused because its local endpoint was still in
// TIME_WAIT towards the same remote one; 4231: no ephemeral port left).
var windowsThresholds = map[string]int64{
	"Tcp.FailedConnectionAttempts": 50,
	"Tcp.ResetConnections":         50,
	windowsEvent4227:               0,
	windowsEvent4231:               0,
}

// The counters that count the System log's Tcpip events since the boot.
const (
	windowsEvent4227 = "Tcpip.Event4227"
	windowsEvent4231 = "Tcpip.Event4231"

	// windowsEventsMax is how many events are counted at most; with more
	// since the boot the count cannot show a rise and is left out.
	windowsEventsMax = 1000
	// windowsEventsMaxOutput caps wevtutil's output: an event in text
	// form is under a kilobyte.
	windowsEventsMaxOutput = 4 << 20
)

// WindowsEventsCommand counts the System log's Tcpip events 4227 and 4231
// created since a moment (in UTC, the XPath's @SystemTime), newest first,
// one more than windowsEventsMax so that a full count shows.
func WindowsEventsCommand(since time.Time) string {
	return fmt.Sprintf(`wevtutil qe System /q:"*[System[Provider[@Name='Tcpip'] and (EventID=4227 or EventID=4231) and TimeCreated[@SystemTime>='%s']]]" /c:%d /rd:true /f:text`,
		since.UTC().Format("2006-01-02T15:04:05.000Z"), windowsEventsMax+1)
}

// Counters reads the TCP statistics with WindowsCountersCommand, then the
// Tcpip events 4227 and 4231 logged since the boot (WindowsEventsCommand,
// from a minute before the boot time wmic gives, for its jitter). Server
// 2003 has no wevtutil: there the events are not read (Propose says so).
//
// The counts are monotonic but for one case: a virtual machine's clock set
// an hour off between two reads moves wmic's boot time, and so the bound,
// by that hour (see windowsSameBoot), and the count then moves on its own.
// Either way the check errs towards unhealthy (a count that went down is
// taken as a reset, its new value as the rise), never towards healthy.
func (windowsDriver) Counters(ctx context.Context, r Runner) (Counters, error) {
	res, err := r.Run(ctx, WindowsCountersCommand)
	if err != nil {
		return nil, fmt.Errorf("read TCP counters: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read TCP counters: %s: exit status %d: %s", WindowsCountersCommand, res.ExitCode, firstLine(string(res.Stderr)+string(res.Stdout)))
	}
	c, err := ParseWindowsTCPStats(string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("read TCP counters: %w", err)
	}
	if err := windowsEventCounters(ctx, r, c); err != nil {
		return nil, fmt.Errorf("read Tcpip events: %w", err)
	}
	return c, nil
}

// windowsEventCounters adds the Tcpip event counts since the boot to c.
func windowsEventCounters(ctx context.Context, r Runner, c Counters) error {
	res, err := r.Run(ctx, windowsBootCommand)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: exit status %d: %s", windowsBootCommand, res.ExitCode, firstLine(string(res.Stderr)+string(res.Stdout)))
	}
	boot, err := parseWindowsBootTime(string(res.Stdout))
	if err != nil {
		return err
	}
	cmd := WindowsEventsCommand(boot.Truncate(time.Minute).Add(-time.Minute))
	res, err = r.Run(ctx, cmd)
	if err != nil {
		return err
	}
	out := string(res.Stdout) + string(res.Stderr)
	if res.ExitCode != 0 {
		// Server 2003: cmd knows no wevtutil. Its message is localised;
		// the exit status cmd gives an unknown command (9009) is not.
		if res.ExitCode == windowsCmdNotFound || strings.Contains(out, "'wevtutil' is not recognized") {
			return nil
		}
		return fmt.Errorf("wevtutil qe System: exit status %d: %s", res.ExitCode, firstLine(out))
	}
	counts, total, err := ParseWevtutilText(string(res.Stdout))
	if err != nil {
		return err
	}
	if total > windowsEventsMax {
		return nil // too many to count: a rise would not show
	}
	c[windowsEvent4227], c[windowsEvent4231] = counts[4227], counts[4231]
	return nil
}

// windowsCmdNotFound is cmd.exe's exit status for a command it cannot find.
const windowsCmdNotFound = 9009

// windowsBootCommand reads LastBootUpTime.
const windowsBootCommand = "wmic os get lastbootuptime"

// ParseWevtutilText counts the events of `wevtutil qe ... /f:text` by
// their ID, in one pass: each event starts with an "Event[N]:" line and
// has one "  Event ID: N" line before its description (wevtutil's labels
// are not localised; the values are). An ID other than 4227 or 4231, or an
// event without one, means the output is not the query's.
func ParseWevtutilText(out string) (counts map[int]int64, total int, err error) {
	if len(out) > windowsEventsMaxOutput {
		return nil, 0, fmt.Errorf("wevtutil printed %d bytes, more than the %d fleettune reads", len(out), windowsEventsMaxOutput)
	}
	counts = map[int]int64{}
	inEvent, hasID := false, false
	for i, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "Event[") && strings.HasSuffix(line, "]:"):
			if inEvent && !hasID {
				return nil, 0, fmt.Errorf("wevtutil: the event before line %d has no Event ID", i+1)
			}
			inEvent, hasID = true, false
			total++
		case inEvent && !hasID && strings.HasPrefix(line, "  Event ID: "):
			id, err := strconv.Atoi(strings.TrimSpace(line[len("  Event ID: "):]))
			if err != nil || (id != 4227 && id != 4231) {
				return nil, 0, fmt.Errorf("wevtutil: line %d: %q is not event 4227 or 4231", i+1, strings.TrimSpace(line))
			}
			counts[id]++
			hasID = true
		case !inEvent && strings.TrimSpace(line) != "":
			return nil, 0, fmt.Errorf("wevtutil: line %d: expected \"Event[N]:\", got %q", i+1, firstLine(line))
		}
	}
	if inEvent && !hasID {
		return nil, 0, fmt.Errorf("wevtutil: the last event has no Event ID")
	}
	return counts, total, nil
}

// Thresholds returns a copy of the Windows defaults.
func (windowsDriver) Thresholds() map[string]int64 { return maps.Clone(windowsThresholds) }

// ParseWindowsTCPStats reads `netstat -s -p tcp`: the "LABEL = N" lines of
// the statistics, up to the connection table ("Proto  Local Address ..."),
// by position. English labels are checked against the expected ones.
func ParseWindowsTCPStats(out string) (Counters, error) {
	if len(out) > maxCounterOutput {
		return nil, fmt.Errorf("netstat -s -p tcp printed %d bytes, more than the %d a TCP report can be", len(out), maxCounterOutput)
	}
	c := Counters{}
	n := 0
	english := false
	for i, line := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "Proto" || n == len(windowsTCPStats) {
			break
		}
		label, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		label, value = strings.TrimSpace(label), strings.TrimSpace(value)
		if n == 0 {
			english = label == windowsTCPStats[0].label
		}
		if english && label != windowsTCPStats[n].label {
			return nil, fmt.Errorf("netstat -s -p tcp: line %d: expected %q, got %q", i+1, windowsTCPStats[n].label, label)
		}
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("netstat -s -p tcp: line %d: %s = %q is not a count", i+1, windowsTCPStats[n].label, value)
		}
		c[windowsTCPStats[n].name] = v
		n++
	}
	if n != len(windowsTCPStats) {
		return nil, fmt.Errorf("netstat -s -p tcp: %d \"label = number\" lines, expected the %d of the TCP statistics (Active Opens ... Segments Retransmitted)", n, len(windowsTCPStats))
	}
	return c, nil
}

// WindowsGatherCommand is the one cmd.exe line Gather runs. Each command is
// preceded by an echo of a section marker, has its stderr folded into
// stdout, and is followed, when it fails, by a "failed NAME" marker (cmd
// expands %ERRORLEVEL% when it reads the line, so the exit status of each
// command is only seen through ||). Everything here is constant.
func WindowsGatherCommand() string { return cachedWindowsGatherCommand() }

var cachedWindowsGatherCommand = sync.OnceValue(func() string {
	var parts []string
	section := func(name, cmd string) {
		parts = append(parts, fmt.Sprintf("echo %s%s & %s 2>&1 || echo %sfailed %s", sectionMarker, name, cmd, sectionMarker, name))
	}
	section("ver", "ver")
	section("boot", "wmic os get lastbootuptime")
	section("netsh ipv4", "netsh int ipv4 show dynamicport tcp")
	section("netsh ipv6", "netsh int ipv6 show dynamicport tcp")
	for _, k := range windowsRegKnobs {
		section("reg "+k, fmt.Sprintf(`reg query "%s" /v %s`, WindowsTcpipKey, k))
	}
	section("pending", fmt.Sprintf(`reg query "%s"`, WindowsPendingKey))
	// netstat -ano's table, filtered on the host: a busy host has tens
	// of thousands of rows, which WinRM would send base64 in XML. findstr
	// drops the rows of every connection state but LISTENING and keeps
	// the rest (headers, UDP rows, netstat's own errors), so a failing
	// netstat still shows; a second netstat counts the TIME_WAIT rows
	// with find /C, which prints the count alone when it reads a pipe.
	// Its exit status is 1 when the count is 0, so it has no failure
	// marker: a count that is not a number is read as unknown.
	parts = append(parts,
		fmt.Sprintf("echo %snetstat & netstat -ano 2>&1 | %s || echo %sfailed netstat", sectionMarker, windowsNetstatFilter(), sectionMarker),
		fmt.Sprintf(`echo %stimewait & netstat -ano | find /C "TIME_WAIT"`, sectionMarker))
	section("excluded", "netsh int ipv4 show excludedportrange protocol=tcp")
	return strings.Join(parts, " & ")
})

// windowsNetstatDrop are the TCP states netstat prints (the netstat
// command reference, and BOUND with -q on 2016 and later) but LISTENING:
// the rows the gather's findstr drops.
var windowsNetstatDrop = []string{"TIME_WAIT", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "FIN_WAIT_2",
	"SYN_SENT", "SYN_RECEIVED", "LAST_ACK", "CLOSING", "CLOSED", "DELETE_TCB", "BOUND"}

// windowsNetstatFilter is the findstr that drops them. /I is not only for
// case: findstr has a known bug where several case-sensitive literal
// strings of different lengths can miss a match, and the case-insensitive
// search does not have it (no state word occurs in an address or a PID).
func windowsNetstatFilter() string {
	var b strings.Builder
	b.WriteString("findstr /I /V")
	for _, st := range windowsNetstatDrop {
		fmt.Fprintf(&b, ` /C:"%s"`, st)
	}
	return b.String()
}

// Gather reads the host in one command. native is not used: Windows has no
// native knobs yet.
func (windowsDriver) Gather(ctx context.Context, r Runner, native []string) (*Facts, error) {
	res, err := r.Run(ctx, WindowsGatherCommand())
	if err != nil {
		return nil, fmt.Errorf("read TCP/IP settings: %w", err)
	}
	out := outputText(res.Stdout)
	if !strings.Contains(out, sectionMarker) {
		return nil, fmt.Errorf("read TCP/IP settings: exit status %d: %s", res.ExitCode, firstLine(string(res.Stderr)+out))
	}
	return ParseWindowsFacts(out)
}

// windowsVer matches ver's "Microsoft Windows [Version 10.0.17763.1234]";
// the word "Version" is localised, so only the numbers are matched.
var windowsVer = regexp.MustCompile(`Microsoft Windows \[[^\]0-9]*([0-9]+)\.([0-9]+)\.([0-9]+)(?:\.[0-9]+)?\]`)

// ParseVer reads the output of cmd's ver: the release as "MAJOR.MINOR.BUILD"
// ("10.0.17763", "5.2.3790") and the major version.
func ParseVer(out string) (release string, major int, err error) {
	m := windowsVer.FindStringSubmatch(out)
	if m == nil {
		return "", 0, fmt.Errorf("ver printed %q, expected \"Microsoft Windows [Version X.Y.Z]\"", firstLine(out))
	}
	major, _ = strconv.Atoi(m[1])
	return m[1] + "." + m[2] + "." + m[3], major, nil
}

// windowsBootTime matches a CIM datetime as wmic prints LastBootUpTime:
// yyyymmddHHMMSS.ffffff and the UTC offset in minutes.
var windowsBootTime = regexp.MustCompile(`^[0-9]{14}\.[0-9]{6}[+-][0-9]{3}$`)

// windowsBootTolerance is how far two readings of LastBootUpTime, taken
// to UTC, may lie apart and still be the same boot. Windows computes the
// value from the clock and the uptime, so it moves by about a second
// between reads (psutil#1007, elastic/go-sysinfo#53); it is printed in
// local time, so a daylight-saving change moves it by an hour, which the
// conversion to UTC takes out. No Windows server goes from one boot, through
// a fleettune apply, to the next boot in less than this.
const windowsBootTolerance = 2 * time.Minute

// parseCIMDatetime reads a CIM datetime (yyyymmddHHMMSS.ffffff and the
// offset from UTC in minutes, "+060") as a time in UTC.
func parseCIMDatetime(s string) (time.Time, error) {
	if !windowsBootTime.MatchString(s) {
		return time.Time{}, fmt.Errorf("%q is not a CIM datetime like 20231027083000.123456+060", s)
	}
	local, err := time.Parse("20060102150405.000000", s[:21])
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a CIM datetime: %w", s, err)
	}
	off, _ := strconv.Atoi(s[22:])
	if s[21] == '-' {
		off = -off
	}
	return local.Add(-time.Duration(off) * time.Minute), nil
}

// windowsSameBoot reports whether two LastBootUpTime readings are the same
// boot: equal in UTC within windowsBootTolerance, or an hour apart within
// it. A reading that does not parse is never the same boot as another.
//
// The hour: Windows computes LastBootUpTime as the clock minus the uptime,
// so when a virtual machine's clock is set an hour back or forth (a host
// and a guest that disagree on daylight saving, time synchronisation from
// a host in another zone) the boot moves by that hour in UTC too, with the
// offset unchanged; a daylight-saving change of the guest's own zone moves
// the local time and the offset together, which the conversion to UTC
// already takes out. Taking such a reading for a reboot would make a
// pending registry change look in force when nothing has reloaded it, so
// it counts as the same boot. The price is the other way round and safe: a
// real reboot exactly an hour (within the tolerance) after the boot before
// it is taken for the same boot, and the values stay "awaiting a reboot"
// until the next one.
func windowsSameBoot(a, b string) bool {
	ta, errA := parseCIMDatetime(a)
	tb, errB := parseCIMDatetime(b)
	if errA != nil || errB != nil {
		return false
	}
	d := ta.Sub(tb)
	if d < 0 {
		d = -d
	}
	return d <= windowsBootTolerance || (d >= time.Hour-windowsBootTolerance && d <= time.Hour+windowsBootTolerance)
}

// parseWindowsBoot finds the CIM datetime in wmic's output and returns the
// boot id fleettune uses: the boot time in UTC, down to the minute, as a CIM
// datetime ("20261101060000.000000+000"). The same boot then reads the same
// way across a daylight-saving change and, but for a reading that moves
// across a minute's end, across the second of jitter, so the commands a
// plan shows (they record the boot id) are the ones apply finds; readings
// are compared with windowsSameBoot, never for equality. wmic ends lines
// with "\r\r\n" and pads columns with spaces; on Server 2003 its first run
// prints "Please wait while WMIC is being installed." first.
func parseWindowsBoot(out string) (string, error) {
	t, err := parseWindowsBootTime(out)
	if err != nil {
		return "", err
	}
	return t.Truncate(time.Minute).Format("20060102150405") + ".000000+000", nil
}

// parseWindowsBootTime finds the CIM datetime in wmic's output: the boot
// time, in UTC.
func parseWindowsBootTime(out string) (time.Time, error) {
	for _, f := range strings.Fields(out) {
		if windowsBootTime.MatchString(f) {
			t, err := parseCIMDatetime(f)
			if err != nil {
				return time.Time{}, fmt.Errorf("wmic os get lastbootuptime: %w", err)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("wmic os get lastbootuptime printed %q, expected a CIM datetime like 20231027083000.123456+060", firstLine(out))
}

// parseNetshDynamicPort reads `netsh int ipvX show dynamicport tcp`. The
// labels are localised, so the two "label : number" lines are taken in
// order: the start port, then the number of ports.
func parseNetshDynamicPort(out string) (start, num int, err error) {
	var nums []int
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
		_, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		nums = append(nums, n)
	}
	if len(nums) != 2 {
		return 0, 0, fmt.Errorf("expected a start port and a number of ports, got %q", firstLine(out))
	}
	return nums[0], nums[1], nil
}

// regValue is one value line of reg query.
type regValue struct{ name, typ, data string }

// parseRegQuery reads reg query's output: a blank line, the key, then one
// line per value, "    NAME    TYPE    DATA" (four spaces; reg.exe 3.0 on
// 2003 prints a "! REG.EXE VERSION 3.0" banner and separates fields with
// tabs). Fields are split on runs of whitespace; DATA is the rest.
func parseRegQuery(out string) []regValue {
	var vals []regValue
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			continue // blank, banner ("!"), the key, or an error line
		}
		rest := strings.TrimLeft(line, " \t")
		name, rest := cutField(rest)
		typ, rest := cutField(rest)
		if name == "" || !strings.HasPrefix(typ, "REG_") {
			continue
		}
		vals = append(vals, regValue{name, typ, strings.TrimRight(rest, " \t")})
	}
	return vals
}

func cutField(s string) (field, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// parseRegDword reads REG_DWORD data as reg query shows it ("0x1e").
func parseRegDword(data string) (int64, error) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(data)), "0x")
	if !ok {
		return 0, fmt.Errorf("REG_DWORD %q: expected 0x followed by hex digits", data)
	}
	return strconv.ParseInt(h, 16, 64)
}

// windowsPending is one record under WindowsPendingKey.
type windowsPending struct {
	boot      string
	inForce   int64
	isDefault bool
}

func parseWindowsPending(data string) (windowsPending, bool) {
	f := strings.Fields(data)
	if len(f) != 2 || !windowsBootTime.MatchString(f[0]) {
		return windowsPending{}, false
	}
	if f[1] == windowsDefault {
		return windowsPending{boot: f[0], isDefault: true}, true
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n < 0 {
		return windowsPending{}, false
	}
	return windowsPending{boot: f[0], inForce: n}, true
}

// parseWindowsNetstat reads `netstat -ano`: TCP rows (IPv4 and, on 2008+,
// IPv6 "[::]:135") whose state is LISTENING give the listening ports, and
// TIME_WAIT rows are counted. The state words are English; a localised
// netstat gives no LISTENING rows, which is an error rather than a guardrail
// silently seeing no listener.
func parseWindowsNetstat(out string) (listening []int, timeWait int, err error) {
	tcpRows := 0
	var r netstatRow
	for pos := 0; pos <= len(out); {
		var line string
		line, pos = nextLine(out, pos)
		if strings.IndexByte(line, '\r') >= 0 { // every "\r" goes, not only before "\n"
			line = strings.ReplaceAll(line, "\r", "")
		}
		splitRow(line, &r)
		f := r.f[:min(r.n, netstatFields)]
		if r.n < 4 || f[0] != "TCP" {
			continue
		}
		tcpRows++
		switch f[3] {
		case "TIME_WAIT":
			timeWait++
		case "LISTENING":
			i := strings.LastIndexByte(f[1], ':')
			p, perr := strconv.Atoi(f[1][i+1:])
			if i < 0 || perr != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("netstat -ano: unexpected local address %q in %q", f[1], strings.TrimSpace(line))
			}
			listening = append(listening, p)
		}
	}
	if tcpRows == 0 || len(listening) == 0 {
		return nil, 0, fmt.Errorf("netstat -ano printed no TCP LISTENING rows (a non-English Windows?): %q", firstLine(out))
	}
	return uniqueSorted(listening), timeWait, nil
}

// parseWindowsCount reads what find /C printed from a pipe: the count
// alone. Anything else (another find first in PATH, an error) is -1,
// unknown: the count is reported, not acted on.
func parseWindowsCount(out string) int {
	n, ok := parseCount(strings.TrimSpace(out))
	if !ok {
		return -1
	}
	return n
}

// ParseWindowsFacts parses the output of WindowsGatherCommand.
func ParseWindowsFacts(out string) (*Facts, error) {
	f := &Facts{OS: Windows, Knobs: map[string]Knob{}, TimeWait: -1}
	s := splitSections(out)
	body := func(name string) (string, error) {
		b, ok := s.lookup(name)
		if !ok {
			return "", fmt.Errorf("output has no section %q (was the command cut short?)", name)
		}
		if _, failed := s.lookup("failed " + name); failed {
			return b, errSectionFailed
		}
		return b, nil
	}

	v, err := body("ver")
	if err != nil {
		return nil, fmt.Errorf("read version: ver: %s", sectionError(v, err))
	}
	release, major, err := ParseVer(v)
	if err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	f.Version = release
	legacy := major < windowsLegacyVersion

	v, err = body("boot")
	if err != nil {
		return nil, fmt.Errorf("read boot time: wmic os get lastbootuptime: %s (fleettune needs WMIC, which recent releases may ship only as an optional feature)", sectionError(v, err))
	}
	if f.BootID, err = parseWindowsBoot(v); err != nil {
		return nil, fmt.Errorf("read boot time: %w", err)
	}

	for _, fam := range []struct{ section, knob string }{{"netsh ipv4", windowsDynV4}, {"netsh ipv6", windowsDynV6}} {
		v, err := body(fam.section)
		if legacy {
			// 2003 has no dynamicport context; netsh says "The following
			// command was not found". Anything else is not 2003's netsh.
			if err == nil {
				return nil, fmt.Errorf("read %s: ver says %s (Server 2003 or older), but netsh knows dynamicport", fam.knob, release)
			}
			f.Knobs[fam.knob] = Knob{Name: fam.knob, Missing: true}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %s", fam.knob, sectionError(v, err))
		}
		start, num, err := parseNetshDynamicPort(v)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", fam.knob, err)
		}
		val := windowsNetshValue(start, num)
		// netsh shows the active store; set without store= writes the
		// persistent store too, so both are taken to agree.
		f.Knobs[fam.knob] = Knob{Name: fam.knob, Live: val, AtBoot: val, AtBootSet: true, Source: "netsh (active store)"}
	}

	pending := map[string]windowsPending{}
	v, err = body("pending")
	if err == nil {
		for _, rv := range parseRegQuery(v) {
			if p, ok := parseWindowsPending(rv.data); ok && rv.typ == "REG_SZ" {
				pending[rv.name] = p
			}
		}
	} else if strings.Contains(v, "Access is denied") {
		return nil, fmt.Errorf("read %s: %s", WindowsPendingKey, sectionError(v, err))
	}
	// Otherwise the key does not exist: fleettune never wrote a reboot-only
	// value on this host.

	for _, k := range windowsRegKnobs {
		v, err := body("reg " + k)
		kn := Knob{Name: k, Source: WindowsTcpipKey}
		switch {
		case err == nil:
			vals := parseRegQuery(v)
			if len(vals) != 1 || vals[0].name != k || vals[0].typ != "REG_DWORD" {
				return nil, fmt.Errorf("read %s: reg query printed %q, expected one REG_DWORD value %s", k, strings.TrimSpace(v), k)
			}
			n, err := parseRegDword(vals[0].data)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", k, err)
			}
			kn.AtBoot, kn.AtBootSet = strconv.FormatInt(n, 10), true
		case strings.Contains(v, "Access is denied"):
			return nil, fmt.Errorf("read %s: reg query: %s", k, sectionError(v, err))
		default:
			// reg query exits 1 for a value that does not exist; its message
			// is localised, so the exit status alone decides: the OS
			// default applies.
		}
		kn.Live = windowsDefault
		if kn.AtBootSet {
			kn.Live = kn.AtBoot
		}
		if p, ok := pending[k]; ok && windowsSameBoot(p.boot, f.BootID) {
			kn.Live = windowsDefault
			if !p.isDefault {
				kn.Live = strconv.FormatInt(p.inForce, 10)
			}
		}
		f.Knobs[k] = kn
	}

	v, err = body("netstat")
	if err != nil {
		return nil, fmt.Errorf("read sockets: netstat -ano: %s", sectionError(v, err))
	}
	if f.Listening, f.TimeWait, err = parseWindowsNetstat(v); err != nil {
		return nil, fmt.Errorf("read sockets: %w", err)
	}
	// The filtered table has no TIME_WAIT rows: find /C counted them. An
	// output without the count is netstat's own, whole (fixtures, older
	// fleettune), and its rows were counted.
	if c, ok := s.lookup("timewait"); ok {
		f.TimeWait = parseWindowsCount(c)
	}

	// Excluded port ranges: 2008+ only (2003's netsh has no such context).
	if v, err := body("excluded"); err == nil {
		ex, err := parseWindowsExcluded(v)
		if err != nil {
			return nil, fmt.Errorf("read excluded port ranges: %w", err)
		}
		f.Knobs[WindowsExcludedKnob] = Knob{Name: WindowsExcludedKnob, Live: formatRanges(ex), Source: "netsh int ipv4 show excludedportrange protocol=tcp"}
	} else if !legacy {
		return nil, fmt.Errorf("read excluded port ranges: netsh int ipv4 show excludedportrange protocol=tcp: %s", sectionError(v, err))
	}
	f.Exempt = windowsExempt(f)
	return f, nil
}

// WindowsExcludedKnob is the pseudo-knob in Facts.Knobs that lists the
// excluded TCP port ranges (IPv4) as "5357-5357,50000-50059"; "" when
// there are none. Absent on 2003.
const WindowsExcludedKnob = "netsh excludedportrange tcp"

// parseWindowsExcluded reads `netsh int ipv4 show excludedportrange
// protocol=tcp`: a title, "Start Port    End Port", dashes, then one row of
// two numbers per range, an administered one followed by "*". Rows are
// taken after the dashes; the labels are localised and not read.
func parseWindowsExcluded(out string) ([]PortRange, error) {
	var ex []PortRange
	rows := false
	for i, line := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			if len(ex) > 0 {
				return ex, nil // the blank line after the table
			}
			continue
		case strings.HasPrefix(f[0], "---"):
			rows = true
			continue
		case !rows:
			continue
		}
		if len(f) > 3 || len(f) == 3 && f[2] != "*" {
			return nil, fmt.Errorf("line %d: expected \"START END\" (and \"*\"), got %q", i+1, strings.TrimSpace(line))
		}
		lo, err1 := strconv.Atoi(f[0])
		hi := lo
		var err2 error
		if len(f) > 1 {
			hi, err2 = strconv.Atoi(f[1])
		}
		if err1 != nil || err2 != nil || len(f) < 2 || lo < 1 || hi > 65535 || lo > hi {
			return nil, fmt.Errorf("line %d: expected \"START END\" port numbers, got %q", i+1, strings.TrimSpace(line))
		}
		ex = append(ex, PortRange{lo, hi})
	}
	if !rows {
		return nil, fmt.Errorf("no table (expected a line of dashes): %q", firstLine(out))
	}
	return ex, nil
}

func formatRanges(rs []PortRange) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}

// windowsExcludedIn counts the ports of want that excluded ranges hold.
func windowsExcludedIn(f *Facts, want PortRange) (n int, ranges []string) {
	for _, part := range strings.Split(f.Knobs[WindowsExcludedKnob].Live, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		a, b = max(a, want.Low), min(b, want.High)
		if a <= b {
			n += b - a + 1
			ranges = append(ranges, part)
		}
	}
	return n, ranges
}

// windowsExempt reports, on Server 2003, the listeners inside the current
// range: its low end is fixed, so its own default range (1025-5000)
// already holds the RDP listener (3389), and Windows does not hand out a
// port a listener holds. 2008 and later have no such exemption.
func windowsExempt(f *Facts) []ExemptPorts {
	if !windowsLegacy(f.Version) {
		return nil
	}
	cur := PortRange{windowsLegacyLow, windowsMaxUserDef}
	if r, err := windowsRegState(f, windowsMaxUser); err == nil && !r.liveDefault {
		cur.High = int(r.live)
	}
	return exemptListeners(f.Listening, ExemptInRange, &cur, cur.Contains)
}

func windowsNetshValue(start, num int) string { return fmt.Sprintf("start=%d num=%d", start, num) }

var windowsNetshForm = regexp.MustCompile(`^start=([0-9]+) num=([0-9]+)$`)

// parseWindowsRange reads a netsh knob's value ("start=49152 num=16384").
func parseWindowsRange(v string) (PortRange, error) {
	m := windowsNetshForm.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return PortRange{}, fmt.Errorf("%q is not start=N num=M", v)
	}
	start, _ := strconv.Atoi(m[1])
	num, _ := strconv.Atoi(m[2])
	if num < 1 {
		return PortRange{}, fmt.Errorf("%q: no ports", v)
	}
	return PortRange{start, start + num - 1}, nil
}

// windowsLegacy reports whether a release is Server 2003 or older.
func windowsLegacy(version string) bool {
	major, err := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	return err == nil && major < windowsLegacyVersion
}

// windowsReg is a registry knob's state as numbers.
type windowsReg struct {
	live        int64
	liveDefault bool
	boot        int64
	bootSet     bool
}

func windowsRegState(f *Facts, knob string) (windowsReg, error) {
	k, ok := f.Knobs[knob]
	if !ok {
		return windowsReg{}, fmt.Errorf("%s was not read", knob)
	}
	var r windowsReg
	if k.Live == windowsDefault {
		r.liveDefault = true
	} else {
		n, err := strconv.ParseInt(strings.TrimSpace(k.Live), 10, 64)
		if err != nil {
			return windowsReg{}, fmt.Errorf("cannot parse the value in force %q of %s", k.Live, knob)
		}
		r.live = n
	}
	if k.AtBootSet {
		n, err := strconv.ParseInt(strings.TrimSpace(k.AtBoot), 10, 64)
		if err != nil {
			return windowsReg{}, fmt.Errorf("cannot parse the registry value %q of %s", k.AtBoot, knob)
		}
		r.boot, r.bootSet = n, true
	}
	return r, nil
}

// windowsShow shows a registry knob's value the operator's way.
type windowsShow struct {
	value func(int64) string
	def   int64
	// defSource says where the assumed default comes from, when the
	// references disagree ("" when they do not).
	defSource string
}

// windowsTimedWaitSource is where the TcpTimedWaitDelay default fleettune
// assumes comes from (platforms.md 2.2: the references disagree).
func windowsTimedWaitSource(legacy bool) string {
	if legacy {
		return "120s per KB 314053 for XP/2003; other Microsoft pages say 240s"
	}
	return "240s per Microsoft's port-exhaustion page; KB 314053 (XP/2003) says 120s"
}

func (s windowsShow) notSet() string {
	if s.defSource != "" {
		return " (default, not set: " + s.defSource + ")"
	}
	return " (default, not set)"
}

// windowsTyped is a registry knob's value in force, typed.
func windowsTyped(knob string, s windowsShow, r windowsReg) *Value {
	v := r.live
	if r.liveDefault {
		v = s.def
	}
	switch knob {
	case windowsMaxUser:
		return portsValue(PortRange{windowsLegacyLow, int(v)})
	case windowsTimedWait:
		return durationValue(time.Duration(v) * time.Second)
	}
	return durationValue(time.Duration(v) * time.Millisecond)
}

func (s windowsShow) live(r windowsReg) string {
	if r.liveDefault {
		return s.value(s.def) + s.notSet()
	}
	return s.value(r.live)
}

func (s windowsShow) boot(r windowsReg) string {
	if !r.bootSet {
		return s.value(s.def) + s.notSet()
	}
	return s.value(r.boot)
}

func windowsShows(knob string, legacy bool) windowsShow {
	switch knob {
	case windowsMaxUser:
		return windowsShow{func(v int64) string { return PortRange{windowsLegacyLow, int(v)}.String() }, windowsMaxUserDef, ""}
	case windowsTimedWait:
		return windowsShow{func(v int64) string { return (time.Duration(v) * time.Second).String() }, windowsTimedWaitDefault(legacy), windowsTimedWaitSource(legacy)}
	default:
		return windowsShow{func(v int64) string { return (time.Duration(v) * time.Millisecond).String() }, windowsKeepAliveDef, ""}
	}
}

func windowsRebootReason(knob string) string {
	return fmt.Sprintf("%s is read from the registry at boot; restart Windows to bring it into force", knob)
}

func (d windowsDriver) Propose(f *Facts, t Targets, g Guardrails) Proposal {
	var p Proposal
	legacy := windowsLegacy(f.Version)
	if t.EphemeralPorts != nil {
		if legacy {
			p.add(d.proposeMaxUserPort(f, *t.EphemeralPorts, g))
		} else {
			p.add(d.proposeDynamicPorts(f, *t.EphemeralPorts, g))
		}
	}
	if t.TimeWait != nil {
		want := *t.TimeWait
		c := d.proposeReg(f, TimeWait, windowsTimedWait, Value{Duration: &want}, legacy)
		if c != nil {
			switch {
			case want%time.Second != 0:
				c.Refused = fmt.Sprintf("%s is in whole seconds; %s is not", windowsTimedWait, want)
			case want < windowsTimedWaitMin*time.Second || want > windowsTimedWaitMax*time.Second:
				c.Refused = fmt.Sprintf("%s must be between %s and %s (Windows' documented range)", windowsTimedWait, windowsTimedWaitMin*time.Second, windowsTimedWaitMax*time.Second)
			}
		}
		p.add(c, nil)
	}
	if t.KeepaliveTime != nil {
		want := *t.KeepaliveTime
		c := d.proposeReg(f, KeepaliveTime, windowsKeepAlive, Value{Duration: &want}, legacy)
		if c != nil {
			switch {
			case want%time.Millisecond != 0:
				c.Refused = fmt.Sprintf("%s is in whole milliseconds; %s is not", windowsKeepAlive, want)
			case want < time.Millisecond || want/time.Millisecond > windowsKeepAliveMax:
				c.Refused = fmt.Sprintf("%s must be between 1ms and %s", windowsKeepAlive, time.Duration(windowsKeepAliveMax)*time.Millisecond)
			}
		}
		p.add(c, nil)
	}
	if !legacy {
		if k := f.Knobs[windowsMaxUser]; k.AtBootSet {
			p.Notes = append(p.Notes, fmt.Sprintf("conflict: %s\\%s is set (%s); on Windows 2008 and later it is kept only for legacy use and is reported to replace the netsh dynamic port range at boot; remove it (reg delete \"%s\" /v %s /f) unless you mean it", WindowsTcpipKey, windowsMaxUser, k.AtBoot, WindowsTcpipKey, windowsMaxUser))
		}
	}
	if legacy && !t.Empty() {
		p.Notes = append(p.Notes, "health: Windows Server 2003 has no wevtutil, so the Tcpip events 4227 and 4231 are not read there; the health check uses netstat -s -p tcp's counters only")
	}
	p.Changes = append(p.Changes, refuseNative(Windows, t)...)
	p.typeTargets(t)
	return p
}

// windowsTargetValue turns a registry change's target into the REG_DWORD
// to write, from the typed value only.
func windowsTargetValue(setting Setting, target Value) (knob string, v int64, err error) {
	switch {
	case setting == EphemeralPorts && target.Ports != nil:
		return windowsMaxUser, int64(target.Ports.High), nil
	case setting == TimeWait && target.Duration != nil:
		return windowsTimedWait, int64(*target.Duration / time.Second), nil
	case setting == KeepaliveTime && target.Duration != nil:
		return windowsKeepAlive, int64(*target.Duration / time.Millisecond), nil
	}
	return "", 0, fmt.Errorf("setting %q is not supported on Windows", setting)
}

// proposeReg compares a registry knob with its target. It returns nil when
// the registry holds the target and it is in force; a Pending change when
// the registry holds it but a reboot has not brought it into force yet.
func (d windowsDriver) proposeReg(f *Facts, setting Setting, knob string, target Value, legacy bool) *Change {
	c := Change{Setting: string(setting), Knob: WindowsTcpipKey + `\` + knob, Target: target.String(),
		RebootRequired: true, RebootReason: windowsRebootReason(knob)}
	_, want, err := windowsTargetValue(setting, target)
	if err != nil {
		c.Refused = err.Error()
		return &c
	}
	r, err := windowsRegState(f, knob)
	if err != nil {
		c.Current = "(unknown)"
		c.Refused = err.Error()
		return &c
	}
	show := windowsShows(knob, legacy)
	c.Current, c.Before = show.live(r), windowsTyped(knob, show, r)
	if r.liveDefault != !r.bootSet || r.bootSet && r.boot != r.live {
		c.AtBoot = show.boot(r)
	}
	liveOK := !r.liveDefault && r.live == want
	bootOK := r.bootSet && r.boot == want
	if liveOK && bootOK {
		return nil
	}
	if !bootOK {
		cmds, err := windowsRegWrite(f, knob, &want)
		if err != nil {
			c.Refused = err.Error()
			return &c
		}
		c.Commands = cmds
		c.Persist = fmt.Sprintf(`%s\%s = %d (REG_DWORD)`, WindowsTcpipKey, knob, want)
	}
	return &c
}

// proposeMaxUserPort handles ephemeral_ports on Server 2003: the range is
// 1025..MaxUserPort, so only the high end can move.
func (d windowsDriver) proposeMaxUserPort(f *Facts, want PortRange, g Guardrails) (*Change, []string) {
	c := d.proposeReg(f, EphemeralPorts, windowsMaxUser, Value{Ports: &want}, true)
	if c == nil || c.Refused != "" {
		return c, nil
	}
	switch {
	case want.Low != windowsLegacyLow:
		c.Refused = fmt.Sprintf("Windows Server 2003 fixes the low end of the ephemeral range at %d; only the high end (%s) can change: use %d-%d", windowsLegacyLow, windowsMaxUser, windowsLegacyLow, want.High)
	case want.High < windowsMaxUserMin || want.High > windowsMaxUserMax:
		c.Refused = fmt.Sprintf("%s must be between %d and %d", windowsMaxUser, windowsMaxUserMin, windowsMaxUserMax)
	}
	return c, nil
}

// proposeDynamicPorts handles ephemeral_ports on 2008 and later: netsh's
// dynamic port range for IPv4 and IPv6, kept in step; at once and
// persistent, no reboot.
func (d windowsDriver) proposeDynamicPorts(f *Facts, want PortRange, g Guardrails) (*Change, []string) {
	c := Change{Setting: string(EphemeralPorts), Knob: windowsDynV4 + ", " + windowsDynV6, Target: want.String()}
	v4, err1 := windowsLiveRange(f, windowsDynV4)
	v6, err2 := windowsLiveRange(f, windowsDynV6)
	if err := firstErr(err1, err2); err != nil {
		c.Current = "(unknown)"
		c.Refused = err.Error()
		return &c, nil
	}
	c.Current, c.Before = v4.String(), portsValue(v4)
	if v6 != v4 {
		c.Current = fmt.Sprintf("ipv4 %s, ipv6 %s", v4, v6)
	}
	if v4 == want && v6 == want {
		return nil, nil
	}
	c.Commands = windowsNetshCommands(v4, v6, want)
	switch {
	case want.Low < windowsMinStart:
		c.Refused = fmt.Sprintf("start %d is below %d, the lowest start netsh accepts", want.Low, windowsMinStart)
	case want.Size() < windowsMinPorts:
		c.Refused = fmt.Sprintf("range %s holds %d ports; netsh needs at least %d", want, want.Size(), windowsMinPorts)
	}
	var notes []string
	if n, ranges := windowsExcludedIn(f, want); n > 0 {
		msg := fmt.Sprintf("%d of the %d ports of %s are excluded (netsh int ipv4 show excludedportrange protocol=tcp: %s)", n, want.Size(), want, strings.Join(ranges, ", "))
		if 2*n > want.Size() && c.Refused == "" {
			c.Refused = msg + "; Windows would have fewer than half of them to give out: choose a range outside the exclusions"
		} else {
			notes = append(notes, "ephemeral_ports: "+msg)
		}
	}
	return &c, notes
}

func windowsLiveRange(f *Facts, knob string) (PortRange, error) {
	k, ok := f.Knobs[knob]
	if !ok || k.Missing {
		return PortRange{}, fmt.Errorf("this Windows has no %s", knob)
	}
	r, err := parseWindowsRange(k.Live)
	if err != nil {
		return PortRange{}, fmt.Errorf("%s: %w", knob, err)
	}
	return r, nil
}

// windowsNetshCommands sets the families whose range is not want.
func windowsNetshCommands(v4, v6, want PortRange) []string {
	var cmds []string
	for _, fam := range []struct {
		name string
		now  PortRange
	}{{"ipv4", v4}, {"ipv6", v6}} {
		if fam.now != want {
			cmds = append(cmds, fmt.Sprintf("netsh int %s set dynamicport tcp start=%d num=%d", fam.name, want.Low, want.Size()))
		}
	}
	return cmds
}

// windowsRegWrite writes a registry knob (v nil: deletes it), after
// recording the value in force for this boot under WindowsPendingKey. Every
// piece is typed: a known knob name, an integer, and the boot time checked
// against the CIM datetime form.
func windowsRegWrite(f *Facts, knob string, v *int64) ([]string, error) {
	if !contains(windowsRegKnobs, knob) {
		return nil, fmt.Errorf("%s: not a registry value fleettune manages", knob)
	}
	if !windowsBootTime.MatchString(f.BootID) {
		return nil, fmt.Errorf("boot time %q is not a CIM datetime; cannot record the value in force", f.BootID)
	}
	r, err := windowsRegState(f, knob)
	if err != nil {
		return nil, err
	}
	inForce := windowsDefault
	if !r.liveDefault {
		inForce = strconv.FormatInt(r.live, 10)
	}
	cmds := []string{fmt.Sprintf(`reg add "%s" /v %s /t REG_SZ /d "%s %s" /f`, WindowsPendingKey, knob, f.BootID, inForce)}
	if v == nil {
		cmds = append(cmds, fmt.Sprintf(`reg delete "%s" /v %s /f`, WindowsTcpipKey, knob))
	} else {
		if *v < 0 || *v > 0xFFFFFFFF {
			return nil, fmt.Errorf("%s: %d does not fit a REG_DWORD", knob, *v)
		}
		cmds = append(cmds, fmt.Sprintf(`reg add "%s" /v %s /t REG_DWORD /d %d /f`, WindowsTcpipKey, knob, *v))
	}
	return cmds, nil
}

// windowsSettingKnobs are the knobs a change of a setting touches.
func windowsSettingKnobs(setting string, legacy bool) []string {
	switch Setting(setting) {
	case EphemeralPorts:
		if legacy {
			return []string{windowsMaxUser}
		}
		return []string{windowsDynV4, windowsDynV6}
	case TimeWait:
		return []string{windowsTimedWait}
	case KeepaliveTime:
		return []string{windowsKeepAlive}
	}
	return nil
}

// Snapshot records, for every knob the changes touch, the value in force
// and the registry value (AtBootSet false: the value was absent).
func (windowsDriver) Snapshot(f *Facts, changes []Change) Snapshot {
	s := Snapshot{Knobs: map[string]KnobState{}}
	legacy := windowsLegacy(f.Version)
	for _, c := range changes {
		for _, k := range windowsSettingKnobs(c.Setting, legacy) {
			kn, ok := f.Knobs[k]
			if !ok {
				continue
			}
			s.Knobs[k] = stateOf(kn)
		}
	}
	return s
}

// ApplyCommands rebuilds every change's commands from its typed target and
// the facts: netsh for the dynamic ranges, and for registry values the
// record of the value in force followed by reg add. A Pending change gives
// nothing.
func (windowsDriver) ApplyCommands(f *Facts, changes []Change) ([]string, error) {
	var cmds []string
	legacy := windowsLegacy(f.Version)
	for _, c := range changes {
		if c.Refused != "" {
			return nil, fmt.Errorf("%s: refused: %s", c.Knob, c.Refused)
		}
		if Setting(c.Setting) == EphemeralPorts && !legacy {
			want, err := targetPorts(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Setting, err)
			}
			if want.Low < windowsMinStart || want.Size() < windowsMinPorts {
				return nil, fmt.Errorf("%s: %s is outside what netsh accepts", c.Setting, want)
			}
			v4, err1 := windowsLiveRange(f, windowsDynV4)
			v6, err2 := windowsLiveRange(f, windowsDynV6)
			if err := firstErr(err1, err2); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Setting, err)
			}
			cmds = append(cmds, windowsNetshCommands(v4, v6, want)...)
			continue
		}
		if c.After == nil {
			return nil, fmt.Errorf("%s: the change has no typed target (make changes with Propose)", c.Knob)
		}
		knob, want, err := windowsTargetValue(Setting(c.Setting), *c.After)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Setting, err)
		}
		r, err := windowsRegState(f, knob)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Setting, err)
		}
		if r.bootSet && r.boot == want {
			continue
		}
		w, err := windowsRegWrite(f, knob, &want)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Setting, err)
		}
		cmds = append(cmds, w...)
	}
	return cmds, nil
}

// RestoreCommands bring every knob of snap back: netsh ranges at once;
// registry values to their old data, or deleted where they were absent.
// A registry value already as it was gives nothing, even when the value in
// force differs: only a reboot changes that.
func (windowsDriver) RestoreCommands(f *Facts, snap Snapshot) ([]string, error) {
	var cmds []string
	for _, k := range sortedKnobs(snap) {
		was := snap.Knobs[k]
		switch k {
		case windowsDynV4, windowsDynV6:
			if was.Missing {
				continue
			}
			old, err := parseWindowsRange(was.Live)
			if err != nil {
				return nil, fmt.Errorf("%s: cannot restore: %w", k, err)
			}
			now, err := windowsLiveRange(f, k)
			if err != nil {
				return nil, err
			}
			if now != old {
				fam := "ipv4"
				if k == windowsDynV6 {
					fam = "ipv6"
				}
				cmds = append(cmds, fmt.Sprintf("netsh int %s set dynamicport tcp start=%d num=%d", fam, old.Low, old.Size()))
			}
		case windowsMaxUser, windowsTimedWait, windowsKeepAlive:
			now, err := windowsRegState(f, k)
			if err != nil {
				return nil, err
			}
			var old *int64
			if was.AtBootSet {
				n, err := strconv.ParseInt(strings.TrimSpace(was.AtBoot), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: recorded registry value %q is not an integer", k, was.AtBoot)
				}
				old = &n
			}
			if was.AtBootSet == now.bootSet && (old == nil || *old == now.boot) {
				continue
			}
			w, err := windowsRegWrite(f, k, old)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, w...)
		default:
			return nil, fmt.Errorf("%s: not a Windows knob fleettune manages", k)
		}
	}
	return cmds, nil
}

// Differences says how f differs from snap. A registry value that is back
// but not yet in force is marked AwaitsReboot.
func (windowsDriver) Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	legacy := windowsLegacy(f.Version)
	for _, k := range sortedKnobs(snap) {
		was, now := snap.Knobs[k], f.Knobs[k]
		if was.Missing != now.Missing {
			diff = append(diff, fmt.Sprintf("%s: missing was %t, is %t", k, was.Missing, now.Missing))
			continue
		}
		if was.Missing {
			continue
		}
		switch k {
		case windowsDynV4, windowsDynV6:
			a, err1 := parseWindowsRange(now.Live)
			b, err2 := parseWindowsRange(was.Live)
			if err1 != nil || err2 != nil || a != b {
				diff = append(diff, fmt.Sprintf("%s is %s, was %s", k, windowsRangeText(now.Live), windowsRangeText(was.Live)))
			}
			continue
		}
		show := windowsShows(k, legacy)
		regBack := now.AtBootSet == was.AtBootSet && (!was.AtBootSet || sameInts(now.AtBoot, was.AtBoot))
		if !regBack {
			diff = append(diff, fmt.Sprintf("%s\\%s is %s, was %s", WindowsTcpipKey, k, windowsRegText(now.AtBoot, now.AtBootSet, show), windowsRegText(was.AtBoot, was.AtBootSet, show)))
		}
		if !(now.Live == was.Live || now.Live != windowsDefault && was.Live != windowsDefault && sameInts(now.Live, was.Live)) {
			msg := fmt.Sprintf("%s in force is %s, was %s", k, windowsLiveText(now.Live, show), windowsLiveText(was.Live, show))
			if regBack {
				msg += AwaitsReboot
			}
			diff = append(diff, msg)
		}
	}
	return diff
}

func windowsRangeText(v string) string {
	if r, err := parseWindowsRange(v); err == nil {
		return r.String()
	}
	return v
}

func windowsRegText(v string, set bool, show windowsShow) string {
	if !set {
		return "absent"
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		return show.value(n)
	}
	return v
}

func windowsLiveText(v string, show windowsShow) string {
	if v == windowsDefault {
		return show.value(show.def) + " (default)"
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		return show.value(n)
	}
	return v
}
