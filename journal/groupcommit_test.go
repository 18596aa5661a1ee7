package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostRecords is one host's AppendAll: cmds commands, then its result,
// with stderr of varied length so that groups end anywhere.
func hostRecords(name string, cmds, pad int) []Record {
	var rs []Record
	for c := range cmds {
		rs = append(rs, CommandRecord{Host: name, Phase: PhaseApply, Cmd: fmt.Sprintf("cmd %d on %s", c, name), Exit: c,
			Stderr: strings.Repeat("e", (pad*(c+1))%MaxOutput)})
	}
	return append(rs, ResultRecord{Host: name, Status: StatusApplied, Batch: 1, BootID: "boot-" + name})
}

// line is what a test reads of a journal line.
type line struct {
	Type, Host, Cmd, Status string
}

func readLines(t *testing.T, path string) []line {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s ends in a torn line", path)
	}
	var ls []line
	for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var x line
		if err := json.Unmarshal(l, &x); err != nil {
			t.Fatalf("%s:%d: %v: %.80q", path, i+1, err, l)
		}
		ls = append(ls, x)
	}
	return ls
}

// checkWhole fails unless every host's records in ls are a before record
// and, after it, its cmds commands and result in a row (want: the hosts
// that must be there, and no others).
func checkWhole(t *testing.T, ls []line, want map[string]bool, cmds int) {
	t.Helper()
	before := map[string]int{}
	seen := map[string]bool{}
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		switch l.Type {
		case TypeRun:
			continue
		case TypeBefore:
			before[l.Host] = i
			continue
		}
		h := l.Host
		if !want[h] {
			t.Errorf("line %d: %s record of %s, which is not to be there", i+1, l.Type, h)
			continue
		}
		if seen[h] {
			t.Errorf("line %d: a second run of records for %s: its AppendAll was split", i+1, h)
			continue
		}
		seen[h] = true
		if _, ok := before[h]; !ok {
			t.Errorf("line %d: %s's commands come before its before record", i+1, h)
		}
		for c := range cmds + 1 {
			if i+c >= len(ls) {
				t.Fatalf("%s: the journal ends inside its AppendAll", h)
			}
			got := ls[i+c]
			wantType, wantCmd := TypeCommand, fmt.Sprintf("cmd %d on %s", c, h)
			if c == cmds {
				wantType, wantCmd = TypeResult, ""
			}
			if got.Host != h || got.Type != wantType || got.Cmd != wantCmd {
				t.Errorf("line %d is %+v, want %s's %s %q: one AppendAll's records were split or reordered", i+c+1, got, h, wantType, wantCmd)
			}
		}
		i += cmds
	}
	for h := range want {
		if !seen[h] {
			t.Errorf("%s: its records are missing", h)
		}
		if _, ok := before[h]; !ok {
			t.Errorf("%s: its before record is missing", h)
		}
	}
}

