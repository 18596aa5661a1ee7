package platform

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AIX network tunables fleettune manages, read and changed with no(1).
const (
	aixEphemLow  = "tcp_ephemeral_low"
	aixEphemHigh = "tcp_ephemeral_high"
	aixTimeWait  = "tcp_timewait"
	aixKeepIdle  = "tcp_keepidle"

	// AIXNextboot is the stanza file tunrestore -R applies at boot. no -p
	// and no -r write it; fleettune never edits it itself.
	AIXNextboot = "/etc/tunables/nextboot"

	// aixTimeWaitUnit and aixKeepIdleUnit are the units of tcp_timewait
	// and tcp_keepidle. Conversions happen here and nowhere else.
	aixTimeWaitUnit = 15 * time.Second
	aixKeepIdleUnit = 500 * time.Millisecond

	// aixLimitsSuffix keys the pseudo-knob that carries a tunable's no -L
	// facts (default, bounds, type) in Facts.Knobs.
	aixLimitsSuffix = "#limits"
)

// aixTunables are read on every AIX host, in this order.
var aixTunables = []string{aixEphemLow, aixEphemHigh, aixTimeWait, aixKeepIdle}

type aixDriver struct{}

var (
	_ Driver  = aixDriver{}
	_ Applier = aixDriver{}
)

func (aixDriver) OS() string { return AIX }

// Capabilities: see Driver.
func (aixDriver) Capabilities() Capabilities { return Capabilities{Counters: true} }

// Counters reads the TCP statistics with BSDCountersCommand.
func (aixDriver) Counters(ctx context.Context, r Runner) (Counters, error) {
	return bsdCounters(ctx, r)
}

// Thresholds returns a copy of the defaults for netstat -p tcp's counters.
func (aixDriver) Thresholds() map[string]int64 { return maps.Clone(bsdThresholds) }

// AIXGatherScript is the one command Gather runs on an AIX host: every
// section's stderr goes to stdout after its marker, so a failure is seen
// where it happened. It stays within the lab shell's subset (no pipes, no
// variables, no control flow).
func AIXGatherScript() string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	b.WriteString("echo '@@fleettune@@ uname'; uname -srv 2>&1\n")
	b.WriteString("echo '@@fleettune@@ who -b'; who -b 2>&1\n")
	for _, t := range aixTunables {
		fmt.Fprintf(&b, "echo '@@fleettune@@ no -o %s'; no -o %s 2>&1\n", t, t)
	}
	b.WriteString("echo '@@fleettune@@ no -L'; no")
	for _, t := range aixTunables {
		b.WriteString(" -L " + t)
	}
	b.WriteString(" 2>&1\n")
	// The echo after cat ends the file's last line even when the file
	// does not; the parser takes that newline off again.
	fmt.Fprintf(&b, "echo '@@fleettune@@ nextboot'; cat %s 2>&1; echo\n", AIXNextboot)
	b.WriteString("echo '@@fleettune@@ netstat -an'; netstat -an 2>&1\n")
	b.WriteString("echo '@@fleettune@@ pre520tune'; lsattr -El sys0 -a pre520tune 2>&1\n")
	b.WriteString("echo '@@fleettune@@ end'\n")
	return b.String()
}

func (d aixDriver) Gather(ctx context.Context, r Runner, native []string) (*Facts, error) {
	res, err := r.Run(ctx, AIXGatherScript())
	if err != nil {
		return nil, fmt.Errorf("read no tunables: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read no tunables: exit status %d: %s", res.ExitCode, firstLine(string(res.Stderr)+string(res.Stdout)))
	}
	return ParseAIXFacts(outputText(res.Stdout))
}

// aixLimits are a tunable's no -L facts.
type aixLimits struct {
	Def, Min, Max int64
	Unit, Type    string
}

func (l aixLimits) String() string {
	return fmt.Sprintf("def=%d min=%d max=%d unit=%s type=%s", l.Def, l.Min, l.Max, l.Unit, l.Type)
}

