package lab

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Windows emulator. A Windows host has no POSIX shell: fleettune's
// commands reach it as cmd.exe lines (over WinRM), so the emulator brings
// its own interpreter (Shell) for the subset of cmd.exe the driver uses:
//
//   - commands joined by "&", "&&" and "||" (cmd gives "&" the lowest
//     precedence; for these operators that is the same as left to right);
//   - pipelines, "A | B", which bind tighter than those: B reads what A
//     printed on its standard output (its 2>&1 included), A's standard
//     error goes past the pipe, and the status is B's; only findstr and
//     find read a pipe;
//   - words split on spaces and tabs; "..." groups words and the quotes are
//     removed; no escapes (^), variables (%X%), parentheses or file
//     redirections;
//   - redirections 2>&1, 1>&2, >nul, 1>nul, 2>nul;
//   - echo prints the rest of its command verbatim (quotes and trailing
//     spaces included), as cmd's echo does; "cmd /c LINE" runs LINE;
//   - commands: ver, hostname, wmic os get lastbootuptime, netstat -ano,
//     netstat -s -p tcp, findstr /I /V /L /C:"STRING"... and
//     find /C /I /V "STRING" on a pipe,
//     netsh int ipv4|ipv6 show|set dynamicport tcp|udp, reg query|add|delete
//     under HKLM.
//
// Anything else fails loudly: an unknown command as cmd says it
// ("'X' is not recognized as an internal or external command, ..."), and
// syntax outside the subset with a "lab:" message, exit 1.
//
// State. The registry is the persistent state and lives in the emulator
// (it survives Boot). netsh's dynamic port ranges have an active and a
// persistent store: set without store= changes both. The TCP/IP registry
// values (MaxUserPort, TcpTimedWaitDelay, KeepAliveTime) are read only at
// Boot: reg add and reg delete change the registry, not the values in force.
//
// Output is CRLF throughout, in the formats of platform/testdata/windows
// (see its README for provenance and what is unconfirmed).

// WindowsAdmin is the account that may change settings; any other user
// gets "ERROR: Access is denied." from reg add/delete and netsh's elevation
// message. A "DOMAIN\" prefix and an "@domain" suffix are ignored.
const WindowsAdmin = "Administrator"

// windowsRelease is one emulated Windows release.
type windowsRelease struct {
	release string // "MAJOR.MINOR" as the lab fleet names it
	build   int
	ubr     int // update build revision; 0: ver prints three fields
	legacy  bool
	// timedWait is the TIME_WAIT interval when TcpTimedWaitDelay is absent,
	// in seconds (platforms.md 2.2: 120 s on 2003 per KB 314053, 240 s on
	// 2008+ per the current port-exhaustion page).
	timedWait int64
	machine   string
}

// windowsReleases are the releases the lab emulates, by "MAJOR.MINOR":
// 5.2 is Windows Server 2003 SP2 (build 3790; MaxUserPort, no netsh
// dynamicport); 6.1 is Windows Server 2008 R2 SP1 (7601); 10.0 is Windows
// Server 2019 (17763). "MAJOR.MINOR.BUILD" (what platform.Detect reports)
// is accepted too.
var windowsReleases = map[string]windowsRelease{
	"5.2":  {"5.2", 3790, 0, true, 120, "x86"},
	"6.1":  {"6.1", 7601, 0, false, 240, "AMD64"},
	"10.0": {"10.0", 17763, 1234, false, 240, "AMD64"},
}

const (
	windowsTcpipKey = `HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`
	// WindowsPendingKey is where the platform driver records the value in
	// force of each registry knob it writes (platform.WindowsPendingKey).
	WindowsPendingKey = `HKEY_LOCAL_MACHINE\SOFTWARE\fleettune\PendingReboot`
)

// windowsTcpipKnobs are the registry values the TCP/IP stack reads at boot.
var windowsTcpipKnobs = []string{"MaxUserPort", "TcpTimedWaitDelay", "KeepAliveTime"}

type regValue struct {
	name, typ string
	dword     uint32
	sz        string
}

type regKey struct {
	path string // as created, e.g. HKEY_LOCAL_MACHINE\SOFTWARE\fleettune
	vals []*regValue
}

func (k *regKey) value(name string) (*regValue, int) {
	for i, v := range k.vals {
		if strings.EqualFold(v.name, name) {
			return v, i
		}
	}
	return nil, -1
}

type windowsRange struct{ start, num int }

type windows struct {
	rel windowsRelease
	// reg is the registry by upper-case path. Only keys the lab knows or
	// reg add created exist.
	reg map[string]*regKey
	// dynActive and dynPersistent are netsh's stores by "ipv4 tcp" etc.
	dynActive, dynPersistent map[string]windowsRange
	// inForce are the TCP/IP registry values the stack read at the last
	// boot; a missing entry means the value was absent (the default).
	inForce map[string]uint32
	// Boot time as wmic reports it. Windows computes LastBootUpTime from
	// the clock and the uptime and prints it in local time, so it moves
	// without a reboot (platforms.md, corrections): bootReads counts the
	// reads since the last boot, and every other read is a second later;
	// utcOffset is the host's UTC offset in minutes, which a
	// daylight-saving change moves (SetUTCOffset) while the boot stays put.
	bootReads int
	utcOffset int
	// clockShift is how far the clock was set on without a reboot, as a
	// virtual machine's clock is when its host and it disagree about the
	// zone (SetClockShift): LastBootUpTime, the clock minus the uptime,
	// moves by as much, in UTC, at the same offset.
	clockShift time.Duration
	// tcp are the TCP statistics netstat -s -p tcp prints, by label; nil
	// until the first read, reset by a reboot.
	tcp map[string]int64
	// excluded are exclusions added with ExcludePorts.
	excluded []windowsExclusion
	// events are the Tcpip events the host logged in its System log
	// (which survives reboots), oldest first; an exhausted host's load
	// adds its own, computed on read (wevtutil).
	events []windowsEvent
	// eventOnly: the handshake fault shows only as Tcpip events 4227, not
	// in netstat's counters: connections the stack refuses before any
	// segment leaves (a local endpoint still in TIME_WAIT towards the same
	// remote one) are no failed connection attempts on the wire.
	eventOnly bool
}

// windowsEvent is one event of the System log.
type windowsEvent struct {
	at time.Time
	id int
}

