package lab

// The Linux emulator: a Debian host's kernel as fleettune sees it through
// sh. The live sysctls are the emulator's (the kernel's); /etc/sysctl.d and
// friends are Host.Files and are applied at every boot the way procps'
// `sysctl --system` (and systemd-sysctl) do: per file name the first of
// /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d,
// /lib/sysctl.d wins, files apply in name order, /etc/sysctl.conf last.
//
// Reads the kernel computes are answered on read (ProcFiles): /proc/sys,
// the boot id (new at every boot), /proc/net/tcp and tcp6, sockstat,
// netstat and snmp, all from the host's listeners and Load; `ss -tan`
// (with -H, -o) prints the same table as iproute2 6.1 does into a pipe.
// A host made with NoSS lacks ss, as minimal images do: "not found", 127.
//
// This is an independent oracle of platform/linux.go: it shares no parser
// with it. The formats follow the kernel's seq_printf formats
// (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c, net/ipv4/proc.c) and
// iproute2's misc/ss.c; the distribution files in testdata/linux/debian12
// are copies of a Debian 12 host's, and the /proc/net/netstat and snmp
// counter names are a capture of kernel 6.18 (see lab/README.md).

import (
	_ "embed"
	"fmt"
	"hash/fnv"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	//go:embed testdata/linux/debian12/sysctl.conf
	debianSysctlConf string
	//go:embed testdata/linux/debian12/README.sysctl
	debianSysctlReadme string
	//go:embed testdata/linux/debian12/50-pid-max.conf
	debianPidMax string
	//go:embed testdata/linux/debian12/99-protect-links.conf
	debianProtectLinks string
	//go:embed testdata/linux/netstat-names-6.18.txt
	linuxNetstatNames string
	//go:embed testdata/linux/snmp-names-6.18.txt
	linuxSNMPNames string
)

// linuxRelease is one emulated Debian release and its kernel.
type linuxRelease struct {
	short, release, version string
	maxTwBuckets            int
}

// linuxReleases are the releases the lab emulates, by the short name a
// Spec gives ("6.1") or the full uname -r.
var linuxReleases = []linuxRelease{
	{"6.1", "6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", 262144},
	{"5.10", "5.10.0-28-amd64", "#1 SMP Debian 5.10.209-2 (2024-01-31)", 262144},
	{"4.19", "4.19.0-26-amd64", "#1 SMP Debian 4.19.304-1 (2024-01-09)", 131072},
}

// linuxDefaults are the kernel's values for the sysctls the lab knows, as
// /proc/sys prints them (without the newline).
func linuxDefaults(rel linuxRelease) map[string]string {
	return map[string]string{
		"net.ipv4.ip_local_port_range":        "32768\t60999",
		"net.ipv4.ip_local_reserved_ports":    "",
		"net.ipv4.ip_unprivileged_port_start": "1024",
		"net.ipv4.tcp_keepalive_time":         "7200",
		"net.ipv4.tcp_keepalive_intvl":        "75",
		"net.ipv4.tcp_keepalive_probes":       "9",
		"net.ipv4.tcp_fin_timeout":            "60",
		"net.ipv4.tcp_tw_reuse":               "2",
		"net.ipv4.tcp_timestamps":             "1",
		"net.ipv4.tcp_max_tw_buckets":         strconv.Itoa(rel.maxTwBuckets),
		"kernel.pid_max":                      "4194304",
		"fs.protected_fifos":                  "0",
		"fs.protected_hardlinks":              "0",
		"fs.protected_regular":                "0",
		"fs.protected_symlinks":               "0",
	}
}

// linuxSysctlDirs in procps' order.
var linuxSysctlDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

type linuxEmu struct {
	rel  linuxRelease
	live map[string]string
	// noSS: the host has no ss binary.
	noSS bool
	// reads counts reads of /proc/net/netstat, for counters that rise.
	reads int
}

// NoSS makes a Linux host lack ss (a minimal image): audits must fall back
// to /proc/net/tcp. It reports whether h is an emulated Linux host.
func NoSS(h *Host) bool {
	e, ok := h.Emu.(*linuxEmu)
	if ok {
		h.Lock()
		e.noSS = true
		h.Unlock()
	}
	return ok
}

