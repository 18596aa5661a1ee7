package lab

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Solaris 10 (SunOS 5.10) and 11 (5.11): TCP tunables through ndd on both
// (live only; on 10 an rc script in /etc/rc2.d re-applies them at boot) and
// ipadm on 11 (live and persistent; -t live only).
//
// Output formats follow the real tools: ndd's messages are those of
// usr/src/cmd/cmd-inet/usr.sbin/ndd.c (printed on stdout, exit 1; EPERM is
// "Not owner" in Solaris' strerror); ipadm's table has the column widths of
// ipadm.c's modprop_fields and its errors are die("set-prop: %s: %s");
// netstat -an -P tcp has the widths of a captured illumos/Solaris table;
// netstat -s -P tcp prints as netstat.c's stat_report and print_tcp_stats.

// solarisParam is one TCP tunable: its ndd name (the key), its ipadm name,
// default and range.
type solarisParam struct {
	ndd, ipadm string
	def        int
	min, max   int
}

var solarisParams = []solarisParam{
	{"tcp_smallest_anon_port", "smallest_anon_port", 32768, 1024, 65535},
	{"tcp_largest_anon_port", "largest_anon_port", 65535, 1024, 65535},
	{"tcp_time_wait_interval", "_time_wait_interval", 60000, 1000, 600000},
	{"tcp_keepalive_interval", "_keepalive_interval", 7200000, 10000, 864000000},
}

// The ipadm names 11.4 prints in the PROPERTY column: public properties
// hyphenated, private ones (leading underscore) as they are.
func solarisShownName(ipadm string) string {
	if strings.HasPrefix(ipadm, "_") {
		return ipadm
	}
	return strings.ReplaceAll(ipadm, "_", "-")
}

func solarisParamByNdd(name string) (solarisParam, bool) {
	for _, p := range solarisParams {
		if p.ndd == name {
			return p, true
		}
	}
	return solarisParam{}, false
}

// solarisParamByIpadm accepts underscores or hyphens, as ipadm does.
func solarisParamByIpadm(name string) (solarisParam, bool) {
	n := strings.ReplaceAll(name, "-", "_")
	for _, p := range solarisParams {
		if p.ipadm == n {
			return p, true
		}
	}
	return solarisParam{}, false
}

type solarisEmu struct {
	release string
	ipadm   bool
	// live values, by ndd name.
	live map[string]int
	// persistent holds what ipadm set-prop persisted (Solaris 11), by
	// ndd name; Solaris 10 persists only through files.
	persistent map[string]int
	// tcp holds the TCP MIB counters netstat -s -P tcp prints, by MIB
	// name: since boot, zeroed at a reboot.
	tcp map[string]int64
	// smf is the service repository and svc.startd's state (smf.go).
	smf *smfRepo
	// atNetwork are the live values, by ndd name, when
	// svc:/milestone/network came online at the last boot: what network
	// services started with.
	atNetwork map[string]int
	// meta are files' modes and owners (chmod, chown); depth counts
	// scripts running scripts.
	meta  map[string]solarisFileMeta
	depth int
}

// solarisRCDir is where /sbin/rc2 finds the scripts it runs at boot (from
// milestone/multi-user), and solarisRC3Dir where /sbin/rc3 finds those it
// runs after them (milestone/multi-user-server).
const (
	solarisRCDir  = "/etc/rc2.d/"
	solarisRC3Dir = "/etc/rc3.d/"
)

