package main

import (
	"strings"
	"testing"

	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/lab"
)

// Every flag is checked before a host is contacted or the state dir is
// written: a bad value is exit 1, names the flag, and no connection is made.
func TestBadFlagsContactNoHost(t *testing.T) {
	f := newFleet(t, 1)
	inv, pb := f.lab.Inventory, f.playbook
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"plan", "-i", inv, "-p", pb, "--forks", "0"}, "--forks 0"},
		{[]string{"plan", "-i", inv, "-p", pb, "-f", "-3"}, "--forks -3"},
		{[]string{"plan", "-i", inv, "-p", pb, "--format", "yaml"}, `--format "yaml"`},
		{[]string{"plan", "-i", inv, "-p", pb, "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"plan", "-i", inv, "-p", pb, "--limit", "web:db"}, "use commas (web,db)"},
		{[]string{"plan", "-i", inv, "-p", pb, "-l", "sol10-01:sol11-01"}, "use commas (sol10-01,sol11-01)"},
		{[]string{"plan", "-i", inv, "-p", pb, "--forks", "many"}, `invalid argument "many"`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--batch", "0"}, "--batch"},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--batch", "150%"}, "--batch"},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--batch", "half"}, "--batch"},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--batch", "1,0,25%"}, `--batch: step 2 of "1,0,25%": "0": a batch must hold at least 1 host`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--max-failures", "-1"}, "--max-failures: -1 is negative"},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--max-failures", "200%"}, `--max-failures: "200%": a percentage must be between 0% and 100%`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--watch", "soon"}, `--watch "soon"`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--watch", "-1s"}, `--watch "-1s"`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--forks", "0"}, "--forks 0"},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--format", "xml"}, `--format "xml"`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--log-level", "chatty"}, `--log-level "chatty"`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--rollback-scope", "some"}, `--rollback-scope "some"`},
		{[]string{"apply", "-i", inv, "-p", pb, "--yes", "--limit", "a:b"}, "use commas (a,b)"},
		{[]string{"apply", "-i", inv, "--yes"}, "-p PLAYBOOK"},
		{[]string{"rollback", "--last", "--yes", "--forks", "0"}, "--forks 0"},
		{[]string{"rollback", "--last", "--yes", "--format", "yaml"}, `--format "yaml"`},
		{[]string{"rollback", "--yes"}, "--run ID or --last"},
		{[]string{"status", "--format", "csv"}, `--format "csv"`},
		{[]string{"plan", "-i", inv, "-p", pb, "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"plan", "-p", pb}, "FLEETTUNE_INVENTORY"},
	} {
		r := f.run(tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v: want exit 1 saying %q, got %s", tc.args, tc.says, r)
		}
	}
	if n := f.connections(); n != 0 {
		t.Errorf("bad flags made %d connections to hosts; want none", n)
	}
	if runs := f.runs(""); len(runs) != 0 {
		t.Errorf("bad flags journalled %d runs", len(runs))
	}
}

