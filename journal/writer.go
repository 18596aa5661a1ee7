package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Writer appends records to one run's journal. Append is safe for
// concurrent use; every record is on disk (fsynced) when it returns.
type Writer struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	id     string
	size   int64 // bytes known good: every complete record so far
	broken error // a failed write leaves the writer unusable
	now    func() time.Time
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
	path := s.RunPath(h.ID)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("journal: run %s already exists (%s); refusing to overwrite it", h.ID, path)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	w := &Writer{f: f, path: path, id: h.ID, now: time.Now}
	if err := w.write(line); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	// The new name must survive a power cut too.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("journal: %w", err)
	}
	return w, nil
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ID is the run id.
func (w *Writer) ID() string { return w.id }

// Path is the journal file.
func (w *Writer) Path() string { return w.path }

// Append writes one record and syncs it. A record whose Time is zero gets
// the current time. After a failed write the Writer refuses further records
// (a half-written line in the middle would make the journal unreadable).
func (w *Writer) Append(r Record) error {
	if _, ok := r.(Header); ok {
		return errors.New("journal: the run header is written by Create")
	}
	if _, ok := r.(*Header); ok {
		return errors.New("journal: the run header is written by Create")
	}
	line, err := encode(r, w.now())
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(line)
}

// write appends line and syncs; w.mu is held (or w is not shared yet).
func (w *Writer) write(line []byte) error {
	if w.f == nil {
		return fmt.Errorf("journal %s: writer is closed", w.path)
	}
	if w.broken != nil {
		return fmt.Errorf("journal %s: unusable after an earlier failure: %w", w.path, w.broken)
	}
	if _, err := w.f.Write(line); err != nil {
		// Take back a partial line so the journal stays readable.
		if terr := w.f.Truncate(w.size); terr != nil {
			w.broken = err
		}
		return fmt.Errorf("journal %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		// After a failed fsync nothing is known about what is on disk.
		w.broken = err
		return fmt.Errorf("journal %s: sync: %w", w.path, err)
	}
	w.size += int64(len(line))
	return nil
}

// Close closes the journal file. It does not end the run: append an
// EndRecord first, or the run stays unfinished (as after a crash).
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// AppendTo appends one record to an existing run, e.g. the reboot record
// that status writes into the run that left a host awaiting a reboot.
// Callers hold the lock. A torn last line (a crash while the run was
// written) is cut off first, so that it does not end up in the middle.
func (s *Store) AppendTo(runID string, r Record) error {
	if _, ok := r.(Header); ok {
		return errors.New("journal: the run header is written by Create")
	}
	if _, ok := r.(*Header); ok {
		return errors.New("journal: the run header is written by Create")
	}
	line, err := encode(r, time.Now())
	if err != nil {
		return err
	}
	if err := checkRunID(runID); err != nil {
		return fmt.Errorf("%w: %w", ErrUnknownRun, err)
	}
	path := s.RunPath(runID)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &unknownRunError{id: runID, dir: s.dir}
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	data, err := readAll(f)
	if err != nil {
		return fmt.Errorf("journal %s: %w", path, err)
	}
	run, validEnd, err := replay(path, data)
	if err != nil {
		return err
	}
	if run.Header.ID != runID {
		return &CorruptError{Path: path, Line: 1, Msg: fmt.Sprintf("header names run %q, the file name says %q", run.Header.ID, runID)}
	}
	if validEnd < int64(len(data)) {
		if err := f.Truncate(validEnd); err != nil {
			return fmt.Errorf("journal %s: cut torn last line: %w", path, err)
		}
	}
	if validEnd > 0 && !bytes.HasSuffix(data[:validEnd], []byte("\n")) {
		line = append([]byte("\n"), line...)
	}
	if _, err := f.WriteAt(line, validEnd); err != nil {
		_ = f.Truncate(validEnd)
		return fmt.Errorf("journal %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal %s: sync: %w", path, err)
	}
	return nil
}

func readAll(f *os.File) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