// windowsFaultEvents is how many 4227 events the handshake fault logs at
// every read of the TCP statistics or of the System log.
const windowsFaultEvents = 3

// WindowsEventOnlyFailures makes a Windows host's handshake fault show
// only in the System log (Tcpip events 4227), not in netstat -s -p tcp.
func WindowsEventOnlyFailures(h *Host, on bool) error {
	h.Lock()
	defer h.Unlock()
	e, ok := h.Emu.(*windows)
	if !ok {
		return fmt.Errorf("lab: %s is not a Windows host", h.Name)
	}
	e.eventOnly = on
	return nil
}

// logFailures logs the handshake fault's 4227 events, while it shows.
func (e *windows) logFailures(h *Host) {
	if !h.Faults.HandshakeFailures || e.TimeWait() >= h.BaselineTimeWait {
		return
	}
	now := time.Now()
	for i := 0; i < windowsFaultEvents; i++ {
		e.events = append(e.events, windowsEvent{now, 4227})
	}
}

// SetUTCOffset sets the host's time zone offset from UTC in minutes, as a
// daylight-saving change does: wmic's LastBootUpTime then shows another
// local time and offset for the same boot.
func (e *windows) SetUTCOffset(minutes int) { e.utcOffset = minutes }

// SetClockShift sets the host's clock d away from the true time without a
// reboot (a virtual machine an hour off after its host's daylight-saving
// change): wmic's LastBootUpTime moves by d at the same UTC offset.
func (e *windows) SetClockShift(d time.Duration) { e.clockShift = d }

func newWindows(h *Host, release string) error {
	key := release
	if f := strings.Split(release, "."); len(f) == 3 {
		key = f[0] + "." + f[1]
		if rel, ok := windowsReleases[key]; !ok || strconv.Itoa(rel.build) != f[2] {
			return fmt.Errorf("lab: Windows release %q is not emulated (want 5.2, 6.1 or 10.0, or with their builds 5.2.3790, 6.1.7601, 10.0.17763)", release)
		}
	}
	rel, ok := windowsReleases[key]
	if !ok {
		return fmt.Errorf("lab: Windows release %q is not emulated (want 5.2, 6.1 or 10.0)", release)
	}
	e := &windows{rel: rel, reg: map[string]*regKey{},
		dynActive: map[string]windowsRange{}, dynPersistent: map[string]windowsRange{}}
	for _, k := range []string{`HKEY_LOCAL_MACHINE\SOFTWARE`, `HKEY_LOCAL_MACHINE\SYSTEM`, windowsTcpipKey} {
		e.reg[strings.ToUpper(k)] = &regKey{path: k}
	}
	if !rel.legacy {
		for _, fam := range []string{"ipv4 tcp", "ipv4 udp", "ipv6 tcp", "ipv6 udp"} {
			e.dynPersistent[fam] = windowsRange{49152, 16384}
		}
	}
	h.OS = "windows"
	h.Uname = Uname{Sysname: "Windows_NT", Release: rel.release, Version: strconv.Itoa(rel.build), Machine: rel.machine}
	h.Listening = []int{135, 445, 3389, 5985, 5986}
	h.TimeWaitSockets = 2
	if !rel.legacy {
		// RPC's endpoint listeners take ports from the dynamic range.
		h.Listening = append(h.Listening, 49664)
		h.TimeWaitSockets = 3
	}
	h.Emu = e
	return nil
}

// Boot brings the persisted state into force: netsh's persistent store
// and the TCP/IP registry values.
func (e *windows) Boot(h *Host) {
	e.dynActive = map[string]windowsRange{}
	for k, v := range e.dynPersistent {
		e.dynActive[k] = v
	}
	e.inForce = map[string]uint32{}
	e.bootReads = 0
	if h.Boots > 1 {
		e.tcp = map[string]int64{} // a reboot zeroes the TCP statistics
	}
	tcpip := e.reg[strings.ToUpper(windowsTcpipKey)]
	for _, n := range windowsTcpipKnobs {
		if v, _ := tcpip.value(n); v != nil && v.typ == "REG_DWORD" {
			e.inForce[n] = v.dword
		}
	}
}

// TimeWait is the TIME_WAIT interval in force.
func (e *windows) TimeWait() time.Duration {
	if v, ok := e.inForce["TcpTimedWaitDelay"]; ok {
		return time.Duration(v) * time.Second
	}
	return time.Duration(e.rel.timedWait) * time.Second
}

// InForce reports the value of a TCP/IP registry knob the stack read at
// the last boot; ok false when it was absent (the OS default applies).
func (e *windows) InForce(name string) (v uint32, ok bool) {
	v, ok = e.inForce[name]
	return v, ok
}

// Command runs one command given as argv, for callers that bypass Shell.
func (e *windows) Command(c *Call) (Output, bool) {
	if len(c.Argv) == 0 {
		return Output{}, true
	}
	return e.run(c.Host, c.User, c.Argv, strings.Join(c.Argv[1:], " "), ""), true
}

// Shell interprets a cmd.exe line (lab.Shell).
func (e *windows) Shell(h *Host, user, line string) Output {
	segs, err := splitCmdLine(line)
	if err != nil {
		return Output{Stderr: "lab: cmd.exe subset: " + err.Error() + "\r\n", Code: 1}
	}
	var out Output
	status := 0
	for i, s := range segs {
		if i > 0 {
			if s.op == "&&" && status != 0 || s.op == "||" && status == 0 {
				continue
			}
		}
		status = e.runPipeline(h, user, s.text, &out)
	}
	out.Code = status
	return out
}

type cmdSegment struct {
	op   string // the operator before it: "", "&", "&&", "||"
	text string
}

// splitCmdLine splits a line at &, && and || outside double quotes. The &
// of a 2>&1 redirection is not an operator.
func splitCmdLine(line string) ([]cmdSegment, error) {
	if strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("a command line may not hold a line break")
	}
	var segs []cmdSegment
	var b strings.Builder
	op := ""
	inQuote := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '"' {
			inQuote = !inQuote
			b.WriteByte(c)
			continue
		}
		if inQuote {
			b.WriteByte(c)
			continue
		}
		switch c {
		case '>':
			b.WriteByte(c)
			if i+1 < len(line) && line[i+1] == '&' {
				b.WriteByte('&')
				i++
			}
		case '&', '|':
			next := ""
			if i+1 < len(line) && line[i+1] == c {
				next = string(c)
				i++
			}
			o := string(c) + next
			if o == "|" {
				b.WriteByte('|') // a pipeline is one command: runPipeline splits it
				continue
			}
			segs = append(segs, cmdSegment{op, b.String()})
			b.Reset()
			op = o
		case '^', '%', '(', ')', '<':
			return nil, fmt.Errorf("%q is not supported: %q", string(c), line)
		default:
			b.WriteByte(c)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unbalanced quotes: %q", line)
	}
	segs = append(segs, cmdSegment{op, b.String()})
	for _, s := range segs {
		if strings.TrimSpace(s.text) == "" {
			return nil, fmt.Errorf("an operator without a command: %q", line)
		}
	}
	return segs, nil
}

