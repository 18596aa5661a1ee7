package platform

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Linux sysctl knobs fleettune manages or reads.
const (
	linuxPortRange     = "net.ipv4.ip_local_port_range"
	linuxKeepalive     = "net.ipv4.tcp_keepalive_time"
	linuxFinTimeout    = "net.ipv4.tcp_fin_timeout"
	linuxTwReuse       = "net.ipv4.tcp_tw_reuse"
	linuxUnprivStart   = "net.ipv4.ip_unprivileged_port_start"
	linuxReservedPorts = "net.ipv4.ip_local_reserved_ports"

	// LinuxPersistFile is the one sysctl.d file fleettune owns.
	LinuxPersistFile = "/etc/sysctl.d/90-fleettune.conf"

	// linuxTimeWait is TCP_TIMEWAIT_LEN: fixed in the kernel.
	linuxTimeWait = 60 * time.Second
)

// linuxBaseKnobs are read on every Linux host.
var linuxBaseKnobs = []string{linuxPortRange, linuxKeepalive, linuxFinTimeout, linuxTwReuse, linuxUnprivStart, linuxReservedPorts}

// linuxSysctlDirs are the sysctl.d directories in systemd-sysctl's order of
// precedence: a file name in an earlier directory masks the same name later.
var linuxSysctlDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

type linuxDriver struct{}

func (linuxDriver) OS() string { return Linux }

// Capabilities: see Driver.
func (linuxDriver) Capabilities() Capabilities {
	return Capabilities{Counters: true, ReservedPortsKnob: linuxReservedPorts}
}

// linuxGatherScript is the one command that reads a Linux host. Knob names
// come from linuxBaseKnobs and the native whitelist only, never from input.
func linuxGatherScript(knobs []string) string {
	return cachedScript("linux", knobs, func() string { return buildLinuxGatherScript(knobs) })
}

func buildLinuxGatherScript(knobs []string) string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	writeLinuxGather(&b, knobs)
	return b.String()
}

// writeLinuxGather writes the commands that print the gather's sections.
// They fork two processes whatever the number of knobs: one cat for every
// file the kernel computes and one ss for the listeners. The files under
// /proc/sys are read by cat, never by the shell's read: dash and busybox
// read one byte per read(2), and the kernel answers a read of an integer
// sysctl at a non-zero offset with end of file, so `read v
// </proc/sys/net/ipv4/ip_local_port_range` gives "3" in dash. Each of
// those files is one line, so the one "proc" section is one line per name
// it lists, /proc/net/sockstat (last) taking the rest; a knob the kernel
// lacks gets a "sysctl NAME" section of its own saying !missing.
//
// The listeners come from `ss -tn state listening`, which asks the kernel
// (sock_diag) for listening sockets alone; reading /proc/net/tcp and tcp6
// walks the whole established hash table, about 10 ms of CPU on a machine
// with 262,144 buckets even when the namespace has no socket at all. A
// host without ss gets the old awk over /proc/net/tcp.
//
// The sysctl.d files are regular files, which every sh's read handles, so
// they are copied by the shell itself; the last printf puts back a final
// line that had no newline, so a body is the file's exact text followed by
// one newline, as `cat FILE; echo` printed it. Everything inside the
// detection script's Linux branch stays Bourne-shell syntax (no $(...),
// $((...)), ${#...} or case), since Solaris 10's and Tru64's sh parse the
// whole if before running its else.
func writeLinuxGather(b *strings.Builder, knobs []string) {
	b.WriteString("ft_k=; ft_p=\n")
	for _, k := range knobs {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		fmt.Fprintf(b, "if [ -r %s ]; then ft_k=\"$ft_k %s\"; ft_p=\"$ft_p %s\"; else printf '%%s\\n' '%ssysctl %s' '!missing'; fi\n", p, k, p, sectionMarker, k)
	}
	fmt.Fprintf(b, "printf '%%s\\n' \"%sproc uname boot_id$ft_k sockstat\"\n", sectionMarker)
	b.WriteString("cat /proc/sys/kernel/osrelease /proc/sys/kernel/random/boot_id$ft_p /proc/net/sockstat || echo '!failed'\n")
	fmt.Fprintf(b, "if command -v ss >/dev/null 2>&1; then echo '%slisten ss'; ss -tn state listening || echo '!failed'; "+
		"else echo '%slisten'; awk '$4 == \"0A\" { print $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; fi\n", sectionMarker, sectionMarker)
	b.WriteString("for f in")
	for _, d := range linuxSysctlDirs {
		b.WriteString(" " + d + "/*.conf")
	}
	// Lines are gathered 32 at a time and printed with one printf: a
	// write per line made sshd wake, read and send a packet per line. The
	// count is a for over 32 words, not $((...)), which the Bourne shells
	// the detection script also goes through cannot parse.
	fmt.Fprintf(b, " /etc/sysctl.conf; do if [ -f \"$f\" ] && [ -r \"$f\" ]; then printf '%%s\\n' \"%sfile $f\"; "+
		"ft_l=; ft_e=; while [ -z \"$ft_e\" ]; do ft_b=; for ft_i in%s; do "+
		"if IFS= read -r ft_l; then ft_b=\"$ft_b$ft_l\n\"; else ft_e=1; break; fi; done; printf '%%s' \"$ft_b\"; done <\"$f\"; "+
		"printf '%%s\\n' \"$ft_l\"; fi; done\n", sectionMarker, linuxChunk)
}