func parseAIXLimitsKnob(s string) (aixLimits, bool) {
	var l aixLimits
	n, err := fmt.Sscanf(s, "def=%d min=%d max=%d unit=%s type=%s", &l.Def, &l.Min, &l.Max, &l.Unit, &l.Type)
	return l, err == nil && n == 5
}

// aixLimitsOf returns the no -L facts Gather stored for a tunable.
func aixLimitsOf(f *Facts, t string) (aixLimits, bool) {
	k, ok := f.Knobs[t+aixLimitsSuffix]
	if !ok {
		return aixLimits{}, false
	}
	return parseAIXLimitsKnob(k.Live)
}

// aixDynamic reports whether no -p can change a tunable of this no -L type
// now: Dynamic (D), Connect (C: new connections only, no restarts inetd)
// and Incremental (I) can; Reboot (R) and Bosboot (B) need no -r and a
// reboot; Static (S) and Mount (M) are not something fleettune changes.
func aixDynamic(typ string) bool { return typ == "D" || typ == "C" || typ == "I" }

func aixRebootType(typ string) bool { return typ == "R" || typ == "B" }

// AIXNoError is a failure no(1) printed for one tunable.
type AIXNoError struct {
	Tunable string
	Message string // no's own line, e.g. "no: 0050-013 x is not a valid tunable parameter"
}

func (e *AIXNoError) Error() string { return e.Tunable + ": " + e.Message }

// Unknown reports whether no said the tunable does not exist.
func (e *AIXNoError) Unknown() bool { return strings.Contains(e.Message, "is not a valid tunable") }

// Permission reports whether no refused for lack of root authority.
func (e *AIXNoError) Permission() bool {
	return strings.Contains(strings.ToLower(e.Message), "permission") || strings.Contains(e.Message, "root authority")
}

// ParseAIXNoValue parses `no -o NAME` output ("NAME = VALUE"). Anything
// else is no's error message, returned as an *AIXNoError.
func ParseAIXNoValue(out, name string) (string, error) {
	var msgs []string
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == name {
			v = strings.TrimSpace(v)
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return "", fmt.Errorf("%s: no printed %q, not an integer", name, v)
			}
			return v, nil
		}
		msgs = append(msgs, line)
	}
	if len(msgs) == 0 {
		return "", &AIXNoError{Tunable: name, Message: "no printed nothing"}
	}
	return "", &AIXNoError{Tunable: name, Message: strings.Join(msgs, "; ")}
}

// parseAIXNum reads a number as no -L prints it: plain ("14400"), with a
// binary multiplier ("32K", "16M") and optionally minus one ("64K-1",
// "2G-1", "8E-1").
func parseAIXNum(s string) (int64, error) {
	orig := s
	minus := uint64(0)
	if strings.HasSuffix(s, "-1") && len(s) > 2 {
		s, minus = s[:len(s)-2], 1
	}
	mult := uint64(1)
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGTPE", s[n-1]); i >= 0 {
			mult = uint64(1) << (10 * (i + 1))
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > (1<<64-1)/mult {
		return 0, fmt.Errorf("%q is not a number as no -L prints them", orig)
	}
	x := v * mult
	if x < minus || x-minus > 1<<63-1 {
		return 0, fmt.Errorf("%q is not a number as no -L prints them", orig)
	}
	return int64(x - minus), nil
}

