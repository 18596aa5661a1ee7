package platform

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Solaris has two ways to tune TCP. Solaris 10 (SunOS 5.10) has ndd, whose
// settings are lost at reboot: fleettune persists them in an SMF service of
// its own that runs before network services (solaris_smf.go). Solaris 11
// (5.11) has ipadm, whose
// set-prop is live and persistent at once and whose show-prop shows the
// persisted value beside the live one.
//
// Facts.Knobs are keyed by the OS's own names: the ndd names on 5.10
// (tcp_smallest_anon_port ...), the ipadm names on 5.11
// (smallest_anon_port ...). The ephemeral range is one Change whose Knob is
// both names joined by a comma, smallest first.
const (
	// SolarisRCScript is the rc script earlier fleettune releases persisted
	// Solaris 10's values in; fleettune now migrates it to SMF
	// (solaris_smf.go). /sbin/rc2 runs every /etc/rc2.d/S* file that is not
	// *.sh as `/sbin/sh FILE start`, from svc:/milestone/multi-user: after
	// most SMF services have started.
	SolarisRCScript = "/etc/rc2.d/S70fleettune"

	solarisNdd   = "/usr/sbin/ndd"
	solarisIpadm = "/usr/sbin/ipadm"

	// Solaris defaults (Tunable Parameters Reference Manual, S10 and S11).
	solarisDefaultLow       = 32768
	solarisDefaultHigh      = 65535
	solarisDefaultTimeWait  = 60000   // ms
	solarisDefaultKeepalive = 7200000 // ms

	// Limits: the kernel's (tcp_time_wait_interval 1 s-10 min,
	// tcp_keepalive_interval 10 s-10 days) and fleettune's floor for
	// TIME_WAIT (the Solaris 11.4 manual: not below 10 s).
	solarisMinTimeWait  = time.Second
	solarisMaxTimeWait  = 10 * time.Minute
	solarisTimeWaitWarn = 10 * time.Second
	solarisOldAdvice    = 60 * time.Second
	solarisMinKeepalive = 10 * time.Second
	solarisMaxKeepalive = 10 * 24 * time.Hour
)

// solarisNames are one variant's names for the four knobs.
type solarisNames struct {
	Smallest, Largest, TimeWait, Keepalive string
}

func (n solarisNames) list() []string {
	return []string{n.Smallest, n.Largest, n.TimeWait, n.Keepalive}
}

func (n solarisNames) rangeKnob() string { return n.Smallest + "," + n.Largest }

var (
	solarisNddNames   = solarisNames{"tcp_smallest_anon_port", "tcp_largest_anon_port", "tcp_time_wait_interval", "tcp_keepalive_interval"}
	solarisIpadmNames = solarisNames{"smallest_anon_port", "largest_anon_port", "_time_wait_interval", "_keepalive_interval"}
)

// solarisUsesIpadm reports whether a release (uname -r) is tuned with ipadm:
// 5.11 and later. 5.10 and earlier use ndd.
func solarisUsesIpadm(release string) (bool, error) {
	major, minor, ok := strings.Cut(strings.TrimSpace(release), ".")
	m, err1 := strconv.Atoi(major)
	n, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || m != 5 {
		return false, fmt.Errorf("unexpected SunOS release %q (want 5.10 or 5.11)", release)
	}
	return n >= 11, nil
}

func solarisNamesFor(f *Facts) (solarisNames, bool) {
	ipadm, _ := solarisUsesIpadm(f.Version)
	if ipadm {
		return solarisIpadmNames, true
	}
	return solarisNddNames, false
}

type solarisDriver struct{}

// newSolarisDriver returns the Solaris driver (10 and 11).

func (solarisDriver) OS() string { return Solaris }

// Capabilities: see Driver.
func (solarisDriver) Capabilities() Capabilities { return Capabilities{Counters: true} }

// SolarisGatherScript is the one command Gather runs. It reads both
// variants' knobs (ndd exists on 11 too; ipadm is "not found" on 10, which
// the parser ignores there): every command's stderr goes into its own
// section, so one failing command cannot derail the parse. The last line
// marks a complete output and makes the exit status 0.
func SolarisGatherScript() string { return cachedSolarisGatherScript() }