func newLinux(h *Host, release string) error {
	var rel *linuxRelease
	for i := range linuxReleases {
		if r := &linuxReleases[i]; r.short == release || r.release == release {
			rel = r
		}
	}
	if rel == nil {
		var names []string
		for _, r := range linuxReleases {
			names = append(names, r.short)
		}
		return fmt.Errorf("lab: Linux release %q is not emulated (want %s)", release, strings.Join(names, ", "))
	}
	h.OS = "linux"
	h.Uname = Uname{Sysname: "Linux", Release: rel.release, Version: rel.version, Machine: "x86_64"}
	h.Listening = []int{22}
	h.TimeWaitSockets = 0
	// Debian 12's files: /etc/sysctl.d/99-sysctl.conf is a symlink to
	// ../sysctl.conf, and /lib is /usr/lib (merged /usr).
	h.Files["/etc/sysctl.conf"] = debianSysctlConf
	h.Files["/etc/sysctl.d/99-sysctl.conf"] = debianSysctlConf
	h.Files["/etc/sysctl.d/README.sysctl"] = debianSysctlReadme
	for _, d := range []string{"/usr/lib/sysctl.d", "/lib/sysctl.d"} {
		h.Files[d+"/50-pid-max.conf"] = debianPidMax
		h.Files[d+"/99-protect-links.conf"] = debianProtectLinks
	}
	h.Emu = &linuxEmu{rel: *rel}
	return nil
}

func (e *linuxEmu) TimeWait() time.Duration { return 60 * time.Second } // TCP_TIMEWAIT_LEN

// Boot sets the kernel's defaults, then what sysctl --system applies.
func (e *linuxEmu) Boot(h *Host) {
	e.live = linuxDefaults(e.rel)
	e.reads = 0
	for _, f := range linuxBootFiles(h) {
		for _, line := range strings.Split(h.Files[f], "\n") {
			k, v, ok := sysctlAssignment(line)
			if !ok {
				continue
			}
			if _, known := e.live[k]; known {
				if norm, err := e.check(k, v); err == "" {
					e.live[k] = norm
				}
			}
		}
	}
}

// linuxBootFiles are the files sysctl --system applies, in order.
func linuxBootFiles(h *Host) []string {
	chosen := map[string]string{} // base name -> path
	for _, d := range linuxSysctlDirs {
		for p := range h.Files {
			if path.Dir(p) == d && strings.HasSuffix(p, ".conf") {
				if _, taken := chosen[path.Base(p)]; !taken {
					chosen[path.Base(p)] = p
				}
			}
		}
		// Later directories only fill in names not seen yet: go through
		// the directories in order, so the first one wins.
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	files := make([]string, 0, len(names)+1)
	for _, n := range names {
		files = append(files, chosen[n])
	}
	if _, ok := h.Files["/etc/sysctl.conf"]; ok {
		files = append(files, "/etc/sysctl.conf")
	}
	return files
}

// sysctlAssignment reads one line of a sysctl.d file (sysctl.d(5)).
func sysctlAssignment(line string) (key, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == ';' {
		return "", "", false
	}
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		return "", "", false
	}
	key = strings.TrimSpace(line[:eq])
	key = strings.TrimPrefix(key, "-")
	if slash, dot := strings.IndexByte(key, '/'), strings.IndexByte(key, '.'); slash >= 0 && (dot < 0 || slash < dot) {
		var b strings.Builder
		for i := 0; i < len(key); i++ {
			switch key[i] {
			case '/':
				b.WriteByte('.')
			case '.':
				b.WriteByte('/')
			default:
				b.WriteByte(key[i])
			}
		}
		key = b.String()
	}
	return key, strings.TrimSpace(line[eq+1:]), key != ""
}