// cmdWord is one word of a command: its text with the quotes removed, and
// where it starts and ends in the segment.
type cmdWord struct {
	text       string
	start, end int
	// redir: the word holds a > outside quotes (cmd takes a quoted > as
	// text, as in wevtutil's /q:"...[@SystemTime>='...']").
	redir bool
}

func cmdWords(s string) []cmdWord {
	var words []cmdWord
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		var b strings.Builder
		inQuote, redir := false, false
		for i < len(s) && (inQuote || s[i] != ' ' && s[i] != '\t') {
			if s[i] == '"' {
				inQuote = !inQuote
			} else {
				b.WriteByte(s[i])
				redir = redir || (s[i] == '>' && !inQuote)
			}
			i++
		}
		words = append(words, cmdWord{b.String(), start, i, redir})
	}
	return words
}

// runPipeline runs "A | B | ...": each command reads what the one before
// it printed on its standard output, what they print on standard error
// goes to out, and the status is the last one's.
func (e *windows) runPipeline(h *Host, user, text string, out *Output) int {
	var stages []string
	inQuote, start := false, 0
	for i := 0; i < len(text); i++ {
		switch {
		case text[i] == '"':
			inQuote = !inQuote
		case text[i] == '|' && !inQuote:
			stages = append(stages, text[start:i])
			start = i + 1
		}
	}
	stages = append(stages, text[start:])
	for _, st := range stages {
		if strings.TrimSpace(st) == "" {
			out.Stderr += "The syntax of the command is incorrect.\r\n"
			return 255
		}
	}
	stdin := ""
	for i, st := range stages[:len(stages)-1] {
		var o Output
		e.runSegment(h, user, st, stdin, i > 0, &o)
		out.Stderr += o.Stderr
		stdin = o.Stdout
	}
	return e.runSegment(h, user, stages[len(stages)-1], stdin, len(stages) > 1, out)
}

// runSegment runs one command with its redirections, appending what it
// printed to out, and returns its exit status. piped says that stdin is
// what the command before it in a pipeline printed.
func (e *windows) runSegment(h *Host, user, text, stdin string, piped bool, out *Output) int {
	words := cmdWords(text)
	// Redirections, left to right: fd[1] and fd[2] say where each goes.
	fd := [3]string{"", "out", "err"}
	var argv []string
	raw := text
	for i := len(words) - 1; i >= 0; i-- {
		w := words[i]
		if !w.redir {
			continue
		}
		raw = raw[:w.start] + raw[w.end:]
	}
	for _, w := range words {
		t := text[w.start:w.end]
		if !w.redir {
			argv = append(argv, w.text)
			continue
		}
		n := 1
		r := t
		if r[0] == '1' || r[0] == '2' {
			n = int(r[0] - '0')
			r = r[1:]
		}
		switch strings.ToLower(r) {
		case ">nul":
			fd[n] = "nul"
		case ">&1":
			fd[n] = fd[1]
		case ">&2":
			fd[n] = fd[2]
		default:
			out.Stderr += fmt.Sprintf("lab: cmd.exe subset: redirection %q is not supported (only 2>&1, 1>&2, >nul, 2>nul)\r\n", t)
			return 1
		}
	}
	if len(argv) == 0 {
		out.Stderr += "lab: cmd.exe subset: a redirection without a command\r\n"
		return 1
	}
	var o Output
	if f := h.Faults.FailCommand; f != "" && strings.Contains(strings.Join(argv, " "), f) {
		o = Output{Stderr: "lab: injected failure\r\n", Code: 1}
	} else {
		// The raw text after the command's name and one delimiter, without
		// the redirections: what echo prints and what cmd /c runs.
		rest := ""
		if rw := cmdWords(raw); len(rw) > 0 {
			rest = raw[rw[0].end:]
		}
		if rest != "" {
			rest = rest[1:]
		}
		if !piped && (strings.EqualFold(argv[0], "findstr") || strings.EqualFold(argv[0], "find")) {
			o = Output{Stderr: "lab: cmd.exe subset: " + argv[0] + " reads a pipe here, not files or the console\r\n", Code: 1}
		} else {
			o = e.run(h, user, argv, rest, stdin)
		}
	}
	for _, p := range []struct {
		s  string
		to string
	}{{o.Stdout, fd[1]}, {o.Stderr, fd[2]}} {
		switch p.to {
		case "out":
			out.Stdout += p.s
		case "err":
			out.Stderr += p.s
		}
	}
	return o.Code
}

func windowsNotRecognized(name string) Output {
	return Output{Stderr: fmt.Sprintf("'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", name), Code: 1}
}

// run dispatches one command. rest is the raw text after the command's
// name: what echo prints, and what cmd /c runs. stdin is what a pipe
// feeds it; only findstr and find read it.
func (e *windows) run(h *Host, user string, argv []string, rest, stdin string) Output {
	name := strings.ToLower(argv[0])
	switch strings.TrimSuffix(name, ".exe") {
	case "echo":
		if strings.TrimSpace(rest) == "" {
			return Output{Stdout: "ECHO is on.\r\n"}
		}
		return Output{Stdout: rest + "\r\n"}
	case "ver":
		if len(argv) > 1 {
			return Output{Stdout: "The syntax of the command is incorrect.\r\n", Code: 1}
		}
		return Output{Stdout: "\r\n" + e.verLine() + "\r\n"}
	case "cmd":
		if len(argv) < 3 || !strings.EqualFold(argv[1], "/c") {
			return Output{Stderr: "lab: cmd.exe subset: only cmd /c LINE is supported\r\n", Code: 1}
		}
		i := strings.Index(strings.ToLower(rest), "/c")
		line := strings.TrimSpace(rest[i+2:])
		if len(line) >= 2 && line[0] == '"' && line[len(line)-1] == '"' {
			line = line[1 : len(line)-1]
		}
		return e.Shell(h, user, line)
	case "hostname":
		return Output{Stdout: h.Uname.Nodename + "\r\n"}
	case "wmic":
		return e.wmic(h, argv[1:])
	case "netstat":
		return e.netstat(h, argv[1:])
	case "findstr":
		return findstr(argv[1:], stdin)
	case "find":
		return findCount(argv[1:], rest, stdin)
	case "wevtutil":
		if e.rel.legacy {
			return windowsNotRecognized(argv[0]) // Vista and 2008 brought wevtutil
		}
		return e.wevtutil(h, argv[1:])
	case "netsh":
		return e.netsh(user, argv[1:])
	case "reg":
		return e.regCmd(user, argv[1:])
	}
	return windowsNotRecognized(argv[0])
}

