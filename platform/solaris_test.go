package platform

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

func readSolarisFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "solaris", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func solarisFacts(t *testing.T, name string) *Facts {
	t.Helper()
	f, err := ParseSolarisFacts(readSolarisFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Expectations read off the fixtures by hand.
func TestParseSolarisFacts(t *testing.T) {
	k := func(name, live, atBoot string, set bool) Knob {
		return Knob{Name: name, Live: live, AtBoot: atBoot, AtBootSet: set}
	}
	tests := []struct {
		fixture   string
		version   string
		knobs     []Knob
		persisted string
	}{
		{"gather-5.10-default.txt", "5.10", []Knob{
			k("tcp_smallest_anon_port", "32768", "", false), k("tcp_largest_anon_port", "65535", "", false),
			k("tcp_time_wait_interval", "60000", "", false), k("tcp_keepalive_interval", "7200000", "", false)}, ""},
		{"gather-5.10-drift.txt", "5.10", []Knob{
			k("tcp_smallest_anon_port", "20000", "10240", true), k("tcp_largest_anon_port", "65535", "65535", true),
			k("tcp_time_wait_interval", "30000", "30000", true), k("tcp_keepalive_interval", "7200000", "", false)}, "ndd -set /dev/tcp tcp_conn_req_max_q 1024\n"},
		{"gather-5.11-default.txt", "5.11", []Knob{
			k("smallest_anon_port", "32768", "", false), k("largest_anon_port", "65535", "", false),
			k("_time_wait_interval", "60000", "", false), k("_keepalive_interval", "7200000", "", false)}, ""},
		{"gather-5.11-drift.txt", "5.11", []Knob{
			k("smallest_anon_port", "20000", "10240", true), k("largest_anon_port", "65535", "", false),
			k("_time_wait_interval", "30000", "30000", true), k("_keepalive_interval", "7200000", "", false)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			f := solarisFacts(t, tt.fixture)
			if f.OS != Solaris || f.Version != tt.version || f.BootID != "1793512800" {
				t.Errorf("os %q version %q boot %q", f.OS, f.Version, f.BootID)
			}
			for _, want := range tt.knobs {
				got := f.Knobs[want.Name]
				got.Source = ""
				if got != want {
					t.Errorf("%s = %+v, want %+v", want.Name, got, want)
				}
			}
			if len(f.Knobs) != 4 {
				t.Errorf("%d knobs", len(f.Knobs))
			}
			wantListen := []int{22, 25, 111, 587, 898, 2049, 4045}
			if tt.version == "5.11" {
				wantListen = []int{22, 111, 2049, 4045}
			}
			if !reflect.DeepEqual(f.Listening, wantListen) || f.TimeWait != 2 {
				t.Errorf("listening %v, TIME_WAIT %d", f.Listening, f.TimeWait)
			}
			if f.PersistedExists != (tt.persisted != "") || !strings.HasSuffix(f.Persisted, tt.persisted) {
				t.Errorf("persisted %v %q", f.PersistedExists, f.Persisted)
			}
		})
	}
	if src := solarisFacts(t, "gather-5.10-drift.txt").Knobs["tcp_smallest_anon_port"].Source; src != SolarisRCScript+":3" {
		t.Errorf("source %q", src)
	}
}

func TestParseSolarisFactsErrors(t *testing.T) {
	d10 := readSolarisFixture(t, "gather-5.10-default.txt")
	d11 := readSolarisFixture(t, "gather-5.11-default.txt")
	// ndd's own messages (printed on stdout; the script adds 2>&1).
	const nonexistent = "name is non-existent for this module\nfor a list of valid names, use name '?'\n"
	tests := []struct {
		name, out string
		err       []string
		check     func(t *testing.T, f *Facts)
	}{
		{"missing ndd parameter is Missing, not an error",
			replaceOnce(t, d10, "@@fleettune@@ ndd tcp_keepalive_interval\n7200000\n", "@@fleettune@@ ndd tcp_keepalive_interval\n"+nonexistent), nil,
			func(t *testing.T, f *Facts) {
				if !f.Knobs["tcp_keepalive_interval"].Missing {
					t.Error("not missing")
				}
			}},
		{"ndd refused", replaceOnce(t, d10, "\n32768\n", "\noperation failed: Not owner\n"),
			[]string{"read tcp_smallest_anon_port on Solaris 5.10", "ndd: operation failed: Not owner"}, nil},
		{"ndd not there", replaceOnce(t, d10, "\n65535\n", "\nsh: /usr/sbin/ndd: not found\n"),
			[]string{"read tcp_largest_anon_port", "not found"}, nil},
		{"ipadm error", replaceOnce(t, d11, "PROTO PROPERTY", "ipadm: Could not open handle to library - Permission denied\nPROTO PROPERTY"),
			[]string{"read smallest_anon_port,", "Permission denied"}, nil},
		{"ipadm property absent is Missing",
			replaceOnce(t, d11, "tcp   _keepalive_interval   rw   7200000      --           7200000      10000-864000000\n", ""), nil,
			func(t *testing.T, f *Facts) {
				if !f.Knobs["_keepalive_interval"].Missing || f.Knobs["_time_wait_interval"].Missing {
					t.Error("wrong knob missing")
				}
			}},
		{"truncated output", strings.TrimSuffix(d10, "@@fleettune@@ end\n"), []string{"incomplete"}, nil},
		{"unknown release", replaceOnce(t, d10, "\n5.10\n", "\n6.1\n"), []string{`unexpected SunOS release "6.1"`}, nil},
		{"no boot time", replaceOnce(t, replaceOnce(t, d10, "unix:0:system_misc:boot_time\t1793512800\n", "kstat: not found\n"), "   .       system boot  Nov  1 06:00\n", ""),
			[]string{"read boot time", "kstat: not found"}, nil},
		{"who -b when kstat fails", replaceOnce(t, d10, "unix:0:system_misc:boot_time\t1793512800\n", "sh: /usr/bin/kstat: not found\n"), nil,
			func(t *testing.T, f *Facts) {
				if f.BootID != "who -b: . system boot Nov 1 06:00" {
					t.Errorf("boot id %q", f.BootID)
				}
			}},
		{"netstat error", replaceOnce(t, d10, "\nTCP: IPv4\n", "\nnetstat: permission denied\nTCP: IPv4\n"), []string{"read sockets", "netstat: permission denied"}, nil},
		{"unreadable rc script", replaceOnce(t, readSolarisFixture(t, "gather-5.10-drift.txt"), "@@fleettune@@ endfile\n", ""), []string{"could not be read"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseSolarisFacts(tt.out)
			if tt.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, f)
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseIpadmShowProp(t *testing.T) {
	// Older 11.x print underscores; spacing is not relied on.
	out := "PROTO PROPERTY              PERM CURRENT      PERSISTENT   DEFAULT      POSSIBLE\n" +
		"tcp   smallest_anon_port    rw   9000         9000         32768        1024-65500\n" +
		"tcp\tlargest-anon-port  rw 65500 65500 65535 9000-65535   \n"
	p, err := ParseIpadmShowProp(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]IpadmProp{
		"smallest_anon_port": {"tcp", "smallest_anon_port", "rw", "9000", "9000", "32768", "1024-65500"},
		"largest_anon_port":  {"tcp", "largest_anon_port", "rw", "65500", "65500", "65535", "9000-65535"},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v", p)
	}
	if _, err := ParseIpadmShowProp("ipadm: set-prop: x: Unknown property\n"); err == nil || !strings.Contains(err.Error(), "Unknown property") {
		t.Errorf("err = %v", err)
	}
}

func TestSolarisPropose(t *testing.T) {
	d := solarisDriver{}
	protect := Guardrails{}
	all := Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute)}

	// Solaris 10 from defaults: ndd commands, the rc script, no reboot.
	p := d.Propose(solarisFacts(t, "gather-5.10-default.txt"), all, protect)
	want := []Change{
		{Setting: "ephemeral_ports", Knob: "tcp_smallest_anon_port,tcp_largest_anon_port", Current: "32768-65535", AtBoot: "Solaris default (not persisted)", Target: "10240-65535",
			Commands: []string{"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240"},
			Persist:  SolarisRCScript + ": ndd -set /dev/tcp tcp_smallest_anon_port 10240; ndd -set /dev/tcp tcp_largest_anon_port 65535"},
		{Setting: "time_wait", Knob: "tcp_time_wait_interval", Current: "1m0s", AtBoot: "Solaris default (not persisted)", Target: "30s",
			Commands: []string{"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000"}, Persist: SolarisRCScript + ": ndd -set /dev/tcp tcp_time_wait_interval 30000"},
		{Setting: "keepalive_time", Knob: "tcp_keepalive_interval", Current: "2h0m0s", AtBoot: "Solaris default (not persisted)", Target: "5m0s",
			Commands: []string{"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000"}, Persist: SolarisRCScript + ": ndd -set /dev/tcp tcp_keepalive_interval 300000"},
	}
	if !reflect.DeepEqual(untyped(p.Changes), want) {
		t.Errorf("changes\n%+v\nwant\n%+v", p.Changes, want)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "not going below 60s") {
		t.Errorf("notes %q", p.Notes)
	}

	// Drift on 10: live range differs from the persisted one, which already
	// is the target; time_wait is converged; keepalive is only persisted.
	p = d.Propose(solarisFacts(t, "gather-5.10-drift.txt"), Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30 * time.Second)}, protect)
	if len(p.Changes) != 1 || p.Changes[0].Current != "20000-65535" || p.Changes[0].AtBoot != "10240-65535" ||
		!reflect.DeepEqual(p.Changes[0].Commands, []string{"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240"}) {
		t.Errorf("drift: %+v", p.Changes)
	}
	// Live already at target but not persisted: only the persistence runs.
	f := solarisFacts(t, "gather-5.10-default.txt")
	p = d.Propose(f, Targets{TimeWait: dur(time.Minute)}, protect)
	if len(p.Changes) != 1 || len(p.Changes[0].Commands) != 0 || p.Changes[0].Persist == "" || p.Changes[0].Pending() {
		t.Errorf("persist-only: %+v", p.Changes)
	}

	// Solaris 11: ipadm set-prop (live and persistent) even when live is right.
	p = d.Propose(solarisFacts(t, "gather-5.11-drift.txt"), Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30 * time.Second)}, protect)
	if len(p.Changes) != 1 || p.Changes[0].AtBoot != "10240-65535" || !reflect.DeepEqual(p.Changes[0].Commands, []string{
		"/usr/sbin/ipadm set-prop -p smallest_anon_port=10240 tcp", "/usr/sbin/ipadm set-prop -p largest_anon_port=65535 tcp"}) {
		t.Errorf("5.11 drift: %+v", p.Changes)
	}
	// Moving the range above the current one: largest first.
	low := solarisFacts(t, "gather-5.11-drift.txt")
	low.Knobs["largest_anon_port"] = Knob{Name: "largest_anon_port", Live: "40000"}
	p = d.Propose(low, Targets{EphemeralPorts: rng(45000, 65500)}, protect)
	if c := p.Changes[0].Commands; len(c) != 2 || !strings.Contains(c[0], "largest_anon_port=65500") {
		t.Errorf("order: %q", c)
	}
	// Lowering: smallest first.
	p = d.Propose(low, Targets{EphemeralPorts: rng(5000, 30000)}, protect)
	if c := p.Changes[0].Commands; len(c) != 2 || !strings.Contains(c[0], "smallest_anon_port=5000") {
		t.Errorf("order: %q", c)
	}

	// Converged: nothing, on both.
	for _, fx := range []string{"gather-5.10-converged.txt", "gather-5.11-converged.txt"} {
		if p := d.Propose(solarisFacts(t, fx), all, protect); len(p.Changes) != 0 {
			t.Errorf("%s: %+v", fx, p.Changes)
		}
	}

	// Guardrails.
	for _, tc := range []struct {
		targets Targets
		guard   Guardrails
		refused string
	}{
		{Targets{EphemeralPorts: rng(1000, 2000)}, Guardrails{}, "privileged port"},
		{Targets{TimeWait: dur(5 * time.Second)}, protect, "below 10s"},
		{Targets{TimeWait: dur(11 * time.Minute)}, protect, "between 1s and 10m0s"},
		{Targets{TimeWait: dur(1500 * time.Microsecond)}, protect, "whole milliseconds"},
		{Targets{KeepaliveTime: dur(5 * time.Second)}, protect, "between 10s"},
		{Targets{Native: map[string]string{"tcp_conn_req_max_q": "1024"}}, protect, "not supported"},
	} {
		p := d.Propose(f, tc.targets, tc.guard)
		if len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Refused, tc.refused) {
			t.Errorf("%+v: %+v, want refused %q", tc.targets, p.Changes, tc.refused)
		}
	}
	if p := d.Propose(f, Targets{EphemeralPorts: rng(2000, 65535)}, Guardrails{}); p.Changes[0].Refused != "" {
		t.Errorf("the driver refused a range over listeners (the planner's policy): %+v", p.Changes)
	}
	for _, c := range d.Propose(f, all, protect).Changes {
		if c.RebootRequired {
			t.Errorf("Solaris tunables are dynamic: %+v", c)
		}
	}
}