func newSolaris(h *Host, release string) error {
	e := &solarisEmu{release: release, live: map[string]int{}, persistent: map[string]int{}, tcp: solarisUptimeCounters(),
		smf: newSMFRepo(), meta: map[string]solarisFileMeta{}}
	switch release {
	case "5.10":
		h.Uname = Uname{Sysname: "SunOS", Release: "5.10", Version: "Generic_150400-59", Machine: "sun4v"}
		h.Files["/etc/release"] = "                    Oracle Solaris 10 1/13 s10s_u11wos_24a SPARC\n" +
			"  Copyright (c) 1983, 2013, Oracle and/or its affiliates. All rights reserved.\n" +
			"                            Assembled 17 January 2013\n"
		// sshd, sendmail, rpcbind, smc, nfsd, lockd
		h.Listening = []int{22, 25, 111, 587, 898, 2049, 4045}
		// Installed legacy rc scripts (synthetic stand-ins: names as on
		// Solaris 10, no TCP tunable set).
		h.Files["/etc/rc2.d/S20sysetup"] = "#!/sbin/sh\n# lab: stands for an installed rc script that sets no TCP tunable\n"
		h.Files["/etc/rc3.d/S16boot.server"] = "#!/sbin/sh\n# lab: stands for an installed rc script that sets no TCP tunable\n"
	case "5.11":
		e.ipadm = true
		h.Uname = Uname{Sysname: "SunOS", Release: "5.11", Version: "11.4.42.111.0", Machine: "i86pc"}
		h.Files["/etc/release"] = "                             Oracle Solaris 11.4 X86\n" +
			"  Copyright (c) 1983, 2021, Oracle and/or its affiliates.\n" +
			"                            Assembled 04 August 2021\n"
		h.Listening = []int{22, 111, 2049, 4045}
	default:
		return fmt.Errorf("lab: no Solaris emulation for release %q (want 5.10 or 5.11)", release)
	}
	h.TimeWaitSockets = 2
	h.Emu = e
	return nil
}

// Boot rebuilds the live values: the defaults, on 11 the ipadm persistent
// values; then SMF starts the enabled services in dependency order (their
// start methods run, smf.go), and from svc:/milestone/multi-user, last,
// /sbin/rc2 applies every ndd -set line of the rc2 scripts in name order.
// A reboot (not the first boot, which finds the counters of a host that has
// been up a while) zeroes the TCP counters.
func (e *solarisEmu) Boot(h *Host) {
	if h.Boots > 1 {
		e.tcp = solarisBootCounters()
	}
	for _, p := range solarisParams {
		e.live[p.ndd] = p.def
	}
	if e.ipadm {
		for k, v := range e.persistent {
			e.live[k] = v
		}
	}
	e.smfBoot(h, func() { e.rc2(h) })
}

// rc2 is what /sbin/rc2 does with the /etc/rc2.d/S* scripts, for the ndd
// lines the lab models.
func (e *solarisEmu) rc2(h *Host) {
	var scripts []string
	for name := range h.Files {
		dir := path.Dir(name) + "/"
		if (dir == solarisRCDir || dir == solarisRC3Dir) && strings.HasPrefix(path.Base(name), "S") {
			scripts = append(scripts, name)
		}
	}
	sort.Strings(scripts) // rc2.d before rc3.d, each by name
	for _, s := range scripts {
		for _, line := range strings.Split(h.Files[s], "\n") {
			f := strings.Fields(line)
			if len(f) != 5 || path.Base(f[0]) != "ndd" || f[1] != "-set" || f[2] != "/dev/tcp" {
				continue
			}
			if p, ok := solarisParamByNdd(f[3]); ok {
				if v, err := strconv.Atoi(f[4]); err == nil && v >= p.min && v <= p.max {
					e.live[p.ndd] = v
				}
			}
		}
	}
}

func (e *solarisEmu) TimeWait() time.Duration {
	return time.Duration(e.live["tcp_time_wait_interval"]) * time.Millisecond
}

// Command answers one command, then lets the TCP counters move on as a busy
// host's do: every command run stands for a little traffic.
func (e *solarisEmu) Command(c *Call) (Output, bool) {
	out, handled := e.command(c)
	for name, n := range solarisBackgroundTraffic {
		e.tcp[name] += n
	}
	return out, handled
}