var cachedSolarisGatherScript = sync.OnceValue(func() string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	b.WriteString("echo '@@fleettune@@ uname'; uname -r\n")
	b.WriteString("echo '@@fleettune@@ kstat'; /usr/bin/kstat -p unix:0:system_misc:boot_time 2>&1\n")
	b.WriteString("echo '@@fleettune@@ who'; who -b 2>&1\n")
	for _, k := range solarisNddNames.list() {
		fmt.Fprintf(&b, "echo '@@fleettune@@ ndd %s'; %s -get /dev/tcp %s 2>&1\n", k, solarisNdd, k)
	}
	fmt.Fprintf(&b, "echo '@@fleettune@@ ipadm'; %s show-prop -p %s tcp 2>&1\n", solarisIpadm, strings.Join(solarisIpadmNames.list(), ","))
	// Only LISTEN rows and the TIME_WAIT count are read: the host filters
	// (the state is the 7th field, IPv6 rows add an If column after it).
	b.WriteString("echo '@@fleettune@@ netstat'; /usr/bin/netstat -an -P tcp 2>&1 | " + netstatFilter("$7") + "\n")
	for _, p := range []string{SolarisMethodScript, SolarisManifest, SolarisRCScript} {
		fmt.Fprintf(&b, "test -f %s && echo '@@fleettune@@ file %s' && cat %s && echo && echo '@@fleettune@@ endfile %s'\n", p, p, p, p)
	}
	// The ndd -set lines of every legacy rc script, which run after SMF.
	fmt.Fprintf(&b, "for f in %s/S* %s/S*; do test -f $f && echo \"@@fleettune@@ rc $f\" && awk '$2 == \"-set\" { print $1, $2, $3, $4, $5 }' $f 2>&1; done\n",
		solarisRCDirs[0], solarisRCDirs[1])
	fmt.Fprintf(&b, "echo '@@fleettune@@ svcs'; %s -H -o state %s 2>&1\n", solarisSvcs, SolarisService)
	b.WriteString("echo '@@fleettune@@ end'\n")
	return b.String()
})

func (d solarisDriver) Gather(ctx context.Context, r Runner, native []string) (*Facts, error) {
	res, err := r.Run(ctx, SolarisGatherScript())
	if err != nil {
		return nil, fmt.Errorf("read TCP tunables: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read TCP tunables: exit status %d: %s", res.ExitCode, firstLine(string(res.Stderr)))
	}
	return ParseSolarisFacts(outputText(res.Stdout))
}

// ParseSolarisFacts parses the output of SolarisGatherScript.
func ParseSolarisFacts(out string) (*Facts, error) {
	s := splitSections(out)
	if _, ok := s.lookup("end"); !ok {
		return nil, fmt.Errorf("read TCP tunables: output is incomplete (no end marker)")
	}
	f := &Facts{OS: Solaris, Knobs: map[string]Knob{}, TimeWait: -1}
	f.Version = strings.TrimSpace(s.get("uname"))
	ipadm, err := solarisUsesIpadm(f.Version)
	if err != nil {
		return nil, fmt.Errorf("read TCP tunables: %w", err)
	}
	f.BootID, err = solarisParseBoot(s.get("kstat"), s.get("who"))
	if err != nil {
		return nil, fmt.Errorf("read boot time on Solaris %s: %w", f.Version, err)
	}

	if ipadm {
		props, err := ParseIpadmShowProp(s.get("ipadm"))
		if err != nil {
			return nil, fmt.Errorf("read %s on Solaris %s: %w", strings.Join(solarisIpadmNames.list(), ","), f.Version, err)
		}
		for _, name := range solarisIpadmNames.list() {
			p, ok := props[name]
			if !ok {
				f.Knobs[name] = Knob{Name: name, Missing: true}
				continue
			}
			k := Knob{Name: name, Live: p.Current}
			if p.Persistent != "" && p.Persistent != "--" {
				k.AtBoot, k.AtBootSet, k.Source = p.Persistent, true, "ipadm persistent store"
			}
			f.Knobs[name] = k
		}
	} else {
		if err := solaris10ReadPersistence(s, f); err != nil {
			return nil, err
		}
		atBoot := solaris10AtBoot(f)
		for _, name := range solarisNddNames.list() {
			v, missing, err := solarisParseNddGet(s.get("ndd " + name))
			if err != nil {
				return nil, fmt.Errorf("read %s on Solaris %s: %w", name, f.Version, err)
			}
			k := Knob{Name: name, Live: v, Missing: missing}
			if a, ok := atBoot[name]; ok {
				k.AtBoot, k.AtBootSet, k.Source = a.value, true, a.source
			}
			f.Knobs[name] = k
		}
	}

	listen, tw, err := ParseSolarisNetstat(s.get("netstat"))
	if err != nil {
		return nil, fmt.Errorf("read sockets on Solaris %s: %w", f.Version, err)
	}
	f.Listening, f.TimeWait = listen, tw
	return f, nil
}

