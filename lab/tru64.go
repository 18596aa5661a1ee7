package lab

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Tru64 UNIX: the inet subsystem's attributes, read with sysconfig -q,
// described with sysconfig -Q, changed for the running kernel with
// sysconfig -r, and persisted in /etc/sysconfigtab stanzas through
// sysconfigdb. The kernel reads the stanzas at boot.
//
// Which attributes sysconfig -r may change is per release (op=CRQ vs op=CQ
// in sysconfig -Q): platforms.md leaves it open whether tcp_msl is run-time
// settable on every release, so the lab makes it boot-only on V4.0F and
// V5.1 and run-time settable on V5.1B, which exercises both paths. Output
// layouts follow platforms.md §6 and platform/testdata/tru64/README.md.

// tru64SysconfigTab is the file sysconfigdb edits.
const tru64SysconfigTab = "/etc/sysconfigtab"

type tru64Attr struct {
	def, min, max int64
	runtime       bool
}

// tru64Release is what uname prints for a release fleettune names.
type tru64Release struct {
	uname, rev string
	mslRuntime bool
}

var tru64Releases = map[string]tru64Release{
	"V4.0F": {"V4.0", "1229", false},
	"V5.1":  {"V5.1", "732", false},
	"V5.1B": {"V5.1", "2650", true},
}

// tru64DefaultSysconfigtab is a freshly installed host's file, with an inet
// stanza that sets an attribute fleettune does not manage.
const tru64DefaultSysconfigtab = `# /etc/sysconfigtab: subsystem attributes read at boot.
# Change it with sysconfigdb(8), not by hand.

generic:
	memberid = 0
	new_vers_high = 1445673072572143232
	new_vers_low = 268517376

vm:
	ubc_maxpercent = 70
	vm_swap_eager = 1

ipc:
	shm_max = 4194304

inet:
	tcbhashsize = 1024

`

type tru64 struct {
	release string
	attrs   map[string]tru64Attr
	order   []string // for sysconfig -q inet with no attribute list
	live    map[string]int64
	// tcp are the TCP statistics netstat -p tcp prints (bsdtcpstat.go).
	tcp bsdTCPStats
}

func newTru64(h *Host, release string) error {
	rel, ok := tru64Releases[release]
	if !ok {
		return fmt.Errorf("lab: Tru64 release %q is not emulated (want V4.0F, V5.1 or V5.1B)", release)
	}
	const intMax = 2147483647
	e := &tru64{
		release: release,
		tcp:     bsdUptimeTCPStats(),
		attrs: map[string]tru64Attr{
			"ipport_userreserved_min": {1024, 0, 65535, true},
			"ipport_userreserved":     {5000, 0, 65535, true},
			"tcp_msl":                 {60, 1, intMax, rel.mslRuntime},
			"tcp_keepidle":            {14400, 1, intMax, true},
			"tcp_keepintvl":           {150, 1, intMax, true},
			"tcbhashsize":             {512, 1, 16384, false},
		},
		order: []string{"tcbhashsize", "ipport_userreserved", "ipport_userreserved_min", "tcp_keepidle", "tcp_keepintvl", "tcp_msl"},
	}
	h.Uname = Uname{Sysname: "OSF1", Release: rel.uname, Version: rel.rev, Machine: "alpha"}
	h.Files[tru64SysconfigTab] = tru64DefaultSysconfigtab
	h.Listening = []int{22, 111, 1021, 6112}
	h.TimeWaitSockets = 3
	h.Emu = e
	return nil
}

// Boot sets every attribute to its default, then to the inet stanza's
// value where /etc/sysconfigtab has a valid one.
func (e *tru64) Boot(h *Host) {
	if h.Boots > 1 {
		e.tcp = bsdTCPStats{} // a reboot zeroes the TCP statistics
	}
	e.live = map[string]int64{}
	for n, a := range e.attrs {
		e.live[n] = a.def
	}
	for _, kv := range stanzaAttrs(stanzaOf(h.Files[tru64SysconfigTab], "inet")) {
		a, known := e.attrs[kv[0]]
		n, err := strconv.ParseInt(kv[1], 10, 64)
		if known && err == nil && n >= a.min && n <= a.max {
			e.live[kv[0]] = n
		}
	}
}

