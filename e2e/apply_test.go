package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

// resultDoc is the contract's result JSON for apply and rollback.
type resultDoc struct {
	RunID      string `json:"run_id"`
	Kind       string `json:"kind"`
	RollbackOf string `json:"rollback_of"`
	RolledBack bool   `json:"rolled_back"`
	Stopped    string `json:"stopped"`
	Hosts      []struct {
		Host   string `json:"host"`
		Status string `json:"status"`
		Error  string `json:"error"`
		Batch  int    `json:"batch"`
	} `json:"hosts"`
	Batches []struct {
		Batch     int      `json:"batch"`
		Canary    bool     `json:"canary"`
		Healthy   bool     `json:"healthy"`
		Checked   bool     `json:"checked"`
		Unchecked []string `json:"unchecked"`
		Details   []string `json:"details"`
	} `json:"batches"`
	Summary map[string]int `json:"summary"`
}

func decodeResult(t *testing.T, r result) resultDoc {
	t.Helper()
	var d resultDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return d
}

func (d resultDoc) status(name string) string {
	for _, h := range d.Hosts {
		if h.Host == name {
			return h.Status + " " + h.Error
		}
	}
	return "absent"
}

// hostState is what a test compares before and after: the live values and
// fleettune's persisted file.
type hostState struct {
	Range, Keepalive, File string
}

func readState(t *testing.T, h *netnsfleet.Host) hostState {
	t.Helper()
	ctx := context.Background()
	r, err := h.ReadSysctl(ctx, "net.ipv4.ip_local_port_range")
	must(t, err)
	k, err := h.ReadSysctl(ctx, "net.ipv4.tcp_keepalive_time")
	must(t, err)
	file := "(absent)"
	if b, err := os.ReadFile(filepath.Join(h.EtcDir, "sysctl.d", "90-fleettune.conf")); err == nil {
		file = string(b)
	}
	return hostState{Range: strings.Join(strings.Fields(r), "-"), Keepalive: k, File: file}
}

func fleetState(t *testing.T, f *netnsfleet.Fleet) map[string]hostState {
	out := map[string]hostState{}
	for _, h := range f.Hosts {
		out[h.Name] = readState(t, h)
	}
	return out
}

