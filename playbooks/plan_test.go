package playbooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// fakeHost answers the planner's commands from a captured gather fixture.
type fakeHost struct {
	uname   string // output of uname -srv
	gather  string // fixture file under platform/testdata/linux
	dialErr error
	delay   time.Duration
}

type fakeSession struct {
	h      fakeHost
	t      *testing.T
	mu     sync.Mutex
	cmds   []string
	closed bool
}

func (s *fakeSession) Run(ctx context.Context, cmd string) (remote.Result, error) {
	s.mu.Lock()
	s.cmds = append(s.cmds, cmd)
	s.mu.Unlock()
	if s.h.delay > 0 {
		select {
		case <-time.After(s.h.delay):
		case <-ctx.Done():
			return remote.Result{}, ctx.Err()
		}
	}
	gather := func() []byte {
		data, err := os.ReadFile(filepath.Join("..", "platform", "testdata", "linux", s.h.gather))
		if err != nil {
			s.t.Fatal(err)
		}
		return data
	}
	switch {
	case cmd == platform.DetectCommand:
		return remote.Result{Stdout: []byte(s.h.uname + "\n")}, nil
	case strings.HasPrefix(cmd, platform.DetectGatherScript(nil)[:40]):
		// platform.DetectGather's script: uname's line, then, on Linux, the gather.
		out := []byte(s.h.uname + "\n")
		if strings.HasPrefix(s.h.uname, "Linux ") {
			out = append(out, gather()...)
		}
		return remote.Result{Stdout: out}, nil
	case strings.Contains(cmd, "@@fleettune@@"):
		return remote.Result{Stdout: gather()}, nil
	}
	return remote.Result{ExitCode: 127, Stderr: []byte("sh: 1: " + cmd + ": not found\n")}, nil
}

func (s *fakeSession) Close() error { s.mu.Lock(); s.closed = true; s.mu.Unlock(); return nil }

