package playbooks

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

// Verify holds a saved plan to the playbook it names, before any host is
// contacted: the playbook's digest must be the one the plan recorded, the
// plan's settings (guardrails, rollout, health, the probe) must be the
// playbook's, and for every host the plan's targets must be what the
// playbook resolves for it, and its changes, steps and status what the
// driver proposes from the facts the plan read with those targets, every
// guardrail and OS limit applied again. hosts are the inventory's entries
// for p.Hosts, in the same order. drivers nil means platform.For.
//
// The error lists what differs; a plan that fails Verify must not run at
// all.
func (p *Plan) Verify(pb *Playbook, hosts []*inventory.Host, drivers func(string) (platform.Driver, error)) error {
	if drivers == nil {
		drivers = platform.For
	}
	if p.PlaybookDigest != pb.Digest {
		return fmt.Errorf("playbook %s has changed since the plan was made (digest %s, the plan recorded %s): run plan again", pb.File, short(pb.Digest), short(p.PlaybookDigest))
	}
	var diffs []string
	diffs = append(diffs, settingsDiff(p.Settings, pb.Settings())...)
	if len(hosts) != len(p.Hosts) {
		return fmt.Errorf("plan verification: %d hosts for %d plan entries", len(hosts), len(p.Hosts))
	}
	for i, hp := range p.Hosts {
		h := hosts[i]
		if hp.Status != StatusChanges && hp.Status != StatusOK {
			// Not reached, or refused, at plan time: apply does not start
			// it, so nothing of it can run.
			if len(hp.Steps) > 0 {
				diffs = append(diffs, fmt.Sprintf("%s: status %s yet %d steps", hp.Host, hp.Status, len(hp.Steps)))
			}
			continue
		}
		if hp.Facts == nil || hp.Targets == nil {
			diffs = append(diffs, fmt.Sprintf("%s: the plan has no facts or targets to check its changes against", hp.Host))
			continue
		}
		if hp.Facts.OS != hp.OS {
			diffs = append(diffs, fmt.Sprintf("%s: os %s, yet its facts are from %s", hp.Host, hp.OS, hp.Facts.OS))
			continue
		}
		want, err := pb.Resolve(hp.OS, h.Groups, h.Name)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: %v", hp.Host, err))
			continue
		}
		if a, b := targetsText(*hp.Targets), targetsText(want); a != b {
			diffs = append(diffs, fmt.Sprintf("%s: targets %s, the playbook gives %s", hp.Host, a, b))
			continue
		}
		d, err := drivers(hp.OS)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: %v", hp.Host, err))
			continue
		}
		facts := *hp.Facts
		prop, err := propose(d, &facts, want, pb.Guardrails)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: %v", hp.Host, err))
			continue
		}
		var again HostPlan
		again.OS = hp.OS
		again.judge(prop)
		again.judgeHealth(pb.Health, d.Capabilities())
		switch {
		case platform.SameChanges(prop.Changes, hp.Changes) != "":
			diffs = append(diffs, fmt.Sprintf("%s: changes: %s", hp.Host, platform.SameChanges(prop.Changes, hp.Changes)))
		case !slices.Equal(again.Steps, hp.Steps):
			diffs = append(diffs, fmt.Sprintf("%s: steps differ from what the playbook gives: %s", hp.Host, firstDifference(again.Steps, hp.Steps)))
		case again.Status != hp.Status || again.RebootRequired != hp.RebootRequired || again.Unchecked != hp.Unchecked:
			diffs = append(diffs, fmt.Sprintf("%s: status %s, the playbook gives %s", hp.Host, hp.Status, again.Status))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	const show = 10
	more := ""
	if len(diffs) > show {
		more = fmt.Sprintf("; and %d more", len(diffs)-show)
		diffs = diffs[:show]
	}
	return fmt.Errorf("the plan is not what playbook %s gives; nothing was run: %s%s", pb.File, strings.Join(diffs, "; "), more)
}

// settingsDiff names every run setting that differs, by its JSON name.
func settingsDiff(plan, pb RunSettings) []string {
	var out []string
	pv, bv := reflect.ValueOf(plan), reflect.ValueOf(pb)
	t := pv.Type()
	for i := range t.NumField() {
		a, b := pv.Field(i).Interface(), bv.Field(i).Interface()
		if reflect.DeepEqual(a, b) || (isEmptyMap(a) && isEmptyMap(b)) {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		out = append(out, fmt.Sprintf("settings.%s is %s in the plan, %s in the playbook", name, ja, jb))
	}
	return out
}

func isEmptyMap(v any) bool {
	m, ok := v.(map[string]string)
	return ok && len(m) == 0
}

func targetsText(t platform.Targets) string {
	b, _ := json.Marshal(t)
	return string(b)
}

func firstDifference(want, got []string) string {
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(got):
			return fmt.Sprintf("step %d %q is missing", i+1, want[i])
		case i >= len(want):
			return fmt.Sprintf("step %d %q is extra", i+1, got[i])
		case want[i] != got[i]:
			return fmt.Sprintf("step %d is %q, the playbook gives %q", i+1, got[i], want[i])
		}
	}
	return ""
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}
