package playbooks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// kvHost is a fake host with one knob, "range", live and persisted, and a
// counter that rises when told to. Its "OS" is served by kvDriver.
type kvHost struct {
	mu        sync.Mutex
	live      string
	persisted string // "" = not persisted
	counter   int64
	// rise is added to the counter on every read once the live range is
	// not the original: handshake failures after the change.
	rise     int64
	original string
	probeBad bool // probe fails while the range is changed
	// probeMissing: the probe is not installed (the shell exits 127).
	probeMissing bool
	failCmd      string // a command prefix that exits 1
	// bootOnly: the knob cannot change at runtime; what is persisted
	// becomes live at the next boot.
	bootOnly bool
	cmds     []string
}

func (h *kvHost) Run(ctx context.Context, cmd string) (remote.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = append(h.cmds, cmd)
	if h.failCmd != "" && strings.HasPrefix(cmd, h.failCmd) {
		return remote.Result{ExitCode: 1, Stderr: []byte("permission denied\n")}, nil
	}
	f := strings.Fields(cmd)
	switch f[0] {
	case "get":
		return remote.Result{Stdout: []byte(fmt.Sprintf("live=%s\npersisted=%s\nbootonly=%t\n", h.live, h.persisted, h.bootOnly))}, nil
	case "set":
		if h.bootOnly {
			return remote.Result{ExitCode: 1, Stderr: []byte("range: not run-time settable\n")}, nil
		}
		h.live = f[1]
	case "persist":
		h.persisted = f[1]
	case "unpersist":
		h.persisted = ""
	case "counters":
		if h.live != h.original {
			h.counter += h.rise
		}
		return remote.Result{Stdout: []byte(strconv.FormatInt(h.counter, 10))}, nil
	case "command": // command -v -- 'probe'
		if h.probeMissing {
			return remote.Result{ExitCode: 1}, nil
		}
	case "probe":
		if h.probeMissing {
			return remote.Result{ExitCode: 127, Stderr: []byte("sh: probe: not found\n")}, nil
		}
		if h.probeBad && h.live != h.original {
			return remote.Result{ExitCode: 2, Stderr: []byte("handshake failed: connection reset\n")}, nil
		}
	default:
		return remote.Result{ExitCode: 127}, nil
	}
	return remote.Result{}, nil
}

func (h *kvHost) Close() error { return nil }

func (h *kvHost) commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.cmds...)
}

type kvDriver struct{}

var _ platform.Driver = kvDriver{}

func (kvDriver) OS() string { return "linux" }

func (kvDriver) Capabilities() platform.Capabilities { return platform.Capabilities{Counters: true} }

func (kvDriver) Gather(ctx context.Context, r platform.Runner, _ []string) (*platform.Facts, error) {
	res, err := r.Run(ctx, "get")
	if err != nil {
		return nil, err
	}
	f := &platform.Facts{OS: "linux", BootID: "boot-1", Knobs: map[string]platform.Knob{}, TimeWait: -1}
	k := platform.Knob{Name: "range"}
	for _, l := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		key, v, _ := strings.Cut(l, "=")
		switch key {
		case "live":
			k.Live = v
		case "persisted":
			k.AtBoot, k.AtBootSet = v, v != ""
		case "bootonly":
			if v == "true" {
				k.Source = "boot-only"
			}
		}
	}
	f.Knobs["range"] = k
	return f, nil
}

func (kvDriver) Propose(f *platform.Facts, t platform.Targets, _ platform.Guardrails) platform.Proposal {
	k := f.Knobs["range"]
	if t.EphemeralPorts == nil {
		return platform.Proposal{}
	}
	want := t.EphemeralPorts.String()
	if k.Live == want && k.AtBoot == want {
		return platform.Proposal{}
	}
	c := platform.Change{Setting: "ephemeral_ports", Knob: "range", Current: k.Live, Target: want}
	switch {
	case k.Source == "boot-only":
		c.RebootRequired, c.RebootReason = true, "range is not run-time settable"
		if k.AtBoot != want {
			c.Persist = "persist " + want
		}
	case k.Live != want:
		c.Commands = []string{"set " + want}
	}
	if t.EphemeralPorts.Low < 1024 {
		c.Refused = "below 1024"
	}
	return platform.Proposal{Changes: []platform.Change{c}}
}

func (kvDriver) Snapshot(f *platform.Facts, _ []platform.Change) platform.Snapshot {
	k := f.Knobs["range"]
	return platform.Snapshot{Knobs: map[string]platform.KnobState{"range": {Live: k.Live, AtBoot: k.AtBoot, AtBootSet: k.AtBootSet}}}
}

