// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb in
// a temporary directory, run as the postgres user, listening only on a unix
// socket in that directory (no TCP), stopped with pg_ctl -m immediate and
// removed at the end. Tests skip without PostgreSQL unless
// FLEETTUNE_E2E_REQUIRED is set, when they fail instead.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinDir is where Debian's postgresql package puts initdb and pg_ctl.
var BinDir = "/usr/lib/postgresql/15/bin"

// Cluster is one running test cluster.
type Cluster struct {
	// Dir holds the data directory, the log and the socket.
	Dir  string
	log  string
	opts string // the server options Restart starts it with again
}

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// Shared is the test binary's one cluster, started on first use; call
// StopShared from TestMain after m.Run. It skips (or, with
// FLEETTUNE_E2E_REQUIRED set, fails) tb when PostgreSQL is not available.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		if os.Getenv("FLEETTUNE_E2E_REQUIRED") != "" {
			tb.Fatalf("PostgreSQL test cluster: %v", sharedErr)
		}
		tb.Skipf("PostgreSQL test cluster: %v", sharedErr)
	}
	return shared
}

// StopShared stops the shared cluster, if it was started.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// Available says why no cluster can be started here, or nil.
func Available() error {
	if _, err := os.Stat(filepath.Join(BinDir, "initdb")); err != nil {
		return fmt.Errorf("no PostgreSQL server binaries in %s (apt-get install postgresql): %w", BinDir, err)
	}
	if os.Getuid() != 0 {
		return errors.New("not root: the cluster runs as the postgres user via runuser")
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return fmt.Errorf("no postgres user: %w", err)
	}
	return nil
}

// Options are a cluster's extras.
type Options struct {
	// TLS listens on 127.0.0.1:Port and 127.0.0.2:Port too, with ssl on, serving CertPEM and
	// KeyPEM (the socket stays).
	TLS             bool
	Port            int
	CertPEM, KeyPEM []byte
}

// Start initializes and starts a new cluster.
func Start(opt ...Options) (*Cluster, error) {
	var o Options
	if len(opt) > 0 {
		o = opt[0]
	}
	if err := Available(); err != nil {
		return nil, err
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	SweepStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, log: filepath.Join(dir, "log")}
	// Who started it: a test binary that died (a panic skips TestMain's
	// StopShared) leaves its cluster to the next Start to sweep.
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		c.Stop()
		return nil, err
	}
	fail := func(err error) (*Cluster, error) {
		c.Stop()
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.asPostgres(ctx, "initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		return fail(err)
	}
	opts := fmt.Sprintf("-c listen_addresses='' -k %s -c synchronous_commit=on -c fsync=on", dir)
	if o.TLS {
		cert, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		for _, f := range []struct {
			path string
			data []byte
		}{{cert, o.CertPEM}, {key, o.KeyPEM}} {
			if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
				return fail(err)
			}
			if err := os.Chown(f.path, uid, gid); err != nil {
				return fail(err)
			}
		}
		opts = fmt.Sprintf("-c listen_addresses=127.0.0.1,127.0.0.2 -c port=%d -k %s -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s", o.Port, dir, cert, key)
		c.opts = opts
	}
	if c.opts == "" {
		c.opts = fmt.Sprintf("-c listen_addresses='' -k %s", dir)
	}
	if err := c.asPostgres(ctx, "pg_ctl", "-D", c.data(), "-o", opts, "-l", c.log, "-w", "-t", "60", "start"); err != nil {
		logb, _ := os.ReadFile(c.log)
		return fail(fmt.Errorf("%w\nserver log:\n%s", err, logb))
	}
	return c, nil
}

const (
	dirPrefix = "fleettune-pg-"
	ownerFile = "owner.pid"
)

// SweepStale stops and removes clusters this package started for a process
// that is gone. It touches only directories it made (named fleettune-pg-*
// in the temp dir, holding its owner file).
func SweepStale() {
	owners, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*", ownerFile))
	for _, f := range owners {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // alive, or not ours to judge
		}
		dir := filepath.Dir(f)
		(&Cluster{Dir: dir, log: filepath.Join(dir, "log")}).Stop()
	}
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) asPostgres(ctx context.Context, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", filepath.Join(BinDir, prog)}, args...)...)
	cmd.Dir = c.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", prog, args, err, out.Bytes())
	}
	return nil
}

// DSN is the address of database db, over the unix socket.
func (c *Cluster) DSN(db string) string {
	return "postgres://postgres@/" + db + "?host=" + c.Dir
}

// NewDB creates an empty database for one test, dropped at its end, and
// returns its DSN.
func (c *Cluster) NewDB(tb testing.TB) string {
	tb.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.asPostgres(ctx, "createdb", "-h", c.Dir, "-U", "postgres", name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.asPostgres(ctx, "dropdb", "-h", c.Dir, "-U", "postgres", "--force", name)
	})
	return c.DSN(name)
}

// Psql runs one SQL command in database db as the superuser.
func (c *Cluster) Psql(db, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", "/usr/bin/psql", "-h", c.Dir, "-U", "postgres", "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql)
	cmd.Dir = c.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("psql %q: %w: %s", sql, err, out)
	}
	return string(bytes.TrimSpace(out)), nil
}

// Stop stops the cluster at once (as a crash would) and removes it.
func (c *Cluster) Stop() {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = c.asPostgres(ctx, "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
		cancel()
	}
	os.RemoveAll(c.Dir)
}

// Restart stops the server at once and starts it again, as after a crash.
func (c *Cluster) Restart() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.asPostgres(ctx, "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop"); err != nil {
		return err
	}
	return c.asPostgres(ctx, "pg_ctl", "-D", c.data(), "-o", c.opts, "-l", c.log, "-w", "-t", "60", "start")
}
