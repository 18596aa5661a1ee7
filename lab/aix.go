package lab

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AIX: the network tunables of no(1), persisted in the stanza file
// /etc/tunables/nextboot that tunrestore -R applies at boot.
//
// no -o NAME prints "NAME = VALUE"; no -o NAME=V sets the live value;
// with -p it also writes nextboot, with -r it writes only nextboot (the
// value applies at the next boot). no -d NAME resets to the default (with
// -p or -r the nextboot entry is removed). no -L prints the table of
// current, default, boot, min and max values and the type. Only root may
// change values; anyone may read them.

const aixNextboot = "/etc/tunables/nextboot"

type aixSpec struct {
	def, min, max int64
	unit, typ     string
	deps          []string
}

// aixSpecs are the tunables the lab's no knows, with their no -L facts.
var aixSpecs = map[string]aixSpec{
	"tcp_ephemeral_low":  {32768, 1024, 65535, "numeric", "D", []string{"tcp_ephemeral_high"}},
	"tcp_ephemeral_high": {65535, 1024, 65535, "numeric", "D", []string{"tcp_ephemeral_low"}},
	"udp_ephemeral_low":  {32768, 1024, 65535, "numeric", "D", []string{"udp_ephemeral_high"}},
	"udp_ephemeral_high": {65535, 1024, 65535, "numeric", "D", []string{"udp_ephemeral_low"}},
	"tcp_timewait":       {1, 1, 5, "15_seconds", "D", nil},
	"tcp_keepidle":       {14400, 1, 1<<31 - 1, "halfsecond", "D", nil},
	"tcp_keepintvl":      {150, 1, 1<<31 - 1, "halfsecond", "D", nil},
	"rfc1323":            {0, 0, 1, "boolean", "C", nil},
}

// aixDefaultNextboot is the nextboot file of a freshly installed lab host:
// IBM's prolog, the info stanza, and entries fleettune does not manage (a
// vmo: stanza and rfc1323 in no:) that must survive every change.
const aixDefaultNextboot = `# IBM_PROLOG_BEGIN_TAG
# This is an automatically generated prolog.
#
# bos72X src/bos/usr/sbin/perf/tune/nextboot 1.1
#
# Licensed Materials - Property of IBM
#
# COPYRIGHT International Business Machines Corp. 2002
# All Rights Reserved
#
# US Government Users Restricted Rights - Use, duplication or
# disclosure restricted by GSA ADP Schedule Contract with IBM Corp.
#
# IBM_PROLOG_END_TAG

info:
	AIX_level = "@AIX_LEVEL@"
	Kernel_type = "MP64"
	Last_validation = "2026-10-30 14:02:11 CDT (current, reboot)"

vmo:
	maxpin% = "90"

no:
	rfc1323 = "1"
`

// aixRcNet and aixRcTCPIP are the boot scripts: cfgmgr runs rc.net in the
// second boot phase, init runs rc.tcpip after it. In the pre-5.2
// compatibility mode their no commands are how values persist.
const (
	aixRcNet   = "/etc/rc.net"
	aixRcTCPIP = "/etc/rc.tcpip"
)

// aixDefaultRcNet is a lab host's /etc/rc.net: synthetic, in the layout of
// IBM's rc.net file reference (Part I configures from the ODM, Part II is
// the commented-out traditional configuration, Part III miscellaneous
// commands and the network options); the lines themselves are not copied
// from a real file.
const aixDefaultRcNet = `#!/bin/ksh
# IBM_PROLOG_BEGIN_TAG
# This is an automatically generated prolog.
#
# Licensed Materials - Property of IBM
#
# IBM_PROLOG_END_TAG
##################################################################
# rc.net - called by cfgmgr during the second boot phase.
#
# Configures the network interfaces, the host name, the default
# gateway and static routes.
##################################################################
LOGFILE=/tmp/rc.net.out

##################################################################
# Part I - Configuration using the data in the ODM database.
##################################################################
/usr/lib/methods/defif >>$LOGFILE 2>&1
/usr/lib/methods/cfgif $* >>$LOGFILE 2>&1

##################################################################
# Part II - Traditional Configuration.
##################################################################
#/usr/sbin/ifconfig lo0 inet 127.0.0.1 up >>$LOGFILE 2>&1
#/usr/sbin/route add 0 gateway >>$LOGFILE 2>&1

##################################################################
# Part III - Miscellaneous Commands.
##################################################################
/usr/sbin/hostid ` + "`hostname`" + ` >>$LOGFILE 2>&1
/bin/uname -S` + "`hostname|sed 's/\\..*$//'`" + ` >>$LOGFILE 2>&1

# Load the network options.
if [ -f /usr/sbin/no ] ; then
	/usr/sbin/no -o extendednetstats=0 >>/dev/null 2>&1
	#/usr/sbin/no -o tcp_sendspace=262144 >>/dev/null 2>&1
fi
`