// linuxChunk is the for list that counts 32 lines in the gather's copy loop.
const linuxChunk = " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32"

// linuxKnobs lists the knobs the gather script reads: the base knobs, then
// the native ones. Only names fleettune knows go into the shell line; any
// other name is refused by Propose (ValidateNative) without being read.
func linuxKnobs(native []string) []string {
	knobs := append([]string(nil), linuxBaseKnobs...)
	for _, n := range native {
		if !contains(knobs, n) && linuxKnownNative(n) {
			knobs = append(knobs, n)
		}
	}
	return knobs
}

func (d linuxDriver) Gather(ctx context.Context, r Runner, native []string) (*Facts, error) {
	knobs := linuxKnobs(native)
	res, err := r.Run(ctx, linuxGatherScript(knobs))
	if err != nil {
		return nil, fmt.Errorf("read sysctls: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read sysctls: exit status %d: %s", res.ExitCode, firstLine(string(res.Stderr)))
	}
	return parseLinuxOutput(res, knobs)
}

// parseLinuxOutput parses a gather's output; when it does not parse, the
// first line of what the host printed on stderr (cat's or ss's complaint)
// goes with the error.
func parseLinuxOutput(res Result, knobs []string) (*Facts, error) {
	f, err := ParseLinuxFacts(string(res.Stdout), knobs)
	if err != nil && len(res.Stderr) > 0 {
		return nil, fmt.Errorf("%w; stderr: %s", err, firstLine(string(res.Stderr)))
	}
	return f, err
}

