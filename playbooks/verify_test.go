package playbooks

import (
	"context"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// kvPlaybook is the playbook f.plan plans with, digest included.
func kvPlaybook(t *testing.T) *Playbook {
	t.Helper()
	pb, err := Parse("kv.yaml", []byte("name: kv\ntargets: {ephemeral_ports: 20000-60999}\nhealth: {probe: {linux: probe}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

func planWith(t *testing.T, f *kvFleet, pb *Playbook) *Plan {
	t.Helper()
	e := f.engine(nil)
	pl := &Planner{Dial: e.Dial, Driver: e.Driver, Forks: 4}
	p, err := pl.Plan(context.Background(), f.inventory(), pb)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func kvDrivers(string) (platform.Driver, error) { return kvDriver{}, nil }

func TestVerifyRefusesEditedPlans(t *testing.T) {
	f := newKVFleet(2, nil)
	pb := kvPlaybook(t)
	for _, tc := range []struct {
		name, want string
		edit       func(p *Plan)
	}{
		{"unchanged", "", func(*Plan) {}},
		{"digest", "has changed since the plan", func(p *Plan) { p.PlaybookDigest = "sha256:0000" }},
		{"probe", "settings.probe", func(p *Plan) { p.Settings.Probe = map[string]string{"linux": "rm -rf /"} }},
		{"setting", "settings.batch", func(p *Plan) { p.Settings.Batch = "100%" }},
		{"target", "h01: targets", func(p *Plan) {
			r := platform.PortRange{Low: 1024, High: 65535}
			p.Hosts[0].Targets = &platform.Targets{EphemeralPorts: &r}
		}},
		{"step", "h02: steps differ", func(p *Plan) { p.Hosts[1].Steps = []string{"set 1-2"} }},
		{"command", "h01: changes", func(p *Plan) { p.Hosts[0].Changes[0].Commands = []string{"reboot"} }},
		{"status", "h02: status", func(p *Plan) { p.Hosts[1].Status = StatusOK }},
		{"facts os", "h01: os", func(p *Plan) { p.Hosts[0].Facts.OS = "aix" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planWith(t, f, pb)
			tc.edit(p)
			err := p.Verify(pb, f.inventory(), kvDrivers)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("an untouched plan is refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Verify = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	for _, n := range f.names {
		for _, c := range f.hosts[n].commands() {
			if c != "get" && !strings.HasPrefix(c, "command -v ") {
				t.Errorf("%s ran %q; planning and verifying only read", n, c)
			}
		}
	}
}

// The engine runs exactly the plan's steps, and refuses a host whose plan
// steps are not what a fresh proposal gives, running nothing on it.
func TestApplyRunsThePlansStepsOnly(t *testing.T) {
	f := newKVFleet(2, nil)
	p := f.plan(t, "20000-60999")
	o := rangeOptions("20000-60999", Batch{}, Health{})
	o.Expected = expected(p)
	h2 := o.Expected["h02"]
	h2.Steps = []string{"set 20000-60999", "persist 1-2"}
	o.Expected["h02"] = h2
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	if out.Hosts[0].Status != StatusApplied {
		t.Fatalf("h01 = %s %q", out.Hosts[0].Status, out.Hosts[0].Error)
	}
	var ran []string
	for _, c := range out.Hosts[0].Commands {
		ran = append(ran, c.Cmd)
	}
	if strings.Join(ran, "|") != strings.Join(p.Hosts[0].Steps, "|") {
		t.Errorf("h01 ran %q, the plan showed %q", ran, p.Hosts[0].Steps)
	}
	if out.Hosts[1].Status != StatusFailed || !strings.Contains(out.Hosts[1].Error, "steps are not what apply would run") {
		t.Errorf("h02 = %s %q", out.Hosts[1].Status, out.Hosts[1].Error)
	}
	for _, c := range f.hosts["h02"].commands() {
		if c != "get" {
			t.Errorf("h02 ran %q under an edited plan", c)
		}
	}
}