func (e *windows) verLine() string {
	v := fmt.Sprintf("%s.%d", e.rel.release, e.rel.build)
	if e.rel.ubr > 0 {
		v += fmt.Sprintf(".%d", e.rel.ubr)
	}
	return "Microsoft Windows [Version " + v + "]"
}

func windowsIsAdmin(user string) bool {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:]
	}
	user, _, _ = strings.Cut(user, "@")
	return strings.EqualFold(user, WindowsAdmin)
}

// wmicBootTime is the boot time as a CIM datetime in the local time of a
// zone offset minutes east of UTC: yyyymmddHHMMSS.ffffff, then the offset
// as a sign and three digits.
func wmicBootTime(t time.Time, offset int) string {
	sign := '+'
	if offset < 0 {
		sign, offset = '-', -offset
	}
	local := t.UTC().Add(time.Duration(offset) * time.Minute)
	if sign == '-' {
		local = t.UTC().Add(-time.Duration(offset) * time.Minute)
	}
	return fmt.Sprintf("%s.%06d%c%03d", local.Format("20060102150405"), local.Nanosecond()/1000, sign, offset)
}

// wmic answers `wmic os get lastbootuptime`. wmic pads each column to its
// widest cell plus two spaces and, writing to a pipe, ends lines "\r\r\n".
func (e *windows) wmic(h *Host, args []string) Output {
	if strings.ToLower(strings.Join(args, " ")) != "os get lastbootuptime" {
		return Output{Stderr: fmt.Sprintf("lab: wmic subset: only \"wmic os get lastbootuptime\" is emulated, not %q\r\n", strings.Join(args, " ")), Code: 1}
	}
	jitter := time.Duration(e.bootReads%2) * time.Second
	e.bootReads++
	v := wmicBootTime(h.BootTime.Add(jitter+e.clockShift), e.utcOffset)
	w := len(v) + 2
	return Output{Stdout: fmt.Sprintf("%-*s\r\r\n%-*s\r\r\n\r\r\n", w, "LastBootUpTime", w, v)}
}

// windowsPIDs are the processes that own the lab's listeners.
var windowsPIDs = map[int]int{135: 888, 445: 4, 3389: 1012, 5985: 4, 5986: 4, 49664: 520}

// netstat answers `netstat -ano` (TCP listeners, IPv4 and on 2008+ IPv6,
// one established WinRM connection, the host's TIME_WAIT sockets, the
// load's sockets, and UDP), `netstat -ano -p tcp` (the IPv4 TCP rows) and
// `netstat -ano -p tcpv6` (the IPv6 ones); -q (2016 and later) is taken
// and shows no BOUND sockets, the lab's hosts having none.
func (e *windows) netstat(h *Host, args []string) Output {
	if strings.ToLower(strings.Join(args, " ")) == "-s -p tcp" {
		return e.netstatStats(h)
	}
	flags, fam, proto, err := netstatFlags(args)
	if err != nil || fam != "" || !flags['a'] || !flags['n'] || !flags['o'] || flags['s'] ||
		(flags['q'] && e.rel.release != "10.0") || (proto != "" && proto != "tcp" && proto != "tcpv6") {
		return Output{Stderr: fmt.Sprintf("lab: netstat subset: only \"netstat -ano [-p tcp|tcpv6]\" and \"netstat -s -p tcp\" are emulated, not %q\r\n", strings.Join(args, " ")), Code: 1}
	}
	if proto == "tcpv6" && e.rel.legacy {
		// 2003's netstat knows no tcpv6: it prints its usage.
		return Output{Stdout: "\r\nDisplays protocol statistics and current TCP/IP network connections.\r\n\r\n", Code: 1}
	}
	v4, v6, udp := proto != "tcpv6", proto != "tcp" && !e.rel.legacy, proto == ""
	var b strings.Builder
	row := func(proto, local, foreign, state string, pid int) {
		fmt.Fprintf(&b, "  %-7s%-22s %-22s %-16s%d\r\n", proto, local, foreign, state, pid)
	}
	b.WriteString("\r\nActive Connections\r\n\r\n")
	b.WriteString("  Proto  Local Address          Foreign Address        State           PID\r\n")
	ports := append([]int(nil), h.Listening...)
	sort.Ints(ports)
	pid := func(p int) int {
		if n, ok := windowsPIDs[p]; ok {
			return n
		}
		return 1000 + p%7000
	}
	if v4 {
		for _, p := range ports {
			row("TCP", fmt.Sprintf("0.0.0.0:%d", p), "0.0.0.0:0", "LISTENING", pid(p))
		}
		low := 1025
		if r, ok := e.dynActive["ipv4 tcp"]; ok {
			low = r.start
		}
		row("TCP", "10.0.0.15:5985", fmt.Sprintf("10.0.0.1:%d", 50123), "ESTABLISHED", 4)
		for i := 0; i < h.TimeWaitSockets; i++ {
			row("TCP", fmt.Sprintf("10.0.0.15:%d", low+100+i), "10.0.0.20:443", "TIME_WAIT", 0)
		}
		e.loadRows(h, func(state, local, remote string) {
			p := windowsAppPID
			if state == "TIME_WAIT" {
				p = 0
			}
			row("TCP", local, remote, state, p)
		})
	}
	if v6 {
		for _, p := range ports {
			row("TCP", fmt.Sprintf("[::]:%d", p), "[::]:0", "LISTENING", pid(p))
		}
	}
	if udp {
		fmt.Fprintf(&b, "  %-7s%-23s%-39s%d\r\n", "UDP", "0.0.0.0:123", "*:*", 1104)
		fmt.Fprintf(&b, "  %-7s%-23s%-39s%d\r\n", "UDP", "0.0.0.0:500", "*:*", 1460)
	}
	return Output{Stdout: b.String()}
}