// ParseLinuxFacts parses the output of the Linux gather script: the
// "proc" section of one-line kernel files (or, as the script before it
// printed them, one "uname", "boot_id", "sysctl NAME" and "sockstat"
// section each), the listeners from ss ("listen ss") or from /proc/net/tcp
// ("listen"), and the sysctl.d files.
func ParseLinuxFacts(out string, knobs []string) (*Facts, error) {
	f := &Facts{OS: Linux, Knobs: map[string]Knob{}, TimeWait: -1}
	sections := splitSections(out)
	proc, err := parseProcSection(sections)
	if err != nil {
		return nil, err
	}
	get := func(name string) (string, bool) {
		if v, ok := proc[name]; ok {
			return v, true
		}
		return sections.lookup(name)
	}
	uname, _ := get("uname")
	f.Version = strings.TrimSpace(uname)
	bootID, _ := get("boot_id")
	f.BootID = strings.TrimSpace(bootID)
	if f.BootID == "" {
		return nil, fmt.Errorf("read sysctls: no boot id in output (is /proc mounted?)")
	}
	for _, k := range knobs {
		body, ok := get("sysctl " + k)
		if !ok {
			return nil, fmt.Errorf("read sysctls: output has no section for %s", k)
		}
		v := strings.TrimSpace(body)
		if v == "!missing" {
			f.Knobs[k] = Knob{Name: k, Missing: true}
			continue
		}
		f.Knobs[k] = Knob{Name: k, Live: v}
	}
	sockstat, _ := get("sockstat")
	if tw, ok := parseSockstatTW(sockstat); ok {
		f.TimeWait = tw
	}
	var ports []int
	if body, ok := sections.lookup("listen ss"); ok {
		ports, err = parseSSListen(body)
	} else {
		ports, err = parseProcNetListen(sections.get("listen"))
	}
	if err != nil {
		return nil, err
	}
	f.Listening = ports
	f.Exempt = linuxExempt(f)

	// Persisted values: systemd-sysctl semantics over every file read.
	var files []sysctlFile
	for _, s := range sections.all("file ") {
		files = append(files, sysctlFile{Path: strings.TrimPrefix(s.name, "file "), Body: s.body})
		if strings.TrimPrefix(s.name, "file ") == LinuxPersistFile {
			// The gather script echoes a newline after each file so the
			// next marker starts a line; it is not part of the file.
			f.Persisted, f.PersistedExists = strings.TrimSuffix(s.body, "\n"), true
		}
	}
	atBoot := effectiveSysctl(files)
	for k, kn := range f.Knobs {
		if a, ok := atBoot[k]; ok {
			kn.AtBoot, kn.AtBootSet, kn.Source = a.value, true, a.source
			f.Knobs[k] = kn
		}
	}
	return f, nil
}

func (d linuxDriver) Propose(f *Facts, t Targets, g Guardrails) Proposal {
	var p Proposal
	if t.EphemeralPorts != nil {
		p.add(d.proposeRange(f, *t.EphemeralPorts, g))
	}
	if t.TimeWait != nil {
		p.Notes = append(p.Notes, "time_wait: fixed at 60s by the Linux kernel; not changeable at runtime")
	}
	if t.KeepaliveTime != nil {
		if ka := *t.KeepaliveTime; ka < time.Second || ka%time.Second != 0 {
			// The kernel counts whole seconds; truncating would set
			// another value than the playbook asks for.
			p.add(&Change{Setting: string(KeepaliveTime), Knob: linuxKeepalive, Current: secondsString(f.Knobs[linuxKeepalive].Live),
				Target:  ka.String(),
				Refused: fmt.Sprintf("%s counts whole seconds; %s is not a whole number of seconds (give e.g. %s)", linuxKeepalive, ka, max(ka.Round(time.Second), time.Second))}, nil)
		} else {
			secs := int(ka / time.Second)
			p.add(d.proposeInt(f, string(KeepaliveTime), linuxKeepalive, secs, func(v string) string { return secondsString(v) }))
		}
	}
	names := make([]string, 0, len(t.Native))
	for n := range t.Native {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p.add(d.proposeNative(f, n, t.Native[n]))
	}
	// What the operator should know about the knobs fleettune reads but does
	// not change.
	if k, ok := f.Knobs[linuxTwReuse]; ok && !k.Missing && strings.TrimSpace(k.Live) == "0" && t.Native[linuxTwReuse] == "" {
		p.Notes = append(p.Notes, "net.ipv4.tcp_tw_reuse is 0: outgoing connections cannot reuse TIME_WAIT ports (1 helps clients with timestamps on)")
	}
	for _, c := range p.Changes {
		if c.Persist != "" {
			if later := laterOverride(f, c.Knob); later != "" {
				p.Notes = append(p.Notes, fmt.Sprintf("%s is also set in %s, which is read after %s and wins at boot; remove it there", c.Knob, later, LinuxPersistFile))
			}
		}
	}
	p.typeTargets(t)
	return p
}

