package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

func solarisCall(t *testing.T, h *Host, user string, argv ...string) Output {
	t.Helper()
	h.Lock()
	defer h.Unlock()
	out, handled := h.Emu.Command(&Call{Host: h, User: user, Argv: argv})
	if !handled {
		t.Fatalf("%q not handled by the emulator", argv)
	}
	return out
}

// fixtureSection returns one section of a gather fixture.
func fixtureSection(t *testing.T, fixture, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(solarisFixtureDir, fixture))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "@@fleettune@@ "+name+"\n")
	if !ok {
		t.Fatalf("%s has no section %s", fixture, name)
	}
	body, _, _ := strings.Cut(rest, "@@fleettune@@ ")
	return body
}

// Each command's output, called directly, is the matching section of the
// default fixtures: one source of truth for formats.
func TestSolarisCommandsMatchFixtures(t *testing.T) {
	for _, rel := range []string{"5.10", "5.11"} {
		h := newSolarisHost(t, rel)
		fixture := "gather-" + rel + "-default.txt"
		checks := map[string][]string{
			"kstat":                      {"/usr/bin/kstat", "-p", "unix:0:system_misc:boot_time"},
			"who":                        {"who", "-b"},
			"ndd tcp_smallest_anon_port": {"/usr/sbin/ndd", "-get", "/dev/tcp", "tcp_smallest_anon_port"},
			"ndd tcp_keepalive_interval": {"ndd", "/dev/tcp", "tcp_keepalive_interval"},
		}
		if rel == "5.11" {
			checks["ipadm"] = []string{"/usr/sbin/ipadm", "show-prop", "-p", "smallest_anon_port,largest_anon_port,_time_wait_interval,_keepalive_interval", "tcp"}
		}
		for section, argv := range checks {
			out := solarisCall(t, h, "root", argv...)
			if want := fixtureSection(t, fixture, section); out.Stdout != want || out.Code != 0 {
				t.Errorf("%s %q: exit %d\n%q\nwant\n%q", rel, argv, out.Code, out.Stdout, want)
			}
		}
		// netstat's section is its table through the gather's filter.
		cmd := gatherCommand(t, platform.SolarisGatherScript(), "echo '@@fleettune@@ netstat'; ")
		if out, want := h.Run("root", cmd), fixtureSection(t, fixture, "netstat"); out.Stdout != want || out.Code != 0 {
			t.Errorf("%s %q: exit %d\n%q\nwant\n%q", rel, cmd, out.Code, out.Stdout, want)
		}
	}
}

// gatherCommand is the command of script's line that starts with prefix.
func gatherCommand(t *testing.T, script, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(script, "\n") {
		if cmd, ok := strings.CutPrefix(line, prefix); ok {
			return cmd
		}
	}
	t.Fatalf("no line starting %q in the gather script", prefix)
	return ""
}

func TestSolarisEmulatorSetup(t *testing.T) {
	if _, err := NewHost("x", "solaris", "5.9"); err == nil || !strings.Contains(err.Error(), "5.10 or 5.11") {
		t.Errorf("5.9: err = %v", err)
	}
	h10, h11 := newSolarisHost(t, "5.10"), newSolarisHost(t, "5.11")
	if h10.Uname.Sysname != "SunOS" || h10.Uname.Version != "Generic_150400-59" || h11.Uname.Version != "11.4.42.111.0" {
		t.Errorf("uname %+v %+v", h10.Uname, h11.Uname)
	}
	if !strings.Contains(h10.Files["/etc/release"], "Oracle Solaris 10") || !strings.Contains(h11.Files["/etc/release"], "Oracle Solaris 11.4") {
		t.Error("/etc/release")
	}
	if h10.BaselineTimeWait != time.Minute || h11.Emu.TimeWait() != time.Minute {
		t.Errorf("TIME_WAIT %v %v, want the 60 s default", h10.BaselineTimeWait, h11.Emu.TimeWait())
	}
	// ipadm does not exist on 10: the shell answers "not found".
	h10.Lock()
	_, handled := h10.Emu.Command(&Call{Host: h10, User: "root", Argv: []string{"/usr/sbin/ipadm", "show-prop"}})
	h10.Unlock()
	if handled {
		t.Error("5.10 answered ipadm")
	}
}