// solarisParseBoot takes the boot time from `kstat -p
// unix:0:system_misc:boot_time` ("unix:0:system_misc:boot_time<TAB>1699954212"),
// or failing that the raw `who -b` line (which has no year, so it is only
// compared, never converted).
func solarisParseBoot(kstat, who string) (string, error) {
	for _, line := range strings.Split(kstat, "\n") {
		fs := strings.Fields(line)
		if len(fs) == 2 && fs[0] == "unix:0:system_misc:boot_time" && isDigits(fs[1]) {
			return fs[1], nil
		}
	}
	for _, line := range strings.Split(who, "\n") {
		if strings.Contains(line, "system boot") {
			return "who -b: " + normalizeSpaces(line), nil
		}
	}
	return "", fmt.Errorf("neither kstat nor who -b gave a boot time: %s / %s", firstLine(kstat), firstLine(who))
}

// solarisParseNddGet reads the output of `ndd -get /dev/tcp NAME 2>&1`: one decimal
// value, or ndd's error text (which ndd prints to stdout).
func solarisParseNddGet(body string) (value string, missing bool, err error) {
	v := strings.TrimSpace(body)
	switch {
	case isDigits(v):
		return v, false, nil
	case strings.Contains(v, "name is non-existent for this module"):
		return "", true, nil
	case v == "":
		return "", false, fmt.Errorf("ndd printed nothing")
	}
	return "", false, fmt.Errorf("ndd: %s", firstLine(v))
}

// IpadmProp is one row of `ipadm show-prop`.
type IpadmProp struct {
	Proto, Property, Perm, Current, Persistent, Default, Possible string
}

// ParseIpadmShowProp parses `ipadm show-prop` output by its header. PROPERTY
// is normalised to underscores (11.4 prints smallest-anon-port for
// smallest_anon_port; a private property keeps its leading underscore).
// Empty PERSISTENT cells print as "--".
func ParseIpadmShowProp(out string) (map[string]IpadmProp, error) {
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	props := map[string]IpadmProp{}
	header := -1
	for i, line := range lines {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if header < 0 {
			if fs[0] == "PROTO" && len(fs) >= 5 && fs[1] == "PROPERTY" {
				header = i
				continue
			}
			return nil, fmt.Errorf("ipadm: %s", strings.TrimSpace(line))
		}
		if len(fs) < 7 {
			return nil, fmt.Errorf("ipadm show-prop: unexpected line %q", line)
		}
		p := IpadmProp{Proto: fs[0], Property: solarisIpadmName(fs[1]), Perm: fs[2], Current: fs[3], Persistent: fs[4], Default: fs[5], Possible: fs[6]}
		props[p.Property] = p
	}
	if header < 0 {
		return nil, fmt.Errorf("ipadm show-prop printed no table")
	}
	return props, nil
}

// solarisIpadmName turns a PROPERTY cell into the name fleettune uses.
func solarisIpadmName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// solarisParseNddSetLine parses "[/usr/sbin/]ndd -set /dev/tcp NAME VALUE".
func solarisParseNddSetLine(line string) (name, value string, ok bool) {
	fs := strings.Fields(line)
	if len(fs) != 5 || (fs[0] != "ndd" && fs[0] != solarisNdd) || fs[1] != "-set" || fs[2] != "/dev/tcp" {
		return "", "", false
	}
	return fs[3], fs[4], true
}

// ParseSolarisNetstat reads `netstat -an -P tcp`: the ports of LISTEN rows
// (the local address is HOST.PORT, "*.22" for a wildcard) and the number of
// TIME_WAIT rows, IPv4 and IPv6 together. It reads the table as the
// gather's filter (netstatFilter) leaves it, TIME_WAIT rows counted in the
// last line, and as netstat prints it.
func ParseSolarisNetstat(out string) (listening []int, timeWait int, err error) {
	out, timeWait, _, err = netstatTrailer(out)
	if err != nil {
		return nil, 0, err
	}
	sawHeader := false
	var r netstatRow
	for pos := 0; pos <= len(out); {
		var line string
		line, pos = nextLine(out, pos)
		splitRow(line, &r)
		if r.n == 0 {
			continue
		}
		fs := r.f[:min(r.n, netstatFields)]
		// A line of dashes and spaces starts with dashes: Trim only those.
		if fs[0] == "TCP:" || fs[0] == "Local" || fs[0][0] == '-' && strings.Trim(line, "- ") == "" {
			sawHeader = sawHeader || fs[0] == "TCP:"
			continue
		}
		if !sawHeader {
			return nil, 0, fmt.Errorf("netstat: %s", strings.TrimSpace(line))
		}
		if len(fs) < 7 {
			return nil, 0, fmt.Errorf("netstat: unexpected line %q", line)
		}
		// The state is the 7th field; IPv6 rows add an If column after it.
		switch fs[6] {
		case "LISTEN":
			i := strings.LastIndexByte(fs[0], '.')
			p, perr := strconv.Atoi(fs[0][i+1:])
			if i < 0 || perr != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("netstat: unexpected local address %q", fs[0])
			}
			listening = append(listening, p)
		case "TIME_WAIT":
			timeWait++
		}
	}
	if !sawHeader {
		return nil, 0, fmt.Errorf("netstat printed no TCP table")
	}
	return uniqueSorted(listening), timeWait, nil
}