func (p *Proposal) add(c *Change, notes []string) {
	if c != nil {
		p.Changes = append(p.Changes, *c)
	}
	p.Notes = append(p.Notes, notes...)
}

func (d linuxDriver) proposeRange(f *Facts, want PortRange, g Guardrails) (*Change, []string) {
	k := f.Knobs[linuxPortRange]
	c := Change{Setting: string(EphemeralPorts), Knob: linuxPortRange, Target: want.String()}
	var notes []string
	if k.Missing {
		c.Current = "(missing)"
		c.Refused = "this kernel has no " + linuxPortRange
		return &c, nil
	}
	live, err := parseLinuxRange(k.Live)
	if err != nil {
		c.Current = k.Live
		c.Refused = "cannot parse the live value: " + err.Error()
		return &c, nil
	}
	c.Current, c.Before = live.String(), portsValue(live)
	liveOK := live == want
	bootOK := false
	if k.AtBootSet {
		if b, err := parseLinuxRange(k.AtBoot); err == nil {
			bootOK = b == want
			if b != live {
				c.AtBoot = b.String()
			}
		} else {
			c.AtBoot = k.AtBoot
		}
	} else if !liveOK {
		bootOK = false
	}
	if liveOK && bootOK {
		return nil, nil
	}
	if !k.AtBootSet {
		c.AtBoot = "kernel default"
		if liveOK {
			c.AtBoot = "kernel default (not persisted)"
		}
	}
	if !liveOK {
		c.Commands = []string{fmt.Sprintf("sysctl -w %s='%d %d'", linuxPortRange, want.Low, want.High)}
	}
	c.Persist = fmt.Sprintf("%s: %s = %d %d", LinuxPersistFile, linuxPortRange, want.Low, want.High)

	// Guardrails.
	if u, ok := f.Knobs[linuxUnprivStart]; ok && !u.Missing {
		if start, err := strconv.Atoi(strings.TrimSpace(u.Live)); err == nil && want.Low < start {
			c.Refused = fmt.Sprintf("low end %d is below net.ipv4.ip_unprivileged_port_start (%d); the kernel rejects it", want.Low, start)
		}
	}
	if (want.Low%2 == 0) == (want.High%2 == 0) {
		notes = append(notes, fmt.Sprintf("ephemeral_ports %s: start and end have the same parity; Linux prefers an even number of ports (e.g. %d-%d)", want, want.Low, want.High-1))
	}
	return &c, notes
}

// proposeInt proposes an integer sysctl; show turns the raw value into the
// operator's form.
func (d linuxDriver) proposeInt(f *Facts, setting, knob string, want int, show func(string) string) (*Change, []string) {
	k := f.Knobs[knob]
	c := Change{Setting: setting, Knob: knob, Target: show(strconv.Itoa(want))}
	if k.Missing {
		c.Current = "(missing)"
		c.Refused = "this kernel has no " + knob
		return &c, nil
	}
	c.Current = show(k.Live)
	if n, err := strconv.Atoi(strings.TrimSpace(k.Live)); err == nil && setting == string(KeepaliveTime) {
		c.Before = durationValue(time.Duration(n) * time.Second)
	}
	liveOK := sameInts(k.Live, strconv.Itoa(want))
	bootOK := k.AtBootSet && sameInts(k.AtBoot, strconv.Itoa(want))
	if liveOK && bootOK {
		return nil, nil
	}
	switch {
	case !k.AtBootSet && liveOK:
		c.AtBoot = "kernel default (not persisted)"
	case !k.AtBootSet:
		c.AtBoot = "kernel default"
	case !sameInts(k.AtBoot, k.Live):
		c.AtBoot = show(k.AtBoot)
	}
	if !liveOK {
		c.Commands = []string{fmt.Sprintf("sysctl -w %s=%d", knob, want)}
	}
	c.Persist = fmt.Sprintf("%s: %s = %d", LinuxPersistFile, knob, want)
	return &c, nil
}

