package lab

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// hpuxRunner runs a driver's commands through the lab shell, as a remote
// session would.
type hpuxRunner struct {
	h    *Host
	user string
	cmds []string
}

func (r *hpuxRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.cmds = append(r.cmds, cmd)
	out := r.h.Run(r.user, cmd)
	return remote.Result{Stdout: []byte(out.Stdout), Stderr: []byte(out.Stderr), ExitCode: out.Code}, nil
}

var _ platform.Runner = (*hpuxRunner)(nil)

func hpuxDriverFor(t *testing.T) (platform.Driver, platform.Applier) {
	t.Helper()
	d, err := platform.For(platform.HPUX)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := d.(platform.Applier)
	if !ok {
		t.Fatal("the HP-UX driver is not an Applier")
	}
	return d, a
}

func hpuxTargets() platform.Targets {
	r := platform.PortRange{Low: 10240, High: 65535}
	tw, ka := 30*time.Second, 5*time.Minute
	return platform.Targets{EphemeralPorts: &r, TimeWait: &tw, KeepaliveTime: &ka}
}

// hpuxRunAll runs cmds in order and fails the test on the first failure.
func hpuxRunAll(t *testing.T, r *hpuxRunner, cmds []string) {
	t.Helper()
	for _, c := range cmds {
		res, _ := r.Run(context.Background(), c)
		if res.ExitCode != 0 {
			t.Fatalf("%q exited %d: %s", c, res.ExitCode, res.Stderr)
		}
	}
}