// Propose compares facts with targets. Every Solaris knob here is dynamic:
// nothing ever needs a reboot, so no change is ever Pending.
func (d solarisDriver) Propose(f *Facts, t Targets, g Guardrails) Proposal {
	var p Proposal
	names, ipadm := solarisNamesFor(f)
	if t.EphemeralPorts != nil {
		p.add(d.proposeRange(f, names, ipadm, *t.EphemeralPorts, g))
	}
	if t.TimeWait != nil {
		p.add(d.proposeDuration(f, ipadm, string(TimeWait), names.TimeWait, *t.TimeWait))
	}
	if t.KeepaliveTime != nil {
		p.add(d.proposeDuration(f, ipadm, string(KeepaliveTime), names.Keepalive, *t.KeepaliveTime))
	}
	if !ipadm {
		p.Notes = append(p.Notes, solaris10Notes(f)...)
	}
	for _, n := range solarisSortedKeys(t.Native) {
		if err := ValidateNative(Solaris, n, t.Native[n]); err != nil {
			p.Changes = append(p.Changes, Change{Setting: "native", Knob: n, Target: t.Native[n], Refused: err.Error()})
		}
	}
	p.typeTargets(t)
	return p
}

func solarisSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// solarisRangeOf reads the live (or at-boot) range from the two knobs; a
// knob not persisted counts as its default when atBoot.
func solarisRangeOf(f *Facts, names solarisNames, atBoot bool) (r PortRange, set bool, err error) {
	lo, hi := f.Knobs[names.Smallest], f.Knobs[names.Largest]
	get := func(k Knob, def int) (int, bool, error) {
		v := k.Live
		if atBoot {
			if !k.AtBootSet {
				return def, false, nil
			}
			v = k.AtBoot
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, false, fmt.Errorf("%s is %q, not a port", k.Name, v)
		}
		return n, true, nil
	}
	l, ls, err := get(lo, solarisDefaultLow)
	if err != nil {
		return r, false, err
	}
	h, hs, err := get(hi, solarisDefaultHigh)
	if err != nil {
		return r, false, err
	}
	return PortRange{l, h}, ls || hs, nil
}

func (d solarisDriver) proposeRange(f *Facts, names solarisNames, ipadm bool, want PortRange, g Guardrails) (*Change, []string) {
	c := Change{Setting: string(EphemeralPorts), Knob: names.rangeKnob(), Target: want.String()}
	if f.Knobs[names.Smallest].Missing || f.Knobs[names.Largest].Missing {
		c.Current = "(missing)"
		c.Refused = "this system has no " + names.Smallest + "/" + names.Largest
		return &c, nil
	}
	live, _, err := solarisRangeOf(f, names, false)
	if err != nil {
		c.Current = f.Knobs[names.Smallest].Live + "-" + f.Knobs[names.Largest].Live
		c.Refused = "cannot parse the live value: " + err.Error()
		return &c, nil
	}
	c.Current, c.Before = live.String(), portsValue(live)
	boot, bootSet, err := solarisRangeOf(f, names, true)
	if err != nil {
		c.Refused = "cannot parse the persisted value: " + err.Error()
		return &c, nil
	}
	if live == want && boot == want && bootSet && !solarisMigrates(f, ipadm, names.Smallest, names.Largest) {
		return nil, nil
	}
	c.AtBoot = solarisAtBootText(boot.String(), bootSet, boot == live)
	c.Commands = solarisRangeCommands(ipadm, names, live, want, ipadm)
	c.Persist = solarisPersistText(ipadm, []string{names.Smallest, names.Largest}, []int{want.Low, want.High})
	if !ipadm {
		if r := solarisForeignRefusal(f, names.Smallest, want.Low); r != "" {
			c.Refused = r
		} else if r := solarisForeignRefusal(f, names.Largest, want.High); r != "" {
			c.Refused = r
		}
	}

	// The manuals give largest_anon_port a range of 32768-65535, but ipadm's
	// POSSIBLE column shows the real bound is the smallest port, so only
	// the low end has a fixed floor.
	if want.Low < 1024 {
		c.Refused = fmt.Sprintf("low end %d is a privileged port; Solaris accepts %s from 1024 up", want.Low, names.Smallest)
	}
	return &c, nil
}

// solarisAtBootText is Change.AtBoot: "" when the boot value equals the
// live one and is persisted, the persisted value when it differs, and the
// default's wording when nothing persists the knob.
func solarisAtBootText(boot string, set, sameAsLive bool) string {
	switch {
	case !set && sameAsLive:
		return "Solaris default (not persisted)"
	case !set:
		return "Solaris default " + boot
	case !sameAsLive:
		return boot
	}
	return ""
}