func (d linuxDriver) proposeNative(f *Facts, knob, value string) (*Change, []string) {
	if err := ValidateNative(Linux, knob, value); err != nil {
		return &Change{Setting: "native", Knob: knob, Target: value, Refused: err.Error()}, nil
	}
	k := f.Knobs[knob]
	c := Change{Setting: "native", Knob: knob, Target: normalizeSpaces(value)}
	if k.Missing {
		c.Current = "(missing)"
		c.Refused = "this kernel has no " + knob
		return &c, nil
	}
	c.Current = normalizeSpaces(k.Live)
	before := c.Current
	c.Before = &Value{Native: &before}
	same := func(a, b string) bool { return normalizeSpaces(a) == normalizeSpaces(b) }
	if knob == linuxReservedPorts {
		same = func(a, b string) bool { return samePortList(a, b) }
	}
	liveOK := same(k.Live, value)
	bootOK := k.AtBootSet && same(k.AtBoot, value)
	if liveOK && bootOK {
		return nil, nil
	}
	switch {
	case !k.AtBootSet && liveOK:
		c.AtBoot = "kernel default (not persisted)"
	case !k.AtBootSet:
		c.AtBoot = "kernel default"
	case !same(k.AtBoot, k.Live):
		c.AtBoot = normalizeSpaces(k.AtBoot)
	}
	if knob == linuxMaxTwBuckets {
		cur, err1 := strconv.Atoi(strings.TrimSpace(k.Live))
		want, err2 := strconv.Atoi(strings.TrimSpace(value))
		if err1 == nil && err2 == nil && want < cur {
			c.Refused = fmt.Sprintf("lowering %s (%d to %d) destroys TIME_WAIT sockets early; the kernel documentation says never to lower it", knob, cur, want)
		}
	}
	if !liveOK {
		c.Commands = []string{fmt.Sprintf("sysctl -w %s='%s'", knob, normalizeSpaces(value))}
	}
	c.Persist = fmt.Sprintf("%s: %s = %s", LinuxPersistFile, knob, normalizeSpaces(value))
	return &c, nil
}

const linuxMaxTwBuckets = "net.ipv4.tcp_max_tw_buckets"

// laterOverride names a persisted file that sets knob and is read after
// fleettune's own file, so it would win at boot.
func laterOverride(f *Facts, knob string) string {
	k := f.Knobs[knob]
	if !k.AtBootSet {
		return ""
	}
	file, _, _ := strings.Cut(k.Source, ":")
	if file == LinuxPersistFile {
		return ""
	}
	if file == "/etc/sysctl.conf" || path.Base(file) > path.Base(LinuxPersistFile) {
		return k.Source
	}
	return ""
}

// linuxExempt reports the listeners net.ipv4.ip_local_reserved_ports keeps
// out of ephemeral use.
func linuxExempt(f *Facts) []ExemptPorts {
	k, ok := f.Knobs[linuxReservedPorts]
	if !ok || k.Missing {
		return nil
	}
	set := parsePortList(k.Live)
	return exemptListeners(f.Listening, ExemptReserved, nil, func(p int) bool { return set[p] })
}

// parseLinuxRange parses "32768\t60999" (any whitespace).
func parseLinuxRange(s string) (PortRange, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return PortRange{}, fmt.Errorf("expected two ports, got %q", s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("expected two ports, got %q", s)
	}
	return PortRange{lo, hi}, nil
}

// LinuxRangeValue renders a range as sysctl writes it.
func LinuxRangeValue(r PortRange) string { return fmt.Sprintf("%d %d", r.Low, r.High) }

func secondsString(v string) string {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return strings.TrimSpace(v)
	}
	return (time.Duration(n) * time.Second).String()
}

func sameInts(a, b string) bool {
	x, err1 := strconv.Atoi(strings.TrimSpace(a))
	y, err2 := strconv.Atoi(strings.TrimSpace(b))
	return err1 == nil && err2 == nil && x == y
}

func normalizeSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }

func parsePortList(s string) map[int]bool {
	set := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		l, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			continue
		}
		h := l
		if isRange {
			if h, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				continue
			}
		}
		for p := l; p <= h && p <= 65535; p++ {
			set[p] = true
		}
	}
	return set
}

