package lab

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// tru64Runner runs the driver's commands through the lab shell.
type tru64Runner struct {
	h    *Host
	user string
	ran  []string
}

func (r *tru64Runner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.ran = append(r.ran, cmd)
	o := r.h.Run(r.user, cmd)
	return remote.Result{Stdout: []byte(o.Stdout), Stderr: []byte(o.Stderr), ExitCode: o.Code}, nil
}

// The real driver against the emulator: plan, apply, verify (converged or
// awaiting a reboot), reboot, converged, roll back, back where it was.
func TestTru64DriverRoundTrip(t *testing.T) {
	ctx := context.Background()
	rng := platform.PortRange{Low: 10240, High: 65535}
	tw, ka := 30*time.Second, 5*time.Minute
	targets := platform.Targets{EphemeralPorts: &rng, TimeWait: &tw, KeepaliveTime: &ka}
	g := platform.Guardrails{}

	for _, tc := range []struct {
		release string
		pending []string // settings awaiting a reboot after apply
	}{{"V5.1B", nil}, {"V5.1", []string{"time_wait"}}, {"V4.0F", []string{"time_wait"}}} {
		t.Run(tc.release, func(t *testing.T) {
			h := newTru64Host(t, tc.release)
			tabBefore := h.Files["/etc/sysconfigtab"]
			d, err := platform.For(platform.Tru64)
			if err != nil {
				t.Fatal(err)
			}
			a := d.(platform.Applier)
			r := &tru64Runner{h: h, user: "root"}
			gather := func() *platform.Facts {
				t.Helper()
				f, err := d.Gather(ctx, r, nil)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			run := func(cmds []string) {
				t.Helper()
				for _, c := range cmds {
					if res, _ := r.Run(ctx, c); res.ExitCode != 0 {
						t.Fatalf("%s: exit %d: %s", c, res.ExitCode, res.Stderr)
					}
				}
			}
			pendingOf := func(p platform.Proposal) []string {
				var s []string
				for _, c := range p.Changes {
					if !c.Pending() {
						t.Errorf("after apply, %s is still a change: %+v", c.Setting, c)
						continue
					}
					s = append(s, c.Setting)
				}
				return s
			}

			before := gather()
			bootBefore := before.BootID
			p := d.Propose(before, targets, g)
			if len(p.Changes) != 3 {
				t.Fatalf("changes: %+v", p.Changes)
			}
			cmds, err := a.ApplyCommands(before, p.Changes)
			if err != nil {
				t.Fatal(err)
			}
			snap := a.Snapshot(before, p.Changes)
			run(cmds)

			after := gather()
			if got := pendingOf(d.Propose(after, targets, g)); !reflect.DeepEqual(got, tc.pending) {
				t.Errorf("pending after apply: %v, want %v", got, tc.pending)
			}
			if want := 60 * time.Second; len(tc.pending) > 0 && h.Emu.TimeWait() != want {
				t.Errorf("boot-only tcp_msl changed before the reboot: %s", h.Emu.TimeWait())
			}

			h.Reboot()
			rebooted := gather()
			if rebooted.BootID == bootBefore {
				t.Error("boot id did not change across the reboot")
			}
			if p := d.Propose(rebooted, targets, g); len(p.Changes) != 0 {
				t.Errorf("not converged after the reboot: %+v", p.Changes)
			}
			if h.Emu.TimeWait() != 30*time.Second {
				t.Errorf("TIME_WAIT after reboot %s, want 30s", h.Emu.TimeWait())
			}

			if len(tc.pending) == 0 {
				// Everything is run-time settable: the rollback is
				// complete without a reboot.
				rc, err := a.RestoreCommands(rebooted, snap)
				if err != nil {
					t.Fatal(err)
				}
				run(rc)
				if diff := a.Differences(gather(), snap); len(diff) != 0 {
					t.Errorf("differences after restore: %q", diff)
				}
			} else {
				// tcp_msl cannot go back live; the stanza can, and a
				// reboot completes the rollback.
				rc, err := a.RestoreCommands(rebooted, snap)
				if err != nil {
					t.Fatal(err)
				}
				run(rc)
				if diff := a.Differences(gather(), snap); len(diff) != 1 {
					t.Errorf("differences after restore, before reboot: %q (want only tcp_msl)", diff)
				}
				h.Reboot()
				if diff := a.Differences(gather(), snap); len(diff) != 0 {
					t.Errorf("differences after restore and reboot: %q", diff)
				}
			}
			if h.Files["/etc/sysconfigtab"] != tabBefore {
				t.Errorf("sysconfigtab not restored:\n%s\nwas\n%s", h.Files["/etc/sysconfigtab"], tabBefore)
			}
			if _, left := h.Files["/tmp/fleettune-inet.d/inet.stanza"]; left || h.Dirs["/tmp/fleettune-inet.d"] {
				t.Error("the stanza file or its directory was left in /tmp")
			}
		})
	}
}

// A non-root login can read but not change: the driver's commands fail
// with the OS's message.
func TestTru64DriverNonRoot(t *testing.T) {
	h := newTru64Host(t, "V5.1B")
	d, _ := platform.For(platform.Tru64)
	r := &tru64Runner{h: h, user: "ops"}
	f, err := d.Gather(context.Background(), r, nil)
	if err != nil {
		t.Fatalf("a non-root user can read: %v", err)
	}
	ka := 5 * time.Minute
	p := d.Propose(f, platform.Targets{KeepaliveTime: &ka}, platform.Guardrails{})
	cmds, err := d.(platform.Applier).ApplyCommands(f, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := r.Run(context.Background(), cmds[0])
	if res.ExitCode == 0 || string(res.Stderr) != "sysconfig: Permission denied\n" {
		t.Errorf("non-root sysconfig -r: %+v", res)
	}
	res, _ = r.Run(context.Background(), cmds[1])
	if res.ExitCode == 0 || string(res.Stderr) != "sysconfigdb: /etc/sysconfigtab: Permission denied\n" {
		t.Errorf("non-root sysconfigdb: exit %d %q", res.ExitCode, res.Stderr)
	}
}

// A local user plants symbolic links where fleettune might write its stanza
// file. Root's apply must not write through them: /etc/passwd stays as it
// was, and a link at fleettune's private directory stops the apply with
// mkdir's message instead of being followed.
func TestTru64DriverStanzaFileSymlink(t *testing.T) {
	ctx := context.Background()
	ka := 5 * time.Minute
	for _, link := range []string{"/tmp/fleettune-inet.stanza", "/tmp/fleettune-inet.d"} {
		t.Run(link, func(t *testing.T) {
			h := newTru64Host(t, "V5.1B")
			const passwd = "root:x:0:0:root:/:/sbin/sh\n"
			h.Files["/etc/passwd"] = passwd
			h.Symlink("/etc/passwd", link)
			d, _ := platform.For(platform.Tru64)
			r := &tru64Runner{h: h, user: "root"}
			f, err := d.Gather(ctx, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := d.Propose(f, platform.Targets{KeepaliveTime: &ka}, platform.Guardrails{})
			cmds, err := d.(platform.Applier).ApplyCommands(f, p.Changes)
			if err != nil {
				t.Fatal(err)
			}
			var failed string
			for _, c := range cmds {
				if res, _ := r.Run(ctx, c); res.ExitCode != 0 {
					failed = string(res.Stderr)
					break
				}
			}
			if got := h.Files["/etc/passwd"]; got != passwd {
				t.Fatalf("root's apply wrote through the planted link %s: /etc/passwd is now\n%s", link, got)
			}
			planted := link == "/tmp/fleettune-inet.d"
			if planted && failed != "mkdir: cannot create /tmp/fleettune-inet.d: File exists\n" {
				t.Errorf("apply with %s planted: failure %q, want mkdir's File exists", link, failed)
			}
			if !planted && failed != "" {
				t.Errorf("apply with %s planted failed: %q", link, failed)
			}
			if _, ok := h.Links[link]; !ok {
				t.Errorf("the planted link %s was removed", link)
			}
		})
	}
}
