// Package platformtest is the conformance suite every platform driver
// passes, as restic's backend test suite is for its backends: a Suite of
// callbacks that makes a host, and RunTests, which runs the same subtests
// against it whatever its OS — the six lab emulators and the real Linux
// network-namespace hosts alike.
package platformtest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// Host is one host a suite runs against, fresh for each subtest.
type Host struct {
	// Root runs commands with the rights to change settings.
	Root platform.Runner
	// User runs commands as an account without those rights; nil when the
	// host has none to test with.
	User platform.Runner
	// Reboot reboots the host: live values then come from the persisted
	// configuration. nil when the host cannot be rebooted in a test.
	Reboot func() error
	// Files returns, byte for byte, every file fleettune may write on the
	// host, by path.
	Files func() map[string]string
	// TimeWaitTooShort makes the host behave as one whose TIME_WAIT change
	// went too far: stray segments of old connections reset new ones, and
	// the failure counters rise. nil when the host cannot be made to.
	TimeWaitTooShort func()
}

// Suite runs the conformance tests for one OS driver against one kind of
// host.
type Suite struct {
	// OS is the driver's family, one of platform.OSNames.
	OS string
	// NewHost makes a fresh host; cleanup goes through t.Cleanup.
	NewHost func(t *testing.T) *Host
	// Targets must need changes on a fresh host and be allowed by the
	// driver and the guardrails.
	Targets platform.Targets
	// Refused must be refused on a fresh host (an OS limit or a guardrail).
	Refused    platform.Targets
	Guardrails platform.Guardrails
	// Absent are counters with a threshold this kind of host cannot give
	// (Windows Server 2003 has no wevtutil for the Tcpip events); every
	// other threshold's counter must be read.
	Absent []string
}