// windowsAppPID owns the load's connections (an application pool).
const windowsAppPID = 4120

// windowsExcluded are the excluded port ranges of a 2019 host: WSD's
// 5357 and a block an administrator excluded for an application.
var windowsExcluded = []windowsExclusion{{5357, 5357, false}, {50000, 50059, true}}

type windowsExclusion struct {
	start, end int
	admin      bool
}

func (e *windows) excludedPorts() func(int) bool { return e.excludedPort }

// ExcludePorts adds an administered exclusion, as netsh int ipv4 add
// excludedportrange protocol=tcp does (or Hyper-V's and WinNAT's
// reservations, which take whole blocks of the dynamic range).
func (e *windows) ExcludePorts(start, end int) {
	e.excluded = append(e.excluded, windowsExclusion{start, end, true})
}

// exclusions are the host's excluded TCP port ranges.
func (e *windows) exclusions() []windowsExclusion {
	var x []windowsExclusion
	if e.rel.release == "10.0" {
		x = append(x, windowsExcluded...)
	}
	return append(x, e.excluded...)
}

// excludedPort reports whether netsh's excluded ranges hold port p.
func (e *windows) excludedPort(p int) bool {
	for _, x := range e.exclusions() {
		if p >= x.start && p <= x.end {
			return true
		}
	}
	return false
}

// loadRows yields the load's IPv4 rows as netstat -ano prints addresses.
func (e *windows) loadRows(h *Host, yield func(state, local, remote string)) {
	if h.Load.Profile == "" {
		return
	}
	lo, hi := e.ephemeralRange()
	t := tableSpec{low: lo, high: hi, timeWait: e.TimeWait(), listening: h.Listening}
	t.skip = e.excludedPort
	var cache addrCache
	colon := func(ap netip.AddrPort) string {
		return cache.str(ap.Addr()) + ":" + strconv.Itoa(int(ap.Port()))
	}
	h.Load.rows(t, func(r sockRow) { yield(bsdStates[r.state], colon(r.local), colon(r.remote)) })
}