func TestSolarisApplyAndRestore(t *testing.T) {
	d := solarisDriver{}
	all := Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute)}

	// 10, drift host: ndd for the live low end and keepalive, then one
	// rc script keeping the operator's line and fleettune's earlier values.
	drift := solarisFacts(t, "gather-5.10-drift.txt")
	p := d.Propose(drift, all, Guardrails{})
	cmds, err := d.ApplyCommands(drift, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	content := solarisRCHeader +
		"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240\n/usr/sbin/ndd -set /dev/tcp tcp_largest_anon_port 65535\n" +
		"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000\n/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000\n" +
		"/usr/sbin/ndd -set /dev/tcp tcp_conn_req_max_q 1024\n"
	want := []string{
		"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240",
		"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000",
		solarisWriteFile(SolarisRCScript, content),
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands\n%q\nwant\n%q", cmds, want)
	}
	snap := d.Snapshot(drift, p.Changes)
	if c := snap.Files[SolarisRCScript]; c == nil || *c != drift.Persisted {
		t.Errorf("file snapshot %v", c)
	}

	conv := solarisFacts(t, "gather-5.10-converged.txt")
	restore, err := d.RestoreCommands(conv, snap)
	if err != nil {
		t.Fatal(err)
	}
	wantRestore := []string{
		"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 7200000",
		"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 20000",
		solarisWriteFile(SolarisRCScript, drift.Persisted),
	}
	if !reflect.DeepEqual(restore, wantRestore) {
		t.Errorf("restore\n%q\nwant\n%q", restore, wantRestore)
	}
	wantDiff := []string{
		"tcp_keepalive_interval is 300000, was 7200000",
		"tcp_smallest_anon_port is 10240, was 20000",
		SolarisRCScript + " differs from its previous content",
	}
	if diff := d.Differences(conv, snap); !reflect.DeepEqual(diff, wantDiff) {
		t.Errorf("differences %q", diff)
	}
	if r, _ := d.RestoreCommands(drift, snap); len(r) != 0 {
		t.Errorf("restore on unchanged host: %q", r)
	}
	// No file before: restore removes it.
	def := solarisFacts(t, "gather-5.10-default.txt")
	snapDef := d.Snapshot(def, d.Propose(def, all, Guardrails{}).Changes)
	if c, tracked := snapDef.Files[SolarisRCScript]; !tracked || c != nil {
		t.Errorf("snapshot of no file: %v %v", tracked, c)
	}
	r, _ := d.RestoreCommands(conv, snapDef)
	if r[len(r)-1] != "rm -f "+SolarisRCScript {
		t.Errorf("restore %q", r)
	}

	// 11, drift host restored from converged: persisted value back with
	// set-prop, the never-persisted ones with reset-prop, then live-only
	// -t for the live value that differed from the persisted one.
	d11 := solarisFacts(t, "gather-5.11-drift.txt")
	snap11 := d.Snapshot(d11, d.Propose(d11, all, Guardrails{}).Changes)
	if snap11.Files != nil {
		t.Errorf("5.11 tracks files: %v", snap11.Files)
	}
	c11 := solarisFacts(t, "gather-5.11-converged.txt")
	r11, err := d.RestoreCommands(c11, snap11)
	if err != nil {
		t.Fatal(err)
	}
	want11 := []string{
		"/usr/sbin/ipadm reset-prop -p _keepalive_interval tcp",
		"/usr/sbin/ipadm reset-prop -p largest_anon_port tcp",
		"/usr/sbin/ipadm set-prop -t -p smallest_anon_port=20000 tcp",
	}
	if !reflect.DeepEqual(r11, want11) {
		t.Errorf("5.11 restore\n%q\nwant\n%q", r11, want11)
	}
	if diff := d.Differences(c11, snap11); !reflect.DeepEqual(diff, []string{
		"_keepalive_interval is 300000, was 7200000",
		"largest_anon_port at boot is 65535, was not persisted",
		"smallest_anon_port is 10240, was 20000",
	}) {
		t.Errorf("5.11 differences %q", diff)
	}

	// Refused changes and foreign knobs never produce commands.
	if _, err := d.ApplyCommands(def, []Change{{Setting: "time_wait", Knob: "tcp_time_wait_interval", Target: "5s", Refused: "below 10s"}}); err == nil || !strings.Contains(err.Error(), "below 10s") {
		t.Errorf("err = %v", err)
	}
	if _, err := d.ApplyCommands(def, []Change{{Setting: "time_wait", Knob: "tcp_time_wait_interval; reboot", Target: "30s"}}); err == nil {
		t.Error("foreign knob accepted")
	}
	if _, err := d.ApplyCommands(def, []Change{{Setting: "ephemeral_ports", Knob: "tcp_smallest_anon_port,tcp_largest_anon_port", Target: "1; reboot"}}); err == nil {
		t.Error("untyped target accepted")
	}
	if _, err := d.RestoreCommands(def, Snapshot{Knobs: map[string]KnobState{"tcp_evil; reboot": {Live: "1"}}}); err == nil {
		t.Error("foreign knob restored")
	}
}

