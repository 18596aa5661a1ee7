package platform

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parseFixture(t *testing.T, name string) *Facts {
	t.Helper()
	f, err := ParseLinuxFacts(readLinuxFixture(t, name), linuxKnobList())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMergeSysctlConf(t *testing.T) {
	set := map[string]string{
		"net.ipv4.ip_local_port_range": "10240 65535",
		"net.ipv4.tcp_keepalive_time":  "300",
	}
	tests := []struct {
		name   string
		old    string
		exists bool
		want   string
	}{
		{
			name: "no file: header, then keys in name order",
			want: linuxPersistHeader + "net.ipv4.ip_local_port_range = 10240 65535\nnet.ipv4.tcp_keepalive_time = 300\n",
		},
		{
			name:   "empty file is treated as new",
			old:    "\n",
			exists: true,
			want:   linuxPersistHeader + "net.ipv4.ip_local_port_range = 10240 65535\nnet.ipv4.tcp_keepalive_time = 300\n",
		},
		{
			name:   "own lines rewritten in place, other lines and comments kept, missing key appended",
			old:    "# Managed by fleettune.\nnet.ipv4.ip_local_port_range = 20000 50001\n; operator note\nnet.core.somaxconn = 4096\n",
			exists: true,
			want:   "# Managed by fleettune.\nnet.ipv4.ip_local_port_range = 10240 65535\n; operator note\nnet.core.somaxconn = 4096\nnet.ipv4.tcp_keepalive_time = 300\n",
		},
		{
			name:   "slash form and '-' prefix are the same key; a later duplicate would win, so it goes",
			old:    "net/ipv4/tcp_keepalive_time=600\nnet.ipv4.tcp_fin_timeout = 30\n-net.ipv4.tcp_keepalive_time = 900\nnet.ipv4.ip_local_port_range=1 2",
			exists: true,
			want:   "net.ipv4.tcp_keepalive_time = 300\nnet.ipv4.tcp_fin_timeout = 30\nnet.ipv4.ip_local_port_range = 10240 65535\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeSysctlConf(tc.old, tc.exists, set)
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			// What systemd-sysctl would set from the result is exactly set.
			eff := effectiveSysctl([]sysctlFile{{Path: LinuxPersistFile, Body: got}})
			for k, v := range set {
				if eff[k].value != v {
					t.Errorf("at boot %s = %q, want %q", k, eff[k].value, v)
				}
			}
		})
	}
}

// The write command is run by a real sh: whatever the content (quotes,
// percent signs, backslashes, no trailing newline), the file ends up with
// exactly those bytes, and no temporary file stays behind.
func TestLinuxWriteFileByteExact(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "90-fleettune.conf")
	for _, content := range []string{
		linuxPersistHeader + "net.ipv4.ip_local_port_range = 10240 65535\n",
		"# it's 100% \\n not a newline; $HOME `id` \"q\"\nnet.ipv4.tcp_keepalive_time = 300",
		"",
	} {
		cmd := exec.Command(sh, "-c", linuxWriteFile(path, content))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("file holds %q, want %q", got, content)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644", fi.Mode().Perm())
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the file", len(entries))
		}
	}
}

func TestApplyCommandsFromDrift(t *testing.T) {
	d := linuxDriver{}
	f := parseFixture(t, "gather-drift.txt")
	p := d.Propose(f, Targets{EphemeralPorts: rng(10240, 65535), KeepaliveTime: dur(5 * time.Minute)}, Guardrails{})
	if len(p.Changes) != 2 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	cmds, err := d.ApplyCommands(f, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sysctl -w net.ipv4.ip_local_port_range='10240 65535'",
		"sysctl -w net.ipv4.tcp_keepalive_time=300",
		linuxWriteFile(LinuxPersistFile, linuxPersistHeader+"net.ipv4.ip_local_port_range = 10240 65535\nnet.ipv4.tcp_keepalive_time = 300\n"),
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands\n%q\nwant\n%q", cmds, want)
	}

	snap := d.Snapshot(f, p.Changes)
	if got := snap.Knobs[linuxPortRange]; got.Live != "20000\t50001" || !got.AtBootSet || got.AtBoot != "20000 50001" {
		t.Errorf("range snapshot %+v", got)
	}
	if got := snap.Knobs[linuxKeepalive]; got.Live != "7200" || got.AtBoot != "600" {
		t.Errorf("keepalive snapshot %+v", got)
	}
	if c, tracked := snap.Files[LinuxPersistFile]; !tracked || c != nil {
		t.Errorf("file snapshot: tracked %v, content %v; want tracked and nil (no file before)", tracked, c)
	}
	// The snapshot is journaled as JSON: it must come back equal, nil file
	// included.
	b, _ := json.Marshal(snap)
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, snap) {
		t.Errorf("snapshot JSON round trip: %v\n%s", err, b)
	}
}

