package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

// A damaged journal is the operator's to repair, and fleettune says where:
// status exits 1 naming the file and line; rollback --last refuses to pass
// over a newer run whose header is damaged and names it.
func TestDamagedJournal(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	pb := writePlaybook(t, hygiene)
	if r := run(t, "apply", "-i", f.Inventory, "-p", pb, "--watch", "0s", "--yes"); r.code != 0 {
		t.Fatalf("first apply: exit %d\n%s", r.code, r.stderr)
	}
	wider := writePlaybook(t, strings.Replace(hygiene, "20000-60999", "15000-60999", 1))
	r := run(t, "apply", "-i", f.Inventory, "-p", wider, "--watch", "0s", "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("second apply: exit %d\n%s", r.code, r.stderr)
	}
	newest := filepath.Join(stateDir(t), "runs", decodeResult(t, r).RunID+".jsonl")
	data, err := os.ReadFile(newest)
	must(t, err)
	// A damaged line in the middle: status names file and line.
	lines := bytes.Split(data, []byte("\n"))
	lines[2] = []byte(`{"type":"command","host":`)
	must(t, os.WriteFile(newest, bytes.Join(lines, []byte("\n")), 0o600))
	r = run(t, "status")
	if r.code != 1 || !strings.Contains(r.stderr, newest+":3:") || !strings.Contains(r.stdout, "unreadable") {
		t.Errorf("status with a damaged line: exit %d, want 1 naming %s:3\nstdout:\n%s\nstderr:\n%s", r.code, newest, r.stdout, r.stderr)
	}
	// A damaged header: rollback --last must not take the first apply.
	lines = bytes.Split(data, []byte("\n"))
	lines[0] = lines[0][7:]
	must(t, os.WriteFile(newest, bytes.Join(lines, []byte("\n")), 0o600))
	r = run(t, "rollback", "--last", "--yes")
	id := strings.TrimSuffix(filepath.Base(newest), ".jsonl")
	if r.code != 1 || !strings.Contains(r.stderr, "run "+id) || !strings.Contains(r.stderr, "damaged header") {
		t.Errorf("rollback --last over a damaged newest header: exit %d, want 1 naming run %s\n%s%s", r.code, id, r.stdout, r.stderr)
	}
	if got := readState(t, f.Hosts[0]).Range; got != "15000-60999" {
		t.Errorf("the host was changed by the refused rollback: %s", got)
	}
}