// aixDefaultRcTCPIP is a lab host's /etc/rc.tcpip, synthetic: the start
// of the daemons rc.tcpip starts with the SRC.
const aixDefaultRcTCPIP = `#!/bin/ksh
# IBM_PROLOG_BEGIN_TAG
# IBM_PROLOG_END_TAG
#
# rc.tcpip - start the TCP/IP daemons, after rc.net.
#
. /usr/lpp/bos.net/inet/start.sh
start /usr/sbin/syslogd "$src_running"
start /usr/sbin/inetd "$src_running"
start /usr/sbin/sshd "$src_running"
`

// aixFileMeta is a file's mode and owner, for the files whose mode and
// owner a change must keep (the boot scripts).
type aixFileMeta struct {
	mode         uint32
	owner, group string
}

// aixNewFileMeta is what a file gets when root creates it (umask 022).
var aixNewFileMeta = aixFileMeta{0o644, "root", "system"}

var aixLevels = map[string]string{"6.1": "6.1.9.315", "7.1": "7.1.5.45", "7.2": "7.2.5.200", "7.3": "7.3.2.1"}

type aixEmu struct {
	live map[string]int64
	// types overrides a tunable's no -L type, for tests of Reboot
	// tunables; empty means the spec's.
	types map[string]string
	// tcp are the TCP statistics netstat -p tcp prints (bsdtcpstat.go).
	tcp bsdTCPStats
	// pre520 is sys0's pre520tune attribute: in the pre-5.2 compatibility
	// mode, tunrestore does not apply nextboot at boot, so values set with
	// no -p last only until the reboot (persistence is /etc/rc.net's).
	pre520 bool
	// meta are the mode and owner of files that have other than root's
	// defaults; cp -p, mv and rm keep it with the file (a write into an
	// existing file keeps it too, as the shell leaves it alone).
	meta map[string]aixFileMeta
}

// AIXCompatibilityMode switches an AIX host into (or out of) the pre-5.2
// compatibility mode, as chdev -l sys0 -a pre520tune=enable does.
func AIXCompatibilityMode(h *Host, on bool) error {
	h.Lock()
	defer h.Unlock()
	e, ok := h.Emu.(*aixEmu)
	if !ok {
		return fmt.Errorf("lab: %s is not an AIX host", h.Name)
	}
	e.pre520 = on
	return nil
}

// metaOf is a file's mode and owner.
func (e *aixEmu) metaOf(p string) aixFileMeta {
	if m, ok := e.meta[p]; ok {
		return m
	}
	return aixNewFileMeta
}

// SetPre520Tune switches the host into (or out of) the pre-5.2
// compatibility mode, as chdev -l sys0 -a pre520tune=enable does.
func (e *aixEmu) SetPre520Tune(on bool) { e.pre520 = on }

func newAIX(h *Host, release string) error {
	level, ok := aixLevels[release]
	if !ok {
		return fmt.Errorf("lab: AIX release %q not emulated (want 6.1, 7.1, 7.2 or 7.3)", release)
	}
	major, minor, _ := strings.Cut(release, ".")
	h.Uname = Uname{Sysname: "AIX", Release: minor, Version: major, Machine: "00F84C0C4C00"}
	h.Files[aixNextboot] = strings.Replace(aixDefaultNextboot, "@AIX_LEVEL@", level, 1)
	h.Listening = []int{22, 111, 199, 657, 1334}
	h.TimeWaitSockets = 3
	h.Files[aixRcNet] = aixDefaultRcNet
	h.Files[aixRcTCPIP] = aixDefaultRcTCPIP
	h.Emu = &aixEmu{live: map[string]int64{}, types: map[string]string{}, tcp: bsdUptimeTCPStats(),
		meta: map[string]aixFileMeta{aixRcNet: {0o774, "root", "system"}, aixRcTCPIP: {0o774, "root", "system"}}}
	return nil
}