func (d solarisDriver) proposeDuration(f *Facts, ipadm bool, setting, knob string, want time.Duration) (*Change, []string) {
	k := f.Knobs[knob]
	ms := int(want / time.Millisecond)
	c := Change{Setting: setting, Knob: knob, Target: want.String()}
	var notes []string
	if k.Missing {
		c.Current = "(missing)"
		c.Refused = "this system has no " + knob
		return &c, nil
	}
	live, err := strconv.Atoi(strings.TrimSpace(k.Live))
	if err != nil {
		c.Current = k.Live
		c.Refused = fmt.Sprintf("cannot parse the live value %q", k.Live)
		return &c, nil
	}
	c.Current, c.Before = solarisMs(live), durationValue(time.Duration(live)*time.Millisecond)
	def := solarisDefaultTimeWait
	if setting == string(KeepaliveTime) {
		def = solarisDefaultKeepalive
	}
	boot, bootSet := def, false
	if k.AtBootSet {
		b, err := strconv.Atoi(strings.TrimSpace(k.AtBoot))
		if err != nil {
			c.Refused = fmt.Sprintf("cannot parse the persisted value %q", k.AtBoot)
			return &c, nil
		}
		boot, bootSet = b, true
	}
	if live == ms && boot == ms && bootSet && !solarisMigrates(f, ipadm, knob) {
		return nil, nil
	}
	c.AtBoot = solarisAtBootText(solarisMs(boot), bootSet, boot == live)
	if live != ms || ipadm {
		c.Commands = []string{solarisSetCommand(ipadm, knob, ms, false)}
	}
	c.Persist = solarisPersistText(ipadm, []string{knob}, []int{ms})
	if !ipadm {
		c.Refused = solarisForeignRefusal(f, knob, ms)
	}

	switch setting {
	case string(TimeWait):
		switch {
		case want%time.Millisecond != 0:
			c.Refused = fmt.Sprintf("%s counts whole milliseconds; %s is not one", knob, want)
		case want < solarisMinTimeWait || want > solarisMaxTimeWait:
			c.Refused = fmt.Sprintf("%s must be between %s and %s", knob, solarisMinTimeWait, solarisMaxTimeWait)
		case want < solarisTimeWaitWarn:
			c.Refused = fmt.Sprintf("time_wait %s is below 10s, the floor the Solaris 11.4 manual gives; a late segment could reach a new connection", want)
		case want < solarisOldAdvice:
			notes = append(notes, fmt.Sprintf("time_wait %s: the Solaris 10 and 11.2 manuals advise not going below 60s; 11.4 allows 10s", want))
		}
	case string(KeepaliveTime):
		switch {
		case want%time.Millisecond != 0:
			c.Refused = fmt.Sprintf("%s counts whole milliseconds; %s is not one", knob, want)
		case want < solarisMinKeepalive || want > solarisMaxKeepalive:
			c.Refused = fmt.Sprintf("%s must be between %s and %s", knob, solarisMinKeepalive, solarisMaxKeepalive)
		}
	}
	return &c, notes
}

func solarisMs(ms int) string { return (time.Duration(ms) * time.Millisecond).String() }

// solarisSetCommand sets one knob: `ndd -set` (live only) on 10,
// `ipadm set-prop` (live and persistent; -t for live only) on 11.
func solarisSetCommand(ipadm bool, knob string, value int, temporary bool) string {
	if !ipadm {
		return fmt.Sprintf("%s -set /dev/tcp %s %d", solarisNdd, knob, value)
	}
	t := ""
	if temporary {
		t = "-t "
	}
	return fmt.Sprintf("%s set-prop %s-p %s=%d tcp", solarisIpadm, t, knob, value)
}

// solarisRangeCommands moves the live range from cur to next. The bounds
// limit each other (ipadm's POSSIBLE column), so when the new low end is
// above the current high end the high end moves first; otherwise the low end
// does. Either way every step keeps smallest <= largest. Unchanged ends are
// left alone unless always (ipadm set-prop also persists).
func solarisRangeCommands(ipadm bool, names solarisNames, cur, next PortRange, always bool) []string {
	lo := solarisSetCommand(ipadm, names.Smallest, next.Low, false)
	hi := solarisSetCommand(ipadm, names.Largest, next.High, false)
	var cmds []string
	if next.Low > cur.High {
		cmds = append(cmds, hi, lo)
	} else {
		if always || next.Low != cur.Low {
			cmds = append(cmds, lo)
		}
		if always || next.High != cur.High {
			cmds = append(cmds, hi)
		}
	}
	return cmds
}

