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

// Tru64 UNIX inet subsystem attributes fleettune manages (sys_attrs_inet(5)).
// Units: tcp_msl and tcp_keepidle count half-seconds; TIME_WAIT is two MSLs,
// so TIME_WAIT in seconds equals tcp_msl (platforms.md §6.1).
const (
	tru64PortMin   = "ipport_userreserved_min"
	tru64PortMax   = "ipport_userreserved"
	tru64MSL       = "tcp_msl"
	tru64KeepIdle  = "tcp_keepidle"
	tru64Subsystem = "inet"

	// Tru64SysconfigTab is where sysconfigdb keeps the attribute values
	// the kernel reads at boot.
	Tru64SysconfigTab = "/etc/sysconfigtab"
	// tru64StanzaDir is the private directory (mode 0700) the stanza file
	// fleettune hands to sysconfigdb lives in, and tru64StanzaFile that
	// file. mkdir refuses any existing path and never follows a link, so a
	// name a local user planted in /tmp stops the apply instead of having
	// root write through it (platforms.md, corrections).
	tru64StanzaDir  = "/tmp/fleettune-inet.d"
	tru64StanzaFile = tru64StanzaDir + "/inet.stanza"
	// tru64StanzaKey names the inet stanza in Snapshot.Files.
	tru64StanzaKey = Tru64SysconfigTab + " (inet:)"

	tru64HalfSecond = 500 * time.Millisecond
)

// tru64Attrs are the attributes the gather script reads, in this order.
var tru64Attrs = []string{tru64PortMin, tru64PortMax, tru64MSL, tru64KeepIdle}

// tru64Revisions maps "uname -r" plus the revision "uname -v" prints to the
// release name operators use (V5.1B is "V5.1" with revision 2650).
var tru64Revisions = map[string]string{
	"V4.0 1229": "V4.0F",
	"V4.0 1530": "V4.0G",
	"V5.1 732":  "V5.1",
	"V5.1 1885": "V5.1A",
	"V5.1 2650": "V5.1B",
}

type tru64Driver struct{}

func (tru64Driver) OS() string { return Tru64 }

// Capabilities: see Driver.
func (tru64Driver) Capabilities() Capabilities { return Capabilities{Counters: true} }

// Counters reads the TCP statistics with BSDCountersCommand.
func (tru64Driver) Counters(ctx context.Context, r Runner) (Counters, error) {
	return bsdCounters(ctx, r)
}

// Thresholds returns a copy of the defaults for netstat -p tcp's counters.
func (tru64Driver) Thresholds() map[string]int64 { return maps.Clone(bsdThresholds) }

// Tru64GatherScript is the one command Gather runs. Every section captures
// its command's stderr and marks a failing command with a "!failed" line, so
// an error is seen in the section it belongs to.
func Tru64GatherScript() string { return cachedTru64GatherScript() }

var cachedTru64GatherScript = sync.OnceValue(func() string {
	attrs := strings.Join(tru64Attrs, " ")
	var b strings.Builder
	section := func(name, cmd string) {
		fmt.Fprintf(&b, "echo '%s%s'; %s 2>&1 || echo '!failed'", sectionMarker, name, cmd)
		if strings.HasPrefix(cmd, "cat ") {
			b.WriteString("; echo")
		}
		b.WriteString("\n")
	}
	// A file need not end in a newline; the echo after cat makes sure the
	// next marker starts a line.
	section("uname", "uname -rv")
	section("boot", "who -b")
	section("query", "sysconfig -q inet "+attrs)
	section("flags", "sysconfig -Q inet "+attrs)
	section("sysconfigtab", "cat "+Tru64SysconfigTab)
	// Only LISTEN rows and the TIME_WAIT count are read: the host filters.
	// The section's status is awk's, so a failing netstat shows as its
	// message without the table (parseFilteredBSDNetstat refuses that).
	section("netstat", "netstat -an 2>&1 | "+netstatFilter("$NF"))
	return b.String()
})

