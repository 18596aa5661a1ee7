package playbooks

import (
	"context"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/lab"
	"github.com/fleettune/fleettune/remote"
)

type labSession struct {
	h    *lab.Host
	user string
}

func (s labSession) Run(_ context.Context, cmd string) (remote.Result, error) {
	out := s.h.Run(s.user, cmd)
	return remote.Result{Stdout: []byte(out.Stdout), Stderr: []byte(out.Stderr), ExitCode: out.Code}, nil
}
func (labSession) Close() error { return nil }

// OS limits are their drivers': a playbook may ask for a 101-port range or
// a 10-minute TIME_WAIT, and the Windows driver refuses both in the plan
// (netsh needs 255 ports, TcpTimedWaitDelay at most 300s), naming its own
// limit; the playbook loader no longer applies Windows' limits to all.
func TestOSLimitsAreTheDrivers(t *testing.T) {
	win, err := lab.NewHost("win", "windows", "10.0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &Planner{Dial: func(context.Context, *inventory.Host) (remote.Session, error) {
		return labSession{win, lab.WindowsAdmin}, nil
	}}
	for file, want := range map[string]string{
		"testdata/playbooks/port-small.yaml":     "range 60000-60100 holds 101 ports; netsh needs at least 255",
		"testdata/playbooks/time-wait-high.yaml": "must be between 30s and 5m0s (Windows' documented range)",
	} {
		pb, err := Load(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		pb.Health.Unchecked = UncheckedAllow
		p, err := pl.Plan(context.Background(), []*inventory.Host{{Name: "win", OS: "windows"}}, pb)
		if err != nil {
			t.Fatal(err)
		}
		h := p.Hosts[0]
		if h.Status != StatusFailed || !strings.Contains(h.Error, want) || len(h.Steps) != 0 {
			t.Errorf("%s on Windows: %s %q, %d steps; want refused with %q", file, h.Status, h.Error, len(h.Steps), want)
		}
	}
}

// guardrails.min_time_wait is the planner's, for every OS: a TIME_WAIT
// target below it (which the loader would never let through) is refused
// with no steps, whatever the driver would have done.
func TestMinTimeWaitIsThePlanners(t *testing.T) {
	for _, os := range []struct{ name, release string }{{"solaris", "5.11"}, {"hpux", "B.11.31"}, {"aix", "7.3"}} {
		h, err := lab.NewHost("h", os.name, os.release)
		if err != nil {
			t.Fatal(err)
		}
		pl := &Planner{Dial: func(context.Context, *inventory.Host) (remote.Session, error) { return labSession{h, "root"}, nil }}
		pb := &Playbook{Targets: Targets{TimeWait: durp(5e9)}, Guardrails: Guardrails{MinTimeWait: 10e9},
			Health: Health{Unchecked: UncheckedAllow}}
		p, err := pl.Plan(context.Background(), []*inventory.Host{{Name: "h", OS: os.name}}, pb)
		if err != nil {
			t.Fatal(err)
		}
		hp := p.Hosts[0]
		if hp.Status != StatusFailed || !strings.Contains(hp.Error, "below guardrails.min_time_wait (10s)") || len(hp.Steps) != 0 {
			t.Errorf("%s: %s %q, steps %q", os.name, hp.Status, hp.Error, hp.Steps)
		}
	}
}