// The write command, run by a real sh, leaves exactly the content.
func TestSolarisWriteFileByteExact(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	path, tmp := filepath.Join(dir, "S70fleettune"), filepath.Join(dir, ".fleettune.tmp")
	for _, content := range []string{
		solarisRCContent("", map[string]int{"tcp_smallest_anon_port": 10240}),
		"it's 100% \\n $HOME `id` \"q\"\nno newline",
		"",
	} {
		if out, err := exec.Command(sh, "-c", solarisWriteFileVia(path, tmp, content)).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("file holds %q, want %q (%v)", got, content, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%d entries, want only the file", len(entries))
		}
	}
}

// The counters fixture has the shape of real `netstat -s -P tcp` output
// (see testdata/solaris/README.md): every MIB name of the TCP section
// becomes one counter, whatever touches its "=".
func TestParseSolarisTCPStats(t *testing.T) {
	c, err := ParseSolarisTCPStats(readSolarisFixture(t, "netstat-s-tcp.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 51 {
		t.Errorf("%d counters, want the 51 print_tcp_stats prints: %v", len(c), c)
	}
	for name, want := range map[string]int64{
		"Tcp.tcpRtoAlgorithm":      4,          // on the line of the TCP header
		"Tcp.tcpMaxConn":           -1,         // negative
		"Tcp.tcpAttemptFails":      212,        // padded value
		"Tcp.tcpEstabResets":       96,         // second of its line
		"Tcp.tcpOutDataBytes":      2147119083, // value touching "="
		"Tcp.tcpInSegs":            10278515,   // alone on its line
		"Tcp.tcpTimKeepaliveProbe": 402,        // 20-character name touching "="
		"Tcp.tcpOutSackRetrans":    517,        // last
	} {
		if got, ok := c[name]; !ok || got != want {
			t.Errorf("%s = %d (present %t), want %d", name, got, ok, want)
		}
	}

	// A 64-bit counter beyond int64 is left out, its neighbours are kept;
	// "TCP" may stand on a line of its own, and spaces may replace tabs.
	c, err = ParseSolarisTCPStats("\nTCP\n  tcpOutSegs =18446744073709551615  tcpInSegs=7\n")
	if err != nil || len(c) != 1 || c["Tcp.tcpInSegs"] != 7 {
		t.Errorf("got %v, %v; want only Tcp.tcpInSegs = 7", c, err)
	}
}

func TestParseSolarisTCPStatsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "printed no TCP section"},
		{"\n\n", "printed no TCP section"},
		{"\nIPv4\tipForwarding        =     2\tipDefaultTTL        =   255\n", `line 2: expected the TCP section, got "IPv4`},
		{"netstat: unknown protocol.\n", "expected the TCP section"},
		{"\nTCP\n", "the TCP section has no counters"},
		{"\nTCP\ttcpActiveOpens      =    12\ttcpPassiveOpens\n", `line 2: expected "name = value" pairs`},
		{"\nTCP\ttcpActiveOpens      =    12\n\t= 5 tcpX\n", `line 3: expected "name = value" pairs`},
		{"\nTCP\tActiveOpens         =    12\n", `expected "name = value" pairs`},
		{"\nTCP\ttcpActiveOpens      =    1x\n", `tcpActiveOpens = "1x" is not a number`},
		{"\nTCP\ttcpActiveOpens      =     1\ttcpActiveOpens      =     2\n", "line 2: tcpActiveOpens appears twice"},
		{"\nTCP\ttcpActiveOpens      =     1\n\nTCP\ttcpInSegs = 2\n", "line 4: a second TCP section"},
	} {
		c, err := ParseSolarisTCPStats(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, %v; want an error containing %q", tc.in, c, err, tc.want)
		}
	}
}

