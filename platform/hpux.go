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

	"github.com/fleettune/fleettune/internal/hostcmd"
)

// HP-UX 11i: every knob is an ndd parameter of /dev/tcp, read and set at
// run time with ndd and persisted as indexed entries of
// /etc/rc.config.d/nddconf, which /sbin/rc2.d/S340net applies at boot
// (ndd -c) in index order.
const (
	hpuxSmallestAnon = "tcp_smallest_anon_port"
	hpuxLargestAnon  = "tcp_largest_anon_port"
	hpuxTimeWait     = "tcp_time_wait_interval"  // ms
	hpuxKeepalive    = "tcp_keepalive_interval"  // ms
	hpuxTwCleanup    = "tcp_tw_cleanup_interval" // ms; read for notes only

	// HPUXNddconf is the file ndd -c reads at boot. It always exists on
	// HP-UX; fleettune edits it entry by entry and keeps everything else.
	HPUXNddconf = "/etc/rc.config.d/nddconf"
	// hpuxNddconfTmp is where the new nddconf is written before the rename.
	// /etc/rc.config sources no file whose name holds a dot, so a stray
	// temporary file is never read at boot.
	hpuxNddconfTmp = HPUXNddconf + ".fleettune-tmp"
)

// hpuxKnobs are read on every HP-UX host, in this order.
var hpuxKnobs = []string{hpuxSmallestAnon, hpuxLargestAnon, hpuxTimeWait, hpuxKeepalive, hpuxTwCleanup}

// hpuxReleases are the releases fleettune knows (uname -r).
var hpuxReleases = []string{"B.11.11", "B.11.23", "B.11.31"}

// hpuxLimit is a knob's default and the values ndd accepts for it
// (HP-UX TCP/IP Performance White Paper, 2008; platforms.md 4.1).
type hpuxLimit struct{ def, min, max int64 }

var hpuxLimits = map[string]hpuxLimit{
	hpuxSmallestAnon: {49152, 1024, 65535},
	hpuxLargestAnon:  {65535, 1024, 65535},
	hpuxTimeWait:     {60000, 1000, 600000},
	hpuxKeepalive:    {7200000, 10000, 864000000},
	hpuxTwCleanup:    {60000, 10000, 300000},
}

type hpuxDriver struct{}

// newHPUXDriver returns the HP-UX 11i driver.

var (
	_ Driver  = hpuxDriver{}
	_ Applier = hpuxDriver{}
)

func (hpuxDriver) OS() string { return HPUX }

// Capabilities: see Driver.
func (hpuxDriver) Capabilities() Capabilities { return Capabilities{Counters: true} }

// Counters reads the TCP statistics with BSDCountersCommand.
func (hpuxDriver) Counters(ctx context.Context, r Runner) (Counters, error) {
	return bsdCounters(ctx, r)
}

// Thresholds returns a copy of the defaults for netstat -p tcp's counters.
func (hpuxDriver) Thresholds() map[string]int64 { return maps.Clone(bsdThresholds) }

// HPUXGatherScript is the one command Gather runs on an HP-UX host. Every
// command's stderr goes to stdout, and a failing command is followed by a
// "failed NAME" section, so each section's errors are seen on their own.
// The knob names are constants; nothing from input reaches the line.
func HPUXGatherScript() string { return cachedHPUXGatherScript() }

var cachedHPUXGatherScript = sync.OnceValue(func() string {
	var b strings.Builder
	section := func(name, cmd string) {
		fmt.Fprintf(&b, "echo '%s%s'; %s 2>&1 || echo '%sfailed %s'\n", sectionMarker, name, cmd, sectionMarker, name)
	}
	section("uname", "uname -r")
	section("who", "LC_ALL=C who -b")
	for _, k := range hpuxKnobs {
		section("ndd "+k, "ndd -get /dev/tcp "+k)
	}
	// Only LISTEN rows and the TIME_WAIT count are read: the host filters.
	// The section's status is awk's, so a failing netstat shows as its
	// message without the table (parseFilteredBSDNetstat refuses that).
	section("netstat", "LC_ALL=C netstat -an 2>&1 | "+netstatFilter("$NF"))
	// The echo after cat ends the file's last line, so the next marker
	// (none today) could not be glued to it; the parser takes it off again.
	fmt.Fprintf(&b, "echo '%snddconf'; cat %s 2>&1 && echo || echo '%sfailed nddconf'\n", sectionMarker, HPUXNddconf, sectionMarker)
	return b.String()
})

