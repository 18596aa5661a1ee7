package main

import (
	"strings"
	"testing"

	"github.com/fleettune/fleettune/playbooks"
)

const (
	examplePlaybook  = "../../examples/playbook.yaml"
	exampleInventory = "../../examples/inventory.yaml"
)

// The example playbook works on a first apply: it names no probe that a
// fresh host would not have (a missing probe exits 127 and would fail the
// canary), and it applies cleanly to hosts that have counters.
func TestExamplePlaybookFirstApply(t *testing.T) {
	pb, err := playbooks.Load(examplePlaybook)
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Health.Probe) != 0 {
		t.Errorf("the example playbook runs probes that a fresh host lacks: %v", pb.Health.Probe)
	}
	f := newFleet(t, 2)
	r := f.run("apply", "-i", f.lab.Inventory, "-p", examplePlaybook, "--watch", "0s", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "2 applied") {
		t.Errorf("first apply of the example playbook: %s", r)
	}
}

// The example inventory loads, and --list-hosts shows its hosts without
// resolving or contacting any of them.
func TestExampleInventoryListHosts(t *testing.T) {
	f := newFleet(t, 1)
	r := f.run("plan", "-i", exampleInventory, "-p", examplePlaybook, "--list-hosts", "--limit", "web,db*,!db2.example.com")
	if r.code != 0 || !strings.Contains(r.stdout, "web01.example.com") || !strings.Contains(r.stdout, "db1.example.com") ||
		strings.Contains(r.stdout, "db2.example.com") || !strings.Contains(r.stdout, "21 hosts selected") {
		t.Errorf("--list-hosts of the example inventory: %s", r)
	}
}