// TimeWait is two MSLs; tcp_msl counts half-seconds.
func (e *tru64) TimeWait() time.Duration {
	return time.Duration(e.live["tcp_msl"]) * time.Second
}

func (e *tru64) Command(c *Call) (Output, bool) {
	if isNetstatPTCP(c.Argv) {
		return e.tcp.netstat(c.Host, e.TimeWait()), true
	}
	switch c.Argv[0] {
	case "sysconfig", "/sbin/sysconfig":
		return e.sysconfig(c), true
	case "sysconfigdb", "/sbin/sysconfigdb":
		return e.sysconfigdb(c), true
	case "who":
		if len(c.Argv) == 2 && c.Argv[1] == "-b" {
			return Output{Stdout: fmt.Sprintf("         .       system boot  %s\n", c.Host.BootTime.Format("Jan _2 15:04"))}, true
		}
		return Output{Stderr: "who: only -b is emulated\n", Code: 1}, true
	case "netstat":
		if flags, fam, proto, err := netstatFlags(c.Argv[1:]); err == nil && flags['a'] && flags['n'] && len(flags) == 2 && proto == "" && (fam == "" || fam == "inet") {
			return Output{Stdout: e.netstat(c.Host)}, true
		}
		return Output{Stderr: "netstat: only -an and -an -f inet are emulated\n", Code: 1}, true
	}
	return Output{}, false
}

const tru64SysconfigUsage = "usage: sysconfig -q|-Q subsystem [attribute ...]\n       sysconfig -r subsystem attribute=value ...\n"

func (e *tru64) sysconfig(c *Call) Output {
	if len(c.Argv) < 3 {
		return Output{Stderr: tru64SysconfigUsage, Code: 1}
	}
	op, subsys, args := c.Argv[1], c.Argv[2], c.Argv[3:]
	if subsys != "inet" {
		return Output{Stderr: fmt.Sprintf("sysconfig: Subsystem %s is not configured\n", subsys), Code: 1}
	}
	switch op {
	case "-q", "-Q":
		if len(args) == 0 {
			args = e.order
		}
		var b strings.Builder
		b.WriteString("inet:\n")
		for _, n := range args {
			a, ok := e.attrs[n]
			switch {
			case !ok && op == "-q":
				fmt.Fprintf(&b, "%s = unknown attribute\n", n)
			case !ok:
				fmt.Fprintf(&b, "%s - unknown attribute\n", n)
			case op == "-q":
				fmt.Fprintf(&b, "%s = %d\n", n, e.live[n])
			default:
				ops := "CQ"
				if a.runtime {
					ops = "CRQ"
				}
				fmt.Fprintf(&b, "%s - type=INT op=%s min_val=%d max_val=%d\n", n, ops, a.min, a.max)
			}
		}
		return Output{Stdout: b.String()}
	case "-r":
		if len(args) == 0 {
			return Output{Stderr: tru64SysconfigUsage, Code: 1}
		}
		if !c.Root() {
			return Output{Stderr: "sysconfig: Permission denied\n", Code: 1}
		}
		// Every assignment is checked before any is made: one bad
		// attribute changes nothing.
		set := map[string]int64{}
		var names []string
		var errs strings.Builder
		for _, kv := range args {
			n, v, ok := strings.Cut(kv, "=")
			a, known := e.attrs[n]
			val, err := strconv.ParseInt(v, 10, 64)
			switch {
			case !ok:
				fmt.Fprintf(&errs, "%s: attribute=value expected\n", kv)
			case !known:
				fmt.Fprintf(&errs, "%s: unknown attribute\n", n)
			case !a.runtime:
				fmt.Fprintf(&errs, "%s: attribute does not support run-time reconfiguration\n", n)
			case err != nil || val < a.min || val > a.max:
				fmt.Fprintf(&errs, "%s: attribute value out of range (%d-%d)\n", n, a.min, a.max)
			default:
				set[n] = val
				names = append(names, n)
			}
		}
		if errs.Len() > 0 {
			return Output{Stderr: errs.String(), Code: 1}
		}
		var out strings.Builder
		for _, n := range names {
			e.live[n] = set[n]
			fmt.Fprintf(&out, "%s: reconfigured\n", n)
		}
		return Output{Stdout: out.String()}
	}
	return Output{Stderr: tru64SysconfigUsage, Code: 1}
}

