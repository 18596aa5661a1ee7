package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"
)

// Writer appends records to one run's journal. Append is safe for
// concurrent use; every record is durable when it returns (on disk, fsynced;
// or committed in the database).
type Writer struct {
	a    Appender
	path string
	id   string
	now  func() time.Time

	// Records the backend refused are kept in a local state dir, when the
	// store has one (KeepUnsentIn): a database that went away mid-apply
	// must not take the in-flight hosts' results with it.
	info     RunInfo
	header   []byte
	keepDir  string
	keepMu   sync.Mutex
	kept     Appender
	keptPath string
	keptN    int
}

// Create starts a new run's journal with its header. It fills the header's
// ID (NewRunID), Started, User, OperatorHost and PID when zero, and refuses
// an id that already has a journal. Callers hold the lock (Store.Lock).
func (s *Store) Create(h Header) (*Writer, error) {
	if h.Kind != KindApply && h.Kind != KindRollback {
		return nil, fmt.Errorf("journal: run kind %q is not %q or %q", h.Kind, KindApply, KindRollback)
	}
	if h.Started.IsZero() {
		h.Started = time.Now()
	}
	if h.ID == "" {
		h.ID = NewRunID(h.Started)
	}
	if err := checkRunID(h.ID); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if h.User == "" {
		h.User = currentUser()
	}
	if h.OperatorHost == "" {
		h.OperatorHost, _ = os.Hostname()
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	line, err := encode(h, h.Started)
	if err != nil {
		return nil, err
	}
	ctx, cancel := opCtx()
	defer cancel()
	a, err := s.b.Create(ctx, RunInfo{ID: h.ID, Kind: h.Kind, Started: h.Started, User: h.User, OperatorHost: h.OperatorHost, PID: h.PID}, line)
	if err != nil {
		return nil, err
	}
	info := RunInfo{ID: h.ID, Kind: h.Kind, Started: h.Started, User: h.User, OperatorHost: h.OperatorHost, PID: h.PID}
	return &Writer{a: a, path: s.b.RunWhere(h.ID), id: h.ID, now: time.Now, info: info, header: line, keepDir: s.keepDir}, nil
}

// KeepUnsentIn names a state directory where a Writer keeps the records
// its backend failed to store (with the run's header first, so that
// fleettune --state-dir DIR status reads them). For a database backend.
func (s *Store) KeepUnsentIn(dir string) { s.keepDir = dir }

// keep appends line to the local copy of the run, creating it on first use.
func (w *Writer) keep(line []byte) (string, error) {
	w.keepMu.Lock()
	defer w.keepMu.Unlock()
	if w.kept == nil {
		b, err := openDir(w.keepDir)
		if err != nil {
			return "", err
		}
		a, err := b.Create(context.Background(), w.info, w.header)
		if err != nil {
			return "", err
		}
		w.kept, w.keptPath = a, b.RunWhere(w.id)
	}
	if err := w.kept.Append(line); err != nil {
		return "", err
	}
	w.keptN++
	return w.keptPath, nil
}

// Kept says how many records the backend refused and where they are kept
// instead ("" and 0 when none).
func (w *Writer) Kept() (path string, records int) {
	w.keepMu.Lock()
	defer w.keepMu.Unlock()
	return w.keptPath, w.keptN
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// ID is the run id.
func (w *Writer) ID() string { return w.id }

// Path is where the journal is: its file, or the database and run id.
func (w *Writer) Path() string { return w.path }

// Append writes one record and makes it durable. A record whose Time is
// zero gets the current time. After a failed write the Writer refuses
// further records: the caller must stop (what is stored is unknown, and a
// half-written line in the middle would make the journal unreadable).
func (w *Writer) Append(r Record) error { return w.AppendAll(r) }

// AppendAll writes records, in order, in one durable write: one fsync (one
// transaction) for all of them, and together, with no other record
// between them. Calls made at the same time share that write and fsync
// (group commit); each returns when its own records are durable, and a
// failed write fails every call that shared it. On an error none may be
// stored (the directory backend takes a failed write back). An apply journals
// a host's commands with its result this way, and a batch's health
// results at once. Records whose Time is zero get the current time.
func (w *Writer) AppendAll(rs ...Record) error {
	if len(rs) == 0 {
		return nil
	}
	now := w.now()
	var lines []byte
	before := false
	for _, r := range rs {
		if err := notHeader(r); err != nil {
			return err
		}
		line, err := encode(r, now)
		if err != nil {
			return err
		}
		if lines == nil && len(rs) == 1 {
			lines = line
		} else {
			lines = append(lines, line...)
		}
		before = before || isBefore(r)
	}
	err := w.a.Append(lines)
	// A before record that was not stored means its host is not touched
	// (the engine's rule), so there is nothing of it to keep.
	if err != nil && w.keepDir != "" && !before {
		if path, kerr := w.keep(lines); kerr == nil {
			return fmt.Errorf("%w; the record is kept in %s", err, path)
		}
	}
	return err
}

func isBefore(r Record) bool {
	switch r.(type) {
	case BeforeRecord, *BeforeRecord:
		return true
	}
	return false
}

func notHeader(r Record) error {
	switch r.(type) {
	case Header, *Header:
		return errors.New("journal: the run header is written by Create")
	}
	return nil
}

// Close closes the journal. It does not end the run: append an EndRecord
// first, or the run stays unfinished (as after a crash).
func (w *Writer) Close() error {
	w.keepMu.Lock()
	if w.kept != nil {
		w.kept.Close()
	}
	w.keepMu.Unlock()
	return w.a.Close()
}

// AppendTo appends one record to an existing run, e.g. the reboot record
// that status writes into the run that left a host awaiting a reboot.
// Callers hold the lock.
func (s *Store) AppendTo(runID string, r Record) error {
	if err := notHeader(r); err != nil {
		return err
	}
	line, err := encode(r, time.Now())
	if err != nil {
		return err
	}
	if err := checkRunID(runID); err != nil {
		return fmt.Errorf("%w: %w", ErrUnknownRun, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return s.b.AppendTo(ctx, runID, line)
}
