package platform

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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
func AIXGatherScript() string { return cachedAIXGatherScript() }

var cachedAIXGatherScript = sync.OnceValue(func() string {
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
	// Only LISTEN rows and the TIME_WAIT count are read: the host filters.
	b.WriteString("echo '@@fleettune@@ netstat -an'; netstat -an 2>&1 | " + netstatFilter("$NF") + "\n")
	b.WriteString("echo '@@fleettune@@ pre520tune'; lsattr -El sys0 -a pre520tune 2>&1\n")
	// The boot scripts compatibility mode persists through (aix_rcnet.go).
	fmt.Fprintf(&b, "echo '@@fleettune@@ rc.net'; cat %s 2>&1; echo\n", AIXRcNet)
	fmt.Fprintf(&b, "echo '@@fleettune@@ rc.tcpip'; cat %s 2>&1; echo\n", AIXRcTCPIP)
	b.WriteString("echo '@@fleettune@@ end'\n")
	return b.String()
})

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
// "Proto" header), or the output is not what the parser knows. It reads
// the table as the gather's filter (netstatFilter) leaves it, TIME_WAIT
// rows counted in the last line, and as netstat prints it.
func ParseAIXNetstat(out string) (listening []int, timeWait int, err error) {
	out, tw, _, err := netstatTrailer(out)
	if err != nil {
		return nil, 0, fmt.Errorf("netstat -an: %w", err)
	}
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
	listening, timeWait, err = parseBSDNetstat(out)
	return listening, timeWait + tw, err
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
	ports, tw, err := ParseAIXNetstat(s.get("netstat -an"))
	if err != nil {
		return nil, fmt.Errorf("read no tunables: %w", err)
	}
	f.Listening, f.TimeWait = ports, tw
	mode := parseAIXPre520Tune(s.get("pre520tune"))
	f.Knobs[AIXPre520Tune] = Knob{Name: AIXPre520Tune, Live: mode, Source: "lsattr -El sys0 -a pre520tune"}
	nb, exists, err := aixCatSection(s, "nextboot")
	if err != nil {
		return nil, fmt.Errorf("read no tunables: %w", err)
	}
	if mode == "enable" {
		// Compatibility mode: nextboot is not applied at boot; what the
		// next boot gives is what rc.net and rc.tcpip set. nextboot is
		// kept only for a note: it would apply if the mode were left.
		aixCompatFacts(f, s, lim)
		if exists {
			aixFile(f, AIXNextboot, nb)
		}
		return f, nil
	}
	if exists {
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
	return f, nil
}

// aixCatSection is a file as the gather script's `cat FILE 2>&1; echo`
// printed it: its content, or exists false when AIX's cat could not open
// it ("cat: 0652-050 Cannot open FILE."); any other cat error is one.
func aixCatSection(s sections, name string) (content string, exists bool, err error) {
	body, ok := s.lookup(name)
	if !ok {
		return "", false, fmt.Errorf("output has no section for %s", name)
	}
	body = strings.TrimSuffix(body, "\n")
	if msg := strings.TrimSuffix(body, "\n"); strings.HasPrefix(msg, "cat: ") && !strings.Contains(msg, "\n") {
		if strings.Contains(msg, "Cannot open") {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s", msg)
	}
	return body, true, nil
}

// aixCompatFacts fills f for compatibility mode: Persisted is rc.net (the
// file fleettune writes in this mode), rc.tcpip's content is kept under
// Facts.Files (when it exists), and each tunable's AtBoot is what the
// two scripts leave it at, with the line that sets it as its Source. What
// cannot be read is kept under aixRcNetUnread, for Propose to refuse on.
func aixCompatFacts(f *Facts, s sections, lim map[string]aixLimits) {
	unread := func(why string) { f.Knobs[aixRcNetUnread] = Knob{Name: aixRcNetUnread, Live: why} }
	rcnet, exists, err := aixCatSection(s, "rc.net")
	switch {
	case err != nil:
		unread(fmt.Sprintf("%s could not be read: %v", AIXRcNet, err))
		return
	case !exists:
		unread(AIXRcNet + " does not exist")
		return
	}
	f.Persisted, f.PersistedExists = rcnet, true
	tcpip, exists, err := aixCatSection(s, "rc.tcpip")
	if err != nil {
		unread(fmt.Sprintf("%s could not be read: %v", AIXRcTCPIP, err))
		return
	}
	if exists {
		aixFile(f, AIXRcTCPIP, tcpip)
	}
	boot, _, err := aixCompatBoot(f)
	if err != nil {
		unread(err.Error())
		return
	}
	for _, t := range aixTunables {
		b, k := boot[t], f.Knobs[t]
		if !b.set || k.Missing {
			continue
		}
		k.AtBoot, k.AtBootSet, k.Source = strconv.FormatInt(b.value, 10), true, b.source
		if b.unreadable != "" {
			k.AtBoot = b.unreadable
		}
		if b.block != nil && b.source == b.block.where() {
			k.Source += " (fleettune's block)"
		}
		f.Knobs[t] = k
	}
}

// aixCompatBoot parses rc.net (f.Persisted) and rc.tcpip and runs their
// settings from the defaults no -L gave (Gather stores them first).
func aixCompatBoot(f *Facts) (map[string]*aixBoot, aixScript, error) {
	rcnet, err := ParseAIXBootScript(AIXRcNet, f.Persisted)
	if err != nil {
		return nil, rcnet, err
	}
	tcpip, err := ParseAIXBootScript(AIXRcTCPIP, f.Files[AIXRcTCPIP])
	if err != nil {
		return nil, rcnet, err
	}
	return aixBootValues(rcnet, tcpip, aixDefaults(f)), rcnet, nil
}

// aixDefaults are the tunables' defaults as no -L gave them.
func aixDefaults(f *Facts) map[string]int64 {
	def := map[string]int64{}
	for _, t := range aixTunables {
		if l, ok := aixLimitsOf(f, t); ok {
			def[t] = l.Def
		}
	}
	return def
}

// aixCompat reports whether f was read in compatibility mode.
func aixCompat(f *Facts) bool { return f.Knobs[AIXPre520Tune].Live == "enable" }

const (
	// aixRcNetUnread holds why the boot scripts could not be read.
	aixRcNetUnread = "rc.net#unread"
)

// aixFile keeps a file Gather read in compatibility mode, besides rc.net
// (Facts.Persisted): rc.tcpip, and nextboot for a note.
func aixFile(f *Facts, path, content string) {
	if f.Files == nil {
		f.Files = map[string]string{}
	}
	f.Files[path] = content
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

// aixCompatibilityRefusal is why no change can be planned on the host:
// the mode is not known, or in compatibility mode the boot scripts that
// persist values could not be read; "" when changes can be planned.
func aixCompatibilityRefusal(f *Facts) string {
	switch v := f.Knobs[AIXPre520Tune].Live; {
	case v == "disable":
		return ""
	case v == "enable":
		if why := f.Knobs[aixRcNetUnread].Live; why != "" {
			return "AIX is in the pre-5.2 compatibility mode (sys0 pre520tune=enable), where values persist only through " + AIXRcNet + ", and " + why
		}
		return ""
	default:
		return "cannot tell whether AIX is in the pre-5.2 compatibility mode, where no -p does not persist (sys0 pre520tune " + v + ")"
	}
}

// aixCompatNote is the note every plan of a host in compatibility mode has.
const aixCompatNote = "AIX is in the pre-5.2 compatibility mode (sys0 pre520tune=enable): /etc/tunables/nextboot is not applied at boot, so no -p would not persist; fleettune sets values with no -o and persists them as no -o lines in its marked block at the end of " + AIXRcNet + ", which cfgmgr runs at every boot"

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
	// compat: the host is in compatibility mode, where the next boot's
	// value comes from rc.net and rc.tcpip (aixCompatFacts), and values
	// are set with no -o and persisted in fleettune's block.
	compat bool
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
	st := aixKnobState{name: t, lim: lim, compat: aixCompat(f)}
	var err error
	if st.live, err = strconv.ParseInt(strings.TrimSpace(k.Live), 10, 64); err != nil {
		return st, fmt.Errorf("%s is %q, not an integer", t, k.Live)
	}
	st.boot = lim.Def
	if k.AtBootSet {
		v, err := strconv.ParseInt(strings.TrimSpace(k.AtBoot), 10, 64)
		if err != nil {
			return st, fmt.Errorf("%s: %s sets %q, not an integer", t, k.Source, k.AtBoot)
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
	// outOfRange: refused because want is outside no -L's bounds.
	outOfRange bool
}

// planTunable decides how to bring st to want: no -p -o for tunables no
// can change now (it sets the value and writes nextboot), no -r -o for
// Reboot/Bosboot ones (nextboot only; a reboot brings it into force).
func (st aixKnobState) plan(want int64) aixPlan {
	p := aixPlan{name: st.name}
	if want < st.lim.Min || want > st.lim.Max {
		p.refused = fmt.Sprintf("%s=%d is outside the range no -L gives (%d-%d)", st.name, want, st.lim.Min, st.lim.Max)
		p.outOfRange = true
	}
	liveOK := st.live == want
	bootOK := st.boot == want
	switch {
	case st.compat && aixDynamic(st.lim.Type):
		if !liveOK {
			p.cmd = fmt.Sprintf("no -o %s=%d", st.name, want)
		}
		if !bootOK {
			p.persist = fmt.Sprintf("%s: fleettune's block: /usr/sbin/no -o %s=%d", AIXRcNet, st.name, want)
		}
	case st.compat:
		if !liveOK || !bootOK {
			p.outOfRange, p.refused = false, fmt.Sprintf("%s is of no -L type %q; in the compatibility mode such a tunable is set at boot before the network is configured, and fleettune does not write there", st.name, st.lim.Type)
		}
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
			p.outOfRange, p.refused = false, fmt.Sprintf("%s is of no -L type %q; no cannot change it", st.name, st.lim.Type)
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
	if aixCompat(f) && f.Knobs[aixRcNetUnread].Live == "" {
		aixCompatChecks(f, &p)
	}
	return p
}

// aixWant is one tunable's target value.
type aixWant struct {
	name string
	v    int64
}

// aixWants are the tunables and values a change sets, from its typed
// target: never from its display strings.
func aixWants(c Change) ([]aixWant, error) {
	if c.After == nil {
		return nil, fmt.Errorf("%s: the change has no typed target (make changes with Propose)", c.Knob)
	}
	whole := func(d time.Duration, unit time.Duration, knob string) ([]aixWant, error) {
		if d%unit != 0 || d <= 0 {
			return nil, fmt.Errorf("%s: %s is not a whole number of %s", knob, d, unit)
		}
		return []aixWant{{knob, int64(d / unit)}}, nil
	}
	switch {
	case c.Setting == string(EphemeralPorts) && c.After.Ports != nil:
		return []aixWant{{aixEphemLow, int64(c.After.Ports.Low)}, {aixEphemHigh, int64(c.After.Ports.High)}}, nil
	case c.Setting == string(TimeWait) && c.After.Duration != nil:
		return whole(*c.After.Duration, aixTimeWaitUnit, aixTimeWait)
	case c.Setting == string(KeepaliveTime) && c.After.Duration != nil:
		return whole(*c.After.Duration, aixKeepIdleUnit, aixKeepIdle)
	}
	return nil, fmt.Errorf("%s: no typed target fleettune can persist for %s", c.Knob, c.Setting)
}

// aixCompatChecks holds a compatibility-mode proposal to what the boot
// scripts do: a change whose persisted value the block would hold is
// refused when rc.net ends before the block, or when a line that runs
// after the block (later in rc.net, or rc.tcpip) sets the tunable to
// something else; another line before the block is only noted, as the
// block's value wins over it.
func aixCompatChecks(f *Facts, p *Proposal) {
	boot, rcnet, err := aixCompatBoot(f)
	if err != nil {
		return // Gather recorded it as unread; the refusal covers it
	}
	p.Notes = append(p.Notes, aixCompatNote)
	nb := ParseAIXNextboot(f.Files[AIXNextboot])
	for _, t := range aixTunables {
		if v, ok := nb[t]; ok {
			p.Notes = append(p.Notes, fmt.Sprintf("%s:%d sets %s = %s, which this mode does not apply; it would apply at the first boot after leaving the mode (chdev -l sys0 -a pre520tune=disable)", AIXNextboot, v.Line, t, v.Value))
		}
	}
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Refused != "" || c.Persist == "" {
			continue
		}
		if rcnet.BlockBegin == 0 && rcnet.OpenAtEnd {
			c.Refused = fmt.Sprintf("the last line of %s goes on (a backslash at its end, or a quote left open), so the shell would take fleettune's block for part of it", AIXRcNet)
			continue
		}
		if rcnet.Exit != 0 && (rcnet.BlockBegin == 0 || rcnet.Exit < rcnet.BlockBegin) {
			c.Refused = fmt.Sprintf("%s:%d exits before the end of the script, where fleettune's block goes, so the block would never run", AIXRcNet, rcnet.Exit)
			continue
		}
		wants, err := aixWants(*c)
		if err != nil {
			c.Refused = err.Error()
			continue
		}
		for _, w := range wants {
			b := boot[w.name]
			for _, a := range b.after {
				if a.Unreadable != "" || a.Default || a.Value != w.v {
					c.Refused = fmt.Sprintf("%s sets %s (%s) after fleettune's block in %s runs, so it would undo %s=%d at every boot; remove that line or make it %d", a.where(), w.name, aixSettingText(a), AIXRcNet, w.name, w.v, w.v)
					break
				}
			}
			if c.Refused != "" {
				break
			}
			for _, x := range b.before {
				if x.Unreadable != "" || x.Default || x.Value != w.v {
					p.Notes = append(p.Notes, fmt.Sprintf("%s also sets %s (%s); fleettune's block runs after it, so %s=%d holds at boot", x.where(), w.name, aixSettingText(x), w.name, w.v))
				}
			}
		}
		if c.Refused != "" {
			c.Commands, c.Persist, c.RebootRequired, c.RebootReason = nil, "", false, ""
		}
	}
}

// aixSettingText is what a boot script line does to a tunable.
func aixSettingText(s aixNoSetting) string {
	switch {
	case s.Default:
		return "to its default"
	case s.Unreadable != "":
		return "to " + strconv.Quote(s.Unreadable) + ", not an integer fleettune can read"
	}
	return "to " + strconv.FormatInt(s.Value, 10)
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
		}
		if x.persist != "" {
			persist = append(persist, x.persist)
		}
		if x.reboot {
			reboot = append(reboot, x.name)
		}
	}
	sort.Strings(reboot)
	c.Persist = strings.Join(persist, "; ")
	if lo.compat && c.Persist != "" {
		// The block always holds both ends: ApplyCommands writes the range.
		c.Persist = fmt.Sprintf("%s: fleettune's block: /usr/sbin/no -o %s=%d, /usr/sbin/no -o %s=%d", AIXRcNet, aixEphemLow, want.Low, aixEphemHigh, want.High)
	}
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
		c.Commands = []string{pl.cmd}
	}
	c.Persist = pl.persist
	if pl.reboot {
		c.RebootRequired, c.RebootReason = true, aixRebootReason([]string{knob})
	}
	switch {
	case pl.outOfRange:
		c.Refused = fmt.Sprintf("%s (%s-%s)", pl.refused, show(st.lim.Min), show(st.lim.Max))
	case pl.refused != "":
		c.Refused = pl.refused
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
// and its nextboot entry (AtBootSet false: none); in compatibility mode
// the value the boot scripts give, and rc.net itself, byte for byte.
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
	if aixCompat(f) {
		s.persistedFile(AIXRcNet, f)
	}
	return s
}

// ApplyCommands returns every change's no commands in order. no -p and
// no -r write /etc/tunables/nextboot themselves, so there is no separate
// write of persistent configuration. In compatibility mode the commands
// are no -o only, and one write of rc.net follows them: fleettune's block
// with the persisted values of every change (and the block's other lines
// as they were), built from the changes' typed targets.
func (aixDriver) ApplyCommands(f *Facts, changes []Change) ([]string, error) {
	compat := aixCompat(f)
	var cmds []string
	block := map[string]int64{}
	for _, c := range changes {
		if c.Refused != "" {
			return nil, fmt.Errorf("%s: refused: %s", c.Knob, c.Refused)
		}
		for _, cmd := range c.Commands {
			if !aixCommand.MatchString(cmd) || (compat && !strings.HasPrefix(cmd, "no -o ")) {
				return nil, fmt.Errorf("%s: unexpected command %q", c.Knob, cmd)
			}
			cmds = append(cmds, cmd)
		}
		if compat && c.Persist != "" {
			wants, err := aixWants(c)
			if err != nil {
				return nil, err
			}
			for _, w := range wants {
				block[w.name] = w.v
			}
		}
	}
	if len(block) > 0 {
		w, err := aixBlockWrite(f, block, nil)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, w)
	}
	return cmds, nil
}

// aixBlockWrite is the write of rc.net with fleettune's block holding set
// (merged over the block's current values), with drop taken out of it.
func aixBlockWrite(f *Facts, set map[string]int64, drop map[string]bool) (string, error) {
	if !f.PersistedExists {
		return "", fmt.Errorf("%s does not exist; nothing to persist to", AIXRcNet)
	}
	rcnet, err := ParseAIXBootScript(AIXRcNet, f.Persisted)
	if err != nil {
		return "", err
	}
	def := aixDefaults(f)
	vals := map[string]int64{}
	highBefore := def[aixEphemHigh]
	for _, st := range rcnet.Settings {
		switch {
		case st.InBlock && st.Unreadable == "":
			vals[st.Tunable] = st.Value
			if st.Default {
				vals[st.Tunable] = def[st.Tunable]
			}
		case !st.InBlock && st.Tunable == aixEphemHigh && (rcnet.BlockBegin == 0 || st.Line < rcnet.BlockBegin) && st.Unreadable == "":
			highBefore = st.Value
			if st.Default {
				highBefore = def[aixEphemHigh]
			}
		}
	}
	for k, v := range set {
		vals[k] = v
	}
	for k := range drop {
		delete(vals, k)
	}
	return aixWriteRcNet(aixMergeBlock(f.Persisted, rcnet, aixBlockLines(vals, highBefore))), nil
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
	_, tracked := snap.Files[AIXRcNet]
	switch {
	case tracked && !aixCompat(f):
		return nil, fmt.Errorf("the change was made in the pre-5.2 compatibility mode (persisted in %s) and the host has left that mode since (sys0 pre520tune %s); restore it by hand", AIXRcNet, f.Knobs[AIXPre520Tune].Live)
	case tracked:
		return aixRestoreCompat(f, snap)
	case aixCompat(f) && len(snap.Knobs) > 0:
		return nil, fmt.Errorf("the change was persisted in %s, and the host is in the pre-5.2 compatibility mode since, where that file is not applied at boot; restore it by hand", AIXNextboot)
	}
	var cmds []string
	for _, t := range sortedKnobs(snap) {
		was, now, old, ok, err := aixRecorded(f, snap, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
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

// aixRecorded returns what snap recorded of tunable t, as an integer too,
// and the tunable as the host has it now; ok is false when t was missing
// when recorded (nothing to restore). A tunable fleettune does not manage,
// one the host no longer has and a recorded value that is not an integer
// are errors: a restore never guesses.
func aixRecorded(f *Facts, snap Snapshot, t string) (was KnobState, now Knob, old int64, ok bool, err error) {
	if !contains(aixTunables, t) {
		return was, now, 0, false, fmt.Errorf("%s: not a tunable fleettune manages", t)
	}
	was = snap.Knobs[t]
	if was.Missing {
		return was, now, 0, false, nil
	}
	now, has := f.Knobs[t]
	if !has || now.Missing {
		return was, now, 0, false, fmt.Errorf("%s: the host no longer has this tunable; cannot restore %q", t, was.Live)
	}
	old, err = strconv.ParseInt(strings.TrimSpace(was.Live), 10, 64)
	if err != nil {
		return was, now, 0, false, fmt.Errorf("%s: recorded value %q is not an integer", t, was.Live)
	}
	return was, now, old, true, nil
}

// aixRestoreCompat restores a change made in compatibility mode: the live
// values with no -o, and rc.net as it was, byte for byte, when nothing
// outside fleettune's block changed since; otherwise only the block is put
// back as it was (or taken out), and the other lines are kept as they are
// now.
func aixRestoreCompat(f *Facts, snap Snapshot) ([]string, error) {
	var live []aixWant
	for _, t := range sortedKnobs(snap) {
		was, now, old, ok, err := aixRecorded(f, snap, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if !sameInts(now.Live, was.Live) {
			live = append(live, aixWant{t, old})
		}
	}
	// In aixTunables order, but never crossing the range: a low end going
	// above the high end in force waits for the high end.
	sort.Slice(live, func(i, j int) bool { return indexOf(aixTunables, live[i].name) < indexOf(aixTunables, live[j].name) })
	if len(live) >= 2 && live[0].name == aixEphemLow && live[1].name == aixEphemHigh {
		if hi, err := strconv.ParseInt(strings.TrimSpace(f.Knobs[aixEphemHigh].Live), 10, 64); err == nil && live[0].v >= hi {
			live[0], live[1] = live[1], live[0]
		}
	}
	var cmds []string
	for _, w := range live {
		cmds = append(cmds, fmt.Sprintf("no -o %s=%d", w.name, w.v))
	}
	for _, c := range cmds {
		if !aixCommand.MatchString(c) {
			return nil, fmt.Errorf("internal: unexpected restore command %q", c)
		}
	}
	want := snap.Files[AIXRcNet]
	if want == nil {
		return nil, fmt.Errorf("the snapshot says %s did not exist; fleettune never writes it then", AIXRcNet)
	}
	if f.PersistedExists && f.Persisted == *want {
		return cmds, nil
	}
	if !f.PersistedExists {
		return nil, fmt.Errorf("%s is gone; cannot put fleettune's block back into it", AIXRcNet)
	}
	content := *want
	nowOut, err1 := aixOutsideBlock(f.Persisted)
	wasOut, err2 := aixOutsideBlock(*want)
	if err := aixFirstErr(err1, err2); err != nil {
		return nil, err
	}
	if nowOut != wasOut {
		// Someone changed rc.net outside the block since: keep their
		// lines, and put back only the block.
		cur, _ := ParseAIXBootScript(AIXRcNet, f.Persisted)
		old, _ := ParseAIXBootScript(AIXRcNet, *want)
		var lines []string
		if old.BlockBegin != 0 {
			all := strings.Split(*want, "\n")
			lines = all[old.BlockBegin : old.BlockEnd-1]
		}
		content = aixMergeBlock(f.Persisted, cur, lines)
	}
	return append(cmds, aixWriteRcNet(content)), nil
}

// aixBlockDifference says how fleettune's block in rc.net differs from the
// one snap recorded; "" when it is the same (lines outside the block are
// not fleettune's, and a rollback keeps them as they are now).
func aixBlockDifference(f *Facts, snap Snapshot) string {
	was, tracked := snap.Files[AIXRcNet]
	switch {
	case !tracked:
		return ""
	case was == nil || !f.PersistedExists:
		return fileDifference(AIXRcNet, f, snap)
	}
	now, err1 := aixBlockText(f.Persisted)
	old, err2 := aixBlockText(*was)
	if err := aixFirstErr(err1, err2); err != nil {
		return AIXRcNet + ": " + err.Error()
	}
	if now != old {
		return AIXRcNet + ": fleettune's block differs from what it was"
	}
	return ""
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return len(list)
}

// Differences says how f differs from snap: live values and nextboot
// entries (in compatibility mode: what the boot scripts give, and rc.net);
// empty when the host is back.
func (aixDriver) Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	if d := aixBlockDifference(f, snap); d != "" {
		diff = append(diff, d)
	}
	source, sets := AIXNextboot, "sets"
	if _, ok := snap.Files[AIXRcNet]; ok {
		source, sets = "the boot scripts ("+AIXRcNet+", "+AIXRcTCPIP+")", "set"
	}
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
			diff = append(diff, fmt.Sprintf("%s: %s no longer %s %s (was %s)", t, source, sets, t, was.AtBoot))
		case !was.AtBootSet && now.AtBootSet:
			diff = append(diff, fmt.Sprintf("%s: %s %s %s = %s; it had no entry", t, source, sets, t, now.AtBoot))
		case was.AtBootSet && !sameInts(now.AtBoot, was.AtBoot):
			diff = append(diff, fmt.Sprintf("%s: %s %s %s = %s, was %s", t, source, sets, t, now.AtBoot, was.AtBoot))
		}
	}
	return diff
}