// The real driver against the emulator, the way fleettune apply and
// rollback drive it: plan, apply, converge, survive a reboot, roll back.
func TestHPUXDriverOnLab(t *testing.T) {
	for _, release := range []string{"B.11.11", "B.11.23", "B.11.31"} {
		t.Run(release, func(t *testing.T) {
			ctx := context.Background()
			h, err := NewHost("hp1", "hpux", release)
			if err != nil {
				t.Fatal(err)
			}
			before := h.Files[HPUXNddconf]
			d, a := hpuxDriverFor(t)
			r := &hpuxRunner{h: h, user: "root"}

			f, err := d.Gather(ctx, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if f.Version != release || f.Knobs["tcp_smallest_anon_port"].Live != "49152" || f.TimeWait != 2 {
				t.Fatalf("gather: version %q, smallest %q, TIME_WAIT %d", f.Version, f.Knobs["tcp_smallest_anon_port"].Live, f.TimeWait)
			}
			g := platform.Guardrails{}
			p := d.Propose(f, hpuxTargets(), g)
			if len(p.Changes) != 3 {
				t.Fatalf("want 3 changes, got %+v", p.Changes)
			}
			for _, c := range p.Changes {
				if c.Refused != "" || c.RebootRequired {
					t.Fatalf("change %+v refused or needs a reboot", c)
				}
			}
			snap := a.Snapshot(f, p.Changes)
			cmds, err := a.ApplyCommands(f, p.Changes)
			if err != nil {
				t.Fatal(err)
			}
			hpuxRunAll(t, r, cmds)

			assertConverged := func(when string) {
				t.Helper()
				f, err := d.Gather(ctx, r, nil)
				if err != nil {
					t.Fatal(err)
				}
				if p := d.Propose(f, hpuxTargets(), g); len(p.Changes) != 0 {
					t.Fatalf("%s: not converged: %+v", when, p.Changes)
				}
			}
			assertConverged("after apply")
			if got := h.Emu.TimeWait(); got != 30*time.Second {
				t.Errorf("live TIME_WAIT %s, want 30s", got)
			}
			// The tcp entries went after the administrator's ip entry
			// at 0, which stayed as it was.
			want := before + "TRANSPORT_NAME[1]=tcp\nNDD_NAME[1]=tcp_smallest_anon_port\nNDD_VALUE[1]=10240\n" +
				"TRANSPORT_NAME[2]=tcp\nNDD_NAME[2]=tcp_time_wait_interval\nNDD_VALUE[2]=30000\n" +
				"TRANSPORT_NAME[3]=tcp\nNDD_NAME[3]=tcp_keepalive_interval\nNDD_VALUE[3]=300000\n"
			if got := h.Files[HPUXNddconf]; got != want {
				t.Errorf("nddconf after apply:\n%s\nwant:\n%s", got, want)
			}

			bootBefore := f.BootID
			h.Reboot()
			assertConverged("after reboot")
			f2, _ := d.Gather(ctx, r, nil)
			if f2.BootID == bootBefore {
				t.Errorf("boot id %q did not change across a reboot", f2.BootID)
			}

			cmds, err = a.RestoreCommands(f2, snap)
			if err != nil {
				t.Fatal(err)
			}
			hpuxRunAll(t, r, cmds)
			f3, err := d.Gather(ctx, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := a.Differences(f3, snap); len(diff) != 0 {
				t.Errorf("differences after restore: %q", diff)
			}
			if h.Files[HPUXNddconf] != before {
				t.Errorf("nddconf after restore is not byte-identical:\n%s", h.Files[HPUXNddconf])
			}
			for k, v := range map[string]string{"tcp_smallest_anon_port": "49152", "tcp_time_wait_interval": "60000", "tcp_keepalive_interval": "7200000"} {
				if f3.Knobs[k].Live != v {
					t.Errorf("%s is %s after restore, want %s", k, f3.Knobs[k].Live, v)
				}
			}
			// And a reboot keeps it restored: nothing of fleettune's is
			// left in nddconf.
			h.Reboot()
			if got := h.Emu.TimeWait(); got != time.Minute {
				t.Errorf("TIME_WAIT after restore and reboot %s, want 1m0s", got)
			}
			for _, c := range r.cmds {
				// An awk program is quoted: its $ are awk's fields.
				c = regexp.MustCompile(`awk '[^']*'`).ReplaceAllString(c, "awk PROGRAM")
				if strings.Contains(c, "$") || strings.Contains(c, "`") {
					t.Errorf("command uses an expansion: %q", c)
				}
			}
		})
	}
}

// A user who is not root can read but not apply: the driver's ndd -set
// fails with HP-UX's own message, and nddconf is not written.
func TestHPUXDriverOnLabNonRoot(t *testing.T) {
	h, err := NewHost("hp1", "hpux", "B.11.31")
	if err != nil {
		t.Fatal(err)
	}
	before := h.Files[HPUXNddconf]
	d, a := hpuxDriverFor(t)
	r := &hpuxRunner{h: h, user: "ops"}
	f, err := d.Gather(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Propose(f, hpuxTargets(), platform.Guardrails{})
	cmds, err := a.ApplyCommands(f, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	var failures []string
	for _, c := range cmds {
		out := h.Run("ops", c)
		if out.Code != 0 {
			failures = append(failures, strings.TrimSpace(out.Stderr))
		}
	}
	want := []string{
		"operation failed: Not owner", "operation failed: Not owner", "operation failed: Not owner",
		"sh: " + HPUXNddconf + ".fleettune-tmp: Permission denied",
	}
	if !reflect.DeepEqual(failures, want) {
		t.Errorf("failures %q, want %q", failures, want)
	}
	if h.Files[HPUXNddconf] != before {
		t.Error("nddconf changed under a non-root user")
	}
}

// HP-UX's ndd answers an unknown name on stdout, exit 0. A kernel without
// tcp_tw_cleanup_interval (read only for a note) is still planned; one
// without a parameter fleettune must set fails clearly, naming it.
func TestHPUXDriverMissingParameter(t *testing.T) {
	ctx := context.Background()
	tw := 30 * time.Second
	d, _ := hpuxDriverFor(t)

	h := newHPUXHost(t, "B.11.31")
	h.Emu.(*hpux).Lack("tcp_tw_cleanup_interval")
	f, err := d.Gather(ctx, &hpuxRunner{h: h, user: "root"}, nil)
	if err != nil {
		t.Fatalf("a host without tcp_tw_cleanup_interval fails: %v", err)
	}
	if k := f.Knobs["tcp_tw_cleanup_interval"]; !k.Missing {
		t.Errorf("tcp_tw_cleanup_interval: %+v, want Missing", k)
	}
	p, err := platform.Propose(d, f, platform.Targets{TimeWait: &tw}, platform.Guardrails{})
	if err != nil || len(p.Changes) != 1 || p.Changes[0].Refused != "" || len(p.Steps) == 0 {
		t.Errorf("plan: %+v, %v", p, err)
	}

	h = newHPUXHost(t, "B.11.31")
	h.Emu.(*hpux).Lack("tcp_time_wait_interval")
	f, err = d.Gather(ctx, &hpuxRunner{h: h, user: "root"}, nil)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	if k := f.Knobs["tcp_time_wait_interval"]; !k.Missing || k.Live != "" {
		t.Errorf("tcp_time_wait_interval: %+v, want Missing", k)
	}
	p, err = platform.Propose(d, f, platform.Targets{TimeWait: &tw}, platform.Guardrails{})
	if err != nil || len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Refused, "tcp_time_wait_interval") || len(p.Steps) != 0 {
		t.Errorf("plan for a kernel without tcp_time_wait_interval: %+v, %v", p, err)
	}
}