// excludedPortRange answers `netsh int ipv4|ipv6 show excludedportrange
// protocol=tcp|udp` in the layout Microsoft's documentation shows.
func (e *windows) excludedPortRange(proto string) Output {
	var b strings.Builder
	fmt.Fprintf(&b, "\r\nProtocol %s Port Exclusion Ranges\r\n\r\n", proto)
	b.WriteString("Start Port    End Port\r\n")
	b.WriteString("----------    --------\r\n")
	admin := false
	if proto == "tcp" {
		for _, x := range e.exclusions() {
			fmt.Fprintf(&b, "%10d  %10d", x.start, x.end)
			if x.admin {
				b.WriteString("     *")
				admin = true
			}
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n")
	if admin {
		b.WriteString("* - Administered port exclusions.\r\n\r\n")
	}
	return Output{Stdout: b.String()}
}

// The Tcpip events an exhausted host has logged.
const (
	tcpip4231 = "A request to allocate an ephemeral port number from the global TCP port space has failed due to all such ports being in use."
	tcpip4227 = "TCP/IP failed to establish an outgoing connection because the selected local endpoint was recently used to connect to the same remote endpoint. This error typically occurs when outgoing connections are opened and closed at a high rate, causing all available local ports to be used and forcing TCP/IP to reuse a local port for an outgoing connection. To minimize the risk of data corruption, the TCP/IP standard requires a minimum time period to elapse between successive connections from a given local endpoint to a given remote endpoint."
)

// wevtutil answers the queries of the System log for Tcpip events 4227
// and 4231 (`qe System /q:"*[System[Provider[@Name='Tcpip'] and (...)
// [and TimeCreated[@SystemTime>='UTC']]]]" /c:N /rd:true /f:text`):
// newest first, as many as /c: allows, in the text layout of wevtutil
// (platform/testdata/windows/README.md), the Date in local time. The log
// holds what the handshake fault logged; an exhausted host has also logged
// a 4231 every 3 minutes and a 4227 every 20 seconds in the hour up to six
// hours after its boot time.
func (e *windows) wevtutil(h *Host, args []string) Output {
	if len(args) < 2 || !strings.EqualFold(args[0], "qe") || !strings.EqualFold(args[1], "System") {
		return Output{Stderr: "lab: wevtutil subset: only \"wevtutil qe System /q:... /c:N /rd:true /f:text\" is emulated\r\n", Code: 1}
	}
	count, text, newest := 0, false, false
	query := ""
	for _, a := range args[2:] {
		k, v, _ := strings.Cut(a, ":")
		switch strings.ToLower(k) {
		case "/q":
			query = v
		case "/c":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Output{Stderr: "The parameter is incorrect.\r\n", Code: 87}
			}
			count = n
		case "/rd":
			newest = strings.EqualFold(v, "true")
		case "/f":
			text = strings.EqualFold(v, "text")
		default:
			return Output{Stderr: fmt.Sprintf("lab: wevtutil subset: option %q is not emulated\r\n", a), Code: 1}
		}
	}
	want := map[int]bool{}
	for _, id := range []int{4227, 4231} {
		if strings.Contains(query, "Provider[@Name='Tcpip']") && strings.Contains(query, fmt.Sprintf("EventID=%d", id)) {
			want[id] = true
		}
	}
	if !text || !newest || count == 0 || len(want) == 0 {
		return Output{Stderr: "lab: wevtutil subset: give /q: for Tcpip events 4227 or 4231, /c:N, /rd:true and /f:text\r\n", Code: 1}
	}
	var since time.Time
	if m := wevtutilSince.FindStringSubmatch(query); m != nil {
		t, err := time.Parse("2006-01-02T15:04:05.000Z", m[1])
		if err != nil {
			// Windows rejects a malformed query before reading the log.
			return Output{Stderr: "The specified query is invalid.\r\n", Code: 15001}
		}
		since = t
	} else if strings.Contains(query, "TimeCreated") {
		return Output{Stderr: "lab: wevtutil subset: TimeCreated only as [@SystemTime>='yyyy-mm-ddThh:mm:ss.000Z']\r\n", Code: 1}
	}
	e.logFailures(h)
	// The log, newest first: what was logged, then the load's.
	var log []windowsEvent
	for i := len(e.events) - 1; i >= 0; i-- {
		log = append(log, e.events[i])
	}
	if h.Load.Profile == ProfileExhausted {
		last := h.BootTime.Add(6 * time.Hour)
		for k := 0; k < 180; k++ { // 20-second steps over the hour, newest first
			at := last.Add(-time.Duration(k) * 20 * time.Second)
			if k%9 == 0 {
				log = append(log, windowsEvent{at, 4231})
			}
			log = append(log, windowsEvent{at, 4227})
		}
	}
	var b strings.Builder
	n := 0
	for _, ev := range log {
		if n >= count || !want[ev.id] || ev.at.Before(since) {
			continue
		}
		desc, level := tcpip4227, "Warning"
		if ev.id == 4231 {
			desc, level = tcpip4231, "Error"
		}
		local := ev.at.UTC().Add(time.Duration(e.utcOffset) * time.Minute)
		fmt.Fprintf(&b, "Event[%d]:\r\n  Log Name: System\r\n  Source: Tcpip\r\n  Date: %s\r\n  Event ID: %d\r\n  Task: N/A\r\n  Level: %s\r\n  Opcode: Info\r\n  Keyword: Classic\r\n  User: N/A\r\n  User Name: N/A\r\n  Computer: %s\r\n  Description: \r\n%s\r\n\r\n",
			n, local.Format("2006-01-02T15:04:05.000"), ev.id, level, strings.ToUpper(h.Uname.Nodename), desc)
		n++
	}
	return Output{Stdout: b.String()}
}

// wevtutilSince is the lab's reading of a query's lower bound on the time
// created.
var wevtutilSince = regexp.MustCompile(`TimeCreated\[@SystemTime>='([^']*)'\]`)

// windowsTCPStats are the labels of netstat -s's TCP section, in order
// (the MIB-II TCP group as GetTcpStatistics returns it).
var windowsTCPStats = []string{"Active Opens", "Passive Opens", "Failed Connection Attempts", "Reset Connections",
	"Current Connections", "Segments Received", "Segments Sent", "Segments Retransmitted"}

// windowsUptimeTCP are a lab host's counters when it is created, and
// windowsTCPTraffic how much they rise at every read (no failures).
var (
	windowsUptimeTCP  = map[string]int64{"Active Opens": 48211, "Passive Opens": 13377, "Failed Connection Attempts": 212, "Reset Connections": 96, "Current Connections": 11, "Segments Received": 2920112, "Segments Sent": 2841631, "Segments Retransmitted": 1422}
	windowsTCPTraffic = map[string]int64{"Active Opens": 2, "Passive Opens": 1, "Segments Received": 41, "Segments Sent": 38}
)

// windowsHandshakeFailures is how much Failed Connection Attempts and Reset
// Connections rise at every read while the handshake fault shows
// (Faults.HandshakeFailures on and TIME_WAIT below its baseline).
const windowsHandshakeFailures = 120

// netstatStats answers `netstat -s -p tcp`: a blank line, the section
// title, a blank line, "  LABEL = N" with the label padded to 36, a blank
// line; then, as -p tcp also selects the connection list, the TCP rows of
// netstat's table (without PIDs: there is no -o).
func (e *windows) netstatStats(h *Host) Output {
	if e.tcp == nil {
		e.tcp = maps.Clone(windowsUptimeTCP)
	}
	for k, d := range windowsTCPTraffic {
		e.tcp[k] += d
	}
	if h.Faults.HandshakeFailures && e.TimeWait() < h.BaselineTimeWait && !e.eventOnly {
		e.tcp["Failed Connection Attempts"] += windowsHandshakeFailures
		e.tcp["Reset Connections"] += windowsHandshakeFailures
	}
	e.logFailures(h)
	var b strings.Builder
	b.WriteString("\r\nTCP Statistics for IPv4\r\n\r\n")
	for _, k := range windowsTCPStats {
		fmt.Fprintf(&b, "  %-36s= %d\r\n", k, e.tcp[k])
	}
	b.WriteString("\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State\r\n")
	fmt.Fprintf(&b, "  %-7s%-23s%-23s%s\r\n", "TCP", "10.0.0.15:5985", "10.0.0.1:50123", "ESTABLISHED")
	return Output{Stdout: b.String()}
}

// netsh answers `netsh int ipv4|ipv6 show|set dynamicport tcp|udp`.
func (e *windows) netsh(user string, args []string) Output {
	notFound := Output{Stdout: "The following command was not found: " + strings.Join(args, " ") + ".\r\n", Code: 1}
	low := make([]string, len(args))
	for i, a := range args {
		low[i] = strings.ToLower(a)
	}
	if len(low) < 5 || (low[0] != "int" && low[0] != "interface") || e.rel.legacy {
		return notFound
	}
	fam, verb, ctx, proto := low[1], low[2], low[3], strings.TrimPrefix(low[4], "protocol=")
	if (fam == "ipv4" || fam == "ipv6") && verb == "show" && ctx == "excludedportrange" && (proto == "tcp" || proto == "udp") && len(low) == 5 {
		return e.excludedPortRange(proto)
	}
	if (fam != "ipv4" && fam != "ipv6") || (verb != "show" && verb != "set") ||
		(ctx != "dynamicport" && ctx != "dynamicportrange") || (proto != "tcp" && proto != "udp") {
		return notFound
	}
	key := fam + " " + proto
	invalid := Output{Stdout: "The syntax supplied for this command is not valid. Check help for the correct syntax.\r\n\r\n", Code: 1}
	if verb == "show" {
		store := "active"
		for _, a := range low[5:] {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k != "store" || (v != "active" && v != "persistent") {
				return invalid
			}
			store = v
		}
		r := e.dynActive[key]
		if store == "persistent" {
			r = e.dynPersistent[key]
		}
		return Output{Stdout: fmt.Sprintf("\r\nProtocol %s Dynamic Port Range\r\n---------------------------------\r\nStart Port      : %d\r\nNumber of Ports : %d\r\n\r\n", proto, r.start, r.num)}
	}
	start, num, store := -1, -1, "persistent"
	for _, a := range low[5:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return invalid
		}
		switch k {
		case "start", "startport":
			n, err := strconv.Atoi(v)
			if err != nil {
				return invalid
			}
			start = n
		case "num", "numberofports":
			n, err := strconv.Atoi(v)
			if err != nil {
				return invalid
			}
			num = n
		case "store":
			if v != "active" && v != "persistent" {
				return invalid
			}
			store = v
		default:
			return invalid
		}
	}
	if start < 0 || num < 0 {
		return invalid
	}
	if !windowsIsAdmin(user) {
		return Output{Stdout: "The requested operation requires elevation (Run as administrator).\r\n\r\n", Code: 1}
	}
	if start < 1025 || num < 255 || start+num-1 > 65535 {
		return Output{Stdout: "The parameter is incorrect.\r\n\r\n", Code: 1}
	}
	r := windowsRange{start, num}
	e.dynActive[key] = r
	if store == "persistent" {
		e.dynPersistent[key] = r
	}
	return Output{Stdout: "Ok.\r\n\r\n"}
}

