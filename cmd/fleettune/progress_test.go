package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/lab"
)

var batchLine = regexp.MustCompile(`(?m)^batch \d+/\d+( \(canary\))?: \d+ hosts?, `)

// Off a terminal, apply's stderr has one line per batch and no escape
// sequences; on one, the live line is redrawn in place and each batch
// still leaves its line.
func TestApplyProgressOnAndOffTerminal(t *testing.T) {
	f := newFleet(t, 3)
	inv, pb := f.lab.Inventory, f.playbook
	r := f.run("apply", "-i", inv, "-p", pb, "--yes", "--batch", "1,2", "--max-failures", "50%")
	if r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	lines := batchLine.FindAllString(r.stderr, -1)
	if len(lines) != 2 || !strings.Contains(r.stderr, "batch 1/2 (canary): 1 host, 1 applied, 0 failed") ||
		!strings.Contains(r.stderr, "batch 2/2: 2 hosts, 2 applied, 0 failed") || strings.Contains(r.stderr, "\x1b[") {
		t.Errorf("off a terminal: want one plain line per batch, got %s", r)
	}
	if strings.Contains(r.stderr, "INFO applying changes=") {
		t.Errorf("per-host lines are debug level now: %s", r)
	}

	f = newFleet(t, 2)
	inv, pb = f.lab.Inventory, f.playbook
	r = f.runOn(tty{stderrTTY: true}, "apply", "-i", inv, "-p", pb, "--yes", "--batch", "1")
	if r.code != 0 {
		t.Fatalf("apply on a terminal: %s", r)
	}
	plain := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(r.stderr, "") // colours
	if !strings.Contains(plain, "\r\x1b[Kbatch 1/2 (canary) · 1/1 hosts · 1/2 done · 0 failed") || strings.Contains(plain, "batch 0/") {
		t.Errorf("on a terminal: want the live line, got %q", plain)
	}
	if !strings.Contains(plain, "\r\x1b[Kbatch 1/2 (canary): 1 host, 1 applied, 0 failed, healthy · 1/2 done, 0 failures so far · 0s\n\r\x1b[Kbatch 1/2 (canary) · ") {
		t.Errorf("a batch's line does not stay above the live line: %q", plain)
	}
	if !strings.HasSuffix(plain, "\r\x1b[K") {
		t.Errorf("the live line is not cleared at the end: %q", plain)
	}
}

// plan --audit reads each host's port use over the plan's own session:
// the header carries the grade and headroom, the JSON the grade, and each
// host still sees one connection.
func TestPlanAuditOneConnectionPerHost(t *testing.T) {
	f := newFleet(t, 3)
	r := f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook, "--audit", "--detail")
	if r.code != 2 {
		t.Fatalf("plan --audit: %s", r)
	}
	for _, h := range []string{"sol10-01", "sol11-01", "sol10-02"} {
		if !regexp.MustCompile(`(?m)^` + h + `  solaris .*  · audit (OK|WATCH|WARN|CRIT|EXHAUSTED) · `).MatchString(r.stdout) {
			t.Errorf("%s's header has no audit summary:\n%s", h, r.stdout)
		}
		if n := f.lab.Connections(h); n != 1 {
			t.Errorf("%s: %d connections; plan --audit must use the plan's one", h, n)
		}
	}
	var doc struct {
		Hosts []struct{ Host, Grade, Audit string } `json:"hosts"`
	}
	r = f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook, "--audit", "--format", "json")
	oneJSON(t, r, &doc)
	for _, h := range doc.Hosts {
		if h.Grade == "" || !strings.HasPrefix(h.Audit, h.Grade+" · ") {
			t.Errorf("%s: grade %q audit %q", h.Host, h.Grade, h.Audit)
		}
	}
}

// apply --audit audits before and after over the run's one connection per
// host; a host the lab keeps exhausted is still at risk after the run.
func TestApplyAuditOneConnectionPerHost(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Specs: []lab.Spec{
		{Name: "sol10-01", OS: "solaris", Release: "5.10"},
		{Name: "sol11-01", OS: "solaris", Release: "5.11", Profile: lab.ProfileExhausted}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fleet{t: t, lab: l, stateDir: filepath.Join(t.TempDir(), "state")}
	// A narrower range than Solaris's default: the exhausted host stays so.
	f.playbook = f.write("playbook.yaml", strings.Replace(labPlaybook, "20000-60999", "50000-60999", 1))
	f.env = map[string]string{"FLEETTUNE_STATE_DIR": f.stateDir, "HOME": t.TempDir()}
	r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--yes", "--audit", "--format", "json")
	var doc struct {
		Hosts  []struct{ Host, Status string } `json:"hosts"`
		AtRisk []struct{ Host, Grade string }  `json:"at_risk"`
	}
	oneJSON(t, r, &doc)
	if r.code != 0 || len(doc.Hosts) != 2 || doc.Hosts[0].Status != "applied" {
		t.Fatalf("apply --audit: %s", r)
	}
	if len(doc.AtRisk) != 1 || doc.AtRisk[0].Host != "sol11-01" || (doc.AtRisk[0].Grade != "CRIT" && doc.AtRisk[0].Grade != "EXHAUSTED" && doc.AtRisk[0].Grade != "WARN") {
		t.Errorf("at risk after the run: %+v; want the exhausted sol11-01 alone\n%s", doc.AtRisk, r)
	}
	for _, h := range []string{"sol10-01", "sol11-01"} {
		if n := f.lab.Connections(h); n != 1 {
			t.Errorf("%s: %d connections; apply --audit must use the run's one", h, n)
		}
	}
}