// Gather reads the host in one command. native is not used: HP-UX has no
// native knobs yet, and the knobs fleettune manages are always read.
func (d hpuxDriver) Gather(ctx context.Context, r Runner, native []string) (*Facts, error) {
	res, err := r.Run(ctx, HPUXGatherScript())
	if err != nil {
		return nil, fmt.Errorf("read ndd parameters: %w", err)
	}
	// Every command's failure is reported in its own section; a non-zero
	// exit here means the script itself did not run.
	out := outputText(res.Stdout)
	if res.ExitCode != 0 && !strings.Contains(out, sectionMarker) {
		return nil, fmt.Errorf("read ndd parameters: exit status %d: %s", res.ExitCode, firstLine(string(res.Stderr)))
	}
	return ParseHPUXFacts(out)
}

// ParseHPUXFacts parses the output of HPUXGatherScript.
func ParseHPUXFacts(out string) (*Facts, error) {
	f := &Facts{OS: HPUX, Knobs: map[string]Knob{}, TimeWait: -1}
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

	v, err := body("uname")
	if err != nil {
		return nil, fmt.Errorf("read release: uname -r: %s", sectionError(v, err))
	}
	f.Version = strings.TrimSpace(v)

	v, err = body("who")
	if err != nil {
		return nil, fmt.Errorf("read boot time: who -b: %s", sectionError(v, err))
	}
	f.BootID = firstLine(v)
	if f.BootID == "" || !strings.Contains(f.BootID, "system boot") {
		return nil, fmt.Errorf("read boot time: who -b printed %q, expected a \"system boot\" line", firstLine(v))
	}

	for _, k := range hpuxKnobs {
		v, err := body("ndd " + k)
		// Mentat's ndd prints errors on stdout and may exit 0: its
		// messages are errors whatever the exit status.
		if err == nil && hpuxNddMessage(v) {
			err = errSectionFailed
		}
		if err != nil {
			msg := sectionError(v, err)
			if hpuxUnknownParameter(msg) {
				f.Knobs[k] = Knob{Name: k, Missing: true}
				continue
			}
			if hpuxNotPermitted(msg) {
				return nil, fmt.Errorf("read %s: ndd -get /dev/tcp %s: %s (connect as root or set become: sudo)", k, k, msg)
			}
			return nil, fmt.Errorf("read %s: ndd -get /dev/tcp %s: %s", k, k, msg)
		}
		live := strings.TrimSpace(v)
		if _, err := parseNddInt(live); err != nil {
			return nil, fmt.Errorf("read %s: ndd -get printed %q, expected a number", k, firstLine(v))
		}
		f.Knobs[k] = Knob{Name: k, Live: live}
	}

	v, err = body("netstat")
	if err != nil {
		return nil, fmt.Errorf("read sockets: netstat -an: %s", sectionError(v, err))
	}
	if f.Listening, f.TimeWait, err = parseFilteredBSDNetstat(v); err != nil {
		return nil, fmt.Errorf("read sockets: %w", err)
	}

	v, err = body("nddconf")
	switch {
	case err == nil:
		f.Persisted, f.PersistedExists = strings.TrimSuffix(v, "\n"), true
	case strings.Contains(v, "No such file or directory"):
		// Not on a healthy HP-UX host; treated as an empty file that
		// restoring removes again.
	default:
		return nil, fmt.Errorf("read %s: %s", HPUXNddconf, sectionError(v, err))
	}
	cfg := parseNddconf(f.Persisted)
	for name, e := range cfg.effective() {
		if k, ok := f.Knobs[name]; ok {
			k.AtBoot, k.AtBootSet, k.Source = e.Value, true, fmt.Sprintf("%s: NDD_NAME[%d]", HPUXNddconf, e.Index)
			f.Knobs[name] = k
		}
	}
	return f, nil
}