func (d tru64Driver) Gather(ctx context.Context, r Runner, native []string) (*Facts, error) {
	// native names are never read: Tru64 accepts no native knobs yet, and
	// Propose refuses them through ValidateNative.
	res, err := r.Run(ctx, Tru64GatherScript())
	if err != nil {
		return nil, fmt.Errorf("read inet attributes: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read inet attributes: exit status %d: %s", res.ExitCode, firstLine(string(res.Stderr)))
	}
	return ParseTru64Facts(outputText(res.Stdout))
}

// tru64Section returns a section's body, or an error naming the command's
// first output line when the command failed.
func tru64Section(s sections, name string) (string, error) {
	body, ok := s.lookup(name)
	if !ok {
		return "", fmt.Errorf("output has no %s section", name)
	}
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "!failed" {
		msg := firstLine(strings.Join(lines[:len(lines)-1], "\n"))
		if msg == "" {
			msg = "failed with no message"
		}
		return body, fmt.Errorf("%s: %s", name, msg)
	}
	return body, nil
}

// ParseTru64Facts parses the output of Tru64GatherScript.
func ParseTru64Facts(out string) (*Facts, error) {
	f := &Facts{OS: Tru64, Knobs: map[string]Knob{}, TimeWait: -1}
	s := splitSections(out)

	uname, err := tru64Section(s, "uname")
	if err != nil {
		return nil, fmt.Errorf("read inet attributes: %w", err)
	}
	f.Version = tru64Version(uname)

	boot, err := tru64Section(s, "boot")
	if err != nil {
		return nil, fmt.Errorf("read boot time: %w", err)
	}
	f.BootID = strings.TrimSpace(firstLine(boot))
	if !strings.Contains(f.BootID, "system boot") {
		return nil, fmt.Errorf("read boot time: who -b printed %q, expected a \"system boot\" line", f.BootID)
	}

	query, err := tru64Section(s, "query")
	if err != nil {
		return nil, fmt.Errorf("read inet attributes: sysconfig -q: %w", err)
	}
	live, err := ParseSysconfigQuery(query, tru64Subsystem)
	if err != nil {
		return nil, fmt.Errorf("read inet attributes: %w", err)
	}

	tab, err := tru64Section(s, "sysconfigtab")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", Tru64SysconfigTab, err)
	}
	stanza, exists := SysconfigtabStanza(tab, tru64Subsystem)
	f.Persisted, f.PersistedExists = stanza, exists
	persisted := parseStanzaAttrs(stanza)

	for _, a := range tru64Attrs {
		v, ok := live[a]
		switch {
		case !ok:
			return nil, fmt.Errorf("read inet attributes: sysconfig -q printed no value for %s", a)
		case v == "unknown attribute":
			f.Knobs[a] = Knob{Name: a, Missing: true}
			continue
		}
		k := Knob{Name: a, Live: v}
		if p, ok := persisted[a]; ok {
			k.AtBoot, k.AtBootSet, k.Source = p.value, true, fmt.Sprintf("%s:%d (inet:)", Tru64SysconfigTab, p.line)
		}
		f.Knobs[a] = k
	}
	// Run-time settability and bounds ride in the knob map under
	// "<attr>#flags", as sysconfig -Q printed them; a knob without such an
	// entry is treated as not run-time settable.
	//
	// sysconfig -Q's layout is known only from documentation: output it
	// does not understand is not an error but the safe answer, every
	// attribute needing a reboot, with the reason kept for a note.
	if flags, err := tru64Section(s, "flags"); err == nil {
		q, err := ParseSysconfigFlags(flags, tru64Subsystem)
		if err != nil {
			f.Knobs[tru64FlagsUnread] = Knob{Name: tru64FlagsUnread, Live: err.Error()}
		}
		for a, fl := range q {
			if _, known := f.Knobs[a]; known {
				f.Knobs[a+tru64FlagsSuffix] = Knob{Name: a + tru64FlagsSuffix, Live: fl.String()}
			}
		}
	}

	ns, err := tru64Section(s, "netstat")
	if err != nil {
		return nil, fmt.Errorf("read sockets: %w", err)
	}
	f.Listening, f.TimeWait, err = ParseTru64Netstat(ns)
	if err != nil {
		return nil, err
	}
	return f, nil
}