// check validates a value for a knob as the kernel's handlers do and
// returns it as /proc/sys would print it; errText is "Invalid argument"
// when the kernel refuses it.
func (e *linuxEmu) check(knob, value string) (norm, errText string) {
	f := strings.Fields(value)
	ints := func(n int) ([]int, bool) {
		if len(f) != n {
			return nil, false
		}
		out := make([]int, n)
		for i, s := range f {
			v, err := strconv.Atoi(s)
			if err != nil {
				return nil, false
			}
			out[i] = v
		}
		return out, true
	}
	switch knob {
	case "net.ipv4.ip_local_port_range":
		v, ok := ints(2)
		unpriv, _ := strconv.Atoi(e.live["net.ipv4.ip_unprivileged_port_start"])
		if !ok || v[0] > v[1] || v[0] < 1 || v[1] > 65535 || v[0] < unpriv {
			return "", "Invalid argument"
		}
		return fmt.Sprintf("%d\t%d", v[0], v[1]), ""
	case "net.ipv4.ip_local_reserved_ports":
		ports, ok := parsePortSet(value)
		if !ok {
			return "", "Invalid argument"
		}
		return formatPortSet(ports), ""
	}
	v, ok := ints(1)
	if !ok {
		return "", "Invalid argument"
	}
	lim := map[string][2]int{
		"net.ipv4.tcp_tw_reuse": {0, 2}, "net.ipv4.tcp_timestamps": {0, 2},
		"net.ipv4.tcp_keepalive_time": {1, 32767}, "net.ipv4.tcp_keepalive_intvl": {1, 32767},
		"net.ipv4.tcp_keepalive_probes": {1, 127}, "net.ipv4.ip_unprivileged_port_start": {0, 65535},
	}
	if l, ok := lim[knob]; ok && (v[0] < l[0] || v[0] > l[1]) {
		return "", "Invalid argument"
	}
	return strconv.Itoa(v[0]), ""
}

// parsePortSet reads "1,2-4" as the kernel's proc_do_large_bitmap does.
func parsePortSet(s string) (map[int]bool, bool) {
	set := map[int]bool{}
	s = strings.TrimSpace(s)
	if s == "" {
		return set, true
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a > 65535 {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b > 65535 {
				return nil, false
			}
		}
		for p := a; p <= b; p++ {
			set[p] = true
		}
	}
	return set, true
}

