package lab

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

var updateSolaris = flag.Bool("update-solaris", false, "rewrite platform/testdata/solaris fixtures from the emulator")

const solarisFixtureDir = "../platform/testdata/solaris"

// solarisRunner is a platform.Runner over the lab's shell, as a user.
type solarisRunner struct {
	h    *Host
	user string
}

func (r solarisRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	out := r.h.Run(r.user, cmd)
	return remote.Result{Stdout: []byte(out.Stdout), Stderr: []byte(out.Stderr), ExitCode: out.Code}, nil
}

func newSolarisHost(t *testing.T, release string) *Host {
	t.Helper()
	h, err := NewHost("sol-"+release, "solaris", release)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// solarisRunAll runs each command through the host's shell and fails on any error.
func solarisRunAll(t *testing.T, h *Host, user string, cmds []string) {
	t.Helper()
	for _, c := range cmds {
		if out := h.Run(user, c); out.Code != 0 {
			t.Fatalf("%s: exit %d: %s%s", c, out.Code, out.Stdout, out.Stderr)
		}
	}
}

func gatherSolaris(t *testing.T, h *Host) *platform.Facts {
	t.Helper()
	d, err := platform.For(platform.Solaris)
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Gather(context.Background(), solarisRunner{h, "root"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func solarisApplier(t *testing.T) (platform.Driver, platform.Applier) {
	t.Helper()
	d, err := platform.For(platform.Solaris)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := d.(platform.Applier)
	if !ok {
		t.Fatal("the Solaris driver is not an Applier")
	}
	return d, a
}

func solRange(lo, hi int) *platform.PortRange { return &platform.PortRange{Low: lo, High: hi} }
func solDur(d time.Duration) *time.Duration   { return &d }

var solarisTargets = platform.Targets{EphemeralPorts: solRange(10240, 65535), TimeWait: solDur(30 * time.Second), KeepaliveTime: solDur(5 * time.Minute)}

// solarisScenarios set up the hosts whose gather output is kept as fixtures
// in platform/testdata/solaris (see its README.md).
var solarisScenarios = []struct {
	fixture, release string
	setup            func(t *testing.T, h *Host)
}{
	{"gather-5.10-default.txt", "5.10", func(*testing.T, *Host) {}},
	{"gather-5.11-default.txt", "5.11", func(*testing.T, *Host) {}},
	{"gather-5.10-drift.txt", "5.10", func(t *testing.T, h *Host) {
		// fleettune persisted 10240-65535 and 30 s earlier, next to an
		// operator's line; someone then moved the live low end by hand.
		h.Files[platform.SolarisRCScript] = "#!/sbin/sh\n# Written by fleettune.\n" +
			"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240\n" +
			"/usr/sbin/ndd -set /dev/tcp tcp_largest_anon_port 65535\n" +
			"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000\n" +
			"/usr/sbin/ndd -set /dev/tcp tcp_conn_req_max_q 1024\n"
		solarisRunAll(t, h, "root", []string{
			"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 20000",
			"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000",
		})
	}},
	{"gather-5.11-drift.txt", "5.11", func(t *testing.T, h *Host) {
		solarisRunAll(t, h, "root", []string{
			"/usr/sbin/ipadm set-prop -p smallest_anon_port=10240 tcp",
			"/usr/sbin/ipadm set-prop -p _time_wait_interval=30000 tcp",
			"/usr/sbin/ipadm set-prop -t -p smallest_anon_port=20000 tcp",
		})
	}},
	{"gather-5.10-converged.txt", "5.10", func(t *testing.T, h *Host) { applySolarisTargets(t, h) }},
	{"gather-5.10-smf-drift.txt", "5.10", func(t *testing.T, h *Host) {
		// fleettune's SMF service persists the targets; someone then
		// moved the live low end by hand.
		applySolarisTargets(t, h)
		solarisRunAll(t, h, "root", []string{"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 20000"})
	}},
	{"gather-5.11-converged.txt", "5.11", func(t *testing.T, h *Host) { applySolarisTargets(t, h) }},
}

func applySolarisTargets(t *testing.T, h *Host) {
	t.Helper()
	d, a := solarisApplier(t)
	f := gatherSolaris(t, h)
	p := d.Propose(f, solarisTargets, platform.Guardrails{})
	cmds, err := a.ApplyCommands(f, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	solarisRunAll(t, h, "root", cmds)
}

// The gather fixtures are the emulator's answer to the real gather script,
// byte for byte: fixture and emulator cannot drift apart.
func TestSolarisGatherFixturesMatchEmulator(t *testing.T) {
	for _, sc := range solarisScenarios {
		t.Run(sc.fixture, func(t *testing.T) {
			h := newSolarisHost(t, sc.release)
			sc.setup(t, h)
			out := h.Run("root", platform.SolarisGatherScript())
			if out.Code != 0 || out.Stderr != "" {
				t.Fatalf("gather: exit %d, stderr %q", out.Code, out.Stderr)
			}
			path := filepath.Join(solarisFixtureDir, sc.fixture)
			if *updateSolaris {
				if err := os.WriteFile(path, []byte(out.Stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if out.Stdout != string(want) {
				t.Errorf("emulator output differs from %s:\n%s", sc.fixture, out.Stdout)
			}
		})
	}
}

// The counters fixture (platform/testdata/solaris/netstat-s-tcp.txt) is the
// emulator's answer to the driver's counters command on a default host,
// byte for byte, on 10 and 11: fixture and emulator cannot drift apart.
func TestSolarisCountersFixtureMatchesEmulator(t *testing.T) {
	path := filepath.Join(solarisFixtureDir, "netstat-s-tcp.txt")
	for _, release := range []string{"5.10", "5.11"} {
		h := newSolarisHost(t, release)
		out := h.Run("root", platform.SolarisCountersCommand)
		if out.Code != 0 || out.Stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", release, out.Code, out.Stderr)
		}
		if *updateSolaris && release == "5.10" {
			if err := os.WriteFile(path, []byte(out.Stdout), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if out.Stdout != string(want) {
			t.Errorf("%s: emulator output differs from netstat-s-tcp.txt:\n%s", release, out.Stdout)
		}
	}
}

// The health check's view through the real driver: counters read before
// and after a TIME_WAIT change, as the engine reads them around its watch
// window. With the handshake-failure fault on, lowering TIME_WAIT makes
// tcpAttemptFails and tcpEstabResets rise past their thresholds; with the
// fault off, or with the fault on and TIME_WAIT left alone, nothing is
// exceeded although the host is busy (tcpActiveOpens rises).
func TestSolarisCountersShowHandshakeFailures(t *testing.T) {
	up := fmt.Sprintf("+%d", solarisHandshakeFailures)
	for _, release := range []string{"5.10", "5.11"} {
		for _, tc := range []struct {
			name         string
			fault, lower bool
			wantExceeded []string
		}{
			{"fault, TIME_WAIT lowered", true, true, []string{
				"Tcp.tcpAttemptFails " + up + " (threshold 50)",
				"Tcp.tcpEstabResets " + up + " (threshold 50)",
			}},
			{"no fault, TIME_WAIT lowered", false, true, nil},
			{"fault, TIME_WAIT unchanged", true, false, nil},
		} {
			t.Run(release+"/"+tc.name, func(t *testing.T) {
				d, a := solarisApplier(t)
				hr, ok := d.(platform.HealthReader)
				if !ok {
					t.Fatal("the Solaris driver is not a HealthReader")
				}
				h := newSolarisHost(t, release)
				h.Lock()
				h.Faults.HandshakeFailures = tc.fault
				h.Unlock()
				r := solarisRunner{h, "root"}
				ctx := context.Background()

				before, err := hr.Counters(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				if tc.lower {
					f := gatherSolaris(t, h)
					p := d.Propose(f, platform.Targets{TimeWait: solDur(30 * time.Second)}, platform.Guardrails{})
					cmds, err := a.ApplyCommands(f, p.Changes)
					if err != nil || len(cmds) == 0 {
						t.Fatalf("apply commands %q, %v", cmds, err)
					}
					solarisRunAll(t, h, "root", cmds)
					if h.Emu.TimeWait() != 30*time.Second || h.BaselineTimeWait != time.Minute {
						t.Fatalf("TIME_WAIT %v, baseline %v", h.Emu.TimeWait(), h.BaselineTimeWait)
					}
				}
				gatherSolaris(t, h) // the watch window's other traffic
				after, err := hr.Counters(ctx, r)
				if err != nil {
					t.Fatal(err)
				}

				deltas, exceeded := platform.CounterDeltas(before, after, hr.Thresholds())
				if !reflect.DeepEqual(exceeded, tc.wantExceeded) {
					t.Errorf("exceeded %q, want %q (deltas %v)", exceeded, tc.wantExceeded, deltas)
				}
				if len(deltas) != len(hr.Thresholds()) {
					t.Errorf("deltas %v: a thresholded counter is missing from the emulator's output", deltas)
				}
				if after["Tcp.tcpActiveOpens"] <= before["Tcp.tcpActiveOpens"] {
					t.Errorf("tcpActiveOpens %d -> %d: no background traffic", before["Tcp.tcpActiveOpens"], after["Tcp.tcpActiveOpens"])
				}
			})
		}
	}
}

// The whole cycle with the real driver over the lab's shell: plan, apply,
// converged, reboot, still converged, restore, back where it was, and a
// reboot after the restore gives what the host had persisted before.
func TestSolarisDriverCycle(t *testing.T) {
	for _, sc := range solarisScenarios[:4] {
		for _, targets := range []platform.Targets{
			solarisTargets,
			// Above the current range (largest must move first), and below it.
			{EphemeralPorts: solRange(40000, 50000), TimeWait: solDur(45 * time.Second)},
			{EphemeralPorts: solRange(5000, 20000), KeepaliveTime: solDur(10 * time.Minute)},
		} {
			name := sc.fixture + "/" + targets.EphemeralPorts.String()
			t.Run(name, func(t *testing.T) {
				d, a := solarisApplier(t)
				h := newSolarisHost(t, sc.release)
				sc.setup(t, h)
				before := gatherSolaris(t, h)
				beforeFiles := solarisCopyFiles(h.Files)

				p := d.Propose(before, targets, platform.Guardrails{})
				if len(p.Changes) == 0 {
					t.Fatal("no changes proposed")
				}
				for _, c := range p.Changes {
					if c.Refused != "" || c.RebootRequired {
						t.Fatalf("change %+v", c)
					}
				}
				snap := a.Snapshot(before, p.Changes)
				cmds, err := a.ApplyCommands(before, p.Changes)
				if err != nil {
					t.Fatal(err)
				}
				solarisRunAll(t, h, "root", cmds)

				after := gatherSolaris(t, h)
				if rest := d.Propose(after, targets, platform.Guardrails{}); len(rest.Changes) != 0 {
					t.Fatalf("not converged after apply: %+v", rest.Changes)
				}
				if want := time.Duration(solarisAtoi(t, solarisTimeWaitLive(after, "time_wait"))) * time.Millisecond; h.Emu.TimeWait() != want {
					t.Errorf("emulator TimeWait %v, facts say %v", h.Emu.TimeWait(), want)
				}

				h.Reboot()
				rebooted := gatherSolaris(t, h)
				if rebooted.BootID == after.BootID {
					t.Errorf("boot id %q did not change at reboot", rebooted.BootID)
				}
				if rest := d.Propose(rebooted, targets, platform.Guardrails{}); len(rest.Changes) != 0 {
					t.Fatalf("not converged after reboot (not persisted?): %+v", rest.Changes)
				}

				restore, err := a.RestoreCommands(rebooted, snap)
				if err != nil {
					t.Fatal(err)
				}
				solarisRunAll(t, h, "root", restore)
				back := gatherSolaris(t, h)
				if diff := a.Differences(back, snap); len(diff) != 0 {
					t.Errorf("after restore: %q", diff)
				}
				if !reflect.DeepEqual(back.Knobs, before.Knobs) {
					t.Errorf("knobs after restore\n%+v\nwant\n%+v", back.Knobs, before.Knobs)
				}
				if !reflect.DeepEqual(h.Files, beforeFiles) {
					t.Errorf("files after restore differ: %v, want %v", solarisKeys(h.Files), solarisKeys(beforeFiles))
				}
				if again, _ := a.RestoreCommands(back, snap); len(again) != 0 {
					t.Errorf("restore on a restored host: %q", again)
				}

				// What was persisted before is what a reboot gives now.
				h.Reboot()
				boot := gatherSolaris(t, h)
				fresh := gatherSolaris(t, solarisRebootedFresh(t, sc.release, sc.setup))
				for name, k := range fresh.Knobs {
					if boot.Knobs[name] != k {
						t.Errorf("%s after restore+reboot %+v, a fresh host rebooted has %+v", name, boot.Knobs[name], k)
					}
				}
			})
		}
	}
}

// solarisRebootedFresh is a host set up like a scenario and rebooted, never touched
// by fleettune: what the restored host must look like after a reboot.
func solarisRebootedFresh(t *testing.T, release string, setup func(*testing.T, *Host)) *Host {
	h := newSolarisHost(t, release)
	setup(t, h)
	h.Reboot()
	return h
}

func solarisTimeWaitLive(f *platform.Facts, setting string) string {
	for _, n := range []string{"tcp_time_wait_interval", "_time_wait_interval"} {
		if k, ok := f.Knobs[n]; ok {
			return k.Live
		}
	}
	return ""
}

func solarisAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func solarisCopyFiles(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func solarisKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A user other than root can read everything (Gather works) but changes
// nothing: ndd and ipadm refuse with their own messages.
func TestSolarisDriverAsNonRoot(t *testing.T) {
	for _, release := range []string{"5.10", "5.11"} {
		t.Run(release, func(t *testing.T) {
			d, a := solarisApplier(t)
			h := newSolarisHost(t, release)
			root := h.Run("root", platform.SolarisGatherScript())
			ops := h.Run("ops", platform.SolarisGatherScript())
			if ops.Stdout != root.Stdout || ops.Code != 0 {
				t.Fatalf("non-root gather differs from root's:\n%s", ops.Stdout)
			}
			f, err := d.Gather(context.Background(), solarisRunner{h, "ops"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := d.Propose(f, solarisTargets, platform.Guardrails{})
			cmds, err := a.ApplyCommands(f, p.Changes)
			if err != nil {
				t.Fatal(err)
			}
			out := h.Run("ops", cmds[0])
			want := "operation failed: Not owner\n"
			got := out.Stdout
			if release == "5.11" {
				want, got = "ipadm: set-prop: smallest_anon_port: Permission denied\n", out.Stderr
			}
			if out.Code == 0 || got != want {
				t.Errorf("%s as ops: exit %d, %q; want %q", cmds[0], out.Code, got, want)
			}
			if release == "5.10" {
				// Every persistence step fails for ops, with its tool's
				// message, and leaves no file and no service behind.
				files := solarisCopyFiles(h.Files)
				for _, c := range cmds[3:] {
					write := h.Run("ops", c)
					if write.Code == 0 || !strings.Contains(write.Stderr, "Permission denied") && !strings.Contains(write.Stderr, "doesn't match") &&
						!strings.Contains(write.Stderr, "couldn't parse document") {
						t.Errorf("%.60s as ops: exit %d, %q", c, write.Code, write.Stderr)
					}
				}
				if !reflect.DeepEqual(h.Files, files) {
					t.Errorf("ops changed files: %v", solarisKeys(h.Files))
				}
				if out := h.Run("root", "/usr/bin/svcs -H -o state "+platform.SolarisService); out.Code != 1 {
					t.Errorf("the service exists after ops' attempts: %q", out.Stdout)
				}
			}
			if after := gatherSolaris(t, h); !reflect.DeepEqual(after.Knobs, f.Knobs) {
				t.Errorf("knobs changed: %+v", after.Knobs)
			}
		})
	}
}

// solarisWant are solarisTargets as ndd values.
var solarisWant = map[string]int{"tcp_smallest_anon_port": 10240, "tcp_largest_anon_port": 65535, "tcp_time_wait_interval": 30000, "tcp_keepalive_interval": 300000}

// solarisDefaults are Solaris 10's ndd defaults.
var solarisDefaults = map[string]int{"tcp_smallest_anon_port": 32768, "tcp_largest_anon_port": 65535, "tcp_time_wait_interval": 60000, "tcp_keepalive_interval": 7200000}

// checkBoot fails unless, after the last boot, the live values are
// afterBoot and network services started (milestone/network came online)
// with atNetwork.
func checkBoot(t *testing.T, h *Host, afterBoot, atNetwork map[string]int) {
	t.Helper()
	e := h.Emu.(*solarisEmu)
	for k, v := range afterBoot {
		if e.live[k] != v {
			t.Errorf("%s after boot %d, want %d", k, e.live[k], v)
		}
	}
	for k, v := range atNetwork {
		if e.atNetwork[k] != v {
			t.Errorf("network services started with %s %d, want %d", k, e.atNetwork[k], v)
		}
	}
}

// solarisPlanAndApply proposes through platform.Propose and runs its Steps
// as apply does, returning the facts and proposal.
func solarisPlanAndApply(t *testing.T, h *Host, targets platform.Targets) (*platform.Facts, platform.Proposal) {
	t.Helper()
	d, _ := solarisApplier(t)
	f := gatherSolaris(t, h)
	p, err := platform.Propose(d, f, targets, platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	solarisRunAll(t, h, "root", p.Steps)
	return f, p
}

// On Solaris 10 the values persist through fleettune's SMF service, which
// runs before milestone/network: after a reboot the network services start
// with the targets, not with the defaults an rc2.d script would leave them
// until multi-user.
func TestSolaris10ValuesReachNetworkServices(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	installed := solarisCopyFiles(h.Files)
	_, p := solarisPlanAndApply(t, h, solarisTargets)
	if len(p.Steps) == 0 {
		t.Fatal("no steps")
	}
	h.Reboot()
	checkBoot(t, h, solarisWant, solarisWant)
	if out := h.Run("root", "/usr/bin/svcs -H -o state "+platform.SolarisService); out.Stdout != "online\n" {
		t.Errorf("service state %q %q", out.Stdout, out.Stderr)
	}
	e := h.Emu.(*solarisEmu)
	if m := e.metaOf(h, platform.SolarisMethodScript); m != (solarisFileMeta{0o555, "root", "bin"}) {
		t.Errorf("method script %+v, want 0555 root:bin", m)
	}
	if m := e.metaOf(h, platform.SolarisManifest); m != (solarisFileMeta{0o444, "root", "sys"}) {
		t.Errorf("manifest %+v, want 0444 root:sys", m)
	}
	for p := range h.Files {
		if _, was := installed[p]; !was && p != platform.SolarisMethodScript && p != platform.SolarisManifest {
			t.Errorf("%s written", p)
		}
	}
	if len(h.Dirs) != 0 {
		t.Errorf("directories left behind: %v", h.Dirs)
	}
	// Plan after the reboot: converged, the values read back from the
	// method script.
	d, _ := solarisApplier(t)
	f := gatherSolaris(t, h)
	if rest := d.Propose(f, solarisTargets, platform.Guardrails{}); len(rest.Changes) != 0 {
		t.Errorf("not converged after reboot: %+v", rest.Changes)
	}
	if src := f.Knobs["tcp_smallest_anon_port"].Source; !strings.HasPrefix(src, platform.SolarisMethodScript+":") {
		t.Errorf("at-boot source %q", src)
	}
}

// The rc script earlier fleettune releases wrote, byte for byte.
const oldFleettuneRC = "#!/sbin/sh\n" +
	"# Written by fleettune. Solaris 10 forgets ndd settings at reboot; /sbin/rc2\n" +
	"# runs this script at boot to set them again. fleettune rewrites it whole.\n" +
	"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240\n" +
	"/usr/sbin/ndd -set /dev/tcp tcp_largest_anon_port 65535\n" +
	"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000\n" +
	"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000\n"

// A host tuned by an earlier release (its rc script): the values are right
// after boot but network services started with the defaults. The plan
// moves them to SMF (persistence only), apply removes the script, a reboot
// gives the network services the values; rollback puts the script back
// byte for byte and deletes the service and its files.
func TestSolaris10MigratesOldRCScript(t *testing.T) {
	for _, tc := range []struct {
		name, extra, kept string
	}{
		{"fleettune's lines only", "", ""},
		{"with an operator's line", "/usr/sbin/ndd -set /dev/tcp tcp_conn_req_max_q 1024\n",
			"#!/sbin/sh\n# Written by fleettune. fleettune's settings moved to svc:/site/fleettune-ndd:default;\n" +
				"# the lines below were in this script and not written by fleettune: kept as they were.\n" +
				"/usr/sbin/ndd -set /dev/tcp tcp_conn_req_max_q 1024\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSolarisHost(t, "5.10")
			h.Files[platform.SolarisRCScript] = oldFleettuneRC + tc.extra
			h.Reboot()
			checkBoot(t, h, solarisWant, solarisDefaults) // the problem
			before := solarisCopyFiles(h.Files)

			d, a := solarisApplier(t)
			f, p := solarisPlanAndApply(t, h, solarisTargets)
			if len(p.Changes) != 3 {
				t.Fatalf("changes %+v", p.Changes)
			}
			for _, c := range p.Changes {
				if c.Action != platform.ActionPersistOnly || len(c.Commands) != 0 {
					t.Errorf("%s: %s %q, want persist-only", c.Knob, c.Action, c.Commands)
				}
			}
			if !strings.Contains(strings.Join(p.Notes, "\n"), "fleettune's old rc script") {
				t.Errorf("notes %q", p.Notes)
			}
			rc, ok := h.Files[platform.SolarisRCScript]
			if tc.kept == "" && ok || tc.kept != "" && rc != tc.kept {
				t.Errorf("rc script after apply (exists %t):\n%s", ok, rc)
			}
			h.Reboot()
			checkBoot(t, h, solarisWant, solarisWant)
			if rest := d.Propose(gatherSolaris(t, h), solarisTargets, platform.Guardrails{}); len(rest.Changes) != 0 {
				t.Errorf("not converged after the migration and a reboot: %+v", rest.Changes)
			}

			snap := a.Snapshot(f, p.Changes)
			restore, err := a.RestoreCommands(gatherSolaris(t, h), snap)
			if err != nil {
				t.Fatal(err)
			}
			solarisRunAll(t, h, "root", restore)
			if !reflect.DeepEqual(h.Files, before) {
				for k := range h.Files {
					if h.Files[k] != before[k] {
						t.Errorf("%s after rollback:\n%s\nbefore:\n%s", k, h.Files[k], before[k])
					}
				}
				t.Errorf("files after rollback %v, before %v", solarisKeys(h.Files), solarisKeys(before))
			}
			if out := h.Run("root", "/usr/bin/svcs -H -o state "+platform.SolarisService); out.Code != 1 {
				t.Errorf("the service is still there: %q", out.Stdout)
			}
			if diff := a.Differences(gatherSolaris(t, h), snap); len(diff) != 0 {
				t.Errorf("differences after rollback %q", diff)
			}
			h.Reboot()
			checkBoot(t, h, solarisWant, solarisDefaults)
		})
	}
}

// An rc script at fleettune's old path that fleettune did not write is
// never touched: a knob it sets to something else is refused, nothing
// runs; a knob it already sets to the target is left to it, with a note.
func TestSolaris10ForeignRCScript(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	h.Files[platform.SolarisRCScript] = "#!/sbin/sh\nndd -set /dev/tcp tcp_smallest_anon_port 20000\n"
	h.Reboot()
	before := solarisCopyFiles(h.Files)
	d, _ := solarisApplier(t)
	f := gatherSolaris(t, h)
	p, err := platform.Propose(d, f, solarisTargets, platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Changes[0]; c.Action != platform.ActionRefused || !strings.Contains(c.Refused, "S70fleettune:2, which fleettune did not write, sets tcp_smallest_anon_port to 20000") {
		t.Errorf("range change %+v", c)
	}
	if len(p.Steps) != 0 {
		t.Errorf("steps %q", p.Steps)
	}
	p, err = platform.Propose(d, f, platform.Targets{EphemeralPorts: solRange(20000, 65535), TimeWait: solDur(30 * time.Second)}, platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 1 || p.Changes[0].Knob != "tcp_time_wait_interval" || !strings.Contains(strings.Join(p.Notes, "\n"), "was not written by fleettune") {
		t.Errorf("changes %+v, notes %q", p.Changes, p.Notes)
	}
	solarisRunAll(t, h, "root", p.Steps)
	if h.Files[platform.SolarisRCScript] != before[platform.SolarisRCScript] {
		t.Error("the foreign rc script was changed")
	}
}

// The service's start method fails when apply enables it (one ndd -set
// fails): svcadm enable -s exits 3, the instance is in maintenance, and
// the restore apply then runs disables and deletes the service and removes
// its files, leaving the host as it was.
func TestSolaris10FailedEnableRestores(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	before := solarisCopyFiles(h.Files)
	d, a := solarisApplier(t)
	f := gatherSolaris(t, h)
	p, err := platform.Propose(d, f, solarisTargets, platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	enable := "/usr/sbin/svcadm enable -s " + platform.SolarisService
	if p.Steps[len(p.Steps)-1] != enable {
		t.Fatalf("last step %q", p.Steps[len(p.Steps)-1])
	}
	solarisRunAll(t, h, "root", p.Steps[:len(p.Steps)-1])
	h.Lock()
	h.Faults.FailCommand = "ndd -set /dev/tcp tcp_keepalive_interval"
	h.Unlock()
	out := h.Run("root", enable)
	if out.Code != 3 || !strings.Contains(out.Stderr, "is in maintenance state") {
		t.Fatalf("enable -s: exit %d, %q", out.Code, out.Stderr)
	}
	h.Lock()
	h.Faults.FailCommand = ""
	h.Unlock()
	now := gatherSolaris(t, h)
	if now.Files[platform.SolarisService] != "maintenance" {
		t.Fatalf("service state %q", now.Files[platform.SolarisService])
	}
	restore, err := a.RestoreCommands(now, a.Snapshot(f, p.Changes))
	if err != nil {
		t.Fatal(err)
	}
	solarisRunAll(t, h, "root", restore)
	if !reflect.DeepEqual(h.Files, before) {
		t.Errorf("files after restore %v, before %v", solarisKeys(h.Files), solarisKeys(before))
	}
	if out := h.Run("root", "/usr/bin/svcs -H -o state "+platform.SolarisService); out.Code != 1 {
		t.Errorf("service left: %q", out.Stdout)
	}
	h.Reboot()
	checkBoot(t, h, solarisDefaults, solarisDefaults)
}

// Another legacy rc script (an application's, in rc3.d) that sets a knob
// runs after fleettune's SMF service and wins at boot: the plan shows its
// value as the one at next boot, refuses to move that knob elsewhere, and
// leaves the script alone; a knob it sets to the target is fine.
func TestSolaris10OtherRCScripts(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	h.Files["/etc/rc3.d/S99oracle"] = "#!/sbin/sh\ncase \"$1\" in\nstart)\n  /usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 9000\n  /usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000\n  ;;\nesac\n"
	h.Reboot()
	checkBoot(t, h, map[string]int{"tcp_smallest_anon_port": 9000, "tcp_time_wait_interval": 30000}, solarisDefaults)
	d, _ := solarisApplier(t)
	f := gatherSolaris(t, h)
	if k := f.Knobs["tcp_smallest_anon_port"]; k.AtBoot != "9000" || k.Source != "/etc/rc3.d/S99oracle" {
		t.Errorf("smallest %+v", k)
	}
	p, err := platform.Propose(d, f, solarisTargets, platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Changes[0]; !strings.Contains(c.Refused, "/etc/rc3.d/S99oracle, which fleettune did not write, sets tcp_smallest_anon_port to 9000") {
		t.Errorf("range %+v", c)
	}
	if !strings.Contains(strings.Join(p.Notes, "\n"), "/etc/rc3.d/S99oracle sets tcp_smallest_anon_port, tcp_time_wait_interval at boot") {
		t.Errorf("notes %q", p.Notes)
	}
	// The same host, targets that agree with the script: time_wait is
	// left to it, keepalive goes to SMF.
	p, err = platform.Propose(d, f, platform.Targets{EphemeralPorts: solRange(9000, 65535), TimeWait: solDur(30 * time.Second), KeepaliveTime: solDur(5 * time.Minute)}, platform.Guardrails{})
	if err != nil || len(p.Changes) != 1 || p.Changes[0].Knob != "tcp_keepalive_interval" {
		t.Fatalf("changes %+v, %v", p.Changes, err)
	}
	script := h.Files["/etc/rc3.d/S99oracle"]
	solarisRunAll(t, h, "root", p.Steps)
	h.Reboot()
	checkBoot(t, h, map[string]int{"tcp_smallest_anon_port": 9000, "tcp_time_wait_interval": 30000, "tcp_keepalive_interval": 300000},
		map[string]int{"tcp_keepalive_interval": 300000})
	if h.Files["/etc/rc3.d/S99oracle"] != script {
		t.Error("the application's rc script was changed")
	}
}
