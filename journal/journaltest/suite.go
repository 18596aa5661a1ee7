// Package journaltest is the conformance suite every journal backend
// passes, restic style: a Suite of callbacks that make, reopen and break a
// backend, and RunTests / RunBenchmarks that run the same subtests against
// each.
package journaltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/platform"
)

// Suite describes one backend to the tests.
type Suite struct {
	// New makes an empty backend for one test; the suite closes it.
	New func(t testing.TB) journal.Backend
	// Reopen opens a second handle on the storage of b, as another
	// fleettune process (on another machine, for a database) would: it
	// shares nothing with b but the storage. The suite closes it.
	Reopen func(t testing.TB, b journal.Backend) journal.Backend
	// Break makes every later write through a fail, from outside: the
	// file's descriptor onto /dev/full, the database session terminated.
	Break func(t testing.TB, a journal.Appender)
	// HostLocks is true for a backend that locks per host (two runs may
	// hold disjoint hosts at once); false for one lock of the whole state.
	HostLocks bool
}

// RunTests runs every conformance test as a subtest of t.
func (s Suite) RunTests(t *testing.T) {
	t.Run("AppendAndReadBack", s.testAppendAndReadBack)
	t.Run("BeforeDurableBeforeReturn", s.testBeforeDurable)
	t.Run("FailedWriteStopsTheWriter", s.testFailedWrite)
	t.Run("ListRunsAndLast", s.testListAndLast)
	t.Run("AppendToExistingRun", s.testAppendTo)
	t.Run("ConcurrentWriters", s.testConcurrentWriters)
	t.Run("AppendAllTogether", s.testAppendAllTogether)
	t.Run("ConcurrentAppendsWhenStorageBreaks", s.testConcurrentBreak)
	t.Run("Locks", s.testLocks)
}

func (s Suite) open(t testing.TB) (journal.Backend, *journal.Store) {
	t.Helper()
	b := s.New(t)
	t.Cleanup(func() { b.Close() })
	return b, journal.New(b)
}

func (s Suite) reopen(t testing.TB, b journal.Backend) *journal.Store {
	t.Helper()
	b2 := s.Reopen(t, b)
	t.Cleanup(func() { b2.Close() })
	return journal.New(b2)
}

var t0 = time.Date(2026, 11, 22, 17, 15, 0, 0, time.UTC)

func host(name string) inventory.Host {
	return inventory.Host{Name: name, Address: "10.0.0.7", Groups: []string{"all", "web"}, Transport: "ssh", User: "ops",
		Timeout: 30 * time.Second, SSH: inventory.SSH{Port: 2222, KnownHosts: "/k", HostKeyChecking: "strict", ProxyCommand: "ip netns exec " + name + " sshd -i"}}
}

func before(name string) journal.BeforeRecord {
	old := "net.ipv4.ip_local_port_range = 32768 60999\n"
	pr := platform.PortRange{Low: 10240, High: 65535}
	return journal.BeforeRecord{Conn: journal.Conn(host(name)), OS: "linux", BootID: "boot-" + name,
		Changes: []platform.Change{{Setting: "ephemeral_ports", Knob: "net.ipv4.ip_local_port_range", Current: "32768-60999", Target: "10240-65535",
			Commands: []string{"sysctl -w net.ipv4.ip_local_port_range='10240 65535'"}}},
		Targets: platform.Targets{EphemeralPorts: &pr},
		Snapshot: platform.Snapshot{Knobs: map[string]platform.KnobState{"net.ipv4.ip_local_port_range": {Live: "32768\t60999"}},
			Files: map[string]*string{"/etc/sysctl.d/90-fleettune.conf": &old}}}
}

// writeHost journals one host's part of an apply: before, commands, result.
func writeHost(w *journal.Writer, name string, cmds int) error {
	if err := w.Append(before(name)); err != nil {
		return err
	}
	for c := 0; c < cmds; c++ {
		if err := w.Append(journal.CommandRecord{Host: name, Phase: journal.PhaseApply, Cmd: fmt.Sprintf("cmd %d on %s", c, name), Exit: c}); err != nil {
			return err
		}
	}
	return w.Append(journal.ResultRecord{Host: name, Status: journal.StatusApplied, Batch: 1, BootID: "boot-" + name})
}

