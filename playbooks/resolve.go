package playbooks

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/fleettune/fleettune/platform"
)

// Resolve works out the targets for one host: the playbook's targets, then
// every override whose when matches the host, in file order, later ones
// winning per setting. os is the host's OS family, groups every group it is
// in (including "all") and host its inventory name. Native knobs are only
// collected for os. The result shares no memory with the playbook.
func (p *Playbook) Resolve(os string, groups []string, host string) (platform.Targets, error) {
	if !slices.Contains(platform.OSNames, os) {
		return platform.Targets{}, fmt.Errorf("playbook %s: unknown OS family %q (expected one of: %s)", p.File, os, strings.Join(platform.OSNames, ", "))
	}
	var t platform.Targets
	overlay(&t, p.Targets)
	for _, o := range p.Overrides {
		if !o.When.Matches(os, groups, host) {
			continue
		}
		overlay(&t, o.Targets)
		if knobs := o.Native[os]; len(knobs) > 0 {
			if t.Native == nil {
				t.Native = make(map[string]string, len(knobs))
			}
			maps.Copy(t.Native, knobs)
		}
	}
	return t, nil
}

// overlay sets in t every setting src sets, as fresh copies.
func overlay(t *platform.Targets, src Targets) {
	if src.EphemeralPorts != nil {
		r := *src.EphemeralPorts
		t.EphemeralPorts = &r
	}
	if src.TimeWait != nil {
		d := *src.TimeWait
		t.TimeWait = &d
	}
	if src.KeepaliveTime != nil {
		d := *src.KeepaliveTime
		t.KeepaliveTime = &d
	}
}

// Matches reports whether a host matches: every set field must match. OS is
// matched against the OS family, Group against any of the host's groups and
// Host against its name (without regard to case, as DNS names are).
func (m Match) Matches(os string, groups []string, host string) bool {
	if m.OS != "" && !glob(m.OS, os) {
		return false
	}
	if m.Group != "" && !slices.ContainsFunc(groups, func(g string) bool { return glob(m.Group, g) }) {
		return false
	}
	if m.Host != "" && !glob(strings.ToLower(m.Host), strings.ToLower(host)) {
		return false
	}
	return true
}

func glob(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}