func (e *solarisEmu) command(c *Call) (Output, bool) {
	if len(c.Argv) == 0 {
		return Output{}, false
	}
	switch path.Base(c.Argv[0]) {
	case "ndd":
		return e.ndd(c), true
	case "ipadm":
		if !e.ipadm {
			return Output{}, false // not installed on 10: the shell says "not found"
		}
		return e.ipadmCmd(c), true
	case "kstat":
		return e.kstat(c), true
	case "who":
		if len(c.Argv) == 2 && c.Argv[1] == "-b" {
			return Output{Stdout: "   .       system boot  " + c.Host.BootTime.UTC().Format("Jan _2 15:04") + "\n"}, true
		}
		return Output{Stderr: "who: illegal option\n", Code: 2}, true
	case "netstat":
		return e.netstat(c), true
	case "svcs":
		return e.svcs(c), true
	case "svcadm":
		return e.svcadm(c), true
	case "svccfg":
		return e.svccfg(c), true
	case "chmod":
		return e.chmod(c), true
	case "chown":
		return e.chown(c), true
	case "mv", "rm":
		e.beforeMoveOrRemove(c)
		return Output{}, false
	}
	if strings.HasPrefix(c.Argv[0], "/") {
		return e.runScript(c)
	}
	return Output{}, false
}

const nddUsage = "usage: ndd -set device_name name value\n       ndd [-get] device_name name [name ...]\n"

func (e *solarisEmu) ndd(c *Call) Output {
	args := c.Argv[1:]
	set := false
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-set":
			set = true
		case "-get":
		default:
			return Output{Stderr: nddUsage, Code: 1}
		}
		args = args[1:]
	}
	if len(args) < 2 || (set && len(args) != 3) {
		return Output{Stderr: nddUsage, Code: 1}
	}
	if args[0] != "/dev/tcp" {
		return Output{Stderr: "open of " + args[0] + " failed: No such file or directory\n", Code: 1}
	}
	const nonexistent = "name is non-existent for this module\nfor a list of valid names, use name '?'\n"
	if set {
		p, ok := solarisParamByNdd(args[1])
		if !ok {
			return Output{Stdout: nonexistent, Code: 1}
		}
		if !c.Root() {
			return Output{Stdout: "operation failed: Not owner\n", Code: 1}
		}
		v, err := strconv.Atoi(args[2])
		if err != nil || v < p.min || v > p.max {
			return Output{Stdout: "operation failed: Invalid argument\n", Code: 1}
		}
		e.live[p.ndd] = v
		return Output{}
	}
	var out strings.Builder
	for i, name := range args[1:] {
		if i > 0 {
			out.WriteString("\n")
		}
		p, ok := solarisParamByNdd(name)
		if !ok {
			out.WriteString(nonexistent)
			return Output{Stdout: out.String(), Code: 1}
		}
		fmt.Fprintf(&out, "%d\n", e.live[p.ndd])
	}
	return Output{Stdout: out.String()}
}

const ipadmUsage = "usage:  ipadm <subcommand> <args> ...\n" +
	"\tset-prop\t[-t] -p <prop>[+|-]=<value[,...]> <protocol>\n" +
	"\treset-prop\t[-t] -p <prop> <protocol>\n" +
	"\tshow-prop\t[[-c] -o <field>,...] [-p <prop>,...] [protocol]\n"