// ParseAIXNoL parses the table `no -L T1 -L T2 ...` prints:
//
//	NAME                      CUR    DEF    BOOT   MIN    MAX    UNIT           TYPE
//	     DEPENDENCIES
//	--------------------------------------------------------------------------------
//	tcp_ephemeral_low         32K    32K    32K    1K     64K-1  numeric           D
//	     tcp_ephemeral_high
//	--------------------------------------------------------------------------------
//
// Dependency lines are indented; the UNIT column may be empty.
func ParseAIXNoL(out string) (map[string]aixLimits, error) {
	lim := map[string]aixLimits{}
	for i, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" || line[0] == ' ' || line[0] == '\t' || strings.HasPrefix(line, "---") {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "NAME" {
			continue
		}
		if len(f) < 7 || strings.HasSuffix(f[0], ":") {
			return nil, fmt.Errorf("no -L: line %d: %s", i+1, strings.TrimSpace(line))
		}
		var nums [5]int64
		for j := range nums {
			v, err := parseAIXNum(f[1+j])
			if err != nil {
				return nil, fmt.Errorf("no -L: line %d: %s: %w", i+1, f[0], err)
			}
			nums[j] = v
		}
		unit := strings.Join(f[6:len(f)-1], " ")
		lim[f[0]] = aixLimits{Def: nums[1], Min: nums[3], Max: nums[4], Unit: unit, Type: f[len(f)-1]}
	}
	return lim, nil
}

// aixStanzaValue is one parameter of a tunables-file stanza.
type aixStanzaValue struct {
	Value string
	Line  int
}

// ParseAIXNextboot returns the parameters of the no: stanza of a tunables
// file (tunables(4)): "stanza:" opens a stanza; `name = "value"` lines
// belong to it; # starts a comment; only the first occurrence of a stanza
// and of a parameter counts. A value of DEFAULT is the same as no entry,
// so it is left out.
func ParseAIXNextboot(content string) map[string]aixStanzaValue {
	out := map[string]aixStanzaValue{}
	seen := map[string]bool{}
	in := false
	for i, line := range strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if name, ok := strings.CutSuffix(line, ":"); ok && !strings.Contains(name, "=") {
			name = strings.TrimSpace(name)
			in = name == "no" && !seen[name]
			seen[name] = true
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if _, dup := out[k]; dup || k == "" {
			continue
		}
		out[k] = aixStanzaValue{Value: v, Line: i + 1}
	}
	for k, v := range out {
		if strings.EqualFold(v.Value, "DEFAULT") {
			delete(out, k)
		}
	}
	return out
}

// ParseAIXNetstat reads `netstat -an` (AIX): the TCP ports in LISTEN and
// the number of TIME_WAIT sockets. The connection table must be there (its
// "Proto" header), or the output is not what the parser knows.
func ParseAIXNetstat(out string) (listening []int, timeWait int, err error) {
	header := false
	var r netstatRow
	for pos := 0; pos <= len(out) && !header; {
		var line string
		line, pos = nextLine(out, pos)
		splitRow(line, &r)
		header = r.n > 0 && r.f[0] == "Proto"
	}
	if !header {
		return nil, 0, fmt.Errorf("netstat -an: no connection table in output: %s", firstLine(out))
	}
	return parseBSDNetstat(out)
}

