package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
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
	return &Writer{a: a, path: s.b.RunWhere(h.ID), id: h.ID, now: time.Now}, nil
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
func (w *Writer) Append(r Record) error {
	if err := notHeader(r); err != nil {
		return err
	}
	line, err := encode(r, w.now())
	if err != nil {
		return err
	}
	return w.a.Append(line)
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
func (w *Writer) Close() error { return w.a.Close() }

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
