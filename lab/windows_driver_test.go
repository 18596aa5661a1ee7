package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// winRunner runs a driver's commands through the emulator's cmd.exe, as a
// WinRM session would.
type winRunner struct {
	h    *Host
	user string
	cmds []string
}

func (r *winRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.cmds = append(r.cmds, cmd)
	out := r.h.Run(r.user, cmd)
	return remote.Result{Stdout: []byte(out.Stdout), Stderr: []byte(out.Stderr), ExitCode: out.Code}, nil
}

var _ platform.Runner = (*winRunner)(nil)

func winDriver(t *testing.T) (platform.Driver, platform.Applier) {
	t.Helper()
	d, err := platform.For(platform.Windows)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := d.(platform.Applier)
	if !ok {
		t.Fatal("the Windows driver is not an Applier")
	}
	return d, a
}

func winRunAll(t *testing.T, r *winRunner, cmds []string) {
	t.Helper()
	for _, c := range cmds {
		res, _ := r.Run(context.Background(), c)
		if res.ExitCode != 0 {
			t.Fatalf("%q exited %d: %s%s", c, res.ExitCode, res.Stdout, res.Stderr)
		}
	}
}

func winGather(t *testing.T, d platform.Driver, r *winRunner) *platform.Facts {
	t.Helper()
	f, err := d.Gather(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The real driver against the emulator, the way fleettune apply and
// rollback drive it: plan, apply, pending reboot, reboot, converged,
// restore, a restore that only a reboot completes, reboot, back.
func TestWindowsDriverOnLab(t *testing.T) {
	for _, tc := range []struct {
		release, version string
		eph              platform.PortRange
		rangeReboot      bool
		defaultTW        time.Duration
	}{
		{"10.0", "10.0.17763", platform.PortRange{Low: 20000, High: 44999}, false, 240 * time.Second},
		{"5.2", "5.2.3790", platform.PortRange{Low: 1025, High: 5500}, true, 120 * time.Second},
	} {
		t.Run(tc.release, func(t *testing.T) {
			ctx := context.Background()
			h := newWindowsHost(t, tc.release)
			d, a := winDriver(t)
			r := &winRunner{h: h, user: WindowsAdmin}
			g := platform.Guardrails{}
			tw, ka := 30*time.Second, 5*time.Minute
			tgt := platform.Targets{EphemeralPorts: &tc.eph, TimeWait: &tw, KeepaliveTime: &ka}

			os, rel, err := platform.Detect(ctx, r)
			if err != nil || os != platform.Windows || rel != tc.version {
				t.Fatalf("detect: %q %q %v", os, rel, err)
			}

			f := winGather(t, d, r)
			if f.Version != tc.version || f.TimeWait != h.TimeWaitSockets || !containsInt(f.Listening, 3389) {
				t.Fatalf("gather: version %q TIME_WAIT %d listening %v", f.Version, f.TimeWait, f.Listening)
			}
			p := d.Propose(f, tgt, g)
			if len(p.Changes) != 3 {
				t.Fatalf("plan: %+v", p.Changes)
			}
			for _, c := range p.Changes {
				if c.Refused != "" || c.Pending() || (c.Setting != "ephemeral_ports" || tc.rangeReboot) != c.RebootRequired {
					t.Fatalf("plan: %+v", c)
				}
			}
			snap := a.Snapshot(f, p.Changes)
			cmds, err := a.ApplyCommands(f, p.Changes)
			if err != nil {
				t.Fatal(err)
			}
			// A user who is not an administrator is refused by Windows.
			denied := &winRunner{h: h, user: "ops"}
			if res, _ := denied.Run(ctx, cmds[len(cmds)-1]); res.ExitCode == 0 {
				t.Fatalf("%q succeeded for a non-administrator", cmds[len(cmds)-1])
			}
			winRunAll(t, r, cmds)

			// Applied: the registry holds the targets, a reboot is pending,
			// even after the clocks went forward for daylight saving (wmic
			// then shows the same boot an hour later, at another offset).
			h.Emu.(*windows).SetUTCOffset(60)
			f = winGather(t, d, r)
			h.Emu.(*windows).SetUTCOffset(120)
			f = winGather(t, d, r)
			p = d.Propose(f, tgt, g)
			wantPending := 2
			if tc.rangeReboot {
				wantPending = 3
			}
			if len(p.Changes) != wantPending {
				t.Fatalf("after apply: %+v", p.Changes)
			}
			for _, c := range p.Changes {
				if !c.Pending() || c.AtBoot == "" || c.AtBoot == c.Current {
					t.Errorf("after apply: %+v, want Pending with the registry value shown", c)
				}
			}
			if got := h.Emu.TimeWait(); got != tc.defaultTW {
				t.Errorf("TIME_WAIT in force changed before the reboot: %s", got)
			}
			if pend, other := platform.SplitAwaitingReboot(a.Differences(f, snap)); len(pend) != 0 || len(other) == 0 {
				t.Errorf("differences after apply: pending %q other %q", pend, other)
			}

			h.Reboot()
			f = winGather(t, d, r)
			if p = d.Propose(f, tgt, g); len(p.Changes) != 0 {
				t.Fatalf("after the reboot: %+v", p.Changes)
			}
			if got := h.Emu.TimeWait(); got != tw {
				t.Errorf("TIME_WAIT in force after the reboot: %s", got)
			}

			// Roll back: the range at once (2008+), the registry values
			// deleted (they were absent), in force only after a reboot.
			restore, err := a.RestoreCommands(f, snap)
			if err != nil {
				t.Fatal(err)
			}
			deletes := 2 // TcpTimedWaitDelay, KeepAliveTime
			if tc.rangeReboot {
				deletes = 3 // and MaxUserPort
			}
			if n := strings.Count(strings.Join(restore, "\n"), "reg delete "); n != deletes {
				t.Errorf("restore: %q", restore)
			}
			winRunAll(t, r, restore)
			f = winGather(t, d, r)
			pend, other := platform.SplitAwaitingReboot(a.Differences(f, snap))
			if len(other) != 0 || len(pend) == 0 {
				t.Fatalf("after restore: pending %q other %q", pend, other)
			}
			if again, err := a.RestoreCommands(f, snap); err != nil || len(again) != 0 {
				t.Errorf("a second restore runs %q, %v", again, err)
			}

			h.Reboot()
			f = winGather(t, d, r)
			if diff := a.Differences(f, snap); len(diff) != 0 {
				t.Errorf("after the second reboot: %q", diff)
			}
			for _, v := range []string{"MaxUserPort", "TcpTimedWaitDelay", "KeepAliveTime"} {
				if out := h.Run(WindowsAdmin, `reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v `+v); out.Code != 1 {
					t.Errorf("%s is not absent again: %q", v, out.Stdout)
				}
			}
			if got := h.Emu.TimeWait(); got != tc.defaultTW {
				t.Errorf("TIME_WAIT in force at the end: %s, want the default %s", got, tc.defaultTW)
			}
		})
	}
}

// A rollback before the reboot puts the registry back, and the values in
// force never changed: the host is back with no reboot.
func TestWindowsDriverRollbackBeforeReboot(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	d, a := winDriver(t)
	r := &winRunner{h: h, user: WindowsAdmin}
	tw := 60 * time.Second
	f := winGather(t, d, r)
	p := d.Propose(f, platform.Targets{TimeWait: &tw}, platform.Guardrails{})
	snap := a.Snapshot(f, p.Changes)
	cmds, err := a.ApplyCommands(f, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	winRunAll(t, r, cmds)
	f = winGather(t, d, r)
	if len(a.Differences(f, snap)) != 1 {
		t.Fatalf("after apply: %q", a.Differences(f, snap))
	}
	restore, err := a.RestoreCommands(f, snap)
	if err != nil || len(restore) != 2 || !strings.HasPrefix(restore[1], "reg delete ") {
		t.Fatalf("restore: %q, %v", restore, err)
	}
	winRunAll(t, r, restore)
	if diff := a.Differences(winGather(t, d, r), snap); len(diff) != 0 {
		t.Errorf("after restore: %q", diff)
	}
}

// Excluded port ranges (Hyper-V, WinNAT and administrators reserve blocks
// of the dynamic range) shrink what a new range gives: a range mostly
// excluded is refused, a little overlap is a note.
func TestWindowsDriverExcludedPorts(t *testing.T) {
	want := platform.PortRange{Low: 20000, High: 44999}
	for _, tc := range []struct {
		lo, hi  int
		refused bool
	}{{20000, 39999, true}, {30000, 30099, false}} {
		h := newWindowsHost(t, "10.0")
		h.Emu.(*windows).ExcludePorts(tc.lo, tc.hi)
		d, _ := winDriver(t)
		f := winGather(t, d, &winRunner{h: h, user: WindowsAdmin})
		p, err := platform.Propose(d, f, platform.Targets{EphemeralPorts: &want}, platform.Guardrails{})
		if err != nil || len(p.Changes) != 1 {
			t.Fatalf("%d-%d: %+v, %v", tc.lo, tc.hi, p, err)
		}
		c := p.Changes[0]
		n := tc.hi - tc.lo + 1
		what := fmt.Sprintf("%d of the 25000 ports of 20000-44999 are excluded", n)
		if tc.refused {
			if !strings.Contains(c.Refused, what) || len(p.Steps) != 0 {
				t.Errorf("%d-%d: refused %q, steps %q; want refused with %q", tc.lo, tc.hi, c.Refused, p.Steps, what)
			}
			continue
		}
		if c.Refused != "" || len(p.Steps) == 0 || !strings.Contains(strings.Join(p.Notes, "\n"), what) {
			t.Errorf("%d-%d: refused %q, notes %q; want planned with a note %q", tc.lo, tc.hi, c.Refused, p.Notes, what)
		}
	}
}

// A TIME_WAIT change that went too far shows on some hosts only in the
// System log: connections the stack refuses before a segment leaves (event
// 4227) are no failed attempts on the wire, so netstat -s -p tcp's
// counters stay flat. The health check reads the log, and sees it.
func TestWindowsCountersReadTcpipEvents(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	d, _ := winDriver(t)
	r := &winRunner{h: h, user: winAdmin}
	if err := WindowsEventOnlyFailures(h, true); err != nil {
		t.Fatal(err)
	}
	healthy0, err := d.Counters(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	healthy1, _ := d.Counters(context.Background(), r)
	if _, exceeded := platform.CounterDeltas(healthy0, healthy1, d.Thresholds()); len(exceeded) != 0 {
		t.Errorf("a healthy host exceeds %v", exceeded)
	}
	if healthy1["Tcpip.Event4227"] != 0 || healthy1["Tcpip.Event4231"] != 0 {
		t.Errorf("a healthy host has Tcpip events: %v", healthy1)
	}

	h.Lock()
	h.Faults.HandshakeFailures, h.BaselineTimeWait = true, 24*time.Hour
	h.Unlock()
	before, err := d.Counters(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	after, err := d.Counters(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	deltas, exceeded := platform.CounterDeltas(before, after, d.Thresholds())
	if len(exceeded) != 1 || !strings.HasPrefix(exceeded[0], "Tcpip.Event4227 +") {
		t.Errorf("exceeded %v (deltas %v); want only the 4227 events, netstat's counters flat", exceeded, deltas)
	}
	if q := r.cmds[len(r.cmds)-1]; !strings.HasPrefix(q, "wevtutil qe System ") || !strings.Contains(q, "TimeCreated[@SystemTime>='2026-11-01T05:59:00.000Z']") {
		t.Errorf("the last command %q; want the events since a minute before the boot", q)
	}
}

// Events of an earlier boot do not count: the log survives a reboot, the
// counts start again from zero with the new boot, as netstat's do.
func TestWindowsTcpipEventsSinceBoot(t *testing.T) {
	h := newWindowsHost(t, "6.1")
	d, _ := winDriver(t)
	r := &winRunner{h: h, user: winAdmin}
	h.Lock()
	e := h.Emu.(*windows)
	e.events = append(e.events, windowsEvent{h.BootTime.Add(time.Hour), 4227}, windowsEvent{h.BootTime.Add(2 * time.Hour), 4231})
	h.Unlock()
	c, err := d.Counters(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if c["Tcpip.Event4227"] != 1 || c["Tcpip.Event4231"] != 1 {
		t.Errorf("counts %v; want the two events of this boot", c)
	}
	h.Reboot()
	if c, _ = d.Counters(context.Background(), r); c["Tcpip.Event4227"] != 0 || c["Tcpip.Event4231"] != 0 {
		t.Errorf("after a reboot %v; the earlier boot's events must not count", c)
	}
	// An exhausted host with more events since its boot than are counted:
	// the counts are left out rather than pinned at the cap.
	h.Lock()
	h.Load.Profile, h.BootTime = ProfileExhausted, time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		e.events = append(e.events, windowsEvent{h.BootTime.Add(time.Minute), 4227})
	}
	h.Unlock()
	if c, err = d.Counters(context.Background(), r); err != nil || c["Tcp.ActiveOpens"] == 0 {
		t.Fatalf("%v %v", c, err)
	}
	if _, ok := c["Tcpip.Event4227"]; ok {
		t.Errorf("more than 1000 events counted as %d", c["Tcpip.Event4227"])
	}
}

// Server 2003 has no wevtutil: the counters are netstat's only, and the
// plan says the events are not read.
func TestWindows2003CountersWithoutEvents(t *testing.T) {
	h := newWindowsHost(t, "5.2")
	d, _ := winDriver(t)
	r := &winRunner{h: h, user: winAdmin}
	c, err := d.Counters(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c["Tcpip.Event4227"]; ok || c["Tcp.ResetConnections"] == 0 {
		t.Errorf("2003 counters %v", c)
	}
	tw := 30 * time.Second
	p := d.Propose(winGather(t, d, r), platform.Targets{TimeWait: &tw}, platform.Guardrails{})
	if !strings.Contains(strings.Join(p.Notes, "\n"), "no wevtutil, so the Tcpip events 4227 and 4231 are not read") {
		t.Errorf("notes %q", p.Notes)
	}
}

// A virtual machine whose clock is set an hour on or back without a reboot
// (its host and it disagree about daylight saving) shows LastBootUpTime an
// hour away at the same UTC offset. That is no reboot: the registry change
// fleettune made stays pending, never "in force". A real reboot still is
// one.
func TestWindowsClockShiftIsNoReboot(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	d, _ := winDriver(t)
	r := &winRunner{h: h, user: WindowsAdmin}
	tw := 30 * time.Second
	tgt := platform.Targets{TimeWait: &tw}
	p, err := platform.Propose(d, winGather(t, d, r), tgt, platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	winRunAll(t, r, p.Steps)
	e := h.Emu.(*windows)
	for _, shift := range []time.Duration{time.Hour, -time.Hour, time.Hour + time.Minute} {
		e.SetClockShift(shift)
		f := winGather(t, d, r)
		got := d.Propose(f, tgt, platform.Guardrails{})
		if len(got.Changes) != 1 || !got.Changes[0].Pending() {
			t.Errorf("clock %s off: %+v; want TcpTimedWaitDelay still awaiting a reboot", shift, got.Changes)
		}
		if h.Emu.TimeWait() == tw {
			t.Fatal("the lab put the value in force without a reboot")
		}
	}
	e.SetClockShift(0)
	h.Reboot()
	if got := d.Propose(winGather(t, d, r), tgt, platform.Guardrails{}); len(got.Changes) != 0 {
		t.Errorf("after a real reboot: %+v", got.Changes)
	}
}
