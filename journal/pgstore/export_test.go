package pgstore

import "github.com/fleettune/fleettune/journal"

// SessionPID is the server process of an appender's session, for the
// conformance suite's Break.
func SessionPID(a journal.Appender) uint32 {
	b := a.(*appender).b
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn.PgConn().PID()
}
