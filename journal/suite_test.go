package journal_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/journal/journaltest"
)

// dirSuite runs the directory backend through the conformance suite.
var dirSuite = journaltest.Suite{
	New: func(t testing.TB) journal.Backend {
		b, err := journal.OpenDirBackend(filepath.Join(t.TempDir(), "state"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	},
	Reopen: func(t testing.TB, b journal.Backend) journal.Backend {
		b2, err := journal.OpenDirBackend(b.Where())
		if err != nil {
			t.Fatal(err)
		}
		return b2
	},
	// The journal's descriptor now writes to /dev/full: every write fails
	// with ENOSPC, as on a full disk.
	Break: func(t testing.TB, a journal.Appender) {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Skipf("no /dev/full: %v", err)
		}
		defer full.Close()
		if err := unix.Dup2(int(full.Fd()), int(journal.AppenderFile(a).Fd())); err != nil {
			t.Fatal(err)
		}
	},
}

func TestDirBackendSuite(t *testing.T) { dirSuite.RunTests(t) }

func BenchmarkDirBackend(b *testing.B) { dirSuite.RunBenchmarks(b) }