func samePortList(a, b string) bool {
	x, y := parsePortList(a), parsePortList(b)
	if len(x) != len(y) {
		return false
	}
	for p := range x {
		if !y[p] {
			return false
		}
	}
	return true
}

// parseSockstatTW reads the "tw" count from /proc/net/sockstat.
func parseSockstatTW(s string) (int, bool) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				n, err := strconv.Atoi(f[i+1])
				return n, err == nil
			}
		}
	}
	return 0, false
}

// parseProcNetListen takes the local_address column ("0100007F:0016") of the
// LISTEN rows of /proc/net/tcp and tcp6 and returns the ports.
func parseProcNetListen(s string) ([]int, error) {
	var ports []int
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ':')
		if i < 0 {
			return nil, fmt.Errorf("read listeners: unexpected address %q", line)
		}
		p, err := strconv.ParseUint(line[i+1:], 16, 16)
		if err != nil {
			return nil, fmt.Errorf("read listeners: unexpected port in %q", line)
		}
		ports = append(ports, int(p))
	}
	return uniqueSorted(ports), nil
}

// parseProcSection maps the names of the "proc" section ("proc uname
// boot_id sysctl-names... sockstat") to their bodies: one line each, in
// order, and the rest of the section for the last name. nil when the
// output has no such section (the older script's form).
func parseProcSection(s sections) (map[string]string, error) {
	var sec *section
	for i := range s {
		if strings.HasPrefix(s[i].name, "proc ") {
			sec = &s[i]
			break
		}
	}
	if sec == nil {
		return nil, nil
	}
	names := strings.Fields(strings.TrimPrefix(sec.name, "proc "))
	body := sec.body
	if strings.HasSuffix("\n"+body, "\n!failed\n") { // the script's `cat ... || echo '!failed'`
		return nil, fmt.Errorf("read sysctls: cat of the /proc files failed")
	}
	vals := make(map[string]string, len(names))
	for i, n := range names {
		if i == len(names)-1 {
			vals[n] = body
			break
		}
		line, rest, ok := strings.Cut(body, "\n")
		if !ok {
			return nil, fmt.Errorf("read sysctls: the /proc section has %d lines for %d files", i, len(names)-1)
		}
		if n != "uname" && n != "boot_id" {
			n = "sysctl " + n
		}
		vals[n], body = line, rest
	}
	return vals, nil
}

// parseSSListen takes the output of `ss -tn state listening` (iproute2; a
// header line, then Recv-Q Send-Q Local:Port Peer:Port, with a State column
// first in some versions) and returns the listening ports. The local
// address is the first field with a colon: 127.0.0.1:22, [::1]:30080,
// *:80, 127.0.0.53%lo:53.
func parseSSListen(s string) ([]int, error) {
	var ports []int
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "Recv-Q" || f[0] == "State" || f[0] == "Netid" {
			continue
		}
		if f[0] == "!failed" {
			return nil, fmt.Errorf("read listeners: ss -tn state listening failed")
		}
		local := ""
		for _, x := range f {
			if strings.Contains(x, ":") {
				local = x
				break
			}
		}
		i := strings.LastIndexByte(local, ':')
		if i < 0 {
			return nil, fmt.Errorf("read listeners: unexpected ss line %q", line)
		}
		p, err := strconv.ParseUint(local[i+1:], 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("read listeners: unexpected port in ss line %q", line)
		}
		ports = append(ports, int(p))
	}
	return uniqueSorted(ports), nil
}

type sysctlFile struct{ Path, Body string }

type sysctlValue struct{ value, source string }

