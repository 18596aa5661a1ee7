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
// apply nextboot at boot: what no -p set is gone after a reboot, and values
// persist as no -o lines in /etc/rc.net. The driver sets the values with
// no -o and writes them into its block of rc.net, keeping the file's mode
// and owner; the lab's reboot runs rc.net's no lines (its own reading of
// the file), so the values survive it; rollback gives rc.net back byte for
// byte.
func TestAIXDriverCompatibilityMode(t *testing.T) {
	h := newAIXHost(t, "7.2")
	if err := AIXCompatibilityMode(h, true); err != nil {
		t.Fatal(err)
	}
	// What no -p would do here: set the value, which the reboot loses.
	aixRunCmds(t, h, []string{"no -p -o tcp_keepidle=600"})
	h.Reboot()
	d, a := aixDriver(t)
	if f := aixGather(t, d, h); f.Knobs["tcp_keepidle"].Live != "14400" {
		t.Fatalf("after a reboot in compatibility mode tcp_keepidle is %q; the lab should have lost no -p's value", f.Knobs["tcp_keepidle"].Live)
	}
	stock, stockNB := h.Files[aixRcNet], h.Files[aixNextboot]

	before := aixGather(t, d, h)
	p, err := platform.Propose(d, before, aixTargets(), platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 3 {
		t.Fatalf("want 3 changes, got %+v", p.Changes)
	}
	for _, c := range p.Changes {
		if c.Refused != "" || c.Action != platform.ActionUpdate || !strings.HasPrefix(c.Persist, "/etc/rc.net: fleettune's block") {
			t.Errorf("%s: %+v", c.Setting, c)
		}
		for _, cmd := range c.Commands {
			if !strings.HasPrefix(cmd, "no -o ") {
				t.Errorf("%s: command %q; compatibility mode sets values with no -o", c.Setting, cmd)
			}
		}
	}
	if !strings.Contains(strings.Join(p.Notes, "\n"), "compatibility mode") {
		t.Errorf("no note about the compatibility mode: %q", p.Notes)
	}
	// The no -p above left tcp_keepidle in nextboot, which this mode
	// ignores: noted, as it would apply if the mode were left.
	if !strings.Contains(strings.Join(p.Notes, "\n"), "/etc/tunables/nextboot:26 sets tcp_keepidle = 600, which this mode does not apply") {
		t.Errorf("notes %q; want nextboot's tcp_keepidle noted", p.Notes)
	}
	// tcp_ephemeral_high is 65535 already: three no -o, then the write.
	if n := len(p.Steps); n != 4 || !strings.HasPrefix(p.Steps[n-1], "mkdir -m 700 /etc/fleettune-rc.net.d && cp -p /etc/rc.net ") {
		t.Fatalf("steps %q; want three no -o and one write of rc.net", p.Steps)
	}
	snap := a.Snapshot(before, p.Changes)
	aixRunCmds(t, h, p.Steps)

	rc := h.Files[aixRcNet]
	wantBlock := "# BEGIN fleettune: managed by fleettune; do not edit between these markers\n" +
		"/usr/sbin/no -o tcp_ephemeral_low=10240\n/usr/sbin/no -o tcp_ephemeral_high=65535\n" +
		"/usr/sbin/no -o tcp_timewait=2\n/usr/sbin/no -o tcp_keepidle=600\n# END fleettune\n"
	if rc != stock+wantBlock {
		t.Errorf("rc.net after apply:\n%s\nwant the stock file and\n%s", rc, wantBlock)
	}
	e := h.Emu.(*aixEmu)
	if m := e.metaOf(aixRcNet); m != (aixFileMeta{0o774, "root", "system"}) {
		t.Errorf("rc.net's mode and owner after apply: %+v; the write must keep them", m)
	}
	if h.Dirs[aixRcNetDirForTest] || h.Files[aixRcNetDirForTest+"/rc.net"] != "" {
		t.Errorf("the private directory is left behind")
	}
	if h.Files[aixNextboot] != stockNB {
		t.Errorf("nextboot changed in compatibility mode")
	}
	after := aixGather(t, d, h)
	if diff := strings.Join(a.Differences(after, snap), "; "); !strings.Contains(diff, "/etc/rc.net: fleettune's block differs") {
		t.Errorf("differences after apply: %q; want the block named", diff)
	}
	if again := d.Propose(after, aixTargets(), platform.Guardrails{}); len(again.Changes) != 0 {
		t.Errorf("not converged after apply: %+v", again.Changes)
	}
	if src := after.Knobs["tcp_timewait"].Source; !strings.Contains(src, "/etc/rc.net:") || !strings.Contains(src, "fleettune's block") {
		t.Errorf("tcp_timewait's persisted value comes from %q; want fleettune's block in rc.net", src)
	}

	h.Reboot()
	rebooted := aixGather(t, d, h)
	if p := d.Propose(rebooted, aixTargets(), platform.Guardrails{}); len(p.Changes) != 0 {
		t.Errorf("values lost at the reboot: %+v", p.Changes)
	}
	if h.Emu.TimeWait() != 30*time.Second {
		t.Errorf("live TIME_WAIT after reboot %s, want 30s", h.Emu.TimeWait())
	}

	restore, err := a.RestoreCommands(rebooted, snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range restore {
		if strings.HasPrefix(c, "no ") && !strings.HasPrefix(c, "no -o ") {
			t.Errorf("restore runs %q in compatibility mode", c)
		}
	}
	aixRunCmds(t, h, restore)
	if h.Files[aixRcNet] != stock {
		t.Errorf("rc.net after restore:\n%s\nwant the stock file byte for byte", h.Files[aixRcNet])
	}
	if m := e.metaOf(aixRcNet); m != (aixFileMeta{0o774, "root", "system"}) {
		t.Errorf("rc.net's mode and owner after restore: %+v", m)
	}
	back := aixGather(t, d, h)
	if diff := a.Differences(back, snap); len(diff) != 0 {
		t.Errorf("differences after restore: %v", diff)
	}
	h.Reboot()
	if diff := a.Differences(aixGather(t, d, h), snap); len(diff) != 0 {
		t.Errorf("differences after restore and a reboot: %v", diff)
	}

	// Out of compatibility mode, the same host is planned with no -p.
	if err := AIXCompatibilityMode(h, false); err != nil {
		t.Fatal(err)
	}
	if p, _ := platform.Propose(d, aixGather(t, d, h), aixTargets(), platform.Guardrails{}); len(p.Steps) == 0 || !strings.HasPrefix(p.Steps[0], "no -p -o ") {
		t.Errorf("out of compatibility mode: %+v", p)
	}
}

// A no -o line that runs after fleettune's block (rc.tcpip runs after
// rc.net) would undo it at every boot: the change is refused, naming the
// line. One before the block is only noted: the block wins over it.
func TestAIXDriverCompatibilityConflicts(t *testing.T) {
	h := newAIXHost(t, "7.2")
	if err := AIXCompatibilityMode(h, true); err != nil {
		t.Fatal(err)
	}
	h.Files[aixRcTCPIP] += "/usr/sbin/no -o tcp_timewait=4\n"
	h.Files[aixRcNet] = strings.Replace(h.Files[aixRcNet], "fi\n", "\t/usr/sbin/no -o tcp_keepidle=7200 >>/dev/null 2>&1\nfi\n", 1)
	h.Reboot()
	d, _ := aixDriver(t)
	f := aixGather(t, d, h)
	if f.Knobs["tcp_timewait"].Live != "4" || f.Knobs["tcp_keepidle"].Live != "7200" {
		t.Fatalf("the lab's boot did not run the scripts' no lines: %+v", f.Knobs)
	}
	p, err := platform.Propose(d, f, aixTargets(), platform.Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 0 {
		t.Errorf("a refused proposal has steps: %q", p.Steps)
	}
	var tw, ka platform.Change
	for _, c := range p.Changes {
		switch c.Setting {
		case "time_wait":
			tw = c
		case "keepalive_time":
			ka = c
		}
	}
	if !strings.Contains(tw.Refused, "/etc/rc.tcpip:") || !strings.Contains(tw.Refused, "after fleettune's block") {
		t.Errorf("time_wait: refused %q; want the rc.tcpip line named", tw.Refused)
	}
	if ka.Refused != "" || ka.Current != "1h0m0s" || ka.Persist == "" {
		t.Errorf("keepalive_time: %+v", ka)
	}
	if notes := strings.Join(p.Notes, "\n"); !strings.Contains(notes, "also sets tcp_keepidle (to 7200); fleettune's block runs after it") {
		t.Errorf("notes %q; want the earlier rc.net line noted", p.Notes)
	}
}

// aixRcNetDirForTest is the driver's private directory for rc.net.
const aixRcNetDirForTest = "/etc/fleettune-rc.net.d"

// A second change rewrites the block in place; a rollback of it gives the
// first one's rc.net back. A rollback after someone edited rc.net outside
// the block keeps their lines and takes out only fleettune's. A range
// moved above a high end an earlier rc.net line set is written high end
// first, so that no's low < high check holds at boot too.
func TestAIXDriverCompatibilityBlockLifecycle(t *testing.T) {
	h := newAIXHost(t, "7.3")
	if err := AIXCompatibilityMode(h, true); err != nil {
		t.Fatal(err)
	}
	h.Files[aixRcNet] = strings.Replace(h.Files[aixRcNet], "fi\n", "\t/usr/sbin/no -o tcp_ephemeral_low=10240 -o tcp_ephemeral_high=20000\nfi\n", 1)
	h.Reboot()
	stock := h.Files[aixRcNet]
	d, a := aixDriver(t)
	apply := func(tg platform.Targets) platform.Snapshot {
		t.Helper()
		f := aixGather(t, d, h)
		p, err := platform.Propose(d, f, tg, platform.Guardrails{})
		if err != nil || len(p.Steps) == 0 {
			t.Fatalf("propose: %v %+v", err, p)
		}
		snap := a.Snapshot(f, p.Changes)
		aixRunCmds(t, h, p.Steps)
		return snap
	}
	r := platform.PortRange{Low: 30000, High: 60000}
	tw := 30 * time.Second
	snap1 := apply(platform.Targets{EphemeralPorts: &r, TimeWait: &tw})
	first := h.Files[aixRcNet]
	if !strings.Contains(first, aixBlockBeginForTest+"\n/usr/sbin/no -o tcp_ephemeral_high=60000\n/usr/sbin/no -o tcp_ephemeral_low=30000\n/usr/sbin/no -o tcp_timewait=2\n") {
		t.Errorf("block after the first apply:\n%s", first)
	}
	h.Reboot()
	if f := aixGather(t, d, h); f.Knobs["tcp_ephemeral_low"].Live != "30000" || f.Knobs["tcp_ephemeral_high"].Live != "60000" {
		t.Fatalf("after the reboot the range is %s-%s", f.Knobs["tcp_ephemeral_low"].Live, f.Knobs["tcp_ephemeral_high"].Live)
	}

	tw2 := 45 * time.Second
	snap2 := apply(platform.Targets{TimeWait: &tw2})
	second := h.Files[aixRcNet]
	if strings.Count(second, aixBlockBeginForTest) != 1 || !strings.Contains(second, "/usr/sbin/no -o tcp_timewait=3\n") || !strings.Contains(second, "tcp_ephemeral_low=30000") {
		t.Errorf("block after the second apply:\n%s", second)
	}
	restore, err := a.RestoreCommands(aixGather(t, d, h), snap2)
	if err != nil {
		t.Fatal(err)
	}
	aixRunCmds(t, h, restore)
	if h.Files[aixRcNet] != first {
		t.Errorf("rollback of the second change:\n%s\nwant the first one's rc.net", h.Files[aixRcNet])
	}

	// Someone adds a line outside the block; rolling the first change back
	// keeps it and takes out only the block.
	h.Files[aixRcNet] = strings.Replace(h.Files[aixRcNet], "LOGFILE=/tmp/rc.net.out\n", "LOGFILE=/tmp/rc.net.out\n# added by an operator\n", 1)
	restore, err = a.RestoreCommands(aixGather(t, d, h), snap1)
	if err != nil {
		t.Fatal(err)
	}
	aixRunCmds(t, h, restore)
	want := strings.Replace(stock, "LOGFILE=/tmp/rc.net.out\n", "LOGFILE=/tmp/rc.net.out\n# added by an operator\n", 1)
	if h.Files[aixRcNet] != want {
		t.Errorf("rc.net after a rollback over an operator's edit:\n%s\nwant stock plus the operator's line", h.Files[aixRcNet])
	}
	if diff := a.Differences(aixGather(t, d, h), snap1); len(diff) != 0 {
		t.Errorf("differences after that rollback: %q; the operator's line is not fleettune's to count", diff)
	}
	if f := aixGather(t, d, h); f.Knobs["tcp_ephemeral_high"].Live != "20000" || f.Knobs["tcp_ephemeral_low"].Live != "10240" {
		t.Errorf("live range after the rollback %s-%s", f.Knobs["tcp_ephemeral_low"].Live, f.Knobs["tcp_ephemeral_high"].Live)
	}
}

const aixBlockBeginForTest = "# BEGIN fleettune: managed by fleettune; do not edit between these markers"