// ParseAIXFacts parses the output of AIXGatherScript.
func ParseAIXFacts(out string) (*Facts, error) {
	f := &Facts{OS: AIX, Knobs: map[string]Knob{}, TimeWait: -1}
	s := splitSections(out)
	if _, ok := s.lookup("end"); !ok {
		return nil, fmt.Errorf("read no tunables: output ends early (no end marker)")
	}
	os, release, err := ParseUname(s.get("uname"))
	if err != nil {
		return nil, fmt.Errorf("read no tunables: %w", err)
	}
	if os != AIX {
		return nil, fmt.Errorf("read no tunables: uname says %q, not AIX", strings.TrimSpace(s.get("uname")))
	}
	f.Version = release
	f.BootID = firstLine(s.get("who -b"))
	if f.BootID == "" || strings.HasPrefix(f.BootID, "who:") {
		return nil, fmt.Errorf("read no tunables: who -b gave no boot time: %q", f.BootID)
	}
	for _, t := range aixTunables {
		body, ok := s.lookup("no -o " + t)
		if !ok {
			return nil, fmt.Errorf("read no tunables: output has no section for %s", t)
		}
		v, err := ParseAIXNoValue(body, t)
		if err != nil {
			if ne, ok := err.(*AIXNoError); ok && ne.Unknown() {
				f.Knobs[t] = Knob{Name: t, Missing: true}
				continue
			}
			return nil, fmt.Errorf("read no tunables: no -o %s: %w", t, err)
		}
		f.Knobs[t] = Knob{Name: t, Live: v}
	}
	// no -L's layout is known only from documentation: output it does not
	// understand does not fail the host; without limits every change is
	// refused (see aixNoLUnread), with the reason.
	lim, err := ParseAIXNoL(s.get("no -L"))
	if err != nil {
		f.Knobs[aixNoLUnread] = Knob{Name: aixNoLUnread, Live: err.Error()}
	}
	for _, t := range aixTunables {
		if l, ok := lim[t]; ok {
			f.Knobs[t+aixLimitsSuffix] = Knob{Name: t + aixLimitsSuffix, Live: l.String()}
		}
	}
	nb := strings.TrimSuffix(s.get("nextboot"), "\n")
	if strings.HasPrefix(nb, "cat: ") && strings.Count(strings.TrimSuffix(nb, "\n"), "\n") == 0 {
		// cat: 0652-050 Cannot open /etc/tunables/nextboot.
		if !strings.Contains(nb, "Cannot open") {
			return nil, fmt.Errorf("read no tunables: %s", nb)
		}
	} else {
		f.Persisted, f.PersistedExists = nb, true
		for name, v := range ParseAIXNextboot(nb) {
			k, ok := f.Knobs[name]
			if !ok {
				continue
			}
			k.AtBoot, k.AtBootSet, k.Source = v.Value, true, fmt.Sprintf("%s:%d", AIXNextboot, v.Line)
			f.Knobs[name] = k
		}
	}
	ports, tw, err := ParseAIXNetstat(s.get("netstat -an"))
	if err != nil {
		return nil, fmt.Errorf("read no tunables: %w", err)
	}
	f.Listening, f.TimeWait = ports, tw
	f.Knobs[AIXPre520Tune] = Knob{Name: AIXPre520Tune, Live: parseAIXPre520Tune(s.get("pre520tune")), Source: "lsattr -El sys0 -a pre520tune"}
	return f, nil
}

// AIXPre520Tune is the pseudo-knob in Facts.Knobs that holds sys0's
// pre520tune attribute: "disable" (the normal mode, no -p persists through
// nextboot), "enable" (the pre-5.2 compatibility mode, where nextboot is not
// applied at boot and values set with no last until the reboot), or
// "unknown: ..." with what lsattr printed.
const AIXPre520Tune = "sys0.pre520tune"

// parseAIXPre520Tune reads `lsattr -El sys0 -a pre520tune`: "pre520tune
// disable Pre-520 tuning compatibility mode True".
func parseAIXPre520Tune(out string) string {
	f := strings.Fields(firstLine(out))
	if len(f) >= 2 && f[0] == "pre520tune" && (f[1] == "enable" || f[1] == "disable") {
		return f[1]
	}
	return "unknown: lsattr printed " + strconv.Quote(firstLine(out))
}

// aixNoLUnread is the pseudo-knob that says no -L's output was not
// understood (Live: why).
const aixNoLUnread = "no -L#unread"

// aixCompatibilityRefusal is why a change cannot be planned on a host not
// known to be out of the compatibility mode; "" when it can.
func aixCompatibilityRefusal(f *Facts) string {
	switch v := f.Knobs[AIXPre520Tune].Live; {
	case v == "disable":
		return ""
	case v == "enable":
		return "AIX is in the pre-5.2 compatibility mode (sys0 pre520tune=enable): nextboot is not applied at boot there, so no -p would not persist; fleettune does not write /etc/rc.net yet: set the value there by hand, or leave the mode with chdev -l sys0 -a pre520tune=disable"
	default:
		return "cannot tell whether AIX is in the pre-5.2 compatibility mode, where no -p does not persist (sys0 pre520tune " + v + ")"
	}
}