const tru64FlagsSuffix = "#flags"

// tru64FlagsUnread is the pseudo-knob that says sysconfig -Q's output was
// not understood (Live: why); every attribute then needs a reboot.
const tru64FlagsUnread = "inet#flags-unread"

func tru64Version(uname string) string {
	fields := strings.Fields(firstLine(uname))
	switch len(fields) {
	case 0:
		return ""
	case 1:
		return fields[0]
	}
	if v, ok := tru64Revisions[fields[0]+" "+fields[1]]; ok {
		return v
	}
	return fmt.Sprintf("%s (rev. %s)", fields[0], fields[1])
}

// ParseSysconfigQuery parses `sysconfig -q SUBSYS attr...`: a "SUBSYS:"
// header, then "attr = value" lines. An attribute the kernel does not have
// reads "attr = unknown attribute".
func ParseSysconfigQuery(out, subsys string) (map[string]string, error) {
	vals := map[string]string{}
	header := false
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if t == subsys+":" {
			header = true
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok || !header {
			return nil, fmt.Errorf("sysconfig -q %s: unexpected line %q", subsys, t)
		}
		vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if !header {
		return nil, fmt.Errorf("sysconfig -q %s: no %q header in output", subsys, subsys+":")
	}
	return vals, nil
}

// sysconfigFlags is one attribute's line of `sysconfig -Q`.
type sysconfigFlags struct {
	Type     string
	Ops      string // C configure, R run-time reconfigure, Q query
	Min, Max int64
	HasRange bool
}

// Runtime reports whether sysconfig -r may change the attribute.
func (s sysconfigFlags) Runtime() bool { return strings.Contains(s.Ops, "R") }

func (s sysconfigFlags) String() string {
	out := fmt.Sprintf("type=%s op=%s", s.Type, s.Ops)
	if s.HasRange {
		out += fmt.Sprintf(" min_val=%d max_val=%d", s.Min, s.Max)
	}
	return out
}

// ParseSysconfigFlags parses `sysconfig -Q SUBSYS attr...`: a "SUBSYS:"
// header, then "attr - type=INT op=CRQ min_val=0 max_val=65535" lines.
func ParseSysconfigFlags(out, subsys string) (map[string]sysconfigFlags, error) {
	res := map[string]sysconfigFlags{}
	header := false
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if t == subsys+":" {
			header = true
			continue
		}
		name, rest, ok := strings.Cut(t, " - ")
		if !ok || !header {
			return nil, fmt.Errorf("sysconfig -Q %s: unexpected line %q", subsys, t)
		}
		var fl sysconfigFlags
		var haveMin, haveMax bool
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "type":
				fl.Type = v
			case "op":
				fl.Ops = v
			case "min_val":
				n, err := strconv.ParseInt(v, 10, 64)
				fl.Min, haveMin = n, err == nil
			case "max_val":
				n, err := strconv.ParseInt(v, 10, 64)
				fl.Max, haveMax = n, err == nil
			}
		}
		fl.HasRange = haveMin && haveMax
		res[strings.TrimSpace(name)] = fl
	}
	if !header {
		return nil, fmt.Errorf("sysconfig -Q %s: no %q header in output", subsys, subsys+":")
	}
	return res, nil
}

