package platform

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

func readTru64Fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tru64", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tru64Facts(t *testing.T, name string) *Facts {
	t.Helper()
	f, err := ParseTru64Facts(readTru64Fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const tru64DefaultStanza = "inet:\n\ttcbhashsize = 1024\n"

// Expectations are read off the fixtures by hand.
func TestParseTru64Facts(t *testing.T) {
	type kn struct {
		live    string
		missing bool
		atBoot  string // "" = not in the inet stanza
		runtime bool
	}
	defaults := func(mslRuntime bool) map[string]kn {
		return map[string]kn{
			tru64PortMin:  {live: "1024", runtime: true},
			tru64PortMax:  {live: "5000", runtime: true},
			tru64MSL:      {live: "60", runtime: mslRuntime},
			tru64KeepIdle: {live: "14400", runtime: true},
		}
	}
	tests := []struct {
		fixture   string
		edit      func(t *testing.T, s string) string
		version   string
		knobs     map[string]kn
		persisted string
		listening []int
		timeWait  int
	}{
		{fixture: "gather-default-V5.1B.txt", version: "V5.1B", knobs: defaults(true), persisted: tru64DefaultStanza, listening: []int{22, 111, 1021, 6112}, timeWait: 3},
		{fixture: "gather-default-V5.1.txt", version: "V5.1", knobs: defaults(false), persisted: tru64DefaultStanza, listening: []int{22, 111, 1021, 6112}, timeWait: 3},
		{fixture: "gather-default-V4.0F.txt", version: "V4.0F", knobs: defaults(false), persisted: tru64DefaultStanza, listening: []int{22, 111, 1021, 6112}, timeWait: 3},
		{
			fixture: "gather-pending-V5.1.txt", version: "V5.1",
			knobs: map[string]kn{
				tru64PortMin:  {live: "10240", atBoot: "10240", runtime: true},
				tru64PortMax:  {live: "65535", atBoot: "65535", runtime: true},
				tru64MSL:      {live: "60", atBoot: "30"},
				tru64KeepIdle: {live: "600", atBoot: "600", runtime: true},
			},
			persisted: "inet:\n\ttcbhashsize = 1024\n\tipport_userreserved_min = 10240\n\tipport_userreserved = 65535\n\ttcp_msl = 30\n\ttcp_keepidle = 600\n",
			listening: []int{22, 111, 1021, 6112}, timeWait: 3,
		},
		{
			fixture: "gather-drift-V5.1B.txt", version: "V5.1B",
			knobs: map[string]kn{
				tru64PortMin:  {live: "1024", atBoot: "20000", runtime: true},
				tru64PortMax:  {live: "5000", atBoot: "50001", runtime: true},
				tru64MSL:      {live: "60", runtime: true},
				tru64KeepIdle: {live: "14400", atBoot: "1200", runtime: true},
			},
			persisted: "inet:\n\ttcbhashsize = 1024\n\tipport_userreserved_min = 20000\n\tipport_userreserved = 50001\n\ttcp_keepidle = 1200\n",
			listening: []int{22, 111, 1021, 6112}, timeWait: 3,
		},
		{
			// A kernel without the attribute (before 4.0E), a stanza
			// written by hand with spaces instead of a tab, a second
			// inet stanza later in the file (sysconfigdb reads both),
			// and CRLF line ends.
			fixture: "gather-default-V4.0F.txt (edited)",
			edit: func(t *testing.T, s string) string {
				s = replaceOnce(t, s, "ipport_userreserved_min = 1024\n", "ipport_userreserved_min = unknown attribute\n")
				s = replaceOnce(t, s, "\ttcbhashsize = 1024\n", "    tcbhashsize=1024\n")
				s = replaceOnce(t, s, "\n@@fleettune@@ netstat", "# local\ninet:\n\ttcp_msl\t=\t20\n\n@@fleettune@@ netstat")
				return strings.ReplaceAll(s, "\n", "\r\n")
			},
			version: "V4.0F",
			knobs: map[string]kn{
				tru64PortMin:  {missing: true},
				tru64PortMax:  {live: "5000", runtime: true},
				tru64MSL:      {live: "60", atBoot: "20"},
				tru64KeepIdle: {live: "14400", runtime: true},
			},
			persisted: "inet:\n\ttcbhashsize = 1024\n\ttcp_msl = 20\n",
			listening: []int{22, 111, 1021, 6112}, timeWait: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			name, _, _ := strings.Cut(tc.fixture, " ")
			out := readTru64Fixture(t, name)
			if tc.edit != nil {
				out = tc.edit(t, out)
			}
			f, err := ParseTru64Facts(out)
			if err != nil {
				t.Fatal(err)
			}
			if f.OS != Tru64 || f.Version != tc.version {
				t.Errorf("OS %q version %q, want tru64 %q", f.OS, f.Version, tc.version)
			}
			if f.BootID != ". system boot Nov 1 06:00" && f.BootID != ".       system boot  Nov  1 06:00" {
				t.Errorf("BootID = %q", f.BootID)
			}
			for a, w := range tc.knobs {
				k := f.Knobs[a]
				if k.Live != w.live || k.Missing != w.missing || k.AtBoot != w.atBoot || k.AtBootSet != (w.atBoot != "") {
					t.Errorf("%s = %+v, want %+v", a, k, w)
				}
				if !w.missing && tru64Runtime(f, a) != w.runtime {
					t.Errorf("%s run-time settable = %t, want %t", a, tru64Runtime(f, a), w.runtime)
				}
			}
			if !f.PersistedExists || f.Persisted != tc.persisted {
				t.Errorf("persisted %t %q, want %q", f.PersistedExists, f.Persisted, tc.persisted)
			}
			if !reflect.DeepEqual(f.Listening, tc.listening) || f.TimeWait != tc.timeWait {
				t.Errorf("listening %v tw %d, want %v %d", f.Listening, f.TimeWait, tc.listening, tc.timeWait)
			}
		})
	}
}

