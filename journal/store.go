// Package journal is fleettune's run journal: a write-ahead log of what
// apply and rollback did to every host, kept so that rollback and status can
// work long after the run, without the inventory.
//
// A Store keeps runs in a Backend: a state directory (Open, the default) or
// a PostgreSQL database shared by a team (package journal/pgstore), both
// held to the same conformance suite (journal/journaltest). Backends store
// a run header and encoded record lines; the Store encodes and replays them.
// Locks are the backend's too: the state directory has one flock for
// everything, the database one lock per host.
//
// A state directory holds:
//
//	VERSION              "fleettune-journal 1"
//	lock                 flock'ed while a run (or status clearing) changes things;
//	                     its content names the holder
//	runs/<run-id>.jsonl  one file per run, one JSON record per line
//
// Every record is appended and fsynced (or, in the database, committed)
// before the call returns, and a host's
// "before" record is written before any command touches that host. Appends
// made at the same time (an apply's forks) are committed as one group, the
// way databases commit their log: one write and one fsync (one
// transaction) for all of them, each call's records together and in order,
// each call returning once its own are durable. A crash
// (even kill -9 or a power cut) can therefore only cut the last write
// short: a torn last line, which Load tolerates and reports, after perhaps
// part of the last group, whose callers never returned; a malformed line
// anywhere else is corruption and is reported with its file and line.
//
// The files are meant to be read with jq:
//
//	jq -c 'select(.type=="result") | {host, status}' ~/.local/state/fleettune/runs/*.jsonl
package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// FormatVersion is the journal format this package reads and writes.
// Adding a record type or changing the meaning of a field needs a new
// version; adding an optional field does not (readers ignore unknown fields).
const FormatVersion = 1

const (
	versionFile = "VERSION"
	versionWord = "fleettune-journal"
	lockFile    = "lock"
	runsDir     = "runs"
	runExt      = ".jsonl"
)

// Errors callers can test for with errors.Is. The errors returned carry the
// details (path and line, run id, who holds the lock).
var (
	ErrLocked     = errors.New("state dir is locked")
	ErrUnknownRun = errors.New("unknown run")
	ErrCorrupt    = errors.New("journal is corrupt")
)

// Store is fleettune's journal over one Backend: runs of records, read
// back as Runs, and the locks that keep two fleettunes off the same hosts.
type Store struct {
	b       Backend
	keepDir string // see KeepUnsentIn
}

// New is a Store over b.
func New(b Backend) *Store { return &Store{b: b} }

// opTimeout bounds one backend operation of the Store's context-free API.
const opTimeout = 30 * time.Second

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// Backend is the store's backend.
func (s *Store) Backend() Backend { return s.b }

// Dir is where the runs are, for people: the state directory (absolute),
// or the database address without its password.
func (s *Store) Dir() string { return s.b.Where() }

// RunPath is where run id's journal lives (whether or not it exists).
func (s *Store) RunPath(id string) string { return s.b.RunWhere(id) }

// Close releases the backend.
func (s *Store) Close() error { return s.b.Close() }

// Lock takes the state's lock for an apply or rollback (kind) of run, or for
// status (run may then be ""), without waiting. The directory backend has
// one lock for the whole state dir: a busy one gives a *LockedError
// (errors.Is ErrLocked) naming the holder, a read-only dir an error that
// Is ErrReadOnly. A database backend locks nothing yet: Lock.Hosts then
// locks each host the run touches.
func (s *Store) Lock(run, kind string) (Lock, error) {
	host, _ := os.Hostname()
	info := LockInfo{PID: os.Getpid(), Run: run, Kind: kind, User: currentUser(), Host: host, Started: time.Now()}
	ctx, cancel := opCtx()
	defer cancel()
	return s.b.Lock(ctx, info)
}

// checkRunID refuses ids that are not plain file names, so that a --run
// argument can never reach outside runs/.
func checkRunID(id string) error {
	ok := id != "" && len(id) <= 128 && id[0] != '.' && id[0] != '-'
	for _, c := range id {
		if !ok {
			break
		}
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
	}
	if !ok {
		return fmt.Errorf("invalid run id %q: expected an id like 20261122T171500Z-3f2a", id)
	}
	return nil
}

