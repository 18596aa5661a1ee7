package views

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/playbooks"
)

// bigPlan is 120 web hosts with the same changes and 12 that refused the
// connection.
func bigPlan() *playbooks.Plan {
	p := mixedPlan()
	p.Hosts = nil
	for i := 1; i <= 120; i++ {
		p.Hosts = append(p.Hosts, changedHost(fmt.Sprintf("web%03d", i)))
	}
	for i := 1; i <= 12; i++ {
		name := fmt.Sprintf("db%03d", i)
		p.Hosts = append(p.Hosts, playbooks.HostPlan{Host: name, Status: playbooks.StatusUnreachable, Reason: "connection refused", TimeWaitSockets: -1,
			Error: fmt.Sprintf("%s: host unreachable: dial tcp 10.0.1.%d:22: connect: connection refused", name, i)})
	}
	p.Summarize()
	return p
}

func TestPlanGroupsIdenticalHosts(t *testing.T) {
	var b bytes.Buffer
	if err := NewPlan(Text, &b, false).Plan(bigPlan()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\n120 hosts (web001…web120)  linux 6.18.44  2 changes\n",
		"\n12 hosts (db001…db012)  unreachable: connection refused\n    e.g. db001: host unreachable: dial tcp 10.0.1.1:22: connect: connection refused\n",
		"Plan: 120 hosts to change (240 settings), 0 up to date, 12 unreachable.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "web002") || strings.Contains(out, "db002") {
		t.Errorf("grouped hosts are listed one by one:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n > 30 {
		t.Errorf("132 hosts take %d lines; want them grouped:\n%s", n, out)
	}

	b.Reset()
	if err := NewPlanDetail(Text, &b, false, true).Plan(bigPlan()); err != nil {
		t.Fatal(err)
	}
	detail := b.String()
	for _, want := range []string{"\nweb077  linux 6.18.44  2 changes\n", "\ndb012  unreachable: connection refused\n    host unreachable: dial tcp 10.0.1.12:22: connect: connection refused\n"} {
		if !strings.Contains(detail, want) {
			t.Errorf("--detail does not show %q", want)
		}
	}
	if strings.Contains(detail, "120 hosts (") {
		t.Error("--detail still groups")
	}
}

func TestOutcomeGroupsAndRecap(t *testing.T) {
	o := &playbooks.Outcome{RunID: "run", Kind: "apply"}
	for i := 1; i <= 120; i++ {
		h := playbooks.HostOutcome{Host: fmt.Sprintf("web%03d", i), OS: "linux", Status: playbooks.StatusApplied, Batch: 1 + min(i-1, 1),
			Changes: changedHost("x").Changes, Notes: []string{twNote}}
		o.Hosts = append(o.Hosts, h)
	}
	for i := 1; i <= 12; i++ {
		name := fmt.Sprintf("db%03d", i)
		o.Hosts = append(o.Hosts, playbooks.HostOutcome{Host: name, Status: playbooks.StatusUnreachable, Reason: "connection refused", Batch: 2,
			Error: fmt.Sprintf("%s: host unreachable: dial tcp 10.0.1.%d:22: connect: connection refused", name, i)})
	}
	o.Hosts = append(o.Hosts, playbooks.HostOutcome{Host: "db013", Status: playbooks.StatusFailed, Reason: "authentication failed", Batch: 2,
		Error: "db013: authentication failed: ssh: unable to authenticate"})
	o.Batches = []playbooks.BatchOutcome{{Number: 1, Canary: true, Hosts: []string{"web001"}, Checked: true, Healthy: true},
		{Number: 2, Hosts: []string{"web002"}, Checked: true, Healthy: true}}
	o.Summarize()
	var b bytes.Buffer
	if err := NewOutcome(Text, &b, false).Outcome(o); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\n✓ web001  applied  batch 1  ephemeral_ports 32768-60999 → 20000-60999",
		"\n✓ 119 hosts (web002…web120)  applied  batch 2  ephemeral_ports 32768-60999 → 20000-60999",
		"\n✗ 12 hosts (db001…db012)  unreachable: connection refused  batch 2\n    e.g. db001: host unreachable: dial tcp 10.0.1.1:22",
		"\n✗ db013  failed: authentication failed  batch 2\n    authentication failed: ssh: unable to authenticate\n",
		"\nFailed and unreachable, by reason:\n  connection refused (12): db001…db012\n  authentication failed (1): db013\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply does not say %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n > 25 {
		t.Errorf("133 hosts take %d lines:\n%s", n, out)
	}
	b.Reset()
	if err := NewOutcomeDetail(Text, &b, false, true).Outcome(o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n✓ web077  applied  batch 2") || !strings.Contains(b.String(), "\n✗ db007  unreachable: connection refused  batch 2\n    host unreachable: dial tcp 10.0.1.7:22") {
		t.Errorf("--detail does not list every host:\n%s", b.String())
	}
}

// plan --audit: one host's header carries its summary; a group's counts
// the grades and names the hosts at risk.
func TestPlanAuditOnHeaders(t *testing.T) {
	p := bigPlan()
	p.Hosts = p.Hosts[:4]
	for i := range p.Hosts {
		p.Hosts[i].Grade, p.Hosts[i].Audit = "OK", "OK · 10.0.0.1:443 12% · headroom >10×"
	}
	p.Hosts[2].Grade, p.Hosts[2].Audit = "WARN", "WARN · 10.0.0.9:5432 71% · headroom 1.40×"
	one := changedHost("solo")
	one.OS = "solaris"
	one.Grade, one.Audit = "CRIT", "CRIT · 10.0.0.7:3306 91% · headroom 1.10×"
	p.Hosts = append(p.Hosts, one)
	p.Summarize()
	var b bytes.Buffer
	if err := NewPlan(Text, &b, false).Plan(p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n4 hosts (web001…web004)  linux 6.18.44  2 changes  · audit 3 OK, 1 WARN (at risk: web003)\n",
		"\nsolo  solaris 6.18.44  2 changes  · audit CRIT · 10.0.0.7:3306 91% · headroom 1.10×\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, b.String())
		}
	}
}

func TestOutcomeStillAtRisk(t *testing.T) {
	o := &playbooks.Outcome{RunID: "run", Kind: "apply", Hosts: []playbooks.HostOutcome{{Host: "db1", Status: playbooks.StatusApplied}},
		AtRisk: []playbooks.HostRisk{{Host: "db1", Grade: "WARN", Audit: "WARN · 10.0.0.9:5432 71% · headroom 1.40×"}}}
	o.Summarize()
	var b bytes.Buffer
	if err := NewOutcome(Text, &b, false).Outcome(o); err != nil {
		t.Fatal(err)
	}
	if want := "\nStill at risk (audit after the run):\n  db1  WARN · 10.0.0.9:5432 71% · headroom 1.40×\n"; !strings.Contains(b.String(), want) {
		t.Errorf("apply does not say %q:\n%s", want, b.String())
	}
}