func (e *solarisEmu) ipadmCmd(c *Call) Output {
	if len(c.Argv) < 2 {
		return Output{Stderr: ipadmUsage, Code: 1}
	}
	sub := c.Argv[1]
	temporary, prop, proto := false, "", ""
	args := c.Argv[2:]
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-t" && sub != "show-prop":
			temporary = true
		case args[i] == "-p" && i+1 < len(args):
			prop = args[i+1]
			i++
		case strings.HasPrefix(args[i], "-"):
			return Output{Stderr: fmt.Sprintf("ipadm: unrecognized option '%s'\n", args[i]) + ipadmUsage, Code: 1}
		case proto == "":
			proto = args[i]
		default:
			return Output{Stderr: ipadmUsage, Code: 1}
		}
	}
	if proto != "" && proto != "tcp" && proto != "udp" && proto != "ip" && proto != "ipv4" && proto != "ipv6" && proto != "sctp" && proto != "icmp" {
		return Output{Stderr: fmt.Sprintf("ipadm: invalid protocol '%s' specified\n", proto), Code: 1}
	}
	switch sub {
	case "show-prop":
		return e.showProp(prop, proto)
	case "set-prop", "reset-prop":
		if prop == "" || proto == "" {
			return Output{Stderr: ipadmUsage, Code: 1}
		}
		return e.setProp(c, sub, prop, proto, temporary)
	}
	return Output{Stderr: fmt.Sprintf("ipadm: unknown subcommand '%s'\n", sub) + ipadmUsage, Code: 1}
}

// possible is ipadm's POSSIBLE column: the anon-port bounds limit each other.
func (e *solarisEmu) possible(p solarisParam) (lo, hi int) {
	switch p.ndd {
	case "tcp_smallest_anon_port":
		return p.min, e.live["tcp_largest_anon_port"]
	case "tcp_largest_anon_port":
		return e.live["tcp_smallest_anon_port"], p.max
	}
	return p.min, p.max
}

func (e *solarisEmu) showProp(props, proto string) Output {
	var list []solarisParam
	for _, name := range strings.Split(props, ",") {
		p, ok := solarisParamByIpadm(name)
		if !ok || (proto != "" && proto != "tcp") {
			return Output{Stderr: fmt.Sprintf("ipadm: cannot get property %s for %s: Unknown property\n", name, proto), Code: 1}
		}
		list = append(list, p)
	}
	var b strings.Builder
	b.WriteString(solarisIpadmRow("PROTO", "PROPERTY", "PERM", "CURRENT", "PERSISTENT", "DEFAULT", "POSSIBLE"))
	for _, p := range list {
		persist := "--"
		if v, ok := e.persistent[p.ndd]; ok {
			persist = strconv.Itoa(v)
		}
		lo, hi := e.possible(p)
		b.WriteString(solarisIpadmRow("tcp", solarisShownName(p.ipadm), "rw", strconv.Itoa(e.live[p.ndd]), persist,
			strconv.Itoa(p.def), fmt.Sprintf("%d-%d", lo, hi)))
	}
	return Output{Stdout: b.String()}
}

// solarisIpadmRow lays out one line as ofmt does for ipadm's modprop
// fields: each column padded to its width (PROTO 6, PROPERTY 22, PERM 5,
// CURRENT 13, PERSISTENT 13, DEFAULT 13); a cell as wide as its column or
// wider is followed by one space and the overflow is taken from the next
// columns' padding. The last column is not padded.
func solarisIpadmRow(cells ...string) string {
	widths := []int{6, 22, 5, 13, 13, 13}
	var b strings.Builder
	overflow := 0
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		w := widths[i]
		if len(c)+overflow >= w {
			overflow += len(c) - w + 1
			b.WriteString(c + " ")
			continue
		}
		pad := w - len(c) - overflow
		overflow = 0
		b.WriteString(c + strings.Repeat(" ", pad))
	}
	b.WriteString("\n")
	return b.String()
}

func (e *solarisEmu) setProp(c *Call, sub, prop, proto string, temporary bool) Output {
	name, value, hasValue := strings.Cut(prop, "=")
	fail := func(msg string) Output {
		return Output{Stderr: fmt.Sprintf("ipadm: %s: %s: %s\n", sub, name, msg), Code: 1}
	}
	p, ok := solarisParamByIpadm(name)
	if !ok || proto != "tcp" {
		return fail("Unknown property")
	}
	if !c.Root() {
		return fail("Permission denied")
	}
	if sub == "reset-prop" {
		if hasValue {
			return fail("Invalid argument provided")
		}
		value = strconv.Itoa(p.def)
	} else if !hasValue {
		return fail("Invalid argument provided")
	}
	v, err := strconv.Atoi(value)
	lo, hi := e.possible(p)
	if err != nil || v < lo || v > hi {
		return fail("Invalid argument provided")
	}
	e.live[p.ndd] = v
	switch {
	case temporary:
	case sub == "reset-prop":
		delete(e.persistent, p.ndd)
	default:
		e.persistent[p.ndd] = v
	}
	return Output{}
}

