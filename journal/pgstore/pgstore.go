// Package pgstore is the journal's PostgreSQL backend: runs, records and
// per-host locks shared by a team, in a database every operator's
// fleettune reaches (--state postgres://…).
//
// One fleettune process holds one database session for its whole run:
// every record is committed on it (synchronous_commit on) before the call
// returns, and the run's host locks are session-level advisory locks on it,
// so a fleettune that dies, even by kill -9, loses its locks when the server
// sees its session end, and never by anyone guessing. Nothing reconnects
// behind the caller's back: a lost session fails every later write, which
// stops the rollout before the next host.
//
// The password never comes from the DSN: PGPASSWORD, ~/.pgpass, a service
// file (service=NAME), or password_env=NAME in the DSN, naming an
// environment variable that holds it.
package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/journal/internal/groupcommit"
)

// SchemaVersion is the newest schema this fleettune knows: one migration
// per version.
const SchemaVersion = 1

func init() {
	if len(migrations) != SchemaVersion {
		panic("pgstore: SchemaVersion and migrations disagree")
	}
}

// migrations[i] takes the schema from version i to i+1.
var migrations = []string{
	`CREATE TABLE fleettune_runs (
		id       text PRIMARY KEY,
		kind     text NOT NULL,
		started  timestamptz NOT NULL,
		username text NOT NULL,
		machine  text NOT NULL,
		pid      integer NOT NULL,
		created  timestamptz NOT NULL DEFAULT now()
	);
	CREATE TABLE fleettune_records (
		run_id text NOT NULL REFERENCES fleettune_runs (id),
		seq    integer NOT NULL,
		line   text NOT NULL,
		PRIMARY KEY (run_id, seq)
	);
	CREATE TABLE fleettune_host_locks (
		host        text PRIMARY KEY,
		lock_key    bigint NOT NULL,
		run_id      text NOT NULL,
		kind        text NOT NULL,
		username    text NOT NULL,
		machine     text NOT NULL,
		pid         integer NOT NULL,
		since       timestamptz NOT NULL,
		backend_pid integer NOT NULL
	);`,
}

// ErrNoSchema is what Open's error Is on a database without the schema.
var ErrNoSchema = errors.New("no fleettune schema")

// ErrNewerSchema is what Open's and Init's error Is on a database whose
// schema is newer than this fleettune's.
var ErrNewerSchema = errors.New("schema is newer than this fleettune")

// IsDSN reports whether s names a database rather than a directory.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// dsn is a parsed --state value.
type dsn struct {
	cfg      *pgx.ConnConfig
	where    string // for people: no password
	password string // to redact from errors
}

// parse reads a postgres:// URL. A password in it is refused (without
// repeating it): a DSN ends up in shell histories, process lists and CI
// logs. password_env=NAME is taken out and NAME read.
func parse(s string, getenv func(string) string) (*dsn, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if !IsDSN(s) {
		return nil, fmt.Errorf("state %q: expected a postgres:// or postgresql:// URL", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's error repeats the URL: say only what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("state: the postgres:// URL does not parse: %v", err)
	}
	if _, has := u.User.Password(); has {
		return nil, fmt.Errorf("state %s: the URL holds a password; fleettune never takes one there (it would show in shell history, process lists and logs): remove it and use PGPASSWORD, ~/.pgpass, a service file, or password_env=NAME", redacted(u))
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
		return nil, fmt.Errorf("state %s: the URL holds a password (password=…); fleettune never takes one there (it would show in shell history, process lists and logs): remove it and use PGPASSWORD, ~/.pgpass, a service file, or password_env=NAME", redacted(u))
	}
	var password string
	if name := q.Get("password_env"); name != "" {
		password = getenv(name)
		if password == "" {
			return nil, fmt.Errorf("state %s: password_env names %s, which is not set or empty", redacted(u), name)
		}
		q.Del("password_env")
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("state %s: %v", redacted(u), scrub(err.Error(), password))
	}
	if password != "" {
		cfg.Password = password
	}
	if cfg.Password != "" && password == "" {
		password = cfg.Password // from PGPASSWORD or a passfile: redact it too
	}
	// Every commit is flushed before it is acknowledged, whatever the
	// server's or the role's default: the "before" record must survive a
	// crash of the database host.
	cfg.RuntimeParams["synchronous_commit"] = "on"
	cfg.RuntimeParams["application_name"] = "fleettune"
	return &dsn{cfg: cfg, where: redacted(u), password: password}, nil
}

// redacted is u without any password, for people.
func redacted(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	// host=/run/postgresql reads better than host=%2Frun%2Fpostgresql.
	return strings.ReplaceAll(c.String(), "%2F", "/")
}

// scrub removes secret from s.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "xxxxx")
}

