package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// LockInfo is what the lock file says about its holder.
type LockInfo struct {
	PID     int       `json:"pid"`
	Run     string    `json:"run,omitempty"`
	Kind    string    `json:"kind"` // "apply", "rollback", "status"
	User    string    `json:"user"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// LockedError is ErrLocked with who holds the lock. Holder is nil when the
// lock file could not be read (e.g. its holder has only just taken it).
type LockedError struct {
	Dir    string
	Holder *LockInfo
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h == nil {
		return fmt.Sprintf("state dir %s is locked by another fleettune, still in progress; wait for it to finish", e.Dir)
	}
	var what []string
	if h.Run != "" {
		what = append(what, "run "+h.Run)
	}
	if h.Kind != "" {
		what = append(what, h.Kind)
	}
	when := h.Started.Local()
	layout := "15:04:05"
	if y, m, d := when.Date(); y != time.Now().Year() || m != time.Now().Month() || d != time.Now().Day() {
		layout = "2006-01-02 15:04:05"
	}
	what = append(what, fmt.Sprintf("started %s by %s@%s", when.Format(layout), h.User, h.Host))
	return fmt.Sprintf("state dir %s is locked by fleettune pid %d (%s), which is still in progress; wait for it to finish (fleettune status shows its runs)", e.Dir, h.PID, strings.Join(what, ", "))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// dirLock is the state directory's one flock on <dir>/lock: it dies with
// its process, so a lock file left by a killed fleettune does not block.
type dirLock struct {
	once sync.Once
	fl   *flock.Flock
	path string
	err  error
}

func (b *dirBackend) Lock(_ context.Context, info LockInfo) (Lock, error) {
	path := filepath.Join(b.dir, lockFile)
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("state dir %s: lock %s: %w", b.dir, path, readOnly(err))
	}
	if !ok {
		return nil, &LockedError{Dir: b.dir, Holder: readLockInfo(path)}
	}
	if err := writeLockInfo(path, &info); err != nil {
		fl.Unlock()
		return nil, fmt.Errorf("state dir %s: write lock holder: %w", b.dir, readOnly(err))
	}
	return &dirLock{fl: fl, path: path}, nil
}

// Hosts refuses nothing: the state lock covers every host.
func (l *dirLock) Hosts(context.Context, string, []string) (map[string]error, error) {
	return nil, nil
}

// Running is false: holding the state lock, nobody else is running.
func (l *dirLock) Running(context.Context, string) bool { return false }

// Lost is nil: a flock lives as long as its process.
func (l *dirLock) Lost() <-chan struct{} { return nil }

func (l *dirLock) Unlock() error {
	l.once.Do(func() {
		// Empty the file while still holding the lock, so that nobody
		// reads a finished holder's details. The file stays: removing
		// a lock file races with processes that have it open.
		_ = os.Truncate(l.path, 0)
		l.err = l.fl.Unlock()
	})
	return l.err
}

func writeLockInfo(path string, info *LockInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readLockInfo(path string) *LockInfo {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var info LockInfo
	if json.Unmarshal(b, &info) != nil || info.PID == 0 {
		return nil
	}
	return &info
}