func TestParseTru64FactsErrors(t *testing.T) {
	def := readTru64Fixture(t, "gather-default-V5.1B.txt")
	tests := []struct {
		name string
		out  string
		want string
	}{
		{"sysconfig -q fails", replaceOnce(t, def, "inet:\nipport_userreserved_min = 1024\nipport_userreserved = 5000\ntcp_msl = 60\ntcp_keepidle = 14400\n",
			"sysconfig: Subsystem inet is not configured\n!failed\n"), "sysconfig -q: query: sysconfig: Subsystem inet is not configured"},
		{"attribute missing from output", replaceOnce(t, def, "tcp_msl = 60\n", ""), "sysconfig -q printed no value for tcp_msl"},
		{"garbage in query", replaceOnce(t, def, "tcp_msl = 60\n", "tcp_msl: 60\n"), `unexpected line "tcp_msl: 60"`},
		{"no who -b", replaceOnce(t, def, "         .       system boot  Nov  1 06:00\n", "sh: who: not found\n!failed\n"), "read boot time: boot: sh: who: not found"},
		{"sysconfigtab unreadable", def[:strings.Index(def, "# /etc/sysconfigtab")] + "cat: cannot open /etc/sysconfigtab: Permission denied\n!failed\n\n" + def[strings.Index(def, "@@fleettune@@ netstat"):],
			"read /etc/sysconfigtab: sysconfigtab: cat: cannot open /etc/sysconfigtab: Permission denied"},
		{"no netstat section", def[:strings.Index(def, "@@fleettune@@ netstat")], "output has no netstat section"},
		{"bad listener", replaceOnce(t, def, "*.6112 ", "*.x    "), `unexpected local address "*.x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTru64Facts(tc.out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// sysconfig -Q failing is not fatal: nothing is run-time settable then,
	// so every change waits for a reboot rather than failing.
	out := replaceOnce(t, def, "tcp_keepidle - type=INT op=CRQ min_val=1 max_val=2147483647\n", "tcp_keepidle - unknown attribute\n")
	f, err := ParseTru64Facts(out)
	if err != nil {
		t.Fatal(err)
	}
	if tru64Runtime(f, tru64KeepIdle) || !tru64Runtime(f, tru64MSL) {
		t.Errorf("tcp_keepidle without flags must count as boot-only; tcp_msl with op=CRQ as run-time")
	}
}

func TestParseSysconfigFixtures(t *testing.T) {
	q, err := ParseSysconfigQuery(readTru64Fixture(t, "sysconfig-q-unknown.txt"), "inet")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"tcp_msl": "60", "tcp_nosuch": "unknown attribute"}; !reflect.DeepEqual(q, want) {
		t.Errorf("got %v, want %v", q, want)
	}
	fl, err := ParseSysconfigFlags(readTru64Fixture(t, "sysconfig-Q.txt"), "inet")
	if err != nil {
		t.Fatal(err)
	}
	if got := fl[tru64PortMax]; got != (sysconfigFlags{Type: "INT", Ops: "CRQ", Min: 0, Max: 65535, HasRange: true}) {
		t.Errorf("ipport_userreserved flags %+v", got)
	}
	if _, err := ParseSysconfigQuery("tcp_msl = 60\n", "inet"); err == nil {
		t.Error("output without the inet: header must be an error")
	}
	ports, tw, err := ParseTru64Netstat(readTru64Fixture(t, "netstat-an.txt"))
	if err != nil || !reflect.DeepEqual(ports, []int{22, 111, 1021, 6112}) || tw != 3 {
		t.Errorf("netstat: %v %d %v", ports, tw, err)
	}
	// A tcp6 listener and an ESTABLISHED row on a listening port.
	ports, tw, _ = ParseTru64Netstat("tcp6       0      0  *.8080                 *.*                    LISTEN\ntcp        0      0  10.0.0.1.8080  10.0.0.2.4000  ESTABLISHED\n")
	if !reflect.DeepEqual(ports, []int{8080}) || tw != 0 {
		t.Errorf("tcp6: %v %d", ports, tw)
	}
}

// testValue is a test's target string as the typed value Propose gives.
func testValue(t *testing.T, setting, s string) Value {
	t.Helper()
	switch Setting(setting) {
	case EphemeralPorts:
		r, err := ParsePortRange(s)
		if err != nil {
			t.Fatal(err)
		}
		return Value{Ports: &r}
	case TimeWait, KeepaliveTime:
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return Value{Duration: &d}
	}
	return Value{Native: &s}
}

func TestTru64Units(t *testing.T) {
	tests := []struct {
		setting, target string
		want            []tru64Want
		err             string
	}{
		{"ephemeral_ports", "10240-65535", []tru64Want{{tru64PortMin, 10240}, {tru64PortMax, 65535}}, ""},
		// TIME_WAIT = 2 × tcp_msl half-seconds: N seconds is tcp_msl = N.
		{"time_wait", "30s", []tru64Want{{tru64MSL, 30}}, ""},
		{"time_wait", "1m0s", []tru64Want{{tru64MSL, 60}}, ""},
		{"time_wait", "1.5s", nil, "whole seconds"},
		// tcp_keepidle counts half-seconds: 2h is 14400.
		{"keepalive_time", "2h0m0s", []tru64Want{{tru64KeepIdle, 14400}}, ""},
		{"keepalive_time", "5m0s", []tru64Want{{tru64KeepIdle, 600}}, ""},
		{"keepalive_time", "2.5s", []tru64Want{{tru64KeepIdle, 5}}, ""},
		{"keepalive_time", "1.25s", nil, "multiple of 500ms"},
		{"native", "1", nil, "not managed"},
	}
	for _, tc := range tests {
		got, err := tru64Wants(tc.setting, testValue(t, tc.setting, tc.target))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: err %v, want %q", tc.setting, tc.target, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s = %v %v, want %v", tc.setting, tc.target, got, err, tc.want)
		}
		vals := map[string]int{}
		for _, w := range got {
			vals[w.attr] = w.value
		}
		if back := tru64Show(tc.setting, vals); back != tc.target {
			t.Errorf("%s: %v shows as %q, want %q", tc.setting, got, back, tc.target)
		}
	}
}

func tru64Dur(d time.Duration) *time.Duration { return &d }

func tru64Targets() Targets {
	r := PortRange{10240, 65535}
	return Targets{EphemeralPorts: &r, TimeWait: tru64Dur(30 * time.Second), KeepaliveTime: tru64Dur(5 * time.Minute)}
}

func TestTru64Propose(t *testing.T) {
	d := tru64Driver{}
	g := Guardrails{}
	merge := "sysconfigdb -m inet: "
	tests := []struct {
		name    string
		fixture string
		targets Targets
		want    []Change
		pending int
	}{
		{
			name: "defaults on 5.1B: everything run-time", fixture: "gather-default-V5.1B.txt", targets: tru64Targets(),
			want: []Change{
				{Setting: "ephemeral_ports", Knob: "ipport_userreserved_min,ipport_userreserved", Current: "1024-5000", AtBoot: "kernel default", Target: "10240-65535",
					// raising the range past its old top: the top moves first
					Commands: []string{"sysconfig -r inet ipport_userreserved=65535 ipport_userreserved_min=10240"},
					Persist:  merge + "ipport_userreserved_min = 10240, ipport_userreserved = 65535"},
				{Setting: "time_wait", Knob: "tcp_msl", Current: "1m0s", AtBoot: "kernel default", Target: "30s",
					Commands: []string{"sysconfig -r inet tcp_msl=30"}, Persist: merge + "tcp_msl = 30"},
				{Setting: "keepalive_time", Knob: "tcp_keepidle", Current: "2h0m0s", AtBoot: "kernel default", Target: "5m0s",
					Commands: []string{"sysconfig -r inet tcp_keepidle=600"}, Persist: merge + "tcp_keepidle = 600"},
			},
		},
		{
			name: "5.1: tcp_msl is boot-only", fixture: "gather-default-V5.1.txt", targets: Targets{TimeWait: tru64Dur(30 * time.Second)},
			want: []Change{{Setting: "time_wait", Knob: "tcp_msl", Current: "1m0s", AtBoot: "kernel default", Target: "30s",
				Persist: merge + "tcp_msl = 30", RebootRequired: true, RebootReason: "tcp_msl is not run-time settable; takes effect at the next boot"}},
		},
		{
			name: "5.1 after apply: only the reboot is left", fixture: "gather-pending-V5.1.txt", targets: tru64Targets(),
			want: []Change{{Setting: "time_wait", Knob: "tcp_msl", Current: "1m0s", AtBoot: "30s", Target: "30s",
				RebootRequired: true, RebootReason: "tcp_msl is not run-time settable; takes effect at the next boot"}},
			pending: 1,
		},
		{name: "converged", fixture: "gather-converged-V5.1B.txt", targets: tru64Targets()},
		{
			name: "drift: live is the target, the stanza is not", fixture: "gather-drift-V5.1B.txt",
			targets: Targets{EphemeralPorts: &PortRange{1024, 5000}, KeepaliveTime: tru64Dur(10 * time.Minute)},
			want: []Change{
				{Setting: "ephemeral_ports", Knob: "ipport_userreserved_min,ipport_userreserved", Current: "1024-5000", AtBoot: "20000-50001", Target: "1024-5000",
					Persist: merge + "ipport_userreserved_min = 1024, ipport_userreserved = 5000"},
				{Setting: "keepalive_time", Knob: "tcp_keepidle", Current: "2h0m0s", AtBoot: "10m0s", Target: "10m0s",
					Commands: []string{"sysconfig -r inet tcp_keepidle=1200"}},
			},
		},
		{
			name: "guardrails, bounds, native", fixture: "gather-default-V5.1B.txt",
			targets: Targets{EphemeralPorts: &PortRange{5000, 65535}, TimeWait: tru64Dur(3 * time.Second / 2), Native: map[string]string{"tcp_keepintvl": "75"}},
			want: []Change{
				{Setting: "ephemeral_ports", Knob: "ipport_userreserved_min,ipport_userreserved", Current: "1024-5000", AtBoot: "kernel default", Target: "5000-65535",
					Commands: []string{"sysconfig -r inet ipport_userreserved_min=5000 ipport_userreserved=65535"},
					// 6112 listens inside: the planner's to refuse, not the driver's
					Persist: merge + "ipport_userreserved_min = 5000, ipport_userreserved = 65535"},
				{Setting: "time_wait", Target: "1.5s", Refused: "Tru64 sets TIME_WAIT in whole seconds (tcp_msl counts half-seconds and TIME_WAIT is two MSLs); 1.5s is not"},
				{Setting: "native", Knob: "tcp_keepintvl", Target: "75", Refused: `native knobs for "tru64" are not supported (known: linux)`},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := d.Propose(tru64Facts(t, tc.fixture), tc.targets, g)
			if !reflect.DeepEqual(untyped(p.Changes), tc.want) {
				t.Errorf("changes\n%#v\nwant\n%#v", p.Changes, tc.want)
			}
			n := 0
			for _, c := range p.Changes {
				if c.Pending() {
					n++
				}
			}
			if n != tc.pending {
				t.Errorf("%d pending changes, want %d", n, tc.pending)
			}
		})
	}

	f := tru64Facts(t, "gather-default-V5.1B.txt")
	refused := func(tg Targets, g Guardrails) string {
		p := d.Propose(f, tg, g)
		if len(p.Changes) != 1 {
			t.Fatalf("changes %v", p.Changes)
		}
		return p.Changes[0].Refused
	}
	if r := refused(Targets{EphemeralPorts: &PortRange{5000, 65535}}, Guardrails{}); r != "" {
		t.Errorf("without protect_listening_ports the range is allowed, got %q", r)
	}
	if r := refused(Targets{EphemeralPorts: &PortRange{600, 900}}, Guardrails{}); !strings.Contains(r, "privileged port") {
		t.Errorf("low end below 1024: %q", r)
	}
	big := PortRange{2000, 3000}
	f.Knobs[tru64PortMax+tru64FlagsSuffix] = Knob{Live: "type=INT op=CRQ min_val=0 max_val=2500"}
	if r := refused(Targets{EphemeralPorts: &big}, Guardrails{}); !strings.Contains(r, "outside what the kernel accepts (0-2500") {
		t.Errorf("bounds from sysconfig -Q: %q", r)
	}
	f.Knobs[tru64KeepIdle] = Knob{Name: tru64KeepIdle, Missing: true}
	if r := refused(Targets{KeepaliveTime: tru64Dur(time.Minute)}, Guardrails{}); !strings.Contains(r, "has no inet attribute tcp_keepidle") {
		t.Errorf("missing attribute: %q", r)
	}
}

func TestTru64ApplyAndRestore(t *testing.T) {
	d := tru64Driver{}
	before := tru64Facts(t, "gather-default-V5.1B.txt")
	changes := d.Propose(before, tru64Targets(), Guardrails{}).Changes
	cmds, err := d.ApplyCommands(before, changes)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sysconfig -r inet ipport_userreserved=65535 ipport_userreserved_min=10240",
		"sysconfig -r inet tcp_msl=30",
		"sysconfig -r inet tcp_keepidle=600",
		`mkdir -m 700 /tmp/fleettune-inet.d && printf 'inet:\n\tipport_userreserved_min = 10240\n\tipport_userreserved = 65535\n\ttcp_msl = 30\n\ttcp_keepidle = 600\n' > /tmp/fleettune-inet.d/inet.stanza && sysconfigdb -m -f /tmp/fleettune-inet.d/inet.stanza inet && rm -f /tmp/fleettune-inet.d/inet.stanza && rmdir /tmp/fleettune-inet.d`,
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("apply commands\n%q\nwant\n%q", cmds, want)
	}
	snap := d.Snapshot(before, changes)
	if len(snap.Knobs) != 4 || snap.Knobs[tru64MSL] != (KnobState{Live: "60"}) || *snap.Files[tru64StanzaKey] != tru64DefaultStanza {
		t.Errorf("snapshot %+v", snap)
	}

	// On the converged host, restoring sets the live values back and
	// rewrites the stanza without fleettune's attributes, keeping
	// tcbhashsize.
	after := tru64Facts(t, "gather-converged-V5.1B.txt")
	if diff := d.Differences(after, snap); len(diff) != 8 {
		t.Errorf("differences before restore: %q", diff)
	}
	rc, err := d.RestoreCommands(after, snap)
	if err != nil {
		t.Fatal(err)
	}
	wantR := []string{
		"sysconfig -r inet ipport_userreserved=5000 ipport_userreserved_min=1024 tcp_keepidle=14400 tcp_msl=60",
		`mkdir -m 700 /tmp/fleettune-inet.d && printf 'inet:\n\ttcbhashsize = 1024\n' > /tmp/fleettune-inet.d/inet.stanza && sysconfigdb -u -f /tmp/fleettune-inet.d/inet.stanza inet && rm -f /tmp/fleettune-inet.d/inet.stanza && rmdir /tmp/fleettune-inet.d`,
	}
	if !reflect.DeepEqual(rc, wantR) {
		t.Errorf("restore commands\n%q\nwant\n%q", rc, wantR)
	}
	if diff := d.Differences(before, snap); len(diff) != 0 {
		t.Errorf("a host as it was has differences: %q", diff)
	}
	if rc, _ := d.RestoreCommands(before, snap); len(rc) != 0 {
		t.Errorf("nothing to restore, got %q", rc)
	}

	// A stanza fleettune created is removed whole; values that were
	// persisted before are merged back.
	noStanza := *after
	noStanza.Persisted = "inet:\n\ttcp_msl = 30\n"
	snap2 := Snapshot{Knobs: map[string]KnobState{tru64MSL: {Live: "30"}}, Files: map[string]*string{tru64StanzaKey: nil}}
	if rc, _ := d.RestoreCommands(&noStanza, snap2); !reflect.DeepEqual(rc, []string{"sysconfigdb -r inet"}) {
		t.Errorf("restore to no stanza: %q", rc)
	}
	snap3 := Snapshot{Knobs: map[string]KnobState{tru64MSL: {Live: "30", AtBoot: "45", AtBootSet: true}}}
	if rc, _ := d.RestoreCommands(&noStanza, snap3); !reflect.DeepEqual(rc, []string{
		`mkdir -m 700 /tmp/fleettune-inet.d && printf 'inet:\n\ttcp_msl = 45\n' > /tmp/fleettune-inet.d/inet.stanza && sysconfigdb -m -f /tmp/fleettune-inet.d/inet.stanza inet && rm -f /tmp/fleettune-inet.d/inet.stanza && rmdir /tmp/fleettune-inet.d`}) {
		t.Errorf("merge back: %q", rc)
	}

	// Refused changes and unknown names never produce commands.
	if _, err := d.ApplyCommands(before, []Change{{Setting: "time_wait", Knob: "tcp_msl", Target: "30s", Refused: "no"}}); err == nil {
		t.Error("refused change applied")
	}
	if _, err := d.ApplyCommands(before, []Change{{Setting: "time_wait", Knob: "tcp_msl;reboot", Target: "30s", Persist: "x"}}); err == nil {
		t.Error("a change naming another knob was applied")
	}
	if _, err := d.RestoreCommands(before, Snapshot{Knobs: map[string]KnobState{"tcp_msl;reboot": {Live: "1"}}}); err == nil {
		t.Error("unknown attribute restored")
	}
}

func TestTru64PendingAfterBootOnlyApply(t *testing.T) {
	d := tru64Driver{}
	f := tru64Facts(t, "gather-default-V5.1.txt")
	changes := d.Propose(f, Targets{TimeWait: tru64Dur(30 * time.Second)}, Guardrails{}).Changes
	cmds, err := d.ApplyCommands(f, changes)
	if err != nil {
		t.Fatal(err)
	}
	// No sysconfig -r for a boot-only attribute: only the stanza merge.
	if len(cmds) != 1 || !strings.Contains(cmds[0], "sysconfigdb -m -f") || strings.Contains(cmds[0], "sysconfig -r") {
		t.Errorf("commands %q", cmds)
	}
}

type tru64FixtureRunner struct {
	out  string
	code int
	got  string
}

func (r *tru64FixtureRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.got = cmd
	return remote.Result{Stdout: []byte(r.out), ExitCode: r.code, Stderr: []byte("sh: syntax error\n")}, nil
}

func TestTru64Gather(t *testing.T) {
	d, err := For(Tru64)
	if err != nil || d.OS() != Tru64 {
		t.Fatalf("For(tru64) = %v, %v", d, err)
	}
	r := &tru64FixtureRunner{out: readTru64Fixture(t, "gather-default-V5.1B.txt")}
	f, err := d.Gather(context.Background(), r, []string{"tcp_msl;reboot"})
	if err != nil || f.Knobs[tru64MSL].Live != "60" {
		t.Fatalf("gather: %v %+v", err, f)
	}
	if r.got != Tru64GatherScript() || strings.Contains(r.got, "reboot") {
		t.Errorf("gather ran %q", r.got)
	}
	// The script stays inside the lab shell's subset: no pipes but
	// netstat's through its filter (whose awk program has the only $),
	// variables, globs, subshells or control flow.
	plain := strings.Replace(r.got, " | "+netstatFilter("$NF")+" ", " ", 1)
	if plain == r.got {
		t.Error("gather script does not filter netstat -an on the host")
	}
	for _, bad := range []string{"$", "*", "(", "`", "if ", "for "} {
		if strings.Contains(plain, bad) {
			t.Errorf("gather script uses %q", bad)
		}
	}
	if regexp.MustCompile(`[^|]\|[^|]`).MatchString(plain) {
		t.Error("gather script uses a pipe")
	}
	r.code = 2
	if _, err := d.Gather(context.Background(), r, nil); err == nil || !strings.Contains(err.Error(), "exit status 2: sh: syntax error") {
		t.Errorf("failing script: %v", err)
	}
}

// sysconfig -Q's layout is known only from documentation. Output the
// parser does not understand is not a failed host but the safe answer:
// every attribute needs a reboot, and a note says why.
func TestTru64UnreadFlagsNeedReboot(t *testing.T) {
	out := readTru64Fixture(t, "gather-default-V5.1B.txt")
	i := strings.Index(out, "@@fleettune@@ flags\n")
	j := strings.Index(out, "@@fleettune@@ sysconfigtab")
	if i < 0 || j < i {
		t.Fatal("fixture has no flags section")
	}
	mangled := out[:i] + "@@fleettune@@ flags\ninet:\n  Attribute  Type  Ops  Min  Max\n  tcp_keepidle  INT  CRQ  1  2147483647\n" + out[j:]
	f, err := ParseTru64Facts(mangled)
	if err != nil {
		t.Fatalf("an unfamiliar sysconfig -Q failed the host: %v", err)
	}
	ka := 5 * time.Minute
	p := tru64Driver{}.Propose(f, Targets{KeepaliveTime: &ka}, Guardrails{})
	if len(p.Changes) != 1 || !p.Changes[0].RebootRequired || len(p.Changes[0].Commands) != 0 || p.Changes[0].Persist == "" {
		t.Errorf("changes: %+v; want a persisted change that needs a reboot, no sysconfig -r", p.Changes)
	}
	if !strings.Contains(strings.Join(p.Notes, "\n"), "sysconfig -Q was not understood") {
		t.Errorf("notes %q", p.Notes)
	}
	// The fixture as it is: tcp_keepidle is run-time settable.
	f, _ = ParseTru64Facts(out)
	if p := (tru64Driver{}).Propose(f, Targets{KeepaliveTime: &ka}, Guardrails{}); len(p.Changes) != 1 || p.Changes[0].RebootRequired || len(p.Notes) != 0 {
		t.Errorf("understood -Q: %+v", p)
	}
}