// aixKnobState is one tunable as Propose sees it: live value, the value
// the next boot gives (nextboot, or the default when nextboot has none)
// and its no -L facts.
type aixKnobState struct {
	name      string
	live      int64
	boot      int64
	bootSet   bool // nextboot sets it
	lim       aixLimits
	persisted int64 // the nextboot value when bootSet
}

func aixState(f *Facts, t string) (aixKnobState, error) {
	k, ok := f.Knobs[t]
	if !ok || k.Missing {
		return aixKnobState{}, fmt.Errorf("this system has no %s (no -o says it is not a valid tunable)", t)
	}
	lim, ok := aixLimitsOf(f, t)
	if !ok {
		if why := f.Knobs[aixNoLUnread].Live; why != "" {
			return aixKnobState{}, fmt.Errorf("the layout of no -L was not understood (%s), so whether %s changes at once or only at a reboot, and its bounds, are unknown; nothing is changed", why, t)
		}
		return aixKnobState{}, fmt.Errorf("no -L gave no limits for %s", t)
	}
	st := aixKnobState{name: t, lim: lim}
	var err error
	if st.live, err = strconv.ParseInt(strings.TrimSpace(k.Live), 10, 64); err != nil {
		return st, fmt.Errorf("%s is %q, not an integer", t, k.Live)
	}
	st.boot = lim.Def
	if k.AtBootSet {
		v, err := strconv.ParseInt(strings.TrimSpace(k.AtBoot), 10, 64)
		if err != nil {
			return st, fmt.Errorf("%s: %s sets %q, not an integer", t, AIXNextboot, k.AtBoot)
		}
		st.boot, st.bootSet, st.persisted = v, true, v
	}
	return st, nil
}

// aixPlan is what one tunable needs to reach want.
type aixPlan struct {
	name    string
	cmd     string // "" when nothing runs
	persist string
	reboot  bool // the new value applies only at next boot
	refused string
}

// planTunable decides how to bring st to want: no -p -o for tunables no
// can change now (it sets the value and writes nextboot), no -r -o for
// Reboot/Bosboot ones (nextboot only; a reboot brings it into force).
func (st aixKnobState) plan(want int64) aixPlan {
	p := aixPlan{name: st.name}
	if want < st.lim.Min || want > st.lim.Max {
		p.refused = fmt.Sprintf("%s=%d is outside the range no -L gives (%d-%d)", st.name, want, st.lim.Min, st.lim.Max)
	}
	liveOK := st.live == want
	bootOK := st.boot == want
	switch {
	case aixDynamic(st.lim.Type):
		if liveOK && bootOK {
			return p
		}
		p.cmd = fmt.Sprintf("no -p -o %s=%d", st.name, want)
		p.persist = fmt.Sprintf("%s: no: %s = %d (via no -p)", AIXNextboot, st.name, want)
	case aixRebootType(st.lim.Type):
		p.reboot = !liveOK
		if !bootOK {
			p.cmd = fmt.Sprintf("no -r -o %s=%d", st.name, want)
			p.persist = fmt.Sprintf("%s: no: %s = %d (via no -r)", AIXNextboot, st.name, want)
		}
	default:
		if !liveOK || !bootOK {
			p.refused = fmt.Sprintf("%s is of no -L type %q; no cannot change it", st.name, st.lim.Type)
		}
	}
	return p
}

// aixAtBoot is Change.AtBoot: the next-boot value when it differs from
// the live one, in the operator's form.
func aixAtBoot(live, boot string, set bool) string {
	switch {
	case live == boot:
		return ""
	case !set:
		return "AIX default " + boot
	}
	return boot
}

func aixRebootReason(names []string) string {
	return strings.Join(names, ", ") + " applies at next boot (no -r)"
}