func TestSolarisNddSemantics(t *testing.T) {
	for _, rel := range []string{"5.10", "5.11"} {
		h := newSolarisHost(t, rel)
		get := func() string {
			return solarisCall(t, h, "root", "ndd", "-get", "/dev/tcp", "tcp_time_wait_interval").Stdout
		}
		for _, tc := range []struct {
			user   string
			argv   []string
			stdout string
			stderr string
			code   int
		}{
			{"root", []string{"ndd", "-get", "/dev/tcp", "tcp_nosuch"}, "name is non-existent for this module\nfor a list of valid names, use name '?'\n", "", 1},
			{"ops", []string{"ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "30000"}, "operation failed: Not owner\n", "", 1},
			{"root", []string{"ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "999"}, "operation failed: Invalid argument\n", "", 1},
			{"root", []string{"ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "abc"}, "operation failed: Invalid argument\n", "", 1},
			{"root", []string{"ndd", "-get", "/dev/ipx", "x"}, "", "open of /dev/ipx failed: No such file or directory\n", 1},
			{"root", []string{"ndd", "-set", "/dev/tcp", "tcp_time_wait_interval"}, "", nddUsage, 1},
			{"root", []string{"ndd", "-get", "/dev/tcp", "tcp_smallest_anon_port", "tcp_largest_anon_port"}, "32768\n\n65535\n", "", 0},
		} {
			out := solarisCall(t, h, tc.user, tc.argv...)
			if out.Stdout != tc.stdout || out.Stderr != tc.stderr || out.Code != tc.code {
				t.Errorf("%s %s %q: %+v", rel, tc.user, tc.argv, out)
			}
		}
		if get() != "60000\n" {
			t.Fatalf("a failed set changed the value: %q", get())
		}
		if out := solarisCall(t, h, "root", "/usr/sbin/ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "30000"); out != (Output{}) {
			t.Errorf("set: %+v", out)
		}
		if get() != "30000\n" || h.Emu.TimeWait() != 30*time.Second {
			t.Errorf("after set: %q, TimeWait %v", get(), h.Emu.TimeWait())
		}
		h.Reboot() // ndd -set is live only
		if get() != "60000\n" {
			t.Errorf("ndd -set survived a reboot: %q", get())
		}
	}
}

// On 10, /sbin/rc2 runs the /etc/rc2.d/S* scripts at boot, in name order:
// their ndd -set lines come back; a bad value is ignored as ndd would
// refuse it.
func TestSolaris10RCScriptsAtBoot(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	h.Files[platform.SolarisRCScript] = "#!/sbin/sh\n/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240\nndd -set /dev/tcp tcp_time_wait_interval 30000\n"
	h.Files["/etc/rc2.d/S99local"] = "ndd -set /dev/tcp tcp_time_wait_interval 45000\nndd -set /dev/tcp tcp_keepalive_interval 5\n"
	h.Files["/etc/rc2.d/.fleettune.tmp"] = "ndd -set /dev/tcp tcp_largest_anon_port 40000\n"
	h.Files["/etc/init.d/other"] = "ndd -set /dev/tcp tcp_largest_anon_port 50000\n"
	h.Reboot()
	want := map[string]string{"tcp_smallest_anon_port": "10240\n", "tcp_largest_anon_port": "65535\n", "tcp_time_wait_interval": "45000\n", "tcp_keepalive_interval": "7200000\n"}
	for k, v := range want {
		if got := solarisCall(t, h, "root", "ndd", "-get", "/dev/tcp", k).Stdout; got != v {
			t.Errorf("%s = %q after boot, want %q", k, got, v)
		}
	}
}

func TestSolaris11IpadmSemantics(t *testing.T) {
	h := newSolarisHost(t, "5.11")
	show := func(prop string) []string {
		out := solarisCall(t, h, "root", "ipadm", "show-prop", "-p", prop, "tcp")
		lines := strings.Split(strings.TrimSpace(out.Stdout), "\n")
		return strings.Fields(lines[len(lines)-1])
	}
	run := func(user string, argv ...string) Output {
		return solarisCall(t, h, user, append([]string{"ipadm"}, argv...)...)
	}

	for _, tc := range []struct {
		user   string
		argv   []string
		stderr string
	}{
		{"ops", []string{"set-prop", "-p", "smallest_anon_port=10240", "tcp"}, "ipadm: set-prop: smallest_anon_port: Permission denied\n"},
		{"ops", []string{"reset-prop", "-p", "smallest_anon_port", "tcp"}, "ipadm: reset-prop: smallest_anon_port: Permission denied\n"},
		{"root", []string{"set-prop", "-p", "smallest_anon_port=70000", "tcp"}, "ipadm: set-prop: smallest_anon_port: Invalid argument provided\n"},
		{"root", []string{"set-prop", "-p", "smallest_anon_port=80", "tcp"}, "ipadm: set-prop: smallest_anon_port: Invalid argument provided\n"},
		{"root", []string{"set-prop", "-p", "_time_wait_interval=600001", "tcp"}, "ipadm: set-prop: _time_wait_interval: Invalid argument provided\n"},
		{"root", []string{"set-prop", "-p", "nosuch=1", "tcp"}, "ipadm: set-prop: nosuch: Unknown property\n"},
		{"root", []string{"set-prop", "-p", "smallest_anon_port=1", "bogus"}, "ipadm: invalid protocol 'bogus' specified\n"},
	} {
		if out := run(tc.user, tc.argv...); out.Code != 1 || out.Stderr != tc.stderr || out.Stdout != "" {
			t.Errorf("%q: %+v, want stderr %q", tc.argv, out, tc.stderr)
		}
	}
	if got := show("smallest_anon_port"); got[3] != "32768" || got[4] != "--" {
		t.Fatalf("a refused set changed state: %q", got)
	}

	// The bounds limit each other: raising the low end above the high end
	// is refused until the high end moves.
	run("root", "set-prop", "-p", "largest_anon_port=40000", "tcp")
	if out := run("root", "set-prop", "-p", "smallest-anon-port=45000", "tcp"); out.Code != 1 {
		t.Errorf("smallest above largest accepted: %+v", out)
	}
	if got := show("largest_anon_port"); strings.Join(got, " ") != "tcp largest-anon-port rw 40000 40000 65535 32768-65535" {
		t.Errorf("largest row %q", got)
	}
	if got := show("smallest-anon-port"); got[6] != "1024-40000" {
		t.Errorf("smallest POSSIBLE %q, want 1024-40000", got[6])
	}

	// set-prop persists, set-prop -t does not, reset-prop removes the
	// persistent value and sets the default.
	run("root", "set-prop", "-p", "_time_wait_interval=30000", "tcp")
	run("root", "set-prop", "-t", "-p", "_keepalive_interval=300000", "tcp")
	if got := show("_keepalive_interval"); got[3] != "300000" || got[4] != "--" {
		t.Errorf("-t: %q", got)
	}
	h.Reboot()
	if got := show("_time_wait_interval"); got[3] != "30000" || got[4] != "30000" || h.Emu.TimeWait() != 30*time.Second {
		t.Errorf("set-prop did not survive reboot: %q", got)
	}
	if got := show("_keepalive_interval"); got[3] != "7200000" {
		t.Errorf("set-prop -t survived reboot: %q", got)
	}
	if got := show("largest_anon_port"); got[3] != "40000" {
		t.Errorf("largest after reboot: %q", got)
	}
	if out := run("root", "reset-prop", "-p", "_time_wait_interval", "tcp"); out.Code != 0 {
		t.Fatalf("reset-prop: %+v", out)
	}
	if got := show("_time_wait_interval"); got[3] != "60000" || got[4] != "--" {
		t.Errorf("after reset-prop: %q", got)
	}
	h.Reboot()
	if got := show("_time_wait_interval"); got[3] != "60000" {
		t.Errorf("reset-prop did not remove the persistent value: %q", got)
	}
}

func TestSolarisNetstatCountsState(t *testing.T) {
	h := newSolarisHost(t, "5.11")
	h.TimeWaitSockets = 5
	h.Listening = []int{22, 8080}
	out := solarisCall(t, h, "root", "netstat", "-an", "-P", "tcp")
	listen, tw, err := platform.ParseSolarisNetstat(out.Stdout)
	if err != nil || tw != 5 || len(listen) != 2 || listen[1] != 8080 {
		t.Errorf("parsed %v %d %v from\n%s", listen, tw, err, out.Stdout)
	}
	if out := solarisCall(t, h, "root", "netstat", "-s"); out.Code == 0 {
		t.Errorf("unemulated netstat form answered: %+v", out)
	}
}

// netstat -s -P tcp: counters kept per host that rise with every command
// (background traffic, never a failure counter), jump by
// solarisHandshakeFailures at every read while the handshake fault shows
// (fault on and TIME_WAIT below its baseline), and start from zero after a
// reboot.
func TestSolarisNetstatTCPCounters(t *testing.T) {
	for _, rel := range []string{"5.10", "5.11"} {
		h := newSolarisHost(t, rel)
		read := func(argv ...string) platform.Counters {
			t.Helper()
			if len(argv) == 0 {
				argv = []string{"/usr/bin/netstat", "-s", "-P", "tcp"}
			}
			out := solarisCall(t, h, "ops", argv...)
			c, err := platform.ParseSolarisTCPStats(out.Stdout)
			if out.Code != 0 || out.Stderr != "" || err != nil {
				t.Fatalf("%s %q: %+v, %v", rel, argv, out, err)
			}
			return c
		}
		c1 := read()
		c2 := read("netstat", "-P", "tcp", "-s")
		// One command ran between the reads (the first read itself).
		if d := c2["Tcp.tcpActiveOpens"] - c1["Tcp.tcpActiveOpens"]; d != solarisBackgroundTraffic["tcpActiveOpens"] {
			t.Errorf("%s: tcpActiveOpens +%d per command, want +%d", rel, d, solarisBackgroundTraffic["tcpActiveOpens"])
		}
		for _, n := range []string{"Tcp.tcpAttemptFails", "Tcp.tcpEstabResets", "Tcp.tcpTimRetransDrop", "Tcp.tcpRtoMin"} {
			if c2[n] != c1[n] {
				t.Errorf("%s: %s moved without a fault: %d -> %d", rel, n, c1[n], c2[n])
			}
		}

		// The fault alone is not enough: TIME_WAIT is still at its baseline.
		h.Faults.HandshakeFailures = true
		if c3 := read(); c3["Tcp.tcpAttemptFails"] != c1["Tcp.tcpAttemptFails"] {
			t.Errorf("%s: failures rose with TIME_WAIT at its baseline", rel)
		}
		solarisCall(t, h, "root", "ndd", "-set", "/dev/tcp", "tcp_time_wait_interval", "30000")
		c4, c5 := read(), read()
		for _, n := range []string{"Tcp.tcpAttemptFails", "Tcp.tcpEstabResets"} {
			if c4[n] != c1[n]+solarisHandshakeFailures || c5[n] != c4[n]+solarisHandshakeFailures {
				t.Errorf("%s: %s %d, %d, %d: want +%d at each read", rel, n, c1[n], c4[n], c5[n], solarisHandshakeFailures)
			}
		}
		h.Faults.HandshakeFailures = false
		if c6 := read(); c6["Tcp.tcpAttemptFails"] != c5["Tcp.tcpAttemptFails"] {
			t.Errorf("%s: failures rose with the fault off", rel)
		}

		h.Reboot()
		c7 := read()
		if c7["Tcp.tcpActiveOpens"] != 0 || c7["Tcp.tcpAttemptFails"] != 0 || c7["Tcp.tcpRtoMin"] != 400 || c7["Tcp.tcpMaxConn"] != -1 {
			t.Errorf("%s: after reboot %v, want counters from zero and the settings kept", rel, c7)
		}
		if len(c7) != len(c1) {
			t.Errorf("%s: %d counters after reboot, %d before", rel, len(c7), len(c1))
		}
	}
}
