package journal

import (
	"errors"
	"os"
	"os/exec"
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

// A read-only state dir says so, not "another fleettune is running". The
// helper runs in a mount namespace of its own where the dir is bind-mounted
// read-only (root ignores file modes, not a read-only mount); nothing
// outside that namespace sees the mount.
func TestReadOnlyStateDirSaysSo(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a private mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" -test.run='^$'`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", dir, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=lock-ro", helperDir+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if os.Getenv("FLEETTUNE_E2E_REQUIRED") == "" {
			t.Skipf("no read-only bind mount here: %v: %s", err, out)
		}
		t.Fatalf("helper: %v: %s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "readonly=true locked=false") || !strings.Contains(got, "read-only") || strings.Contains(got, "another fleettune") {
		t.Errorf("Lock on a read-only state dir said %q; want a read-only error, not a busy lock", got)
	}
}

// Two runs in the same second: a damaged header hides the start time that
// orders them, so Last cannot know which is newer and refuses.
func TestLastRefusesDamagedHeaderFromTheSameSecond(t *testing.T) {
	s := newStore(t)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	path := writeRun(t, s, "20261122T100000Z-0000", KindApply, t0.Add(2*time.Millisecond))
	writeRun(t, s, "20261122T100000Z-ffff", KindApply, t0.Add(time.Millisecond))
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[10:], 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Last(KindApply); err == nil || !strings.Contains(err.Error(), "20261122T100000Z-0000") {
		t.Fatalf("Last = %v, %v; want a refusal naming 20261122T100000Z-0000", r, err)
	}
}