// redactError is an error whose text had a secret removed.
type redactError struct {
	msg string
	err error
}

func (e *redactError) Error() string { return e.msg }
func (e *redactError) Unwrap() error { return e.err }

// wrap is fmt.Errorf(format, d.where, err) (format has one %w), without
// the password should err's text hold it.
func (d *dsn) wrap(format string, err error) error {
	if err == nil {
		return nil
	}
	e := fmt.Errorf(format, d.where, err)
	if d.password != "" && strings.Contains(e.Error(), d.password) {
		return &redactError{msg: scrub(e.Error(), d.password), err: err}
	}
	return e
}

// Backend is a journal backend on one PostgreSQL session.
type Backend struct {
	d  *dsn
	mu sync.Mutex // one statement at a time on conn
	// conn is the process's one session: records and host locks.
	conn *pgx.Conn
	// lost is set once a statement failed for want of the session.
	lost error

	heartbeat time.Duration // see defaultHeartbeat

	group *groupcommit.Queue[*pendingCall] // appends, committed in groups
}

var _ journal.Backend = (*Backend)(nil)

func connect(ctx context.Context, s string, getenv func(string) string) (*dsn, *pgx.Conn, error) {
	d, err := parse(s, getenv)
	if err != nil {
		return nil, nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, d.cfg)
	if err != nil {
		return nil, nil, d.wrap("state %s: cannot reach the database: %w", err)
	}
	return d, conn, nil
}

// Open connects to the database named by s (a postgres:// URL) and checks
// its schema: none gives ErrNoSchema (run fleettune state init), a newer one
// ErrNewerSchema. getenv reads password_env (nil: os.Getenv).
func Open(ctx context.Context, s string, getenv func(string) string) (*Backend, error) {
	d, conn, err := connect(ctx, s, getenv)
	if err != nil {
		return nil, err
	}
	b := &Backend{d: d, conn: conn, heartbeat: defaultHeartbeat}
	b.group = groupcommit.New(b.insertBatch)
	if err := b.check(ctx); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return b, nil
}

// OpenStore is Open as a journal.Store.
func OpenStore(ctx context.Context, s string, getenv func(string) string) (*journal.Store, error) {
	b, err := Open(ctx, s, getenv)
	if err != nil {
		return nil, err
	}
	return journal.New(b), nil
}

func (b *Backend) check(ctx context.Context) error {
	v, err := schemaVersion(ctx, b.conn)
	if err != nil {
		return b.d.wrap("state %s: read the schema version: %w", err)
	}
	switch {
	case v == 0:
		return fmt.Errorf("state %s: %w: the database has no fleettune tables yet; create them with: fleettune state init --state '%s'", b.d.where, ErrNoSchema, b.d.where)
	case v > SchemaVersion:
		return fmt.Errorf("state %s: %w: the database is at schema version %d, this fleettune knows up to %d; upgrade fleettune", b.d.where, ErrNewerSchema, v, SchemaVersion)
	case v < SchemaVersion:
		return fmt.Errorf("state %s: the database is at schema version %d, this fleettune needs %d; migrate it with: fleettune state init --state '%s'", b.d.where, v, SchemaVersion, b.d.where)
	}
	var sc string
	if err := b.conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sc); err != nil {
		return b.d.wrap("state %s: %w", err)
	}
	if sc != "on" && sc != "remote_apply" && sc != "remote_write" {
		return fmt.Errorf("state %s: synchronous_commit is %q on this session; fleettune needs it on, so that a record is on disk before a host is touched", b.d.where, sc)
	}
	return nil
}

func schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass('fleettune_schema') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM fleettune_schema").Scan(&v)
	return v, err
}

// Init creates or upgrades the schema of the database named by s, in one
// transaction, and returns the versions before and after. A database at a
// newer schema is refused.
func Init(ctx context.Context, s string, getenv func(string) string) (from, to int, err error) {
	d, conn, err := connect(ctx, s, getenv)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, 0, d.wrap("state %s: %w", err)
	}
	defer tx.Rollback(context.Background())
	// Two inits at once take turns.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("fleettune schema")); err != nil {
		return 0, 0, d.wrap("state %s: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS fleettune_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"); err != nil {
		return 0, 0, d.wrap("state %s: create the schema table: %w", err)
	}
	from, err = schemaVersion(ctx, tx)
	if err != nil {
		return 0, 0, d.wrap("state %s: %w", err)
	}
	if from > SchemaVersion {
		return from, from, fmt.Errorf("state %s: %w: the database is at schema version %d, this fleettune knows up to %d; upgrade fleettune", d.where, ErrNewerSchema, from, SchemaVersion)
	}
	for v := from; v < SchemaVersion; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return from, v, d.wrap("state %s: migrate the schema to version "+fmt.Sprint(v+1)+": %w", err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO fleettune_schema (version) VALUES ($1)", v+1); err != nil {
			return from, v, d.wrap("state %s: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return from, from, d.wrap("state %s: commit the schema: %w", err)
	}
	return from, SchemaVersion, nil
}

// lockKey is the 64-bit advisory lock key of a name (a host's).
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("fleettune host lock\x00"))
	h.Write([]byte(name))
	return int64(h.Sum64() & (1<<63 - 1))
}

// Where is the database, without a password.
func (b *Backend) Where() string { return b.d.where }

// RunWhere names a run in the database.
func (b *Backend) RunWhere(id string) string { return b.d.where + " run " + id }

// Close ends the session: every lock it holds is released by the server.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.conn.Close(ctx)
	b.conn = nil
	return err
}

// do runs fn on the session, one at a time. After the session is lost every
// call fails: a session that came back would hold none of the locks.
func (b *Backend) do(ctx context.Context, what string, fn func(*pgx.Conn) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return fmt.Errorf("state %s: %s: the backend is closed", b.d.where, what)
	}
	if b.lost != nil {
		return fmt.Errorf("state %s: %s: the database session was lost earlier (%v); its host locks are gone with it", b.d.where, what, b.lost)
	}
	err := fn(b.conn)
	if err != nil && b.conn.IsClosed() {
		b.lost = err
	}
	if err != nil {
		return b.d.wrap("state %s: "+what+": %w", err)
	}
	return nil
}

const appendTimeout = 15 * time.Second

// Create inserts the run and its header in one transaction.
func (b *Backend) Create(ctx context.Context, info journal.RunInfo, header []byte) (journal.Appender, error) {
	err := b.do(ctx, "create run "+info.ID, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO fleettune_runs (id, kind, started, username, machine, pid) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
				info.ID, info.Kind, info.Started, info.User, info.OperatorHost, info.PID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("run %s already exists; refusing to overwrite it: %w", info.ID, journal.ErrRunExists)
			}
			_, err = tx.Exec(ctx, `INSERT INTO fleettune_records (run_id, seq, line) VALUES ($1, 1, $2)`, info.ID, string(header))
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return &appender{b: b, id: info.ID}, nil
}

// appender appends to one run on the backend's session.
type appender struct {
	b      *Backend
	id     string
	mu     sync.Mutex
	broken error
	closed bool
}

func (a *appender) Append(line []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return fmt.Errorf("journal %s: writer is closed", a.b.RunWhere(a.id))
	}
	if a.broken != nil {
		return fmt.Errorf("unusable after an earlier failure: %w", a.broken)
	}
	// Not under a.mu: appends from several forks commit together.
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	err := a.b.insert(ctx, a.id, splitLines(line)...)
	cancel()
	a.mu.Lock()
	if err != nil && a.broken == nil {
		a.broken = err
	}
	return err
}

