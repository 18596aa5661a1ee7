package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

// editPlan rewrites a saved plan's JSON with edit, as an attacker or a
// careless hand with an editor would.
func editPlan(t *testing.T, src string, edit func(p map[string]any)) string {
	t.Helper()
	data, err := os.ReadFile(src)
	must(t, err)
	var p map[string]any
	must(t, json.Unmarshal(data, &p))
	edit(p)
	out, err := json.MarshalIndent(p, "", "  ")
	must(t, err)
	dst := filepath.Join(t.TempDir(), "edited.json")
	must(t, os.WriteFile(dst, out, 0o644))
	return dst
}

func planHost(p map[string]any, i int) map[string]any {
	return p["hosts"].([]any)[i].(map[string]any)
}

// runFiles lists the journal's runs in the test's state directory.
func runFiles(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(stateDir(t), "runs", "*"))
	must(t, err)
	return m
}

// A saved plan is a contract: an edited probe, target, setting or step, or
// a playbook changed since, is refused with exit 1 before any host is
// contacted, and no run is journalled.
func TestApplySavedPlanEditedIsRefused(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	pbBody := hygiene + "health: {watch: 0s, probe: {linux: \"true\"}}\nrollout: {batch: 100%}\n"
	pb := writePlaybook(t, pbBody)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--out", planFile); r.code != 2 {
		t.Fatalf("plan exit %d\n%s", r.code, r.stderr)
	}
	before := fleetState(t, f)
	cases := []struct {
		name, want string
		edit       func(p map[string]any)
	}{
		{"probe", "settings.probe", func(p map[string]any) {
			p["settings"].(map[string]any)["probe"] = map[string]any{"linux": "touch /tmp/fleettune-pwned"}
		}},
		{"setting", "settings.protect_listening_ports", func(p map[string]any) {
			p["settings"].(map[string]any)["protect_listening_ports"] = false
		}},
		{"target", "node01: targets", func(p map[string]any) {
			planHost(p, 0)["targets"].(map[string]any)["ephemeral_ports"] = "1024-65535"
		}},
		{"step", "node02: steps differ", func(p map[string]any) {
			h := planHost(p, 1)
			steps := h["steps"].([]any)
			steps[0] = "sysctl -w net.ipv4.ip_local_port_range='1024 65535'"
		}},
		{"change command", "node01: changes", func(p map[string]any) {
			c := planHost(p, 0)["changes"].([]any)[0].(map[string]any)
			c["commands"] = []any{"reboot"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			edited := editPlan(t, planFile, c.edit)
			r := run(t, "apply", edited, "--yes")
			if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "nothing was run") {
				t.Errorf("edited %s: exit %d, stderr %q; want exit 1 naming %q", c.name, r.code, r.stderr, c.want)
			}
		})
	}
	// The playbook changed since the plan: refused by its digest.
	must(t, os.WriteFile(pb, []byte(pbBody+"# edited\n"), 0o644))
	r := run(t, "apply", planFile, "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "has changed since the plan was made") {
		t.Errorf("plan after the playbook changed: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, h := range f.Hosts {
		if n := f.Connections(h.Name); n != 1 {
			t.Errorf("%s: %d connections; a refused plan must contact no host (only plan's one)", h.Name, n)
		}
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("a refused plan changed hosts:\nbefore %+v\nafter  %+v", before, after)
	}
	if runs := runFiles(t); len(runs) != 0 {
		t.Errorf("refused plans journalled runs: %v", runs)
	}
}

// A saved plan applied in parts: each --limit part is a run of its own that
// records the plan it came from; a host not in the plan is an error.
func TestApplySavedPlanInParts(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	pb := writePlaybook(t, hygiene+"health: {watch: 0s}\nrollout: {batch: 100%}\n")
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--limit", "node01,node02", "--out", planFile); r.code != 2 {
		t.Fatalf("plan exit %d\n%s", r.code, r.stderr)
	}
	var plan struct {
		RunID string `json:"run_id"`
	}
	data, err := os.ReadFile(planFile)
	must(t, err)
	must(t, json.Unmarshal(data, &plan))

	first := decodeResult(t, run(t, "apply", planFile, "--limit", "node01", "--yes", "--format", "json"))
	second := decodeResult(t, run(t, "apply", planFile, "--limit", "node02", "--yes", "--format", "json"))
	if first.RunID == second.RunID || first.RunID == plan.RunID {
		t.Errorf("runs %s and %s of plan %s: each part must be a run of its own", first.RunID, second.RunID, plan.RunID)
	}
	if got := first.status("node01"); !strings.HasPrefix(got, "applied") {
		t.Errorf("part 1: node01 = %s", got)
	}
	if got := second.status("node02"); !strings.HasPrefix(got, "applied") {
		t.Errorf("part 2: node02 = %s", got)
	}
	for _, id := range []string{first.RunID, second.RunID} {
		b, err := os.ReadFile(filepath.Join(stateDir(t), "runs", id+".jsonl"))
		must(t, err)
		if !strings.Contains(string(b), `"plan_run":"`+plan.RunID+`"`) {
			t.Errorf("run %s does not record the plan it came from (%s)", id, plan.RunID)
		}
	}
	r := run(t, "apply", planFile, "--limit", "node01,nosuchhost", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "--limit") {
		t.Errorf("limit naming an unknown host: exit %d, stderr %q", r.code, r.stderr)
	}
}

// apply -i -p plans, changes, checks health and verifies over one SSH
// connection per host.
func TestApplyOneConnectionPerHost(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	pb := writePlaybook(t, hygiene+"health: {watch: 0s, counters: true}\nrollout: {batch: 1}\n")
	r := run(t, "apply", "-i", f.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	for _, h := range f.Hosts {
		if got := d.status(h.Name); !strings.HasPrefix(got, "applied") {
			t.Errorf("%s = %s", h.Name, got)
		}
		if n := f.Connections(h.Name); n != 1 {
			t.Errorf("%s: %d SSH connections in one apply, want 1", h.Name, n)
		}
	}
	for _, b := range d.Batches {
		if !b.Checked || !b.Healthy {
			t.Errorf("batch %d: checked %v healthy %v; Linux counters are read on every host", b.Batch, b.Checked, b.Healthy)
		}
	}
}
