package lab

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// -aix-update rewrites platform/testdata/aix from the emulator. Only do
// that after checking a changed layout against the sources in that
// directory's README.
var aixUpdate = flag.Bool("aix-update", false, "rewrite platform/testdata/aix fixtures from the AIX emulator")

const aixFixtureDir = "../platform/testdata/aix"

func newAIXHost(t *testing.T, release string) *Host {
	t.Helper()
	h, err := NewHost("aix01", "aix", release)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func aixRun(t *testing.T, h *Host, user, script string) Output {
	t.Helper()
	return h.Run(user, script)
}

// aixMustRun runs a script as root and fails the test unless it exits 0.
func aixMustRun(t *testing.T, h *Host, script string) string {
	t.Helper()
	o := h.Run("root", script)
	if o.Code != 0 {
		t.Fatalf("%q: exit %d: %s%s", script, o.Code, o.Stdout, o.Stderr)
	}
	return o.Stdout
}

func aixSetType(h *Host, tunable, typ string) {
	h.Lock()
	defer h.Unlock()
	h.Emu.(*aixEmu).types[tunable] = typ
}

// aixFixtures are the files of platform/testdata/aix that the emulator
// must reproduce byte for byte: each is what a command prints (stdout and,
// with 2>&1, stderr) on a default AIX 7.2 lab host after setup.
var aixFixtures = []struct {
	file, user, setup, cmd string
	rebootType             string // a tunable made a Reboot tunable first
	compat                 bool   // the host is in the pre-5.2 compatibility mode
}{
	{file: "uname-srv.txt", cmd: "uname -srv"},
	{file: "who-b.txt", cmd: "who -b"},
	{file: "no-o.txt", cmd: "no -o tcp_timewait"},
	{file: "no-L.txt", cmd: "no -L tcp_ephemeral_low -L tcp_ephemeral_high -L tcp_timewait -L tcp_keepidle"},
	{file: "nextboot-default.txt", cmd: "cat /etc/tunables/nextboot"},
	{file: "netstat-an.txt", cmd: "netstat -an"},
	{file: "no-p-o.txt", cmd: "no -p -o tcp_ephemeral_low=10240 -o tcp_ephemeral_high=65535"},
	{file: "no-r-o.txt", cmd: "no -r -o tcp_timewait=2"},
	{file: "no-p-d.txt", setup: "no -p -o tcp_timewait=2", cmd: "no -p -d tcp_timewait"},
	{file: "no-o-unknown.txt", cmd: "no -o tcp_bogus 2>&1"},
	{file: "no-o-range.txt", cmd: "no -p -o tcp_timewait=9 2>&1"},
	{file: "no-p-o-nonroot.txt", user: "ops", cmd: "no -p -o tcp_timewait=2 2>&1"},
	{file: "no-o-reboot-type.txt", rebootType: "tcp_timewait", cmd: "no -p -o tcp_timewait=2 2>&1"},
	{file: "cat-missing.txt", setup: "rm /etc/tunables/nextboot", cmd: "cat /etc/tunables/nextboot 2>&1"},
	// Gather outputs the platform tests parse.
	{file: "gather-default.txt", cmd: platform.AIXGatherScript()},
	{file: "gather-converged.txt",
		setup: "no -p -o tcp_ephemeral_low=10240; no -p -o tcp_timewait=2; no -p -o tcp_keepidle=600",
		cmd:   platform.AIXGatherScript()},
	{file: "gather-drift.txt",
		setup: "no -o tcp_ephemeral_low=20000; no -o tcp_timewait=4; no -r -o tcp_keepidle=600",
		cmd:   platform.AIXGatherScript()},
	{file: "gather-pending.txt", rebootType: "tcp_timewait",
		setup: "no -r -o tcp_timewait=2",
		cmd:   platform.AIXGatherScript()},
	{file: "gather-no-nextboot.txt", setup: "rm /etc/tunables/nextboot", cmd: platform.AIXGatherScript()},
	// Compatibility mode: rc.net and rc.tcpip persist the values.
	{file: "gather-compat-default.txt", compat: true, cmd: platform.AIXGatherScript()},
	{file: "gather-compat-block.txt", compat: true,
		setup: "echo '# BEGIN fleettune: managed by fleettune; do not edit between these markers' >> /etc/rc.net; " +
			"echo '/usr/sbin/no -o tcp_ephemeral_low=10240' >> /etc/rc.net; echo '/usr/sbin/no -o tcp_timewait=2' >> /etc/rc.net; " +
			"echo '# END fleettune' >> /etc/rc.net; echo '/usr/sbin/no -o tcp_keepidle=1200 >/dev/null 2>&1' >> /etc/rc.tcpip; no -o tcp_timewait=2",
		cmd: platform.AIXGatherScript()},
	{file: "gather-compat-no-rcnet.txt", compat: true, setup: "rm /etc/rc.net", cmd: platform.AIXGatherScript()},
}

func TestAIXFixturesMatchEmulator(t *testing.T) {
	for _, fx := range aixFixtures {
		t.Run(fx.file, func(t *testing.T) {
			h := newAIXHost(t, "7.2")
			if fx.rebootType != "" {
				aixSetType(h, fx.rebootType, "R")
			}
			if err := AIXCompatibilityMode(h, fx.compat); err != nil {
				t.Fatal(err)
			}
			if fx.setup != "" {
				aixMustRun(t, h, fx.setup)
			}
			user := fx.user
			if user == "" {
				user = "root"
			}
			got := h.Run(user, fx.cmd).Stdout
			path := filepath.Join(aixFixtureDir, fx.file)
			if *aixUpdate {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("emulator output differs from %s:\n--- got\n%s--- want\n%s", fx.file, got, want)
			}
		})
	}
}

func TestAIXUname(t *testing.T) {
	for _, tc := range []struct{ release, srv string }{
		{"6.1", "AIX 1 6\n"}, {"7.1", "AIX 1 7\n"}, {"7.2", "AIX 2 7\n"}, {"7.3", "AIX 3 7\n"},
	} {
		h := newAIXHost(t, tc.release)
		if got := aixMustRun(t, h, "uname -srv"); got != tc.srv {
			t.Errorf("%s: uname -srv = %q, want %q", tc.release, got, tc.srv)
		}
		os, rel, err := platform.ParseUname(tc.srv)
		if err != nil || os != platform.AIX || rel != tc.release {
			t.Errorf("%s: detect gives %q %q %v", tc.release, os, rel, err)
		}
		if !strings.Contains(h.Files[aixNextboot], `AIX_level = "`+tc.release) {
			t.Errorf("%s: nextboot info stanza does not name the level:\n%s", tc.release, h.Files[aixNextboot])
		}
	}
	if _, err := NewHost("x", "aix", "5.3"); err == nil {
		t.Error("AIX 5.3 accepted; the lab emulates 6.1-7.3")
	}
}

func TestAIXPersistenceAndReboot(t *testing.T) {
	h := newAIXHost(t, "7.2")
	stock := h.Files[aixNextboot]
	read := func(name string) string {
		t.Helper()
		return strings.TrimSpace(aixMustRun(t, h, "no -o "+name))
	}

	// no -o: live at once, gone after a reboot, nextboot untouched.
	aixMustRun(t, h, "no -o tcp_timewait=3")
	if got := read("tcp_timewait"); got != "tcp_timewait = 3" {
		t.Fatalf("after no -o: %q", got)
	}
	if h.Emu.TimeWait() != 45*time.Second {
		t.Errorf("TimeWait() = %s, want 45s", h.Emu.TimeWait())
	}
	if h.Files[aixNextboot] != stock {
		t.Errorf("no -o changed nextboot:\n%s", h.Files[aixNextboot])
	}
	h.Reboot()
	if got := read("tcp_timewait"); got != "tcp_timewait = 1" {
		t.Errorf("no -o survived a reboot: %q", got)
	}

	// no -p: live and nextboot; kept at reboot.
	aixMustRun(t, h, "no -p -o tcp_keepidle=600")
	if !strings.Contains(h.Files[aixNextboot], "no:\n\trfc1323 = \"1\"\n\ttcp_keepidle = \"600\"\n") {
		t.Errorf("no -p did not append to the no: stanza:\n%s", h.Files[aixNextboot])
	}
	h.Reboot()
	if got := read("tcp_keepidle"); got != "tcp_keepidle = 600" {
		t.Errorf("no -p lost at reboot: %q", got)
	}

	// no -r: nextboot only; live after the reboot.
	aixMustRun(t, h, "no -r -o tcp_timewait=2")
	if got := read("tcp_timewait"); got != "tcp_timewait = 1" {
		t.Errorf("no -r changed the live value: %q", got)
	}
	if got := strings.TrimSpace(aixMustRun(t, h, "no -r -o tcp_timewait")); got != "tcp_timewait = 2" {
		t.Errorf("no -r -o shows %q, want the nextboot value 2", got)
	}
	h.Reboot()
	if got := read("tcp_timewait"); got != "tcp_timewait = 2" {
		t.Errorf("no -r not applied at reboot: %q", got)
	}
	if h.Emu.TimeWait() != 30*time.Second {
		t.Errorf("TimeWait() = %s, want 30s", h.Emu.TimeWait())
	}

	// Replacing an entry keeps its place; resetting removes it; the stock
	// file comes back byte for byte.
	aixMustRun(t, h, "no -p -o tcp_keepidle=1200")
	if !strings.Contains(h.Files[aixNextboot], "\ttcp_keepidle = \"1200\"\n\ttcp_timewait = \"2\"\n") {
		t.Errorf("entry not replaced in place:\n%s", h.Files[aixNextboot])
	}
	aixMustRun(t, h, "no -p -d tcp_keepidle; no -r -d tcp_timewait")
	if h.Files[aixNextboot] != stock {
		t.Errorf("after resets nextboot is\n%s\nwant the stock file", h.Files[aixNextboot])
	}
	if got := read("tcp_keepidle"); got != "tcp_keepidle = 14400" {
		t.Errorf("no -p -d did not reset the live value: %q", got)
	}
	if got := read("tcp_timewait"); got != "tcp_timewait = 2" {
		t.Errorf("no -r -d changed the live value: %q", got)
	}
}

func TestAIXNoErrors(t *testing.T) {
	h := newAIXHost(t, "7.2")
	for _, tc := range []struct {
		user, cmd, stderr string
		code              int
	}{
		{"root", "no -o tcp_bogus", "no: 0050-013 tcp_bogus is not a valid tunable parameter\n", 1},
		{"ops", "no -p -o tcp_timewait=2", "no: 0050-011 Permission denied: only root can change tcp_timewait\n", 1},
		{"root", "no -o tcp_timewait=0", "no: 0050-017 Value 0 is out of range for tcp_timewait (1 - 5)\n", 1},
		{"root", "no -o tcp_timewait=x", "no: 0050-015 x is not a valid value for tcp_timewait\n", 1},
		{"root", "no -o tcp_ephemeral_low=65535", "no: 0050-019 tcp_ephemeral_low must be less than tcp_ephemeral_high (65535 >= 65535)\n", 1},
		{"root", "no -p -r -o tcp_timewait=2", aixNoUsage, 2},
		{"root", "no", aixNoUsage, 2},
		{"root", "cat /etc/tunables/none", "cat: 0652-050 Cannot open /etc/tunables/none.\n", 2},
	} {
		o := h.Run(tc.user, tc.cmd)
		if o.Stderr != tc.stderr || o.Code != tc.code {
			t.Errorf("%s as %s: exit %d, stderr %q; want exit %d, %q", tc.cmd, tc.user, o.Code, o.Stderr, tc.code, tc.stderr)
		}
	}
	// Nothing above changed anything.
	if got := aixMustRun(t, h, "no -o tcp_timewait -o tcp_ephemeral_low"); got != "tcp_timewait = 1\ntcp_ephemeral_low = 32768\n" {
		t.Errorf("failed commands changed values: %q", got)
	}
	// A non-root user may read.
	if o := h.Run("ops", "no -o tcp_keepidle"); o.Code != 0 || o.Stdout != "tcp_keepidle = 14400\n" {
		t.Errorf("non-root read: %+v", o)
	}
}

func TestAIXRebootTypeTunable(t *testing.T) {
	h := newAIXHost(t, "7.2")
	aixSetType(h, "tcp_timewait", "R")
	if o := h.Run("root", "no -o tcp_timewait=2"); o.Code == 0 {
		t.Fatalf("no -o changed a Reboot tunable: %+v", o)
	}
	if !strings.Contains(aixMustRun(t, h, "no -L tcp_timewait"), "15_seconds        R\n") {
		t.Error("no -L does not show type R")
	}
	aixMustRun(t, h, "no -r -o tcp_timewait=2")
	if h.Emu.TimeWait() != 15*time.Second {
		t.Errorf("no -r changed the live value")
	}
	h.Reboot()
	if h.Emu.TimeWait() != 30*time.Second {
		t.Errorf("Reboot tunable not applied at boot: %s", h.Emu.TimeWait())
	}
}

func TestAIXBootIgnoresBadNextboot(t *testing.T) {
	h := newAIXHost(t, "7.3")
	h.Files[aixNextboot] = "no:\n\ttcp_timewait = \"9\"\n\ttcp_keepidle = \"DEFAULT\"\n\ttcp_ephemeral_low = \"20000\" # comment\n\ttcp_ephemeral_low = \"30000\"\nno:\n\ttcp_ephemeral_high = \"40000\"\n"
	h.Reboot()
	got := aixMustRun(t, h, "no -o tcp_timewait -o tcp_keepidle -o tcp_ephemeral_low -o tcp_ephemeral_high")
	want := "tcp_timewait = 1\ntcp_keepidle = 14400\ntcp_ephemeral_low = 20000\ntcp_ephemeral_high = 65535\n"
	if got != want {
		t.Errorf("after boot:\n%s\nwant\n%s", got, want)
	}
}

func TestAIXAbbrev(t *testing.T) {
	for v, want := range map[int64]string{0: "0", 1: "1", 14400: "14400", 1024: "1K", 32768: "32K", 65535: "64K-1", 1<<31 - 1: "2G-1", 1 << 20: "1M", 1023: "1K-1"} {
		if got := aixAbbrev(v); got != want {
			t.Errorf("aixAbbrev(%d) = %q, want %q", v, got, want)
		}
	}
}
