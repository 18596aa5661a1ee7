package lab

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

func newLinuxHost(t *testing.T, release string) *Host {
	t.Helper()
	h, err := NewHost("lnx-01", "linux", release)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The real Linux driver against the emulator: gather, plan, apply,
// converged, reboot keeps the persisted values (new boot id), roll back,
// back where it was, byte for byte.
func TestLinuxDriverRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, rel := range []string{"6.1", "5.10", "4.19"} {
		t.Run(rel, func(t *testing.T) {
			h := newLinuxHost(t, rel)
			h.Listening = []int{22, 5432}
			d, err := platform.For(platform.Linux)
			if err != nil {
				t.Fatal(err)
			}
			a := d.(platform.Applier)
			r := &tru64Runner{h: h, user: "root"}
			native := []string{"net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_tw_recycle"}
			gather := func() *platform.Facts {
				t.Helper()
				f, err := d.Gather(ctx, r, native)
				if err != nil {
					t.Fatalf("gather: %v\nran %q", err, r.ran)
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
			rng := platform.PortRange{Low: 10240, High: 65535}
			ka := 5 * time.Minute
			targets := platform.Targets{EphemeralPorts: &rng, KeepaliveTime: &ka, Native: map[string]string{"net.ipv4.tcp_tw_reuse": "1"}}
			g := platform.Guardrails{}

			before := gather()
			if before.Version != h.Uname.Release || before.BootID == "" {
				t.Errorf("version %q boot id %q", before.Version, before.BootID)
			}
			if k := before.Knobs["net.ipv4.ip_local_port_range"]; k.Live != "32768\t60999" {
				t.Errorf("live range %q", k.Live)
			}
			if k := before.Knobs["net.ipv4.tcp_tw_recycle"]; !k.Missing {
				t.Errorf("tcp_tw_recycle (removed in 4.12) is not missing: %+v", k)
			}
			if got := before.Listening; len(got) != 2 || got[0] != 22 || got[1] != 5432 {
				t.Errorf("listening %v, want [22 5432] (from ss -tn state listening)", got)
			}
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
			if p := d.Propose(after, targets, g); len(p.Changes) != 0 {
				t.Errorf("not converged after apply: %+v", p.Changes)
			}
			if h.Files[platform.LinuxPersistFile] == "" {
				t.Error("nothing persisted")
			}

			h.Reboot()
			rebooted := gather()
			if rebooted.BootID == before.BootID {
				t.Error("boot id did not change across the reboot")
			}
			if p := d.Propose(rebooted, targets, g); len(p.Changes) != 0 {
				t.Errorf("not converged after the reboot: %+v", p.Changes)
			}
			rc, err := a.RestoreCommands(rebooted, snap)
			if err != nil {
				t.Fatal(err)
			}
			run(rc)
			if diff := a.Differences(gather(), snap); len(diff) != 0 {
				t.Errorf("differences after restore: %q", diff)
			}
			if _, ok := h.Files[platform.LinuxPersistFile]; ok {
				t.Error("fleettune's sysctl.d file is still there after the rollback")
			}
			h.Reboot()
			if k := gather().Knobs["net.ipv4.ip_local_port_range"]; k.Live != "32768\t60999" {
				t.Errorf("after rollback and reboot: %q", k.Live)
			}
		})
	}
}

func TestLinuxSysctlAndProc(t *testing.T) {
	h := newLinuxHost(t, "6.1")
	for _, tc := range []struct {
		user, script string
		want         Output
	}{
		{"root", "sysctl -w net.ipv4.ip_local_port_range='1000 2000'",
			Output{Stderr: "sysctl: setting key \"net.ipv4.ip_local_port_range\": Invalid argument\n", Code: 255}},
		{"root", "sysctl -w net.ipv4.ip_local_port_range='20000 30001' && cat /proc/sys/net/ipv4/ip_local_port_range",
			Output{Stdout: "net.ipv4.ip_local_port_range = 20000 30001\n20000\t30001\n"}},
		{"ops", "sysctl -w net.ipv4.tcp_tw_reuse=1", Output{Stderr: "sysctl: permission denied on key \"net.ipv4.tcp_tw_reuse\"\n", Code: 255}},
		{"root", "sysctl net.ipv4.tcp_tw_recycle", Output{Stderr: "sysctl: cannot stat /proc/sys/net/ipv4/tcp_tw_recycle: No such file or directory\n", Code: 255}},
		{"root", "echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse; sysctl -n net.ipv4.tcp_tw_reuse", Output{Stdout: "1\n"}},
		{"root", "echo 7-9,3 > /proc/sys/net/ipv4/ip_local_reserved_ports; cat /proc/sys/net/ipv4/ip_local_reserved_ports", Output{Stdout: "3,7-9\n"}},
		{"root", "uname -srv", Output{Stdout: "Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n"}},
	} {
		if got := h.Run(tc.user, tc.script); got != tc.want {
			t.Errorf("%s: %q\ngot  %#v\nwant %#v", tc.user, tc.script, got, tc.want)
		}
	}
	// Persisted with / separators and applied at boot; the later file wins.
	h.Files["/etc/sysctl.d/60-a.conf"] = "net/ipv4/tcp_keepalive_time = 600\n"
	h.Files["/etc/sysctl.d/70-b.conf"] = "net.ipv4.tcp_keepalive_time=900\n"
	h.Files["/usr/lib/sysctl.d/70-b.conf"] = "net.ipv4.tcp_keepalive_time=1\n" // masked by /etc's 70-b.conf
	h.Reboot()
	if got := h.Run("root", "cat /proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/net/ipv4/ip_local_port_range"); got.Stdout != "900\n32768\t60999\n" {
		t.Errorf("after boot: %#v", got)
	}
}

// ss -Htano and /proc/net/tcp in the layouts captured from a real 6.18
// kernel with iproute2 6.1 (see README.md): a listener and TIME-WAIT rows.
func TestLinuxSocketFormats(t *testing.T) {
	h := newLinuxHost(t, "6.1")
	h.Listening = []int{22, 2024}
	h.Load = Load{Profile: ProfileBusy, Local: netip.MustParseAddr("127.0.0.1"), Dest: netip.MustParseAddrPort("127.0.0.1:42304"), Rate: 0.05}
	ss := h.Run("root", "ss -Htano")
	lines := strings.Split(ss.Stdout, "\n")
	// The captured rows, verbatim (timer values aside):
	//   LISTEN    0      128      0.0.0.0:2024    0.0.0.0:*                               $
	//   TIME-WAIT 0      0      127.0.0.1:46483 127.0.0.1:42304 timer:(timewait,9.368ms,0)$
	wantListen := "LISTEN    0      4096     0.0.0.0:2024    0.0.0.0:*                             "
	if lines[1] != wantListen {
		t.Errorf("listener row\n got %q\nwant %q", lines[1], wantListen)
	}
	if want := "TIME-WAIT 0      0      127.0.0.1:32768 127.0.0.1:42304 timer:(timewait,50sec,0)"; lines[3] != want {
		t.Errorf("TIME-WAIT row\n got %q\nwant %q\n%s", lines[3], want, ss.Stdout)
	}
	if want := "ESTAB     0      0      127.0.0.1:22     10.0.0.1:50123                         "; lines[2] != want {
		t.Errorf("admin session row\n got %q\nwant %q", lines[2], want)
	}
	if n := strings.Count(ss.Stdout, "TIME-WAIT"); n != 3 {
		t.Errorf("%d TIME-WAIT rows, want 3 (0.05/s × 60 s)", n)
	}
	for _, tc := range []struct{ d, want string }{{"52340ms", "52sec"}, {"9368ms", "9.368ms"}, {"368ms", "368ms"}, {"61s", "1min1sec"}} {
		d, _ := time.ParseDuration(tc.d)
		if got := ssTimer(d); got != tc.want {
			t.Errorf("ssTimer(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}

	tcp := h.Run("root", "cat /proc/net/tcp").Stdout
	rows := strings.Split(strings.TrimSuffix(tcp, "\n"), "\n")
	for i, r := range rows {
		if len(r) != 149 {
			t.Errorf("/proc/net/tcp line %d is %d characters, want 149 (TMPSZ-1): %q", i, len(r), r)
		}
	}
	if !strings.HasPrefix(rows[0], "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode") ||
		!strings.HasPrefix(rows[2], "   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18001 1 ") {
		t.Errorf("/proc/net/tcp:\n%s", tcp)
	}
	if !strings.HasPrefix(rows[4], "   3: 0100007F:8000 0100007F:A540 06 00000000:00000000 03:00001388 00000000     0        0 0 3 ") {
		t.Errorf("TIME_WAIT row %q", rows[4])
	}
	if got := h.Run("root", "cat /proc/net/sockstat").Stdout; !strings.Contains(got, "TCP: inuse 5 orphan 0 tw 3 ") {
		t.Errorf("sockstat %q", got)
	}
	tcp6 := h.Run("root", "cat /proc/net/tcp6").Stdout
	if !strings.Contains(tcp6, "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A ") {
		t.Errorf("tcp6:\n%s", tcp6)
	}

	NoSS(h)
	if got := h.Run("root", "ss -Htano"); got.Code != 127 || got.Stderr != "sh: ss: not found\n" {
		t.Errorf("without ss: %#v", got)
	}
}