// formatPortSet prints a port set as /proc/sys does: runs as LOW-HIGH,
// joined by commas, ascending.
func formatPortSet(set map[int]bool) string {
	ports := make([]int, 0, len(set))
	for p := range set {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	var parts []string
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(ports[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ports[i], ports[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func procPath(knob string) string { return "/proc/sys/" + strings.ReplaceAll(knob, ".", "/") }

func knobOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(path.Clean(p), "/proc/sys/")
	if !ok {
		return "", false
	}
	return strings.ReplaceAll(rest, "/", "."), true
}

// ReadProc answers reads of the files the kernel computes.
func (e *linuxEmu) ReadProc(h *Host, p string) (string, bool) {
	p = path.Clean(p)
	if k, ok := knobOf(p); ok {
		if k == "kernel.random.boot_id" {
			return linuxBootID(h) + "\n", true
		}
		switch k {
		case "kernel.osrelease":
			return h.Uname.Release + "\n", true
		case "kernel.ostype":
			return h.Uname.Sysname + "\n", true
		case "kernel.version":
			return h.Uname.Version + "\n", true
		}
		v, ok := e.live[k]
		if !ok {
			return "", false
		}
		return v + "\n", true
	}
	switch p {
	case "/proc/net/tcp":
		return e.procNetTCP(h, false), true
	case "/proc/net/tcp6":
		return e.procNetTCP(h, true), true
	case "/proc/net/sockstat":
		return e.sockstat(h), true
	case "/proc/net/netstat":
		e.reads++
		return e.netstat(h), true
	case "/proc/net/snmp":
		return e.snmp(h), true
	}
	return "", false
}

// ByteWiseRead reports the files that sh's read, which dash and busybox
// do one byte per read(2), sees as their first byte alone: the integer
// sysctls, whose handler (proc_dointvec and kin) answers a read at a
// non-zero offset with end of file. String sysctls (osrelease, ostype,
// version, boot_id) and regular files read whole.
func (e *linuxEmu) ByteWiseRead(p string) bool {
	k, ok := knobOf(p)
	if !ok {
		return false
	}
	_, isInt := e.live[k]
	return isInt
}

// Which answers command -v for the commands the emulator runs itself.
func (e *linuxEmu) Which(name string) (string, bool) {
	switch name {
	case "ss":
		return "/usr/bin/ss", !e.noSS
	case "sysctl":
		return "/usr/sbin/sysctl", true
	case "cat", "mv", "rm", "mkdir", "rmdir", "uname", "hostname", "id", "sync", "sleep", "awk":
		return "/usr/bin/" + name, true
	}
	return "", false
}

// WriteProc takes echo VALUE > /proc/sys/KNOB.
func (e *linuxEmu) WriteProc(h *Host, user, p, content string) (string, bool) {
	k, ok := knobOf(p)
	if !ok {
		return "", false
	}
	if _, known := e.live[k]; !known {
		return fmt.Sprintf("%s: No such file or directory", p), true
	}
	if user != "root" {
		return fmt.Sprintf("%s: Permission denied", p), true
	}
	norm, errText := e.check(k, content)
	if errText != "" {
		return "write error: " + errText, true
	}
	e.live[k] = norm
	return "", true
}

// linuxBootID is the host's boot id: a version-4 UUID that changes at
// every boot and is the same for the same host and boot.
func linuxBootID(h *Host) string {
	f := fnv.New128a()
	fmt.Fprintf(f, "%s/%d/%d", h.Name, h.Boots, h.BootTime.Unix())
	b := f.Sum(nil)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Command answers sysctl and ss.
func (e *linuxEmu) Command(c *Call) (Output, bool) {
	switch c.Argv[0] {
	case "sysctl", "/sbin/sysctl", "/usr/sbin/sysctl":
		return e.sysctl(c), true
	case "ss", "/usr/bin/ss", "/bin/ss":
		if e.noSS {
			return Output{}, false // the shell's "not found", 127
		}
		return e.ss(c.Host, c.Argv[1:]), true
	}
	return Output{}, false
}

// sysctl is procps-ng's sysctl for -w, -n, -a-less reads and --system.
func (e *linuxEmu) sysctl(c *Call) Output {
	args := c.Argv[1:]
	write, quiet, system := false, false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-w":
			write = true
		case "-n":
			quiet = true
		case "-q":
		case "--system":
			system = true
		default:
			return Output{Stderr: fmt.Sprintf("lab: sysctl: option %s is not emulated (use -w, -n or --system)\n", args[0]), Code: 1}
		}
		args = args[1:]
	}
	var out Output
	if system {
		if !c.Root() {
			return Output{Stderr: "sysctl: permission denied on key \"kernel.pid_max\"\n", Code: 1}
		}
		for _, f := range linuxBootFiles(c.Host) {
			out.Stdout += "* Applying " + f + " ...\n"
			for _, line := range strings.Split(c.Host.Files[f], "\n") {
				k, v, ok := sysctlAssignment(line)
				if !ok {
					continue
				}
				if _, known := e.live[k]; !known {
					continue
				}
				if norm, errText := e.check(k, v); errText == "" {
					e.live[k] = norm
					out.Stdout += k + " = " + v + "\n"
				}
			}
		}
		return out
	}
	if len(args) == 0 {
		return Output{Stderr: "lab: sysctl: name a key (sysctl -a is not emulated)\n", Code: 1}
	}
	for _, a := range args {
		k, v, isSet := strings.Cut(a, "=")
		if isSet != write && write {
			out.Stderr += fmt.Sprintf("sysctl: \"%s\" must be of the form name=value\n", a)
			out.Code = 255
			continue
		}
		k = strings.ReplaceAll(k, "/", ".")
		cur, known := e.live[k]
		if !known {
			out.Stderr += fmt.Sprintf("sysctl: cannot stat %s: No such file or directory\n", procPath(k))
			out.Code = 255
			continue
		}
		if !isSet {
			if quiet {
				out.Stdout += cur + "\n"
			} else {
				out.Stdout += k + " = " + cur + "\n"
			}
			continue
		}
		if !c.Root() {
			out.Stderr += fmt.Sprintf("sysctl: permission denied on key \"%s\"\n", k)
			out.Code = 255
			continue
		}
		norm, errText := e.check(k, v)
		if errText != "" {
			out.Stderr += fmt.Sprintf("sysctl: setting key \"%s\": %s\n", k, errText)
			out.Code = 255
			continue
		}
		e.live[k] = norm
		if !quiet {
			out.Stdout += k + " = " + v + "\n"
		}
	}
	return out
}

// table is the host's TCP table spec from its live configuration.
func (e *linuxEmu) table(h *Host) tableSpec {
	f := strings.Fields(e.live["net.ipv4.ip_local_port_range"])
	t := tableSpec{timeWait: e.TimeWait()}
	if h != nil {
		t.listening = h.Listening
	}
	if len(f) == 2 {
		t.low, _ = strconv.Atoi(f[0])
		t.high, _ = strconv.Atoi(f[1])
	}
	if res, ok := parsePortSet(e.live["net.ipv4.ip_local_reserved_ports"]); ok && len(res) > 0 {
		t.skip = func(p int) bool { return res[p] }
	}
	return t
}

// eachSocket gives every TCP socket of the host: IPv4 listeners, the
// admin's SSH session, the load's rows, then the IPv6 listeners (sshd
// listens on both), in the order the kernel's tables list them.
func (e *linuxEmu) eachSocket(h *Host, yield func(sockRow, bool)) {
	ports := append([]int(nil), h.Listening...)
	sort.Ints(ports)
	any4, any6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	for _, p := range ports {
		yield(sockRow{state: stListen, local: netip.AddrPortFrom(any4, uint16(p)), remote: netip.AddrPortFrom(any4, 0)}, false)
	}
	l := h.Load
	local := l.Local
	if !local.IsValid() {
		local = hostAddr(0)
	}
	yield(sockRow{state: stEstablished, local: netip.AddrPortFrom(local, 22), remote: adminPeer}, false)
	l.rows(e.table(h), func(r sockRow) { yield(r, false) })
	for _, p := range ports {
		yield(sockRow{state: stListen, local: netip.AddrPortFrom(any6, uint16(p)), remote: netip.AddrPortFrom(any6, 0)}, true)
	}
}

var ssStateNames = map[tcpState]string{stListen: "LISTEN", stEstablished: "ESTAB", stCloseWait: "CLOSE-WAIT", stTimeWait: "TIME-WAIT"}

// ssFilterStates are the names ss's "state" filter takes (iproute2
// misc/ss.c sstate_namel).
var ssFilterStates = map[string]tcpState{"listening": stListen, "established": stEstablished, "time-wait": stTimeWait, "close-wait": stCloseWait}

// ssTimer is iproute2's print_ms_timer.
func ssTimer(d time.Duration) string { return string(appendSSTimer(nil, d)) }

func appendSSTimer(b []byte, d time.Duration) []byte {
	timeout := int(d / time.Millisecond)
	secs, msecs := timeout/1000, timeout%1000
	minutes := secs / 60
	secs %= 60
	if minutes > 0 {
		msecs = 0
		b = strconv.AppendInt(b, int64(minutes), 10)
		b = append(b, "min"...)
		if minutes > 9 {
			secs = 0
		}
	}
	if secs > 0 {
		if secs > 9 {
			msecs = 0
		}
		b = strconv.AppendInt(b, int64(secs), 10)
		if msecs > 0 {
			b = append(b, '.')
		} else {
			b = append(b, "sec"...)
		}
	}
	if msecs > 0 {
		if msecs < 100 {
			b = append(b, '0')
		}
		if msecs < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(msecs), 10)
		b = append(b, "ms"...)
	}
	return b
}

// ss answers `ss -tan` with -H and -o as iproute2 6.1 prints into a pipe
// (compact output: each column as wide as its widest cell, the address
// columns right-aligned, every cell padded, the last one too).
func (e *linuxEmu) ss(h *Host, args []string) Output {
	flags := map[byte]bool{}
	var only tcpState
	filtered := false // a "state NAME" filter: that state alone, and no State column
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "state" && i+1 < len(args) {
			st, ok := ssFilterStates[args[i+1]]
			if !ok {
				return Output{Stderr: fmt.Sprintf("lab: ss: state %q is not emulated (only listening, established, time-wait, close-wait)\n", args[i+1]), Code: 1}
			}
			only, filtered, i = st, true, i+1
			continue
		}
		if !strings.HasPrefix(a, "-") || strings.HasPrefix(a, "--") || len(a) < 2 {
			return Output{Stderr: fmt.Sprintf("lab: ss: argument %q is not emulated (only -H -t -a -n -o and state NAME)\n", a), Code: 1}
		}
		for i := 1; i < len(a); i++ {
			if !strings.ContainsRune("Htano", rune(a[i])) {
				return Output{Stderr: fmt.Sprintf("lab: ss: option -%c is not emulated (only -H -t -a -n -o)\n", a[i]), Code: 1}
			}
			flags[a[i]] = true
		}
	}
	if !flags['t'] || !flags['n'] {
		return Output{Stderr: "lab: ss: only TCP (-t) with numeric addresses (-n) is emulated\n", Code: 1}
	}
	var cache addrCache
	addr := func(ap netip.AddrPort, v6 bool) string {
		if v6 {
			return "[" + cache.str(ap.Addr()) + "]"
		}
		return cache.str(ap.Addr())
	}
	peerPort := func(r sockRow) int { // -1 is "*"
		if r.state == stListen {
			return -1
		}
		return int(r.remote.Port())
	}
	portLen := func(p int) int {
		if p < 0 {
			return 1
		}
		return digits(p)
	}
	sendQ := func(r sockRow) int {
		if r.state != stListen {
			return 0
		}
		if r.local.Port() == 22 {
			return 128
		}
		return 4096
	}
	var scratch []byte
	timerLen := func(r sockRow) int {
		if flags['o'] && r.state == stTimeWait {
			scratch = appendSSTimer(scratch[:0], r.timer)
			return len("timer:(timewait,") + len(scratch) + len(",0)")
		}
		return 0
	}
	show := func(r sockRow) bool {
		if filtered {
			return r.state == only
		}
		return flags['a'] || (r.state != stListen && r.state != stTimeWait)
	}
	// First pass: the widest cell of each column, and the row count.
	var w [7]int
	if !flags['H'] {
		w = [7]int{len("State"), len("Recv-Q"), len("Send-Q"), len("Local Address"), len("Port"), len("Peer Address"), len("Port")}
	}
	ext, rows := 0, 0
	e.eachSocket(h, func(r sockRow, v6 bool) {
		if !show(r) {
			return
		}
		rows++
		cells := [7]int{len(ssStateNames[r.state]), 6, max(6, digits(sendQ(r))), len(addr(r.local, v6)), digits(int(r.local.Port())), len(addr(r.remote, v6)), portLen(peerPort(r))}
		for i := range w {
			w[i] = max(w[i], cells[i])
		}
		ext = max(ext, timerLen(r))
	})
	lineLen := w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + 6 + 1
	if ext > 0 {
		lineLen += ext + 1
	}
	b := make([]byte, 0, (rows+1)*lineLen)
	left := func(s string, width int) {
		b = append(b, s...)
		b = appendPad(b, width-len(s))
	}
	right := func(s string, width int) {
		b = appendPad(b, width-len(s))
		b = append(b, s...)
	}
	num := func(n, width int) {
		l := len(b)
		b = strconv.AppendInt(b, int64(n), 10)
		b = appendPad(b, width-(len(b)-l))
	}
	line := func(r sockRow, v6 bool) {
		if !filtered {
			left(ssStateNames[r.state], w[0])
			b = append(b, ' ')
		}
		num(0, w[1])
		b = append(b, ' ')
		num(sendQ(r), w[2])
		b = append(b, ' ')
		right(addr(r.local, v6), w[3])
		b = append(b, ':')
		num(int(r.local.Port()), w[4])
		b = append(b, ' ')
		right(addr(r.remote, v6), w[5])
		b = append(b, ':')
		if p := peerPort(r); p < 0 {
			left("*", w[6])
		} else {
			num(p, w[6])
		}
		if ext > 0 {
			b = append(b, ' ')
			n := 0
			if flags['o'] && r.state == stTimeWait {
				l := len(b)
				b = append(b, "timer:(timewait,"...)
				b = appendSSTimer(b, r.timer)
				b = append(b, ",0)"...)
				n = len(b) - l
			}
			b = appendPad(b, ext-n)
		}
		b = append(b, '\n')
	}
	if !flags['H'] {
		for i, hd := range []string{"State", "Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port"} {
			if filtered && i < 2 {
				if i == 1 {
					left(hd, w[i])
				}
				continue
			}
			switch i {
			case 0:
			case 4, 6:
				b = append(b, ':')
			default:
				b = append(b, ' ')
			}
			if i == 3 || i == 5 {
				right(hd, w[i])
			} else {
				left(hd, w[i])
			}
		}
		if ext > 0 {
			b = append(b, ' ')
			b = appendPad(b, ext)
		}
		b = append(b, '\n')
	}
	e.eachSocket(h, func(r sockRow, v6 bool) {
		if show(r) {
			line(r, v6)
		}
	})
	return Output{Stdout: string(b)}
}

var procStates = map[tcpState]string{stListen: "0A", stEstablished: "01", stCloseWait: "08", stTimeWait: "06"}

// appendHex4 appends an IPv4 address as /proc/net/tcp prints it: the
// __be32 printed with %08X on a little-endian machine.
func appendHex4(b []byte, a netip.Addr) []byte {
	x := a.As4()
	return appendHex(b, uint64(x[3])<<24|uint64(x[2])<<16|uint64(x[1])<<8|uint64(x[0]), 8)
}

// appendHex6 appends an IPv6 address as /proc/net/tcp6 does: four
// __be32 words, each with %08X.
func appendHex6(b []byte, a netip.Addr) []byte {
	x := a.As16()
	for i := 0; i < 16; i += 4 {
		b = appendHex(b, uint64(x[i+3])<<24|uint64(x[i+2])<<16|uint64(x[i+1])<<8|uint64(x[i]), 8)
	}
	return b
}

// procNetTCP prints /proc/net/tcp (v6 false) or tcp6 with the kernel's
// tcp4_seq_show / tcp6_seq_show formats: IPv4 lines padded to 149
// characters (TMPSZ-1), IPv6 ones not.
func (e *linuxEmu) procNetTCP(h *Host, v6 bool) string {
	var b []byte
	if v6 {
		b = append(b, "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"...)
	} else {
		_, _, tw := e.sockCounts(h)
		b = make([]byte, 0, (tw+len(h.Listening)+64)*150)
		b = append(b, "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"...)
		b = appendPad(b, 149-len(b))
		b = append(b, '\n')
	}
	sl := 0
	e.eachSocket(h, func(r sockRow, is6 bool) {
		if is6 != v6 {
			return
		}
		start := len(b)
		if n := digits(sl); n < 4 {
			b = appendPad(b, 4-n)
		}
		b = strconv.AppendInt(b, int64(sl), 10)
		b = append(b, ": "...)
		if v6 {
			b = appendHex6(b, r.local.Addr())
		} else {
			b = appendHex4(b, r.local.Addr())
		}
		b = append(b, ':')
		b = appendHex(b, uint64(r.local.Port()), 4)
		b = append(b, ' ')
		if v6 {
			b = appendHex6(b, r.remote.Addr())
		} else {
			b = appendHex4(b, r.remote.Addr())
		}
		b = append(b, ':')
		b = appendHex(b, uint64(r.remote.Port()), 4)
		b = append(b, ' ')
		b = append(b, procStates[r.state]...)
		b = append(b, " 00000000:00000000 "...)
		ptr := uint64(0x8a000000) | uint64(sl&0xffff)<<8
		if r.state == stTimeWait {
			// tr 3 (the TIME_WAIT timer), when in clock_t (USER_HZ 100),
			// then retrnsmt, uid, timeout, inode, refcount 3, the pointer.
			b = append(b, "03:"...)
			b = appendHex(b, uint64(r.timer/(10*time.Millisecond)), 8)
			b = append(b, " 00000000     0        0 0 3 00000000"...)
			b = appendHex(b, ptr, 8)
		} else {
			uid, inode, tail := 0, 21000+sl, " 20 4 30 10 -1"
			if r.state == stListen {
				tail, inode = " 100 0 0 10 0", 18000+sl
			} else if r.local.Port() != 22 {
				uid = 1000
			}
			b = append(b, "00:00000000 00000000 "...)
			b = appendPad(b, 5-digits(uid))
			b = strconv.AppendInt(b, int64(uid), 10)
			b = append(b, "        0 "...)
			b = strconv.AppendInt(b, int64(inode), 10)
			b = append(b, " 1 00000000"...)
			b = appendHex(b, ptr, 8)
			b = append(b, tail...)
		}
		if !v6 {
			b = appendPad(b, 149-(len(b)-start))
		}
		b = append(b, '\n')
		sl++
	})
	return string(b)
}

// sockCounts are the host's sockets by kind, for sockstat and snmp:
// computed, not counted row by row.
func (e *linuxEmu) sockCounts(h *Host) (inuse, estab, tw int) {
	t := e.table(h)
	es, cw, tw := h.Load.sizes(t, listenSet(t.listening))
	listeners := 2 * len(h.Listening) // IPv4 and IPv6
	return listeners + 1 + es + cw, 1 + es, tw
}

func (e *linuxEmu) sockstat(h *Host) string {
	inuse, _, tw := e.sockCounts(h)
	return fmt.Sprintf("sockets: used %d\nTCP: inuse %d orphan 0 tw %d alloc %d mem %d\nUDP: inuse 1 mem 2\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n",
		inuse+40, inuse, tw, inuse+2, 1+inuse/8)
}

// counterLines prints name lines and value lines as /proc/net/netstat and
// snmp do, every counter 0 but those in vals.
func counterLines(names string, vals map[string]int64) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(names, "\n"), "\n") {
		prefix, rest, _ := strings.Cut(line, ":")
		b.WriteString(line + "\n")
		b.WriteString(prefix + ":")
		for _, n := range strings.Fields(rest) {
			fmt.Fprintf(&b, " %d", vals[prefix+"."+n])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// netstat is /proc/net/netstat. An exhausted host's TIME_WAIT table
// overflows: TCPTimeWaitOverflow rises at every read, as it would while
// connections keep failing.
func (e *linuxEmu) netstat(h *Host) string {
	_, _, tw := e.sockCounts(h)
	vals := map[string]int64{"TcpExt.TW": int64(tw) * 9}
	if h.Load.Profile == ProfileExhausted {
		vals["TcpExt.TCPTimeWaitOverflow"] = 48000 + 1200*int64(e.reads)
		vals["TcpExt.TWRecycled"] = 0
	}
	return counterLines(linuxNetstatNames, vals)
}

func (e *linuxEmu) snmp(h *Host) string {
	_, estab, _ := e.sockCounts(h)
	return counterLines(linuxSNMPNames, map[string]int64{
		"Ip.Forwarding": 2, "Ip.DefaultTTL": 64,
		"Tcp.RtoAlgorithm": 1, "Tcp.RtoMin": 200, "Tcp.RtoMax": 120000, "Tcp.MaxConn": -1, "Tcp.CurrEstab": int64(estab),
	})
}

// excludedPorts reports the ports ip_local_reserved_ports holds (nil:
// none).
func (e *linuxEmu) excludedPorts() func(int) bool { return e.table(nil).skip }

func (e *linuxEmu) ephemeralRange() (int, int) {
	t := e.table(nil)
	return t.low, t.high
}