func (kvDriver) ApplyCommands(f *platform.Facts, cs []platform.Change) ([]string, error) {
	var out []string
	for _, c := range cs {
		if c.Refused != "" {
			return nil, fmt.Errorf("refused")
		}
		out = append(out, c.Commands...)
		out = append(out, "persist "+c.Target)
	}
	return out, nil
}

func (kvDriver) RestoreCommands(f *platform.Facts, s platform.Snapshot) ([]string, error) {
	k, want := f.Knobs["range"], s.Knobs["range"]
	var out []string
	if k.Live != want.Live {
		out = append(out, "set "+want.Live)
	}
	switch {
	case !want.AtBootSet && k.AtBootSet:
		out = append(out, "unpersist")
	case want.AtBootSet && k.AtBoot != want.AtBoot:
		out = append(out, "persist "+want.AtBoot)
	}
	return out, nil
}

func (kvDriver) Differences(f *platform.Facts, s platform.Snapshot) []string {
	k, want := f.Knobs["range"], s.Knobs["range"]
	if k.Live != want.Live || k.AtBoot != want.AtBoot {
		return []string{fmt.Sprintf("range live %s at boot %q, was %s at boot %q", k.Live, k.AtBoot, want.Live, want.AtBoot)}
	}
	return nil
}

func (kvDriver) Counters(ctx context.Context, r platform.Runner) (platform.Counters, error) {
	res, err := r.Run(ctx, "counters")
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("counters: exit %d", res.ExitCode)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64)
	return platform.Counters{"Tcp.AttemptFails": n}, nil
}

func (kvDriver) Thresholds() map[string]int64 { return map[string]int64{"Tcp.AttemptFails": 50} }

// memJournal records what the engine journals, in order.
type memJournal struct {
	mu     sync.Mutex
	events []string
	before map[string]platform.Snapshot
}

func (j *memJournal) add(s string) { j.mu.Lock(); j.events = append(j.events, s); j.mu.Unlock() }
func (j *memJournal) Before(b BeforeRecord) error {
	j.mu.Lock()
	if j.before == nil {
		j.before = map[string]platform.Snapshot{}
	}
	j.before[b.Host.Name] = b.Snapshot
	j.mu.Unlock()
	j.add("before " + b.Host.Name)
	return nil
}
func (j *memJournal) Record(cmds []CommandRecord, results []HostOutcome) error {
	for _, c := range cmds {
		j.add(fmt.Sprintf("command %s %s %s exit %d", c.Host, c.Phase, c.Cmd, c.Exit))
	}
	for _, r := range results {
		j.add("result " + r.Host + " " + string(r.Status))
	}
	return nil
}
func (j *memJournal) Health(b BatchOutcome) error {
	j.add(fmt.Sprintf("health batch %d healthy=%v", b.Number, b.Healthy))
	return nil
}

func (j *memJournal) eventsFor(host string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for _, e := range j.events {
		if strings.Contains(e, " "+host+" ") || strings.HasSuffix(e, " "+host) {
			out = append(out, e)
		}
	}
	return out
}

type kvFleet struct {
	hosts map[string]*kvHost
	names []string
}

func newKVFleet(n int, setup func(i int, h *kvHost)) *kvFleet {
	f := &kvFleet{hosts: map[string]*kvHost{}}
	for i := range n {
		name := fmt.Sprintf("h%02d", i+1)
		h := &kvHost{live: "32768-60999", original: "32768-60999", rise: 0}
		if setup != nil {
			setup(i, h)
		}
		f.hosts[name] = h
		f.names = append(f.names, name)
	}
	return f
}

func (f *kvFleet) inventory() []*inventory.Host {
	var hs []*inventory.Host
	for _, n := range f.names {
		hs = append(hs, &inventory.Host{Name: n, OS: "linux", Groups: []string{"all"}, Transport: "ssh"})
	}
	return hs
}

func (f *kvFleet) engine(j Journal) *Engine {
	return &Engine{
		Dial: func(ctx context.Context, h *inventory.Host) (remote.Session, error) {
			kh, ok := f.hosts[h.Name]
			if !ok {
				return nil, &remote.Error{Host: h.Name, Kind: remote.ErrUnreachable}
			}
			return kh, nil
		},
		Journal: j,
		Forks:   4,
		Driver:  func(string) (platform.Driver, error) { return kvDriver{}, nil },
		Sleep:   func(context.Context, time.Duration) error { return nil },
	}
}

