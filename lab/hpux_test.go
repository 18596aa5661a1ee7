package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

func newHPUXHost(t *testing.T, release string) *Host {
	t.Helper()
	h, err := NewHost("hp1", "hpux", release)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call runs one command through the emulator, as the shell does.
func hpuxCall(t *testing.T, h *Host, user string, argv ...string) Output {
	t.Helper()
	h.Lock()
	defer h.Unlock()
	out, handled := h.Emu.Command(&Call{Host: h, User: user, Argv: argv})
	if !handled {
		t.Fatalf("%q not handled by the HP-UX emulator", argv)
	}
	return out
}

func hpuxFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "platform", "testdata", "hpux", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// One source of truth: a default host answers every command the driver
// sends exactly as the driver's fixtures say.
func TestHPUXOutputsMatchDriverFixtures(t *testing.T) {
	h := newHPUXHost(t, "B.11.31")
	tests := []struct {
		fixture string
		user    string
		argv    []string
		code    int
		stderr  bool
	}{
		{"who-b.txt", "root", []string{"who", "-b"}, 0, false},
		{"netstat-an.txt", "root", []string{"netstat", "-an"}, 0, false},
		{"nddconf-default.txt", "root", []string{"cat", HPUXNddconf}, 0, false},
		{"ndd-get-unknown.txt", "root", []string{"ndd", "-get", "/dev/tcp", "tcp_no_such_param"}, 0, false},
		{"ndd-set-nonroot.txt", "ops", []string{"ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "30000"}, 1, true},
		{"ndd-set-invalid.txt", "root", []string{"ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "999"}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			var out Output
			if tt.argv[0] == "cat" {
				out = h.Run(tt.user, strings.Join(tt.argv, " "))
			} else {
				out = hpuxCall(t, h, tt.user, tt.argv...)
			}
			got := out.Stdout
			if tt.stderr {
				got = out.Stderr
				if out.Stdout != "" {
					t.Errorf("stdout %q, want nothing", out.Stdout)
				}
			}
			if want := hpuxFixture(t, tt.fixture); got != want {
				t.Errorf("output:\n%q\nfixture:\n%q", got, want)
			}
			if out.Code != tt.code {
				t.Errorf("exit %d, want %d", out.Code, tt.code)
			}
		})
	}
	t.Run("gather-default.txt", func(t *testing.T) {
		out := h.Run("root", platform.HPUXGatherScript())
		if out.Code != 0 || out.Stderr != "" {
			t.Errorf("exit %d, stderr %q", out.Code, out.Stderr)
		}
		if want := hpuxFixture(t, "gather-default.txt"); out.Stdout != want {
			t.Errorf("gather output:\n%s\nfixture:\n%s", out.Stdout, want)
		}
	})
}

func TestNewHPUX(t *testing.T) {
	tests := []struct{ release, machine string }{
		{"B.11.11", "9000/800"}, {"B.11.23", "ia64"}, {"B.11.31", "ia64"},
	}
	for _, tt := range tests {
		h := newHPUXHost(t, tt.release)
		want := Uname{Sysname: "HP-UX", Nodename: "hp1", Release: tt.release, Version: "U", Machine: tt.machine}
		if h.Uname != want {
			t.Errorf("%s: uname %+v, want %+v", tt.release, h.Uname, want)
		}
		if !strings.HasPrefix(h.Files[HPUXNddconf], "# @(#)"+tt.release+"_LR\n") {
			t.Errorf("%s: nddconf header %q", tt.release, hpuxFirstLine(h.Files[HPUXNddconf]))
		}
		if h.BaselineTimeWait != time.Minute || h.Emu.TimeWait() != time.Minute {
			t.Errorf("%s: baseline TIME_WAIT %s, want 1m0s", tt.release, h.BaselineTimeWait)
		}
		if out := h.Run("root", "uname -sr"); out.Stdout != "HP-UX "+tt.release+"\n" {
			t.Errorf("%s: uname -sr printed %q", tt.release, out.Stdout)
		}
	}
	if _, err := NewHost("hp1", "hpux", "B.11.00"); err == nil || !strings.Contains(err.Error(), "B.11.11, B.11.23 or B.11.31") {
		t.Errorf("B.11.00: %v", err)
	}
}

func hpuxFirstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func TestHPUXNdd(t *testing.T) {
	h := newHPUXHost(t, "B.11.23")
	get := func(name string) string {
		t.Helper()
		out := hpuxCall(t, h, "ops", "ndd", "-get", "/dev/tcp", name)
		if out.Code != 0 {
			t.Fatalf("ndd -get %s: %+v", name, out)
		}
		return out.Stdout
	}
	for name, want := range map[string]string{
		"tcp_smallest_anon_port": "49152\n", "tcp_largest_anon_port": "65535\n",
		"tcp_time_wait_interval": "60000\n", "tcp_keepalive_interval": "7200000\n", "tcp_tw_cleanup_interval": "60000\n",
	} {
		if got := get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if out := hpuxCall(t, h, "root", "ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "30000"); out != (Output{}) {
		t.Errorf("ndd -set printed %+v; it is silent on success", out)
	}
	if got := get("tcp_time_wait_interval"); got != "30000\n" || h.Emu.TimeWait() != 30*time.Second {
		t.Errorf("after set: %q, TimeWait %s", got, h.Emu.TimeWait())
	}
	// Hex input, printed back in decimal.
	hpuxCall(t, h, "root", "ndd", "-set", "/dev/tcp", "tcp_smallest_anon_port", "0x2800")
	if got := get("tcp_smallest_anon_port"); got != "10240\n" {
		t.Errorf("0x2800 reads back %q", got)
	}
	errs := []struct {
		user   string
		argv   []string
		stderr string
	}{
		{"root", []string{"ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "600001"}, "operation failed: Invalid argument\n"},
		{"root", []string{"ndd", "-set", "/dev/tcp", "tcp_smallest_anon_port", "1023"}, "operation failed: Invalid argument\n"},
		{"root", []string{"ndd", "-set", "/dev/tcp", "tcp_keepalive_interval", "5m"}, "operation failed: Invalid argument\n"},
		{"root", []string{"ndd", "-set", "/dev/tcp", "tcp_bogus", "1"}, "operation failed: Invalid argument\n"},
		{"ops", []string{"ndd", "-set", "/dev/tcp", "tcp_bogus", "1"}, "operation failed: Not owner\n"},
		{"ops", []string{"ndd", "-c"}, "operation failed: Not owner\n"},
		{"root", []string{"ndd", "-get", "/dev/foo", "x"}, "couldn't open /dev/foo: No such file or directory\n"},
		{"root", []string{"ndd", "-get", "/dev/tcp"}, hpuxNddUsage},
	}
	for _, e := range errs {
		out := hpuxCall(t, h, e.user, e.argv...)
		if out.Code != 1 || out.Stderr != e.stderr || out.Stdout != "" {
			t.Errorf("%s %q: %+v, want exit 1 and %q", e.user, e.argv, out, e.stderr)
		}
	}
	// Nothing that failed changed anything.
	if got := get("tcp_time_wait_interval"); got != "30000\n" {
		t.Errorf("a failed set changed the value: %q", got)
	}
}

// ndd -set lasts until the next boot; nddconf is what a boot applies, in
// index order, the highest index last.
func TestHPUXPersistenceAndReboot(t *testing.T) {
	h := newHPUXHost(t, "B.11.31")
	live := func(dev, name string) int64 {
		h.Lock()
		defer h.Unlock()
		return h.Emu.(*hpux).live[dev][name]
	}
	hpuxCall(t, h, "root", "ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "30000")
	hpuxCall(t, h, "root", "ndd", "-set", "/dev/tcp", "tcp_keepalive_interval", "300000")
	bootLine := hpuxCall(t, h, "root", "who", "-b").Stdout
	h.Reboot()
	if got := live("tcp", "tcp_time_wait_interval"); got != 60000 {
		t.Errorf("ndd -set survived a reboot: %d", got)
	}
	if got := hpuxCall(t, h, "root", "who", "-b").Stdout; got == bootLine || !strings.HasPrefix(got, "   .       system boot  ") {
		t.Errorf("who -b after reboot %q (before %q)", got, bootLine)
	}
	if live("ip", "ip_ire_gw_probe") != 0 {
		t.Error("the default nddconf's ip entry was not applied at boot")
	}

	h.Files[HPUXNddconf] += "TRANSPORT_NAME[1]=tcp\nNDD_NAME[1]=tcp_time_wait_interval\nNDD_VALUE[1]=45000\n" +
		"#TRANSPORT_NAME[2]=tcp\n#NDD_NAME[2]=tcp_keepalive_interval\n#NDD_VALUE[2]=600000\n" +
		"TRANSPORT_NAME[4]=\"tcp\"\nNDD_NAME[4]=tcp_time_wait_interval\nNDD_VALUE[4]=0x7530\n" +
		"TRANSPORT_NAME[3]=tcp\nNDD_NAME[3]=tcp_smallest_anon_port\nNDD_VALUE[3]=99\n" + // ndd rejects it
		"TRANSPORT_NAME[5]=tcp\nNDD_NAME[5]=tcp_largest_anon_port\nNDD_VALUE[5]=60000\n"
	if got := live("tcp", "tcp_time_wait_interval"); got != 60000 {
		t.Errorf("editing nddconf changed the live value: %d", got)
	}
	h.Reboot()
	for name, want := range map[string]int64{
		"tcp_time_wait_interval": 45000,   // index 1
		"tcp_keepalive_interval": 7200000, // index 2 commented out: a gap
		"tcp_smallest_anon_port": 49152,   // index 3, after the gap: not read
		"tcp_largest_anon_port":  65535,   // index 5, after the gap: not read
	} {
		if got := live("tcp", name); got != want {
			t.Errorf("%s = %d after boot, want %d", name, got, want)
		}
	}
	if h.Emu.TimeWait() != 45*time.Second {
		t.Errorf("TimeWait %s, want 45s", h.Emu.TimeWait())
	}

	// Without the gap, every entry is read in index order: index 4 sets
	// TIME_WAIT again (hex, quoted transport), the invalid index 3 is
	// skipped by ndd, index 5 applies.
	h.Files[HPUXNddconf] = strings.Replace(h.Files[HPUXNddconf], "#TRANSPORT_NAME[2]=tcp\n#NDD_NAME[2]=tcp_keepalive_interval\n#NDD_VALUE[2]=600000\n",
		"TRANSPORT_NAME[2]=tcp   # keepalive\nNDD_NAME[2]='tcp_keepalive_interval'\nNDD_VALUE[2]=600000\n", 1)
	h.Reboot()
	for name, want := range map[string]int64{
		"tcp_time_wait_interval": 30000, "tcp_keepalive_interval": 600000,
		"tcp_smallest_anon_port": 49152, "tcp_largest_anon_port": 60000,
	} {
		if got := live("tcp", name); got != want {
			t.Errorf("without the gap: %s = %d after boot, want %d", name, got, want)
		}
	}

	// ndd -c applies nddconf at once, without a reboot.
	hpuxCall(t, h, "root", "ndd", "-set", "/dev/tcp", "tcp_largest_anon_port", "65535")
	if out := hpuxCall(t, h, "root", "ndd", "-c"); out.Code != 0 {
		t.Fatalf("ndd -c: %+v", out)
	}
	if got := live("tcp", "tcp_largest_anon_port"); got != 60000 {
		t.Errorf("ndd -c did not apply nddconf: %d", got)
	}
}

func TestHPUXNetstat(t *testing.T) {
	h := newHPUXHost(t, "B.11.31")
	h.Listening = []int{8080, 22}
	h.TimeWaitSockets = 3
	out := hpuxCall(t, h, "root", "netstat", "-an").Stdout
	if n := strings.Count(out, " TIME_WAIT\n"); n != 3 {
		t.Errorf("%d TIME_WAIT rows, want 3", n)
	}
	if !strings.Contains(out, "tcp        0      0  *.22                   *.*                    LISTEN\ntcp        0      0  *.8080 ") {
		t.Errorf("listeners not in port order:\n%s", out)
	}
	h.Reboot()
	if out := hpuxCall(t, h, "root", "netstat", "-an").Stdout; strings.Contains(out, "TIME_WAIT") {
		t.Errorf("TIME_WAIT sockets survived a reboot:\n%s", out)
	}
}

func TestHPUXCat(t *testing.T) {
	h := newHPUXHost(t, "B.11.31")
	out := h.Run("root", "cat /etc/rc.config.d/nosuch")
	if out.Code != 2 || out.Stderr != "cat: Cannot open /etc/rc.config.d/nosuch: No such file or directory\n" {
		t.Errorf("cat of a missing file: %+v", out)
	}
	if out := h.Run("root", "cat "+HPUXNddconf); out.Code != 0 || out.Stdout != h.Files[HPUXNddconf] {
		t.Errorf("cat nddconf: %+v", out)
	}
}