type fakeFleet struct {
	t        *testing.T
	hosts    map[string]fakeHost
	mu       sync.Mutex
	sessions map[string]*fakeSession
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func (f *fakeFleet) dial(ctx context.Context, h *inventory.Host) (remote.Session, error) {
	fh := f.hosts[h.Name]
	if fh.dialErr != nil {
		return nil, fh.dialErr
	}
	n := f.inFlight.Add(1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	s := &fakeSession{h: fh, t: f.t}
	f.mu.Lock()
	f.sessions[h.Name] = s
	f.mu.Unlock()
	return &countingSession{s, f}, nil
}

type countingSession struct {
	*fakeSession
	f *fakeFleet
}

func (c *countingSession) Close() error { c.f.inFlight.Add(-1); return c.fakeSession.Close() }

func durp(d time.Duration) *time.Duration { return &d }

func testPlaybook() *Playbook {
	return &Playbook{
		Name: "test",
		Targets: Targets{
			EphemeralPorts: &platform.PortRange{Low: 10240, High: 65535},
			TimeWait:       durp(30 * time.Second),
			KeepaliveTime:  durp(5 * time.Minute),
		},
		Guardrails: Guardrails{MinTimeWait: 10 * time.Second, ProtectListeningPorts: true},
		Health:     Health{Counters: true},
	}
}

func hostsNamed(names ...string) []*inventory.Host {
	var hs []*inventory.Host
	for _, n := range names {
		hs = append(hs, &inventory.Host{Name: n, Groups: []string{"all"}, Transport: "ssh"})
	}
	return hs
}

func TestPlanPerHostOutcomes(t *testing.T) {
	unreach := &remote.Error{Host: "down", Kind: remote.ErrUnreachable, Err: errors.New("connection refused")}
	badKey := &remote.Error{Host: "mitm", Kind: remote.ErrHostKey, Err: errors.New("host key changed")}
	f := &fakeFleet{t: t, sessions: map[string]*fakeSession{}, hosts: map[string]fakeHost{
		"fresh":     {uname: "Linux 6.18.44", gather: "gather-default.txt"},
		"converged": {uname: "Linux 6.18.44", gather: "gather-converged.txt"},
		"listens":   {uname: "Linux 6.18.44", gather: "gather-listeners.txt"},
		"down":      {dialErr: unreach},
		"mitm":      {dialErr: badKey},
		"mac":       {uname: "Darwin 23.1.0"},
	}}
	pl := &Planner{Dial: f.dial}
	p, err := pl.Plan(context.Background(), hostsNamed("fresh", "converged", "listens", "down", "mitm", "mac"), testPlaybook())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		host, status, errHas string
		changes              int
	}{
		{"fresh", StatusChanges, "", 2},
		{"converged", StatusOK, "", 0},
		{"listens", StatusFailed, "covers listening port(s) 15000", 2},
		{"down", StatusUnreachable, "connection refused", 0},
		{"mitm", StatusUnreachable, "host key", 0},
		{"mac", StatusFailed, "unsupported OS", 0},
	}
	for i, w := range want {
		h := p.Hosts[i]
		if h.Host != w.host || h.Status != w.status || len(h.Changes) != w.changes || !strings.Contains(h.Error, w.errHas) {
			t.Errorf("host %d = %s %s (%d changes) %q; want %s %s (%d changes) error containing %q",
				i, h.Host, h.Status, len(h.Changes), h.Error, w.host, w.status, w.changes, w.errHas)
		}
	}
	if p.Hosts[0].OS != "linux" || p.Hosts[0].BootID == "" || p.Hosts[0].Version == "" {
		t.Errorf("facts not carried into the plan: %+v", p.Hosts[0])
	}
	if got := p.Hosts[1].Notes; len(got) == 0 || !strings.Contains(got[0], "fixed at 60s") {
		t.Errorf("converged host lost the TIME_WAIT note: %v", got)
	}
	s := p.Summary
	if s.Hosts != 6 || s.OK != 1 || s.Changes != 1 || s.Failed != 2 || s.Unreachable != 2 {
		t.Errorf("summary = %+v", s)
	}
	if p.ExitCode() != 1 {
		t.Errorf("exit code = %d, want 1 (some hosts failed)", p.ExitCode())
	}
	for name, s := range f.sessions {
		if !s.closed {
			t.Errorf("session to %s left open", name)
		}
	}
}

func TestPlanSkipsDetectionWhenOSKnown(t *testing.T) {
	f := &fakeFleet{t: t, sessions: map[string]*fakeSession{}, hosts: map[string]fakeHost{
		"a": {uname: "SunOS 5.11", gather: "gather-default.txt"},
	}}
	hs := hostsNamed("a")
	hs[0].OS = "linux"
	p, err := (&Planner{Dial: f.dial}).Plan(context.Background(), hs, testPlaybook())
	if err != nil {
		t.Fatal(err)
	}
	if p.Hosts[0].Status != StatusChanges {
		t.Fatalf("status = %s (%s)", p.Hosts[0].Status, p.Hosts[0].Error)
	}
	cmds := f.sessions["a"].cmds
	if len(cmds) != 1 || cmds[0] == platform.DetectCommand {
		t.Errorf("commands run = %q; want the gather script only", cmds)
	}
}

// A host whose OS the inventory does not name costs one command when it
// is Linux: platform.DetectGather detects and gathers, for the native knobs
// the playbook gives it as a Linux host. Another family gets its own gather.
func TestPlanDetectsAndGathersLinuxInOneCommand(t *testing.T) {
	f := &fakeFleet{t: t, sessions: map[string]*fakeSession{}, hosts: map[string]fakeHost{
		"lin": {uname: "Linux 6.18.44-fc-v669 #1 SMP", gather: "gather-native.txt"},
		"sol": {uname: "SunOS 5.11 11.4.0.15.0", gather: "gather-native.txt"},
	}}
	pb := testPlaybook()
	pb.Overrides = []Override{{When: Match{OS: "linux"}, Native: map[string]map[string]string{
		"linux": {"net.ipv4.tcp_max_tw_buckets": "262144", "net.ipv4.tcp_tw_recycle": "0"}}}}
	p, err := (&Planner{Dial: f.dial}).Plan(context.Background(), hostsNamed("lin", "sol"), pb)
	if err != nil {
		t.Fatal(err)
	}
	lin := p.Hosts[0]
	if lin.OS != platform.Linux || lin.Facts == nil || lin.Facts.Knobs["net.ipv4.tcp_max_tw_buckets"].Live != "131072" || !lin.Facts.Knobs["net.ipv4.tcp_tw_recycle"].Missing {
		t.Fatalf("lin: os %q, status %s (%s), facts %+v", lin.OS, lin.Status, lin.Error, lin.Facts)
	}
	if cmds := f.sessions["lin"].cmds; len(cmds) != 1 || cmds[0] != platform.DetectGatherScript([]string{"net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_tw_recycle"}) {
		t.Errorf("lin ran %d commands, want the one detect-and-gather script with the native knobs:\n%q", len(cmds), cmds)
	}
	if cmds := f.sessions["sol"].cmds; len(cmds) < 2 || cmds[0] != platform.DetectGatherScript([]string{"net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_tw_recycle"}) {
		t.Errorf("sol ran %q; want the detection script, then the Solaris driver's own commands", cmds)
	}
	if p.Hosts[1].OS != platform.Solaris {
		t.Errorf("sol: os %q", p.Hosts[1].OS)
	}
}

func TestPlanForksBoundConcurrency(t *testing.T) {
	f := &fakeFleet{t: t, sessions: map[string]*fakeSession{}, hosts: map[string]fakeHost{}}
	var names []string
	for i := range 20 {
		n := fmt.Sprintf("h%02d", i)
		names = append(names, n)
		f.hosts[n] = fakeHost{uname: "Linux 6.1", gather: "gather-converged.txt", delay: 20 * time.Millisecond}
	}
	p, err := (&Planner{Dial: f.dial, Forks: 3}).Plan(context.Background(), hostsNamed(names...), testPlaybook())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.maxSeen.Load(); got > 3 || got < 2 {
		t.Errorf("max hosts in flight = %d, want at most 3 (and parallel)", got)
	}
	for i, h := range p.Hosts {
		if h.Host != names[i] || h.Status != StatusOK {
			t.Errorf("host %d = %s %s; results must keep inventory order", i, h.Host, h.Status)
		}
	}
	if p.ExitCode() != 0 {
		t.Errorf("exit = %d, want 0 for a converged fleet", p.ExitCode())
	}
}

func TestPlanInterruptedHostsAreSkipped(t *testing.T) {
	f := &fakeFleet{t: t, sessions: map[string]*fakeSession{}, hosts: map[string]fakeHost{}}
	var names []string
	for i := range 6 {
		n := fmt.Sprintf("h%d", i)
		names = append(names, n)
		f.hosts[n] = fakeHost{uname: "Linux 6.1", gather: "gather-default.txt", delay: 200 * time.Millisecond}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p, err := (&Planner{Dial: f.dial, Forks: 2}).Plan(ctx, hostsNamed(names...), testPlaybook())
	if err != nil {
		t.Fatal(err)
	}
	if p.Summary.Skipped == 0 || p.ExitCode() != 1 {
		t.Errorf("summary %+v exit %d: interrupted hosts must be skipped and the plan must fail", p.Summary, p.ExitCode())
	}
	if len(f.sessions) > 2 {
		t.Errorf("%d hosts were contacted after the interrupt; want only the 2 in flight", len(f.sessions))
	}
}

func TestPlanExitCodes(t *testing.T) {
	for _, tc := range []struct {
		s    Summary
		want int
	}{
		{Summary{Hosts: 3, OK: 3}, 0},
		{Summary{Hosts: 3, OK: 1, Changes: 2}, 2},
		{Summary{Hosts: 3, OK: 1, Changes: 1, Unreachable: 1}, 1},
		{Summary{Hosts: 3, OK: 2, Failed: 1}, 1},
		{Summary{Hosts: 3, OK: 2, Skipped: 1}, 1},
	} {
		p := &Plan{Summary: tc.s}
		if got := p.ExitCode(); got != tc.want {
			t.Errorf("ExitCode(%+v) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestNewRunID(t *testing.T) {
	id := NewRunID(time.Date(2026, 11, 22, 17, 15, 0, 0, time.FixedZone("CET", 3600)))
	if !strings.HasPrefix(id, "20261122T161500Z-") || len(id) != len("20261122T161500Z-3f2a") {
		t.Errorf("run id %q: want UTC time and 4 hex digits", id)
	}
}