func (d aixDriver) Propose(f *Facts, t Targets, g Guardrails) Proposal {
	var p Proposal
	if t.EphemeralPorts != nil {
		p.add(d.proposeRange(f, *t.EphemeralPorts, g), nil)
	}
	if t.TimeWait != nil {
		p.add(d.proposeDuration(f, string(TimeWait), aixTimeWait, *t.TimeWait, aixTimeWaitUnit, "15-second"), nil)
	}
	if t.KeepaliveTime != nil {
		p.add(d.proposeDuration(f, string(KeepaliveTime), aixKeepIdle, *t.KeepaliveTime, aixKeepIdleUnit, "half-second"), nil)
	}
	p.Changes = append(p.Changes, refuseNative(AIX, t)...)
	if why := aixCompatibilityRefusal(f); why != "" {
		for i := range p.Changes {
			c := &p.Changes[i]
			if c.Refused == "" {
				c.Refused, c.Commands, c.Persist, c.RebootRequired, c.RebootReason = why, nil, "", false, ""
			}
		}
	}
	p.typeTargets(t)
	return p
}

func (d aixDriver) proposeRange(f *Facts, want PortRange, g Guardrails) *Change {
	c := Change{Setting: string(EphemeralPorts), Knob: aixEphemLow + "," + aixEphemHigh, Target: want.String()}
	lo, err1 := aixState(f, aixEphemLow)
	hi, err2 := aixState(f, aixEphemHigh)
	if err := aixFirstErr(err1, err2); err != nil {
		c.Current = "(missing)"
		if !f.Knobs[aixEphemLow].Missing && !f.Knobs[aixEphemHigh].Missing {
			c.Current = f.Knobs[aixEphemLow].Live + "-" + f.Knobs[aixEphemHigh].Live
		}
		c.Refused = err.Error()
		return &c
	}
	live := PortRange{int(lo.live), int(hi.live)}
	boot := PortRange{int(lo.boot), int(hi.boot)}
	c.Current, c.Before = live.String(), portsValue(live)
	if live == want && boot == want {
		return nil
	}
	c.AtBoot = aixAtBoot(live.String(), boot.String(), lo.bootSet || hi.bootSet)
	pl, ph := lo.plan(int64(want.Low)), hi.plan(int64(want.High))
	// no checks tcp_ephemeral_low < tcp_ephemeral_high as each value is
	// set: when the new range lies above the old one, raise the high end
	// first.
	order := []aixPlan{pl, ph}
	if int64(want.Low) > hi.live {
		order = []aixPlan{ph, pl}
	}
	var persist, reboot []string
	for _, x := range order {
		if x.cmd != "" {
			c.Commands = append(c.Commands, x.cmd)
			persist = append(persist, x.persist)
		}
		if x.reboot {
			reboot = append(reboot, x.name)
		}
	}
	sort.Strings(reboot)
	c.Persist = strings.Join(persist, "; ")
	if len(reboot) > 0 {
		c.RebootRequired, c.RebootReason = true, aixRebootReason(reboot)
	}
	switch {
	case pl.refused != "":
		c.Refused = pl.refused
	case ph.refused != "":
		c.Refused = ph.refused
	case want.Low < 1024:
		c.Refused = fmt.Sprintf("low end %d is a privileged port; AIX takes %s from 1024 up", want.Low, aixEphemLow)
	}
	return &c
}