// solarisPersistText is Change.Persist: on 10 the rc script lines, on 11
// what ipadm stores.
func solarisPersistText(ipadm bool, knobs []string, values []int) string {
	parts := make([]string, len(knobs))
	for i, k := range knobs {
		if ipadm {
			parts[i] = fmt.Sprintf("%s=%d", k, values[i])
		} else {
			parts[i] = fmt.Sprintf("ndd -set /dev/tcp %s %d", k, values[i])
		}
	}
	if ipadm {
		return "ipadm persistent store: " + strings.Join(parts, ", ")
	}
	return SolarisService + " (" + SolarisMethodScript + "): " + strings.Join(parts, "; ")
}

// solarisKnownKnob reports whether name is one of the variant's knobs.
func solarisKnownKnob(names solarisNames, name string) bool {
	for _, n := range names.list() {
		if n == name {
			return true
		}
	}
	return false
}

func solarisDefault(names solarisNames, knob string) int {
	switch knob {
	case names.Smallest:
		return solarisDefaultLow
	case names.Largest:
		return solarisDefaultHigh
	case names.TimeWait:
		return solarisDefaultTimeWait
	}
	return solarisDefaultKeepalive
}

// Snapshot records the live and persisted state of every knob the changes
// touch and, on Solaris 10, fleettune's rc script (nil: there was none).
func (solarisDriver) Snapshot(f *Facts, changes []Change) Snapshot {
	s := Snapshot{Knobs: map[string]KnobState{}}
	for _, c := range changes {
		for _, name := range strings.Split(c.Knob, ",") {
			k := f.Knobs[name]
			s.Knobs[name] = stateOf(k)
		}
	}
	if _, ipadm := solarisNamesFor(f); !ipadm {
		solaris10Snapshot(&s, f)
	}
	return s
}

// ApplyCommands rebuilds every change's commands from its typed target and
// the facts (so only integers and known knob names reach the shell): on 11
// the ipadm set-prop commands, which are live and persistent; on 10 the
// ndd -set commands, then one atomic rewrite of fleettune's rc script, which
// keeps the values fleettune persisted earlier for other knobs.
func (solarisDriver) ApplyCommands(f *Facts, changes []Change) ([]string, error) {
	names, ipadm := solarisNamesFor(f)
	var cmds []string
	set := map[string]int{}
	for _, c := range changes {
		if c.Refused != "" {
			return nil, fmt.Errorf("%s: refused: %s", c.Knob, c.Refused)
		}
		switch c.Setting {
		case string(EphemeralPorts):
			if c.Knob != names.rangeKnob() {
				return nil, fmt.Errorf("%s: not the Solaris %s range knobs", c.Knob, f.Version)
			}
			want, err := targetPorts(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Knob, err)
			}
			live, _, err := solarisRangeOf(f, names, false)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Knob, err)
			}
			cmds = append(cmds, solarisRangeCommands(ipadm, names, live, want, ipadm)...)
			set[names.Smallest], set[names.Largest] = want.Low, want.High
		case string(TimeWait), string(KeepaliveTime):
			if (c.Setting == string(TimeWait) && c.Knob != names.TimeWait) || (c.Setting == string(KeepaliveTime) && c.Knob != names.Keepalive) {
				return nil, fmt.Errorf("%s: not the Solaris %s knob for %s", c.Knob, f.Version, c.Setting)
			}
			d, err := targetDuration(c)
			if err != nil || d <= 0 || d%time.Millisecond != 0 {
				return nil, fmt.Errorf("%s: target %q is not a duration in whole milliseconds", c.Knob, c.Target)
			}
			ms := int(d / time.Millisecond)
			if ipadm || !sameInts(f.Knobs[c.Knob].Live, strconv.Itoa(ms)) {
				cmds = append(cmds, solarisSetCommand(ipadm, c.Knob, ms, false))
			}
			set[c.Knob] = ms
		default:
			return nil, fmt.Errorf("%s: setting %q is not supported on Solaris", c.Knob, c.Setting)
		}
	}
	if !ipadm && len(set) > 0 {
		cmds = append(cmds, solaris10PersistSteps(f, set)...)
	}
	return cmds, nil
}

