package playbooks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// kvNoCounters is kvDriver on an OS without counter readers.
type kvNoCounters struct{ kvDriver }

func (kvNoCounters) Capabilities() platform.Capabilities { return platform.Capabilities{} }
func (kvNoCounters) Counters(context.Context, platform.Runner) (platform.Counters, error) {
	return nil, platform.ErrNotSupported
}
func (kvNoCounters) Thresholds() map[string]int64 { return nil }

// Per host, the result shows what was measured: the counters' rise with
// its threshold, and the probe's exit.
func TestHealthPerHostMeasured(t *testing.T) {
	f := newKVFleet(2, func(i int, h *kvHost) { h.rise = 3 })
	o := rangeOptions("20000-60999", Batch{}, Health{Counters: true, Probe: map[string]string{"linux": "probe"}, Unchecked: UncheckedRefuse})
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	if len(out.Batches) != 1 || !out.Batches[0].Checked || !out.Batches[0].Healthy {
		t.Fatalf("batches %+v", out.Batches)
	}
	for _, h := range out.Hosts {
		got, _ := json.Marshal(h.Health)
		want := `{"checked":true,"counters":{"Tcp.AttemptFails":{"increase":3,"threshold":50}},"probe":{"exit":0,"output":""}}`
		if string(got) != want {
			t.Errorf("%s health = %s, want %s", h.Host, got, want)
		}
	}
}

// A host whose OS has no counters and no probe is refused by default, and
// with health.unchecked: allow it is applied and shown as not checked: its
// batch is neither checked nor healthy, and is not rolled back.
func TestHealthUncheckedHosts(t *testing.T) {
	noCounters := func(f *kvFleet) *Engine {
		e := f.engine(&memJournal{})
		e.Driver = func(string) (platform.Driver, error) { return kvNoCounters{}, nil }
		return e
	}
	t.Run("refuse", func(t *testing.T) {
		f := newKVFleet(2, nil)
		o := rangeOptions("20000-60999", Batch{}, Health{Counters: true, Unchecked: UncheckedRefuse})
		out := noCounters(f).Apply(context.Background(), "run", f.inventory(), o)
		for _, h := range out.Hosts {
			if h.Status != StatusFailed || !strings.Contains(h.Error, "health not checkable") {
				t.Errorf("%s = %s %q", h.Host, h.Status, h.Error)
			}
		}
		for _, n := range f.names {
			for _, c := range f.hosts[n].commands() {
				if c != "get" {
					t.Errorf("%s ran %q; an unchecked host must not be started", n, c)
				}
			}
		}
	})
	t.Run("allow", func(t *testing.T) {
		f := newKVFleet(4, nil)
		o := rangeOptions("20000-60999", Batch{Count: 2}, Health{Counters: true, Unchecked: UncheckedAllow, Rollback: RollbackAuto})
		out := noCounters(f).Apply(context.Background(), "run", f.inventory(), o)
		if out.Summary.Applied != 4 || out.RolledBack {
			t.Fatalf("summary %+v rolled back %v stopped %q", out.Summary, out.RolledBack, out.Stopped)
		}
		for _, b := range out.Batches {
			if b.Checked || b.Healthy || len(b.Unchecked) != 2 {
				t.Errorf("batch %d: checked %v healthy %v unchecked %v; want shown as not checked", b.Number, b.Checked, b.Healthy, b.Unchecked)
			}
		}
		got, _ := json.Marshal(out.Hosts[0].Health)
		if !strings.HasPrefix(string(got), `{"checked":false,"reason":"fleettune reads no TCP counters on linux yet`) {
			t.Errorf("health = %s", got)
		}
	})
}

