package platform

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// nativeKnob describes an expert knob a playbook's native: block may set.
type nativeKnob struct {
	validate func(v string) error
	help     string
}

// nativeKnobs lists, per OS family, the native knobs fleettune accepts. Knobs
// known to be harmful are refused with the reason (refusedKnobs).
var nativeKnobs = map[string]map[string]nativeKnob{
	Linux: {
		"net.ipv4.tcp_tw_reuse":            {intIn(0, 2), "0, 1 or 2"},
		"net.ipv4.tcp_fin_timeout":         {intIn(1, 600), "seconds, 1-600 (FIN_WAIT_2 of orphaned sockets; not TIME_WAIT)"},
		"net.ipv4.tcp_keepalive_intvl":     {intIn(1, 32767), "seconds, 1-32767"},
		"net.ipv4.tcp_keepalive_probes":    {intIn(1, 127), "1-127"},
		"net.ipv4.tcp_max_tw_buckets":      {intIn(1024, 1<<30), "an integer >= 1024 (raise only)"},
		"net.ipv4.tcp_timestamps":          {intIn(0, 2), "0, 1 or 2"},
		"net.ipv4.ip_local_reserved_ports": {portList, "comma-separated ports or LOW-HIGH ranges"},
	},
}

var refusedKnobs = map[string]map[string]string{
	Linux: {
		"net.ipv4.tcp_tw_recycle": "tcp_tw_recycle breaks clients behind NAT and was removed in Linux 4.12; fleettune never sets it",
	},
}

// ValidateNative checks that knob is a native knob fleettune accepts for the
// OS family and that value suits it.
func ValidateNative(os, knob, value string) error {
	if why, ok := refusedKnobs[os][knob]; ok {
		return fmt.Errorf("native knob %s refused: %s", knob, why)
	}
	known, ok := nativeKnobs[os]
	if !ok {
		return fmt.Errorf("native knobs for %q are not supported (known: %s)", os, strings.Join(nativeOSes(), ", "))
	}
	k, ok := known[knob]
	if !ok {
		return fmt.Errorf("unknown native knob %s for %s (expected one of %s)", knob, os, strings.Join(NativeKnobNames(os), ", "))
	}
	if err := k.validate(value); err != nil {
		return fmt.Errorf("native knob %s = %q: expected %s", knob, value, k.help)
	}
	return nil
}

// NativeKnobNames lists the native knobs accepted for an OS family, sorted.
func NativeKnobNames(os string) []string {
	var names []string
	for n := range nativeKnobs[os] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func nativeOSes() []string {
	var names []string
	for n := range nativeKnobs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func intIn(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d out of range %d-%d", n, lo, hi)
		}
		return nil
	}
}

func portList(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if lo, hi, ok := strings.Cut(part, "-"); ok {
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
				return fmt.Errorf("bad range %q", part)
			}
			continue
		}
		if p, err := strconv.Atoi(part); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("bad port %q", part)
		}
	}
	return nil
}

// refuseNative proposes, for an OS family whose native knobs fleettune does
// not support yet, one refused change per native knob of t, in name order,
// saying why (ValidateNative's error).
func refuseNative(os string, t Targets) []Change {
	names := make([]string, 0, len(t.Native))
	for n := range t.Native {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Change
	for _, n := range names {
		c := Change{Setting: "native", Knob: n, Target: t.Native[n], Refused: "native knobs are not supported on " + os}
		if err := ValidateNative(os, n, t.Native[n]); err != nil {
			c.Refused = err.Error()
		}
		out = append(out, c)
	}
	return out
}