// RunTests runs every conformance test as a subtest.
func (s *Suite) RunTests(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Converge", s.testConverge},
		{"ApplyTwiceIsNoop", s.testApplyTwice},
		{"RebootKeepsValues", s.testReboot},
		{"RestoreIsByteExact", s.testRestore},
		{"RefusalRunsNothing", s.testRefusal},
		{"NonRootFailsClearly", s.testNonRoot},
		{"CountersShowFailures", s.testCounters},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// recorder runs commands and remembers them, in order.
type recorder struct {
	r    platform.Runner
	cmds []string
}

func (rec *recorder) Run(ctx context.Context, cmd string) (platform.Result, error) {
	rec.cmds = append(rec.cmds, cmd)
	return rec.r.Run(ctx, cmd)
}

func (s *Suite) driver(t *testing.T) platform.Driver {
	t.Helper()
	d, err := platform.For(s.OS)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func native(tg platform.Targets) []string {
	return slices.Sorted(maps.Keys(tg.Native))
}

func (s *Suite) gather(t *testing.T, d platform.Driver, r platform.Runner, tg platform.Targets) *platform.Facts {
	t.Helper()
	f, err := d.Gather(context.Background(), r, native(tg))
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return f
}

func (s *Suite) propose(t *testing.T, d platform.Driver, f *platform.Facts, tg platform.Targets) platform.Proposal {
	t.Helper()
	p, err := platform.Propose(d, f, tg, s.Guardrails)
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	return p
}

// run runs steps in order as apply does: the first failure stops.
func run(t *testing.T, r platform.Runner, steps []string) {
	t.Helper()
	for _, cmd := range steps {
		res, err := r.Run(context.Background(), cmd)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: exit %d, %v: %s%s", cmd, res.ExitCode, err, res.Stdout, res.Stderr)
		}
	}
}

// apply proposes the suite's targets on a fresh host and runs the steps,
// checking that the commands run are exactly the ones the plan shows.
func (s *Suite) apply(t *testing.T, h *Host, d platform.Driver) (*platform.Facts, platform.Proposal) {
	t.Helper()
	f := s.gather(t, d, h.Root, s.Targets)
	p := s.propose(t, d, f, s.Targets)
	if len(p.Steps) == 0 {
		t.Fatalf("the suite's targets need no steps on a fresh host: %+v", p.Changes)
	}
	for _, c := range p.Changes {
		if c.Action == platform.ActionRefused {
			t.Fatalf("the suite's targets are refused: %s: %s", c.Knob, c.Refused)
		}
		if c.Action == "" {
			t.Errorf("%s: change without an action", c.Knob)
		}
		if c.After == nil {
			t.Errorf("%s: change without a typed target", c.Knob)
		}
		if c.Setting == string(platform.EphemeralPorts) && (c.Before == nil || !strings.HasPrefix(c.Current, c.Before.String())) {
			t.Errorf("%s: typed live value %v, shown as %q", c.Knob, c.Before, c.Current)
		}
	}
	rec := &recorder{r: h.Root}
	run(t, rec, p.Steps)
	if !slices.Equal(rec.cmds, p.Steps) {
		t.Errorf("apply ran %q, the plan shows %q", rec.cmds, p.Steps)
	}
	return f, p
}

// onlyAwaitingReboot fails unless every change left is one only a reboot
// completes, and nothing is left to run.
func onlyAwaitingReboot(t *testing.T, what string, p platform.Proposal) {
	t.Helper()
	for _, c := range p.Changes {
		if c.Action != platform.ActionAwaitReboot {
			t.Errorf("%s: %s still %s (%s → %s)", what, c.Knob, c.Action, c.Current, c.Target)
		}
	}
	if len(p.Steps) > 0 {
		t.Errorf("%s: steps left to run: %q", what, p.Steps)
	}
}

// Converge: gather → propose → apply → gather shows nothing left to do
// (bar what only a reboot brings into force), and the commands apply ran
// are the ones the plan showed.
func (s *Suite) testConverge(t *testing.T) {
	h, d := s.NewHost(t), s.driver(t)
	s.apply(t, h, d)
	after := s.propose(t, d, s.gather(t, d, h.Root, s.Targets), s.Targets)
	onlyAwaitingReboot(t, "after apply", after)
}

// Applying the same targets again runs nothing.
func (s *Suite) testApplyTwice(t *testing.T) {
	h, d := s.NewHost(t), s.driver(t)
	s.apply(t, h, d)
	files := h.Files()
	again := s.propose(t, d, s.gather(t, d, h.Root, s.Targets), s.Targets)
	onlyAwaitingReboot(t, "second apply", again)
	run(t, h.Root, again.Steps)
	if got := h.Files(); !maps.Equal(got, files) {
		t.Errorf("a second apply changed files: %s", fileDiff(files, got))
	}
}

// After a reboot every value is as the targets say: nothing at all to do.
func (s *Suite) testReboot(t *testing.T) {
	h, d := s.NewHost(t), s.driver(t)
	if h.Reboot == nil {
		t.Skip("this host cannot be rebooted in a test")
	}
	s.apply(t, h, d)
	if err := h.Reboot(); err != nil {
		t.Fatal(err)
	}
	p := s.propose(t, d, s.gather(t, d, h.Root, s.Targets), s.Targets)
	if len(p.Changes) > 0 || len(p.Steps) > 0 {
		t.Errorf("after a reboot: %d changes, steps %q; want none", len(p.Changes), p.Steps)
		for _, c := range p.Changes {
			t.Logf("  %s %s: %s → %s", c.Action, c.Knob, c.Current, c.Target)
		}
	}
}

// Restoring the snapshot taken before apply puts every file back byte for
// byte and every knob back to its value (after a reboot for knobs only a
// boot changes).
func (s *Suite) testRestore(t *testing.T) {
	h, d := s.NewHost(t), s.driver(t)
	files := h.Files()
	f0, p := s.apply(t, h, d)
	snap := d.Snapshot(f0, p.Changes)
	f1 := s.gather(t, d, h.Root, s.Targets)
	cmds, err := d.RestoreCommands(f1, snap)
	if err != nil {
		t.Fatalf("restore commands: %v", err)
	}
	if len(cmds) == 0 {
		t.Fatal("restore after a change gives no commands")
	}
	run(t, h.Root, cmds)
	if got := h.Files(); !maps.Equal(got, files) {
		t.Errorf("restore is not byte-exact: %s", fileDiff(files, got))
	}
	pending, other := platform.SplitAwaitingReboot(d.Differences(s.gather(t, d, h.Root, s.Targets), snap))
	if len(other) > 0 {
		t.Errorf("after restore: %q", other)
	}
	if len(pending) > 0 && h.Reboot != nil {
		if err := h.Reboot(); err != nil {
			t.Fatal(err)
		}
		if diff := d.Differences(s.gather(t, d, h.Root, s.Targets), snap); len(diff) > 0 {
			t.Errorf("after restore and a reboot: %q", diff)
		}
	}
	again, err := d.RestoreCommands(s.gather(t, d, h.Root, s.Targets), snap)
	if err != nil || (len(again) > 0 && len(pending) == 0) {
		t.Errorf("a second restore: %q, %v; want nothing to do", again, err)
	}
}

// A refused change has no steps, and the driver will not build commands
// for it: nothing of it can run.
func (s *Suite) testRefusal(t *testing.T) {
	h, d := s.NewHost(t), s.driver(t)
	files := h.Files()
	rec := &recorder{r: h.Root}
	f := s.gather(t, d, rec, s.Refused)
	read := len(rec.cmds)
	p := s.propose(t, d, f, s.Refused)
	refused := false
	for _, c := range p.Changes {
		if c.Action == platform.ActionRefused {
			refused = true
			if c.Refused == "" {
				t.Errorf("%s: refused without a reason", c.Knob)
			}
		}
	}
	if !refused {
		t.Fatalf("the suite's refused targets were not refused: %+v", p.Changes)
	}
	if len(p.Steps) > 0 {
		t.Errorf("a refused proposal has steps: %q", p.Steps)
	}
	if _, err := d.ApplyCommands(f, p.Changes); err == nil {
		t.Error("ApplyCommands built commands for a refused change")
	}
	if len(rec.cmds) != read {
		t.Errorf("proposing ran commands: %q", rec.cmds[read:])
	}
	if got := h.Files(); !maps.Equal(got, files) {
		t.Errorf("files changed: %s", fileDiff(files, got))
	}
}

// Without the rights to change settings, the first step fails with a
// non-zero exit and a message, and nothing changes.
func (s *Suite) testNonRoot(t *testing.T) {
	h, d := s.NewHost(t), s.driver(t)
	if h.User == nil {
		t.Skip("this host has no unprivileged account")
	}
	files := h.Files()
	f := s.gather(t, d, h.Root, s.Targets)
	p := s.propose(t, d, f, s.Targets)
	if len(p.Steps) == 0 {
		t.Fatal("no steps to try")
	}
	res, err := h.User.Run(context.Background(), p.Steps[0])
	switch {
	case err != nil:
		t.Logf("as a user: %v", err)
	case res.ExitCode == 0:
		t.Errorf("%s succeeded without root", p.Steps[0])
	case strings.TrimSpace(string(res.Stderr)+string(res.Stdout)) == "":
		t.Errorf("%s failed without root (exit %d) but said nothing", p.Steps[0], res.ExitCode)
	}
	if got := h.Files(); !maps.Equal(got, files) {
		t.Errorf("a non-root attempt changed files: %s", fileDiff(files, got))
	}
	again := s.propose(t, d, s.gather(t, d, h.Root, s.Targets), s.Targets)
	if platform.SameChanges(p.Changes, again.Changes) != "" {
		t.Errorf("a non-root attempt changed values: %s", platform.SameChanges(p.Changes, again.Changes))
	}
}

func fileDiff(want, got map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			out = append(out, k+" removed")
		case g != want[k]:
			out = append(out, k+" differs")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			out = append(out, k+" added")
		}
	}
	return strings.Join(out, ", ")
}