func TestApplyCommandsRefusesRefused(t *testing.T) {
	d := linuxDriver{}
	f := parseFixture(t, "gather-default.txt")
	_, err := d.ApplyCommands(f, []Change{{Setting: "ephemeral_ports", Knob: linuxPortRange, Refused: "covers port 15000"}})
	if err == nil || !strings.Contains(err.Error(), "covers port 15000") {
		t.Errorf("err = %v", err)
	}
	_, err = d.ApplyCommands(f, []Change{{Knob: "net.ipv4.x; rm -rf /", Commands: []string{"true"}}})
	if err == nil || !strings.Contains(err.Error(), "not a sysctl name") {
		t.Errorf("err = %v", err)
	}
}

// Restoring the converged host to the drift host's snapshot undoes both
// knobs and removes the file fleettune created; on the drift host itself
// there is nothing to do.
func TestRestoreCommands(t *testing.T) {
	d := linuxDriver{}
	drift := parseFixture(t, "gather-drift.txt")
	snap := d.Snapshot(drift, []Change{{Knob: linuxPortRange}, {Knob: linuxKeepalive}})
	conv := parseFixture(t, "gather-converged.txt")

	cmds, err := d.RestoreCommands(conv, snap)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sysctl -w net.ipv4.ip_local_port_range='20000 50001'",
		"sysctl -w net.ipv4.tcp_keepalive_time='7200'",
		"rm -f /etc/sysctl.d/90-fleettune.conf",
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands\n%q\nwant\n%q", cmds, want)
	}
	diff := d.Differences(conv, snap)
	wantDiff := []string{
		"net.ipv4.ip_local_port_range is 10240 65535, was 20000 50001",
		"net.ipv4.tcp_keepalive_time is 300, was 7200",
		"/etc/sysctl.d/90-fleettune.conf exists; there was none",
	}
	if !reflect.DeepEqual(diff, wantDiff) {
		t.Errorf("differences\n%q\nwant\n%q", diff, wantDiff)
	}

	if cmds, err := d.RestoreCommands(drift, snap); err != nil || len(cmds) != 0 {
		t.Errorf("restore on an unchanged host: %q, %v; want nothing", cmds, err)
	}
	if diff := d.Differences(drift, snap); len(diff) != 0 {
		t.Errorf("differences on an unchanged host: %q", diff)
	}

	// A file that existed is written back byte for byte.
	before := parseFixture(t, "gather-converged.txt")
	snap2 := d.Snapshot(before, []Change{{Knob: linuxKeepalive}})
	after := parseFixture(t, "gather-converged.txt")
	after.Persisted = "changed\n"
	cmds, _ = d.RestoreCommands(after, snap2)
	if len(cmds) != 1 || cmds[0] != linuxWriteFile(LinuxPersistFile, before.Persisted) {
		t.Errorf("commands %q, want the old content written back", cmds)
	}
	if diff := d.Differences(after, snap2); len(diff) != 1 || !strings.Contains(diff[0], "differs") {
		t.Errorf("differences %q", diff)
	}
	after.PersistedExists, after.Persisted = false, ""
	if diff := d.Differences(after, snap2); len(diff) != 1 || !strings.Contains(diff[0], "is missing") {
		t.Errorf("differences %q", diff)
	}

	// A knob the kernel lost cannot be restored: say so, run nothing.
	gone := parseFixture(t, "gather-converged.txt")
	gone.Knobs[linuxKeepalive] = Knob{Name: linuxKeepalive, Missing: true}
	if _, err := d.RestoreCommands(gone, snap); err == nil || !strings.Contains(err.Error(), "no longer has") {
		t.Errorf("err = %v", err)
	}
}