// Three hosts with different starting points, one with a fleettune file
// that holds another key: apply changes every live value and persisted
// file, a second plan finds nothing to do, a second apply does nothing, and
// rollback --last restores every host exactly.
func TestApplyThenRollbackLast(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := context.Background()
	must(t, f.Host("node02").Sysctl(ctx, "net.ipv4.ip_local_port_range", "25000 50001"))
	must(t, f.Host("node03").WriteFile("sysctl.d/90-fleettune.conf", []byte("# kept by hand\nnet.ipv4.tcp_fin_timeout = 30\n")))
	must(t, f.Host("node03").WriteFile("sysctl.d/60-other.conf", []byte("net.ipv4.tcp_keepalive_time = 600\n")))
	before := fleetState(t, f)

	pb := writePlaybook(t, hygiene+"health: {watch: 0s}\nrollout: {batch: 100%}\n")
	r := run(t, "apply", "-i", f.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("apply exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	if d.Kind != "apply" || d.Summary["applied"] != 3 {
		t.Fatalf("apply result: kind %s summary %v", d.Kind, d.Summary)
	}
	for _, h := range f.Hosts {
		s := readState(t, h)
		if s.Range != "20000-60999" || s.Keepalive != "300" {
			t.Errorf("%s after apply: %+v", h.Name, s)
		}
		if !strings.Contains(s.File, "net.ipv4.ip_local_port_range = 20000 60999") || !strings.Contains(s.File, "net.ipv4.tcp_keepalive_time = 300") {
			t.Errorf("%s persisted file:\n%s", h.Name, s.File)
		}
	}
	if s := readState(t, f.Host("node03")); !strings.Contains(s.File, "# kept by hand\nnet.ipv4.tcp_fin_timeout = 30\n") {
		t.Errorf("node03: fleettune's earlier lines must be kept:\n%s", s.File)
	}
	if b, err := os.ReadFile(filepath.Join(f.Host("node03").EtcDir, "sysctl.d", "60-other.conf")); err != nil || string(b) != "net.ipv4.tcp_keepalive_time = 600\n" {
		t.Errorf("another file was touched: %q %v", b, err)
	}

	if r := run(t, "plan", "-i", f.Inventory, "-p", pb); r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("plan after apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "apply", "-i", f.Inventory, "-p", pb, "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("second apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = run(t, "rollback", "--last", "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("rollback exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rb := decodeResult(t, r)
	if rb.Kind != "rollback" || rb.RollbackOf != d.RunID || rb.Summary["rolled_back"] != 3 {
		t.Errorf("rollback result: %+v", rb)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("rollback did not restore exactly:\nbefore %+v\nafter  %+v", before, after)
	}
	// Twice is harmless.
	r = run(t, "rollback", "--run", d.RunID, "--yes", "--format", "json")
	if rb2 := decodeResult(t, r); r.code != 0 || rb2.Summary["ok"] != 3 || rb2.Summary["rolled_back"] != 0 {
		t.Errorf("second rollback: exit %d, summary %v; want 3 hosts ok (already as before)\n%s", r.code, rb2.Summary, r.stderr)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("second rollback changed something: %+v", after)
	}

	// status lists the runs.
	r = run(t, "status")
	if r.code != 0 || !strings.Contains(r.stdout, d.RunID) || !strings.Contains(r.stdout, "rollback") {
		t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func equalStates(a, b map[string]hostState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A probe that fails once the new range is live: the canary batch is found
// unhealthy and rolled back automatically, exit 3, and no later batch starts.
func TestApplyCanaryProbeFailsAutoRollback(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 4})
	before := fleetState(t, f)
	pb := writePlaybook(t, hygiene+`rollout: {batch: 1}
health:
  watch: 0s
  probe:
    linux: "! grep -q '^20000' /proc/sys/net/ipv4/ip_local_port_range"
  rollback: auto
`)
	r := run(t, "apply", "-i", f.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	if !d.RolledBack || len(d.Batches) != 1 || !d.Batches[0].Canary || d.Batches[0].Healthy {
		t.Fatalf("result: %+v", d)
	}
	if !strings.Contains(strings.Join(d.Batches[0].Details, "\n"), "node01: probe") {
		t.Errorf("details = %q; want node01's probe failure", d.Batches[0].Details)
	}
	if got := d.status("node01"); !strings.HasPrefix(got, "rolled_back") {
		t.Errorf("node01 = %s", got)
	}
	for _, n := range []string{"node02", "node03", "node04"} {
		if got := d.status(n); !strings.HasPrefix(got, "skipped") {
			t.Errorf("%s = %s; no host after the canary may be touched", n, got)
		}
		if f.Connections(n) != 1 { // the plan's read only
			t.Errorf("%s: %d connections; want only the plan's", n, f.Connections(n))
		}
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("values not restored exactly:\nbefore %+v\nafter  %+v", before, after)
	}
}

// A saved plan whose host changed since: that host is refused as stale, the
// others are applied.
func TestApplySavedPlanRefusesStaleHost(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	pb := writePlaybook(t, hygiene+"health: {watch: 0s}\nrollout: {batch: 100%}\n")
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--out", planFile); r.code != 2 {
		t.Fatalf("plan exit %d\n%s", r.code, r.stderr)
	}
	must(t, f.Host("node02").Sysctl(context.Background(), "net.ipv4.ip_local_port_range", "25000 50001"))
	r := run(t, "apply", planFile, "--yes", "--format", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	if got := d.status("node01"); !strings.HasPrefix(got, "applied") {
		t.Errorf("node01 = %s", got)
	}
	if got := d.status("node02"); !strings.Contains(got, "stale plan") || !strings.Contains(got, "25000-50001") {
		t.Errorf("node02 = %s; want refused as stale naming the new value", got)
	}
	if s := readState(t, f.Host("node02")); s.Range != "25000-50001" || s.File != "(absent)" {
		t.Errorf("the stale host was changed: %+v", s)
	}
}

// kill -9 in the middle of a rollout leaves a journal that status reads and
// rollback --last uses to restore every host that was touched.
func TestJournalSurvivesKillMidApply(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 4})
	before := fleetState(t, f)
	pb := writePlaybook(t, hygiene+"rollout: {batch: 2}\nhealth: {watch: 5m}\n")
	cmd, _ := startUntilWatching(t, "apply", "-i", f.Inventory, "-p", pb, "--yes", "--log-level", "info")
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	changed := 0
	for _, h := range f.Hosts {
		if readState(t, h).Range == "20000-60999" {
			changed++
		}
	}
	if changed != 2 {
		t.Fatalf("%d hosts changed before the kill, want the first batch of 2", changed)
	}
	r := run(t, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "interrupted") {
		t.Errorf("status after kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "rollback", "--last", "--yes")
	if r.code != 0 {
		t.Fatalf("rollback after kill: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("not restored after kill:\nbefore %+v\nafter  %+v", before, after)
	}
}

// Guarded input: no terminal and no --yes, a busy state dir, an unknown
// run, a plan file from another inventory's hosts, a corrupt state dir.
func TestApplyRefusals(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	pb := writePlaybook(t, hygiene+"health: {watch: 0s}\n")

	r := run(t, "apply", "-i", f.Inventory, "-p", pb)
	if r.code != 1 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("apply without a terminal or --yes: exit %d, stderr %q", r.code, r.stderr)
	}
	if s := readState(t, f.Host("node01")); s.File != "(absent)" {
		t.Errorf("host changed without confirmation")
	}

	r = run(t, "rollback", "--run", "20200101T000000Z-dead", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "20200101T000000Z-dead") {
		t.Errorf("rollback of an unknown run: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, "rollback", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "--last") {
		t.Errorf("rollback without --run or --last: exit %d, stderr %q", r.code, r.stderr)
	}

	bad := filepath.Join(t.TempDir(), "notstate")
	must(t, os.MkdirAll(bad, 0o755))
	must(t, os.WriteFile(filepath.Join(bad, "important.txt"), []byte("x"), 0o644))
	r = run(t, "status", "--state-dir", bad)
	if r.code != 1 || !strings.Contains(r.stderr, bad) {
		t.Errorf("status on a foreign dir: exit %d, stderr %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(bad, "important.txt")); string(b) != "x" {
		t.Errorf("a foreign dir was changed")
	}
}

// startUntilWatching starts fleettune and returns once it logs that it is
// watching a batch (the counters before the window have been read by then).
// The returned buffer fills with stdout.
func startUntilWatching(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "FLEETTUNE_STATE_DIR="+stateDir(t), "NO_COLOR=1")
	if extra, ok := testEnv.Load(t.Name()); ok {
		cmd.Env = append(cmd.Env, extra.([]string)...)
	}
	out := &syncBuffer{}
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	watching := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "watching") {
				watching <- true
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-watching:
	case <-time.After(4 * time.Minute):
		t.Fatal("apply never reached the watch window")
	}
	return cmd, out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Handshake failures seen in the kernel's counters, with no probe: while
// the canary is watched, 80 connection attempts to a closed port on the
// canary's loopback raise Tcp.AttemptFails past its threshold of 50; the
// canary is rolled back and apply exits 3.
func TestApplyCountersUnhealthyRollsBack(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	before := fleetState(t, f)
	pb := writePlaybook(t, hygiene+"rollout: {batch: 1}\nhealth: {watch: 5s, counters: true, rollback: auto}\n")
	cmd, out := startUntilWatching(t, "apply", "-i", f.Inventory, "-p", pb, "--yes", "--format", "json", "--log-level", "info")
	fails := `for i in $(seq 80); do (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; done; true`
	if o, err := f.Host("node01").Exec(context.Background(), "bash", "-c", fails); err != nil {
		t.Fatalf("making connection failures: %v %s", err, o)
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 3 {
		t.Fatalf("exit %d (%v), want 3\n%s", code, err, out.String())
	}
	d := decodeResult(t, result{stdout: out.String()})
	if !d.RolledBack || len(d.Batches) != 1 || d.Batches[0].Healthy {
		t.Fatalf("result: %+v", d)
	}
	details := strings.Join(d.Batches[0].Details, "\n")
	if !strings.Contains(details, "node01: Tcp.AttemptFails +") || !strings.Contains(details, "(threshold 50)") {
		t.Errorf("details = %q; want node01's AttemptFails over its threshold", details)
	}
	if got := d.status("node01"); !strings.HasPrefix(got, "rolled_back") {
		t.Errorf("node01 = %s", got)
	}
	if got := d.status("node02"); !strings.HasPrefix(got, "skipped") {
		t.Errorf("node02 = %s", got)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("values not restored exactly:\nbefore %+v\nafter  %+v", before, after)
	}
}

// Ctrl-C during a rollout: the batch in flight ends cleanly, no new batch
// starts, the run is journaled as interrupted, and a second fleettune could
// not start while the first held the state dir. rollback --last then
// restores what the first batch changed.
func TestApplyInterruptedAndLocked(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 4})
	before := fleetState(t, f)
	pb := writePlaybook(t, hygiene+"rollout: {batch: 2}\nhealth: {watch: 10m}\n")
	cmd, out := startUntilWatching(t, "apply", "-i", f.Inventory, "-p", pb, "--yes", "--log-level", "info")

	r := run(t, "apply", "-i", f.Inventory, "-p", pb, "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "in progress") {
		t.Errorf("a second apply while the first runs: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, "rollback", "--last", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "in progress") {
		t.Errorf("a rollback while an apply runs: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, "status"); r.code != 0 || !strings.Contains(r.stdout, "running") {
		t.Errorf("status while an apply runs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	must(t, cmd.Process.Signal(os.Interrupt))
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("interrupted apply: %v, want exit status 1", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("apply did not end within a minute of Ctrl-C")
	}
	if o := out.String(); !strings.Contains(o, "Stopped:") || !strings.Contains(o, "2 applied") {
		t.Errorf("interrupted apply's output:\n%s", o)
	}
	changed := 0
	for _, h := range f.Hosts {
		if readState(t, h).Range == "20000-60999" {
			changed++
		}
	}
	if changed != 2 {
		t.Errorf("%d hosts changed, want the first batch of 2", changed)
	}
	if r := run(t, "status"); !strings.Contains(r.stdout, "interrupted") {
		t.Errorf("status after Ctrl-C:\n%s", r.stdout)
	}
	if r := run(t, "rollback", "--last", "--yes"); r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("not restored:\nbefore %+v\nafter  %+v", before, after)
	}
}

// A saved plan applies only to the inventory it was made from.
func TestApplyPlanFromAnotherInventory(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	pb := writePlaybook(t, hygiene+"health: {watch: 0s}\n")
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--out", planFile); r.code != 2 {
		t.Fatalf("plan exit %d\n%s", r.code, r.stderr)
	}
	inv, err := os.ReadFile(f.Inventory)
	must(t, err)
	other := filepath.Join(t.TempDir(), "other.yaml")
	must(t, os.WriteFile(other, append(inv, []byte("# another inventory\n")...), 0o644))
	r := run(t, "apply", planFile, "-i", other, "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "another inventory") || !strings.Contains(r.stderr, other) {
		t.Errorf("plan with another inventory: exit %d, stderr %q", r.code, r.stderr)
	}
	// The inventory itself changed since the plan: refused too.
	must(t, os.WriteFile(f.Inventory, append(inv, []byte("# edited\n")...), 0o644))
	r = run(t, "apply", planFile, "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "changed since") {
		t.Errorf("plan after the inventory changed: exit %d, stderr %q", r.code, r.stderr)
	}
	if s := readState(t, f.Host("node01")); s.File != "(absent)" || s.Range == "20000-60999" {
		t.Errorf("host changed by a refused plan: %+v", s)
	}
}

// Rolling back an older run over a later one says so: the later run's
// values go too.
func TestRollbackOlderRunWarnsOfLaterApply(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	before := fleetState(t, f)
	first := decodeResult(t, run(t, "apply", "-i", f.Inventory, "-p", writePlaybook(t, hygiene+"health: {watch: 0s}\n"), "--yes", "--format", "json"))
	second := writePlaybook(t, "name: wider\ntargets: {ephemeral_ports: 15000-60999}\nhealth: {watch: 0s}\n")
	if r := run(t, "apply", "-i", f.Inventory, "-p", second, "--yes"); r.code != 0 {
		t.Fatalf("second apply: exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, "rollback", "--run", first.RunID, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "later applies changed these hosts too") || !strings.Contains(r.stderr, "node01 (run ") {
		t.Errorf("rollback of the older run: exit %d, stderr %q", r.code, r.stderr)
	}
	if after := fleetState(t, f); !equalStates(before, after) {
		t.Errorf("the older run's rollback restores what was there before it:\nbefore %+v\nafter  %+v", before, after)
	}
}
