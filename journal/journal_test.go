package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func TestRoundTripConcurrent(t *testing.T) {
	s := newStore(t)
	start := time.Date(2026, 11, 22, 17, 15, 0, 0, time.UTC)
	hdr := Header{
		ID: "20261122T171500Z-3f2a", Kind: KindApply, Started: start, Version: "fleettune 0.3.0",
		Inventory:  &FileRef{Path: "/ops/inventory.yaml", Digest: Digest([]byte("inv"))},
		Playbook:   &FileRef{Path: "/ops/playbook.yaml", Digest: Digest([]byte("pb")), Name: "port-hygiene"},
		PlanFile:   &FileRef{Path: "/ops/plan.json", Digest: Digest([]byte("plan"))},
		Limit:      "web,!web03",
		RollbackOf: "",
		Batch:      "25%",
		Watch:      Duration(2 * time.Minute),
	}
	w, err := s.Create(hdr)
	if err != nil {
		t.Fatal(err)
	}
	const hosts, cmds = 16, 3
	var wg sync.WaitGroup
	errs := make(chan error, hosts*10)
	for i := 0; i < hosts; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("web%02d", i)
			h := sampleHost(name)
			recs := []Record{BeforeRecord{Conn: Conn(h), OS: "linux", BootID: "boot-" + name, Changes: sampleChanges(), Targets: sampleTargets(), Snapshot: sampleSnapshot(name)}}
			for c := 0; c < cmds; c++ {
				recs = append(recs, &CommandRecord{Host: name, Phase: PhaseApply, Cmd: fmt.Sprintf("cmd %d", c), Exit: c, Stderr: "err " + name})
			}
			recs = append(recs, ResultRecord{Host: name, Status: StatusApplied, Batch: 1 + i/4, RebootRequired: i%2 == 1, RebootReason: "persisted only", BootID: "boot-" + name})
			if i%4 == 1 {
				recs = append(recs, RebootRecord{Host: name, BootID: "boot2-" + name, Verified: true})
			}
			for _, r := range recs {
				if err := w.Append(r); err != nil {
					errs <- err
				}
			}
			if i < 4 {
				if err := w.Append(HealthRecord{Batch: i + 1, Hosts: []string{name}, Checked: true, Healthy: i != 3, Details: []string{"TcpExt.ListenDrops +12 > 10"}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Append(EndRecord{Status: EndDone, Summary: map[string]int{"applied": hosts}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := s.Load(hdr.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Header
	if got.User == "" || got.OperatorHost == "" || got.PID != os.Getpid() {
		t.Errorf("header user/host/pid not filled: %+v", got)
	}
	got.User, got.OperatorHost, got.PID = "", "", 0
	if !reflect.DeepEqual(got, hdr) {
		t.Errorf("header = %+v\nwant     %+v", got, hdr)
	}
	if len(r.Hosts) != hosts || r.Torn || !r.Finished() || r.End.Status != EndDone || r.Path != w.Path() {
		t.Fatalf("hosts=%d torn=%v end=%+v path=%s", len(r.Hosts), r.Torn, r.End, r.Path)
	}
	for i := 0; i < hosts; i++ {
		name := fmt.Sprintf("web%02d", i)
		h := r.Host(name)
		if h == nil {
			t.Fatalf("no host %s", name)
		}
		if !reflect.DeepEqual(h.Conn, sampleHost(name)) {
			t.Errorf("%s conn = %+v", name, h.Conn)
		}
		if h.Before == nil || !reflect.DeepEqual(*h.Before, sampleSnapshot(name)) {
			t.Errorf("%s before = %+v", name, h.Before)
		}
		if !reflect.DeepEqual(h.Targets, sampleTargets()) || !reflect.DeepEqual(h.Changes, sampleChanges()) {
			t.Errorf("%s targets %+v changes %+v", name, h.Targets, h.Changes)
		}
		if h.OS != "linux" || h.BootID != "boot-"+name {
			t.Errorf("%s os %q boot %q", name, h.OS, h.BootID)
		}
		if len(h.Commands) != cmds {
			t.Fatalf("%s: %d commands", name, len(h.Commands))
		}
		for c, cr := range h.Commands {
			if cr.Cmd != fmt.Sprintf("cmd %d", c) || cr.Exit != c || cr.Host != name || cr.Time.IsZero() {
				t.Errorf("%s command %d = %+v", name, c, cr)
			}
		}
		if h.Result == nil || h.Result.Status != StatusApplied || h.Result.Batch != 1+i/4 {
			t.Errorf("%s result %+v", name, h.Result)
		}
		wantPending := i%2 == 1 && i%4 != 1
		if h.RebootPending != wantPending || (h.RebootCleared != nil) != (i%4 == 1) {
			t.Errorf("%s pending=%v cleared=%v", name, h.RebootPending, h.RebootCleared)
		}
	}
	if len(r.Health) != 4 {
		t.Errorf("health = %+v", r.Health)
	}
	c := r.Counts()
	if c["hosts"] != hosts || c[string(StatusApplied)] != hosts || c["reboot_pending"] != 4 || c["no_result"] != 0 {
		t.Errorf("counts = %v", c)
	}
	// 1 header + per host (before + commands + result) + 4 reboots + 4 health + end.
	ls := lines(t, w.Path())
	if want := 1 + hosts*(cmds+2) + 4 + 4 + 1; len(ls) != want {
		t.Errorf("%d lines, want %d", len(ls), want)
	}
	for i, l := range ls {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if typ, _ := m["type"].(string); typ == "" || !bytes.HasPrefix(l, []byte(`{"type":"`+typ+`"`)) {
			t.Errorf("line %d: type must come first: %s", i+1, l)
		}
	}
}

// Conn and Targets are the journal's own JSON forms of inventory.Host and
// platform.Targets; a field added to either must not be silently dropped.
func TestConnAndTargetsKeepEveryField(t *testing.T) {
	var n int
	var h inventory.Host
	fill(t, reflect.ValueOf(&h).Elem(), &n)
	b, err := json.Marshal(Conn(h))
	if err != nil {
		t.Fatal(err)
	}
	var c Conn
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inventory.Host(c), h) {
		t.Errorf("inventory.Host does not survive the journal:\n got %+v\nwant %+v\njson %s", inventory.Host(c), h, b)
	}
	if strings.Contains(strings.ToLower(string(b)), `"password"`) {
		t.Errorf("conn JSON has a password field: %s", b)
	}

	var tg platform.Targets
	fill(t, reflect.ValueOf(&tg).Elem(), &n)
	b, err = json.Marshal(tg)
	if err != nil {
		t.Fatal(err)
	}
	var tj platform.Targets
	if err := json.Unmarshal(b, &tj); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tj, tg) {
		t.Errorf("platform.Targets does not survive the journal:\n got %+v\nwant %+v\njson %s", tj, tg, b)
	}
	// The operator's form, readable with jq.
	b, _ = json.Marshal(sampleTargets())
	if want := `{"ephemeral_ports":"10240-65535","time_wait":"30s","keepalive_time":"5m0s","native":{"net.ipv4.tcp_tw_reuse":"1"}}`; string(b) != want {
		t.Errorf("targets JSON = %s\nwant %s", b, want)
	}
}

func TestCrashKillLeavesReadableJournal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261122T171500Z-dead"
	cmd := helper(t, "append", dir, id)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	path := s.RunPath(id)
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if bytes.Count(data, []byte("\n")) > 300 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("helper did not write 300 lines in 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("helper ended with %v, want killed", err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	complete := bytes.Count(data, []byte("\n")) // lines with their newline
	r, err := s.Load(id)
	if err != nil {
		t.Fatalf("Load after kill -9: %v", err)
	}
	var got []string
	for _, h := range r.Hosts {
		for _, c := range h.Commands {
			got = append(got, c.Cmd)
		}
	}
	if len(got) != complete-1 {
		t.Errorf("%d command records, the file has %d complete lines after the header", len(got), complete-1)
	}
	seen := map[string]bool{}
	for _, c := range got {
		seen[c] = true
	}
	for i := 0; i < len(got); i++ {
		if !seen[fmt.Sprintf("cmd-%d", i)] {
			t.Fatalf("cmd-%d missing of %d", i, len(got))
		}
	}
	if torn := len(data) > 0 && data[len(data)-1] != '\n'; r.Torn != torn {
		t.Errorf("Torn = %v, file ends torn: %v", r.Torn, torn)
	}
	if r.Finished() {
		t.Error("a killed run must not be finished")
	}
	// The run can be closed afterwards, and stays readable.
	if err := s.AppendTo(id, EndRecord{Status: EndInterrupted}); err != nil {
		t.Fatal(err)
	}
	r, err = s.Load(id)
	if err != nil || r.Torn || r.End == nil || r.End.Status != EndInterrupted {
		t.Fatalf("after AppendTo: %v torn=%v end=%+v", err, r != nil && r.Torn, r)
	}
}

// writeRun makes a finished run with two hosts and returns its path.
func writeRun(t *testing.T, s *Store, id, kind string, started time.Time) string {
	t.Helper()
	w, err := s.Create(Header{ID: id, Kind: kind, Started: started})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		for _, r := range []Record{
			BeforeRecord{Conn: Conn(sampleHost(n)), OS: "linux", Snapshot: sampleSnapshot(n)},
			CommandRecord{Host: n, Phase: PhaseApply, Cmd: "sysctl -w x=1"},
			ResultRecord{Host: n, Status: StatusApplied, RebootRequired: true, RebootReason: "at next boot"},
		} {
			if err := w.Append(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Append(EndRecord{Status: EndDone}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Path()
}

func TestTornLastLine(t *testing.T) {
	s := newStore(t)
	path := writeRun(t, s, "20261122T171500Z-0001", KindApply, time.Now())
	data, _ := os.ReadFile(path)
	lastStart := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	for name, torn := range map[string][]byte{
		"cut mid-line":       data[:lastStart+10],
		"cut before its \\n": data[:len(data)-2],
		"zeros (power cut)":  append(append([]byte{}, data[:lastStart]...), make([]byte, 300)...),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, torn, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := s.Load("20261122T171500Z-0001")
			if err != nil {
				t.Fatal(err)
			}
			if !r.Torn || r.End != nil || len(r.Hosts) != 2 || r.Host("b").Result == nil {
				t.Fatalf("torn=%v end=%+v hosts=%d", r.Torn, r.End, len(r.Hosts))
			}
			// Appending cuts the torn tail first: it must not end up mid-file.
			if err := s.AppendTo("20261122T171500Z-0001", EndRecord{Status: EndInterrupted}); err != nil {
				t.Fatal(err)
			}
			r, err = s.Load("20261122T171500Z-0001")
			if err != nil || r.Torn || r.End == nil || r.End.Status != EndInterrupted {
				t.Fatalf("after AppendTo: err=%v run=%+v", err, r)
			}
			if n := len(lines(t, path)); n != 8 {
				t.Errorf("%d lines after repair, want 8", n)
			}
		})
	}
}

func TestCorruptLineInTheMiddle(t *testing.T) {
	s := newStore(t)
	writeRun(t, s, "20261122T100000Z-0001", KindApply, time.Now())
	path := writeRun(t, s, "20261122T110000Z-0002", KindApply, time.Now())
	ls := lines(t, path)
	ls = append(ls[:3], append([][]byte{[]byte("garbage {")}, ls[3:]...)...)
	if err := os.WriteFile(path, append(bytes.Join(ls, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load("20261122T110000Z-0002")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path+":4:") {
		t.Fatalf("Load = %v; want ErrCorrupt naming %s:4", err, path)
	}
	// An unknown record type is corruption too, and so is a missing header.
	for name, content := range map[string]string{
		"unknown type": string(ls[0]) + "\n" + `{"type":"frobnicate"}` + "\n" + string(ls[1]) + "\n",
		"no header":    string(ls[1]) + "\n" + string(ls[2]) + "\n",
		"empty":        "",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load("20261122T110000Z-0002"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Load = %v; want ErrCorrupt", name, err)
		}
	}
	// Runs still lists both, the bad one with Err; AppendTo refuses it.
	if err := os.WriteFile(path, append(bytes.Join(ls, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs()
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs = %d, %v", len(runs), err)
	}
	if runs[0].Err != nil || !errors.Is(runs[1].Err, ErrCorrupt) || runs[1].ID() != "20261122T110000Z-0002" || runs[1].Header.Kind != KindApply {
		t.Errorf("runs: %v / %v %+v", runs[0].Err, runs[1].Err, runs[1].Header)
	}
	// The newest apply is unreadable: Last says so instead of picking an older one.
	if r, err := s.Last(KindApply); !errors.Is(err, ErrCorrupt) || r == nil || r.ID() != "20261122T110000Z-0002" {
		t.Errorf("Last = %v, %v", r, err)
	}
	if err := s.AppendTo("20261122T110000Z-0002", EndRecord{Status: EndDone}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("AppendTo a corrupt run = %v", err)
	}
}

func TestLockSameProcess(t *testing.T) {
	s := newStore(t)
	lk, err := s.Lock("20261122T171500Z-3f2a", KindApply)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Lock("20261122T171501Z-0000", KindRollback)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v; want ErrLocked", err)
	}
	msg := err.Error()
	for _, want := range []string{"state dir " + s.Dir() + " is locked by fleettune pid " + strconv.Itoa(os.Getpid()), "run 20261122T171500Z-3f2a, apply, started ", "wait for it to finish"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatalf("second unlock: %v", err)
	}
	lk, err = s.Lock("", "status")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	lk.Unlock()
}

func TestStaleLockFileDoesNotBlock(t *testing.T) {
	s := newStore(t)
	stale, _ := json.Marshal(LockInfo{PID: 999999, Run: "20200101T000000Z-0000", Kind: KindApply, User: "bob", Host: "gone", Started: time.Now().Add(-time.Hour)})
	if err := os.WriteFile(filepath.Join(s.Dir(), lockFile), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	lk, err := s.Lock("20261122T171500Z-3f2a", KindApply)
	if err != nil {
		t.Fatalf("stale lock file blocked: %v", err)
	}
	defer lk.Unlock()
	info := readLockInfo(filepath.Join(s.Dir(), lockFile))
	if info == nil || info.PID != os.Getpid() || info.Run != "20261122T171500Z-3f2a" {
		t.Errorf("lock file holds %+v, want this process", info)
	}
}

func TestLockAcrossProcesses(t *testing.T) {
	s := newStore(t)
	for _, end := range []string{"unlock", "kill -9"} {
		t.Run(end, func(t *testing.T) {
			cmd := helper(t, "lock", s.Dir(), "20261122T171500Z-c41d")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "locked\n" {
				t.Fatalf("helper said %q, %v", l, err)
			}
			_, err := s.Lock("20261122T171600Z-0000", KindApply)
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d (run 20261122T171500Z-c41d, apply", cmd.Process.Pid)) {
				t.Fatalf("Lock while another process holds it = %v", err)
			}
			if end == "unlock" {
				stdin.Close()
			} else {
				syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			}
			cmd.Wait()
			lk, err := s.Lock("20261122T171600Z-0000", KindApply)
			if err != nil {
				t.Fatalf("Lock after the holder ended (%s): %v", end, err)
			}
			lk.Unlock()
		})
	}
}

func TestOpen(t *testing.T) {
	base := t.TempDir()
	t.Run("new dir and missing parents", func(t *testing.T) {
		dir := filepath.Join(base, "a", "b", "state")
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("mode %v, %v; want 0700", st.Mode(), err)
		}
		v, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
		if string(v) != "fleettune-journal 1\n" {
			t.Errorf("VERSION = %q", v)
		}
		if s.Dir() != dir {
			t.Errorf("Dir = %s", s.Dir())
		}
		// Opening again is fine, and keeps what is there.
		writeRun(t, s, "20261122T171500Z-0001", KindApply, time.Now())
		s2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Load("20261122T171500Z-0001"); err != nil {
			t.Error(err)
		}
	})
	t.Run("existing empty dir", func(t *testing.T) {
		dir := filepath.Join(base, "empty")
		os.Mkdir(dir, 0o755)
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "VERSION")); err != nil {
			t.Error(err)
		}
	})
	t.Run("unrelated files", func(t *testing.T) {
		dir := filepath.Join(base, "home")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
		_, err := Open(dir)
		if err == nil || !strings.Contains(err.Error(), "not a fleettune state dir") {
			t.Fatalf("Open = %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "VERSION")); err == nil {
			t.Error("Open wrote VERSION into a foreign dir")
		}
	})
	for name, c := range map[string]struct{ version, want string }{
		"newer":   {"fleettune-journal 2\n", "written by a newer fleettune"},
		"foreign": {"something else\n", "not a fleettune state dir"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(base, name)
			os.Mkdir(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "VERSION"), []byte(c.version), 0o600)
			if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open = %v; want %q", err, c.want)
			}
		})
	}
}

func TestRunsLastAndUnknown(t *testing.T) {
	s := newStore(t)
	if _, err := s.Last(KindApply); !errors.Is(err, ErrUnknownRun) {
		t.Fatalf("Last on an empty dir = %v", err)
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// Created out of order; two in the same second.
	writeRun(t, s, "20261122T120000Z-ffff", KindRollback, t0.Add(2*time.Hour))
	writeRun(t, s, "20261122T100000Z-bbbb", KindApply, t0.Add(1*time.Millisecond))
	writeRun(t, s, "20261122T100000Z-aaaa", KindApply, t0.Add(2*time.Millisecond))
	writeRun(t, s, "20261122T110000Z-0000", KindApply, t0.Add(time.Hour))
	os.WriteFile(filepath.Join(s.Dir(), runsDir, "notes.txt"), []byte("x"), 0o600)
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID())
	}
	if want := "20261122T100000Z-bbbb 20261122T100000Z-aaaa 20261122T110000Z-0000 20261122T120000Z-ffff"; strings.Join(ids, " ") != want {
		t.Errorf("Runs = %v, want %s", ids, want)
	}
	if r, err := s.Last(KindApply); err != nil || r.ID() != "20261122T110000Z-0000" {
		t.Errorf("Last(apply) = %v, %v", r, err)
	}
	if r, err := s.Last(KindRollback); err != nil || r.ID() != "20261122T120000Z-ffff" {
		t.Errorf("Last(rollback) = %v, %v", r, err)
	}
	_, err = s.Load("20261122T171500Z-9999")
	if !errors.Is(err, ErrUnknownRun) || !strings.Contains(err.Error(), "no run 20261122T171500Z-9999") || !strings.Contains(err.Error(), "fleettune status lists runs") {
		t.Errorf("Load unknown = %v", err)
	}
	for _, bad := range []string{"../VERSION", "../../etc/passwd", "", ".hidden", "a/b"} {
		if _, err := s.Load(bad); !errors.Is(err, ErrUnknownRun) || !strings.Contains(err.Error(), "invalid run id") {
			t.Errorf("Load(%q) = %v", bad, err)
		}
		if err := s.AppendTo(bad, EndRecord{Status: EndDone}); err == nil {
			t.Errorf("AppendTo(%q) accepted", bad)
		}
	}
	if err := s.AppendTo("20261122T171500Z-9999", EndRecord{Status: EndDone}); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("AppendTo unknown = %v", err)
	}
}

func TestCreateRefusesExistingID(t *testing.T) {
	s := newStore(t)
	path := writeRun(t, s, "20261122T171500Z-3f2a", KindApply, time.Now())
	before, _ := os.ReadFile(path)
	if _, err := s.Create(Header{ID: "20261122T171500Z-3f2a", Kind: KindApply}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Create over an existing run = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("Create changed the existing run")
	}
	if _, err := s.Create(Header{Kind: "plan"}); err == nil {
		t.Error("Create accepted kind plan")
	}
	w, err := s.Create(Header{Kind: KindRollback, RollbackOf: "20261122T171500Z-3f2a"})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if r, err := s.Load(w.ID()); err != nil || r.Header.RollbackOf != "20261122T171500Z-3f2a" || r.Finished() {
		t.Errorf("generated id %s: %v %+v", w.ID(), err, r)
	}
}

func TestRebootPendingClearedOnlyByVerifiedReboot(t *testing.T) {
	s := newStore(t)
	const id = "20261122T171500Z-3f2a"
	writeRun(t, s, id, KindApply, time.Now())
	r, _ := s.Load(id)
	if !r.Host("a").RebootPending || !r.Host("b").RebootPending {
		t.Fatal("reboot_required result must leave the host pending")
	}
	if err := s.AppendTo(id, RebootRecord{Host: "a", BootID: "new", Verified: false, Detail: "net.ipv4.ip_local_port_range is 32768-60999, want 10240-65535"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTo(id, &RebootRecord{Host: "b", BootID: "new", Verified: true}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	a, b := r.Host("a"), r.Host("b")
	if !a.RebootPending || a.RebootCleared != nil || len(a.Reboots) != 1 {
		t.Errorf("unverified reboot cleared a: %+v", a)
	}
	if b.RebootPending || b.RebootCleared == nil || b.RebootCleared.BootID != "new" {
		t.Errorf("verified reboot did not clear b: %+v", b)
	}
	if n := len(lines(t, r.Path)); n != 10 {
		t.Errorf("%d lines, want 10", n)
	}
	// A later run that rolled a back supersedes the pending reboot.
	w, _ := s.Create(Header{ID: "20261122T181500Z-0000", Kind: KindRollback, RollbackOf: id})
	w.Append(ResultRecord{Host: "a", Status: StatusFailed, Error: "unreachable"})
	runs, _ := s.Runs()
	if p := PendingReboots(runs); len(p) != 1 || p[0].Host.Host != "a" || p[0].Run.ID() != id {
		t.Errorf("pending after a failed rollback = %+v", p)
	}
	w.Append(ResultRecord{Host: "a", Status: StatusRolledBack})
	w.Close()
	runs, _ = s.Runs()
	if p := PendingReboots(runs); len(p) != 0 {
		t.Errorf("pending after a rollback = %+v", p)
	}
}

func TestAppendValidatesAndBounds(t *testing.T) {
	s := newStore(t)
	w, err := s.Create(Header{ID: "20261122T171500Z-3f2a", Kind: KindApply})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Record{
		ResultRecord{Host: "a", Status: "changes"},
		CommandRecord{Host: "a", Phase: "plan", Cmd: "x"},
		EndRecord{Status: "ok"},
		BeforeRecord{},
		Header{ID: "x", Kind: KindApply},
		nil,
	} {
		if err := w.Append(bad); err == nil {
			t.Errorf("Append(%#v) accepted", bad)
		}
	}
	long := strings.Repeat("é", MaxOutput) // 2 bytes a rune
	if err := w.Append(CommandRecord{Host: "a", Phase: PhaseRestore, Cmd: "x", Exit: -1, Stderr: long, Error: long}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := w.Append(EndRecord{Status: EndDone}); err == nil {
		t.Error("Append after Close accepted")
	}
	r, err := s.Load(w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(lines(t, w.Path())); n != 2 {
		t.Errorf("%d lines: rejected records were written", n)
	}
	c := r.Host("a").Commands[0]
	if len(c.Stderr) > MaxOutput || len(c.Error) > MaxOutput || !strings.HasSuffix(c.Stderr, "…[truncated]") || !strings.HasPrefix(c.Stderr, "éé") {
		t.Errorf("stderr not bounded: %d bytes, %q...", len(c.Stderr), c.Stderr[:10])
	}
}