func (e *solarisEmu) kstat(c *Call) Output {
	if len(c.Argv) == 3 && c.Argv[1] == "-p" && c.Argv[2] == "unix:0:system_misc:boot_time" {
		return Output{Stdout: fmt.Sprintf("unix:0:system_misc:boot_time\t%d\n", c.Host.BootTime.Unix())}
	}
	return Output{Stderr: "Usage:\nkstat [ -Cjlpq ] [ -T d|u ] [ -c class ]\n      [ -m module ] [ -i instance ] [ -n name ] [ -s statistic ]\n      [ interval [ count ] ]\nkstat [ -Cjlpq ] [ -T d|u ] [ -c class ]\n      [ module:instance:name:statistic ... ]\n      [ interval [ count ] ]\n", Code: 2}
}

// solarisLocalIP is the lab host's address in netstat's connection rows.
const solarisLocalIP = "192.168.56.10"

func (e *solarisEmu) netstat(c *Call) Output {
	flags, fam, proto, err := netstatFlags(c.Argv[1:])
	switch {
	case err == nil && proto == "tcp" && fam == "" && flags['s'] && len(flags) == 1:
		return e.netstatStats(c.Host)
	case err == nil && proto == "tcp" && (fam == "" || fam == "inet" || fam == "inet6") && flags['a'] && flags['n'] && len(flags) == 2:
	default:
		return Output{Stderr: "netstat: only `netstat -an [-f inet|inet6] -P tcp` and `netstat -s -P tcp` are emulated\n", Code: 1}
	}
	rwind := 49152
	if e.ipadm {
		rwind = 128000
	}
	h := c.Host
	var b strings.Builder
	if fam != "inet6" {
		e.netstatV4(&b, h, rwind)
	}
	if fam != "inet" {
		e.netstatV6(&b, h, rwind)
	}
	return Output{Stdout: b.String()}
}

// netstatV4 is the TCP: IPv4 section of netstat -an -P tcp.
func (e *solarisEmu) netstatV4(b *strings.Builder, h *Host, rwind int) {
	b.WriteString("\nTCP: IPv4\n")
	b.WriteString("   Local Address        Remote Address    Swind Send-Q Rwind Recv-Q    State\n")
	b.WriteString("-------------------- -------------------- ----- ------ ----- ------ -----------\n")
	v4 := func(local, remote string, swind, rwind int, state string) {
		fmt.Fprintf(b, "%-20s %-20s %5d %6d %5d %6d %s\n", local, remote, swind, 0, rwind, 0, state)
	}
	v4("      *.*", "      *.*", 0, rwind, "IDLE")
	for _, p := range h.Listening {
		v4(fmt.Sprintf("      *.%d", p), "      *.*", 0, rwind, "LISTEN")
	}
	v4(solarisLocalIP+".22", "192.168.56.1.51514", 64128, 128872, "ESTABLISHED")
	for i := 0; i < h.TimeWaitSockets; i++ {
		v4(fmt.Sprintf("%s.%d", solarisLocalIP, e.live["tcp_smallest_anon_port"]+i), "192.168.56.20.8080", 64436, 128872, "TIME_WAIT")
	}
	dottedRows(h, func(state string, local, remote []byte) {
		// v4's layout, without fmt: a table may have 60,000 rows.
		writePadded(b, local, 20)
		b.WriteByte(' ')
		writePadded(b, remote, 20)
		if state == "TIME_WAIT" {
			b.WriteString(" 64436      0 128872      0 ")
		} else {
			b.WriteString(" 64128      0 128872      0 ")
		}
		b.WriteString(state)
		b.WriteByte('\n')
	})
}

