package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/lab"
)

// A 1,000-host apply against the lab, over real SSH on loopback, prints
// under 60 lines on stdout and stderr together: hosts that read the same
// are grouped, progress is a line per batch, and the recap names the
// unreachable hosts by reason.
func TestApplyThousandHostsIsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 SSH hosts; not with -short")
	}
	var specs []lab.Spec
	for i := 1; i <= 1000; i++ {
		specs = append(specs, lab.Spec{Name: fmt.Sprintf("sol%04d", i), OS: "solaris", Release: "5.11"})
	}
	l, err := lab.Start(context.Background(), lab.Options{Specs: specs, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, name := range []string{"sol0500", "sol0501", "sol0502"} {
		if err := l.SetFaults(name, lab.Faults{Refuse: true}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fleet{t: t, lab: l, stateDir: filepath.Join(t.TempDir(), "state")}
	f.playbook = f.write("playbook.yaml", labPlaybook)
	f.env = map[string]string{"FLEETTUNE_STATE_DIR": f.stateDir, "HOME": t.TempDir()}

	r := f.run("apply", "-i", l.Inventory, "-p", f.playbook, "--yes", "--forks", "50", "--batch", "1,10%,50%")
	if r.code != 1 {
		t.Fatalf("apply with 3 hosts unreachable: want exit 1, got %s", r)
	}
	lines := strings.Count(r.stdout, "\n") + strings.Count(r.stderr, "\n")
	if lines >= 60 {
		t.Errorf("1,000 hosts printed %d lines; want under 60:\n%s", lines, r)
	}
	for _, want := range []string{
		"✓ sol0001  applied  batch 1",
		"hosts (sol0002…sol0101)  applied  batch 2",
		"3 hosts (sol0500, sol0501, sol0502)  unreachable: connection refused",
		"Failed and unreachable, by reason:\n  connection refused (3): sol0500, sol0501, sol0502\n",
		"Apply: 997 applied, 0 unchanged, 3 unreachable.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "batch 3/4: 499 hosts, ") || !strings.Contains(r.stderr, "batch 4/4: 397 hosts, ") {
		t.Errorf("stderr lacks a line per batch:\n%s", r.stderr)
	}
	t.Logf("%d lines:\n%s", lines, r)
}
