package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleettune/fleettune/journal"
)

// SessionPID is the server process of an appender's session, for the
// conformance suite's Break.
func SessionPID(a journal.Appender) uint32 {
	b := a.(*appender).b
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn.PgConn().PID()
}

// QueryBool runs a one-value query on b's session.
func QueryBool(b *Backend, sql string) (bool, error) {
	var v bool
	err := b.do(context.Background(), "query", func(c *pgx.Conn) error {
		return c.QueryRow(context.Background(), sql).Scan(&v)
	})
	return v, err
}

// SetHeartbeat sets how often b's locks check the session, for a test.
func SetHeartbeat(b *Backend, d time.Duration) { b.heartbeat = d }
