package lab

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// aixRunner runs the real driver's commands through the lab shell.
type aixRunner struct {
	h    *Host
	user string
	cmds *[]string
}

func (r aixRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	if r.cmds != nil {
		*r.cmds = append(*r.cmds, cmd)
	}
	o := r.h.Run(r.user, cmd)
	return remote.Result{Stdout: []byte(o.Stdout), Stderr: []byte(o.Stderr), ExitCode: o.Code}, nil
}

func aixDriver(t *testing.T) (platform.Driver, platform.Applier) {
	t.Helper()
	d, err := platform.For(platform.AIX)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := d.(platform.Applier)
	if !ok {
		t.Fatal("the AIX driver is not an Applier")
	}
	return d, a
}

func aixGather(t *testing.T, d platform.Driver, h *Host) *platform.Facts {
	t.Helper()
	f, err := d.Gather(context.Background(), aixRunner{h: h, user: "root"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func aixRunCmds(t *testing.T, h *Host, cmds []string) {
	t.Helper()
	for _, c := range cmds {
		if o := h.Run("root", c); o.Code != 0 {
			t.Fatalf("%s: exit %d: %s", c, o.Code, o.Stderr)
		}
	}
}

func aixTargets() platform.Targets {
	r := platform.PortRange{Low: 10240, High: 65535}
	tw, ka := 30*time.Second, 5*time.Minute
	return platform.Targets{EphemeralPorts: &r, TimeWait: &tw, KeepaliveTime: &ka}
}

func TestAIXDriverCycle(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rebootType string // a tunable emulated as type Reboot
	}{{"dynamic", ""}, {"reboot tunable", "tcp_timewait"}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newAIXHost(t, "7.2")
			if tc.rebootType != "" {
				aixSetType(h, tc.rebootType, "R")
			}
			stock := h.Files[aixNextboot]
			d, a := aixDriver(t)
			g := platform.Guardrails{}

			before := aixGather(t, d, h)
			prop := d.Propose(before, aixTargets(), g)
			if len(prop.Changes) != 3 {
				t.Fatalf("want 3 changes, got %+v", prop.Changes)
			}
			cmds, err := a.ApplyCommands(before, prop.Changes)
			if err != nil {
				t.Fatal(err)
			}
			snap := a.Snapshot(before, prop.Changes)
			aixRunCmds(t, h, cmds)

			after := aixGather(t, d, h)
			again := d.Propose(after, aixTargets(), g)
			for _, c := range again.Changes {
				if !c.Pending() || c.Knob != tc.rebootType {
					t.Errorf("after apply: %+v is not converged or pending", c)
				}
			}
			if tc.rebootType == "" && len(again.Changes) != 0 {
				t.Errorf("dynamic tunables not converged: %+v", again.Changes)
			}
			if tc.rebootType != "" && len(again.Changes) != 1 {
				t.Errorf("want one pending change, got %+v", again.Changes)
			}

			h.Reboot()
			rebooted := aixGather(t, d, h)
			if rebooted.BootID == after.BootID {
				t.Errorf("boot id unchanged across a reboot: %q", rebooted.BootID)
			}
			if p := d.Propose(rebooted, aixTargets(), g); len(p.Changes) != 0 {
				t.Errorf("not converged after reboot: %+v", p.Changes)
			}
			if h.Emu.TimeWait() != 30*time.Second {
				t.Errorf("live TIME_WAIT %s, want 30s", h.Emu.TimeWait())
			}

			restore, err := a.RestoreCommands(rebooted, snap)
			if err != nil {
				t.Fatal(err)
			}
			if len(restore) == 0 {
				t.Fatal("no restore commands")
			}
			aixRunCmds(t, h, restore)
			back := aixGather(t, d, h)
			diff := a.Differences(back, snap)
			if tc.rebootType != "" {
				// The Reboot tunable's live value returns at the next boot.
				if len(diff) != 1 {
					t.Errorf("differences before reboot: %v", diff)
				}
				h.Reboot()
				back = aixGather(t, d, h)
				diff = a.Differences(back, snap)
			}
			if len(diff) != 0 {
				t.Errorf("differences after restore: %v", diff)
			}
			if h.Files[aixNextboot] != stock {
				t.Errorf("nextboot after restore:\n%s\nwant the stock file", h.Files[aixNextboot])
			}
			if !reflect.DeepEqual(back.Knobs, before.Knobs) {
				t.Errorf("knobs after restore %+v, before %+v", back.Knobs, before.Knobs)
			}
			if more, _ := a.RestoreCommands(back, snap); len(more) != 0 {
				t.Errorf("restore is not idempotent: %v", more)
			}
		})
	}
}

