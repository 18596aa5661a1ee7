package platform

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

func readAIXFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "aix", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseAIXFixture(t *testing.T, name string) *Facts {
	t.Helper()
	f, err := ParseAIXFacts(readAIXFixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

// Expectations read off the fixtures by hand.
func TestParseAIXFacts(t *testing.T) {
	type kn struct{ live, atBoot string }
	for _, tc := range []struct {
		file      string
		knobs     map[string]kn // atBoot "" = no nextboot entry
		types     map[string]string
		persisted bool
	}{
		{file: "gather-default.txt", persisted: true,
			knobs: map[string]kn{aixEphemLow: {"32768", ""}, aixEphemHigh: {"65535", ""}, aixTimeWait: {"1", ""}, aixKeepIdle: {"14400", ""}},
			types: map[string]string{aixTimeWait: "D"}},
		{file: "gather-converged.txt", persisted: true,
			knobs: map[string]kn{aixEphemLow: {"10240", "10240"}, aixEphemHigh: {"65535", ""}, aixTimeWait: {"2", "2"}, aixKeepIdle: {"600", "600"}}},
		{file: "gather-drift.txt", persisted: true,
			knobs: map[string]kn{aixEphemLow: {"20000", ""}, aixEphemHigh: {"65535", ""}, aixTimeWait: {"4", ""}, aixKeepIdle: {"14400", "600"}}},
		{file: "gather-pending.txt", persisted: true,
			knobs: map[string]kn{aixTimeWait: {"1", "2"}}, types: map[string]string{aixTimeWait: "R"}},
		{file: "gather-no-nextboot.txt", persisted: false,
			knobs: map[string]kn{aixTimeWait: {"1", ""}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := parseAIXFixture(t, tc.file)
			if f.OS != AIX || f.Version != "7.2" || f.BootID != ".       system boot  Nov  1 06:00" {
				t.Errorf("os %q version %q boot id %q", f.OS, f.Version, f.BootID)
			}
			if !reflect.DeepEqual(f.Listening, []int{22, 111, 199, 657, 1334}) || f.TimeWait != 3 {
				t.Errorf("listening %v (udp 514 must not count), time_wait %d", f.Listening, f.TimeWait)
			}
			if f.PersistedExists != tc.persisted || (tc.persisted && !strings.Contains(f.Persisted, "vmo:\n\tmaxpin% = \"90\"")) {
				t.Errorf("persisted %t %q", f.PersistedExists, f.Persisted)
			}
			for n, want := range tc.knobs {
				k := f.Knobs[n]
				if k.Live != want.live || k.AtBoot != want.atBoot || k.AtBootSet != (want.atBoot != "") {
					t.Errorf("%s = %+v, want live %q at boot %q", n, k, want.live, want.atBoot)
				}
				if k.AtBootSet && !strings.HasPrefix(k.Source, AIXNextboot+":") {
					t.Errorf("%s source %q", n, k.Source)
				}
			}
			for n, typ := range tc.types {
				if l, ok := aixLimitsOf(f, n); !ok || l.Type != typ {
					t.Errorf("%s limits %+v, want type %s", n, l, typ)
				}
			}
		})
	}
	f := parseAIXFixture(t, "gather-default.txt")
	want := map[string]aixLimits{
		aixEphemLow:  {32768, 1024, 65535, "numeric", "D"},
		aixEphemHigh: {65535, 1024, 65535, "numeric", "D"},
		aixTimeWait:  {1, 1, 5, "15_seconds", "D"},
		aixKeepIdle:  {14400, 1, 1<<31 - 1, "halfsecond", "D"},
	}
	for n, w := range want {
		if l, _ := aixLimitsOf(f, n); l != w {
			t.Errorf("%s limits %+v, want %+v", n, l, w)
		}
	}
}

func TestParseAIXFactsErrors(t *testing.T) {
	def := readAIXFixture(t, "gather-default.txt")
	for _, tc := range []struct{ name, out, want string }{
		{"truncated", strings.Split(def, "@@fleettune@@ netstat")[0], "ends early"},
		{"not AIX", replaceOnce(t, def, "AIX 2 7", "SunOS 5.10 Generic"), "not AIX"},
		{"no boot time", replaceOnce(t, def, "   .       system boot  Nov  1 06:00\n", ""), "who -b"},
		{"non-root no", replaceOnce(t, def, "tcp_timewait = 1\n", "no: 0050-011 Permission denied: only root can change tcp_timewait\n"), "Permission denied"},
		{"netstat missing", replaceOnce(t, def, "Proto Recv-Q", "Xroto Recv-Q"), "netstat"},
	} {
		_, err := ParseAIXFacts(tc.out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	// An unknown tunable is a missing knob, not a failure.
	f, err := ParseAIXFacts(replaceOnce(t, def, "tcp_keepidle = 14400\n", readAIXFixture(t, "no-o-unknown.txt")))
	if err != nil || !f.Knobs[aixKeepIdle].Missing {
		t.Errorf("unknown tunable: %v %+v", err, f.Knobs[aixKeepIdle])
	}
}

func TestParseAIXNoValue(t *testing.T) {
	for _, tc := range []struct {
		out, name, want string
		unknown, perm   bool
	}{
		{readAIXFixture(t, "no-o.txt"), aixTimeWait, "1", false, false},
		{"       tcp_ephemeral_high = 65535\n", aixEphemHigh, "65535", false, false}, // no -a's right-aligned form
		{"tcp_keepidle=600\r\n", aixKeepIdle, "600", false, false},
		{readAIXFixture(t, "no-o-unknown.txt"), "tcp_bogus", "", true, false},
		{readAIXFixture(t, "no-p-o-nonroot.txt"), aixTimeWait, "", false, true},
		{readAIXFixture(t, "no-o-range.txt"), aixTimeWait, "", false, false},
	} {
		v, err := ParseAIXNoValue(tc.out, tc.name)
		if v != tc.want {
			t.Errorf("%q: value %q, want %q", tc.out, v, tc.want)
		}
		ne, _ := err.(*AIXNoError)
		if tc.want == "" && ne == nil {
			t.Errorf("%q: error %v, want an *AIXNoError", tc.out, err)
			continue
		}
		if ne != nil && (ne.Unknown() != tc.unknown || ne.Permission() != tc.perm) {
			t.Errorf("%q: unknown %t permission %t", tc.out, ne.Unknown(), ne.Permission())
		}
	}
	if _, err := ParseAIXNoValue("tcp_timewait = abc\n", aixTimeWait); err == nil {
		t.Error("non-integer accepted")
	}
}

func TestParseAIXNum(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "14400": 14400, "1K": 1024, "32K": 32768, "64K-1": 65535, "2G-1": 1<<31 - 1, "16M": 16 << 20, "8E-1": 1<<63 - 1} {
		if got, err := parseAIXNum(s); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "K", "-1", "16X", "8E", "9E-1", "0K-1"} {
		if v, err := parseAIXNum(s); err == nil {
			t.Errorf("%q accepted as %d", s, v)
		}
	}
}

func TestParseAIXNextboot(t *testing.T) {
	// Unusual but valid: spaces instead of tabs, comments, DEFAULT, a
	// repeated parameter and a repeated stanza (only firsts count).
	content := "# comment no:\ninfo:\n    AIX_level = \"7.2.5.200\"\nno:   # network\n  tcp_timewait=\"2\"\n\ttcp_keepidle = \"DEFAULT\"\n tcp_timewait = \"3\"\n\n    tcp_ephemeral_low = \"9000\"  # ours\nvmo:\n tcp_ephemeral_high = \"1\"\nno:\n tcp_ephemeral_high = \"2\"\n"
	got := ParseAIXNextboot(content)
	want := map[string]aixStanzaValue{aixTimeWait: {"2", 5}, aixEphemLow: {"9000", 9}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := ParseAIXNextboot(readAIXFixture(t, "nextboot-default.txt")); !reflect.DeepEqual(got, map[string]aixStanzaValue{"rfc1323": {"1", 25}}) {
		t.Errorf("default nextboot: %+v", got)
	}
}

func TestParseAIXNetstat(t *testing.T) {
	out := "Active Internet connections (including servers)\nProto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n" +
		"tcp6       0      0  ::1.8080               *.*                    LISTEN\n" +
		"tcp   0 0 *.2049 *.* LISTEN\n" +
		"tcp4       0      0  10.0.0.1.40000         10.0.0.2.80            TIME_WAIT\n" +
		"tcp6       0      0  fe80::1.40001          fe80::2.80             TIME_WAIT\n" +
		"udp4       0      0  *.2049                 *.*\n" +
		"\nActive UNIX domain sockets\nSADR/PCB Type   Recv-Q Send-Q   Inode     Conn     Refs     Nextref  Addr\nx stream 0 0 0 0 0 0 LISTEN\n"
	ports, tw, err := ParseAIXNetstat(out)
	if err != nil || !reflect.DeepEqual(ports, []int{2049, 8080}) || tw != 2 {
		t.Errorf("ports %v tw %d err %v", ports, tw, err)
	}
	ports, tw, err = ParseAIXNetstat(readAIXFixture(t, "netstat-an.txt"))
	if err != nil || !reflect.DeepEqual(ports, []int{22, 111, 199, 657, 1334}) || tw != 3 {
		t.Errorf("fixture: ports %v tw %d err %v", ports, tw, err)
	}
	if _, _, err := ParseAIXNetstat("netstat: not found\n"); err == nil {
		t.Error("error output accepted")
	}
}

func aixTargetsOf(r *PortRange, tw, ka time.Duration) Targets {
	t := Targets{EphemeralPorts: r}
	if tw != 0 {
		t.TimeWait = &tw
	}
	if ka != 0 {
		t.KeepaliveTime = &ka
	}
	return t
}

func TestAIXPropose(t *testing.T) {
	d := aixDriver{}
	g := Guardrails{}
	std := aixTargetsOf(rng(10240, 65535), 30*time.Second, 5*time.Minute)

	t.Run("from defaults", func(t *testing.T) {
		p := d.Propose(parseAIXFixture(t, "gather-default.txt"), std, g)
		want := []Change{
			{Setting: "ephemeral_ports", Knob: "tcp_ephemeral_low,tcp_ephemeral_high", Current: "32768-65535", Target: "10240-65535",
				Commands: []string{"no -p -o tcp_ephemeral_low=10240"}, Persist: "/etc/tunables/nextboot: no: tcp_ephemeral_low = 10240 (via no -p)"},
			{Setting: "time_wait", Knob: "tcp_timewait", Current: "15s", Target: "30s",
				Commands: []string{"no -p -o tcp_timewait=2"}, Persist: "/etc/tunables/nextboot: no: tcp_timewait = 2 (via no -p)"},
			{Setting: "keepalive_time", Knob: "tcp_keepidle", Current: "2h0m0s", Target: "5m0s",
				Commands: []string{"no -p -o tcp_keepidle=600"}, Persist: "/etc/tunables/nextboot: no: tcp_keepidle = 600 (via no -p)"},
		}
		if !reflect.DeepEqual(untyped(p.Changes), want) {
			t.Errorf("changes\n%+v\nwant\n%+v", p.Changes, want)
		}
	})
	t.Run("converged", func(t *testing.T) {
		if p := d.Propose(parseAIXFixture(t, "gather-converged.txt"), std, g); len(p.Changes) != 0 {
			t.Errorf("changes on a converged host: %+v", p.Changes)
		}
	})
	t.Run("default target needs no nextboot entry", func(t *testing.T) {
		p := d.Propose(parseAIXFixture(t, "gather-default.txt"), aixTargetsOf(rng(32768, 65535), 15*time.Second, 2*time.Hour), g)
		if len(p.Changes) != 0 {
			t.Errorf("changes: %+v", p.Changes)
		}
	})
	t.Run("drift", func(t *testing.T) {
		p := d.Propose(parseAIXFixture(t, "gather-drift.txt"), std, g)
		if len(p.Changes) != 3 {
			t.Fatalf("changes: %+v", p.Changes)
		}
		if c := p.Changes[0]; c.Current != "20000-65535" || c.AtBoot != "AIX default 32768-65535" {
			t.Errorf("range drift: %+v", c)
		}
		if c := p.Changes[1]; c.Current != "1m0s" || c.AtBoot != "AIX default 15s" || c.Commands[0] != "no -p -o tcp_timewait=2" {
			t.Errorf("time_wait drift: %+v", c)
		}
		// live already differs, nextboot already has the target: no -p
		// still runs (it makes both right at once).
		if c := p.Changes[2]; c.Current != "2h0m0s" || c.AtBoot != "5m0s" || c.Commands[0] != "no -p -o tcp_keepidle=600" {
			t.Errorf("keepalive drift: %+v", c)
		}
	})
	t.Run("pending after no -r", func(t *testing.T) {
		p := d.Propose(parseAIXFixture(t, "gather-pending.txt"), aixTargetsOf(nil, 30*time.Second, 0), g)
		if len(p.Changes) != 1 {
			t.Fatalf("changes: %+v", p.Changes)
		}
		c := p.Changes[0]
		if !c.Pending() || c.RebootReason != "tcp_timewait applies at next boot (no -r)" || c.Current != "15s" || c.AtBoot != "30s" {
			t.Errorf("not pending: %+v", c)
		}
	})
	t.Run("reboot tunable gets no -r", func(t *testing.T) {
		f := parseAIXFixture(t, "gather-pending.txt")
		p := d.Propose(f, aixTargetsOf(nil, 45*time.Second, 0), g)
		c := p.Changes[0]
		if !reflect.DeepEqual(c.Commands, []string{"no -r -o tcp_timewait=3"}) || !c.RebootRequired || c.Pending() ||
			c.Persist != "/etc/tunables/nextboot: no: tcp_timewait = 3 (via no -r)" {
			t.Errorf("change: %+v", c)
		}
		// Back to the live value: only nextboot needs fixing, no reboot.
		p = d.Propose(f, aixTargetsOf(nil, 15*time.Second, 0), g)
		if c := p.Changes[0]; !reflect.DeepEqual(c.Commands, []string{"no -r -o tcp_timewait=1"}) || c.RebootRequired {
			t.Errorf("change: %+v", c)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		f := parseAIXFixture(t, "gather-default.txt")
		for _, tc := range []struct {
			t    Targets
			want string
		}{
			{aixTargetsOf(nil, 20*time.Second, 0), "15-second units (15s); 20s is not a whole number of them: use 15s or 30s"},
			{aixTargetsOf(nil, 5*time.Second, 0), "use 15s"},
			{aixTargetsOf(nil, 90*time.Second, 0), "tcp_timewait=6 is outside the range no -L gives (1-5) (15s-1m15s)"},
			{aixTargetsOf(nil, 0, 1250*time.Millisecond), "use 1s or 1.5s"},
			{aixTargetsOf(rng(100, 65535), 0, 0), "outside the range no -L gives (1024-65535)"},
			{aixTargetsOf(rng(100, 1000), 0, 0), "outside the range"},
			{Targets{Native: map[string]string{"tcp_nodelayack": "1"}}, `native knobs for "aix" are not supported`},
		} {
			p := d.Propose(f, tc.t, g)
			if len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Refused, tc.want) {
				t.Errorf("%+v: got %+v, want refusal %q", tc.t, p.Changes, tc.want)
			}
		}
		// Listening ports are the planner's policy, not the driver's.
		if p := d.Propose(f, aixTargetsOf(rng(1024, 65535), 0, 0), Guardrails{}); p.Changes[0].Refused != "" {
			t.Errorf("refused without guardrail: %+v", p.Changes[0])
		}
	})
	t.Run("range above the old one raises high first", func(t *testing.T) {
		f := parseAIXFixture(t, "gather-default.txt")
		f.Knobs[aixEphemLow] = Knob{Name: aixEphemLow, Live: "10000"}
		f.Knobs[aixEphemHigh] = Knob{Name: aixEphemHigh, Live: "20000"}
		p := d.Propose(f, aixTargetsOf(rng(40000, 60000), 0, 0), g)
		want := []string{"no -p -o tcp_ephemeral_high=60000", "no -p -o tcp_ephemeral_low=40000"}
		if !reflect.DeepEqual(p.Changes[0].Commands, want) {
			t.Errorf("commands %v, want %v", p.Changes[0].Commands, want)
		}
	})
	t.Run("missing tunable", func(t *testing.T) {
		f := parseAIXFixture(t, "gather-default.txt")
		f.Knobs[aixKeepIdle] = Knob{Name: aixKeepIdle, Missing: true}
		p := d.Propose(f, aixTargetsOf(nil, 0, 5*time.Minute), g)
		if c := p.Changes[0]; c.Current != "(missing)" || !strings.Contains(c.Refused, "no tcp_keepidle") {
			t.Errorf("change: %+v", c)
		}
	})
}

func TestAIXUnits(t *testing.T) {
	d := aixDriver{}
	f := parseAIXFixture(t, "gather-default.txt")
	for _, tc := range []struct {
		tw, ka time.Duration
		cmd    string
	}{
		{tw: 15 * time.Second}, // the default: nothing to do
		{tw: 30 * time.Second, cmd: "no -p -o tcp_timewait=2"},
		{tw: 75 * time.Second, cmd: "no -p -o tcp_timewait=5"},
		{ka: 5 * time.Minute, cmd: "no -p -o tcp_keepidle=600"},
		{ka: 1500 * time.Millisecond, cmd: "no -p -o tcp_keepidle=3"},
		{ka: 2 * time.Hour},
	} {
		p := d.Propose(f, aixTargetsOf(nil, tc.tw, tc.ka), Guardrails{})
		var got string
		if len(p.Changes) == 1 && len(p.Changes[0].Commands) == 1 {
			got = p.Changes[0].Commands[0]
		}
		if got != tc.cmd || (tc.cmd == "" && len(p.Changes) != 0) {
			t.Errorf("tw %s ka %s: %+v, want %q", tc.tw, tc.ka, p.Changes, tc.cmd)
		}
	}
}

func TestAIXApplyCommands(t *testing.T) {
	d := aixDriver{}
	f := parseAIXFixture(t, "gather-default.txt")
	p := d.Propose(f, aixTargetsOf(rng(10240, 65535), 30*time.Second, 5*time.Minute), Guardrails{})
	cmds, err := d.ApplyCommands(f, p.Changes)
	want := []string{"no -p -o tcp_ephemeral_low=10240", "no -p -o tcp_timewait=2", "no -p -o tcp_keepidle=600"}
	if err != nil || !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands %v %v, want %v", cmds, err, want)
	}
	bad := append([]Change(nil), p.Changes...)
	bad[1].Commands = []string{"no -p -o tcp_timewait=2; rm -rf /"}
	if _, err := d.ApplyCommands(f, bad); err == nil {
		t.Error("a pasted command line was accepted")
	}
	bad[1] = Change{Knob: aixTimeWait, Refused: "no"}
	if _, err := d.ApplyCommands(f, bad); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("refused change applied: %v", err)
	}
	snap := d.Snapshot(f, p.Changes)
	wantSnap := map[string]KnobState{aixEphemLow: {Live: "32768"}, aixEphemHigh: {Live: "65535"}, aixTimeWait: {Live: "1"}, aixKeepIdle: {Live: "14400"}}
	if !reflect.DeepEqual(snap.Knobs, wantSnap) || snap.Files != nil {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestAIXRestoreCommands(t *testing.T) {
	d := aixDriver{}
	conv := parseAIXFixture(t, "gather-converged.txt")
	for _, tc := range []struct {
		name string
		was  map[string]KnobState
		want []string
	}{
		{"defaults, no entries", map[string]KnobState{aixEphemLow: {Live: "32768"}, aixTimeWait: {Live: "1"}},
			[]string{"no -p -d tcp_ephemeral_low", "no -p -d tcp_timewait"}},
		{"entry equal to live", map[string]KnobState{aixTimeWait: {Live: "3", AtBoot: "3", AtBootSet: true}},
			[]string{"no -p -o tcp_timewait=3"}},
		{"entry different from live", map[string]KnobState{aixKeepIdle: {Live: "14400", AtBoot: "1200", AtBootSet: true}},
			[]string{"no -o tcp_keepidle=14400", "no -r -o tcp_keepidle=1200"}},
		{"live off default, no entry", map[string]KnobState{aixTimeWait: {Live: "4"}},
			[]string{"no -r -d tcp_timewait", "no -o tcp_timewait=4"}},
		{"already there", map[string]KnobState{aixTimeWait: {Live: "2", AtBoot: "2", AtBootSet: true}, aixEphemHigh: {Live: "65535"}}, nil},
	} {
		snap := Snapshot{Knobs: tc.was}
		got, err := d.RestoreCommands(conv, snap)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
		if diff := d.Differences(conv, snap); (len(diff) == 0) != (tc.want == nil) {
			t.Errorf("%s: differences %v", tc.name, diff)
		}
	}
	// Reboot tunable: nextboot side only.
	pend := parseAIXFixture(t, "gather-pending.txt")
	got, _ := d.RestoreCommands(pend, Snapshot{Knobs: map[string]KnobState{aixTimeWait: {Live: "1"}}})
	if !reflect.DeepEqual(got, []string{"no -r -d tcp_timewait"}) {
		t.Errorf("reboot tunable restore: %q", got)
	}
	if _, err := d.RestoreCommands(conv, Snapshot{Knobs: map[string]KnobState{"ipforwarding": {Live: "1"}}}); err == nil {
		t.Error("unknown knob restored")
	}
	diff := d.Differences(conv, Snapshot{Knobs: map[string]KnobState{aixTimeWait: {Live: "1"}, aixKeepIdle: {Live: "600", AtBoot: "1200", AtBootSet: true}}})
	want := []string{
		"tcp_keepidle: /etc/tunables/nextboot sets tcp_keepidle = 600, was 1200",
		"tcp_timewait is 2, was 1",
		"tcp_timewait: /etc/tunables/nextboot sets tcp_timewait = 2; it had no entry",
	}
	if !reflect.DeepEqual(diff, want) {
		t.Errorf("differences\n%q\nwant\n%q", diff, want)
	}
}

func TestAIXGather(t *testing.T) {
	out := readAIXFixture(t, "gather-default.txt")
	r := &fakeRunner{res: remote.Result{Stdout: []byte(out)}}
	d, err := For(AIX)
	if err != nil || d.OS() != AIX {
		t.Fatalf("For(aix): %v %v", d, err)
	}
	f, err := d.Gather(context.Background(), r, nil)
	if err != nil || f.Knobs[aixTimeWait].Live != "1" {
		t.Fatalf("gather: %v %+v", err, f)
	}
	if len(r.cmds) != 1 || r.cmds[0] != AIXGatherScript() {
		t.Errorf("gather ran %q, want the one script", r.cmds)
	}
	// The one pipe is netstat's through its filter, whose awk program has
	// the script's only $; the rest keeps to the plainest sh.
	plain, found := strings.CutSuffix(strings.Replace(AIXGatherScript(), " | "+netstatFilter("$NF")+"\n", "\n", 1), "")
	if !found || plain == AIXGatherScript() {
		t.Errorf("gather script does not filter netstat -an on the host")
	}
	for _, bad := range []string{"|", "$", "`", "if ", "for "} {
		if strings.Contains(plain, bad) {
			t.Errorf("gather script uses %q, outside the lab shell subset", bad)
		}
	}
	r = &fakeRunner{res: remote.Result{ExitCode: 127, Stderr: []byte("sh: no: not found\n")}}
	if _, err := d.Gather(context.Background(), r, nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("failed script: %v", err)
	}
}

func TestAIXPre520Tune(t *testing.T) {
	for out, want := range map[string]string{
		"pre520tune disable Pre-520 tuning compatibility mode True\n":    "disable",
		"pre520tune enable Pre-520 tuning compatibility mode True\n":     "enable",
		"lsattr: 0514-528 The \"pre520tune\" attribute does not exist\n": `unknown: lsattr printed "lsattr: 0514-528 The \"pre520tune\" attribute does not exist"`,
		"": `unknown: lsattr printed ""`,
	} {
		if got := parseAIXPre520Tune(out); got != want {
			t.Errorf("%q: %q, want %q", out, got, want)
		}
	}
	// Compatibility mode is planned (through rc.net) unless its boot
	// scripts could not be read; a mode not known refuses.
	for _, tc := range []struct{ mode, unread, want string }{
		{"disable", "", ""},
		{"enable", "", ""},
		{"enable", "/etc/rc.net does not exist", "pre-5.2 compatibility mode (sys0 pre520tune=enable), where values persist only through /etc/rc.net, and /etc/rc.net does not exist"},
		{"", "", "cannot tell whether"},
	} {
		f := &Facts{Knobs: map[string]Knob{AIXPre520Tune: {Live: tc.mode}}}
		if tc.unread != "" {
			f.Knobs[aixRcNetUnread] = Knob{Live: tc.unread}
		}
		if got := aixCompatibilityRefusal(f); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("pre520tune %q (unread %q): refusal %q, want %q", tc.mode, tc.unread, got, tc.want)
		}
	}
}

// no -L's layout is known only from documentation: a garbled table does
// not fail the host; every change is refused with the reason, nothing runs.
func TestAIXUnreadNoL(t *testing.T) {
	def := readAIXFixture(t, "gather-default.txt")
	f, err := ParseAIXFacts(replaceOnce(t, def, "14400  14400  14400", "14400  14x00  14400"))
	if err != nil {
		t.Fatalf("a garbled no -L failed the host: %v", err)
	}
	ka := 5 * time.Minute
	p, err := Propose(aixDriver{}, f, Targets{KeepaliveTime: &ka}, Guardrails{})
	if err != nil || len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Refused, "layout of no -L was not understood") || len(p.Steps) != 0 {
		t.Errorf("%+v, %v", p, err)
	}
}

func TestParseAIXBootScript(t *testing.T) {
	type set struct {
		tunable string
		line    int
		value   int64
		def     bool
		bad     string
		inBlock bool
	}
	for _, tc := range []struct {
		name, content string
		want          []set
		begin, end    int
		exit          int
		err           string
	}{
		{name: "no lines", content: "#!/bin/ksh\n/usr/lib/methods/cfgif $* >>$LOGFILE 2>&1\n"},
		{name: "indented in an if, with redirections",
			content: "if [ -f /usr/sbin/no ] ; then\n\t/usr/sbin/no -o tcp_timewait=3 >>/dev/null 2>&1\nfi\n",
			want:    []set{{tunable: aixTimeWait, line: 2, value: 3}}},
		{name: "comments and other tunables",
			content: "#/usr/sbin/no -o tcp_timewait=3\nno -o rfc1323=1 -o tcp_keepidle=1200 # idle\n",
			want:    []set{{tunable: aixKeepIdle, line: 2, value: 1200}}},
		{name: "several commands on a line, then and a continuation",
			content: "if true; then no -o tcp_ephemeral_low=20000; fi && /usr/sbin/no \\\n  -o tcp_ephemeral_high=40000\n",
			want:    []set{{tunable: aixEphemLow, line: 1, value: 20000}, {tunable: aixEphemHigh, line: 1, value: 40000}}},
		{name: "defaults, -D and a variable",
			content: "no -d tcp_timewait\nno -D\nno -o tcp_keepidle=$IDLE\n",
			want: []set{{tunable: aixTimeWait, line: 1, def: true},
				{tunable: aixEphemLow, line: 2, def: true}, {tunable: aixEphemHigh, line: 2, def: true}, {tunable: aixTimeWait, line: 2, def: true}, {tunable: aixKeepIdle, line: 2, def: true},
				{tunable: aixKeepIdle, line: 3, bad: "$IDLE"}}},
		{name: "-r changes only nextboot", content: "no -r -o tcp_timewait=3\nno -o tcp_timewait\n"},
		{name: "the block",
			content: "no -o tcp_timewait=4\n" + aixBlockBegin + "\n/usr/sbin/no -o tcp_timewait=2\n" + aixBlockEnd + "\nno -o tcp_keepidle=9\n",
			want:    []set{{tunable: aixTimeWait, line: 1, value: 4}, {tunable: aixTimeWait, line: 3, value: 2, inBlock: true}, {tunable: aixKeepIdle, line: 5, value: 9}},
			begin:   2, end: 4},
		{name: "exit", content: "no -o tcp_timewait=4\nif x; then\n  exit 1\nfi\nexit 0\n", want: []set{{tunable: aixTimeWait, line: 1, value: 4}}, exit: 5},
		{name: "a string over two lines",
			content: "echo \"a\nno -o tcp_timewait=9\"; no -o tcp_keepidle=8\n# a comment \\\nno -o tcp_timewait=3\n",
			want:    []set{{tunable: aixKeepIdle, line: 1, value: 8}, {tunable: aixTimeWait, line: 4, value: 3}}},
		{name: "a backslash joins words", content: "no -o tcp_time\\\nwait=7\n", want: []set{{tunable: aixTimeWait, line: 1, value: 7}}},
		{name: "a marker inside a string", content: "echo '\n" + aixBlockBegin + "\n'\n", err: "rc.net:2: fleettune's marker is part of the line before it"},
		{name: "no end marker", content: aixBlockBegin + "\nno -o tcp_timewait=2\n", err: "rc.net:1: fleettune's block has no end marker"},
		{name: "two blocks", content: aixBlockBegin + "\n" + aixBlockEnd + "\n" + aixBlockBegin + "\n" + aixBlockEnd + "\n", err: "rc.net:3: a second fleettune block"},
		{name: "end alone", content: aixBlockEnd + "\n", err: "rc.net:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := ParseAIXBootScript(AIXRcNet, tc.content)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []set
			for _, s := range sc.Settings {
				got = append(got, set{s.Tunable, s.Line, s.Value, s.Default, s.Unreadable, s.InBlock})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("settings %+v, want %+v", got, tc.want)
			}
			if sc.BlockBegin != tc.begin || sc.BlockEnd != tc.end || sc.Exit != tc.exit {
				t.Errorf("block %d-%d exit %d, want %d-%d exit %d", sc.BlockBegin, sc.BlockEnd, sc.Exit, tc.begin, tc.end, tc.exit)
			}
		})
	}
}

// The block is replaced in place or appended, and nothing outside it
// changes; taking it out gives the file back.
func TestAIXMergeBlock(t *testing.T) {
	for _, stock := range []string{"#!/bin/ksh\nno -o tcp_timewait=4\n", "no trailing newline", ""} {
		sc, _ := ParseAIXBootScript(AIXRcNet, stock)
		one := aixMergeBlock(stock, sc, []string{"/usr/sbin/no -o tcp_timewait=2"})
		if !strings.HasPrefix(one, stock) || !strings.HasSuffix(one, aixBlockBegin+"\n/usr/sbin/no -o tcp_timewait=2\n"+aixBlockEnd+"\n") {
			t.Errorf("%q: appended block:\n%s", stock, one)
		}
		sc1, err := ParseAIXBootScript(AIXRcNet, one+"echo after\n")
		if err != nil {
			t.Fatal(err)
		}
		two := aixMergeBlock(one+"echo after\n", sc1, []string{"/usr/sbin/no -o tcp_timewait=3", "/usr/sbin/no -o tcp_keepidle=600"})
		if want := strings.Replace(one, "tcp_timewait=2", "tcp_timewait=3\n/usr/sbin/no -o tcp_keepidle=600", 1) + "echo after\n"; two != want {
			t.Errorf("%q: replaced block:\n%s\nwant\n%s", stock, two, want)
		}
		out, err := aixOutsideBlock(two)
		if want := strings.TrimLeft(strings.TrimRight(stock, "\n")+"\necho after", "\n"); err != nil || out != want {
			t.Errorf("%q: outside the block %q, %v", stock, out, err)
		}
	}
}

func TestParseAIXCompatFacts(t *testing.T) {
	f := parseAIXFixture(t, "gather-compat-block.txt")
	if !aixCompat(f) || !f.PersistedExists || !strings.Contains(f.Persisted, aixBlockBegin) {
		t.Fatalf("compat facts: mode %q, persisted %t", f.Knobs[AIXPre520Tune].Live, f.PersistedExists)
	}
	for name, want := range map[string]Knob{
		aixEphemLow:  {Live: "32768", AtBoot: "10240", AtBootSet: true, Source: "/etc/rc.net:40 (fleettune's block)"},
		aixEphemHigh: {Live: "65535"},
		aixTimeWait:  {Live: "2", AtBoot: "2", AtBootSet: true, Source: "/etc/rc.net:41 (fleettune's block)"},
		aixKeepIdle:  {Live: "14400", AtBoot: "1200", AtBootSet: true, Source: "/etc/rc.tcpip:11"},
	} {
		k := f.Knobs[name]
		if k.Live != want.Live || k.AtBoot != want.AtBoot || k.AtBootSet != want.AtBootSet || k.Source != want.Source {
			t.Errorf("%s: %+v, want %+v", name, k, want)
		}
	}
	// rc.tcpip's tcp_keepidle runs after the block: a keepalive target
	// other than its value is refused; the range is planned with no -o and
	// the block.
	ka := 5 * time.Minute
	r := PortRange{Low: 10240, High: 65535}
	p, err := Propose(aixDriver{}, f, Targets{EphemeralPorts: &r, KeepaliveTime: &ka}, Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 || p.Changes[0].Refused != "" || !strings.Contains(p.Changes[1].Refused, "/etc/rc.tcpip:11 sets tcp_keepidle (to 1200) after fleettune's block") {
		t.Fatalf("changes %+v", p.Changes)
	}
	// the range alone: live is behind, the block has it already
	p, err = Propose(aixDriver{}, f, Targets{EphemeralPorts: &r}, Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Changes[0]; c.Action != ActionUpdate || c.Persist != "" || !reflect.DeepEqual(p.Steps, []string{"no -o tcp_ephemeral_low=10240"}) {
		t.Errorf("range: %+v, steps %q", c, p.Steps)
	}

	// No rc.net: nothing can persist; every change is refused, naming it.
	f = parseAIXFixture(t, "gather-compat-no-rcnet.txt")
	p, _ = Propose(aixDriver{}, f, Targets{EphemeralPorts: &r}, Guardrails{})
	if len(p.Steps) != 0 || !strings.Contains(p.Changes[0].Refused, "/etc/rc.net does not exist") {
		t.Errorf("no rc.net: %+v", p)
	}
	// rc.net whose last line goes on: the block would be part of it.
	f = parseAIXFixture(t, "gather-compat-default.txt")
	f.Persisted += "/usr/lib/methods/cfgif \\\n"
	p, _ = Propose(aixDriver{}, f, Targets{EphemeralPorts: &r}, Guardrails{})
	if len(p.Steps) != 0 || !strings.Contains(p.Changes[0].Refused, "goes on (a backslash at its end") {
		t.Errorf("continued: %+v", p)
	}
	// rc.net that exits before its end: the block would never run.
	f = parseAIXFixture(t, "gather-compat-default.txt")
	f.Persisted += "exit 0\n"
	p, _ = Propose(aixDriver{}, f, Targets{EphemeralPorts: &r}, Guardrails{})
	if len(p.Steps) != 0 || !strings.Contains(p.Changes[0].Refused, "exits before the end of the script") {
		t.Errorf("exit: %+v", p)
	}
}

// Whatever rc.net holds, writing fleettune's block changes nothing outside
// it, and the block reads back as written.
func FuzzAIXRcNetBlock(f *testing.F) {
	f.Add(readAIXFixture(t0(), "gather-compat-default.txt"))
	f.Add("no -o tcp_timewait=4\n" + aixBlockBegin + "\n/usr/sbin/no -o tcp_timewait=2\n" + aixBlockEnd + "\nexit 0")
	f.Add("a \\\n" + aixBlockBegin + "\r\n" + aixBlockEnd)
	lines := []string{"/usr/sbin/no -o tcp_ephemeral_low=10240", "/usr/sbin/no -o tcp_timewait=2"}
	f.Fuzz(func(t *testing.T, content string) {
		sc, err := ParseAIXBootScript(AIXRcNet, content)
		if err != nil || (sc.BlockBegin == 0 && sc.OpenAtEnd) {
			return // refused before any write (aixCompatChecks)
		}
		merged := aixMergeBlock(content, sc, lines)
		sc2, err := ParseAIXBootScript(AIXRcNet, merged)
		if err != nil {
			t.Fatalf("the merged file does not parse: %v\n%q", err, merged)
		}
		var in []string
		for _, s := range sc2.Settings {
			if s.InBlock {
				in = append(in, fmt.Sprintf("%s=%d", s.Tunable, s.Value))
			}
		}
		if strings.Join(in, ",") != "tcp_ephemeral_low=10240,tcp_timewait=2" {
			t.Fatalf("the block reads back as %q\n%q", in, merged)
		}
		was, err1 := aixOutsideBlock(content)
		now, err2 := aixOutsideBlock(merged)
		if err1 != nil || err2 != nil || was != now {
			t.Fatalf("outside the block: %q became %q (%v %v)", was, now, err1, err2)
		}
	})
}

// t0 is for reading a seed before the fuzz function's own t exists.
func t0() *testing.T { return &testing.T{} }

// The boot-script reader is linear: a stock rc.net, and one at the 1 MiB
// cap full of no lines and quoted strings.
func BenchmarkParseAIXBootScript(b *testing.B) {
	stock := strings.SplitN(strings.SplitN(readAIXFixture(&testing.T{}, "gather-compat-default.txt"), "@@fleettune@@ rc.net\n", 2)[1], "@@fleettune@@", 2)[0]
	var big strings.Builder
	for big.Len() < aixMaxScript-200 {
		big.WriteString("if [ -f /usr/sbin/no ] ; then /usr/sbin/no -o tcp_timewait=2 >>/dev/null 2>&1; fi # x\necho \"a 'quoted'\nstring\" \\\n  more\n")
	}
	// A quote left open, and a backslash on every line: each line is
	// scanned once, never the whole command so far again.
	open := "echo \"" + strings.Repeat("no -o tcp_timewait=2\n", (aixMaxScript-10)/21)
	cont := strings.Repeat("no -o tcp_timewait=2 \\\n", (aixMaxScript-10)/23)
	for _, c := range []struct{ name, content string }{{"stock", stock}, {"1MiB", big.String()}, {"1MiB-open-quote", open}, {"1MiB-continued", cont}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.content)))
			for i := 0; i < b.N; i++ {
				if _, err := ParseAIXBootScript(AIXRcNet, c.content); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A change made in one mode is not restored in the other: nextboot is not
// applied in compatibility mode, rc.net not read out of it.
func TestAIXRestoreAcrossModes(t *testing.T) {
	compat := parseAIXFixture(t, "gather-compat-block.txt")
	normal := parseAIXFixture(t, "gather-converged.txt")
	rcnet := compat.Persisted
	madeInCompat := Snapshot{Knobs: map[string]KnobState{aixTimeWait: {Live: "1"}}, Files: map[string]*string{AIXRcNet: &rcnet}}
	if _, err := (aixDriver{}).RestoreCommands(normal, madeInCompat); err == nil || !strings.Contains(err.Error(), "has left that mode since") {
		t.Errorf("compat snapshot on a normal host: %v", err)
	}
	madeInNormal := Snapshot{Knobs: map[string]KnobState{aixTimeWait: {Live: "1"}}}
	if _, err := (aixDriver{}).RestoreCommands(compat, madeInNormal); err == nil || !strings.Contains(err.Error(), "is in the pre-5.2 compatibility mode since") {
		t.Errorf("normal snapshot on a compat host: %v", err)
	}
}

// The compatibility-mode write of rc.net, run by a real sh on this machine
// (its paths moved into a temporary directory): the new file is exactly
// the merged content, keeps the old one's mode, and the private directory
// is gone; a directory left at that path stops it before anything changes.
func TestAIXRcNetWriteWithSh(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if out, err := exec.Command(sh, "-n", "-c", AIXGatherScript()).CombinedOutput(); err != nil {
		t.Errorf("the gather script: sh -n: %v: %s", err, out)
	}
	f := parseAIXFixture(t, "gather-compat-default.txt")
	tw := 30 * time.Second
	p, err := Propose(aixDriver{}, f, Targets{TimeWait: &tw}, Guardrails{})
	if err != nil || len(p.Steps) != 2 {
		t.Fatalf("steps %q, %v", p.Steps, err)
	}
	dir := t.TempDir()
	rc := filepath.Join(dir, "rc.net")
	if err := os.WriteFile(rc, []byte(f.Persisted), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(rc, 0o774); err != nil {
		t.Fatal(err)
	}
	step := strings.ReplaceAll(p.Steps[1], aixRcNetDir, filepath.Join(dir, "d"))
	step = strings.ReplaceAll(step, AIXRcNet, rc)
	if out, err := exec.Command(sh, "-c", step).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got, _ := os.ReadFile(rc)
	sc, _ := ParseAIXBootScript(AIXRcNet, f.Persisted)
	if want := aixMergeBlock(f.Persisted, sc, []string{"/usr/sbin/no -o tcp_timewait=2"}); string(got) != want {
		t.Errorf("rc.net written by sh:\n%s\nwant\n%s", got, want)
	}
	if st, err := os.Stat(rc); err != nil || st.Mode().Perm() != 0o774 {
		t.Errorf("mode after the write: %v %v", st.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); !os.IsNotExist(err) {
		t.Errorf("the private directory is left: %v", err)
	}
	// A directory already there (a failed apply's) stops the write.
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sh, "-c", step).CombinedOutput(); err == nil {
		t.Errorf("the write ran over an existing directory: %s", out)
	}
	if again, _ := os.ReadFile(rc); string(again) != string(got) {
		t.Error("rc.net changed although the write stopped")
	}
}
