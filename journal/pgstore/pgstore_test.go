package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/pgtest"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/journal/journaltest"
	"github.com/fleettune/fleettune/journal/pgstore"
)

const (
	helperEnv = "FLEETTUNE_PGSTORE_TEST_HELPER"
	helperDSN = "FLEETTUNE_PGSTORE_TEST_DSN"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "lock" {
		os.Exit(helperLock())
	}
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// helperLock locks hosts a and b in run R1, says so, and waits to be killed.
func helperLock() int {
	st, err := pgstore.OpenStore(context.Background(), os.Getenv(helperDSN), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := st.Lock("20261122T171500Z-0001", journal.KindApply)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if refused, err := l.Hosts(context.Background(), "20261122T171500Z-0001", []string{"a", "b"}); err != nil || len(refused) > 0 {
		fmt.Fprintln(os.Stderr, err, refused)
		return 1
	}
	fmt.Println("locked")
	time.Sleep(time.Hour)
	return 0
}

// newDB is an initialized, empty database.
func newDB(t testing.TB) (*pgtest.Cluster, string) {
	t.Helper()
	c := pgtest.Shared(t)
	dsn := c.NewDB(t)
	if _, _, err := pgstore.Init(context.Background(), dsn, nil); err != nil {
		t.Fatal(err)
	}
	return c, dsn
}

func open(t testing.TB, dsn string) *pgstore.Backend {
	t.Helper()
	b, err := pgstore.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dbName(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

var dsns = map[journal.Backend]string{}

func suite() journaltest.Suite {
	var cluster *pgtest.Cluster
	return journaltest.Suite{
		New: func(t testing.TB) journal.Backend {
			c, dsn := newDB(t)
			cluster = c
			b := open(t, dsn)
			dsns[b] = dsn
			return b
		},
		Reopen: func(t testing.TB, b journal.Backend) journal.Backend {
			return open(t, dsns[b])
		},
		// The server ends the appender's session, as a database restart or
		// a network cut would.
		Break: func(t testing.TB, a journal.Appender) {
			if _, err := cluster.Psql("postgres", fmt.Sprintf("SELECT pg_terminate_backend(%d)", pgstore.SessionPID(a))); err != nil {
				t.Fatal(err)
			}
		},
		HostLocks: true,
	}
}

func TestSuite(t *testing.T) { suite().RunTests(t) }

func BenchmarkPostgres(b *testing.B) { suite().RunBenchmarks(b) }

func TestOpenNeedsInitAndRefusesNewerSchema(t *testing.T) {
	c := pgtest.Shared(t)
	dsn := c.NewDB(t)
	ctx := context.Background()
	_, err := pgstore.Open(ctx, dsn, nil)
	if !errors.Is(err, pgstore.ErrNoSchema) || !strings.Contains(err.Error(), "fleettune state init") {
		t.Fatalf("Open before init = %v, want ErrNoSchema saying to run state init", err)
	}
	from, to, err := pgstore.Init(ctx, dsn, nil)
	if err != nil || from != 0 || to != pgstore.SchemaVersion {
		t.Fatalf("Init = %d, %d, %v", from, to, err)
	}
	// Twice is harmless.
	if from, to, err := pgstore.Init(ctx, dsn, nil); err != nil || from != to || to != pgstore.SchemaVersion {
		t.Fatalf("second Init = %d, %d, %v", from, to, err)
	}
	b := open(t, dsn)
	b.Close()
	db := dbName(dsn)
	if _, err := c.Psql(db, fmt.Sprintf("INSERT INTO fleettune_schema (version) VALUES (%d)", pgstore.SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	_, err = pgstore.Open(ctx, dsn, nil)
	if !errors.Is(err, pgstore.ErrNewerSchema) || !strings.Contains(err.Error(), "upgrade fleettune") {
		t.Errorf("Open of a newer schema = %v", err)
	}
	if _, _, err := pgstore.Init(ctx, dsn, nil); !errors.Is(err, pgstore.ErrNewerSchema) {
		t.Errorf("Init of a newer schema = %v", err)
	}
}

// Every commit is synchronous, whatever the database's default says.
func TestSynchronousCommitForcedOn(t *testing.T) {
	c, dsn := newDB(t)
	db := dbName(dsn)
	if _, err := c.Psql(db, "ALTER DATABASE "+db+" SET synchronous_commit = off"); err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.OpenStore(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := st.Create(journal.Header{Kind: journal.KindApply})
	if err != nil {
		t.Fatal(err)
	}
	// The session the records are committed on has it on.
	out, err := c.Psql(db, "SELECT setting FROM pg_settings WHERE name = 'synchronous_commit'")
	if err != nil || out != "off" {
		t.Fatalf("the database default is %q (%v), want off for this test", out, err)
	}
	got, err := pgstore.Setting(st.Backend().(*pgstore.Backend), "synchronous_commit")
	if err != nil || got != "on" {
		t.Errorf("synchronous_commit on the journal's session = %q, %v; want on", got, err)
	}
	w.Close()
}

func TestPasswordNeverShown(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	ctx := context.Background()
	// In the URL: refused, without repeating it.
	_, err := pgstore.Open(ctx, "postgres://ops:"+secret+"@/fleettune?host=/nonexistent", nil)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "holds a password") {
		t.Errorf("Open with a password in the URL = %v", err)
	}
	_, err = pgstore.Open(ctx, "postgres://ops@/fleettune?host=/nonexistent&password="+secret, nil)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "holds a password") {
		t.Errorf("Open with password= in the URL = %v", err)
	}
	_, err = pgstore.Open(ctx, "postgres://ops:"+secret+"@db.invalid:bad/fleettune", nil)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Open of an unparsable URL with a password = %v", err)
	}
	// From password_env or PGPASSWORD: used, never shown, even when the
	// database cannot be reached.
	env := func(n string) string {
		if n == "FLEETTUNE_DB_PW" {
			return secret
		}
		return ""
	}
	_, err = pgstore.Open(ctx, "postgres://ops@/fleettune?host=/nonexistent/"+secret+"&password_env=FLEETTUNE_DB_PW", env)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("unreachable database, password from password_env: %v", err)
	}
	t.Setenv("PGPASSWORD", secret)
	_, err = pgstore.Open(ctx, "postgres://ops@/"+secret+"?host=/nonexistent", nil)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("unreachable database, password from PGPASSWORD: %v", err)
	}
	_, err = pgstore.Open(ctx, "postgres://ops@/fleettune?host=/nonexistent&password_env=UNSET_VAR", env)
	if err == nil || !strings.Contains(err.Error(), "UNSET_VAR") {
		t.Errorf("password_env naming an unset variable = %v", err)
	}
}

// A fleettune killed with -9 loses its host locks when the server sees the
// session end; no one has to guess that it died.
func TestKilledHolderReleasesHostLocks(t *testing.T) {
	_, dsn := newDB(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=lock", helperDSN+"="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("helper said %q, %v", buf, err)
	}
	st := journal.New(open(t, dsn))
	l, err := st.Lock("20261122T171600Z-0002", journal.KindApply)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	refused, err := l.Hosts(context.Background(), "20261122T171600Z-0002", []string{"b", "c"})
	if err != nil || refused["b"] == nil || refused["c"] != nil {
		t.Fatalf("while the helper runs: refused %v, %v", refused, err)
	}
	if msg := refused["b"].Error(); !strings.Contains(msg, "run 20261122T171500Z-0001") || !strings.Contains(msg, fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Errorf("refusal %q does not name the run and pid holding b", msg)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The server notices the closed socket at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		refused, err = l.Hosts(context.Background(), "20261122T171600Z-0002", []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		if len(refused) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after kill -9 the locks are still held: %v", refused)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A lost session fails every later write, even after the database is back:
// the locks went with the session.
func TestLostSessionStaysLost(t *testing.T) {
	c, dsn := newDB(t)
	st := journal.New(open(t, dsn))
	w, err := st.Create(journal.Header{Kind: journal.KindApply})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(journal.EndRecord{Status: journal.EndDone}); err == nil {
		t.Fatal("Append after a database restart succeeded")
	}
	if _, err := st.Runs(); err == nil || !strings.Contains(err.Error(), "lost") {
		t.Errorf("Runs on the lost session = %v, want it to say the session was lost", err)
	}
	// A new session sees the run, unfinished.
	r, err := journal.New(open(t, dsn)).Load(w.ID())
	if err != nil || r.Finished() {
		t.Errorf("after restart: %v, finished=%v", err, r != nil && r.Finished())
	}
}

// A session lost while hosts are held (nothing is being written: a batch
// is watched) is noticed by the lock's heartbeat, which closes Lost.
func TestLostSessionClosesLost(t *testing.T) {
	c, dsn := newDB(t)
	b := open(t, dsn)
	pgstore.SetHeartbeat(b, 100*time.Millisecond)
	st := journal.New(b)
	l, err := st.Lock("20261122T171500Z-0001", journal.KindApply)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if refused, err := l.Hosts(context.Background(), "20261122T171500Z-0001", []string{"a"}); err != nil || len(refused) > 0 {
		t.Fatal(refused, err)
	}
	select {
	case <-l.Lost():
		t.Fatal("Lost closed while the session is alive")
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := c.Psql(dbName(dsn), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fleettune'"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("Lost not closed 10s after the session ended")
	}
}
