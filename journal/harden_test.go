package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A damaged header on the newest run must stop rollback --last: the run
// may be an apply that changed hosts, and taking the previous apply instead
// would roll back the wrong run.
func TestLastRefusesNewerRunWithDamagedHeader(t *testing.T) {
	s := newStore(t)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	writeRun(t, s, "20261122T100000Z-aaaa", KindApply, t0)
	path := writeRun(t, s, "20261122T110000Z-bbbb", KindApply, t0.Add(time.Hour))
	data, _ := os.ReadFile(path)
	// The header line loses its first bytes; the records after it stay.
	if err := os.WriteFile(path, data[10:], 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := s.Last(KindApply)
	if err == nil {
		t.Fatalf("Last(apply) = %s, nil; want a refusal naming the damaged run", r.ID())
	}
	for _, want := range []string{"20261122T110000Z-bbbb", "damaged header", path + ":1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Last error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Last error is not ErrCorrupt: %v", err)
	}

	// A run whose Create never returned (empty file, or a torn header
	// alone) never touched a host: it is passed over.
	if err := os.WriteFile(path, data[:20], 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Last(KindApply); err != nil || r.ID() != "20261122T100000Z-aaaa" {
		t.Errorf("with only a torn header in the newer run, Last = %v, %v", r, err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Last(KindApply); err != nil || r.ID() != "20261122T100000Z-aaaa" {
		t.Errorf("with an empty newer run, Last = %v, %v", r, err)
	}
}

func TestOpenRefusesStateDirOthersCanWrite(t *testing.T) {
	base := t.TempDir()
	for _, mode := range []os.FileMode{0o770, 0o702, 0o777} {
		dir := filepath.Join(base, mode.String())
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, mode)
		_, err := Open(dir)
		if err == nil || !strings.Contains(err.Error(), "writable by others") || !strings.Contains(err.Error(), dir) {
			t.Errorf("Open of a %04o dir = %v, want a refusal naming it", mode.Perm(), err)
		}
	}
	// runs/ is checked too.
	dir := filepath.Join(base, "runs-open")
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, runsDir), 0o777)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, runsDir)) {
		t.Errorf("Open with a world-writable runs/ = %v", err)
	}

	dir = filepath.Join(base, "theirs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, os.Getuid()+1, -1); err != nil {
		t.Skipf("cannot give a dir to another user here: %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not by you") {
		t.Errorf("Open of another user's dir = %v", err)
	}
}
