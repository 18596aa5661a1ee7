package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/internal/pgtest"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/journal/pgstore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

func TestStateFlagsBadInput(t *testing.T) {
	f := newFleet(t, 1)
	const secret = "hunter2-XYZ"
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--state", "/var/lib/ft", "status"}, "", "--state: expected a postgres:// URL (for a directory, use --state-dir)"},
		{[]string{"status"}, "mysql://db/x", "FLEETTUNE_STATE: expected a postgres:// URL"},
		{[]string{"--state", "postgres://db1/ft", "--state-dir", t.TempDir(), "status"}, "", "--state and --state-dir both given"},
		{[]string{"--state", "postgres://ops:" + secret + "@/ft?host=/nonexistent", "status"}, "", "the URL holds a password"},
		{[]string{"status"}, "postgres://ops:" + secret + "@/ft?host=/nonexistent", "the URL holds a password"},
		{[]string{"state", "init"}, "", "state init is for a database"},
		{[]string{"state", "migrate", "--from", t.TempDir()}, "", "state migrate needs --from DIR and --to postgres://"},
		{[]string{"--state", "postgres://ops@/ft?host=/nonexistent", "status"}, "", "cannot reach the database"},
	} {
		f.env["FLEETTUNE_STATE"] = c.env
		r := f.run(c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr+r.stdout, secret) {
			t.Errorf("%v (FLEETTUNE_STATE=%q): %v\nwant exit 1 saying %q, without the password", c.args, c.env, r, c.want)
		}
	}
	// --state-dir on the command line beats FLEETTUNE_STATE.
	f.env["FLEETTUNE_STATE"] = "postgres://ops@/ft?host=/nonexistent"
	if r := f.run("--state-dir", f.stateDir, "status"); r.code != 0 || !strings.Contains(r.stdout, f.stateDir) {
		t.Errorf("--state-dir with FLEETTUNE_STATE set: %v", r)
	}
}

// Against a database: state init, an apply, status and export from it,
// and a host another fleettune holds refused with who holds it.
func TestStatePostgres(t *testing.T) {
	dsn := pgtest.Shared(t).NewDB(t)
	f := newFleet(t, 2)
	f.env["FLEETTUNE_STATE"] = dsn
	if r := f.run("status"); r.code != 1 || !strings.Contains(r.stderr, "fleettune state init") {
		t.Fatalf("status before state init: %v", r)
	}
	if r := f.run("state", "init"); r.code != 0 || r.stdout != "schema at version 1 (was 0)\n" {
		t.Fatalf("state init: %v", r)
	}
	if r := f.run("state", "init"); r.code != 0 || r.stdout != "schema already at version 1; nothing to do\n" {
		t.Fatalf("second state init: %v", r)
	}

	// Another fleettune holds sol11-01.
	other, err := pgstore.OpenStore(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lk, err := other.Lock("20261122T171500Z-0a0a", journal.KindApply)
	if err != nil {
		t.Fatal(err)
	}
	if refused, err := lk.Hosts(context.Background(), "20261122T171500Z-0a0a", []string{"sol11-01"}); err != nil || len(refused) > 0 {
		t.Fatal(refused, err)
	}
	r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--yes", "--format", "json")
	var out outcomeDoc
	oneJSON(t, r, &out)
	if r.code != 1 || out.status("sol10-01") != "applied" || out.status("sol11-01") != "failed" {
		t.Fatalf("apply with sol11-01 held elsewhere: %v", r)
	}
	if !strings.Contains(r.stdout, "sol11-01 is locked by another fleettune (run 20261122T171500Z-0a0a, apply, started ") {
		t.Errorf("the refusal does not say who holds sol11-01:\n%s", r.stdout)
	}
	lk.Unlock()

	r = f.run("status", "--format", "json")
	var st struct {
		StateDir string `json:"state_dir"`
		Runs     []struct {
			ID                         string `json:"run_id"`
			Kind, State, User, Machine string
		} `json:"runs"`
	}
	oneJSON(t, r, &st)
	host, _ := os.Hostname()
	if r.code != 0 || st.StateDir != dsn || len(st.Runs) != 1 || st.Runs[0].State != "failed" || st.Runs[0].Machine != host || st.Runs[0].User == "" {
		t.Errorf("status from the database: %v", r)
	}
	r = f.run("state", "export")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	var first struct {
		Run    string          `json:"run"`
		Record json.RawMessage `json:"record"`
	}
	if r.code != 0 || len(lines) < 4 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Run != st.Runs[0].ID || !strings.Contains(string(first.Record), `"type":"run"`) {
		t.Errorf("export: %v", r)
	}
	if r := f.run("rollback", "--last", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "sol10-01") {
		t.Errorf("rollback --last from the database: %v", r)
	}
}
