package pgstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleettune/fleettune/journal"
)

// hostLock is a run's hold on the database: nothing at first, then the
// hosts Hosts locked, as session-level advisory locks on the backend's one
// session, with a row each in fleettune_host_locks saying who holds it. The
// row only describes: the advisory lock decides, and a row whose holder
// session is gone is ignored (liveness is read from pg_locks).
type hostLock struct {
	b    *Backend
	info journal.LockInfo
	mu   sync.Mutex
	held map[string]bool
	done bool
	err  error

	// lost is closed by the heartbeat when the session is gone while
	// hosts are held; quit ends the heartbeat.
	lost, quit chan struct{}
	beating    bool
}

// defaultHeartbeat is how often a lock holding hosts checks its session, so
// that a session lost while a batch is watched (nothing is written then)
// stops the run within this long rather than at its next record.
const defaultHeartbeat = 5 * time.Second

// beat pings the session until Unlock; a failed ping closes lost.
func (l *hostLock) beat() {
	every := l.b.heartbeat
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.b.do(ctx, "check the session", func(c *pgx.Conn) error { return c.Ping(ctx) })
		cancel()
		if err != nil {
			close(l.lost)
			return
		}
	}
}

func (l *hostLock) Lost() <-chan struct{} { return l.lost }

// Lock starts a run's hold. It locks nothing: two runs may work on disjoint
// hosts at once.
func (b *Backend) Lock(ctx context.Context, info journal.LockInfo) (journal.Lock, error) {
	if err := b.do(ctx, "lock", func(c *pgx.Conn) error { return c.Ping(ctx) }); err != nil {
		return nil, err
	}
	return &hostLock{b: b, info: info, held: map[string]bool{}, lost: make(chan struct{}), quit: make(chan struct{})}, nil
}

// live is the SQL condition "the row's holder session holds its lock now".
const live = `EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1
	AND k.pid = l.backend_pid AND ((k.classid::bigint << 32) | k.objid::bigint) = l.lock_key)`

func (l *hostLock) Hosts(ctx context.Context, run string, hosts []string) (map[string]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil, fmt.Errorf("state %s: lock hosts: the lock was released", l.b.d.where)
	}
	var want []string
	var keys []int64
	for _, h := range hosts {
		if !l.held[h] {
			want = append(want, h)
			keys = append(keys, lockKey(h))
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	refused := map[string]error{}
	info := l.info
	if run != "" {
		info.Run = run
	}
	err := l.b.do(ctx, "lock hosts", func(c *pgx.Conn) error {
		// One statement takes every lock it can; one more records who
		// holds them. A lock taken and not recorded (the session died in
		// between) dies with the session.
		rows, err := c.Query(ctx, `SELECT u.h, pg_try_advisory_lock(u.k) FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS u(h, k, n) ORDER BY u.n`, want, keys)
		if err != nil {
			return err
		}
		var got []string
		var gotKeys []int64
		var busy []string
		for i := 0; rows.Next(); i++ {
			var h string
			var ok bool
			if err := rows.Scan(&h, &ok); err != nil {
				rows.Close()
				return err
			}
			if ok {
				got, gotKeys = append(got, h), append(gotKeys, keys[i])
			} else {
				busy = append(busy, h)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, h := range got {
			l.held[h] = true
		}
		if len(got) > 0 && !l.beating {
			l.beating = true
			go l.beat()
		}
		if len(got) > 0 {
			_, err = c.Exec(ctx, `INSERT INTO fleettune_host_locks AS l (host, lock_key, run_id, kind, username, machine, pid, since, backend_pid)
				SELECT u.h, u.k, $3, $4, $5, $6, $7, now(), pg_backend_pid() FROM unnest($1::text[], $2::bigint[]) AS u(h, k)
				ON CONFLICT (host) DO UPDATE SET lock_key = EXCLUDED.lock_key, run_id = EXCLUDED.run_id, kind = EXCLUDED.kind,
					username = EXCLUDED.username, machine = EXCLUDED.machine, pid = EXCLUDED.pid, since = EXCLUDED.since,
					backend_pid = EXCLUDED.backend_pid`,
				got, gotKeys, info.Run, info.Kind, info.User, info.Host, info.PID)
			if err != nil {
				return err
			}
		}
		for _, h := range busy {
			refused[h] = &journal.HostLockedError{Host: h}
		}
		if len(busy) == 0 {
			return nil
		}
		rows, err = c.Query(ctx, `SELECT l.host, l.run_id, l.kind, l.username, l.machine, l.pid, l.since FROM fleettune_host_locks l
			WHERE l.host = ANY($1) AND `+live, busy)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h journal.LockInfo
			var host string
			if err := rows.Scan(&host, &h.Run, &h.Kind, &h.User, &h.Host, &h.PID, &h.Started); err != nil {
				return err
			}
			refused[host] = &journal.HostLockedError{Host: host, Holder: &h}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return refused, nil
}

func (l *hostLock) Running(ctx context.Context, run string) bool {
	var running bool
	err := l.b.do(ctx, "lock state", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fleettune_host_locks l WHERE l.run_id = $1 AND l.backend_pid <> pg_backend_pid() AND `+live+`)`, run).Scan(&running)
	})
	// Unknown counts as running: better "running" than to invite a
	// rollback of a run that is still going.
	return err != nil || running
}

// Unlock releases the run's host locks and removes their rows. When the
// session is gone there is nothing to release: the server did it.
func (l *hostLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.err
	}
	l.done = true
	close(l.quit)
	if len(l.held) == 0 {
		return nil
	}
	var hosts []string
	for h := range l.held {
		hosts = append(hosts, h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.err = l.b.do(ctx, "unlock hosts", func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, `DELETE FROM fleettune_host_locks WHERE host = ANY($1) AND backend_pid = pg_backend_pid()`, hosts); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS u(k)`, keysOf(hosts))
		return err
	})
	return l.err
}

func keysOf(hosts []string) []int64 {
	keys := make([]int64, len(hosts))
	for i, h := range hosts {
		keys[i] = lockKey(h)
	}
	return keys
}
