package main

import (
	"regexp"
	"strings"
	"testing"
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