func TestParseProcNetCounters(t *testing.T) {
	out := readLinuxFixture(t, "counters-6.18.txt")
	c, err := ParseProcNetCounters(out)
	if err != nil {
		t.Fatal(err)
	}
	// Read off the fixture by hand: the Tcp line of /proc/net/snmp is
	// "1 200 120000 -1 60 44 6 28 0 2411 2218 1 0 34 0".
	for name, want := range map[string]int64{
		"Tcp.MaxConn": -1, "Tcp.ActiveOpens": 60, "Tcp.AttemptFails": 6, "Tcp.EstabResets": 28, "Tcp.OutRsts": 34,
		"TcpExt.TW": 27, "TcpExt.TWRecycled": 0, "TcpExt.PAWSEstab": 0,
	} {
		if got, ok := c[name]; !ok || got != want {
			t.Errorf("%s = %d (present %v), want %d", name, got, ok, want)
		}
	}
	// Every name of every header line is there.
	names := 0
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 0; i < len(lines); i += 2 {
		_, rest, _ := strings.Cut(lines[i], ":")
		names += len(strings.Fields(rest))
	}
	if len(c) != names {
		t.Errorf("%d counters, want %d", len(c), names)
	}
	for k := range linuxThresholds {
		if _, ok := c[k]; !ok {
			t.Errorf("threshold counter %s is not in a 6.18 kernel's output", k)
		}
	}

	for _, bad := range []struct{ in, want string }{
		{"", "no counters"},
		{"Tcp: A B\nTcp: 1\n", "Tcp has 2 names but line 2 has 1 values"},
		{"Tcp: A B\n", "line 1"},
		{"Tcp: A\nUdp: 1\n", "Tcp has 1 names"},
	} {
		if _, err := ParseProcNetCounters(bad.in); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err = %v, want %q", bad.in, err, bad.want)
		}
	}
}

func TestCounterDeltas(t *testing.T) {
	th := map[string]int64{"Tcp.AttemptFails": 50, "TcpExt.PAWSEstab": 10, "TcpExt.TCPTimeWaitOverflow": 0, "TcpExt.PAWSActive": 10}
	before := Counters{"Tcp.AttemptFails": 100, "TcpExt.PAWSEstab": 5, "TcpExt.TCPTimeWaitOverflow": 7, "Tcp.Other": 1}
	after := Counters{"Tcp.AttemptFails": 157, "TcpExt.PAWSEstab": 15, "TcpExt.TCPTimeWaitOverflow": 3, "Tcp.Other": 1000}
	deltas, exceeded := CounterDeltas(before, after, th)
	wantDeltas := map[string]int64{"Tcp.AttemptFails": 57, "TcpExt.PAWSEstab": 10, "TcpExt.TCPTimeWaitOverflow": 3}
	if !reflect.DeepEqual(deltas, wantDeltas) {
		t.Errorf("deltas %v, want %v (PAWSActive absent on both sides is skipped; a counter that fell counts from zero)", deltas, wantDeltas)
	}
	wantEx := []string{"Tcp.AttemptFails +57 (threshold 50)", "TcpExt.TCPTimeWaitOverflow +3 (threshold 0)"}
	if !reflect.DeepEqual(exceeded, wantEx) {
		t.Errorf("exceeded %q, want %q (exactly at the threshold is healthy)", exceeded, wantEx)
	}
	if _, ex := CounterDeltas(before, before, th); len(ex) != 0 {
		t.Errorf("no change exceeded %q", ex)
	}
}

func TestTargetsJSON(t *testing.T) {
	in := Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute),
		Native: map[string]string{"net.ipv4.tcp_tw_reuse": "1"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"ephemeral_ports":"10240-65535","time_wait":"30s","keepalive_time":"5m0s","native":{"net.ipv4.tcp_tw_reuse":"1"}}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	var back Targets
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if b, _ := json.Marshal(Targets{}); string(b) != "{}" {
		t.Errorf("empty targets: %s", b)
	}
	for _, bad := range []struct{ in, want string }{
		{`{"ephemeral_ports":"65535-1024"}`, "low end must be below high end"},
		{`{"ephemeral_ports":"x"}`, "expected LOW-HIGH"},
		{`{"time_wait":"-5s"}`, "time_wait"},
		{`{"keepalive_time":"soon"}`, "keepalive_time"},
	} {
		var got Targets
		if err := json.Unmarshal([]byte(bad.in), &got); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want %q", bad.in, err, bad.want)
		}
	}
}