var errSectionFailed = fmt.Errorf("command failed")

// sectionError is what a failed section printed, for an error message.
func sectionError(body string, err error) string {
	if msg := strings.TrimSpace(body); msg != "" {
		return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	}
	return err.Error()
}

// hpuxUnknownParameter reports whether ndd's message says the parameter
// does not exist on this release. ndd asks the driver with an ioctl, which
// fails with EINVAL for a name it does not know.
func hpuxUnknownParameter(msg string) bool {
	return strings.Contains(msg, "non-existent") ||
		strings.Contains(msg, "operation failed") && strings.Contains(msg, "Invalid argument")
}

// hpuxNddMessage reports whether what ndd -get printed is one of its
// messages rather than a value: "name is non-existent for this module"
// (the module's answer to an unknown name, exit status 0) or "operation
// failed, ..." / "operation failed: ...".
func hpuxNddMessage(out string) bool {
	return strings.Contains(out, "non-existent") || strings.Contains(out, "operation failed")
}

// hpuxNotPermitted reports a permission error (EPERM is "Not owner" in
// HP-UX's strerror, EACCES "Permission denied").
func hpuxNotPermitted(msg string) bool {
	return strings.Contains(msg, "Not owner") || strings.Contains(msg, "Permission denied")
}

// parseNddInt parses a value as ndd prints it (decimal) or accepts it
// (decimal, or hexadecimal with 0x, as nddconf may hold).
func parseNddInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return strconv.ParseInt(h, 16, 64)
	}
	return strconv.ParseInt(s, 10, 64)
}

// nddEntry is one indexed entry of nddconf.
type nddEntry struct {
	Index                  int
	Transport, Name, Value string
	hasName, hasValue      bool
	// nameLine and valueLine are the 0-based lines of the last
	// NDD_NAME and NDD_VALUE assignments: the ones the shell keeps.
	nameLine, valueLine int
}

// nddconf is a parsed /etc/rc.config.d/nddconf.
type nddconf struct {
	entries map[int]*nddEntry
}

// nddLine matches an assignment of an nddconf array element; the file is
// sourced by the POSIX shell, so values may be quoted.
var nddLine = regexp.MustCompile(`^[ \t]*(TRANSPORT_NAME|NDD_NAME|NDD_VALUE)\[([0-9]+)\]=(.*)$`)

func parseNddconf(content string) nddconf {
	c := nddconf{entries: map[int]*nddEntry{}}
	for i, line := range strings.Split(content, "\n") {
		m := nddLine.FindStringSubmatch(strings.TrimSuffix(line, "\r"))
		if m == nil {
			continue
		}
		idx, err := strconv.Atoi(m[2])
		if err != nil {
			continue
		}
		e := c.entries[idx]
		if e == nil {
			e = &nddEntry{Index: idx}
			c.entries[idx] = e
		}
		v := unquoteShell(strings.TrimSpace(m[3]))
		// A later assignment replaces an earlier one, as in the shell.
		switch m[1] {
		case "TRANSPORT_NAME":
			e.Transport = v
		case "NDD_NAME":
			e.Name, e.hasName, e.nameLine = v, true, i
		case "NDD_VALUE":
			e.Value, e.hasValue, e.valueLine = v, true, i
		}
	}
	return c
}