func (e *aixEmu) typeOf(name string) string {
	if t := e.types[name]; t != "" {
		return t
	}
	return aixSpecs[name].typ
}

// Boot sets every tunable to its default, then applies the no: stanza of
// nextboot as tunrestore -R does (values out of range stay at default).
func (e *aixEmu) Boot(h *Host) {
	if h.Boots > 1 {
		e.tcp = bsdTCPStats{} // a reboot zeroes the TCP statistics
	}
	e.live = map[string]int64{}
	for n, s := range aixSpecs {
		e.live[n] = s.def
	}
	if e.pre520 {
		// Compatibility mode: nextboot is not applied; cfgmgr runs
		// rc.net, then init runs rc.tcpip, and their no commands set the
		// values.
		for _, f := range []string{aixRcNet, aixRcTCPIP} {
			for _, argv := range aixScriptNoCommands(h.Files[f]) {
				e.no(&Call{Host: h, User: "root", Argv: argv})
			}
		}
		return
	}
	for n, v := range aixNoStanza(h.Files[aixNextboot]) {
		s, ok := aixSpecs[n]
		if !ok {
			continue
		}
		x, err := strconv.ParseInt(v, 10, 64)
		if err == nil && x >= s.min && x <= s.max {
			e.live[n] = x
		}
	}
}

func (e *aixEmu) TimeWait() time.Duration {
	return time.Duration(e.live["tcp_timewait"]) * 15 * time.Second
}

func (e *aixEmu) Command(c *Call) (Output, bool) {
	if isNetstatPTCP(c.Argv) {
		return e.tcp.netstat(c.Host, e.TimeWait()), true
	}
	switch c.Argv[0] {
	case "no", "/usr/sbin/no":
		return e.no(c), true
	case "cp", "/usr/bin/cp":
		return e.cp(c), true
	case "mv", "rm":
		// The shell's built-ins move and remove the content; the mode and
		// owner go with it.
		e.followMeta(c)
		return Output{}, false
	case "lsattr", "/usr/sbin/lsattr":
		if strings.Join(c.Argv[1:], " ") == "-El sys0 -a pre520tune" {
			v := "disable"
			if e.pre520 {
				v = "enable"
			}
			return Output{Stdout: fmt.Sprintf("pre520tune %s Pre-520 tuning compatibility mode True\n", v)}, true
		}
		return Output{Stderr: "lsattr: only -El sys0 -a pre520tune is emulated\n", Code: 1}, true
	case "who":
		if len(c.Argv) == 2 && c.Argv[1] == "-b" {
			return Output{Stdout: "   .       system boot  " + c.Host.BootTime.Format("Jan _2 15:04") + "\n"}, true
		}
	case "netstat":
		if flags, fam, proto, err := netstatFlags(c.Argv[1:]); err == nil && flags['a'] && flags['n'] && len(flags) == 2 && proto == "" && (fam == "" || fam == "inet") {
			return Output{Stdout: aixNetstat(c.Host, fam == "inet")}, true
		}
	case "cat":
		// AIX's cat names its message number.
		var out Output
		for _, f := range c.Argv[1:] {
			content, ok := c.Host.Files[f]
			if !ok {
				out.Stderr += fmt.Sprintf("cat: 0652-050 Cannot open %s.\n", f)
				out.Code = 2
				continue
			}
			out.Stdout += content
		}
		if len(c.Argv) == 1 {
			return Output{}, false
		}
		return out, true
	}
	return Output{}, false
}

const aixNoUsage = `Usage:  no -h [tunable] | {[-F] -L [tunable]} | {[-F] -x [tunable]}
        no [-p|-r] (-a [-F] | {-o tunable})
        no [-p|-r] (-D | ({-d tunable} {-o tunable=value}))
`