// RestoreCommands bring live values and persisted configuration back to
// snap. On 10: ndd -set for each live value, then fleettune's rc script
// written back or removed. On 11, per knob: if its persisted state differs,
// `ipadm set-prop` to the old persisted value, or `ipadm reset-prop` when
// none was persisted (the only way to remove a persistent value; it also
// sets the live value to the default); then, if the live value that leaves
// is not the old live value, `ipadm set-prop -t` (live only) to it. That
// restores both sides exactly, including a host that had drift.
func (solarisDriver) RestoreCommands(f *Facts, snap Snapshot) ([]string, error) {
	names, ipadm := solarisNamesFor(f)
	type step struct {
		knob  string
		value int
		cmd   string
	}
	var persist, live []step
	for _, k := range sortedKnobs(snap) {
		if !solarisKnownKnob(names, k) {
			return nil, fmt.Errorf("%s: not a Solaris %s knob", k, f.Version)
		}
		was := snap.Knobs[k]
		if was.Missing {
			continue
		}
		now, ok := f.Knobs[k]
		if !ok || now.Missing {
			return nil, fmt.Errorf("%s: the host no longer has this knob; cannot restore %q", k, was.Live)
		}
		wasLive, err := strconv.Atoi(strings.TrimSpace(was.Live))
		if err != nil {
			return nil, fmt.Errorf("%s: recorded value %q is not an integer", k, was.Live)
		}
		cur, err := strconv.Atoi(strings.TrimSpace(now.Live))
		if err != nil {
			return nil, fmt.Errorf("%s: live value %q is not an integer", k, now.Live)
		}
		if ipadm && !solarisSameAtBoot(now, was) {
			if was.AtBootSet {
				v, err := strconv.Atoi(strings.TrimSpace(was.AtBoot))
				if err != nil {
					return nil, fmt.Errorf("%s: recorded persisted value %q is not an integer", k, was.AtBoot)
				}
				persist = append(persist, step{k, v, solarisSetCommand(true, k, v, false)})
				cur = v
			} else {
				cur = solarisDefault(names, k)
				persist = append(persist, step{k, cur, fmt.Sprintf("%s reset-prop -p %s tcp", solarisIpadm, k)})
			}
		}
		if cur != wasLive {
			live = append(live, step{k, wasLive, solarisSetCommand(ipadm, k, wasLive, ipadm)})
		}
	}
	// Order each phase so that smallest <= largest holds after every step.
	liveRange, _, _ := solarisRangeOf(f, names, false)
	order := func(steps []step) []string {
		next := liveRange
		for _, s := range steps {
			switch s.knob {
			case names.Smallest:
				next.Low = s.value
			case names.Largest:
				next.High = s.value
			}
		}
		largestFirst := next.Low > liveRange.High
		liveRange = next
		var out []string
		for _, s := range steps {
			if largestFirst && s.knob == names.Largest {
				out = append(out, s.cmd)
			}
		}
		for _, s := range steps {
			if !largestFirst || s.knob != names.Largest {
				out = append(out, s.cmd)
			}
		}
		return out
	}
	cmds := append(order(persist), order(live)...)
	if !ipadm {
		cmds = append(cmds, solaris10RestoreSteps(f, snap)...)
	}
	return cmds, nil
}

func solarisSameAtBoot(now Knob, was KnobState) bool {
	if now.AtBootSet != was.AtBootSet {
		return false
	}
	return !was.AtBootSet || sameInts(now.AtBoot, was.AtBoot)
}

// Differences says how f differs from snap; empty when the host is back.
func (solarisDriver) Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	for _, k := range sortedKnobs(snap) {
		was, now := snap.Knobs[k], f.Knobs[k]
		switch {
		case was.Missing != now.Missing:
			diff = append(diff, fmt.Sprintf("%s: missing was %t, is %t", k, was.Missing, now.Missing))
		case was.Missing:
		case !sameInts(now.Live, was.Live):
			diff = append(diff, fmt.Sprintf("%s is %s, was %s", k, strings.TrimSpace(now.Live), strings.TrimSpace(was.Live)))
		case !solarisSameAtBoot(now, was):
			diff = append(diff, fmt.Sprintf("%s at boot is %s, was %s", k, solarisAtBootWords(now.AtBoot, now.AtBootSet), solarisAtBootWords(was.AtBoot, was.AtBootSet)))
		}
	}
	if _, ipadm := solarisNamesFor(f); !ipadm {
		diff = append(diff, solaris10Differences(f, snap)...)
	}
	return diff
}

func solarisAtBootWords(v string, set bool) string {
	if !set {
		return "not persisted"
	}
	return strings.TrimSpace(v)
}

// SolarisCountersCommand prints the kernel's TCP MIB-II counters: the TCP
// section of `netstat -s`, in the same form on 10 and 11.
const SolarisCountersCommand = "/usr/bin/netstat -s -P tcp"

var _ HealthReader = solarisDriver{}

// Counters reads the TCP counters with SolarisCountersCommand. They are
// since boot and most are 32-bit (they wrap); CounterDeltas counts a
// counter that went down from zero.
func (solarisDriver) Counters(ctx context.Context, r Runner) (Counters, error) {
	res, err := r.Run(ctx, SolarisCountersCommand)
	if err != nil {
		return nil, fmt.Errorf("read TCP counters: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read TCP counters: %s: exit status %d: %s", SolarisCountersCommand, res.ExitCode, firstLine(string(res.Stderr)))
	}
	c, err := ParseSolarisTCPStats(string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("read TCP counters: %w", err)
	}
	return c, nil
}