func unquoteShell(v string) string {
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

// indexes lists the indexes in use, sorted.
func (c nddconf) indexes() []int {
	idx := make([]int, 0, len(c.entries))
	for i := range c.entries {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

// nextFree is the index after the highest one in use: new entries are
// appended, and no other entry is ever renumbered.
func (c nddconf) nextFree() int {
	idx := c.indexes()
	if len(idx) == 0 {
		return 0
	}
	return idx[len(idx)-1] + 1
}

// gaps lists the indexes missing below the highest one in use.
func (c nddconf) gaps() []int {
	var g []int
	for i := 0; i < c.nextFree(); i++ {
		if c.entries[i] == nil {
			g = append(g, i)
		}
	}
	return g
}

// effective gives, per /dev/tcp parameter, the entry ndd -c applies last at
// boot: entries apply in index order, so the highest index wins.
func (c nddconf) effective() map[string]*nddEntry {
	out := map[string]*nddEntry{}
	for _, i := range c.indexes() {
		e := c.entries[i]
		if e.hasName && e.hasValue && e.Transport == "tcp" {
			out[e.Name] = e
		}
	}
	return out
}

// hpuxKnobValue is one knob's state as numbers.
type hpuxKnobValue struct {
	live, boot  int64
	bootDefault bool // boot is the HP-UX default: nothing persisted sets it
	missing     bool
}

func hpuxValue(f *Facts, knob string) (hpuxKnobValue, error) {
	k, ok := f.Knobs[knob]
	if !ok || k.Missing {
		return hpuxKnobValue{missing: true}, fmt.Errorf("this system has no ndd parameter %s", knob)
	}
	live, err := parseNddInt(k.Live)
	if err != nil {
		return hpuxKnobValue{}, fmt.Errorf("cannot parse the live value %q of %s", k.Live, knob)
	}
	v := hpuxKnobValue{live: live, boot: hpuxLimits[knob].def, bootDefault: true}
	if k.AtBootSet {
		b, err := parseNddInt(k.AtBoot)
		if err != nil {
			return hpuxKnobValue{}, fmt.Errorf("cannot parse %s=%q in %s", knob, k.AtBoot, HPUXNddconf)
		}
		v.boot, v.bootDefault = b, false
	}
	return v, nil
}

func (d hpuxDriver) Propose(f *Facts, t Targets, g Guardrails) Proposal {
	var p Proposal
	if f.Version != "" && !contains(hpuxReleases, f.Version) {
		p.Notes = append(p.Notes, fmt.Sprintf("HP-UX release %s is not one fleettune knows (%s); ndd and nddconf are used the same way", f.Version, strings.Join(hpuxReleases, ", ")))
	}
	cfg := parseNddconf(f.Persisted)
	alloc := newNddAllocator(cfg)
	if t.EphemeralPorts != nil {
		p.add(d.proposeRange(f, *t.EphemeralPorts, g, alloc))
	}
	if t.TimeWait != nil {
		p.add(d.proposeDuration(f, TimeWait, hpuxTimeWait, *t.TimeWait, alloc))
	}
	if t.KeepaliveTime != nil {
		p.add(d.proposeDuration(f, KeepaliveTime, hpuxKeepalive, *t.KeepaliveTime, alloc))
	}
	p.Changes = append(p.Changes, refuseNative(HPUX, t)...)
	if len(alloc.appended) > 0 {
		if g := cfg.gaps(); len(g) > 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("%s has no entry at index %s; HP asks for consecutive indexes, so check that ndd -c applies the entries after the gap", HPUXNddconf, joinInts(g)))
		}
		if f.Version == "B.11.11" && alloc.next > 10 {
			p.Notes = append(p.Notes, fmt.Sprintf("%s would use indexes up to %d; early HP-UX 11i v1 patch levels are reported to read only the first 10 entries", HPUXNddconf, alloc.next-1))
		}
	}
	p.typeTargets(t)
	return p
}

// nddAllocator hands out nddconf indexes for the entries a proposal
// persists: the winning tcp entry of a parameter when there is one (updated
// in place), otherwise the next free index.
type nddAllocator struct {
	cfg      nddconf
	eff      map[string]*nddEntry
	next     int
	given    map[string]int
	appended []int
}

func newNddAllocator(cfg nddconf) *nddAllocator {
	return &nddAllocator{cfg: cfg, eff: cfg.effective(), next: cfg.nextFree(), given: map[string]int{}}
}

func (a *nddAllocator) index(knob string) int {
	if i, ok := a.given[knob]; ok {
		return i
	}
	var i int
	if e, ok := a.eff[knob]; ok {
		i = e.Index
	} else {
		i = a.next
		a.next++
		a.appended = append(a.appended, i)
	}
	a.given[knob] = i
	return i
}

// hpuxPersistText describes, for the operator, the nddconf entries a change
// writes; ApplyCommands decides them again from the facts, never from it.
func hpuxPersistText(entries []hpuxSet) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = fmt.Sprintf("NDD_NAME[%d]=%s NDD_VALUE[%d]=%d", e.index, e.knob, e.index, e.value)
	}
	return HPUXNddconf + ": " + strings.Join(parts, ", ")
}