// proposeDuration proposes tcp_timewait or tcp_keepidle. A target that is
// not a whole number of the tunable's unit is refused, not rounded: for
// TIME_WAIT rounding down would shorten it below what the playbook (and
// its min_time_wait guardrail) asked for, and rounding up would silently
// change an operator's number; the message names the nearest values.
func (d aixDriver) proposeDuration(f *Facts, setting, knob string, want, unit time.Duration, unitName string) *Change {
	c := Change{Setting: setting, Knob: knob, Target: want.String()}
	st, err := aixState(f, knob)
	if err != nil {
		c.Current = f.Knobs[knob].Live
		if f.Knobs[knob].Missing {
			c.Current = "(missing)"
		}
		c.Refused = err.Error()
		return &c
	}
	show := func(v int64) string { return (time.Duration(v) * unit).String() }
	c.Current, c.Before = show(st.live), durationValue(time.Duration(st.live)*unit)
	if want%unit != 0 {
		lo := want / unit
		c.Refused = fmt.Sprintf("AIX counts %s in %s units (%s); %s is not a whole number of them: use %s or %s",
			knob, unitName, unit, want, show(int64(lo)), show(int64(lo)+1))
		if lo == 0 {
			c.Refused = fmt.Sprintf("AIX counts %s in %s units (%s); %s is not a whole number of them: use %s",
				knob, unitName, unit, want, show(1))
		}
		return &c
	}
	n := int64(want / unit)
	if st.live == n && st.boot == n {
		return nil
	}
	c.AtBoot = aixAtBoot(show(st.live), show(st.boot), st.bootSet)
	pl := st.plan(n)
	if pl.cmd != "" {
		c.Commands, c.Persist = []string{pl.cmd}, pl.persist
	}
	if pl.reboot {
		c.RebootRequired, c.RebootReason = true, aixRebootReason([]string{knob})
	}
	if pl.refused != "" {
		c.Refused = fmt.Sprintf("%s (%s-%s)", pl.refused, show(st.lim.Min), show(st.lim.Max))
	}
	return &c
}

func aixFirstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// aixCommand is the only shape of command the AIX applier emits: a known
// tunable and an integer, or a reset to the default.
var aixCommand = regexp.MustCompile(`^no (-p |-r )?(-o (tcp_ephemeral_low|tcp_ephemeral_high|tcp_timewait|tcp_keepidle)=[0-9]+|-d (tcp_ephemeral_low|tcp_ephemeral_high|tcp_timewait|tcp_keepidle))$`)

// Snapshot records, for every tunable the changes touch, its live value
// and its nextboot entry (AtBootSet false: none).
func (aixDriver) Snapshot(f *Facts, changes []Change) Snapshot {
	s := Snapshot{Knobs: map[string]KnobState{}}
	for _, c := range changes {
		for _, t := range strings.Split(c.Knob, ",") {
			k, ok := f.Knobs[t]
			if !ok || !contains(aixTunables, t) {
				continue
			}
			s.Knobs[t] = stateOf(k)
		}
	}
	return s
}

// ApplyCommands returns every change's no commands in order. no -p and
// no -r write /etc/tunables/nextboot themselves, so there is no separate
// write of persistent configuration.
func (aixDriver) ApplyCommands(f *Facts, changes []Change) ([]string, error) {
	var cmds []string
	for _, c := range changes {
		if c.Refused != "" {
			return nil, fmt.Errorf("%s: refused: %s", c.Knob, c.Refused)
		}
		for _, cmd := range c.Commands {
			if !aixCommand.MatchString(cmd) {
				return nil, fmt.Errorf("%s: unexpected command %q", c.Knob, cmd)
			}
			cmds = append(cmds, cmd)
		}
	}
	return cmds, nil
}

