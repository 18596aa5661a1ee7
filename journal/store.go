// Package journal is fleettune's run journal: a write-ahead log of what
// apply and rollback did to every host, kept so that rollback and status can
// work long after the run, without the inventory.
//
// A state directory holds:
//
//	VERSION              "fleettune-journal 1"
//	lock                 flock'ed while a run (or status clearing) changes things;
//	                     its content names the holder
//	runs/<run-id>.jsonl  one file per run, one JSON record per line
//
// Every record is appended and fsynced before the call returns, and a host's
// "before" record is written before any command touches that host. A crash
// (even kill -9 or a power cut) can therefore only leave a torn last line,
// which Load tolerates and reports; a malformed line anywhere else is
// corruption and is reported with its file and line.
//
// The files are meant to be read with jq:
//
//	jq -c 'select(.type=="result") | {host, status}' ~/.local/state/fleettune/runs/*.jsonl
package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fleettune/fleettune/internal/atomicfile"
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

// Store is one state directory.
type Store struct {
	dir string
}

// Open opens the state directory dir, creating it (and any missing parent,
// mode 0700) with a VERSION file when it does not exist or is empty. It
// refuses a directory that holds other files but no VERSION, and one written
// by a newer fleettune.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("state dir: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	dir = abs
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	vpath := filepath.Join(dir, versionFile)
	data, err := os.ReadFile(vpath)
	switch {
	case err == nil:
		if err := checkVersion(dir, data); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist):
		entries, rerr := os.ReadDir(dir)
		if rerr != nil {
			return nil, fmt.Errorf("state dir %s: %w", dir, rerr)
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("state dir %s is not a fleettune state dir: it is not empty and has no %s file; choose another --state-dir (or FLEETTUNE_STATE_DIR)", dir, versionFile)
		}
		// VERSION first: a directory with runs/ but no VERSION is refused.
		if err := atomicfile.Write(vpath, []byte(fmt.Sprintf("%s %d\n", versionWord, FormatVersion)), 0o600); err != nil {
			return nil, fmt.Errorf("state dir %s: %w", dir, err)
		}
	default:
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := os.Mkdir(filepath.Join(dir, runsDir), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

func checkVersion(dir string, data []byte) error {
	f := strings.Fields(string(data))
	if len(f) != 2 || f[0] != versionWord {
		return fmt.Errorf("state dir %s is not a fleettune state dir: %s holds %q, want %q", dir, filepath.Join(dir, versionFile), strings.TrimSpace(string(data)), fmt.Sprintf("%s %d", versionWord, FormatVersion))
	}
	v, err := strconv.Atoi(f[1])
	if err != nil || v < 1 {
		return fmt.Errorf("state dir %s is not a fleettune state dir: %s holds an invalid version %q", dir, filepath.Join(dir, versionFile), f[1])
	}
	if v > FormatVersion {
		return fmt.Errorf("state dir %s was written by a newer fleettune (journal format %d; this fleettune reads format %d); upgrade fleettune", dir, v, FormatVersion)
	}
	if v < FormatVersion {
		// There is no older format yet.
		return fmt.Errorf("state dir %s has journal format %d, which this fleettune cannot read", dir, v)
	}
	return nil
}

// Dir is the state directory, absolute.
func (s *Store) Dir() string { return s.dir }

// RunPath is where run id's journal lives (whether or not it exists).
func (s *Store) RunPath(id string) string {
	return filepath.Join(s.dir, runsDir, id+runExt)
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
	path := s.RunPath(runID)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &unknownRunError{id: runID, dir: s.dir}
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
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
	entries, err := os.ReadDir(filepath.Join(s.dir, runsDir))
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var runs []*Run
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutSuffix(name, runExt)
		if !ok || e.IsDir() || checkRunID(id) != nil {
			continue
		}
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
// an older run: rolling back the wrong run is worse than stopping. Runs whose
// header cannot be read are skipped (a crash while creating a run leaves
// one, and such a run never touched a host).
func (s *Store) Last(kind string) (*Run, error) {
	runs, err := s.Runs()
	if err != nil {
		return nil, err
	}
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Header.Kind == kind {
			return runs[i], runs[i].Err
		}
	}
	return nil, &unknownRunError{kind: kind, dir: s.dir}
}