// hpuxSet is one knob set to one value, with its nddconf index.
type hpuxSet struct {
	knob  string
	value int64
	index int
}

func (d hpuxDriver) proposeRange(f *Facts, want PortRange, g Guardrails, alloc *nddAllocator) (*Change, []string) {
	c := Change{Setting: string(EphemeralPorts), Knob: hpuxSmallestAnon + "/" + hpuxLargestAnon, Target: want.String()}
	lo, err1 := hpuxValue(f, hpuxSmallestAnon)
	hi, err2 := hpuxValue(f, hpuxLargestAnon)
	if err := firstErr(err1, err2); err != nil {
		c.Current = "(unknown)"
		if lo.missing || hi.missing {
			c.Current = "(missing)"
		}
		c.Refused = err.Error()
		return &c, nil
	}
	live := PortRange{int(lo.live), int(hi.live)}
	boot := PortRange{int(lo.boot), int(hi.boot)}
	c.Current, c.Before = live.String(), portsValue(live)
	if live == want && boot == want {
		return nil, nil
	}
	if boot != live {
		c.AtBoot = boot.String()
		if lo.bootDefault && hi.bootDefault {
			c.AtBoot += " (HP-UX default)"
		}
	}
	c.Commands = hpuxRangeCommands(live, want)
	var persist []hpuxSet
	if lo.boot != int64(want.Low) {
		persist = append(persist, hpuxSet{hpuxSmallestAnon, int64(want.Low), alloc.index(hpuxSmallestAnon)})
	}
	if hi.boot != int64(want.High) {
		persist = append(persist, hpuxSet{hpuxLargestAnon, int64(want.High), alloc.index(hpuxLargestAnon)})
	}
	if len(persist) > 0 {
		c.Persist = hpuxPersistText(persist)
	}

	// Guardrails. ndd does not check smallest <= largest ("undefined
	// behaviour"); ParsePortRange already did.
	if err := want.Validate(); err != nil {
		c.Refused = err.Error()
	} else if want.Low < int(hpuxLimits[hpuxSmallestAnon].min) {
		c.Refused = fmt.Sprintf("low end %d is a privileged port; %s must be at least 1024", want.Low, hpuxSmallestAnon)
	}
	var notes []string
	if want.Size() < 1024 {
		notes = append(notes, fmt.Sprintf("ephemeral_ports %s holds only %d ports", want, want.Size()))
	}
	return &c, notes
}

// hpuxRangeCommands sets the range so that smallest <= largest holds after
// every step: ndd does not check it, and a crossed range is undefined
// behaviour. Moving the range above the current high end sets the high end
// first; otherwise the low end goes first.
func hpuxRangeCommands(live, want PortRange) []string {
	var cmds []string
	setLo := fmt.Sprintf("ndd -set /dev/tcp %s %d", hpuxSmallestAnon, want.Low)
	setHi := fmt.Sprintf("ndd -set /dev/tcp %s %d", hpuxLargestAnon, want.High)
	loDiff, hiDiff := live.Low != want.Low, live.High != want.High
	switch {
	case want.Low > live.High:
		if hiDiff {
			cmds = append(cmds, setHi)
		}
		if loDiff {
			cmds = append(cmds, setLo)
		}
	default:
		if loDiff {
			cmds = append(cmds, setLo)
		}
		if hiDiff {
			cmds = append(cmds, setHi)
		}
	}
	return cmds
}