// unknownRunError is ErrUnknownRun with the id asked for.
type unknownRunError struct {
	id, kind, dir string
}

func (e *unknownRunError) Error() string {
	if e.id != "" {
		return fmt.Sprintf("no run %s in %s; fleettune status lists runs", e.id, e.dir)
	}
	return fmt.Sprintf("no %s run in %s; fleettune status lists runs", e.kind, e.dir)
}

func (e *unknownRunError) Unwrap() error { return ErrUnknownRun }

// Load replays one run's journal.
func (s *Store) Load(runID string) (*Run, error) {
	if err := checkRunID(runID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownRun, err)
	}
	ctx, cancel := opCtx()
	defer cancel()
	data, err := s.b.Read(ctx, runID)
	if err != nil {
		return nil, err
	}
	path := s.b.RunWhere(runID)
	r, _, err := replay(path, data)
	if err != nil {
		return nil, err
	}
	if r.Header.ID != runID {
		return nil, &CorruptError{Path: path, Line: 1, Msg: fmt.Sprintf("header names run %q, the file name says %q", r.Header.ID, runID)}
	}
	return r, nil
}

// Runs replays every run, oldest first. A run that cannot be read is still
// returned, with Err set and whatever could be read of it, so that one bad
// file does not hide the others; the error is for the directory itself.
func (s *Store) Runs() ([]*Run, error) {
	ctx, cancel := opCtx()
	ids, err := s.b.List(ctx)
	cancel()
	if err != nil {
		return nil, err
	}
	var runs []*Run
	for _, id := range ids {
		r, err := s.Load(id)
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) && ce.partial != nil {
				r = ce.partial
			} else {
				r = &Run{Path: s.RunPath(id)}
			}
			if r.Header.ID == "" {
				r.Header.ID = id
			}
			r.Err = err
		}
		runs = append(runs, r)
	}
	sortRuns(runs)
	return runs, nil
}

// sortRuns orders runs oldest first: by the time part of the id (ids look
// like 20261122T171500Z-3f2a), then by the start time recorded, then by id.
func sortRuns(runs []*Run) {
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		ta, _, _ := strings.Cut(a.Header.ID, "-")
		tb, _, _ := strings.Cut(b.Header.ID, "-")
		if ta != tb {
			return ta < tb
		}
		if !a.Header.Started.Equal(b.Header.Started) {
			return a.Header.Started.Before(b.Header.Started)
		}
		return a.Header.ID < b.Header.ID
	})
}

// Last is the newest run of kind ("apply" or "rollback"). When that run
// cannot be read, Last returns it with its error rather than falling back to
// an older run: rolling back the wrong run is worse than stopping. For the
// same reason a newer run whose header is damaged (so that its kind is
// unknown) stops Last with an error naming it; only a run that never got
// past creating its header (an empty file, or a torn header alone: such a
// run never touched a host) is passed over.
func (s *Store) Last(kind string) (*Run, error) {
	runs, err := s.Runs()
	if err != nil {
		return nil, err
	}
	var last *Run
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Header.Kind == kind {
			last = runs[i]
			break
		}
	}
	// A damaged header hides the start time too, so such a run sorts by
	// its id's second alone: refuse one from that second or later.
	for _, r := range runs {
		if r.Header.Kind != "" || r.Err == nil {
			continue
		}
		var ce *CorruptError
		if errors.As(r.Err, &ce) && ce.neverStarted {
			continue
		}
		if last == nil || idTime(r.Header.ID) >= idTime(last.Header.ID) {
			return nil, fmt.Errorf("run %s, no older than any readable %s run, has a damaged header, so which run is the last %s is unknown; refusing to guess (repair or move aside that run, or name one with --run): %w", r.Header.ID, kind, kind, r.Err)
		}
	}
	if last == nil {
		return nil, &unknownRunError{kind: kind, dir: s.Dir()}
	}
	return last, last.Err
}

// idTime is the time part of a run id (20261122T171500Z of
// 20261122T171500Z-3f2a).
func idTime(id string) string {
	t, _, _ := strings.Cut(id, "-")
	return t
}

// UnknownRun is the error a backend gives for a run id it does not have
// (errors.Is ErrUnknownRun); where is the backend's Where.
func UnknownRun(id, where string) error { return &unknownRunError{id: id, dir: where} }