// SysconfigtabStanza returns the stanza for subsys from /etc/sysconfigtab
// content, normalised: "subsys:\n" then one "\tattr = value\n" per
// attribute, in file order. Comments and blank lines are dropped.
func SysconfigtabStanza(tab, subsys string) (string, bool) {
	var b strings.Builder
	in, found := false, false
	for _, line := range strings.Split(strings.ReplaceAll(tab, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if !indented && strings.HasSuffix(t, ":") && !strings.Contains(t, "=") {
			in = strings.TrimSuffix(t, ":") == subsys
			if in && !found {
				found = true
				b.WriteString(subsys + ":\n")
			}
			continue
		}
		if in {
			if k, v, ok := strings.Cut(t, "="); ok {
				fmt.Fprintf(&b, "\t%s = %s\n", strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
	}
	return b.String(), found
}

type stanzaValue struct {
	value string
	line  int // line within the normalised stanza, 1 = header
}

// parseStanzaAttrs reads a normalised stanza; a later line for the same
// attribute wins.
func parseStanzaAttrs(stanza string) map[string]stanzaValue {
	out := map[string]stanzaValue{}
	for i, line := range strings.Split(stanza, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && i > 0 {
			out[strings.TrimSpace(k)] = stanzaValue{strings.TrimSpace(v), i + 1}
		}
	}
	return out
}

// stanzaOrder lists a normalised stanza's attributes in file order, once.
func stanzaOrder(stanza string) []string {
	var names []string
	seen := map[string]bool{}
	for i, line := range strings.Split(stanza, "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && i > 0 {
			k = strings.TrimSpace(k)
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	return names
}

// ParseTru64Netstat reads `netstat -an`: the TCP ports in LISTEN and the
// number of TIME_WAIT sockets (the BSD layout HP-UX and AIX share), from
// the gather's filtered table or netstat's own.
func ParseTru64Netstat(out string) (listening []int, timeWait int, err error) {
	return parseFilteredBSDNetstat(out)
}

// tru64Want is one attribute value a target needs.
type tru64Want struct {
	attr  string
	value int
}

// tru64Wants maps an abstract setting's target (operator form) to attribute
// values, or says why Tru64 cannot express it.
func tru64Wants(setting string, target Value) ([]tru64Want, error) {
	switch Setting(setting) {
	case EphemeralPorts:
		if target.Ports == nil {
			return nil, fmt.Errorf("ephemeral_ports: %q is not a port range", target)
		}
		r := *target.Ports
		return []tru64Want{{tru64PortMin, r.Low}, {tru64PortMax, r.High}}, nil
	case TimeWait:
		if target.Duration == nil {
			return nil, fmt.Errorf("time_wait: %q is not a duration", target)
		}
		d := *target.Duration
		if d <= 0 || d%time.Second != 0 {
			return nil, fmt.Errorf("Tru64 sets TIME_WAIT in whole seconds (tcp_msl counts half-seconds and TIME_WAIT is two MSLs); %s is not", d)
		}
		return []tru64Want{{tru64MSL, int(d / time.Second)}}, nil
	case KeepaliveTime:
		if target.Duration == nil {
			return nil, fmt.Errorf("keepalive_time: %q is not a duration", target)
		}
		d := *target.Duration
		if d <= 0 || d%tru64HalfSecond != 0 {
			return nil, fmt.Errorf("Tru64 sets keepalive idle in half-seconds; %s is not a multiple of 500ms", d)
		}
		return []tru64Want{{tru64KeepIdle, int(d / tru64HalfSecond)}}, nil
	}
	return nil, fmt.Errorf("setting %q is not managed on Tru64", setting)
}

// tru64Show renders attribute values in the operator's form.
func tru64Show(setting string, vals map[string]int) string {
	switch Setting(setting) {
	case EphemeralPorts:
		return PortRange{vals[tru64PortMin], vals[tru64PortMax]}.String()
	case TimeWait:
		return (time.Duration(vals[tru64MSL]) * time.Second).String()
	case KeepaliveTime:
		return (time.Duration(vals[tru64KeepIdle]) * tru64HalfSecond).String()
	}
	return ""
}

func tru64KnobName(wants []tru64Want) string {
	names := make([]string, len(wants))
	for i, w := range wants {
		names[i] = w.attr
	}
	return strings.Join(names, ",")
}

func tru64Flags(f *Facts, attr string) (sysconfigFlags, bool) {
	k, ok := f.Knobs[attr+tru64FlagsSuffix]
	if !ok {
		return sysconfigFlags{}, false
	}
	fl, err := ParseSysconfigFlags("inet:\n"+attr+" - "+k.Live, tru64Subsystem)
	if err != nil {
		return sysconfigFlags{}, false
	}
	return fl[attr], true
}

func tru64Runtime(f *Facts, attr string) bool {
	fl, ok := tru64Flags(f, attr)
	return ok && fl.Runtime()
}

// tru64Step is what one change needs on a host: the sysconfig -r
// assignments, whether the stanza must be merged, and the attributes only a
// reboot brings into force.
type tru64Step struct {
	runtime  []tru64Want
	persist  bool
	bootOnly []string
	liveOK   bool
	bootOK   bool
}

func tru64Plan(f *Facts, wants []tru64Want) tru64Step {
	st := tru64Step{liveOK: true, bootOK: true}
	for _, w := range wants {
		k := f.Knobs[w.attr]
		want := strconv.Itoa(w.value)
		liveOK := sameInts(k.Live, want)
		bootOK := k.AtBootSet && sameInts(k.AtBoot, want)
		st.liveOK = st.liveOK && liveOK
		st.bootOK = st.bootOK && bootOK
		if !bootOK {
			st.persist = true
		}
		if !liveOK {
			if tru64Runtime(f, w.attr) {
				st.runtime = append(st.runtime, w)
			} else {
				st.bootOnly = append(st.bootOnly, w.attr)
			}
		}
	}
	// Moving the range up past its old top: raise the top first, so the
	// kernel never sees low > high between the two assignments.
	if len(st.runtime) == 2 && st.runtime[0].attr == tru64PortMin {
		if hi, err := strconv.Atoi(strings.TrimSpace(f.Knobs[tru64PortMax].Live)); err == nil && st.runtime[0].value > hi {
			st.runtime[0], st.runtime[1] = st.runtime[1], st.runtime[0]
		}
	}
	return st
}

func sysconfigR(ws []tru64Want) string {
	var b strings.Builder
	b.WriteString("sysconfig -r inet")
	for _, w := range ws {
		fmt.Fprintf(&b, " %s=%d", w.attr, w.value)
	}
	return b.String()
}

func tru64PersistText(ws []tru64Want) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s = %d", w.attr, w.value)
	}
	return "sysconfigdb -m inet: " + strings.Join(parts, ", ")
}

func (d tru64Driver) Propose(f *Facts, t Targets, g Guardrails) Proposal {
	var p Proposal
	if t.EphemeralPorts != nil {
		p.add(d.propose(f, string(EphemeralPorts), Value{Ports: t.EphemeralPorts}, g))
	}
	if t.TimeWait != nil {
		p.add(d.propose(f, string(TimeWait), Value{Duration: t.TimeWait}, g))
	}
	if t.KeepaliveTime != nil {
		p.add(d.propose(f, string(KeepaliveTime), Value{Duration: t.KeepaliveTime}, g))
	}
	p.Changes = append(p.Changes, refuseNative(Tru64, t)...)
	if why := f.Knobs[tru64FlagsUnread].Live; why != "" && len(p.Changes) > 0 {
		p.Notes = append(p.Notes, "the layout of sysconfig -Q was not understood ("+why+"): every attribute is taken to need a reboot, and the kernel's bounds are not checked before the reboot")
	}
	p.typeTargets(t)
	return p
}

func (d tru64Driver) propose(f *Facts, setting string, target Value, g Guardrails) (*Change, []string) {
	c := Change{Setting: setting, Target: target.String()}
	wants, err := tru64Wants(setting, target)
	if err != nil {
		c.Refused = err.Error()
		return &c, nil
	}
	c.Knob = tru64KnobName(wants)
	live, boot := map[string]int{}, map[string]int{}
	allBoot := true
	for _, w := range wants {
		k, ok := f.Knobs[w.attr]
		if !ok || k.Missing {
			c.Current = "(missing)"
			c.Refused = "this kernel has no inet attribute " + w.attr + " (sysconfig -q says unknown attribute)"
			return &c, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(k.Live))
		if err != nil {
			c.Current = k.Live
			c.Refused = fmt.Sprintf("cannot parse the live value of %s: %q", w.attr, k.Live)
			return &c, nil
		}
		live[w.attr] = n
		if b, err := strconv.Atoi(strings.TrimSpace(k.AtBoot)); k.AtBootSet && err == nil {
			boot[w.attr] = b
		} else {
			allBoot = false
		}
	}
	c.Current = tru64Show(setting, live)
	switch Setting(setting) {
	case EphemeralPorts:
		c.Before = portsValue(PortRange{live[tru64PortMin], live[tru64PortMax]})
	case TimeWait:
		// TIME_WAIT is two MSLs of tcp_msl half-seconds: tcp_msl seconds.
		c.Before = durationValue(time.Duration(live[tru64MSL]) * time.Second)
	case KeepaliveTime:
		c.Before = durationValue(time.Duration(live[tru64KeepIdle]) * tru64HalfSecond)
	}
	st := tru64Plan(f, wants)
	if st.liveOK && st.bootOK {
		return nil, nil
	}
	switch {
	case !allBoot && st.liveOK:
		c.AtBoot = "kernel default (not persisted)"
	case !allBoot:
		c.AtBoot = "kernel default"
	default:
		if b := tru64Show(setting, boot); b != c.Current {
			c.AtBoot = b
		}
	}
	if len(st.runtime) > 0 {
		c.Commands = []string{sysconfigR(st.runtime)}
	}
	if st.persist {
		c.Persist = tru64PersistText(wants)
	}
	if len(st.bootOnly) > 0 {
		c.RebootRequired = true
		c.RebootReason = strings.Join(st.bootOnly, ", ") + " is not run-time settable; takes effect at the next boot"
	}

	// Guardrails and bounds.
	for _, w := range wants {
		if fl, ok := tru64Flags(f, w.attr); ok && fl.HasRange && (int64(w.value) < fl.Min || int64(w.value) > fl.Max) {
			c.Refused = fmt.Sprintf("%s = %d is outside what the kernel accepts (%d-%d, sysconfig -Q)", w.attr, w.value, fl.Min, fl.Max)
			return &c, nil
		}
	}
	var notes []string
	if Setting(setting) == EphemeralPorts {
		if r := (PortRange{wants[0].value, wants[1].value}); r.Low < 1024 {
			c.Refused = fmt.Sprintf("low end %d is a privileged port; Tru64 ephemeral ports must start at 1024 or above", r.Low)
		}
	}
	if Setting(setting) == TimeWait {
		notes = append(notes, fmt.Sprintf("time_wait: Tru64 keeps TIME_WAIT for two MSLs; tcp_msl = %d half-seconds gives %s", wants[0].value, target))
	}
	return &c, notes
}

// The writing half (Applier).

// tru64AttrName is what an attribute name must look like before it goes
// into a command line; names come from tru64Attrs, this is the belt to those
// braces.
var tru64AttrName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func tru64Known(attr string) bool {
	return contains(tru64Attrs, attr) && tru64AttrName.MatchString(attr)
}

// Snapshot records, for every attribute the changes touch, its live value
// and its value in the inet stanza of /etc/sysconfigtab, and the stanza
// itself (nil: there was no inet stanza).
func (tru64Driver) Snapshot(f *Facts, changes []Change) Snapshot {
	s := Snapshot{Knobs: map[string]KnobState{}, Files: map[string]*string{}}
	for _, c := range changes {
		for _, a := range strings.Split(c.Knob, ",") {
			if !tru64Known(a) {
				continue
			}
			k := f.Knobs[a]
			s.Knobs[a] = stateOf(k)
		}
	}
	s.persistedFile(tru64StanzaKey, f)
	return s
}

// tru64WriteStanza makes the private directory tru64StanzaDir (failing
// when anything is at that path), writes a stanza file in it with printf,
// whose format carries the newlines and tabs (names and integers only, so
// no % or quote can occur), runs sysconfigdb with op (-m merge, -u replace)
// and removes the file and the directory. When sysconfigdb fails they stay
// behind, and the next apply stops at mkdir until an operator has looked.
func tru64WriteStanza(op string, ws []tru64Want, keep []string) string {
	var b strings.Builder
	b.WriteString("inet:\\n")
	for _, line := range keep {
		b.WriteString("\\t" + line + "\\n")
	}
	for _, w := range ws {
		fmt.Fprintf(&b, "\\t%s = %d\\n", w.attr, w.value)
	}
	return fmt.Sprintf("mkdir -m 700 %s && printf '%s' > %s && sysconfigdb %s -f %s inet && rm -f %s && rmdir %s",
		tru64StanzaDir, b.String(), tru64StanzaFile, op, tru64StanzaFile, tru64StanzaFile, tru64StanzaDir)
}

// ApplyCommands returns, per change, the sysconfig -r of the run-time
// settable attributes that differ, then one sysconfigdb -m that merges
// every persisted value into the inet stanza (other attributes of the
// stanza are kept by the merge). Commands are rebuilt from the change's
// typed target, never copied from it.
func (tru64Driver) ApplyCommands(f *Facts, changes []Change) ([]string, error) {
	var cmds []string
	var persist []tru64Want
	for _, c := range changes {
		if c.Refused != "" {
			return nil, fmt.Errorf("%s: refused: %s", c.Knob, c.Refused)
		}
		if c.After == nil {
			return nil, fmt.Errorf("%s: the change has no typed target (make changes with Propose)", c.Knob)
		}
		wants, err := tru64Wants(c.Setting, *c.After)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Setting, err)
		}
		if tru64KnobName(wants) != c.Knob {
			return nil, fmt.Errorf("%s: change names %q, expected %q", c.Setting, c.Knob, tru64KnobName(wants))
		}
		st := tru64Plan(f, wants)
		if len(c.Commands) > 0 && len(st.runtime) > 0 {
			cmds = append(cmds, sysconfigR(st.runtime))
		}
		if c.Persist != "" {
			persist = append(persist, wants...)
		}
	}
	if len(persist) > 0 {
		cmds = append(cmds, tru64WriteStanza("-m", persist, nil))
	}
	return cmds, nil
}

// RestoreCommands put the run-time settable attributes of snap back with
// sysconfig -r, and the inet stanza back attribute by attribute: values are
// merged back (sysconfigdb -m); an attribute the stanza did not have is
// removed by replacing the stanza with itself minus that attribute
// (sysconfigdb -u), or by removing the stanza (sysconfigdb -r) when
// fleettune created it and nothing else is left in it. Other attributes of
// the stanza are kept as they are now.
func (tru64Driver) RestoreCommands(f *Facts, snap Snapshot) ([]string, error) {
	var cmds []string
	var live []tru64Want
	cur := parseStanzaAttrs(f.Persisted)
	var set []tru64Want
	remove := map[string]bool{}
	for _, a := range sortedKnobs(snap) {
		if !tru64Known(a) {
			return nil, fmt.Errorf("%s: not an inet attribute fleettune manages", a)
		}
		was := snap.Knobs[a]
		if !was.Missing {
			now, ok := f.Knobs[a]
			if !ok || now.Missing {
				return nil, fmt.Errorf("%s: the host no longer has this attribute; cannot restore %q", a, was.Live)
			}
			if !sameInts(now.Live, was.Live) && tru64Runtime(f, a) {
				n, err := atoiTrim(was.Live)
				if err != nil {
					return nil, fmt.Errorf("%s: recorded value %q is not an integer", a, was.Live)
				}
				live = append(live, tru64Want{a, n})
			}
		}
		p, inStanza := cur[a]
		switch {
		case was.AtBootSet && (!inStanza || !sameInts(p.value, was.AtBoot)):
			n, err := atoiTrim(was.AtBoot)
			if err != nil {
				return nil, fmt.Errorf("%s: recorded persisted value %q is not an integer", a, was.AtBoot)
			}
			set = append(set, tru64Want{a, n})
		case !was.AtBootSet && inStanza:
			remove[a] = true
		}
	}
	if len(live) > 0 {
		cmds = append(cmds, sysconfigR(live))
	}
	switch {
	case len(remove) > 0:
		// Rebuild the whole stanza: what is there now, less the removed
		// attributes, with the set-back values in place.
		var keep []string
		setNow := map[string]int{}
		for _, w := range set {
			setNow[w.attr] = w.value
		}
		for _, a := range stanzaOrder(f.Persisted) {
			if remove[a] {
				continue
			}
			if v, ok := setNow[a]; ok {
				keep = append(keep, fmt.Sprintf("%s = %d", a, v))
				delete(setNow, a)
				continue
			}
			if !tru64AttrName.MatchString(a) || strings.ContainsAny(cur[a].value, `'%\`) {
				return nil, fmt.Errorf("inet stanza: attribute %q = %q cannot be rewritten safely; restore %s by hand", a, cur[a].value, Tru64SysconfigTab)
			}
			keep = append(keep, a+" = "+cur[a].value)
		}
		var rest []tru64Want
		for _, w := range set {
			if _, ok := setNow[w.attr]; ok {
				rest = append(rest, w)
			}
		}
		orig, tracked := snap.Files[tru64StanzaKey]
		if len(keep) == 0 && len(rest) == 0 && tracked && orig == nil {
			cmds = append(cmds, "sysconfigdb -r inet")
		} else {
			cmds = append(cmds, tru64WriteStanza("-u", rest, keep))
		}
	case len(set) > 0:
		cmds = append(cmds, tru64WriteStanza("-m", set, nil))
	}
	return cmds, nil
}

// Differences says how f differs from snap; empty when the host is back.
func (tru64Driver) Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	for _, a := range sortedKnobs(snap) {
		was, now := snap.Knobs[a], f.Knobs[a]
		switch {
		case was.Missing != now.Missing:
			diff = append(diff, fmt.Sprintf("%s: missing was %t, is %t", a, was.Missing, now.Missing))
			continue
		case !was.Missing && !sameInts(now.Live, was.Live):
			d := fmt.Sprintf("%s is %s, was %s", a, strings.TrimSpace(now.Live), strings.TrimSpace(was.Live))
			if !tru64Runtime(f, a) {
				d += AwaitsReboot
			}
			diff = append(diff, d)
		}
		switch {
		case was.AtBootSet && !now.AtBootSet:
			diff = append(diff, fmt.Sprintf("%s: %s inet stanza no longer sets %s (was %s)", a, Tru64SysconfigTab, a, was.AtBoot))
		case !was.AtBootSet && now.AtBootSet:
			diff = append(diff, fmt.Sprintf("%s: %s inet stanza sets %s = %s; it did not", a, Tru64SysconfigTab, a, now.AtBoot))
		case was.AtBootSet && !sameInts(now.AtBoot, was.AtBoot):
			diff = append(diff, fmt.Sprintf("%s: %s inet stanza sets %s, was %s", a, Tru64SysconfigTab, now.AtBoot, was.AtBoot))
		}
	}
	return diff
}

func atoiTrim(s string) (int, error) {
	var n int
	_, err := fmt.Sscan(strings.TrimSpace(s), &n)
	return n, err
}

var _ Applier = tru64Driver{}
