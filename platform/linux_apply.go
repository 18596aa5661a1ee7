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

	"github.com/fleettune/fleettune/internal/hostcmd"
)

// linuxPersistHeader opens the file fleettune writes. Lines below it that
// fleettune did not write are kept as they are.
const linuxPersistHeader = "# Written by fleettune; the values below are what the fleet's playbook asks for.\n" +
	"# fleettune rewrites the lines it owns and keeps any other line.\n"

// sysctlName is what a knob name must look like before it goes into a
// command line; names come from the driver's own lists, this is the belt to
// those braces.
var sysctlName = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)

// Snapshot records, for every knob the changes touch, its live and persisted
// value, and the content of fleettune's sysctl.d file (nil: none existed).
func (linuxDriver) Snapshot(f *Facts, changes []Change) Snapshot {
	s := Snapshot{Knobs: map[string]KnobState{}, Files: map[string]*string{}}
	for _, c := range changes {
		k := f.Knobs[c.Knob]
		s.Knobs[c.Knob] = stateOf(k)
	}
	s.persistedFile(LinuxPersistFile, f)
	return s
}

// ApplyCommands returns the runtime sysctl -w commands of every change, then
// one command that writes fleettune's sysctl.d file: what it held before,
// with the lines for the changed knobs replaced or added.
func (linuxDriver) ApplyCommands(f *Facts, changes []Change) ([]string, error) {
	var cmds []string
	set := map[string]string{}
	for _, c := range changes {
		if c.Refused != "" {
			return nil, fmt.Errorf("%s: refused: %s", c.Knob, c.Refused)
		}
		if !sysctlName.MatchString(c.Knob) {
			return nil, fmt.Errorf("%s: not a sysctl name", c.Knob)
		}
		cmds = append(cmds, c.Commands...)
		if c.Persist == "" {
			continue
		}
		v, err := linuxSysctlValue(c)
		if err != nil {
			return nil, err
		}
		set[c.Knob] = v
	}
	if len(set) > 0 {
		old := ""
		if f.PersistedExists {
			old = f.Persisted
		}
		cmds = append(cmds, linuxWriteFile(LinuxPersistFile, mergeSysctlConf(old, f.PersistedExists, set)))
	}
	return cmds, nil
}

// linuxSysctlValue is the value a change writes to sysctl.d, in sysctl's
// own form, from the change's typed target: the range as "LOW HIGH",
// keepalive in seconds, a native knob's value with its blanks normalised.
func linuxSysctlValue(c Change) (string, error) {
	switch {
	case c.After == nil:
		return "", fmt.Errorf("%s: the change has no typed target (make changes with Propose)", c.Knob)
	case c.Knob == linuxPortRange && c.After.Ports != nil:
		return fmt.Sprintf("%d %d", c.After.Ports.Low, c.After.Ports.High), nil
	case c.Knob == linuxKeepalive && c.After.Duration != nil:
		return fmt.Sprint(int64(*c.After.Duration / time.Second)), nil
	case c.Setting == "native" && c.After.Native != nil:
		return normalizeSpaces(*c.After.Native), nil
	}
	return "", fmt.Errorf("%s: a %s target is not a value for this knob", c.Knob, c.Setting)
}

// mergeSysctlConf sets each key of set in a sysctl.d file's content: the
// first line that assigns the key is rewritten, later ones are dropped (they
// would win), keys not there are appended in name order. Every other line,
// comments included, stays.
func mergeSysctlConf(old string, exists bool, set map[string]string) string {
	var b strings.Builder
	if !exists || strings.TrimSpace(old) == "" {
		b.WriteString(linuxPersistHeader)
		old = ""
	}
	done := map[string]bool{}
	if old != "" {
		lines := strings.Split(strings.TrimSuffix(old, "\n"), "\n")
		for _, line := range lines {
			if k, _, ok := parseSysctlLine(line); ok {
				if v, mine := set[k]; mine {
					if !done[k] {
						fmt.Fprintf(&b, "%s = %s\n", k, v)
						done[k] = true
					}
					continue
				}
			}
			b.WriteString(line + "\n")
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		if !done[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, set[k])
	}
	return b.String()
}

// linuxWriteFile replaces path with content atomically: a temporary file in
// the same directory (whose name sysctl ignores, it does not end in .conf),
// flushed, then renamed over the old one. A crash leaves the old file or the
// new one, never half of either.
func linuxWriteFile(path, content string) string {
	tmp := path + ".fleettune-tmp"
	return fmt.Sprintf("umask 022 && printf '%%s' %s > %s && sync %s && mv -f %s %s",
		hostcmd.ShellQuote(content), tmp, tmp, tmp, path)
}

// RestoreCommands put every knob of snap back to its live value and
// fleettune's file back to its content (removing it when there was none).
// Knobs already at their value and a file already as it was give nothing.
func (linuxDriver) RestoreCommands(f *Facts, snap Snapshot) ([]string, error) {
	var cmds []string
	for _, k := range sortedKnobs(snap) {
		if !sysctlName.MatchString(k) {
			return nil, fmt.Errorf("%s: not a sysctl name", k)
		}
		was := snap.Knobs[k]
		if was.Missing {
			continue
		}
		now, ok := f.Knobs[k]
		if !ok || now.Missing {
			return nil, fmt.Errorf("%s: the host no longer has this knob; cannot restore %q", k, was.Live)
		}
		if !sameSysctl(now.Live, was.Live) {
			cmds = append(cmds, fmt.Sprintf("sysctl -w %s=%s", k, hostcmd.ShellQuote(normalizeSpaces(was.Live))))
		}
	}
	if content, tracked := snap.Files[LinuxPersistFile]; tracked {
		switch {
		case content == nil && f.PersistedExists:
			cmds = append(cmds, "rm -f "+LinuxPersistFile)
		case content != nil && (!f.PersistedExists || f.Persisted != *content):
			cmds = append(cmds, linuxWriteFile(LinuxPersistFile, *content))
		}
	}
	return cmds, nil
}

// Differences says how f differs from snap; empty when the host is back.
func (linuxDriver) Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	for _, k := range sortedKnobs(snap) {
		was, now := snap.Knobs[k], f.Knobs[k]
		switch {
		case was.Missing != now.Missing:
			diff = append(diff, fmt.Sprintf("%s: missing was %t, is %t", k, was.Missing, now.Missing))
		case !sameSysctl(now.Live, was.Live):
			diff = append(diff, fmt.Sprintf("%s is %s, was %s", k, normalizeSpaces(now.Live), normalizeSpaces(was.Live)))
		}
	}
	if d := fileDifference(LinuxPersistFile, f, snap); d != "" {
		diff = append(diff, d)
	}
	return diff
}