const tru64SysconfigdbUsage = "usage: sysconfigdb {-a|-m|-u} -f file subsystem\n       sysconfigdb -r [-f file] subsystem\n       sysconfigdb -l [subsystem ...]\n"

// sysconfigdb edits /etc/sysconfigtab: -m merges the stanza in file into
// the subsystem's entry (adding the entry if needed), -u replaces the entry
// with it, -r removes the entry (with -f, only the attributes the file
// lists), -l lists entries.
func (e *tru64) sysconfigdb(c *Call) Output {
	h := c.Host
	var op, file string
	var rest []string
	for i := 1; i < len(c.Argv); i++ {
		switch a := c.Argv[i]; a {
		case "-a", "-m", "-u", "-r", "-l":
			if op != "" {
				return Output{Stderr: tru64SysconfigdbUsage, Code: 1}
			}
			op = a
		case "-f":
			if i+1 >= len(c.Argv) {
				return Output{Stderr: tru64SysconfigdbUsage, Code: 1}
			}
			i++
			file = c.Argv[i]
		default:
			rest = append(rest, a)
		}
	}
	tab := h.Files[tru64SysconfigTab]
	if op == "-l" {
		var b strings.Builder
		for _, s := range rest {
			if st := stanzaOf(tab, s); st != "" {
				b.WriteString(st)
			}
		}
		return Output{Stdout: b.String()}
	}
	if op == "" || len(rest) != 1 || (op != "-r" && file == "") {
		return Output{Stderr: tru64SysconfigdbUsage, Code: 1}
	}
	subsys := rest[0]
	if !c.Root() {
		return Output{Stderr: fmt.Sprintf("sysconfigdb: %s: Permission denied\n", tru64SysconfigTab), Code: 1}
	}
	var fileAttrs [][2]string
	if file != "" {
		content, ok := h.Files[h.resolve(file)]
		if !ok {
			return Output{Stderr: fmt.Sprintf("sysconfigdb: cannot open %s: No such file or directory\n", file), Code: 1}
		}
		st := stanzaOf(content, subsys)
		if st == "" {
			return Output{Stderr: fmt.Sprintf("sysconfigdb: %s: no entry for subsystem %s\n", file, subsys), Code: 1}
		}
		fileAttrs = stanzaAttrs(st)
	}
	cur := stanzaOf(tab, subsys)
	has := cur != ""
	attrs := stanzaAttrs(cur)
	switch op {
	case "-a":
		if has {
			return Output{Stderr: fmt.Sprintf("sysconfigdb: entry for subsystem %s already exists\n", subsys), Code: 1}
		}
		attrs = fileAttrs
	case "-u":
		if !has {
			return Output{Stderr: fmt.Sprintf("sysconfigdb: entry for subsystem %s does not exist\n", subsys), Code: 1}
		}
		attrs = fileAttrs
	case "-m":
		for _, kv := range fileAttrs {
			replaced := false
			for i := range attrs {
				if attrs[i][0] == kv[0] {
					attrs[i][1], replaced = kv[1], true
				}
			}
			if !replaced {
				attrs = append(attrs, kv)
			}
		}
	case "-r":
		if !has {
			return Output{Stderr: fmt.Sprintf("sysconfigdb: entry for subsystem %s does not exist\n", subsys), Code: 1}
		}
		if file == "" {
			h.Files[tru64SysconfigTab] = replaceStanza(tab, subsys, nil, false)
			return Output{}
		}
		drop := map[string]bool{}
		for _, kv := range fileAttrs {
			drop[kv[0]] = true
		}
		var kept [][2]string
		for _, kv := range attrs {
			if !drop[kv[0]] {
				kept = append(kept, kv)
			}
		}
		attrs = kept
	}
	h.Files[tru64SysconfigTab] = replaceStanza(tab, subsys, attrs, true)
	return Output{}
}

