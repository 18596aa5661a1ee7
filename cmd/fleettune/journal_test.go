package main

import (
	"strings"
	"testing"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/journal"
)

// TestApplyJournalsHostHealth: after an apply over real SSH to the lab, the
// journal's last result record of every host carries what its batch's
// health check measured on it (here the lab's handshake probe), in the
// engine's own type: nothing is converted or lost on the way.
func TestApplyJournalsHostHealth(t *testing.T) {
	f := newFleet(t, 2)
	if r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--yes"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	runs := f.runs(journal.KindApply)
	if len(runs) != 1 {
		t.Fatalf("%d apply runs", len(runs))
	}
	for _, name := range []string{"sol10-01", "sol11-01"} {
		h := runs[0].Host(name)
		if h == nil || h.Result == nil {
			t.Fatalf("%s: no result", name)
		}
		if h.Status() != record.StatusApplied {
			t.Errorf("%s: status %s", name, h.Status())
		}
		hh := h.Result.Health
		if hh == nil || !hh.Checked || hh.Probe == nil || hh.Probe.Exit != 0 {
			t.Fatalf("%s: journalled health %+v; want the probe's passing check", name, hh)
		}
		if !strings.Contains(hh.Probe.Output, "20 of 20 handshakes ok") {
			t.Errorf("%s: probe output %q", name, hh.Probe.Output)
		}
		for _, c := range h.Commands {
			if c.Host != name || c.Phase != record.PhaseApply || c.Cmd == "" {
				t.Errorf("%s: command record %+v", name, c)
			}
		}
		if len(h.Commands) == 0 {
			t.Errorf("%s: no command records", name)
		}
	}
}