func (e *aixEmu) no(c *Call) Output {
	args := c.Argv[1:]
	var mode string // "", "p" or "r"
	type op struct{ flag, arg string }
	var ops []op
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-p", "-r":
			if mode != "" && mode != a[1:] {
				return Output{Stderr: aixNoUsage, Code: 2}
			}
			mode = a[1:]
		case "-o", "-d", "-L":
			if i+1 >= len(args) {
				return Output{Stderr: aixNoUsage, Code: 2}
			}
			ops = append(ops, op{a, args[i+1]})
			i++
		default:
			return Output{Stderr: aixNoUsage, Code: 2}
		}
	}
	if len(ops) == 0 {
		return Output{Stderr: aixNoUsage, Code: 2}
	}
	var out Output
	var table []string
	for _, o := range ops {
		name, value, set := strings.Cut(o.arg, "=")
		spec, known := aixSpecs[name]
		if !known {
			out.Stderr += fmt.Sprintf("no: 0050-013 %s is not a valid tunable parameter\n", name)
			out.Code = 1
			continue
		}
		switch {
		case o.flag == "-L":
			table = append(table, name)
		case o.flag == "-o" && !set:
			v := e.live[name]
			if mode == "r" {
				if b, ok := aixNoStanza(c.Host.Files[aixNextboot])[name]; ok {
					v, _ = strconv.ParseInt(b, 10, 64)
				} else {
					v = spec.def
				}
			}
			out.Stdout += fmt.Sprintf("%s = %d\n", name, v)
		default:
			if !c.Root() {
				out.Stderr += fmt.Sprintf("no: 0050-011 Permission denied: only root can change %s\n", name)
				out.Code = 1
				continue
			}
			v := spec.def
			if o.flag == "-o" {
				x, err := strconv.ParseInt(value, 10, 64)
				if err != nil || strings.TrimSpace(value) != value {
					out.Stderr += fmt.Sprintf("no: 0050-015 %s is not a valid value for %s\n", value, name)
					out.Code = 1
					continue
				}
				if x < spec.min || x > spec.max {
					out.Stderr += fmt.Sprintf("no: 0050-017 Value %d is out of range for %s (%d - %d)\n", x, name, spec.min, spec.max)
					out.Code = 1
					continue
				}
				v = x
			}
			typ := e.typeOf(name)
			if mode != "r" && typ != "D" && typ != "C" && typ != "I" {
				out.Stderr += fmt.Sprintf("no: 0050-018 %s is a reboot tunable; use -r to change it at next boot\n", name)
				out.Code = 1
				continue
			}
			if mode != "r" {
				if msg := e.checkRange(name, v); msg != "" {
					out.Stderr += msg
					out.Code = 1
					continue
				}
				e.live[name] = v
				out.Stdout += fmt.Sprintf("Setting %s to %d\n", name, v)
			}
			if mode != "" {
				nb := c.Host.Files[aixNextboot]
				if o.flag == "-d" {
					c.Host.Files[aixNextboot] = aixStanzaSet(nb, name, "")
				} else {
					c.Host.Files[aixNextboot] = aixStanzaSet(nb, name, strconv.FormatInt(v, 10))
				}
				out.Stdout += fmt.Sprintf("Setting %s to %d in nextboot file\n", name, v)
			}
			if mode == "r" {
				out.Stdout += "Warning: changes will take effect only at next reboot\n"
			}
		}
	}
	if len(table) > 0 {
		out.Stdout += e.noL(c.Host, table)
	}
	return out
}

// checkRange enforces tcp_ephemeral_low < tcp_ephemeral_high on the live
// values.
func (e *aixEmu) checkRange(name string, v int64) string {
	for _, p := range [][2]string{{"tcp_ephemeral_low", "tcp_ephemeral_high"}, {"udp_ephemeral_low", "udp_ephemeral_high"}} {
		lo, hi := e.live[p[0]], e.live[p[1]]
		switch name {
		case p[0]:
			lo = v
		case p[1]:
			hi = v
		default:
			continue
		}
		if lo >= hi {
			return fmt.Sprintf("no: 0050-019 %s must be less than %s (%d >= %d)\n", p[0], p[1], lo, hi)
		}
	}
	return ""
}

const aixNoLRule = "--------------------------------------------------------------------------------\n"