// plan: 2 with changes pending, 0 once nothing would change, 1 when a
// host is unreachable. apply: 0 when every host is done, and when there is
// nothing to do.
func TestPlanAndApplyExitCodes(t *testing.T) {
	f := newFleet(t, 2)
	inv, pb := f.lab.Inventory, f.playbook
	if r := f.run("plan", "-i", inv, "-p", pb); r.code != 2 || !strings.Contains(r.stdout, "2 hosts to change") {
		t.Fatalf("plan with changes pending: want exit 2, got %s", r)
	}
	r := f.run("apply", "-i", inv, "-p", pb, "--yes", "--format", "json")
	var d outcomeDoc
	oneJSON(t, r, &d)
	if r.code != 0 || d.status("sol10-01") != "applied" || d.status("sol11-01") != "applied" {
		t.Fatalf("apply: want exit 0 with both hosts applied, got %s", r)
	}
	if r := f.run("plan", "-i", inv, "-p", pb); r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("plan of a converged fleet: want exit 0, got %s", r)
	}
	if r := f.run("apply", "-i", inv, "-p", pb); r.code != 0 {
		t.Errorf("apply with nothing to do (no terminal, no --yes needed): want exit 0, got %s", r)
	}
	if err := f.lab.SetFaults("sol11-01", lab.Faults{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	if r := f.run("plan", "-i", inv, "-p", pb); r.code != 1 || !strings.Contains(r.stdout, "unreachable") {
		t.Errorf("plan with a host unreachable: want exit 1, got %s", r)
	}
}

// apply: 1 when a host failed; 3 when the health check failed and the
// rollout was rolled back.
func TestApplyFailureExitCodes(t *testing.T) {
	f := newFleet(t, 2)
	inv := f.lab.Inventory
	if err := f.lab.SetFaults("sol10-01", lab.Faults{FailCommand: "ndd -set"}); err != nil {
		t.Fatal(err)
	}
	r := f.run("apply", "-i", inv, "-p", f.playbook, "--yes", "--format", "json")
	var d outcomeDoc
	oneJSON(t, r, &d)
	if r.code != 1 || d.status("sol10-01") != "failed" {
		t.Fatalf("apply with a failing host: want exit 1 and sol10-01 failed, got %s", r)
	}
	if err := f.lab.SetFaults("sol10-01", lab.Faults{}); err != nil {
		t.Fatal(err)
	}

	g := newFleet(t, 2)
	for _, h := range g.lab.Hosts() {
		h.Lock()
		h.Faults.HandshakeFailures = true
		h.Unlock()
	}
	aggressive := g.write("aggressive.yaml", strings.Replace(labPlaybook, "time_wait: 30s", "time_wait: 10s", 1))
	r = g.run("apply", "-i", g.lab.Inventory, "-p", aggressive, "--yes", "--batch", "1", "--format", "json")
	d = outcomeDoc{}
	oneJSON(t, r, &d)
	if r.code != 3 || d.status("sol10-01") != "rolled_back" {
		t.Fatalf("apply whose canary is unhealthy: want exit 3 and the canary rolled back, got %s", r)
	}
}

// rollback: 0 when every host is put back, 1 for a run that does not
// exist or a host that cannot be reached; status: 0, and 1 on a state dir
// that is not one.
func TestRollbackAndStatusExitCodes(t *testing.T) {
	f := newFleet(t, 2)
	inv := f.lab.Inventory
	if r := f.run("apply", "-i", inv, "-p", f.playbook, "--yes"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	applied := f.runs(journal.KindApply)[0].ID()
	if r := f.run("rollback", "--run", "20200101T000000Z-dead", "--yes"); r.code != 1 || !strings.Contains(r.stderr, "20200101T000000Z-dead") {
		t.Errorf("rollback of an unknown run: want exit 1 naming it, got %s", r)
	}
	if err := f.lab.SetFaults("sol11-01", lab.Faults{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	if r := f.run("rollback", "--last", "--yes", "--limit", "sol11-01"); r.code != 1 {
		t.Errorf("rollback of an unreachable host: want exit 1, got %s", r)
	}
	if err := f.lab.SetFaults("sol11-01", lab.Faults{}); err != nil {
		t.Fatal(err)
	}
	r := f.run("rollback", "--run", applied, "--yes", "--format", "json")
	var d outcomeDoc
	oneJSON(t, r, &d)
	if r.code != 0 || d.status("sol10-01") != "rolled_back" || d.status("sol11-01") != "rolled_back" {
		t.Fatalf("rollback: want exit 0 and both hosts rolled back, got %s", r)
	}
	if r := f.run("status"); r.code != 0 || !strings.Contains(r.stdout, applied) {
		t.Errorf("status: want exit 0 listing %s, got %s", applied, r)
	}
	foreign := f.write("important.txt", "x")
	if r := f.run("status", "--state-dir", foreign); r.code != 1 {
		t.Errorf("status on a file that is no state dir: want exit 1, got %s", r)
	}
}