// hpuxMillis converts a duration to ndd's milliseconds; it must be whole.
func hpuxMillis(d time.Duration) (int64, error) {
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("%s is not a whole number of milliseconds", d)
	}
	return int64(d / time.Millisecond), nil
}

// hpuxDuration shows a millisecond value the operator's way ("30s").
func hpuxDuration(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }

func (d hpuxDriver) proposeDuration(f *Facts, setting Setting, knob string, want time.Duration, alloc *nddAllocator) (*Change, []string) {
	c := Change{Setting: string(setting), Knob: knob, Target: want.String()}
	v, err := hpuxValue(f, knob)
	if err != nil {
		c.Current = "(unknown)"
		if v.missing {
			c.Current = "(missing)"
		}
		c.Refused = err.Error()
		return &c, nil
	}
	c.Current, c.Before = hpuxDuration(v.live), durationValue(time.Duration(v.live)*time.Millisecond)
	ms, err := hpuxMillis(want)
	if err != nil {
		c.Refused = err.Error()
		return &c, nil
	}
	if v.live == ms && v.boot == ms {
		return nil, nil
	}
	if v.boot != v.live {
		c.AtBoot = hpuxDuration(v.boot)
		if v.bootDefault {
			c.AtBoot += " (HP-UX default)"
		}
	}
	if v.live != ms {
		c.Commands = []string{fmt.Sprintf("ndd -set /dev/tcp %s %d", knob, ms)}
	}
	if v.boot != ms {
		c.Persist = hpuxPersistText([]hpuxSet{{knob, ms, alloc.index(knob)}})
	}
	lim := hpuxLimits[knob]
	if ms < lim.min || ms > lim.max {
		c.Refused = fmt.Sprintf("%s must be between %s and %s (%d-%d ms)", knob, hpuxDuration(lim.min), hpuxDuration(lim.max), lim.min, lim.max)
	}
	var notes []string
	if knob == hpuxTimeWait && c.Refused == "" {
		if tw, err := hpuxValue(f, hpuxTwCleanup); err == nil && tw.live > ms {
			notes = append(notes, fmt.Sprintf("time_wait %s: HP-UX reaps TIME_WAIT sockets every %s (tcp_tw_cleanup_interval), so they may last up to %s", want, hpuxDuration(tw.live), hpuxDuration(ms+tw.live)))
		}
	}
	if knob == hpuxKeepalive && len(c.Commands) > 0 {
		notes = append(notes, "keepalive_time: ndd changes to tcp_keepalive_interval may apply only to connections opened afterwards (ndd(1M): some settings affect only newly opened streams)")
	}
	return &c, notes
}

// hpuxSettingKnobs maps an abstract setting to its ndd parameters.
var hpuxSettingKnobs = map[string][]string{
	string(EphemeralPorts): {hpuxSmallestAnon, hpuxLargestAnon},
	string(TimeWait):       {hpuxTimeWait},
	string(KeepaliveTime):  {hpuxKeepalive},
}

// hpuxTargetValues turns a change's target into ndd values by knob, from
// the typed value only.
func hpuxTargetValues(c Change) (map[string]int64, error) {
	switch Setting(c.Setting) {
	case EphemeralPorts:
		r, err := targetPorts(c)
		if err != nil {
			return nil, err
		}
		return map[string]int64{hpuxSmallestAnon: int64(r.Low), hpuxLargestAnon: int64(r.High)}, nil
	case TimeWait, KeepaliveTime:
		d, err := targetDuration(c)
		if err != nil {
			return nil, err
		}
		ms, err := hpuxMillis(d)
		if err != nil {
			return nil, err
		}
		return map[string]int64{hpuxSettingKnobs[c.Setting][0]: ms}, nil
	}
	return nil, fmt.Errorf("setting %q is not supported on HP-UX", c.Setting)
}