const (
	regNotFound = "ERROR: The system was unable to find the specified registry key or value.\r\n"
	regDenied   = "ERROR: Access is denied.\r\n"
	regOK       = "The operation completed successfully.\r\n\r\n"
)

func regSyntax(op string) Output {
	return Output{Stderr: fmt.Sprintf("ERROR: Invalid syntax.\r\nType \"REG %s /?\" for usage.\r\n", strings.ToUpper(op)), Code: 1}
}

// regPath canonicalises a key name: HKLM\X or HKEY_LOCAL_MACHINE\X.
func regPath(k string) (string, bool) {
	root, rest, _ := strings.Cut(strings.TrimRight(k, `\`), `\`)
	switch strings.ToUpper(root) {
	case "HKLM", "HKEY_LOCAL_MACHINE":
	default:
		return "", false
	}
	if rest == "" {
		return "HKEY_LOCAL_MACHINE", true
	}
	return `HKEY_LOCAL_MACHINE\` + rest, true
}

// regCmd answers reg query, reg add and reg delete under HKLM.
func (e *windows) regCmd(user string, args []string) Output {
	if len(args) < 2 {
		return Output{Stderr: "ERROR: Invalid syntax.\r\nType \"REG /?\" for usage.\r\n", Code: 1}
	}
	op := strings.ToLower(args[0])
	if op != "query" && op != "add" && op != "delete" {
		return Output{Stderr: fmt.Sprintf("lab: reg subset: only query, add and delete are emulated, not %q\r\n", args[0]), Code: 1}
	}
	path, ok := regPath(args[1])
	if !ok {
		if strings.HasPrefix(strings.ToUpper(args[1]), "HK") {
			return Output{Stderr: fmt.Sprintf("lab: reg subset: only HKLM is emulated, not %q\r\n", args[1]), Code: 1}
		}
		return Output{Stderr: fmt.Sprintf("ERROR: Invalid key name.\r\nType \"REG %s /?\" for usage.\r\n", strings.ToUpper(op)), Code: 1}
	}
	var name, typ, data string
	var hasV, hasT, hasD, force bool
	for i := 2; i < len(args); i++ {
		opt := strings.ToLower(args[i])
		takes := func(dst *string, has *bool) bool {
			if i+1 >= len(args) || *has {
				return false
			}
			i++
			*dst, *has = args[i], true
			return true
		}
		switch {
		case opt == "/v":
			if !takes(&name, &hasV) {
				return regSyntax(op)
			}
		case opt == "/t" && op == "add":
			if !takes(&typ, &hasT) {
				return regSyntax(op)
			}
		case opt == "/d" && op == "add":
			if !takes(&data, &hasD) {
				return regSyntax(op)
			}
		case opt == "/f" && op != "query":
			force = true
		default:
			return regSyntax(op)
		}
	}
	key := e.reg[strings.ToUpper(path)]
	switch op {
	case "query":
		return e.regQuery(path, key, name, hasV)
	case "add":
		if !windowsIsAdmin(user) {
			return Output{Stderr: regDenied, Code: 1}
		}
		if !hasV {
			return Output{Stderr: "lab: reg subset: reg add needs /v NAME\r\n", Code: 1}
		}
		v := &regValue{name: name, typ: "REG_SZ", sz: data}
		if hasT {
			v.typ = strings.ToUpper(typ)
		}
		switch v.typ {
		case "REG_SZ":
		case "REG_DWORD":
			n, err := parseRegDwordArg(data)
			if err != nil || !hasD {
				return regSyntax(op)
			}
			v.dword, v.sz = n, ""
		default:
			return Output{Stderr: fmt.Sprintf("lab: reg subset: type %s is not emulated (REG_SZ, REG_DWORD)\r\n", typ), Code: 1}
		}
		if key != nil {
			if old, i := key.value(name); old != nil {
				if !force {
					return Output{Stdout: fmt.Sprintf("Value %s exists, overwrite(Yes/No)? \r\n", name), Code: 1}
				}
				v.name = old.name
				key.vals[i] = v
				return Output{Stdout: regOK}
			}
		} else {
			key = e.createKey(path)
		}
		key.vals = append(key.vals, v)
		return Output{Stdout: regOK}
	default: // delete
		if !windowsIsAdmin(user) {
			return Output{Stderr: regDenied, Code: 1}
		}
		if !hasV {
			return Output{Stderr: "lab: reg subset: reg delete needs /v NAME (deleting keys is not emulated)\r\n", Code: 1}
		}
		if key == nil {
			return Output{Stderr: regNotFound, Code: 1}
		}
		old, i := key.value(name)
		if old == nil {
			return Output{Stderr: regNotFound, Code: 1}
		}
		if !force {
			return Output{Stdout: fmt.Sprintf("Delete the registry value %s (Yes/No)? \r\n", old.name), Code: 1}
		}
		key.vals = append(key.vals[:i], key.vals[i+1:]...)
		return Output{Stdout: regOK}
	}
}

// createKey creates a key and any missing parents, as RegCreateKeyEx does.
func (e *windows) createKey(path string) *regKey {
	parts := strings.Split(path, `\`)
	var k *regKey
	for i := 2; i <= len(parts); i++ {
		p := strings.Join(parts[:i], `\`)
		if k = e.reg[strings.ToUpper(p)]; k == nil {
			k = &regKey{path: p}
			e.reg[strings.ToUpper(p)] = k
		}
	}
	return k
}

func parseRegDwordArg(s string) (uint32, error) {
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = h, 16
	}
	n, err := strconv.ParseUint(s, base, 32)
	return uint32(n), err
}

// regQuery prints a key's values (and its subkeys' names), or one value.
// reg.exe 3.0 (Server 2003) starts with a banner and separates the fields
// with tabs; later reg.exe uses four spaces.
func (e *windows) regQuery(path string, key *regKey, name string, one bool) Output {
	if key == nil {
		return Output{Stderr: regNotFound, Code: 1}
	}
	vals := key.vals
	if one {
		v, _ := key.value(name)
		if v == nil {
			return Output{Stderr: regNotFound, Code: 1}
		}
		vals = []*regValue{v}
	}
	var b strings.Builder
	b.WriteString("\r\n")
	if e.rel.legacy {
		b.WriteString("! REG.EXE VERSION 3.0\r\n\r\n")
	}
	b.WriteString(key.path + "\r\n")
	for _, v := range vals {
		data := v.sz
		if v.typ == "REG_DWORD" {
			data = fmt.Sprintf("0x%x", v.dword)
		}
		if e.rel.legacy {
			fmt.Fprintf(&b, "    %s\t%s\t%s\r\n", v.name, v.typ, data)
		} else {
			fmt.Fprintf(&b, "    %s    %s    %s\r\n", v.name, v.typ, data)
		}
	}
	b.WriteString("\r\n")
	if !one {
		var subs []string
		prefix := strings.ToUpper(key.path) + `\`
		for p, k := range e.reg {
			if strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], `\`) {
				subs = append(subs, k.path)
			}
		}
		sort.Strings(subs)
		for _, s := range subs {
			b.WriteString(s + "\r\n")
		}
	}
	return Output{Stdout: b.String()}
}

// ephemeralRange is the IPv4 TCP dynamic range in force: netsh's active
// store, or on 2003 1025 to MaxUserPort (5000 when absent).
func (e *windows) ephemeralRange() (int, int) {
	if e.rel.legacy {
		hi := 5000
		if v, ok := e.inForce["MaxUserPort"]; ok {
			hi = int(v)
		}
		return 1025, hi
	}
	r := e.dynActive["ipv4 tcp"]
	return r.start, r.start + r.num - 1
}

// pipeLines yields the lines of what a pipe carried, without their line
// ends ("\r\n" or "\n"); a last line without one counts.
func pipeLines(in string, yield func(line string)) {
	for len(in) > 0 {
		i := strings.IndexByte(in, '\n')
		if i < 0 {
			yield(in)
			return
		}
		yield(strings.TrimSuffix(in[:i], "\r"))
		in = in[i+1:]
	}
}

// findstr emulates findstr reading a pipe with literal search strings:
// /C:"STRING" (any number), /I (ignore case), /V (the lines that match
// none), /L (literal: the default for /C:). It prints each chosen line
// with CRLF and exits 0 when it printed any, 1 when none. The real
// findstr can miss a match when it is given several case-sensitive
// literal strings of different lengths (a known bug, documented in "What
// are the undocumented features and limitations of the Windows FINDSTR
// command?"); the lab refuses that form instead of guessing which lines
// the bug would drop.
func findstr(args []string, stdin string) Output {
	var pats []string
	fold, invert := false, false
	for _, a := range args {
		switch {
		case strings.EqualFold(a, "/I"):
			fold = true
		case strings.EqualFold(a, "/V"):
			invert = true
		case strings.EqualFold(a, "/L"):
		case len(a) > 3 && strings.EqualFold(a[:3], "/C:"):
			pats = append(pats, a[3:])
		default:
			return Output{Stderr: fmt.Sprintf("lab: findstr subset: only /I /V /L and /C:\"STRING\" on a pipe, not %q\r\n", a), Code: 2}
		}
	}
	if len(pats) == 0 {
		return Output{Stderr: "FINDSTR: Bad command line\r\n", Code: 2}
	}
	if !fold {
		for _, p := range pats[1:] {
			if len(p) != len(pats[0]) {
				return Output{Stderr: "lab: findstr subset: case-sensitive /C: strings of different lengths hit findstr's multiple-literal bug; use /I\r\n", Code: 2}
			}
		}
	}
	if fold {
		for i := range pats {
			pats[i] = strings.ToUpper(pats[i])
		}
	}
	var b strings.Builder
	pipeLines(stdin, func(line string) {
		l := line
		if fold {
			l = strings.ToUpper(line)
		}
		match := false
		for _, p := range pats {
			if strings.Contains(l, p) {
				match = true
				break
			}
		}
		if match != invert {
			b.WriteString(line)
			b.WriteString("\r\n")
		}
	})
	if b.Len() == 0 {
		return Output{Code: 1}
	}
	return Output{Stdout: b.String()}
}

// findCount emulates find /C "STRING" reading a pipe: it prints the number
// of lines holding STRING (/I: in any case; /V: not holding it), alone on
// its line, as find does when it reads no file, and exits 1 when that is
// 0. The string must be in double quotes, as find demands ("FIND:
// Parameter format not correct" otherwise); rest is the raw text that
// shows them.
func findCount(args []string, rest, stdin string) Output {
	count, fold, invert := false, false, false
	var pat []string
	for _, a := range args {
		switch {
		case strings.EqualFold(a, "/C"):
			count = true
		case strings.EqualFold(a, "/I"):
			fold = true
		case strings.EqualFold(a, "/V"):
			invert = true
		case strings.HasPrefix(a, "/"):
			return Output{Stderr: fmt.Sprintf("lab: find subset: only /C /I /V \"STRING\" on a pipe, not %q\r\n", a), Code: 2}
		default:
			pat = append(pat, a)
		}
	}
	if len(pat) != 1 || strings.Count(rest, `"`) != 2 {
		return Output{Stderr: "FIND: Parameter format not correct\r\n", Code: 2}
	}
	if !count {
		return Output{Stderr: "lab: find subset: only find /C (the count)\r\n", Code: 2}
	}
	p := pat[0]
	if fold {
		p = strings.ToUpper(p)
	}
	n := 0
	pipeLines(stdin, func(line string) {
		if fold {
			line = strings.ToUpper(line)
		}
		if strings.Contains(line, p) != invert {
			n++
		}
	})
	o := Output{Stdout: strconv.Itoa(n) + "\r\n"}
	if n == 0 {
		o.Code = 1
	}
	return o
}
