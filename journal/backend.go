package journal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Backend is where a Store keeps its runs: the state directory (Open) or a
// shared database (package journal/pgstore). A backend deals in runs and
// encoded records only, a run being its header line followed by its record
// lines, each one JSON object ending in a newline. What the records mean is
// the Store's business; a backend never parses them, so record types can
// change without touching any backend.
//
// The journaltest package holds the conformance suite every backend passes.
type Backend interface {
	// Where names the backend for people: a directory, or a database
	// address without its password.
	Where() string
	// RunWhere names one run's journal for people and error messages (a
	// file path, or the database and run id).
	RunWhere(id string) string
	// Create stores a new run whose first line is header. It returns when
	// the header is durable. A run id that exists is an error.
	Create(ctx context.Context, info RunInfo, header []byte) (Appender, error)
	// AppendTo appends one line to an existing run (a run another process
	// may have written, perhaps torn by a crash): errors.Is ErrUnknownRun
	// when there is no such run.
	AppendTo(ctx context.Context, id string, line []byte) error
	// Read returns a run's lines as they were appended, errors.Is
	// ErrUnknownRun when there is no such run.
	Read(ctx context.Context, id string) ([]byte, error)
	// List returns every run's id, in no particular order.
	List(ctx context.Context) ([]string, error)
	// Lock starts a run's hold on the state: for the directory the one
	// lock of the whole state, for a database a session that host locks
	// are taken in. A refusal is a *LockedError.
	Lock(ctx context.Context, info LockInfo) (Lock, error)
	// Close releases the backend's resources (not its locks: those are
	// released by their own Unlock).
	Close() error
}

// Appender appends lines to one run. Append takes one or more complete
// lines, stored together and in order, and returns when all are durable
// (the directory: written in one write and fsynced; a database: committed
// in one transaction with synchronous_commit on). Append is safe for
// concurrent use, and concurrent Appends may share that write and fsync
// (or transaction): a group commit, whose failure is every member's
// error. After a failed Append the Appender refuses every further line:
// the caller must stop, since what is stored is unknown.
type Appender interface {
	Append(line []byte) error
	Close() error
}

// RunInfo is what a backend may index a run by.
type RunInfo struct {
	ID           string
	Kind         string
	Started      time.Time
	User         string
	OperatorHost string
	PID          int
}

// Lock is a run's hold on the state, from Store.Lock. Hosts locks the hosts
// a run is about to touch; Unlock releases everything, and may be called
// more than once.
type Lock interface {
	// Hosts takes the lock of every named host for run, without waiting.
	// It returns the hosts it could not lock, each with a *HostLockedError
	// saying who holds it; the others are locked until Unlock. An error is
	// for the backend itself (nothing was locked then). With the directory
	// backend the state lock already covers every host: nothing is refused.
	Hosts(ctx context.Context, run string, hosts []string) (refused map[string]error, err error)
	// Running reports whether run is being written by a live fleettune,
	// as far as this lock can tell (with the state directory's lock held,
	// nobody else is running).
	Running(ctx context.Context, run string) bool
	// Lost is closed when the locks are known to be gone while held (the
	// database session ended): the run must start no further host. Nil
	// when the locks cannot be lost (the state directory's flock).
	Lost() <-chan struct{}
	Unlock() error
}

// ErrHostLocked is what a refused host's error Is.
var ErrHostLocked = errors.New("host is locked")

// HostLockedError says who holds a host's lock. Holder is nil when the
// database holds the lock but the record of its holder could not be read.
type HostLockedError struct {
	Host   string
	Holder *LockInfo
}

func (e *HostLockedError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("%s is locked by another fleettune, still in progress; wait for it to finish", e.Host)
	}
	return fmt.Sprintf("%s is locked by another fleettune (%s), still in progress; wait for it to finish", e.Host, e.Holder.describe())
}

func (e *HostLockedError) Unwrap() error { return ErrHostLocked }

// describe is "run ID, apply, started 15:04:05 by ops@bastion1, pid 123".
func (h *LockInfo) describe() string {
	var what []string
	if h.Run != "" {
		what = append(what, "run "+h.Run)
	}
	if h.Kind != "" {
		what = append(what, h.Kind)
	}
	when := h.Started.Local()
	layout := "15:04:05"
	now := time.Now()
	if y, m, d := when.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		layout = "2006-01-02 15:04:05"
	}
	what = append(what, fmt.Sprintf("started %s by %s@%s", when.Format(layout), h.User, h.Host))
	if h.PID != 0 {
		what = append(what, fmt.Sprintf("pid %d", h.PID))
	}
	return strings.Join(what, ", ")
}

// ErrRunExists is what Create's error Is when the run id is taken.
var ErrRunExists = errors.New("run already exists")