// Snapshot records the live and persisted state of every knob the changes
// touch, and nddconf's whole content.
func (hpuxDriver) Snapshot(f *Facts, changes []Change) Snapshot {
	s := Snapshot{Knobs: map[string]KnobState{}, Files: map[string]*string{}}
	for _, c := range changes {
		for _, k := range hpuxSettingKnobs[c.Setting] {
			kn := f.Knobs[k]
			s.Knobs[k] = stateOf(kn)
		}
	}
	s.persistedFile(HPUXNddconf, f)
	return s
}

// ApplyCommands returns the ndd -set commands of every change, rebuilt from
// the typed targets and the live values, then one command that rewrites
// nddconf with the entries the changes persist: updated in place at their
// index, or appended at the index the plan showed.
func (hpuxDriver) ApplyCommands(f *Facts, changes []Change) ([]string, error) {
	var cmds []string
	var sets []hpuxSet
	alloc := newNddAllocator(parseNddconf(f.Persisted))
	for _, c := range changes {
		if c.Refused != "" {
			return nil, fmt.Errorf("%s: refused: %s", c.Knob, c.Refused)
		}
		want, err := hpuxTargetValues(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Setting, err)
		}
		if Setting(c.Setting) == EphemeralPorts {
			lo, err1 := hpuxValue(f, hpuxSmallestAnon)
			hi, err2 := hpuxValue(f, hpuxLargestAnon)
			if err := firstErr(err1, err2); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Setting, err)
			}
			cmds = append(cmds, hpuxRangeCommands(PortRange{int(lo.live), int(hi.live)}, PortRange{int(want[hpuxSmallestAnon]), int(want[hpuxLargestAnon])})...)
		} else {
			knob := hpuxSettingKnobs[c.Setting][0]
			v, err := hpuxValue(f, knob)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Setting, err)
			}
			if v.live != want[knob] {
				cmds = append(cmds, fmt.Sprintf("ndd -set /dev/tcp %s %d", knob, want[knob]))
			}
		}
		// The nddconf entries, decided as Propose decided them: every knob
		// whose value at boot is not the target, at the index the same
		// allocation gives (Persist only describes them).
		for _, knob := range hpuxSettingKnobs[c.Setting] {
			v, err := hpuxValue(f, knob)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Setting, err)
			}
			if v.boot != want[knob] {
				sets = append(sets, hpuxSet{knob: knob, value: want[knob], index: alloc.index(knob)})
			}
		}
	}
	if len(sets) > 0 {
		content, err := mergeNddconf(f.Persisted, sets)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, hpuxWriteNddconf(content))
	}
	return cmds, nil
}

// mergeNddconf sets each entry in nddconf's content. An index already in
// use must be the tcp entry of the same parameter: its NDD_VALUE line is
// rewritten and nothing else. A free index gets three lines appended at the
// end. Every other byte of the file stays as it was.
func mergeNddconf(old string, sets []hpuxSet) (string, error) {
	cfg := parseNddconf(old)
	lines := strings.SplitAfter(old, "\n")
	insertAfter := map[int]string{}
	var appended []hpuxSet
	for _, s := range sets {
		e, used := cfg.entries[s.index]
		if !used {
			appended = append(appended, s)
			continue
		}
		if e.Transport != "tcp" || e.Name != s.knob {
			return "", fmt.Errorf("%s: index %d now holds %s %s, not %s; run plan again", HPUXNddconf, s.index, e.Transport, e.Name, s.knob)
		}
		line := fmt.Sprintf("NDD_VALUE[%d]=%d", s.index, s.value)
		if e.hasValue {
			end := ""
			if strings.HasSuffix(lines[e.valueLine], "\n") {
				end = "\n"
			}
			lines[e.valueLine] = line + end
		} else {
			insertAfter[e.nameLine] = line
		}
	}
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l)
		if extra, ok := insertAfter[i]; ok {
			if !strings.HasSuffix(l, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(extra + "\n")
		}
	}
	sort.Slice(appended, func(i, j int) bool { return appended[i].index < appended[j].index })
	if len(appended) > 0 && b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	for _, s := range appended {
		fmt.Fprintf(&b, "TRANSPORT_NAME[%d]=tcp\nNDD_NAME[%d]=%s\nNDD_VALUE[%d]=%d\n", s.index, s.index, s.knob, s.index, s.value)
	}
	return b.String(), nil
}