// RestoreCommands bring every tunable of snap back to its live value and
// its nextboot entry:
//
//   - nextboot had the live value: no -p -o NAME=OLD (both at once);
//   - nextboot had another value: no -o NAME=LIVE and no -r -o NAME=BOOT;
//   - nextboot had no entry: no -p -d NAME when the old live value is the
//     default (no -d sets the default and, with -p, takes the entry out of
//     nextboot), else no -r -d NAME (entry out, live untouched) and
//     no -o NAME=OLD.
//
// Reboot-type tunables get only the nextboot half (no -r); their live
// value follows at the next boot. Knobs already as they were give nothing.
func (aixDriver) RestoreCommands(f *Facts, snap Snapshot) ([]string, error) {
	var cmds []string
	for _, t := range sortedKnobs(snap) {
		if !contains(aixTunables, t) {
			return nil, fmt.Errorf("%s: not a tunable fleettune manages", t)
		}
		was := snap.Knobs[t]
		if was.Missing {
			continue
		}
		now, ok := f.Knobs[t]
		if !ok || now.Missing {
			return nil, fmt.Errorf("%s: the host no longer has this tunable; cannot restore %q", t, was.Live)
		}
		old, err := strconv.ParseInt(strings.TrimSpace(was.Live), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: recorded value %q is not an integer", t, was.Live)
		}
		lim, _ := aixLimitsOf(f, t)
		liveSame := sameInts(now.Live, was.Live)
		bootSame := now.AtBootSet == was.AtBootSet && (!was.AtBootSet || sameInts(now.AtBoot, was.AtBoot))
		if liveSame && bootSame {
			continue
		}
		if aixRebootType(lim.Type) {
			switch {
			case bootSame:
			case was.AtBootSet:
				b, err := strconv.ParseInt(strings.TrimSpace(was.AtBoot), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: recorded nextboot value %q is not an integer", t, was.AtBoot)
				}
				cmds = append(cmds, fmt.Sprintf("no -r -o %s=%d", t, b))
			default:
				cmds = append(cmds, "no -r -d "+t)
			}
			continue
		}
		switch {
		case was.AtBootSet && sameInts(was.AtBoot, was.Live):
			cmds = append(cmds, fmt.Sprintf("no -p -o %s=%d", t, old))
		case was.AtBootSet:
			b, err := strconv.ParseInt(strings.TrimSpace(was.AtBoot), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: recorded nextboot value %q is not an integer", t, was.AtBoot)
			}
			if !liveSame {
				cmds = append(cmds, fmt.Sprintf("no -o %s=%d", t, old))
			}
			if !bootSame {
				cmds = append(cmds, fmt.Sprintf("no -r -o %s=%d", t, b))
			}
		case lim.Type != "" && lim.Def == old && !bootSame:
			cmds = append(cmds, "no -p -d "+t)
		default:
			if !bootSame {
				cmds = append(cmds, "no -r -d "+t)
			}
			if !liveSame {
				cmds = append(cmds, fmt.Sprintf("no -o %s=%d", t, old))
			}
		}
	}
	for _, c := range cmds {
		if !aixCommand.MatchString(c) {
			return nil, fmt.Errorf("internal: unexpected restore command %q", c)
		}
	}
	return cmds, nil
}

// Differences says how f differs from snap: live values and nextboot
// entries; empty when the host is back.
func (aixDriver) Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	for _, t := range sortedKnobs(snap) {
		was, now := snap.Knobs[t], f.Knobs[t]
		if was.Missing != now.Missing {
			diff = append(diff, fmt.Sprintf("%s: missing was %t, is %t", t, was.Missing, now.Missing))
			continue
		}
		if !sameInts(now.Live, was.Live) && !(was.Missing && now.Missing) {
			msg := fmt.Sprintf("%s is %s, was %s", t, strings.TrimSpace(now.Live), strings.TrimSpace(was.Live))
			if lim, ok := aixLimitsOf(f, t); ok && aixRebootType(lim.Type) {
				msg += AwaitsReboot
			}
			diff = append(diff, msg)
		}
		switch {
		case was.AtBootSet && !now.AtBootSet:
			diff = append(diff, fmt.Sprintf("%s: %s no longer sets %s (was %s)", t, AIXNextboot, t, was.AtBoot))
		case !was.AtBootSet && now.AtBootSet:
			diff = append(diff, fmt.Sprintf("%s: %s sets %s = %s; it had no entry", t, AIXNextboot, t, now.AtBoot))
		case was.AtBootSet && !sameInts(now.AtBoot, was.AtBoot):
			diff = append(diff, fmt.Sprintf("%s: %s sets %s = %s, was %s", t, AIXNextboot, t, now.AtBoot, was.AtBoot))
		}
	}
	return diff
}
