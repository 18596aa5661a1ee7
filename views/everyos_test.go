package views

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/lab"
	"github.com/fleettune/fleettune/playbooks"
	"github.com/fleettune/fleettune/remote"
)

// labSession serves a lab host in process, as the plan's session.
type labSession struct {
	h    *lab.Host
	user string
}

func (s labSession) Run(ctx context.Context, cmd string) (remote.Result, error) {
	out := s.h.Run(s.user, cmd)
	return remote.Result{Stdout: []byte(out.Stdout), Stderr: []byte(out.Stderr), ExitCode: out.Code}, nil
}
func (labSession) Close() error { return nil }

const everyOSPlaybook = `name: every-os
targets:
  ephemeral_ports: 20000-60999
  time_wait: 30s
  keepalive_time: 5m
overrides:
  - when: {os: windows}
    targets: {ephemeral_ports: 20000-44999}
  - when: {host: sol11}
    targets: {ephemeral_ports: 1024-65535}
health:
  probe:
    solaris: /usr/local/bin/check-app-handshakes
    hpux: /usr/local/bin/check-app-handshakes
    aix: /usr/local/bin/check-app-handshakes
    tru64: /usr/local/bin/check-app-handshakes
`

// everyOSPlan is a real plan of the lab's emulated hosts, made by the real
// planner and drivers (only the run id and clock are fixed), with the Linux
// host of the other fixtures: every OS, a refusal by a guardrail (sol11), a
// refusal because health cannot be checked (Windows: no counters, no
// probe), and hosts whose knob only a boot changes.
func everyOSPlan(t *testing.T) *playbooks.Plan {
	t.Helper()
	specs := []lab.Spec{
		{Name: "sol10", OS: "solaris", Release: "5.10"},
		{Name: "sol11", OS: "solaris", Release: "5.11"},
		{Name: "hpux1131", OS: "hpux", Release: "B.11.31"},
		{Name: "aix72", OS: "aix", Release: "7.2"},
		{Name: "tru64-51", OS: "tru64", Release: "V5.1"},
		{Name: "win2019", OS: "windows", Release: "10.0"},
	}
	hosts := map[string]*lab.Host{}
	var inv []*inventory.Host
	for _, s := range specs {
		h, err := lab.NewHost(s.Name, s.OS, s.Release)
		if err != nil {
			t.Fatal(err)
		}
		hosts[s.Name] = h
		inv = append(inv, &inventory.Host{Name: s.Name, OS: s.OS, Groups: []string{"all"}})
	}
	pb, err := playbooks.Parse("every-os.yaml", []byte(everyOSPlaybook))
	if err != nil {
		t.Fatal(err)
	}
	pl := &playbooks.Planner{
		Dial: func(_ context.Context, h *inventory.Host) (remote.Session, error) {
			user := "root"
			if h.OS == "windows" {
				user = lab.WindowsAdmin
			}
			return labSession{hosts[h.Name], user}, nil
		},
		Now: func() time.Time { return time.Date(2026, 11, 22, 17, 15, 0, 0, time.UTC) },
	}
	p, err := pl.Plan(context.Background(), inv, pb)
	if err != nil {
		t.Fatal(err)
	}
	p.RunID = "20261122T171500Z-3f2a"
	p.Hosts = append([]playbooks.HostPlan{changedHost("node01")}, p.Hosts...)
	p.Summarize()
	return p
}

func TestPlanEveryOSGolden(t *testing.T) {
	p := everyOSPlan(t)
	var b bytes.Buffer
	if err := NewPlan(Text, &b, false).Plan(p); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-every-os.txt", b.Bytes())
	// Twice the same: the golden file holds no accident of map order.
	var again bytes.Buffer
	if err := NewPlan(Text, &again, false).Plan(everyOSPlan(t)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Error("two plans of the same hosts render differently")
	}
}