// solarisCountersRunner answers one command with a fixed result and
// records what it was asked.
type solarisCountersRunner struct {
	res  remote.Result
	err  error
	cmds []string
}

func (r *solarisCountersRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.cmds = append(r.cmds, cmd)
	return r.res, r.err
}

func TestSolarisCounters(t *testing.T) {
	var hr HealthReader = solarisDriver{}
	fixture := readSolarisFixture(t, "netstat-s-tcp.txt")

	r := &solarisCountersRunner{res: remote.Result{Stdout: []byte(fixture)}}
	c, err := hr.Counters(context.Background(), r)
	if err != nil || c["Tcp.tcpAttemptFails"] != 212 {
		t.Fatalf("counters %v, %v", c, err)
	}
	if len(r.cmds) != 1 || r.cmds[0] != "/usr/bin/netstat -s -P tcp" {
		t.Errorf("ran %q, want the one netstat command", r.cmds)
	}

	sentinel := errors.New("connection lost")
	for _, tc := range []struct {
		r    *solarisCountersRunner
		want string
	}{
		{&solarisCountersRunner{err: sentinel}, "read TCP counters: connection lost"},
		{&solarisCountersRunner{res: remote.Result{ExitCode: 1, Stderr: []byte("tcp: unknown protocol.\n")}},
			"read TCP counters: /usr/bin/netstat -s -P tcp: exit status 1: tcp: unknown protocol."},
		{&solarisCountersRunner{res: remote.Result{Stdout: []byte("garbage\n")}}, `read TCP counters: netstat -s: line 1: expected the TCP section, got "garbage"`},
	} {
		_, err := hr.Counters(context.Background(), tc.r)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
		if tc.r.err != nil && !errors.Is(err, tc.r.err) {
			t.Errorf("error %v does not wrap the runner's", err)
		}
	}
}