// A batch is checked only when every host in it was: one host's counters
// that cannot be read make the batch unhealthy, not "checked" by the others.
// Run with -race: each host's check is its own.
func TestHealthOneUnreadableHostFailsTheBatch(t *testing.T) {
	f := newKVFleet(6, func(i int, h *kvHost) {
		if i == 3 {
			h.failCmd = "counters"
		}
	})
	o := rangeOptions("20000-60999", Batch{Count: 6}, Health{Counters: true, Rollback: RollbackAuto, Unchecked: UncheckedRefuse})
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	b := out.Batches[0]
	if b.Checked || b.Healthy || !out.RolledBack {
		t.Fatalf("batch checked %v healthy %v, rolled back %v; want unhealthy and rolled back", b.Checked, b.Healthy, out.RolledBack)
	}
	if h := out.Hosts[3].Health; h == nil || h.Checked || !strings.Contains(h.Reason, "cannot read counters") {
		t.Errorf("h04 health = %+v", h)
	}
}

// A probe that is not installed (exit 127) is a configuration error: the
// rollout stops and says so, the canary is not "unhealthy" and not rolled
// back.
func TestHealthProbeNotFoundIsConfigError(t *testing.T) {
	f := newKVFleet(3, func(i int, h *kvHost) { h.probeMissing = true })
	o := rangeOptions("20000-60999", Batch{Count: 1}, Health{Probe: map[string]string{"linux": "probe"}, Rollback: RollbackAuto, Unchecked: UncheckedRefuse})
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	if out.RolledBack || !strings.Contains(out.Stopped, "was not found (exit 127): a configuration error") {
		t.Fatalf("rolled back %v, stopped %q", out.RolledBack, out.Stopped)
	}
	if out.Hosts[0].Status != StatusApplied || out.Hosts[1].Status != StatusSkipped {
		t.Errorf("hosts %s, %s", out.Hosts[0].Status, out.Hosts[1].Status)
	}
}

// Plan shows a host that cannot be checked as a refusal by default.
func TestPlanRefusesUncheckedHost(t *testing.T) {
	f := newKVFleet(1, nil)
	e := f.engine(nil)
	pl := &Planner{Dial: e.Dial, Driver: func(string) (platform.Driver, error) { return kvNoCounters{}, nil }}
	r := platform.PortRange{Low: 20000, High: 60999}
	for _, tc := range []struct {
		unchecked, status string
	}{{UncheckedRefuse, StatusFailed}, {UncheckedAllow, StatusChanges}} {
		pb := &Playbook{Targets: Targets{EphemeralPorts: &r}, Health: Health{Counters: true, Unchecked: tc.unchecked}}
		p, err := pl.Plan(context.Background(), f.inventory(), pb)
		if err != nil {
			t.Fatal(err)
		}
		h := p.Hosts[0]
		if h.Status != tc.status || h.Unchecked == "" {
			t.Errorf("unchecked: %s: status %s (%q), health_unchecked %q", tc.unchecked, h.Status, h.Error, h.Unchecked)
		}
	}
}

// A probe that is not on the host is found at plan time, read-only, and
// the host is refused with what to fix; apply would not start it.
func TestPlanFindsMissingProbe(t *testing.T) {
	f := newKVFleet(2, func(i int, h *kvHost) { h.probeMissing = i == 1 })
	e := f.engine(nil)
	pl := &Planner{Dial: e.Dial, Driver: e.Driver}
	r := platform.PortRange{Low: 20000, High: 60999}
	pb := &Playbook{Targets: Targets{EphemeralPorts: &r}, Health: Health{Probe: map[string]string{"linux": "probe --quick"}}}
	p, err := pl.Plan(context.Background(), f.inventory(), pb)
	if err != nil {
		t.Fatal(err)
	}
	if h := p.Hosts[0]; h.Status != StatusChanges {
		t.Errorf("h01 = %s %q", h.Status, h.Error)
	}
	if h := p.Hosts[1]; h.Status != StatusFailed || !strings.Contains(h.Error, "health.probe for linux: probe is not on the host") || len(h.Steps) != 0 {
		t.Errorf("h02 = %s %q, steps %q", h.Status, h.Error, h.Steps)
	}
}