// netstatV6 is the TCP: IPv6 section.
func (e *solarisEmu) netstatV6(b *strings.Builder, h *Host, rwind int) {
	b.WriteString("\nTCP: IPv6\n")
	b.WriteString("   Local Address                     Remote Address                 Swind Send-Q Rwind Recv-Q   State      If\n")
	b.WriteString("--------------------------------- --------------------------------- ----- ------ ----- ------ ----------- -----\n")
	for _, p := range h.Listening {
		if p == 22 || p == 111 {
			fmt.Fprintf(b, "%-33s %-33s %5d %6d %5d %6d %-11s %s\n", fmt.Sprintf("      *.%d", p), "      *.*", 0, 0, rwind, 0, "LISTEN", "")
		}
	}
}

// solarisTCPMIB is what netstat.c's print_tcp_stats prints, in its order;
// "" marks its prval_end() after tcpInSegs. The first four are settings
// (pr_int_val), not counters.
var solarisTCPMIB = []string{
	"tcpRtoAlgorithm", "tcpRtoMin", "tcpRtoMax", "tcpMaxConn",
	"tcpActiveOpens", "tcpPassiveOpens", "tcpAttemptFails", "tcpEstabResets",
	"tcpCurrEstab", "tcpOutSegs", "tcpOutDataSegs", "tcpOutDataBytes",
	"tcpRetransSegs", "tcpRetransBytes", "tcpOutAck", "tcpOutAckDelayed",
	"tcpOutUrg", "tcpOutWinUpdate", "tcpOutWinProbe", "tcpOutControl",
	"tcpOutRsts", "tcpOutFastRetrans", "tcpInSegs", "",
	"tcpInAckSegs", "tcpInAckBytes", "tcpInDupAck", "tcpInAckUnsent",
	"tcpInInorderSegs", "tcpInInorderBytes", "tcpInUnorderSegs", "tcpInUnorderBytes",
	"tcpInDupSegs", "tcpInDupBytes", "tcpInPartDupSegs", "tcpInPartDupBytes",
	"tcpInPastWinSegs", "tcpInPastWinBytes", "tcpInWinProbe", "tcpInWinUpdate",
	"tcpInClosed", "tcpRttNoUpdate", "tcpRttUpdate", "tcpTimRetrans",
	"tcpTimRetransDrop", "tcpTimKeepalive", "tcpTimKeepaliveProbe", "tcpTimKeepaliveDrop",
	"tcpListenDrop", "tcpListenDropQ0", "tcpHalfOpenDrop", "tcpOutSackRetrans",
}

// solarisBootCounters are the counters right after boot: zero, but for the
// settings (RTO algorithm 4 = Van Jacobson, tcp_rexmit_interval_min and
// _max in ms, no connection limit).
func solarisBootCounters() map[string]int64 {
	c := map[string]int64{}
	for _, n := range solarisTCPMIB {
		if n != "" {
			c[n] = 0
		}
	}
	c["tcpRtoAlgorithm"], c["tcpRtoMin"], c["tcpRtoMax"], c["tcpMaxConn"] = 4, 400, 60000, -1
	return c
}

