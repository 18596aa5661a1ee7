package playbooks

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fleettune/fleettune/journal"
)

// diskJournal writes the engine's records to a real journal run, as the
// command layer's sink does; fill, when set, runs once after the first
// Before record is on disk.
type diskJournal struct {
	w    *journal.Writer
	fill func()
}

func (j *diskJournal) Before(b BeforeRecord) error {
	err := j.w.Append(journal.BeforeRecord{Host: b.Host.Name, OS: b.OS, BootID: b.BootID, Conn: journal.Conn(*b.Host),
		Changes: b.Changes, Targets: b.Targets, Snapshot: b.Snapshot})
	if err == nil && j.fill != nil {
		j.fill()
		j.fill = nil
	}
	return err
}
func (j *diskJournal) Record(cmds []CommandRecord, results []HostOutcome) error {
	var recs []journal.Record
	for _, c := range cmds {
		recs = append(recs, journal.CommandRecord{Host: c.Host, Phase: c.Phase, Cmd: c.Cmd, Exit: c.Exit, Time: c.Time})
	}
	for _, r := range results {
		recs = append(recs, journal.ResultRecord{Host: r.Host, Status: r.Status, Error: r.Error})
	}
	return j.w.AppendAll(recs...)
}
func (j *diskJournal) Health(BatchOutcome) error { return nil }

// smallDisk mounts a 64 KiB tmpfs for the test and unmounts it at the end.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("FLEETTUNE_E2E_REQUIRED") != "" {
			t.Fatal("the disk-full test needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes to dir until it is full, then appends to the journal run
// until its last page is full too (tmpfs gives a file whole pages): the
// journal's next write is the one that meets ENOSPC.
func fillDisk(t *testing.T, dir string, w *journal.Writer) {
	fillFile(t, dir)
	for range 64 {
		if err := w.Append(journal.ResultRecord{Host: "padding", Status: "ok", Error: strings.Repeat("x", 256)}); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("journal failed with %v, want ENOSPC", err)
			}
			return
		}
	}
	t.Fatal("the journal never met a full disk")
}

func fillFile(t *testing.T, dir string) {
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("filler: %v", err)
		return
	}
	if f == nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

func openRun(t *testing.T, dir string) *journal.Writer {
	t.Helper()
	store, err := journal.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.Create(journal.Header{Kind: journal.KindApply})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// The disk fills up under the journal: the host whose "before" record
// could not be written is never touched, and once any write fails no
// further host is.
func TestJournalDiskFullStopsRollout(t *testing.T) {
	t.Run("before the first host", func(t *testing.T) {
		dir := smallDisk(t)
		w := openRun(t, dir)
		fillDisk(t, dir, w)
		f := newKVFleet(3, nil)
		e := f.engine(&diskJournal{w: w})
		e.Forks = 1
		out := e.Apply(context.Background(), "run", f.inventory(), rangeOptions("20000-60999", Batch{}, Health{}))
		if !strings.Contains(out.Stopped, "journal write failed") || out.Summary.Applied != 0 {
			t.Errorf("stopped %q, summary %+v", out.Stopped, out.Summary)
		}
		if h := out.Hosts[0]; h.Status != StatusFailed || !strings.Contains(h.Error, "host not touched") {
			t.Errorf("h01 = %s %q", h.Status, h.Error)
		}
		for _, n := range f.names {
			for _, c := range f.hosts[n].commands() {
				if c != "get" {
					t.Errorf("%s ran %q without its before record on disk", n, c)
				}
			}
		}
	})
	t.Run("after the first host started", func(t *testing.T) {
		dir := smallDisk(t)
		w := openRun(t, dir)
		f := newKVFleet(3, nil)
		e := f.engine(&diskJournal{w: w, fill: func() { fillDisk(t, dir, w) }})
		e.Forks = 1
		out := e.Apply(context.Background(), "run", f.inventory(), rangeOptions("20000-60999", Batch{Count: 1}, Health{}))
		if !strings.Contains(out.Stopped, "journal write failed") {
			t.Errorf("stopped %q", out.Stopped)
		}
		// The first host's commands ran to their end: never left between
		// its runtime change and its persistence.
		if h := f.hosts["h01"]; h.live != "20000-60999" || h.persisted != "20000-60999" {
			t.Errorf("h01 left half changed: live %s persisted %q", h.live, h.persisted)
		}
		for _, n := range []string{"h02", "h03"} {
			if cs := f.hosts[n].commands(); len(cs) != 0 {
				t.Errorf("%s touched after the journal failed: %q", n, cs)
			}
		}
		if out.Hosts[1].Status != StatusSkipped || out.Hosts[2].Status != StatusSkipped {
			t.Errorf("later hosts %s, %s; want skipped", out.Hosts[1].Status, out.Hosts[2].Status)
		}
	})
}

// Hosts that failed when apply planned them are journalled as results too.
func TestJournalPlanFailures(t *testing.T) {
	p := &Plan{Hosts: []HostPlan{
		{Host: "a", Status: StatusChanges},
		{Host: "b", Status: StatusUnreachable, Error: "b: host unreachable"},
		{Host: "c", Status: StatusFailed, Error: "refused by guardrail: x"},
		{Host: "d", Status: StatusOK},
	}}
	j := &memJournal{}
	if err := JournalPlanFailures(j, p); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(j.events, "|"); got != "result b unreachable|result c failed" {
		t.Errorf("journalled %q", got)
	}
}