// Every OS has TCP counters a health check can read: each counter with a
// threshold is there, counters do not go down between reads, a healthy host
// stays below every threshold, and a host whose TIME_WAIT went too far
// exceeds one.
func (s *Suite) testCounters(t *testing.T) {
	h, d := s.NewHost(t), s.driver(t)
	if !d.Capabilities().Counters {
		t.Fatalf("%s has no counter reader: a host would go unchecked without a probe", s.OS)
	}
	ctx := context.Background()
	th := d.Thresholds()
	if len(th) == 0 {
		t.Fatal("no thresholds")
	}
	read := func() platform.Counters {
		t.Helper()
		c, err := d.Counters(ctx, h.Root)
		if err != nil {
			t.Fatalf("counters: %v", err)
		}
		for name := range th {
			_, ok := c[name]
			switch absent := slices.Contains(s.Absent, name); {
			case !ok && !absent:
				t.Fatalf("counters have no %s (a threshold needs it): %v", name, c)
			case ok && absent:
				t.Fatalf("counters have %s, which this host cannot give: %v", name, c)
			}
		}
		return c
	}
	before, after := read(), read()
	for name := range th {
		if after[name] < before[name] {
			t.Errorf("%s went down between two reads: %d → %d", name, before[name], after[name])
		}
	}
	if _, exceeded := platform.CounterDeltas(before, after, th); len(exceeded) != 0 {
		t.Errorf("a healthy host exceeds thresholds: %v", exceeded)
	}
	if h.TimeWaitTooShort == nil {
		return
	}
	h.TimeWaitTooShort()
	if _, exceeded := platform.CounterDeltas(after, read(), th); len(exceeded) == 0 {
		t.Error("a host whose TIME_WAIT went too far exceeds no threshold")
	}
}