func sortedKnobs(s Snapshot) []string {
	ks := make([]string, 0, len(s.Knobs))
	for k := range s.Knobs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sameSysctl compares two sysctl values by meaning: whitespace is not.
func sameSysctl(a, b string) bool { return normalizeSpaces(a) == normalizeSpaces(b) }

// linuxCountersCmd prints the kernel's TCP counters.
const linuxCountersCmd = "LC_ALL=C cat /proc/net/netstat /proc/net/snmp"

// Counters reads /proc/net/netstat and /proc/net/snmp.
func (linuxDriver) Counters(ctx context.Context, r Runner) (Counters, error) {
	res, err := r.Run(ctx, linuxCountersCmd)
	if err != nil {
		return nil, fmt.Errorf("read TCP counters: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read TCP counters: exit status %d: %s", res.ExitCode, firstLine(string(res.Stderr)))
	}
	return ParseProcNetCounters(string(res.Stdout))
}

// ParseProcNetCounters parses the header/value line pairs of
// /proc/net/netstat and /proc/net/snmp ("TcpExt: SyncookiesSent ..." then
// "TcpExt: 0 ...") into counters named "TcpExt.SyncookiesSent".
func ParseProcNetCounters(out string) (Counters, error) {
	c := Counters{}
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" {
			continue
		}
		prefix, names, ok := strings.Cut(line, ":")
		if !ok || i+1 >= len(lines) {
			return nil, fmt.Errorf("read TCP counters: line %d: expected \"Group: names\" followed by values, got %q", i+1, line)
		}
		vprefix, values, _ := strings.Cut(strings.TrimSpace(lines[i+1]), ":")
		nf, vf := strings.Fields(names), strings.Fields(values)
		if vprefix != prefix || len(nf) != len(vf) {
			return nil, fmt.Errorf("read TCP counters: line %d: %s has %d names but line %d has %d values", i+1, prefix, len(nf), i+2, len(vf))
		}
		for j, n := range nf {
			v, err := strconv.ParseInt(vf[j], 10, 64)
			if err != nil {
				// Counters are unsigned in the kernel; one past int64
				// is not a value a threshold can use.
				continue
			}
			c[prefix+"."+n] = v
		}
		i++
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("read TCP counters: no counters in output")
	}
	return c, nil
}

// linuxThresholds are how much each failure counter may rise in one watch
// window before a host counts as unhealthy. They are the signs of stray
// segments from old connections reaching new ones (PAWS rejections,
// challenge ACKs), of connection attempts failing or being reset, and of
// the TIME_WAIT table overflowing. TWRecycled is
// left out: it counts TIME_WAIT ports reused by tcp_tw_reuse, which is the
// tuning working, not failing.
var linuxThresholds = map[string]int64{
	"Tcp.AttemptFails":           50,
	"Tcp.EstabResets":            50,
	"TcpExt.PAWSEstab":           10,
	"TcpExt.PAWSActive":          10,
	"TcpExt.TCPTimeWaitOverflow": 0,
	"TcpExt.TCPSYNChallenge":     10,
	"TcpExt.TCPChallengeACK":     100,
	"TcpExt.TCPSynRetrans":       100,
}

// Thresholds returns a copy of the Linux defaults.
func (linuxDriver) Thresholds() map[string]int64 { return maps.Clone(linuxThresholds) }

// CounterDeltas returns how much every thresholded counter rose from before
// to after, and one line per counter whose rise is above its threshold, in
// name order: "Tcp.AttemptFails +57 (threshold 50)". Counters missing on
// either side (older kernels lack some) are left out; a counter that went
// down (the host rebooted) counts from zero.
func CounterDeltas(before, after Counters, thresholds map[string]int64) (map[string]int64, []string) {
	deltas := map[string]int64{}
	var exceeded []string
	names := make([]string, 0, len(thresholds))
	for n := range thresholds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, ok1 := before[n]
		a, ok2 := after[n]
		if !ok1 || !ok2 {
			continue
		}
		d := a - b
		if d < 0 {
			d = a
		}
		deltas[n] = d
		if d > thresholds[n] {
			exceeded = append(exceeded, fmt.Sprintf("%s +%d (threshold %d)", n, d, thresholds[n]))
		}
	}
	return deltas, exceeded
}