// Many forks at once, each host a before record and then one AppendAll of
// its commands and result: the journal reads back with every host whole,
// its AppendAll's records in a row, in order, nothing lost, nothing twice.
func TestConcurrentAppendAllStayWhole(t *testing.T) {
	s := newStore(t)
	w, err := s.Create(Header{ID: "20261201T230000Z-9c01", Kind: KindApply, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	const forks, hostsEach, cmds = 64, 6, 3
	want := map[string]bool{}
	for f := range forks {
		for i := range hostsEach {
			want[fmt.Sprintf("h%02d-%d", f, i)] = true
		}
	}
	var wg sync.WaitGroup
	for f := range forks {
		wg.Go(func() {
			for i := range hostsEach {
				name := fmt.Sprintf("h%02d-%d", f, i)
				if err := w.Append(BeforeRecord{Conn: Conn(sampleHost(name)), OS: "linux", Snapshot: sampleSnapshot(name)}); err != nil {
					t.Error(err)
					return
				}
				if err := w.AppendAll(hostRecords(name, cmds, 97*f+i)...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fa := w.a.(*fileAppender)
	t.Logf("%d appends in %d fsyncs", 1+2*forks*hostsEach, fa.syncs.Load())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ls := readLines(t, w.Path())
	if len(ls) != 1+forks*hostsEach*(2+cmds) {
		t.Errorf("%d lines, want %d", len(ls), 1+forks*hostsEach*(2+cmds))
	}
	checkWhole(t, ls, want, cmds)
	r, err := s.Load(w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hosts) != len(want) || r.Torn {
		t.Fatalf("Load: %d hosts (torn %v), want %d", len(r.Hosts), r.Torn, len(want))
	}
	for _, h := range r.Hosts {
		if h.Before == nil || len(h.Commands) != cmds || h.Status() != StatusApplied {
			t.Errorf("%s read back as %+v", h.Host, h)
		}
	}
}

// holdFirstSync makes a's first fsync wait, after really syncing, until
// release is closed; fail, when set, is what its second fsync returns
// instead of syncing. entered is closed when the first fsync is held.
func holdFirstSync(a *fileAppender, fail error) (entered, release chan struct{}, calls *atomic.Int32) {
	entered, release, calls = make(chan struct{}), make(chan struct{}), new(atomic.Int32)
	a.fsync = func(f *os.File) error {
		switch calls.Add(1) {
		case 1:
			err := f.Sync()
			close(entered)
			<-release
			return err
		case 2:
			if fail != nil {
				return fail
			}
		}
		return f.Sync()
	}
	return entered, release, calls
}

// A group whose write or fsync fails: every caller in it gets the error,
// none is told its records are stored, the journal holds none of them and
// reads back whole, and the appender refuses what comes after. Each
// caller's own records are kept in the side file (KeepUnsentIn).
func TestFailedGroupFailsEveryMember(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fsync error // the group's fsync fails with this ...
		full  bool  // ... or its write meets a full disk (/dev/full)
		want  error
	}{
		{name: "fsync", fsync: syscall.EIO, want: syscall.EIO},
		{name: "write", full: true, want: syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			s, err := Open(filepath.Join(base, "state"))
			if err != nil {
				t.Fatal(err)
			}
			keep := filepath.Join(base, "kept")
			s.KeepUnsentIn(keep)
			w, err := s.Create(Header{ID: "20261201T230000Z-9c02", Kind: KindApply, Version: "test"})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			fa := w.a.(*fileAppender)
			entered, release, calls := holdFirstSync(fa, tc.fsync)

			// The leader's before record is written and held in its fsync ...
			lead := make(chan error, 1)
			go func() {
				lead <- w.Append(BeforeRecord{Conn: Conn(sampleHost("lead")), OS: "linux", Snapshot: sampleSnapshot("lead")})
			}()
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the leader's fsync never started")
			}
			// ... while eight hosts queue their AppendAll behind it: the
			// next group.
			const members, cmds = 8, 3
			errs := make([]chan error, members)
			for i := range members {
				errs[i] = make(chan error, 1)
				go func() { errs[i] <- w.AppendAll(hostRecords(fmt.Sprintf("m%d", i), cmds, 300*i)...) }()
			}
			deadline := time.Now().Add(10 * time.Second)
			for fa.q.Waiting() != members {
				if time.Now().After(deadline) {
					t.Fatalf("%d callers queued, want %d", fa.q.Waiting(), members)
				}
				time.Sleep(100 * time.Microsecond)
			}
			if tc.full {
				full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
				if err != nil {
					t.Skipf("no /dev/full: %v", err)
				}
				err = unix.Dup2(int(full.Fd()), int(fa.f.Fd()))
				full.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			close(release)
			if err := <-lead; err != nil {
				t.Fatalf("the leader, whose group was stored: %v", err)
			}
			for i, ch := range errs {
				err := <-ch
				if !errors.Is(err, tc.want) {
					t.Errorf("member m%d of the failed group got %v, want %v", i, err, tc.want)
				}
				if err != nil && !strings.Contains(err.Error(), "kept in "+keep) {
					t.Errorf("member m%d's error does not say where its records are kept: %v", i, err)
				}
			}
			wantSyncs := int32(2) // the leader's, and the group's one
			if tc.full {
				wantSyncs = 1 // the group's write failed: no fsync
			}
			if n := calls.Load(); n != wantSyncs {
				t.Errorf("%d fsyncs, want %d: the queued callers were not one group", n, wantSyncs)
			}

			// The journal, read afresh: the header and the leader's before
			// record, nothing of the failed group, no torn line.
			ls := readLines(t, s.RunPath(w.ID()))
			if len(ls) != 2 || ls[0].Type != TypeRun || ls[1].Type != TypeBefore || ls[1].Host != "lead" {
				t.Errorf("the journal holds %+v, want the header and lead's before record only", ls)
			}
			r, err := s.Load(w.ID())
			if err != nil || r.Torn || len(r.Hosts) != 1 {
				t.Fatalf("Load after the failed group = %+v, %v", r, err)
			}
			// Each member's own records are kept, whole.
			path, n := w.Kept()
			if n != members {
				t.Errorf("Kept() = %s, %d; want the %d members' AppendAlls", path, n, members)
			}
			want := map[string]bool{}
			for i := range members {
				want[fmt.Sprintf("m%d", i)] = true
			}
			kept := readLines(t, path)
			// The side file has no before records (a before record that was
			// not stored means its host was not touched): count them in.
			var body []line
			for _, l := range kept {
				if l.Type != TypeRun {
					body = append(body, l)
				}
			}
			for h := range want {
				body = append([]line{{Type: TypeBefore, Host: h}}, body...)
			}
			checkWhole(t, body, want, cmds)

			// The appender refuses what comes after (that record is kept too).
			if err := w.Append(ResultRecord{Host: "lead", Status: StatusApplied}); err == nil || !strings.Contains(err.Error(), "unusable after an earlier failure") {
				t.Errorf("Append after the failed group = %v, want a refusal", err)
			}
			if _, n := w.Kept(); n != members+1 {
				t.Errorf("after a refused result, Kept() = %d records, want %d", n, members+1)
			}
			if ls := readLines(t, s.RunPath(w.ID())); len(ls) != 2 {
				t.Errorf("after a refused append the journal has %d lines, want 2", len(ls))
			}
		})
	}
}

// kill -9 of a process whose forks append at once: every host whose
// AppendAll returned before the kill is in the journal whole, the journal
// loads, and only the last group (at most one AppendAll per fork), cut by
// the kill, may hold a host in part.
func TestCrashKillWithForksLeavesWholeHosts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261201T230000Z-dead"
	cmd := helper(t, "append-forks", dir, id)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	returned := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	for len(returned) < 400 && sc.Scan() {
		returned[sc.Text()] = true
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Hosts printed between the kill and the pipe's end returned too.
	for sc.Scan() {
		returned[sc.Text()] = true
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("helper ended with %v, want killed", err)
	}
	if len(returned) < 400 {
		t.Fatalf("the helper journalled only %d hosts", len(returned))
	}

	r, err := s.Load(id)
	if err != nil {
		t.Fatalf("Load after kill -9: %v", err)
	}
	if r.Finished() {
		t.Error("a killed run must not be finished")
	}
	for h := range returned {
		hr := r.Host(h)
		if hr == nil || hr.Before == nil || len(hr.Commands) != helperCmds || hr.Status() != StatusApplied {
			t.Errorf("%s: its AppendAll returned before the kill, but it reads back as %+v", h, hr)
		}
	}
	// Complete lines only; the last one may be torn.
	data, err := os.ReadFile(s.RunPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	}
	var ls []line
	for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var x line
		if err := json.Unmarshal(l, &x); err != nil {
			t.Fatalf("a complete line does not parse: %v: %.80q", err, l)
		}
		ls = append(ls, x)
	}
	tail := len(ls) - helperForks*(helperCmds+2)
	count := map[string]int{}
	last := map[string]int{}
	for i, l := range ls {
		if l.Type != TypeRun {
			count[l.Host]++
			last[l.Host] = i
		}
	}
	// Each AppendAll's records are in a row, wherever they are.
	for i, l := range ls {
		if l.Type != TypeCommand || l.Cmd != "cmd 0 on "+l.Host {
			continue
		}
		for c := 1; c <= helperCmds && i+c < len(ls); c++ {
			want := line{Type: TypeCommand, Host: l.Host, Cmd: fmt.Sprintf("cmd %d on %s", c, l.Host)}
			if c == helperCmds {
				want = line{Type: TypeResult, Host: l.Host, Status: string(StatusApplied)}
			}
			if ls[i+c] != want {
				t.Errorf("line %d is %+v, want %+v: an AppendAll's records were split", i+c+1, ls[i+c], want)
			}
		}
	}
	whole := 0
	for h, n := range count {
		switch {
		case n == helperCmds+2:
			whole++
		case last[h] < tail:
			t.Errorf("%s has %d of its %d records, and not in the last group: an AppendAll was split", h, n, helperCmds+2)
		}
	}
	t.Logf("%d hosts returned before the kill, %d whole in the journal, %d lines", len(returned), whole, len(ls))
}

// A group's write that stops short (the file size limit, as on a full
// disk, where a real partial write happens): the part written is taken
// back, every caller told its records are stored has them whole, no
// caller told otherwise has any of its records stored, and the journal
// reads back with no torn line.
func TestShortWriteInAGroupIsTakenBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261201T230000Z-f512"
	out, err := helper(t, "append-fsize", dir, id).Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var limit int64
	ok := map[string]bool{}
	failed := map[string]string{} // host -> the call that failed: before | all
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "limit":
			limit, _ = strconv.ParseInt(f[1], 10, 64)
		case len(f) == 2 && f[0] == "ok":
			ok[f[1]] = true
		case len(f) > 3 && f[0] == "err":
			failed[f[1]] = f[2]
			if !strings.Contains(l, "file too large") && !strings.Contains(l, "unusable after an earlier failure") {
				t.Errorf("helper: %s: want the file size limit's error or a refusal", l)
			}
		default:
			t.Fatalf("helper said %q", l)
		}
	}
	if len(failed) != helperForks || len(ok) == 0 || limit == 0 {
		t.Fatalf("%d hosts stored, %d failed (want %d), limit %d", len(ok), len(failed), helperForks, limit)
	}
	data, err := os.ReadFile(s.RunPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) >= limit || !bytes.HasSuffix(data, []byte("\n")) {
		t.Errorf("the journal is %d bytes (limit %d), ending %q: the short write was not taken back", len(data), limit, data[max(0, len(data)-20):])
	}
	r, err := s.Load(id)
	if err != nil || r.Torn {
		t.Fatalf("Load after the short write: %v (torn %v)", err, r != nil && r.Torn)
	}
	for h := range ok {
		if hr := r.Host(h); hr == nil || hr.Before == nil || len(hr.Commands) != helperCmds || hr.Status() != StatusApplied {
			t.Errorf("%s was reported stored but reads back as %+v", h, hr)
		}
	}
	for h, call := range failed {
		hr := r.Host(h)
		switch {
		case call == "before" && hr != nil:
			t.Errorf("%s: its before record was reported not stored, but the journal has %+v", h, hr)
		case call == "all" && (hr == nil || hr.Before == nil || len(hr.Commands) != 0 || hr.Status() == StatusApplied):
			t.Errorf("%s: its commands were reported not stored, but it reads back as %+v", h, hr)
		}
	}
	if len(r.Hosts) != len(ok)+countCall(failed, "all") {
		t.Errorf("%d hosts in the journal, want %d stored and %d with their before record only", len(r.Hosts), len(ok), countCall(failed, "all"))
	}
}

func countCall(m map[string]string, call string) int {
	n := 0
	for _, c := range m {
		if c == call {
			n++
		}
	}
	return n
}