func (s Suite) testAppendAndReadBack(t *testing.T) {
	b, st := s.open(t)
	hdr := journal.Header{ID: "20261122T171500Z-0a01", Kind: journal.KindApply, Started: t0, Version: "test",
		Playbook: &journal.FileRef{Path: "/ops/pb.yaml", Digest: journal.Digest([]byte("pb")), Name: "port-hygiene"}, Limit: "web", Batch: "25%"}
	w, err := st.Create(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"web01", "web02"} {
		if err := writeHost(w, n, 2); err != nil {
			t.Fatal(err)
		}
	}
	recs := []journal.Record{
		journal.HealthRecord{Batch: 1, Canary: true, Hosts: []string{"web01", "web02"}, Checked: true, Healthy: true},
		journal.RebootRecord{Host: "web02", BootID: "boot2", Verified: true},
		journal.EndRecord{Status: journal.EndDone, Summary: map[string]int{"applied": 2}},
	}
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Append(journal.Header{ID: "x", Kind: journal.KindApply}); err == nil {
		t.Error("Append took a second header")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*journal.Store{"same handle": st, "other handle": s.reopen(t, b)} {
		r, err := st.Load(hdr.ID)
		if err != nil {
			t.Fatalf("%s: Load: %v", name, err)
		}
		if r.Header.ID != hdr.ID || r.Header.Kind != journal.KindApply || !r.Header.Started.Equal(t0) || r.Header.Playbook == nil ||
			r.Header.Playbook.Name != "port-hygiene" || r.Header.User == "" || r.Header.OperatorHost == "" || r.Header.PID == 0 {
			t.Errorf("%s: header %+v", name, r.Header)
		}
		if len(r.Hosts) != 2 || r.End == nil || r.End.Status != journal.EndDone || len(r.Health) != 1 || r.Torn {
			t.Fatalf("%s: run %+v", name, r)
		}
		h := r.Host("web02")
		if h == nil || h.Before == nil || h.Before.Knobs["net.ipv4.ip_local_port_range"].Live != "32768\t60999" ||
			h.Conn.SSH.ProxyCommand != "ip netns exec web02 sshd -i" || len(h.Commands) != 2 || h.Commands[1].Cmd != "cmd 1 on web02" ||
			h.Status() != journal.StatusApplied || h.RebootCleared != nil || len(h.Reboots) != 1 {
			t.Errorf("%s: host web02 %+v", name, h)
		}
	}
}

func (s Suite) testBeforeDurable(t *testing.T) {
	b, st := s.open(t)
	w, err := st.Create(journal.Header{ID: "20261122T171500Z-0b01", Kind: journal.KindApply, Started: t0})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	other := s.reopen(t, b)
	// The header is there as soon as Create returns ...
	if r, err := other.Load(w.ID()); err != nil || len(r.Hosts) != 0 {
		t.Fatalf("after Create, another handle reads %v, %v", r, err)
	}
	// ... and a host's before record as soon as Append returns, with the
	// writer still open: no buffering, no commit left for later.
	if err := w.Append(before("db1")); err != nil {
		t.Fatal(err)
	}
	r, err := other.Load(w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Host("db1"); h == nil || h.Before == nil || h.Before.Files["/etc/sysctl.d/90-fleettune.conf"] == nil {
		t.Fatalf("after Append returned, another handle does not see db1's before record: %+v", r.Hosts)
	}
	if r.Finished() {
		t.Error("an open run reads as finished")
	}
}

func (s Suite) testFailedWrite(t *testing.T) {
	b, st := s.open(t)
	ctx := context.Background()
	hdr := []byte(`{"type":"run","id":"20261122T171500Z-0c01","kind":"apply","started":"2026-11-22T17:15:00Z"}` + "\n")
	a, err := b.Create(ctx, journal.RunInfo{ID: "20261122T171500Z-0c01", Kind: journal.KindApply, Started: t0, User: "ops", OperatorHost: "bastion1", PID: 1}, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	good := []byte(`{"type":"command","host":"h1","phase":"apply","cmd":"one","exit":0,"time":"2026-11-22T17:15:01Z"}` + "\n")
	if err := a.Append(good); err != nil {
		t.Fatal(err)
	}
	s.Break(t, a)
	big := make([]byte, 0, 64<<10)
	big = append(big, `{"type":"command","host":"h1","phase":"apply","cmd":"`...)
	for len(big) < 60<<10 {
		big = append(big, 'x')
	}
	big = append(big, "\",\"exit\":0}\n"...)
	if err := a.Append(big); err == nil {
		t.Fatal("Append after the storage broke returned no error")
	}
	// The writer stays refused: the caller must stop, not carry on with
	// a journal that lost a record.
	if err := a.Append(good); err == nil {
		t.Fatal("a second Append after a failed one returned no error")
	}
	// What was stored before the failure is intact and readable, from
	// another handle: no torn line in the middle.
	r, err := s.reopen(t, b).Load("20261122T171500Z-0c01")
	if err != nil {
		t.Fatalf("the run is unreadable after a failed write: %v", err)
	}
	if h := r.Host("h1"); h == nil || len(h.Commands) != 1 || h.Commands[0].Cmd != "one" || r.Torn {
		t.Fatalf("after a failed write the run reads %+v", r.Hosts)
	}
	_ = st
}

func (s Suite) testListAndLast(t *testing.T) {
	b, st := s.open(t)
	if _, err := st.Last(journal.KindApply); !errors.Is(err, journal.ErrUnknownRun) {
		t.Errorf("Last on an empty state = %v, want ErrUnknownRun", err)
	}
	runs := []struct{ id, kind string }{
		{"20261122T171500Z-0001", journal.KindApply},
		{"20261122T171600Z-0002", journal.KindApply},
		{"20261122T171700Z-0003", journal.KindRollback},
	}
	// Created out of order: the listing orders by time.
	for _, i := range []int{1, 2, 0} {
		w, err := st.Create(journal.Header{ID: runs[i].id, Kind: runs[i].kind, Started: t0.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := writeHost(w, "h1", 1); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	if _, err := st.Create(journal.Header{ID: runs[0].id, Kind: journal.KindApply}); !errors.Is(err, journal.ErrRunExists) {
		t.Errorf("Create of an existing id = %v, want ErrRunExists", err)
	}
	other := s.reopen(t, b)
	all, err := other.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("Runs = %d runs, want 3", len(all))
	}
	for i, r := range all {
		if r.ID() != runs[i].id || r.Header.Kind != runs[i].kind || r.Err != nil {
			t.Errorf("Runs[%d] = %s %s %v, want %s %s", i, r.ID(), r.Header.Kind, r.Err, runs[i].id, runs[i].kind)
		}
	}
	last, err := other.Last(journal.KindApply)
	if err != nil || last.ID() != runs[1].id {
		t.Errorf("Last(apply) = %v, %v; want %s", last, err, runs[1].id)
	}
	last, err = other.Last(journal.KindRollback)
	if err != nil || last.ID() != runs[2].id {
		t.Errorf("Last(rollback) = %v, %v; want %s", last, err, runs[2].id)
	}
	if _, err := other.Load("20261122T171500Z-ffff"); !errors.Is(err, journal.ErrUnknownRun) {
		t.Errorf("Load of an unknown run = %v, want ErrUnknownRun", err)
	}
	if _, err := other.Load("../../etc/passwd"); !errors.Is(err, journal.ErrUnknownRun) {
		t.Errorf("Load of a path = %v, want ErrUnknownRun", err)
	}
}

func (s Suite) testAppendTo(t *testing.T) {
	b, st := s.open(t)
	w, err := st.Create(journal.Header{ID: "20261122T171500Z-0d01", Kind: journal.KindApply, Started: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeHost(w, "h1", 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(journal.ResultRecord{Host: "h1", Status: journal.StatusApplied, RebootRequired: true}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	other := s.reopen(t, b)
	if err := other.AppendTo(w.ID(), journal.RebootRecord{Host: "h1", BootID: "b2", Verified: true}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Load(w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Host("h1"); h == nil || h.RebootPending || h.RebootCleared == nil || h.RebootCleared.BootID != "b2" {
		t.Errorf("after AppendTo: %+v", h)
	}
	if err := other.AppendTo("20261122T171500Z-ffff", journal.EndRecord{Status: journal.EndDone}); !errors.Is(err, journal.ErrUnknownRun) {
		t.Errorf("AppendTo an unknown run = %v, want ErrUnknownRun", err)
	}
}

func (s Suite) testConcurrentWriters(t *testing.T) {
	b, st := s.open(t)
	other := s.reopen(t, b)
	const hosts = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*hosts+2)
	ids := []string{"20261122T171500Z-0e01", "20261122T171500Z-0e02"}
	for i, store := range []*journal.Store{st, other} {
		w, err := store.Create(journal.Header{ID: ids[i], Kind: journal.KindApply, Started: t0})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for h := 0; h < hosts; h++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := writeHost(w, fmt.Sprintf("r%d-h%02d", i, h), 3); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, id := range ids {
		r, err := st.Load(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Hosts) != hosts {
			t.Fatalf("run %s: %d hosts, want %d", id, len(r.Hosts), hosts)
		}
		for h := 0; h < hosts; h++ {
			hr := r.Host(fmt.Sprintf("r%d-h%02d", i, h))
			if hr == nil || hr.Before == nil || len(hr.Commands) != 3 || hr.Status() != journal.StatusApplied {
				t.Fatalf("run %s host %d: %+v", id, h, hr)
			}
			for c, cmd := range hr.Commands {
				if cmd.Exit != c {
					t.Errorf("run %s host %d: commands out of order: %+v", id, h, hr.Commands)
				}
			}
		}
	}
}

// testAppendAllTogether: the records of one AppendAll are stored in order
// with no other record between them, though other hosts' records are
// appended at the same time; a second handle reads them all back.
func (s Suite) testAppendAllTogether(t *testing.T) {
	b, st := s.open(t)
	w, err := st.Create(journal.Header{ID: "20261122T171500Z-0e11", Kind: journal.KindApply, Started: t0})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const hosts = 16
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	for h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("h%02d", h)
			if err := w.Append(before(name)); err != nil {
				errs <- err
				return
			}
			recs := []journal.Record{}
			for c := range 3 {
				recs = append(recs, journal.CommandRecord{Host: name, Phase: journal.PhaseApply, Cmd: fmt.Sprintf("cmd %d on %s", c, name), Exit: c})
			}
			recs = append(recs, journal.ResultRecord{Host: name, Status: journal.StatusApplied, Batch: 1})
			if err := w.AppendAll(recs...); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.AppendAll(); err != nil {
		t.Fatalf("AppendAll of nothing: %v", err)
	}
	data, err := b.Read(context.Background(), "20261122T171500Z-0e11")
	if err != nil {
		t.Fatal(err)
	}
	// Every host's three commands and result are four lines in a row.
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for h := range hosts {
		name := fmt.Sprintf(`"host":"h%02d"`, h)
		first := -1
		for i, l := range lines {
			if strings.Contains(l, name) && strings.Contains(l, `"type":"command"`) {
				first = i
				break
			}
		}
		if first < 0 || first+4 > len(lines) {
			t.Fatalf("h%02d: no command records in %d lines", h, len(lines))
		}
		for i, want := range []string{`"cmd":"cmd 0 on`, `"cmd":"cmd 1 on`, `"cmd":"cmd 2 on`, `"type":"result"`} {
			if l := lines[first+i]; !strings.Contains(l, name) || !strings.Contains(l, want) {
				t.Errorf("h%02d: line %d is %s, want its record with %s: one AppendAll's records were split or reordered", h, first+i+1, l, want)
			}
		}
	}
	r, err := s.reopen(t, b).Load("20261122T171500Z-0e11")
	if err != nil {
		t.Fatal(err)
	}
	if hr := r.Host("h07"); hr == nil || len(hr.Commands) != 3 || hr.Status() != journal.StatusApplied {
		t.Errorf("h07 read back as %+v", hr)
	}
}

// testConcurrentBreak: forks append one host's lines at a time (one
// Append each, as AppendAll does) while the storage breaks under them.
// Every Append that returned nil is stored whole; whatever is stored is
// whole, in order, with no torn line; and once one Append failed, every
// later one fails too.
func (s Suite) testConcurrentBreak(t *testing.T) {
	b, _ := s.open(t)
	ctx := context.Background()
	const id = "20261122T171500Z-0e21"
	hdr := []byte(`{"type":"run","id":"` + id + `","kind":"apply","started":"2026-11-22T17:15:00Z"}` + "\n")
	a, err := b.Create(ctx, journal.RunInfo{ID: id, Kind: journal.KindApply, Started: t0, User: "ops", OperatorHost: "bastion1", PID: 1}, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const forks, perCall, breakAfter, maxCalls = 16, 4, 40, 5000
	hostLines := func(h string) []byte {
		var out []byte
		for i := range perCall {
			out = fmt.Appendf(out, `{"type":"command","host":%q,"phase":"apply","cmd":"cmd %d","exit":0,"stderr":%q}`+"\n", h, i, strings.Repeat("e", (len(h)*97*(i+1))%1500))
		}
		return out
	}
	var (
		mu       sync.Mutex
		stored   []string // hosts whose Append returned nil
		failedAt = map[int]bool{}
		calls    atomic.Int64
		broke    sync.Once
		wg       sync.WaitGroup
	)
	for f := range forks {
		wg.Go(func() {
			failed := false
			for i := 0; ; i++ {
				n := calls.Add(1)
				if n > maxCalls {
					if !failed {
						t.Errorf("fork %d: %d appends and none failed after the storage broke", f, maxCalls)
					}
					return
				}
				if n == breakAfter {
					broke.Do(func() { s.Break(t, a) })
				}
				h := fmt.Sprintf("f%02d-%04d", f, i)
				err := a.Append(hostLines(h))
				mu.Lock()
				switch {
				case err == nil && failed:
					t.Errorf("fork %d: an Append after a failed one returned nil", f)
				case err == nil:
					stored = append(stored, h)
				default:
					failedAt[f] = true
				}
				mu.Unlock()
				if err != nil {
					if failed {
						return // refused twice: the appender stays refused
					}
					failed = true
				}
			}
		})
	}
	wg.Wait()
	if len(failedAt) != forks {
		t.Errorf("%d of %d forks saw the storage fail", len(failedAt), forks)
	}
	data, err := s.Reopen(t, b).Read(ctx, id)
	if err != nil {
		t.Fatalf("the run is unreadable after the storage broke: %v", err)
	}
	if !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("the run ends in a torn line: %.200q", data[max(0, len(data)-200):])
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	at := map[string]int{}
	for i := 1; i < len(lines); i++ {
		var l struct{ Host, Cmd string }
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatalf("line %d: %v: %.100q", i+1, err, lines[i])
		}
		if l.Cmd != "cmd 0" {
			t.Fatalf("line %d is %s's %s, not the first line of an Append: an Append's lines were split or torn", i+1, l.Host, l.Cmd)
		}
		if _, dup := at[l.Host]; dup {
			t.Fatalf("line %d: %s stored twice", i+1, l.Host)
		}
		at[l.Host] = i
		if i+perCall > len(lines) || strings.Join(lines[i:i+perCall], "\n")+"\n" != string(hostLines(l.Host)) {
			t.Fatalf("line %d: %s's lines are not whole and in order", i+1, l.Host)
		}
		i += perCall - 1
	}
	for _, h := range stored {
		if _, ok := at[h]; !ok {
			t.Errorf("%s: its Append returned nil, but its lines are not stored", h)
		}
	}
	t.Logf("%d Appends stored, %d hosts in the run", len(stored), len(at))
}

func (s Suite) testLocks(t *testing.T) {
	b, st := s.open(t)
	other := s.reopen(t, b)
	ctx := context.Background()
	l1, err := st.Lock("20261122T171500Z-0f01", journal.KindApply)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Unlock()
	if refused, err := l1.Hosts(ctx, "20261122T171500Z-0f01", []string{"a", "b"}); err != nil || len(refused) != 0 {
		t.Fatalf("first Hosts(a, b) = %v, %v", refused, err)
	}
	l2, err := other.Lock("20261122T171500Z-0f02", journal.KindApply)
	if !s.HostLocks {
		// One lock for the whole state: the second run waits its turn.
		var le *journal.LockedError
		if !errors.As(err, &le) || !errors.Is(err, journal.ErrLocked) {
			t.Fatalf("second Lock = %v, want a LockedError", err)
		}
		if err := l1.Unlock(); err != nil {
			t.Fatal(err)
		}
		if err := l1.Unlock(); err != nil {
			t.Fatalf("second Unlock: %v", err)
		}
		l2, err = other.Lock("20261122T171500Z-0f02", journal.KindApply)
		if err != nil {
			t.Fatalf("Lock after Unlock: %v", err)
		}
		l2.Unlock()
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Unlock()
	refused, err := l2.Hosts(ctx, "20261122T171500Z-0f02", []string{"b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 1 || refused["b"] == nil {
		t.Fatalf("Hosts(b, c) while b is held refused %v, want b only", refused)
	}
	var he *journal.HostLockedError
	if !errors.As(refused["b"], &he) || !errors.Is(refused["b"], journal.ErrHostLocked) || he.Holder == nil ||
		he.Holder.Run != "20261122T171500Z-0f01" || he.Holder.Kind != journal.KindApply || he.Holder.User == "" || he.Holder.Started.IsZero() {
		t.Fatalf("refusal of b = %#v (%v), want who holds it", refused["b"], refused["b"])
	}
	if !l2.Running(ctx, "20261122T171500Z-0f01") {
		t.Error("the run holding a and b does not show as running to another handle")
	}
	if l2.Running(ctx, "20261122T171500Z-ffff") {
		t.Error("a run nobody holds shows as running")
	}
	// Locking a held host again in the same run is no refusal.
	if refused, err := l1.Hosts(ctx, "20261122T171500Z-0f01", []string{"a"}); err != nil || len(refused) != 0 {
		t.Errorf("re-locking a in its own run = %v, %v", refused, err)
	}
	if err := l1.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l1.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	if refused, err := l2.Hosts(ctx, "20261122T171500Z-0f02", []string{"a", "b"}); err != nil || len(refused) != 0 {
		t.Fatalf("after the holder unlocked, Hosts(a, b) = %v, %v", refused, err)
	}
	if l2.Running(ctx, "20261122T171500Z-0f01") {
		t.Error("an unlocked run still shows as running")
	}
}

// RunBenchmarks runs the suite's benchmarks as sub-benchmarks of b.
func (s Suite) RunBenchmarks(b *testing.B) {
	b.Run("JournalPerHost", s.benchHost)
	b.Run("JournalPerHostForks8", func(b *testing.B) { s.benchHostForks(b, 8) })
	b.Run("JournalPerHostForks64", func(b *testing.B) { s.benchHostForks(b, 64) })
}

// cpuNanos is the CPU (user and system) this process has used so far.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU reports the process's CPU per op from start on, as cpu-ns/op:
// what a journalled host costs fleettune, fsync's system time included,
// which ns/op (wall time, mostly waiting for the disk) does not say.
func reportCPU(b *testing.B, start int64) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
	}
}

// benchHostForks is benchHost with forks hosts journalled at once, as an
// apply with --forks N does: one op is still one host.
func (s Suite) benchHostForks(b *testing.B, forks int) {
	_, st := s.open(b)
	w, err := st.Create(journal.Header{ID: "20261122T171500Z-be02", Kind: journal.KindApply, Started: t0})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var n atomic.Int64
	b.SetParallelism(max(1, forks/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuNanos())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := writeHost(w, fmt.Sprintf("h%06d", n.Add(1)), 3); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchHost measures the journal's cost per host of an apply: its before
// record, three command records and its result, each durable before the
// next. One op is one host.
func (s Suite) benchHost(b *testing.B) {
	_, st := s.open(b)
	w, err := st.Create(journal.Header{ID: "20261122T171500Z-be01", Kind: journal.KindApply, Started: t0})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuNanos())
	for i := 0; b.Loop(); i++ {
		if err := writeHost(w, fmt.Sprintf("h%06d", i), 3); err != nil {
			b.Fatal(err)
		}
	}
}