// solarisUptimeCounters are a lab host's counters when it is created: a
// server that has been up for some days, a few failures among them.
func solarisUptimeCounters() map[string]int64 {
	c := solarisBootCounters()
	for n, v := range map[string]int64{
		"tcpActiveOpens": 48211, "tcpPassiveOpens": 13377, "tcpAttemptFails": 212, "tcpEstabResets": 96,
		"tcpCurrEstab": 14, "tcpOutSegs": 9164728, "tcpOutDataSegs": 6342981, "tcpOutDataBytes": 2147119083,
		"tcpRetransSegs": 3127, "tcpRetransBytes": 2210554, "tcpOutAck": 2611038, "tcpOutAckDelayed": 1298734,
		"tcpOutWinUpdate": 411, "tcpOutWinProbe": 3, "tcpOutControl": 126954,
		"tcpOutRsts": 1862, "tcpOutFastRetrans": 248, "tcpInSegs": 10278515,
		"tcpInAckSegs": 6188402, "tcpInAckBytes": 2147046310, "tcpInDupAck": 18467,
		"tcpInInorderSegs": 7920144, "tcpInInorderBytes": 1530771925, "tcpInUnorderSegs": 1029, "tcpInUnorderBytes": 1280377,
		"tcpInDupSegs": 1611, "tcpInDupBytes": 54018, "tcpInPartDupSegs": 2, "tcpInPartDupBytes": 1448,
		"tcpInWinProbe": 5, "tcpInWinUpdate": 388,
		"tcpInClosed": 731, "tcpRttNoUpdate": 21458, "tcpRttUpdate": 6101877, "tcpTimRetrans": 4382,
		"tcpTimRetransDrop": 17, "tcpTimKeepalive": 2954, "tcpTimKeepaliveProbe": 402, "tcpTimKeepaliveDrop": 6,
		"tcpOutSackRetrans": 517,
	} {
		c[n] = v
	}
	return c
}

// solarisBackgroundTraffic is how much the counters rise with every command
// run: a couple of connections opened and served, their segments and bytes.
// No failure counter moves: a healthy host's failures stay far below the
// driver's thresholds within a watch window.
var solarisBackgroundTraffic = map[string]int64{
	"tcpActiveOpens": 2, "tcpPassiveOpens": 1, "tcpOutSegs": 38, "tcpOutDataSegs": 21,
	"tcpOutDataBytes": 2876, "tcpOutAck": 9, "tcpOutAckDelayed": 4, "tcpOutControl": 6,
	"tcpInSegs": 41, "tcpInAckSegs": 20, "tcpInAckBytes": 2876, "tcpInInorderSegs": 17,
	"tcpInInorderBytes": 1934, "tcpRttUpdate": 19,
}

// solarisHandshakeFailures is how much tcpAttemptFails and tcpEstabResets
// rise at every netstat -s read while the handshake-failure fault shows
// (Faults.HandshakeFailures on and TIME_WAIT below its baseline): well
// above the driver's threshold of 50 per watch window. Every failed
// handshake or reset connection also sent a reset: tcpOutRsts rises by
// twice as much.
const solarisHandshakeFailures = 120

// netstatStats answers `netstat -s -P tcp` as netstat.c does: stat_report
// prints "\nTCP", print_tcp_stats prints each value as "\t%-20s=%6u" and
// ends a line after every second one (prval; prval_end ends an unfinished
// line), and stat_report ends with one more newline.
func (e *solarisEmu) netstatStats(h *Host) Output {
	if h.Faults.HandshakeFailures && e.TimeWait() < h.BaselineTimeWait {
		e.tcp["tcpAttemptFails"] += solarisHandshakeFailures
		e.tcp["tcpEstabResets"] += solarisHandshakeFailures
		e.tcp["tcpOutRsts"] += 2 * solarisHandshakeFailures
	}
	var b strings.Builder
	b.WriteString("\nTCP")
	odd := 0
	end := func() {
		if odd&1 == 1 {
			b.WriteByte('\n')
		}
		odd++
	}
	for _, n := range solarisTCPMIB {
		if n != "" {
			fmt.Fprintf(&b, "\t%-20s=%6d", n, e.tcp[n])
		}
		end()
	}
	end()
	b.WriteByte('\n')
	return Output{Stdout: b.String()}
}

func (e *solarisEmu) ephemeralRange() (int, int) {
	return e.live["tcp_smallest_anon_port"], e.live["tcp_largest_anon_port"]
}