// noL prints no -L's table for the named tunables.
func (e *aixEmu) noL(h *Host, names []string) string {
	var b strings.Builder
	b.WriteString("NAME                      CUR    DEF    BOOT   MIN    MAX    UNIT           TYPE\n")
	b.WriteString("     DEPENDENCIES\n")
	b.WriteString(aixNoLRule)
	stanza := aixNoStanza(h.Files[aixNextboot])
	for _, n := range names {
		s := aixSpecs[n]
		boot := s.def
		if v, ok := stanza[n]; ok {
			if x, err := strconv.ParseInt(v, 10, 64); err == nil {
				boot = x
			}
		}
		fmt.Fprintf(&b, "%-25s %-6s %-6s %-6s %-6s %-6s %-14s %4s\n", n,
			aixAbbrev(e.live[n]), aixAbbrev(s.def), aixAbbrev(boot), aixAbbrev(s.min), aixAbbrev(s.max), s.unit, e.typeOf(n))
		for _, d := range s.deps {
			b.WriteString("     " + d + "\n")
		}
		b.WriteString(aixNoLRule)
	}
	return b.String()
}

// aixAbbrev writes a number as no -L does: 32768 is 32K, 65535 is 64K-1.
func aixAbbrev(v int64) string {
	units := "KMGTPE"
	for _, minus := range []int64{0, 1} {
		x := uint64(v + minus)
		if v+minus <= 0 || x%1024 != 0 {
			continue
		}
		i := -1
		for x%1024 == 0 && i < len(units)-1 {
			x /= 1024
			i++
		}
		s := strconv.FormatUint(x, 10) + units[i:i+1]
		if minus == 1 {
			s += "-1"
		}
		return s
	}
	return strconv.FormatInt(v, 10)
}

// aixNetstat prints netstat -an as AIX does: listeners, one established
// ssh session, the TIME_WAIT sockets, a few UDP sockets, then the UNIX
// domain part.
//
// With -f inet (inet) the UNIX domain part is left out.
func aixNetstat(h *Host, inet bool) string {
	var b strings.Builder
	row := func(proto, local, foreign, state string) {
		line := fmt.Sprintf("%-6s%6d%7d  %-22s %-22s %s", proto, 0, 0, local, foreign, state)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	b.WriteString("Active Internet connections (including servers)\n")
	b.WriteString("Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n")
	ports := append([]int(nil), h.Listening...)
	sort.Ints(ports)
	for _, p := range ports {
		proto := "tcp4"
		if p == 22 {
			proto = "tcp" // sshd listens on both families
		}
		row(proto, "*."+strconv.Itoa(p), "*.*", "LISTEN")
	}
	row("tcp4", "10.20.0.31.22", "10.20.0.5.50122", "ESTABLISHED")
	for i := 0; i < h.TimeWaitSockets; i++ {
		row("tcp4", fmt.Sprintf("10.20.0.31.%d", 32768+i*7), "10.20.0.9.1521", "TIME_WAIT")
	}
	writeBSDRows(&b, h, "tcp4       0      0  ") // row's layout, without fmt
	row("udp4", "*.111", "*.*", "")
	row("udp4", "*.514", "*.*", "")
	if inet {
		return b.String()
	}
	b.WriteString("\nActive UNIX domain sockets\n")
	b.WriteString("SADR/PCB Type   Recv-Q Send-Q   Inode     Conn     Refs     Nextref  Addr\n")
	b.WriteString("f1000f0000a7e808 dgram      0      0 f1000f0000c1d020        0        0        0 /dev/.SRC-unix/SRCG2kq1c\n")
	return b.String()
}

// aixNoStanza returns the parameters of the first no: stanza of a
// tunables file (first occurrence of a parameter wins; DEFAULT is no
// entry).
func aixNoStanza(content string) map[string]string {
	out := map[string]string{}
	in, seen := false, map[string]bool{}
	for _, line := range strings.Split(content, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if name, ok := strings.CutSuffix(line, ":"); ok && !strings.Contains(name, "=") {
			in = name == "no" && !seen[name]
			seen[name] = true
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		if _, dup := out[k]; !dup && v != "DEFAULT" {
			out[k] = v
		}
	}
	return out
}

// aixStanzaSet sets (value != "") or removes (value == "") a parameter in
// the no: stanza, as no -p/-r rewrite nextboot: an existing line is
// replaced in place, a new one goes at the end of the stanza (a tab, then
// `name = "value"`), a missing stanza is added at the end of the file.
// Every other line stays as it was.
func aixStanzaSet(content, name, value string) string {
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	if content == "" {
		lines = nil
	}
	entry := "\t" + name + ` = "` + value + `"`
	start, end := -1, len(lines) // the no: stanza's body is lines[start+1:end]
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if n, ok := strings.CutSuffix(t, ":"); ok && !strings.Contains(n, "=") && !strings.HasPrefix(t, "#") {
			if start >= 0 {
				end = i
				break
			}
			if n == "no" {
				start = i
			}
		}
	}
	if start < 0 {
		if value == "" {
			return content
		}
		if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) != "" {
			lines = append(lines, "")
		}
		lines = append(lines, "no:", entry)
		return strings.Join(lines, "\n") + "\n"
	}
	last := start // the stanza's last parameter line
	for i := start + 1; i < end; i++ {
		t := strings.TrimSpace(lines[i])
		k, _, ok := strings.Cut(t, "=")
		if ok && !strings.HasPrefix(t, "#") && strings.TrimSpace(k) == name {
			if value == "" {
				lines = append(lines[:i], lines[i+1:]...)
			} else {
				lines[i] = entry
			}
			return strings.Join(lines, "\n") + "\n"
		}
		if t != "" {
			last = i
		}
	}
	if value == "" {
		return content
	}
	lines = append(lines[:last+1], append([]string{entry}, lines[last+1:]...)...)
	return strings.Join(lines, "\n") + "\n"
}