func (a *appender) Close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	return nil
}

// splitLines cuts an Append's lines apart, one record a row.
func splitLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, string(data))
			break
		}
		lines = append(lines, string(data[:i+1]))
		data = data[i+1:]
	}
	return lines
}

// insert appends lines as the run's next records, durable when it
// returns. Appends made at the same time (an apply's forks) are committed
// together (journal/internal/groupcommit): while one transaction commits,
// the calls that arrive queue, and the first of them then commits all
// their lines in one statement; each call returns once the transaction
// holding its lines committed (synchronously), or with its error. One
// call's lines are queued as one, so they share a transaction and stay in
// order with nothing between them.
func (b *Backend) insert(ctx context.Context, id string, lines ...string) error {
	if len(lines) == 0 {
		return nil
	}
	c := &pendingCall{ctx: ctx, id: id, lines: lines}
	if err := b.group.Do(c); err != nil {
		return err
	}
	return c.err
}

// pendingCall is one insert waiting for its group's transaction.
type pendingCall struct {
	ctx   context.Context
	id    string
	lines []string
	err   error // this call's own error (an unknown run)
}

// insertBatch commits a group's lines in one statement (one round trip,
// one transaction), each numbered after its run's last record, in order,
// under the context of the call that leads the group. Two writers of one
// run (the apply and a status recording a reboot) take numbers in turn: a
// clash retries.
func (b *Backend) insertBatch(batch []*pendingCall) error {
	ctx := batch[0].ctx
	var runs, lines []string
	for _, q := range batch {
		for _, l := range q.lines {
			runs, lines = append(runs, q.id), append(lines, l)
		}
	}
	return b.do(ctx, "append to run "+batch[0].id, func(c *pgx.Conn) error {
		for try := 0; ; try++ {
			tag, err := c.Exec(ctx, `INSERT INTO fleettune_records (run_id, seq, line)
				SELECT u.r, (SELECT coalesce(max(seq), 0) FROM fleettune_records WHERE run_id = u.r) + row_number() OVER (PARTITION BY u.r ORDER BY u.n), u.l
				FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(r, l, n)
				WHERE EXISTS (SELECT 1 FROM fleettune_runs WHERE id = u.r)`, runs, lines)
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" && try < 10 {
				continue // another writer took that number
			}
			if err != nil {
				return err
			}
			if tag.RowsAffected() != int64(len(lines)) {
				// Only a line for a run that does not exist is left out.
				for _, q := range batch {
					var ok bool
					if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fleettune_runs WHERE id = $1)`, q.id).Scan(&ok); err != nil {
						return err
					}
					if !ok {
						q.err = journal.UnknownRun(q.id, b.d.where)
					}
				}
			}
			return nil
		}
	})
}

// AppendTo appends one line to an existing run.
func (b *Backend) AppendTo(ctx context.Context, id string, line []byte) error {
	err := b.insert(ctx, id, string(line))
	if errors.Is(err, journal.ErrUnknownRun) {
		return journal.UnknownRun(id, b.d.where)
	}
	return err
}

// Read returns a run's lines in order.
func (b *Backend) Read(ctx context.Context, id string) ([]byte, error) {
	var out []byte
	n := 0
	err := b.do(ctx, "read run "+id, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT line FROM fleettune_records WHERE run_id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			n++
			out = append(out, line...)
			if !strings.HasSuffix(line, "\n") {
				out = append(out, '\n')
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, journal.UnknownRun(id, b.d.where)
	}
	return out, nil
}

// List returns every run id.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	var ids []string
	err := b.do(ctx, "list runs", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT id FROM fleettune_runs ORDER BY started, id`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return ids, err
}

// Setting is a run-time setting of b's session (SHOW name).
func Setting(b *Backend, name string) (string, error) {
	var v string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.do(ctx, "show "+name, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v)
	})
	return v, err
}