// Every threshold names a counter real netstat prints (else CounterDeltas
// would skip it silently), only failure signs are watched, and the deltas
// over a watch window flag exactly the counters that rose past theirs.
func TestSolarisThresholds(t *testing.T) {
	d := solarisDriver{}
	th := d.Thresholds()
	before, err := ParseSolarisTCPStats(readSolarisFixture(t, "netstat-s-tcp.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"Tcp.tcpAttemptFails", "Tcp.tcpEstabResets"} {
		if th[must] != 50 {
			t.Errorf("%s threshold %d, want 50", must, th[must])
		}
	}
	for name, v := range th {
		if _, ok := before[name]; !ok {
			t.Errorf("threshold %s names no counter of netstat -s -P tcp", name)
		}
		if v <= 0 {
			t.Errorf("threshold %s = %d: any background failure would flag the host", name, v)
		}
	}
	for _, notFailure := range []string{"Tcp.tcpListenDrop", "Tcp.tcpListenDropQ0", "Tcp.tcpActiveOpens", "Tcp.tcpOutRsts"} {
		if _, ok := th[notFailure]; ok {
			t.Errorf("%s is thresholded; it is not a handshake-failure sign", notFailure)
		}
	}
	th["Tcp.tcpAttemptFails"] = 1
	if d.Thresholds()["Tcp.tcpAttemptFails"] != 50 {
		t.Error("Thresholds returned the defaults themselves, not a copy")
	}

	after := Counters{}
	for k, v := range before {
		after[k] = v
	}
	after["Tcp.tcpAttemptFails"] += 120
	after["Tcp.tcpEstabResets"] += 51
	after["Tcp.tcpTimRetransDrop"] += 10 // at the threshold: not above it
	after["Tcp.tcpListenDrop"] += 1000
	deltas, exceeded := CounterDeltas(before, after, d.Thresholds())
	want := []string{"Tcp.tcpAttemptFails +120 (threshold 50)", "Tcp.tcpEstabResets +51 (threshold 50)"}
	if !reflect.DeepEqual(exceeded, want) {
		t.Errorf("exceeded %q, want %q", exceeded, want)
	}
	if len(deltas) != len(d.Thresholds()) || deltas["Tcp.tcpTimRetransDrop"] != 10 {
		t.Errorf("deltas %v", deltas)
	}
}