func (e *aixEmu) ephemeralRange() (int, int) {
	return int(e.live["tcp_ephemeral_low"]), int(e.live["tcp_ephemeral_high"])
}

// aixScriptNoCommands is the lab's own reading of a boot script, simpler
// than a shell and independent of the driver's: every line whose first
// word is no or /usr/sbin/no, comments left out, up to its first
// redirection or comment, as an argv. Other lines (the ODM methods,
// if/fi, hostid) are left alone: the lab emulates only the tunables.
func aixScriptNoCommands(content string) [][]string {
	var out [][]string
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (f[0] != "no" && f[0] != "/usr/sbin/no") {
			continue
		}
		argv := []string{"no"}
		for _, w := range f[1:] {
			if strings.HasPrefix(w, "#") || strings.ContainsAny(w, "<>;&|") {
				break
			}
			argv = append(argv, w)
		}
		out = append(out, argv)
	}
	return out
}

// cp copies a file, as AIX's cp: with -p the copy keeps the source's mode
// and owner; without, a new file gets root's defaults and an existing one
// keeps its own. A directory as the target takes the source's name.
func (e *aixEmu) cp(c *Call) Output {
	args := c.Argv[1:]
	keep := false
	if len(args) > 0 && args[0] == "-p" {
		keep, args = true, args[1:]
	}
	if len(args) != 2 {
		return Output{Stderr: "Usage: cp [-fhipHILPU] [-d|-e] [-r|-R] [-E{force|ignore|warn}] [--] src target\n", Code: 2}
	}
	h := c.Host
	src, dst := h.resolve(path.Clean(args[0])), path.Clean(args[1])
	if h.Dirs[dst] {
		dst = path.Join(dst, path.Base(args[0]))
	}
	dst = h.resolve(dst)
	content, ok := readHostFile(h, src)
	if !ok {
		return Output{Stderr: fmt.Sprintf("cp: %s: A file or directory in the path name does not exist.\n", args[0]), Code: 1}
	}
	if !c.Root() && !strings.HasPrefix(dst, "/tmp/") {
		return Output{Stderr: fmt.Sprintf("cp: %s: The file access permissions do not allow the specified action.\n", args[1]), Code: 1}
	}
	_, existed := h.Files[dst]
	h.Files[dst] = content
	switch {
	case keep:
		if m, ok := e.meta[src]; ok {
			e.meta[dst] = m
		} else {
			delete(e.meta, dst)
		}
	case !existed:
		delete(e.meta, dst)
	}
	return Output{}
}

// followMeta moves (mv) or drops (rm) the mode and owner of the files a
// root mv or rm is about to move or remove.
func (e *aixEmu) followMeta(c *Call) {
	if !c.Root() {
		return
	}
	args := c.Argv[1:]
	if len(args) > 0 && args[0] == "-f" {
		args = args[1:]
	}
	switch c.Argv[0] {
	case "mv":
		if len(args) != 2 {
			return
		}
		if _, ok := c.Host.Files[args[0]]; !ok {
			return
		}
		if m, ok := e.meta[args[0]]; ok {
			e.meta[args[1]] = m
		} else {
			delete(e.meta, args[1])
		}
		delete(e.meta, args[0])
	case "rm":
		for _, f := range args {
			delete(e.meta, f)
		}
	}
}