// stanzaOf returns subsys's stanza from sysconfigtab-format content as
// "subsys:\n\tattr = value\n...\n" (with the blank line that ends it), or ""
// when there is none.
func stanzaOf(content, subsys string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(content, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if line[0] != '\t' && line[0] != ' ' && strings.HasSuffix(t, ":") {
			if in {
				break
			}
			in = t == subsys+":"
			if in {
				b.WriteString(t + "\n")
			}
			continue
		}
		if in {
			if k, v, ok := strings.Cut(t, "="); ok {
				fmt.Fprintf(&b, "\t%s = %s\n", strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return b.String() + "\n"
}

func stanzaAttrs(stanza string) [][2]string {
	var out [][2]string
	for i, line := range strings.Split(stanza, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && i > 0 {
			out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return out
}

// replaceStanza rewrites content with subsys's stanza set to attrs (or
// removed when keep is false), in place; a new stanza goes at the end. Other
// stanzas and comments are kept byte for byte.
func replaceStanza(content, subsys string, attrs [][2]string, keep bool) string {
	var st strings.Builder
	if keep {
		st.WriteString(subsys + ":\n")
		for _, kv := range attrs {
			fmt.Fprintf(&st, "\t%s = %s\n", kv[0], kv[1])
		}
		st.WriteString("\n")
	}
	lines := strings.SplitAfter(content, "\n")
	var out strings.Builder
	done, in := false, false
	for _, line := range lines {
		t := strings.TrimSpace(line)
		header := line != "" && line[0] != '\t' && line[0] != ' ' && line[0] != '#' && strings.HasSuffix(t, ":")
		if header {
			in = t == subsys+":"
			if in && !done {
				out.WriteString(st.String())
				done = true
			}
		}
		if in {
			continue // the old stanza's lines, and the blank line ending it
		}
		out.WriteString(line)
	}
	if !done {
		s := out.String()
		if s != "" && !strings.HasSuffix(s, "\n\n") {
			if !strings.HasSuffix(s, "\n") {
				out.WriteString("\n")
			}
			out.WriteString("\n")
		}
		out.WriteString(st.String())
	}
	return out.String()
}

// netstat prints the BSD-style socket table: listeners on every address,
// and TIME_WAIT sockets from the bottom of the live ephemeral range to a
// web server.
func (e *tru64) netstat(h *Host) string {
	var b strings.Builder
	b.WriteString("Active Internet connections (including servers)\n")
	b.WriteString("Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n")
	row := func(local, foreign, state string) {
		fmt.Fprintf(&b, "tcp        0      0  %-22s %-22s %s\n", local, foreign, state)
	}
	ports := append([]int(nil), h.Listening...)
	sort.Ints(ports)
	for _, p := range ports {
		row(fmt.Sprintf("*.%d", p), "*.*", "LISTEN")
	}
	row("10.20.0.15.22", "10.20.0.2.51522", "ESTABLISHED")
	for i := 0; i < h.TimeWaitSockets; i++ {
		row(fmt.Sprintf("10.20.0.15.%d", int(e.live["ipport_userreserved_min"])+i), "10.20.0.40.80", "TIME_WAIT")
	}
	writeBSDRows(&b, h, "tcp        0      0  ") // row's layout, without fmt
	b.WriteString("udp        0      0  *.111                  *.*\n")
	return b.String()
}

func (e *tru64) ephemeralRange() (int, int) {
	return int(e.live["ipport_userreserved_min"]), int(e.live["ipport_userreserved"])
}