// ParseSolarisTCPStats parses the output of `netstat -s -P tcp` into
// counters named "Tcp.<MIB name>" ("Tcp.tcpAttemptFails").
//
// netstat.c prints a blank line, "TCP", then every counter as
// "\t%-20s=%6u", starting a new line after every second one (and once more
// after tcpInSegs, which therefore stands alone on its line). So "TCP" shares
// the first line with the first pair, a name of 20 characters touches the
// "=" ("tcpTimKeepaliveProbe= 28677"), and a value wider than 6 digits
// touches it from the other side ("tcpOutSegs          =21843389688").
// Parsing is therefore by "name = value" triples around each "=", never by
// column. tcpMaxConn is -1.
func ParseSolarisTCPStats(out string) (Counters, error) {
	c := Counters{}
	sawHeader := false
	for i, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		fs := strings.Fields(strings.ReplaceAll(line, "=", " = "))
		if len(fs) == 0 {
			continue
		}
		if fs[0] == "TCP" {
			if sawHeader {
				return nil, fmt.Errorf("netstat -s: line %d: a second TCP section", i+1)
			}
			sawHeader, fs = true, fs[1:]
		}
		if !sawHeader {
			return nil, fmt.Errorf("netstat -s: line %d: expected the TCP section, got %q", i+1, strings.TrimSpace(line))
		}
		if len(fs)%3 != 0 {
			return nil, fmt.Errorf("netstat -s: line %d: expected \"name = value\" pairs, got %q", i+1, strings.TrimSpace(line))
		}
		for j := 0; j < len(fs); j += 3 {
			name, eq, value := fs[j], fs[j+1], fs[j+2]
			if eq != "=" || !solarisMIBName(name) {
				return nil, fmt.Errorf("netstat -s: line %d: expected \"name = value\" pairs, got %q", i+1, strings.TrimSpace(line))
			}
			key := "Tcp." + name
			if _, dup := c[key]; dup {
				return nil, fmt.Errorf("netstat -s: line %d: %s appears twice", i+1, name)
			}
			v, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				if isDigits(value) {
					// Beyond int64 (only tcpOutSegs and tcpInSegs are
					// 64-bit): not a value a threshold can use.
					continue
				}
				return nil, fmt.Errorf("netstat -s: line %d: %s = %q is not a number", i+1, name, value)
			}
			c[key] = v
		}
	}
	if !sawHeader {
		return nil, fmt.Errorf("netstat -s printed no TCP section")
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("netstat -s: the TCP section has no counters")
	}
	return c, nil
}

// solarisMIBName reports whether s looks like one of netstat's TCP MIB
// names: "tcp" then letters and digits.
func solarisMIBName(s string) bool {
	if !strings.HasPrefix(s, "tcp") || len(s) == len("tcp") {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// solarisThresholds are how much each failure counter may rise in one watch
// window before a host counts as unhealthy. Stray segments from old
// connections reaching new ones (TIME_WAIT too short for the traffic) show
// on Solaris as:
//
//   - tcpAttemptFails: connections that went from SYN_SENT or SYN_RCVD
//     straight to CLOSED (or SYN_RCVD back to LISTEN): a handshake answered
//     with a reset or an old segment, the MIB-II twin of Linux's
//     Tcp.AttemptFails, with the same threshold;
//   - tcpEstabResets: ESTABLISHED or CLOSE_WAIT straight to CLOSED, i.e.
//     reset: a new connection torn down by a segment meant for its
//     predecessor on the same 4-tuple (Linux's Tcp.EstabResets);
//   - tcpTimRetransDrop: connections given up after too many
//     retransmissions (tcp_ip_abort_cinterval for a SYN, 3 min by default;
//     tcp_ip_abort_interval once established): a peer that keeps answering
//     a reused 4-tuple as the old connection never lets the handshake
//     finish. Rare on a healthy host, so a low threshold.
//
// Left out on purpose: tcpListenDrop, tcpListenDropQ0 and tcpHalfOpenDrop
// count a listener's full accept or SYN queue (load or a SYN flood, not
// TIME_WAIT; Linux's ListenOverflows is left out too); tcpOutRsts and
// tcpInClosed rise with every connect to a closed port and every scanner,
// and with no per-host baseline would raise false alarms; tcpTimRetrans and
// tcpRetransSegs count loss, not failure; tcpTimKeepaliveDrop counts dead
// peers of idle connections.
var solarisThresholds = map[string]int64{
	"Tcp.tcpAttemptFails":   50,
	"Tcp.tcpEstabResets":    50,
	"Tcp.tcpTimRetransDrop": 10,
}

// Thresholds returns a copy of the Solaris defaults.
func (solarisDriver) Thresholds() map[string]int64 { return maps.Clone(solarisThresholds) }
