package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/fleettune/fleettune/internal/atomicfile"
	"github.com/fleettune/fleettune/journal/internal/groupcommit"
)

// dirBackend is a state directory:
//
//	VERSION              "fleettune-journal 1"
//	lock                 flock'ed while a run (or status clearing) changes things;
//	                     its content names the holder
//	runs/<run-id>.jsonl  one file per run, one JSON record per line
type dirBackend struct {
	dir string
}

var _ Backend = (*dirBackend)(nil)

// Open opens the state directory dir, creating it (and any missing parent,
// mode 0700) with a VERSION file when it does not exist or is empty. It
// refuses a directory that holds other files but no VERSION, one written
// by a newer fleettune, and one that others could write to (group- or
// world-writable, or owned by another user): journals hold the commands
// rollback runs, and the proxy commands it starts on this machine.
func Open(dir string) (*Store, error) {
	b, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	return New(b), nil
}

func openDir(dir string) (*dirBackend, error) {
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
	if err := checkOwner(dir); err != nil {
		return nil, err
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
			return nil, fmt.Errorf("state dir %s: %w", dir, readOnly(err))
		}
	default:
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := os.Mkdir(filepath.Join(dir, runsDir), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("state dir %s: %w", dir, readOnly(err))
	}
	if err := checkOwner(filepath.Join(dir, runsDir)); err != nil {
		return nil, err
	}
	return &dirBackend{dir: dir}, nil
}

// checkOwner refuses a directory someone other than this user may write.
func checkOwner(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("state dir %s is not a directory", dir)
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("state dir %s is writable by others (mode %04o): its journals say what rollback runs, so only you may write them; chmod go-w %s", dir, perm, dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("state dir %s is owned by uid %d, not by you (uid %d): its journals say what rollback runs, so use a state dir of your own", dir, sys.Uid, os.Getuid())
	}
	return nil
}

// ErrReadOnly is what an error Is when the state dir cannot be written.
var ErrReadOnly = errors.New("state dir is read-only")

type readOnlyError struct{ err error }

func (e *readOnlyError) Error() string {
	return fmt.Sprintf("read-only (%v): fleettune cannot record runs there", e.err)
}
func (e *readOnlyError) Unwrap() []error { return []error{ErrReadOnly, e.err} }

// readOnly marks an error from a read-only file system or a permission
// refusal as ErrReadOnly.
func readOnly(err error) error {
	if errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission) {
		return &readOnlyError{err}
	}
	return err
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

func (b *dirBackend) Where() string { return b.dir }

func (b *dirBackend) RunWhere(id string) string {
	return filepath.Join(b.dir, runsDir, id+runExt)
}

func (b *dirBackend) Close() error { return nil }

func (b *dirBackend) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(b.dir, runsDir))
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), runExt)
		if !ok || e.IsDir() || checkRunID(id) != nil {
			continue
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (b *dirBackend) Read(_ context.Context, id string) ([]byte, error) {
	data, err := os.ReadFile(b.RunWhere(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &unknownRunError{id: id, dir: b.dir}
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return data, nil
}

func (b *dirBackend) Create(_ context.Context, info RunInfo, header []byte) (Appender, error) {
	path := b.RunWhere(info.ID)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("journal: run %s already exists (%s); refusing to overwrite it: %w", info.ID, path, ErrRunExists)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", readOnly(err))
	}
	a := newFileAppender(f, path)
	if err := a.Append(header); err != nil {
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
	return a, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fileAppender appends to one run's file, with group commit: lines
// appended at the same time (an apply's forks) are written together, in
// one write and one fsync, each Append's lines whole and in order, and each
// Append returns once its own lines are durable (groupcommit).
type fileAppender struct {
	path string
	q    *groupcommit.Queue[[]byte]

	mu     sync.Mutex // held by the group being written, and by Close
	f      *os.File
	size   int64        // bytes known good: every complete record so far
	broken error        // a failed write leaves the appender unusable
	buf    []byte       // a group's lines, reused
	syncs  atomic.Int64 // fsyncs made, for the benchmarks
	// fsync is f.Sync; a test holds a group in it, or fails it, as a
	// failing disk would (nothing else makes a real fsync fail on demand).
	fsync func(*os.File) error
}

func newFileAppender(f *os.File, path string) *fileAppender {
	a := &fileAppender{f: f, path: path, fsync: (*os.File).Sync}
	a.q = groupcommit.New(a.write)
	return a
}

func (a *fileAppender) Append(line []byte) error { return a.q.Do(line) }

// maxKeptBuf is the largest group buffer kept for the next group.
const maxKeptBuf = 1 << 20

// write writes a group of Appends' lines in one write and makes them
// durable with one fsync. On a failure every Append of the group gets the
// error, the group's bytes are taken back so that the journal stays
// readable and holds only what was reported stored, and the appender
// refuses everything after: the callers must stop.
func (a *fileAppender) write(group [][]byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("journal %s: writer is closed", a.path)
	}
	if a.broken != nil {
		return fmt.Errorf("journal %s: unusable after an earlier failure: %w", a.path, a.broken)
	}
	data := group[0]
	if len(group) > 1 {
		a.buf = a.buf[:0]
		for _, l := range group {
			a.buf = append(a.buf, l...)
		}
		data = a.buf
		if cap(a.buf) > maxKeptBuf {
			a.buf = nil
		}
	}
	if _, err := a.f.Write(data); err != nil {
		// Take back a partial write so the journal stays readable.
		_ = a.f.Truncate(a.size)
		a.broken = err
		return fmt.Errorf("journal %s: %w", a.path, err)
	}
	a.syncs.Add(1)
	if err := a.fsync(a.f); err != nil {
		// What reached the disk is unknown: take the group back, so that
		// nobody reads records their writers were told were not stored.
		_ = a.f.Truncate(a.size)
		a.broken = err
		return fmt.Errorf("journal %s: sync: %w", a.path, err)
	}
	a.size += int64(len(data))
	return nil
}

func (a *fileAppender) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// AppendTo cuts a torn last line (a crash while the run was written) first,
// so that it does not end up in the middle. Callers hold the lock.
func (b *dirBackend) AppendTo(_ context.Context, id string, line []byte) error {
	path := b.RunWhere(id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &unknownRunError{id: id, dir: b.dir}
	}
	if err != nil {
		return fmt.Errorf("journal: %w", readOnly(err))
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return fmt.Errorf("journal %s: %w", path, err)
	}
	data := buf.Bytes()
	run, validEnd, err := replay(path, data)
	if err != nil {
		return err
	}
	if run.Header.ID != id {
		return &CorruptError{Path: path, Line: 1, Msg: fmt.Sprintf("header names run %q, the file name says %q", run.Header.ID, id)}
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