// effectiveSysctl computes what systemd-sysctl (and procps sysctl --system)
// would set at boot from the given files: per file name, the first directory
// in linuxSysctlDirs wins; files apply in name order; /etc/sysctl.conf last;
// a later assignment overrides an earlier one.
func effectiveSysctl(files []sysctlFile) map[string]sysctlValue {
	byName := map[string]sysctlFile{}
	var etcConf *sysctlFile
	for i, f := range files {
		if f.Path == "/etc/sysctl.conf" {
			etcConf = &files[i]
			continue
		}
		name := path.Base(f.Path)
		if prev, ok := byName[name]; ok && dirRank(prev.Path) <= dirRank(f.Path) {
			continue
		}
		byName[name] = f
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string]sysctlValue{}
	apply := func(f sysctlFile) {
		for i, line := range strings.Split(f.Body, "\n") {
			k, v, ok := parseSysctlLine(line)
			if ok {
				out[k] = sysctlValue{value: v, source: fmt.Sprintf("%s:%d", f.Path, i+1)}
			}
		}
	}
	for _, n := range names {
		apply(byName[n])
	}
	if etcConf != nil {
		apply(*etcConf)
	}
	return out
}

func dirRank(p string) int {
	d := path.Dir(p)
	for i, x := range linuxSysctlDirs {
		if x == d {
			return i
		}
	}
	return len(linuxSysctlDirs)
}

// parseSysctlLine parses one sysctl.d line (sysctl.d(5)): comments start
// with # or ;, a leading - ignores failures, keys may use / as separator.
func parseSysctlLine(line string) (key, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == ';' {
		return "", "", false
	}
	k, v, found := strings.Cut(line, "=")
	if !found {
		return "", "", false
	}
	k = strings.TrimPrefix(strings.TrimSpace(k), "-")
	if i := strings.IndexAny(k, "./"); i >= 0 && k[i] == '/' {
		// sysctl.d(5): when the first separator is a slash, slashes and
		// dots swap ("net/ipv4/conf/eth0.100/x" is net.ipv4.conf.eth0/100.x).
		k = strings.Map(func(r rune) rune {
			switch r {
			case '/':
				return '.'
			case '.':
				return '/'
			}
			return r
		}, k)
	}
	return k, strings.TrimSpace(v), k != ""
}

type section struct{ name, body string }
type sections []section

// sectionMarker starts a line that opens a section of gather output; no
// sysctl or config file can plausibly contain it at the start of a line.
const sectionMarker = "@@fleettune@@ "

// splitSections splits marker-delimited output into named sections. It is
// linear in the size of out: each body is a slice of out, never built up by
// appending line by line (which made a 50 MB file quadratic).
func splitSections(out string) sections {
	var s sections
	out = strings.ReplaceAll(out, "\r\n", "\n")
	start := -1 // where the open section's body starts
	for pos := 0; pos < len(out); {
		end := strings.IndexByte(out[pos:], '\n')
		next := len(out)
		if end >= 0 {
			next = pos + end + 1
		}
		if line := out[pos:next]; strings.HasPrefix(line, sectionMarker) {
			if start >= 0 {
				s[len(s)-1].body = out[start:pos]
			}
			s = append(s, section{name: strings.TrimSpace(line[len(sectionMarker):])})
			start = next
		}
		pos = next
	}
	if start >= 0 {
		s[len(s)-1].body = out[start:]
	}
	return s
}

func (s sections) lookup(name string) (string, bool) {
	for _, x := range s {
		if x.name == name {
			return x.body, true
		}
	}
	return "", false
}

func (s sections) get(name string) string { b, _ := s.lookup(name); return b }

func (s sections) all(prefix string) []section {
	var out []section
	for _, x := range s {
		if strings.HasPrefix(x.name, prefix) {
			out = append(out, x)
		}
	}
	return out
}

// linuxKnownNative reports whether n is a Linux native knob fleettune
// accepts or knowingly refuses, i.e. a constant name safe to read.
func linuxKnownNative(n string) bool {
	_, known := nativeKnobs[Linux][n]
	_, refused := refusedKnobs[Linux][n]
	return known || refused
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// LinuxGatherScript is the command Gather runs on a Linux host for the given
// native knobs; the testdata fixtures are its output captured on real hosts.
func LinuxGatherScript(native []string) string {
	return linuxGatherScript(linuxKnobs(native))
}
