package e2e

import (
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/netnsfleet"
	"github.com/fleettune/fleettune/internal/pgtest"
)

// teamDB gives the test a fresh database with the schema, through the
// binary's own state init, and points every run of the test at it.
func teamDB(t *testing.T) string {
	t.Helper()
	dsn := pgtest.Shared(t).NewDB(t)
	setEnv(t, "FLEETTUNE_STATE", dsn)
	if r := run(t, "state", "init"); r.code != 0 || !strings.Contains(r.stdout, "schema at version 1 (was 0)") {
		t.Fatalf("state init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return dsn
}

// startWatching starts an apply with the test's environment and returns
// once it watches its batch: its hosts are changed and locked by then.
func startWatching(t *testing.T, args ...string) *exec.Cmd {
	cmd, _ := startWatchingErr(t, args...)
	return cmd
}

// startWatchingErr is startWatching, also returning stderr as it fills.
func startWatchingErr(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "FLEETTUNE_STATE_DIR="+stateDir(t), "NO_COLOR=1")
	if extra, ok := testEnv.Load(t.Name()); ok {
		cmd.Env = append(cmd.Env, extra.([]string)...)
	}
	w := &watchWriter{watching: make(chan bool, 1)}
	cmd.Stderr = w
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case <-w.watching:
	case <-time.After(2 * time.Minute):
		t.Fatal("apply never reached the watch window")
	}
	return cmd, &w.buf
}

// watchWriter keeps what is written and says when "watching" first shows.
type watchWriter struct {
	buf      syncBuffer
	watching chan bool
	said     bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.said && strings.Contains(w.buf.String(), "watching") {
		w.said = true
		w.watching <- true
	}
	return len(p), nil
}