// plan plans the fleet for ephemeral_ports r with the real planner, as
// plan --out would save it.
func (f *kvFleet) plan(t *testing.T, r string) *Plan {
	t.Helper()
	pr, err := platform.ParsePortRange(r)
	if err != nil {
		t.Fatal(err)
	}
	e := f.engine(nil)
	pl := &Planner{Dial: e.Dial, Driver: e.Driver, Forks: 4}
	pb := &Playbook{Name: "kv", Targets: Targets{EphemeralPorts: &pr}, Health: Health{Counters: true, Rollback: RollbackAuto}}
	p, err := pl.Plan(context.Background(), f.inventory(), pb)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func expected(p *Plan) map[string]HostPlan {
	m := map[string]HostPlan{}
	for _, h := range p.Hosts {
		m[h.Host] = h
	}
	return m
}

func rangeOptions(r string, batch Batch, h Health) ApplyOptions {
	pr, err := platform.ParsePortRange(r)
	if err != nil {
		panic(err)
	}
	if h.Unchecked == "" {
		// The tests of the rollout itself allow hosts without a health
		// check; the health tests say what they want.
		h.Unchecked = UncheckedAllow
	}
	return ApplyOptions{
		Targets: func(*inventory.Host, string) (platform.Targets, error) {
			return platform.Targets{EphemeralPorts: &pr}, nil
		},
		Batch:  Ramp{batch},
		Watch:  time.Minute,
		Health: h,
	}
}

func TestApplyChangesJournalsFirstAndVerifies(t *testing.T) {
	f := newKVFleet(3, func(i int, h *kvHost) {
		if i == 2 {
			h.live, h.persisted = "20000-60999", "20000-60999" // already converged
		}
	})
	j := &memJournal{}
	out := f.engine(j).Apply(context.Background(), "run-1", f.inventory(), rangeOptions("20000-60999", Batch{}, Health{Counters: true}))
	if out.ExitCode() != 0 || out.Summary.Applied != 2 || out.Summary.OK != 1 {
		t.Fatalf("summary %+v exit %d", out.Summary, out.ExitCode())
	}
	for _, n := range []string{"h01", "h02"} {
		h := f.hosts[n]
		if h.live != "20000-60999" || h.persisted != "20000-60999" {
			t.Errorf("%s: live %s persisted %s", n, h.live, h.persisted)
		}
		ev := j.eventsFor(n)
		if len(ev) < 3 || ev[0] != "before "+n || ev[len(ev)-1] != "result "+n+" applied" {
			t.Errorf("%s journal = %q; want before first, result last", n, ev)
		}
	}
	if ev := j.eventsFor("h03"); len(ev) != 1 || ev[0] != "result h03 ok" {
		t.Errorf("converged host journal = %q; want only its ok result", ev)
	}
	for _, c := range f.hosts["h03"].commands() {
		if !strings.HasPrefix(c, "get") {
			t.Errorf("converged host got a changing command %q", c)
		}
	}
	// Again: nothing to do.
	out = f.engine(j).Apply(context.Background(), "run-2", f.inventory(), rangeOptions("20000-60999", Batch{}, Health{}))
	if out.Summary.OK != 3 || out.Summary.Applied != 0 {
		t.Errorf("second apply = %+v; want every host ok", out.Summary)
	}
}

func TestApplyCommandFailureRestoresHost(t *testing.T) {
	f := newKVFleet(2, func(i int, h *kvHost) {
		if i == 0 {
			h.failCmd = "persist 20000" // runtime set works, persisting fails
		}
	})
	j := &memJournal{}
	out := f.engine(j).Apply(context.Background(), "run", f.inventory(), rangeOptions("20000-60999", Batch{}, Health{}))
	h := out.Hosts[0]
	if h.Status != StatusFailed || !strings.Contains(h.Error, "permission denied") || !strings.Contains(h.Error, "previous values restored") {
		t.Fatalf("h01 = %s %q", h.Status, h.Error)
	}
	if got := f.hosts["h01"].live; got != "32768-60999" {
		t.Errorf("h01 live = %s; a half-applied host must be put back", got)
	}
	if out.Hosts[1].Status != StatusApplied {
		t.Errorf("h02 = %s; one host's failure must not stop the others", out.Hosts[1].Status)
	}
	if out.ExitCode() != 1 {
		t.Errorf("exit %d, want 1", out.ExitCode())
	}
}

func TestApplyCanaryUnhealthyAutoRollback(t *testing.T) {
	f := newKVFleet(8, func(i int, h *kvHost) { h.rise = 100 }) // failures rise after the change
	j := &memJournal{}
	o := rangeOptions("20000-60999", Batch{Percent: 25}, Health{Counters: true, Rollback: RollbackAuto})
	out := f.engine(j).Apply(context.Background(), "run", f.inventory(), o)
	if !out.RolledBack || out.ExitCode() != 3 {
		t.Fatalf("rolled back %v exit %d; want the canary rolled back and exit 3", out.RolledBack, out.ExitCode())
	}
	if len(out.Batches) != 1 || !out.Batches[0].Canary || out.Batches[0].Healthy {
		t.Fatalf("batches = %+v", out.Batches)
	}
	if d := out.Batches[0].Details; len(d) != 2 || !strings.Contains(d[0], "Tcp.AttemptFails +100 (threshold 50)") {
		t.Errorf("details = %q", d)
	}
	for i, n := range f.names {
		h := f.hosts[n]
		if h.live != "32768-60999" || h.persisted != "" {
			t.Errorf("%s: live %s persisted %q; want the original values", n, h.live, h.persisted)
		}
		want := record.StatusRolledBack
		if i >= 2 {
			want = record.StatusSkipped
		}
		if out.Hosts[i].Status != want {
			t.Errorf("%s status %s, want %s", n, out.Hosts[i].Status, want)
		}
	}
	if len(f.hosts["h03"].commands()) != 0 {
		t.Errorf("a host after the canary was contacted")
	}
}

func TestApplyProbeFailureManualStopsRollout(t *testing.T) {
	f := newKVFleet(4, func(i int, h *kvHost) { h.probeBad = i == 0 })
	o := rangeOptions("20000-60999", Batch{Count: 1}, Health{Probe: map[string]string{"linux": "probe"}, Rollback: RollbackManual})
	out := f.engine(&memJournal{}).Apply(context.Background(), "run-7", f.inventory(), o)
	if out.RolledBack || out.ExitCode() != 1 || !strings.Contains(out.Stopped, "rollback --run run-7") {
		t.Fatalf("exit %d stopped %q", out.ExitCode(), out.Stopped)
	}
	if d := out.Batches[0].Details; len(d) != 1 || !strings.Contains(d[0], `probe "probe" exited 2: handshake failed`) {
		t.Errorf("details = %q", d)
	}
	if f.hosts["h01"].live != "20000-60999" {
		t.Errorf("manual rollback must leave the host changed for the operator")
	}
	if out.Hosts[1].Status != StatusSkipped {
		t.Errorf("h02 = %s; the rollout must stop after an unhealthy batch", out.Hosts[1].Status)
	}
}

func TestApplyMaxFailuresStopsRollout(t *testing.T) {
	f := newKVFleet(6, func(i int, h *kvHost) {
		if i < 2 {
			h.failCmd = "set"
		}
	})
	o := rangeOptions("20000-60999", Batch{Count: 2}, Health{})
	o.MaxFailures = Budget{Count: 1}
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	if out.Summary.Failed != 2 || out.Summary.Skipped != 4 || !strings.Contains(out.Stopped, "max_failures") {
		t.Errorf("summary %+v stopped %q", out.Summary, out.Stopped)
	}
}

func TestApplyStalePlanRefused(t *testing.T) {
	f := newKVFleet(2, nil)
	o := rangeOptions("20000-60999", Batch{}, Health{})
	o.Expected = expected(f.plan(t, "20000-60999"))
	f.hosts["h02"].live = "25000-50000" // changed since the plan
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	if out.Hosts[0].Status != StatusApplied {
		t.Errorf("h01 = %s %q", out.Hosts[0].Status, out.Hosts[0].Error)
	}
	h := out.Hosts[1]
	if h.Status != StatusFailed || !strings.Contains(h.Error, "stale plan: range is now 25000-50000, the plan saw 32768-60999") {
		t.Errorf("h02 = %s %q", h.Status, h.Error)
	}
	if f.hosts["h02"].live != "25000-50000" {
		t.Errorf("a stale host was changed")
	}
}

func TestApplyStopFinishesInFlightHosts(t *testing.T) {
	f := newKVFleet(6, nil)
	stop := make(chan struct{})
	e := f.engine(&memJournal{})
	e.Forks = 1
	e.Stop = stop
	var once sync.Once
	e.Dial = func(ctx context.Context, h *inventory.Host) (remote.Session, error) {
		once.Do(func() { close(stop) }) // Ctrl-C while the first host is in flight
		return f.hosts[h.Name], nil
	}
	out := e.Apply(context.Background(), "run", f.inventory(), rangeOptions("20000-60999", Batch{}, Health{}))
	if out.Hosts[0].Status != StatusApplied {
		t.Errorf("in-flight host = %s; it must be finished", out.Hosts[0].Status)
	}
	for _, h := range out.Hosts[1:] {
		if h.Status != StatusSkipped {
			t.Errorf("%s = %s; no host may start after the stop", h.Host, h.Status)
		}
	}
}

func TestRollbackRestoresAndIsIdempotent(t *testing.T) {
	f := newKVFleet(2, func(i int, h *kvHost) { h.persisted = map[int]string{0: "", 1: "30000-40000"}[i] })
	j := &memJournal{}
	out := f.engine(j).Apply(context.Background(), "run", f.inventory(), rangeOptions("20000-60999", Batch{}, Health{}))
	if out.Summary.Applied != 2 {
		t.Fatalf("apply: %+v", out.Summary)
	}
	var targets []RestoreTarget
	inv := f.inventory()
	for i, n := range f.names {
		targets = append(targets, RestoreTarget{Host: inv[i], OS: "linux", Snapshot: j.before[n]})
	}
	for round := 1; round <= 2; round++ {
		rb := f.engine(&memJournal{}).Rollback(context.Background(), fmt.Sprintf("rb-%d", round), "run", targets)
		// The first round restores; the second finds both hosts already
		// as before (ok) and runs nothing.
		want := OutcomeSummary{Hosts: 2, RolledBack: 2}
		if round == 2 {
			want = OutcomeSummary{Hosts: 2, OK: 2}
		}
		if rb.Summary != want || rb.ExitCode() != 0 {
			t.Fatalf("rollback %d: %+v %q", round, rb.Summary, rb.Hosts[0].Error)
		}
		if round == 2 && len(rb.Hosts[0].Commands) != 0 {
			t.Errorf("second rollback ran %v", rb.Hosts[0].Commands)
		}
		if round == 2 && (len(rb.Hosts[0].Notes) == 0 || !strings.Contains(rb.Hosts[0].Notes[0], "nothing to do")) {
			t.Errorf("second rollback notes = %q", rb.Hosts[0].Notes)
		}
	}
	if h := f.hosts["h01"]; h.live != "32768-60999" || h.persisted != "" {
		t.Errorf("h01 after rollback: live %s persisted %q", h.live, h.persisted)
	}
	if h := f.hosts["h02"]; h.live != "32768-60999" || h.persisted != "30000-40000" {
		t.Errorf("h02 after rollback: live %s persisted %q; want the old persisted value back", h.live, h.persisted)
	}
}

// A knob only a reboot changes: apply persists it and reports the host
// applied and awaiting a reboot; a second apply finds only the reboot left
// (Change.Pending), runs nothing and says ok, still awaiting the reboot.
func TestApplyBootOnlyKnobIsPendingNotRedone(t *testing.T) {
	f := newKVFleet(1, func(_ int, h *kvHost) { h.bootOnly = true })
	opts := rangeOptions("20000-60999", Batch{}, Health{})
	out := f.engine(&memJournal{}).Apply(context.Background(), "run-1", f.inventory(), opts)
	h := out.Hosts[0]
	if h.Status != StatusApplied || !h.RebootRequired || h.RebootReason != "ephemeral_ports: range is not run-time settable" {
		t.Fatalf("first apply: %+v", h)
	}
	if kh := f.hosts["h01"]; kh.live != "32768-60999" || kh.persisted != "20000-60999" {
		t.Errorf("host: live %s persisted %s; want only the persisted value changed", kh.live, kh.persisted)
	}
	before := len(f.hosts["h01"].commands())
	out = f.engine(&memJournal{}).Apply(context.Background(), "run-2", f.inventory(), opts)
	h = out.Hosts[0]
	if h.Status != StatusOK || !h.RebootRequired || out.ExitCode() != 0 {
		t.Errorf("second apply: %+v exit %d; want ok, still awaiting a reboot", h, out.ExitCode())
	}
	for _, c := range f.hosts["h01"].commands()[before:] {
		if c != "get" {
			t.Errorf("second apply ran %q; only reads were expected", c)
		}
	}
}

func TestOutcomeExitCodes(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want int
	}{
		{Outcome{Summary: OutcomeSummary{Hosts: 2, Applied: 1, OK: 1}}, 0},
		{Outcome{Summary: OutcomeSummary{Hosts: 2, Applied: 1, Failed: 1}}, 1},
		{Outcome{Summary: OutcomeSummary{Hosts: 2, Applied: 1, Skipped: 1}}, 1},
		{Outcome{RolledBack: true, Summary: OutcomeSummary{Hosts: 2, RolledBack: 2}}, 3},
	} {
		if got := tc.o.ExitCode(); got != tc.want {
			t.Errorf("%+v: exit %d, want %d", tc.o.Summary, got, tc.want)
		}
	}
}