// hpuxWriteNddconf replaces nddconf with content atomically: written whole
// to a temporary file beside it, then renamed over it.
func hpuxWriteNddconf(content string) string {
	return hpuxWriteFile(HPUXNddconf, hpuxNddconfTmp, content)
}

func hpuxWriteFile(path, tmp, content string) string {
	return fmt.Sprintf("printf '%%s' %s > %s && mv -f %s %s", hostcmd.ShellQuote(content), tmp, tmp, path)
}

// RestoreCommands set every knob of snap back to its live value (in an
// order that never crosses the port range) and nddconf back to its content.
func (hpuxDriver) RestoreCommands(f *Facts, snap Snapshot) ([]string, error) {
	var cmds []string
	was := map[string]int64{}
	for _, k := range sortedKnobs(snap) {
		if _, known := hpuxLimits[k]; !known {
			return nil, fmt.Errorf("%s: not an HP-UX ndd parameter fleettune manages", k)
		}
		s := snap.Knobs[k]
		if s.Missing {
			continue
		}
		v, err := parseNddInt(s.Live)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot restore %q: not a number", k, s.Live)
		}
		if now, ok := f.Knobs[k]; !ok || now.Missing {
			return nil, fmt.Errorf("%s: the host no longer has this parameter; cannot restore %d", k, v)
		}
		was[k] = v
	}
	_, hasLo := was[hpuxSmallestAnon]
	_, hasHi := was[hpuxLargestAnon]
	if hasLo && hasHi {
		lo, err1 := hpuxValue(f, hpuxSmallestAnon)
		hi, err2 := hpuxValue(f, hpuxLargestAnon)
		if err := firstErr(err1, err2); err != nil {
			return nil, err
		}
		cmds = append(cmds, hpuxRangeCommands(PortRange{int(lo.live), int(hi.live)}, PortRange{int(was[hpuxSmallestAnon]), int(was[hpuxLargestAnon])})...)
	}
	for _, k := range sortedKnobs(snap) {
		w, ok := was[k]
		if !ok || (hasLo && hasHi && (k == hpuxSmallestAnon || k == hpuxLargestAnon)) {
			continue
		}
		v, err := hpuxValue(f, k)
		if err != nil {
			return nil, err
		}
		if v.live != w {
			cmds = append(cmds, fmt.Sprintf("ndd -set /dev/tcp %s %d", k, w))
		}
	}
	if content, tracked := snap.Files[HPUXNddconf]; tracked {
		switch {
		case content == nil && f.PersistedExists:
			cmds = append(cmds, "rm -f "+HPUXNddconf)
		case content != nil && (!f.PersistedExists || f.Persisted != *content):
			cmds = append(cmds, hpuxWriteNddconf(*content))
		}
	}
	return cmds, nil
}

// Differences says how f differs from snap; empty when the host is back.
func (hpuxDriver) Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	for _, k := range sortedKnobs(snap) {
		was, now := snap.Knobs[k], f.Knobs[k]
		switch {
		case was.Missing != now.Missing:
			diff = append(diff, fmt.Sprintf("%s: missing was %t, is %t", k, was.Missing, now.Missing))
		case !was.Missing && !sameNdd(now.Live, was.Live):
			diff = append(diff, fmt.Sprintf("%s is %s, was %s", k, strings.TrimSpace(now.Live), strings.TrimSpace(was.Live)))
		}
	}
	if d := fileDifference(HPUXNddconf, f, snap); d != "" {
		diff = append(diff, d)
	}
	return diff
}

// sameNdd compares two ndd values by meaning (0x10 equals 16).
func sameNdd(a, b string) bool {
	x, err1 := parseNddInt(a)
	y, err2 := parseNddInt(b)
	if err1 != nil || err2 != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	return x == y
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