// A host whose nextboot already set the values differently from live
// (drift) gets exactly that back.
func TestAIXDriverRestoresDrift(t *testing.T) {
	h := newAIXHost(t, "7.1")
	aixMustRun(t, h, "no -o tcp_ephemeral_low=20000; no -r -o tcp_keepidle=1200; no -p -o tcp_timewait=3")
	d, a := aixDriver(t)
	before := aixGather(t, d, h)
	nb := h.Files[aixNextboot]
	prop := d.Propose(before, aixTargets(), platform.Guardrails{})
	cmds, err := a.ApplyCommands(before, prop.Changes)
	if err != nil {
		t.Fatal(err)
	}
	snap := a.Snapshot(before, prop.Changes)
	aixRunCmds(t, h, cmds)
	restore, err := a.RestoreCommands(aixGather(t, d, h), snap)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		// live 20000, no nextboot entry: entry out, then the live value
		"no -r -d tcp_ephemeral_low", "no -o tcp_ephemeral_low=20000",
		// live default, nextboot 1200: each side on its own
		"no -o tcp_keepidle=14400", "no -r -o tcp_keepidle=1200",
		// live and nextboot both 3: one no -p
		"no -p -o tcp_timewait=3",
	}
	if !reflect.DeepEqual(restore, want) {
		t.Errorf("restore commands:\n%q\nwant\n%q", restore, want)
	}
	aixRunCmds(t, h, restore)
	back := aixGather(t, d, h)
	if diff := a.Differences(back, snap); len(diff) != 0 {
		t.Errorf("differences: %v (restore ran %v)", diff, restore)
	}
	if h.Files[aixNextboot] != nb {
		t.Errorf("nextboot after restore:\n%s\nwant\n%s", h.Files[aixNextboot], nb)
	}
}

// In the pre-5.2 compatibility mode (sys0 pre520tune=enable) AIX does not
// apply nextboot at boot: what no -p set is gone after a reboot. The plan
// must not pretend otherwise: every change is refused, naming the mode,
// and nothing runs.
func TestAIXDriverCompatibilityMode(t *testing.T) {
	h := newAIXHost(t, "7.2")
	h.Emu.(*aixEmu).SetPre520Tune(true)
	d, _ := aixDriver(t)
	f := aixGather(t, d, h)
	p, err := platform.Propose(d, f, aixTargets(), platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 3 || len(p.Steps) != 0 {
		t.Fatalf("compatibility mode: %d changes, steps %q; want 3 refused and nothing to run", len(p.Changes), p.Steps)
	}
	for _, c := range p.Changes {
		if !strings.Contains(c.Refused, "pre520tune") || len(c.Commands) != 0 {
			t.Errorf("%s: refused %q, commands %q", c.Setting, c.Refused, c.Commands)
		}
	}
	// What the old plan would have done, to show the loss: no -p sets the
	// value, and the reboot takes it away.
	aixRunCmds(t, h, []string{"no -p -o tcp_keepidle=600"})
	h.Reboot()
	if f := aixGather(t, d, h); f.Knobs["tcp_keepidle"].Live != "14400" {
		t.Errorf("after a reboot in compatibility mode tcp_keepidle is %q; the lab should have lost no -p's value", f.Knobs["tcp_keepidle"].Live)
	}
	// Out of compatibility mode, the same host is planned normally.
	h.Emu.(*aixEmu).SetPre520Tune(false)
	if p, _ := platform.Propose(d, aixGather(t, d, h), aixTargets(), platform.Guardrails{}); len(p.Steps) == 0 {
		t.Errorf("out of compatibility mode: %+v", p)
	}
}