// Two operators share a database: one applies to node01 and node02 and is
// watching its batch; a second apply to node02 and node03 (with another
// range) is refused for node02 only, saying who holds it, and changes node03; a third, disjoint,
// changes node04 at the same time. The first is killed with -9: the
// database releases its locks, and a rollback from another process
// restores both of its hosts exactly.
func TestTeamsTwoOperatorsShareADatabase(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 4})
	teamDB(t)
	before := fleetState(t, f)
	pb := writePlaybook(t, hygiene+"rollout: {batch: 2}\n")
	first := startWatching(t, "apply", "-i", f.Inventory, "-p", pb, "--limit", "node01,node02", "--watch", "10m", "--yes", "--log-level", "info")

	// The second operator wants another range, so node02 needs a change
	// from it too.
	wider := writePlaybook(t, strings.Replace(hygiene, "20000-60999", "15000-60999", 1))
	r := run(t, "apply", "-i", f.Inventory, "-p", wider, "--limit", "node02,node03", "--watch", "0s", "--yes", "--format", "json")
	d := decodeResult(t, r)
	if r.code != 1 {
		t.Errorf("overlapping apply: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if s := d.status("node02"); !strings.HasPrefix(s, "failed ") || !strings.Contains(s, "node02 is locked by another fleettune (run ") ||
		!strings.Contains(s, ", apply, started ") || !strings.Contains(s, "pid "+strconv.Itoa(first.Process.Pid)) {
		t.Errorf("node02 in the overlapping apply: %q, want failed naming the run, since when and the pid holding it", s)
	}
	if s := d.status("node03"); s != "applied " {
		t.Errorf("node03 in the overlapping apply: %q, want applied", s)
	}
	r = run(t, "apply", "-i", f.Inventory, "-p", pb, "--limit", "node04", "--watch", "0s", "--yes", "--format", "json")
	if d := decodeResult(t, r); r.code != 0 || d.status("node04") != "applied " {
		t.Errorf("disjoint apply: exit %d, node04 %q\n%s", r.code, d.status("node04"), r.stderr)
	}
	if got := readState(t, f.Host("node02")).Range; got != "20000-60999" {
		t.Fatalf("node02 is %s: the first apply should have changed it", got)
	}

	st := run(t, "status")
	if st.code != 0 || strings.Count(st.stdout, " running ") != 1 || strings.Count(st.stdout, " done ") != 1 ||
		!strings.Contains(st.stdout, "1 applied, 1 failed") {
		t.Errorf("status while the first apply watches: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}

	must(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	r = run(t, "status")
	if !strings.Contains(r.stdout, "interrupted") {
		t.Errorf("status after kill -9 does not show the run as interrupted:\n%s%s", r.stdout, r.stderr)
	}
	id := ""
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "interrupted") {
			id = strings.Fields(line)[0]
		}
	}
	r = run(t, "rollback", "--run", id, "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("rollback of the killed run %s: exit %d\n%s%s", id, r.code, r.stdout, r.stderr)
	}
	after := fleetState(t, f)
	for _, h := range []string{"node01", "node02"} {
		if after[h] != before[h] {
			t.Errorf("%s not restored:\nbefore %+v\nafter  %+v", h, before[h], after[h])
		}
	}
	for h, want := range map[string]string{"node03": "15000-60999", "node04": "20000-60999"} {
		if after[h].Range != want {
			t.Errorf("%s was changed by another run and must stay so: %+v", h, after[h])
		}
	}
}

// The database unreachable at start: apply refuses, and nothing changes.
func TestTeamsDatabaseUnreachableAtStart(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	before := fleetState(t, f)
	setEnv(t, "FLEETTUNE_STATE", "postgres://postgres@/fleettune?host="+t.TempDir())
	r := run(t, "apply", "-i", f.Inventory, "-p", writePlaybook(t, hygiene), "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the database") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("apply with the database unreachable: exit %d\n%s", r.code, r.stderr)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("a host changed: %+v", after)
	}
}

// state migrate moves a state dir's runs into the database; status there
// lists them and state export writes every record.
func TestTeamsMigrateAndExport(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	if r := run(t, "apply", "-i", f.Inventory, "-p", writePlaybook(t, hygiene), "--watch", "0s", "--yes"); r.code != 0 {
		t.Fatalf("apply into the state dir: exit %d\n%s", r.code, r.stderr)
	}
	dsn := teamDB(t)
	r := run(t, "state", "migrate", "--from", stateDir(t), "--to", dsn)
	if r.code != 0 || !strings.Contains(r.stdout, "1 runs copied, 0 already there, 0 not copied") {
		t.Fatalf("migrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "state", "migrate", "--from", stateDir(t), "--to", dsn); r.code != 0 || !strings.Contains(r.stdout, "0 runs copied, 1 already there") {
		t.Errorf("second migrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "state", "export")
	if r.code != 0 || strings.Count(r.stdout, `"type":"before"`) != 2 || !strings.HasPrefix(r.stdout, `{"run":"`) {
		t.Errorf("export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// rollback --last from the database restores the hosts the state
	// dir's run changed.
	if r := run(t, "rollback", "--last", "--yes"); r.code != 0 {
		t.Errorf("rollback --last from the database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The database goes away mid-apply (its session is ended by the server, as
// on a restart or a cut network) while a batch is watched: the lock's
// heartbeat notices, the watch ends, the rollout touches no further host, the
// records the database refused are kept on this machine, and the operator
// is told where.
func TestTeamsDatabaseLostMidApply(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	dsn := teamDB(t)
	before := fleetState(t, f)
	pb := writePlaybook(t, hygiene+"rollout: {batch: 1}\n")
	// A long watch: the lost session must end it, not the clock.
	cmd, stderr := startWatchingErr(t, "apply", "-i", f.Inventory, "-p", pb, "--watch", "10m", "--yes", "--log-level", "info")
	u, err := url.Parse(dsn)
	must(t, err)
	db := strings.TrimPrefix(u.Path, "/")
	out, err := pgtest.Shared(t).Psql(db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '"+db+"' AND application_name = 'fleettune'")
	if err != nil || out != "1" {
		t.Fatalf("ending the apply's session: %q, %v", out, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("apply after losing the database: %v, want exit status 1", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("apply did not end within a minute of losing the database (its watch is 10m)")
	}
	if got := readState(t, f.Host("node01")).Range; got != "20000-60999" {
		t.Errorf("node01 (the canary, applied before the loss) is %s", got)
	}
	if after := readState(t, f.Host("node02")); after != before["node02"] {
		t.Errorf("node02 was touched after the database went away: %+v", after)
	}
	e := stderr.String()
	if !strings.Contains(e, "the database session is lost, and this run's host locks with it; starting no further host") {
		t.Errorf("apply does not say it stopped for the lost session:\n%s", e)
	}
	if !strings.Contains(e, "kept on this machine") || !strings.Contains(e, stateDir(t)) {
		t.Errorf("apply does not say where the refused records are kept:\n%s", e)
	}
	// They are a journal of their own, read with --state-dir: the canary's
	// result again with what its batch's check measured (written after the
	// watch, which the loss ended) is the only host record among them.
	r := run(t, "--state-dir", stateDir(t), "status", "--format", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"state": "failed"`) || !strings.Contains(r.stdout, `"hosts": 1`) || strings.Contains(r.stdout, "node02") {
		t.Errorf("status of the kept records: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The database still has the run up to the loss: rollback from there
	// restores node01.
	if r := run(t, "rollback", "--last", "--yes"); r.code != 0 {
		t.Fatalf("rollback after the loss: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("not restored:\nbefore %+v\nafter  %+v", before, after)
	}
}
