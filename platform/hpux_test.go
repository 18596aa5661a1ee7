package platform

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

func readHPUXFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hpux", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hpuxFacts(t *testing.T, fixture string) *Facts {
	t.Helper()
	f, err := ParseHPUXFacts(readHPUXFixture(t, fixture))
	if err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	return f
}

// The expectations were read off the fixtures by hand.
func TestParseHPUXFacts(t *testing.T) {
	defaults := map[string]wantKnob{
		hpuxSmallestAnon: {live: "49152"},
		hpuxLargestAnon:  {live: "65535"},
		hpuxTimeWait:     {live: "60000"},
		hpuxKeepalive:    {live: "7200000"},
		hpuxTwCleanup:    {live: "60000"},
	}
	with := func(changes map[string]wantKnob) map[string]wantKnob {
		m := map[string]wantKnob{}
		for k, v := range defaults {
			m[k] = v
		}
		for k, v := range changes {
			m[k] = v
		}
		return m
	}
	src := func(i string) string { return HPUXNddconf + ": NDD_NAME[" + i + "]" }
	tests := []struct {
		fixture       string
		edit          func(t *testing.T, s string) string
		version, boot string
		knobs         map[string]wantKnob
		listening     []int
		timeWait      int
		persistedTail string
	}{
		{
			fixture: "gather-default.txt", version: "B.11.31", boot: ".       system boot  Nov  1 06:00",
			knobs: defaults, listening: []int{22, 111, 135, 5988, 5989}, timeWait: 2,
			persistedTail: "TRANSPORT_NAME[0]=ip\nNDD_NAME[0]=ip_ire_gw_probe\nNDD_VALUE[0]=0\n",
		},
		{
			// Quoted values, a commented entry, gaps at 2 and 4, the
			// same parameter at 3 and 5 (5 wins, in hex), a udp entry,
			// IPv6 rows.
			fixture: "gather-drift.txt", version: "B.11.23", boot: ".       system boot  Oct 28 14:07",
			knobs: with(map[string]wantKnob{
				hpuxSmallestAnon: {live: "49152", atBoot: "32768", source: src("1")},
				hpuxTimeWait:     {live: "30000", atBoot: "0x7530", source: src("5")},
			}),
			listening: []int{22, 1521, 8443, 50000}, timeWait: 3,
			persistedTail: "NDD_VALUE[6]=20000\n",
		},
		{
			fixture: "gather-converged.txt", version: "B.11.31", boot: ".       system boot  Nov  1 07:00",
			knobs: with(map[string]wantKnob{
				hpuxSmallestAnon: {live: "10240", atBoot: "10240", source: src("1")},
				hpuxTimeWait:     {live: "30000", atBoot: "30000", source: src("2")},
				hpuxKeepalive:    {live: "300000", atBoot: "300000", source: src("3")},
			}),
			listening: []int{22, 111, 135, 5988, 5989}, timeWait: 0,
			persistedTail: "NDD_VALUE[3]=300000\n",
		},
		{
			fixture: "gather-unknown-parameter.txt", version: "B.11.11", boot: ".       system boot  Nov  1 06:00",
			knobs:     with(map[string]wantKnob{hpuxTwCleanup: {missing: true}}),
			listening: []int{22, 111, 135, 5988, 5989}, timeWait: 2,
			persistedTail: "NDD_VALUE[0]=0\n",
		},
		{
			fixture: "gather-default.txt (CRLF, nddconf without final newline)",
			edit: func(t *testing.T, s string) string {
				s = replaceOnce(t, s, "NDD_VALUE[0]=0\n\n", "NDD_VALUE[0]=0\n")
				return strings.ReplaceAll(s, "\n", "\r\n")
			},
			version: "B.11.31", boot: ".       system boot  Nov  1 06:00",
			knobs: defaults, listening: []int{22, 111, 135, 5988, 5989}, timeWait: 2,
			persistedTail: "NDD_NAME[0]=ip_ire_gw_probe\nNDD_VALUE[0]=0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			out := readHPUXFixture(t, strings.Fields(tt.fixture)[0])
			if tt.edit != nil {
				out = tt.edit(t, out)
			}
			f, err := ParseHPUXFacts(out)
			if err != nil {
				t.Fatal(err)
			}
			if f.OS != HPUX || f.Version != tt.version || f.BootID != tt.boot {
				t.Errorf("os %q version %q boot %q, want hpux %q %q", f.OS, f.Version, f.BootID, tt.version, tt.boot)
			}
			if len(f.Knobs) != len(tt.knobs) {
				t.Errorf("got %d knobs, want %d", len(f.Knobs), len(tt.knobs))
			}
			for name, w := range tt.knobs {
				k := f.Knobs[name]
				if k.Live != w.live || k.Missing != w.missing || k.AtBoot != w.atBoot || k.AtBootSet != (w.atBoot != "") || k.Source != w.source {
					t.Errorf("%s = %+v, want %+v", name, k, w)
				}
			}
			if !reflect.DeepEqual(f.Listening, tt.listening) || f.TimeWait != tt.timeWait {
				t.Errorf("listening %v TIME_WAIT %d, want %v %d", f.Listening, f.TimeWait, tt.listening, tt.timeWait)
			}
			if !f.PersistedExists || !strings.HasSuffix(f.Persisted, tt.persistedTail) || !strings.HasPrefix(f.Persisted, "# @(#)B.11.") {
				t.Errorf("persisted (exists %t) ends %q, want the whole nddconf ending %q", f.PersistedExists, hpuxLastN(f.Persisted, 40), tt.persistedTail)
			}
		})
	}
}

func hpuxLastN(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestParseHPUXFactsErrors(t *testing.T) {
	def := readHPUXFixture(t, "gather-default.txt")
	tests := []struct {
		name, out string
		want      []string // substrings of the error
	}{
		{"nddconf unreadable", readHPUXFixture(t, "gather-nddconf-unreadable.txt"),
			[]string{"read /etc/rc.config.d/nddconf", "cat: Cannot open /etc/rc.config.d/nddconf: Permission denied"}},
		{"ndd -get not permitted", replaceOnce(t, def, "@@fleettune@@ ndd tcp_time_wait_interval\n60000\n",
			"@@fleettune@@ ndd tcp_time_wait_interval\noperation failed: Not owner\n@@fleettune@@ failed ndd tcp_time_wait_interval\n"),
			[]string{"read tcp_time_wait_interval", "operation failed: Not owner", "root"}},
		{"ndd -get garbage", replaceOnce(t, def, "\n7200000\n", "\nndd: warning\n"),
			[]string{"read tcp_keepalive_interval", `"ndd: warning"`, "expected a number"}},
		{"who failed", replaceOnce(t, def, "   .       system boot  Nov  1 06:00\n",
			"sh: who: not found\n@@fleettune@@ failed who\n"),
			[]string{"read boot time: who -b: sh: who: not found"}},
		{"netstat failed", replaceOnce(t, def, "@@fleettune@@ nddconf\n", "netstat: /dev/kmem: Permission denied\n@@fleettune@@ failed netstat\n@@fleettune@@ nddconf\n"),
			[]string{"read sockets: netstat -an", "Permission denied"}},
		{"cut short", def[:strings.Index(def, "@@fleettune@@ netstat")],
			[]string{`no section "netstat"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHPUXFacts(tt.out)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// A missing nddconf is not an error: it reads as absent.
	f, err := ParseHPUXFacts(strings.Replace(readHPUXFixture(t, "gather-nddconf-unreadable.txt"), "Permission denied", "No such file or directory", 1))
	if err != nil || f.PersistedExists || f.Persisted != "" {
		t.Errorf("missing nddconf: exists %t %q, err %v", f != nil && f.PersistedExists, f.Persisted, err)
	}
}

func TestParseHPUXNetstat(t *testing.T) {
	tests := []struct {
		name, in  string
		listening []int
		timeWait  int
	}{
		{"fixture", readHPUXFixture(t, "netstat-an.txt"), []int{22, 111, 135, 5988, 5989}, 2},
		{"tabs, IPv6, UDP without state, a duplicate listener",
			"Active Internet connections (including servers)\n" +
				"Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n" +
				"tcp\t0\t0\t*.22\t*.*\tLISTEN\n" +
				"tcp        0      0  10.0.0.1.22            10.0.0.2.51234         TIME_WAIT\n" +
				"udp        0      0  *.22                   *.*\n" +
				"tcp6       0      0  *.22                                      *.*                                      LISTEN\n" +
				"tcp6       0      0  ::1.30080                                 *.*                                      LISTEN\n" +
				"tcp6       0      0  fe80::1.8443                              fe80::2.52144                            TIME_WAIT\n" +
				"Active UNIX domain sockets\n" +
				"Address  Type   Recv-Q Send-Q    Inode     Conn     Refs  Nextref Addr\n" +
				"c0000001 stream      0      0 c000beef        0        0        0 /var/spool/sockets/LISTEN\n",
			[]int{22, 30080}, 2},
		{"empty", "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, tw, err := parseBSDNetstat(tt.in)
			if err != nil || !reflect.DeepEqual(l, tt.listening) || tw != tt.timeWait {
				t.Errorf("got %v %d, want %v %d", l, tw, tt.listening, tt.timeWait)
			}
		})
	}
}

func TestParseNddconf(t *testing.T) {
	content := "# TRANSPORT_NAME[0]=tcp\n" +
		"#NDD_NAME[0]=tcp_time_wait_interval\n" +
		"TRANSPORT_NAME[0]=tcp\nNDD_NAME[0]=tcp_time_wait_interval\nNDD_VALUE[0]=45000\n" +
		"  TRANSPORT_NAME[2]='tcp'\n  NDD_NAME[2]=tcp_time_wait_interval\n  NDD_VALUE[2]=\"30000\"\n" +
		"TRANSPORT_NAME[3]=ip\nNDD_NAME[3]=tcp_keepalive_interval\nNDD_VALUE[3]=1\n" + // not tcp: ignored
		"TRANSPORT_NAME[4]=tcp\nNDD_NAME[4]=tcp_smallest_anon_port\n" + // no value: ignored
		"TRANSPORT_NAME[7]=tcp\nNDD_NAME[7]=tcp_keepalive_interval\nNDD_VALUE[7]=600000\nNDD_VALUE[7]=900000\n" // the shell keeps the last
	c := parseNddconf(content)
	eff := c.effective()
	got := map[string]string{}
	for k, e := range eff {
		got[k] = e.Value
	}
	want := map[string]string{hpuxTimeWait: "30000", hpuxKeepalive: "900000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("effective %v, want %v", got, want)
	}
	if eff[hpuxTimeWait].Index != 2 || eff[hpuxKeepalive].Index != 7 {
		t.Errorf("winning indexes %d %d, want 2 7", eff[hpuxTimeWait].Index, eff[hpuxKeepalive].Index)
	}
	if n := c.nextFree(); n != 8 {
		t.Errorf("next free index %d, want 8", n)
	}
	if g := c.gaps(); !reflect.DeepEqual(g, []int{1, 5, 6}) {
		t.Errorf("gaps %v, want [1 5 6]", g)
	}
	if n := parseNddconf("# only comments\n").nextFree(); n != 0 {
		t.Errorf("empty file: next free %d, want 0", n)
	}
}

func hpuxChange(t *testing.T, p Proposal, setting Setting) Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Setting == string(setting) {
			return c
		}
	}
	t.Fatalf("no %s change in %+v", setting, p.Changes)
	return Change{}
}

func hpuxRange(lo, hi int) *PortRange        { return &PortRange{lo, hi} }
func hpuxDur(d time.Duration) *time.Duration { return &d }

func TestHPUXProposeFromDefault(t *testing.T) {
	d := hpuxDriver{}
	f := hpuxFacts(t, "gather-default.txt")
	p := d.Propose(f, Targets{EphemeralPorts: hpuxRange(10240, 65535), TimeWait: hpuxDur(30 * time.Second), KeepaliveTime: hpuxDur(5 * time.Minute)}, Guardrails{})
	want := []Change{
		{Setting: "ephemeral_ports", Knob: "tcp_smallest_anon_port/tcp_largest_anon_port", Current: "49152-65535", Target: "10240-65535",
			Commands: []string{"ndd -set /dev/tcp tcp_smallest_anon_port 10240"},
			Persist:  HPUXNddconf + ": NDD_NAME[1]=tcp_smallest_anon_port NDD_VALUE[1]=10240"},
		{Setting: "time_wait", Knob: "tcp_time_wait_interval", Current: "1m0s", Target: "30s",
			Commands: []string{"ndd -set /dev/tcp tcp_time_wait_interval 30000"},
			Persist:  HPUXNddconf + ": NDD_NAME[2]=tcp_time_wait_interval NDD_VALUE[2]=30000"},
		{Setting: "keepalive_time", Knob: "tcp_keepalive_interval", Current: "2h0m0s", Target: "5m0s",
			Commands: []string{"ndd -set /dev/tcp tcp_keepalive_interval 300000"},
			Persist:  HPUXNddconf + ": NDD_NAME[3]=tcp_keepalive_interval NDD_VALUE[3]=300000"},
	}
	if !reflect.DeepEqual(untyped(p.Changes), want) {
		t.Errorf("changes:\n%+v\nwant:\n%+v", p.Changes, want)
	}
	joined := strings.Join(p.Notes, "\n")
	if !strings.Contains(joined, "tcp_tw_cleanup_interval") || !strings.Contains(joined, "up to 1m30s") {
		t.Errorf("notes %q lack the TIME_WAIT reaper note", p.Notes)
	}
	for _, c := range p.Changes {
		if c.RebootRequired || c.Pending() {
			t.Errorf("%s: ndd changes take effect at once; no reboot", c.Setting)
		}
	}
}

func TestHPUXPropose(t *testing.T) {
	d := hpuxDriver{}
	tests := []struct {
		name    string
		fixture string
		edit    func(f *Facts)
		targets Targets
		g       Guardrails
		check   func(t *testing.T, p Proposal)
	}{
		{
			name: "converged: nothing to do", fixture: "gather-converged.txt",
			targets: Targets{EphemeralPorts: hpuxRange(10240, 65535), TimeWait: hpuxDur(30 * time.Second), KeepaliveTime: hpuxDur(5 * time.Minute)},
			check: func(t *testing.T, p Proposal) {
				if len(p.Changes) != 0 {
					t.Errorf("want no changes, got %+v", p.Changes)
				}
			},
		},
		{
			// Live 49152-65535, nddconf index 1 gives 32768 at boot:
			// the drift shows, and the entry is updated in place.
			name: "drift: live range kept, persisted entry updated in place", fixture: "gather-drift.txt",
			targets: Targets{EphemeralPorts: hpuxRange(49152, 65535)}, g: Guardrails{},
			check: func(t *testing.T, p Proposal) {
				c := hpuxChange(t, p, EphemeralPorts)
				if c.Current != "49152-65535" || c.AtBoot != "32768-65535" || len(c.Commands) != 0 ||
					c.Persist != HPUXNddconf+": NDD_NAME[1]=tcp_smallest_anon_port NDD_VALUE[1]=49152" {
					t.Errorf("change %+v", c)
				}
				if len(p.Notes) != 0 {
					t.Errorf("an in-place update appends nothing, so no gap note: %q", p.Notes)
				}
			},
		},
		{
			name: "drift: time_wait converged through the winning hex entry", fixture: "gather-drift.txt",
			targets: Targets{TimeWait: hpuxDur(30 * time.Second)},
			check: func(t *testing.T, p Proposal) {
				if len(p.Changes) != 0 {
					t.Errorf("want no change, got %+v", p.Changes)
				}
			},
		},
		{
			name: "drift: live time_wait only, boot falls back to the default", fixture: "gather-default.txt",
			edit:    func(f *Facts) { k := f.Knobs[hpuxTimeWait]; k.Live = "30000"; f.Knobs[hpuxTimeWait] = k },
			targets: Targets{TimeWait: hpuxDur(30 * time.Second)},
			check: func(t *testing.T, p Proposal) {
				c := hpuxChange(t, p, TimeWait)
				if c.Current != "30s" || c.AtBoot != "1m0s (HP-UX default)" || len(c.Commands) != 0 || c.Persist != HPUXNddconf+": NDD_NAME[1]=tcp_time_wait_interval NDD_VALUE[1]=30000" {
					t.Errorf("change %+v", c)
				}
			},
		},
		{
			name: "drift: new entry goes to the next free index, gaps noted", fixture: "gather-drift.txt",
			targets: Targets{KeepaliveTime: hpuxDur(10 * time.Minute)},
			check: func(t *testing.T, p Proposal) {
				c := hpuxChange(t, p, KeepaliveTime)
				if c.Persist != HPUXNddconf+": NDD_NAME[7]=tcp_keepalive_interval NDD_VALUE[7]=600000" || c.AtBoot != "" {
					t.Errorf("change %+v", c)
				}
				if !strings.Contains(strings.Join(p.Notes, "\n"), "no entry at index 2, 4") {
					t.Errorf("notes %q lack the gap note", p.Notes)
				}
			},
		},
		{
			name: "listeners are the planner's policy, not the driver's", fixture: "gather-drift.txt",
			targets: Targets{EphemeralPorts: hpuxRange(8000, 60000)}, g: Guardrails{},
			check: func(t *testing.T, p Proposal) {
				if c := hpuxChange(t, p, EphemeralPorts); c.Refused != "" {
					t.Errorf("refused %q", c.Refused)
				}
			},
		},
		{
			name: "guardrail: privileged low end", fixture: "gather-default.txt",
			targets: Targets{EphemeralPorts: hpuxRange(600, 900)}, g: Guardrails{},
			check: func(t *testing.T, p Proposal) {
				if c := hpuxChange(t, p, EphemeralPorts); !strings.Contains(c.Refused, "at least 1024") {
					t.Errorf("refused %q", c.Refused)
				}
			},
		},
		{
			name: "bounds: time_wait below 1s and above 10m, keepalive below 10s", fixture: "gather-default.txt",
			targets: Targets{TimeWait: hpuxDur(500 * time.Millisecond), KeepaliveTime: hpuxDur(5 * time.Second)},
			check: func(t *testing.T, p Proposal) {
				if c := hpuxChange(t, p, TimeWait); c.Refused != "tcp_time_wait_interval must be between 1s and 10m0s (1000-600000 ms)" || c.Target != "500ms" {
					t.Errorf("time_wait %+v", c)
				}
				if c := hpuxChange(t, p, KeepaliveTime); !strings.Contains(c.Refused, "between 10s and 240h0m0s") {
					t.Errorf("keepalive %+v", c)
				}
			},
		},
		{
			name: "bounds: time_wait above 10m; sub-millisecond", fixture: "gather-default.txt",
			targets: Targets{TimeWait: hpuxDur(11 * time.Minute), KeepaliveTime: hpuxDur(10*time.Second + time.Microsecond)},
			check: func(t *testing.T, p Proposal) {
				if c := hpuxChange(t, p, TimeWait); !strings.Contains(c.Refused, "1000-600000 ms") {
					t.Errorf("time_wait %+v", c)
				}
				if c := hpuxChange(t, p, KeepaliveTime); !strings.Contains(c.Refused, "not a whole number of milliseconds") {
					t.Errorf("keepalive %+v", c)
				}
			},
		},
		{
			name: "missing parameter refused", fixture: "gather-unknown-parameter.txt",
			edit:    func(f *Facts) { f.Knobs[hpuxKeepalive] = Knob{Name: hpuxKeepalive, Missing: true} },
			targets: Targets{KeepaliveTime: hpuxDur(5 * time.Minute)},
			check: func(t *testing.T, p Proposal) {
				c := hpuxChange(t, p, KeepaliveTime)
				if c.Current != "(missing)" || c.Refused != "this system has no ndd parameter tcp_keepalive_interval" {
					t.Errorf("change %+v", c)
				}
			},
		},
		{
			name: "native knobs refused", fixture: "gather-default.txt",
			targets: Targets{Native: map[string]string{"tcp_tw_cleanup_interval": "10000", "a": "1"}},
			check: func(t *testing.T, p Proposal) {
				if len(p.Changes) != 2 || p.Changes[0].Knob != "a" || p.Changes[1].Knob != "tcp_tw_cleanup_interval" {
					t.Fatalf("changes %+v", p.Changes)
				}
				for _, c := range p.Changes {
					if c.Setting != "native" || !strings.Contains(c.Refused, `native knobs for "hpux" are not supported`) || len(c.Commands) != 0 {
						t.Errorf("change %+v", c)
					}
				}
			},
		},
		{
			name: "unknown release noted", fixture: "gather-default.txt",
			edit:    func(f *Facts) { f.Version = "B.11.41" },
			targets: Targets{TimeWait: hpuxDur(time.Minute)},
			check: func(t *testing.T, p Proposal) {
				if len(p.Changes) != 0 || len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "B.11.41") {
					t.Errorf("changes %+v notes %q", p.Changes, p.Notes)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := hpuxFacts(t, tt.fixture)
			if tt.edit != nil {
				tt.edit(f)
			}
			tt.check(t, d.Propose(f, tt.targets, tt.g))
		})
	}
}

func TestHPUXRangeCommandsOrder(t *testing.T) {
	set := func(k string, v int) string { return "ndd -set /dev/tcp " + k + " " + strconv.Itoa(v) }
	tests := []struct {
		live, want PortRange
		cmds       []string
	}{
		// Moving above the current high end: the high end first.
		{PortRange{10240, 20000}, PortRange{30000, 60000}, []string{set(hpuxLargestAnon, 60000), set(hpuxSmallestAnon, 30000)}},
		// Moving below: the low end first.
		{PortRange{30000, 60000}, PortRange{10000, 20000}, []string{set(hpuxSmallestAnon, 10000), set(hpuxLargestAnon, 20000)}},
		{PortRange{49152, 65535}, PortRange{10240, 65535}, []string{set(hpuxSmallestAnon, 10240)}},
		{PortRange{49152, 65535}, PortRange{49152, 65535}, nil},
	}
	for _, tt := range tests {
		got := hpuxRangeCommands(tt.live, tt.want)
		if !reflect.DeepEqual(got, tt.cmds) {
			t.Errorf("%s → %s: %q, want %q", tt.live, tt.want, got, tt.cmds)
		}
		// Every step leaves smallest <= largest.
		cur := tt.live
		for _, c := range got {
			f := strings.Fields(c)
			n := hpuxAtoi(t, f[4])
			if f[3] == hpuxSmallestAnon {
				cur.Low = n
			} else {
				cur.High = n
			}
			if cur.Low > cur.High {
				t.Errorf("%s → %s: crossed range %s after %q", tt.live, tt.want, cur, c)
			}
		}
	}
}

func hpuxAtoi(t *testing.T, s string) int {
	t.Helper()
	v, err := parseNddInt(s)
	if err != nil {
		t.Fatal(err)
	}
	return int(v)
}

func TestMergeNddconf(t *testing.T) {
	def := hpuxFacts(t, "gather-default.txt").Persisted
	drift := hpuxFacts(t, "gather-drift.txt").Persisted
	tests := []struct {
		name, old string
		sets      []hpuxSet
		want      string
		err       string
	}{
		{
			name: "appended at the next free index after the ip entry", old: def,
			sets: []hpuxSet{{hpuxTimeWait, 30000, 1}},
			want: def + "TRANSPORT_NAME[1]=tcp\nNDD_NAME[1]=tcp_time_wait_interval\nNDD_VALUE[1]=30000\n",
		},
		{
			name: "updated in place: only the NDD_VALUE line changes", old: drift,
			sets: []hpuxSet{{hpuxSmallestAnon, 10240, 1}, {hpuxKeepalive, 300000, 7}},
			want: strings.Replace(drift, "NDD_VALUE[1]=\"32768\"\n", "NDD_VALUE[1]=10240\n", 1) +
				"TRANSPORT_NAME[7]=tcp\nNDD_NAME[7]=tcp_keepalive_interval\nNDD_VALUE[7]=300000\n",
		},
		{
			name: "file without a final newline", old: "TRANSPORT_NAME[0]=tcp\nNDD_NAME[0]=tcp_time_wait_interval\nNDD_VALUE[0]=45000",
			sets: []hpuxSet{{hpuxTimeWait, 30000, 0}, {hpuxKeepalive, 300000, 1}},
			want: "TRANSPORT_NAME[0]=tcp\nNDD_NAME[0]=tcp_time_wait_interval\nNDD_VALUE[0]=30000\n" +
				"TRANSPORT_NAME[1]=tcp\nNDD_NAME[1]=tcp_keepalive_interval\nNDD_VALUE[1]=300000\n",
		},
		{
			name: "entry without a value line gets one after its name", old: "# x\nTRANSPORT_NAME[0]=tcp\nNDD_NAME[0]=tcp_time_wait_interval\n# y\n",
			sets: []hpuxSet{{hpuxTimeWait, 30000, 0}},
			want: "# x\nTRANSPORT_NAME[0]=tcp\nNDD_NAME[0]=tcp_time_wait_interval\nNDD_VALUE[0]=30000\n# y\n",
		},
		{
			name: "empty file", old: "",
			sets: []hpuxSet{{hpuxTimeWait, 30000, 0}},
			want: "TRANSPORT_NAME[0]=tcp\nNDD_NAME[0]=tcp_time_wait_interval\nNDD_VALUE[0]=30000\n",
		},
		{
			name: "index taken by another entry since the plan", old: def,
			sets: []hpuxSet{{hpuxTimeWait, 30000, 0}},
			err:  "index 0 now holds ip ip_ire_gw_probe, not tcp_time_wait_interval; run plan again",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergeNddconf(tt.old, tt.sets)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestHPUXApplyCommands(t *testing.T) {
	d := hpuxDriver{}
	f := hpuxFacts(t, "gather-default.txt")
	targets := Targets{EphemeralPorts: hpuxRange(10240, 65535), TimeWait: hpuxDur(30 * time.Second), KeepaliveTime: hpuxDur(5 * time.Minute)}
	p := d.Propose(f, targets, Guardrails{})
	cmds, err := d.ApplyCommands(f, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	content := f.Persisted + "TRANSPORT_NAME[1]=tcp\nNDD_NAME[1]=tcp_smallest_anon_port\nNDD_VALUE[1]=10240\n" +
		"TRANSPORT_NAME[2]=tcp\nNDD_NAME[2]=tcp_time_wait_interval\nNDD_VALUE[2]=30000\n" +
		"TRANSPORT_NAME[3]=tcp\nNDD_NAME[3]=tcp_keepalive_interval\nNDD_VALUE[3]=300000\n"
	want := []string{
		"ndd -set /dev/tcp tcp_smallest_anon_port 10240",
		"ndd -set /dev/tcp tcp_time_wait_interval 30000",
		"ndd -set /dev/tcp tcp_keepalive_interval 300000",
		"printf '%s' " + remote.ShellQuote(content) + " > /etc/rc.config.d/nddconf.fleettune-tmp && mv -f /etc/rc.config.d/nddconf.fleettune-tmp /etc/rc.config.d/nddconf",
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands:\n%q\nwant:\n%q", cmds, want)
	}

	// Commands are rebuilt from typed targets: whatever a plan file says
	// in Commands never reaches the host.
	tampered := append([]Change(nil), p.Changes...)
	tampered[1].Commands = []string{"rm -rf /"}
	// Nor do the display strings of the target and of the persistence: the
	// nddconf entries are decided again from the facts and typed values.
	tampered[1].Target = "30s; reboot"
	tampered[1].Persist = HPUXNddconf + ": NDD_NAME[2]=tcp_time_wait_interval NDD_VALUE[2]=1"
	if got, err := d.ApplyCommands(f, tampered); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("tampered commands: %q, %v", got, err)
	}

	bad := []struct {
		name   string
		change func(c *Change)
		err    string
	}{
		{"refused", func(c *Change) { c.Refused = "no" }, "refused: no"},
		{"no typed target", func(c *Change) { c.After = nil }, "no typed duration target"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			ch := append([]Change(nil), p.Changes...)
			b.change(&ch[1])
			if _, err := d.ApplyCommands(f, ch); err == nil || !strings.Contains(err.Error(), b.err) {
				t.Errorf("error %v, want %q", err, b.err)
			}
		})
	}
}

func TestHPUXSnapshotRestoreDifferences(t *testing.T) {
	d := hpuxDriver{}
	before := hpuxFacts(t, "gather-default.txt")
	p := d.Propose(before, Targets{EphemeralPorts: hpuxRange(10240, 65535), TimeWait: hpuxDur(30 * time.Second), KeepaliveTime: hpuxDur(5 * time.Minute)}, Guardrails{})
	snap := d.Snapshot(before, p.Changes)
	if len(snap.Knobs) != 4 || snap.Knobs[hpuxLargestAnon].Live != "65535" || snap.Knobs[hpuxTimeWait].Live != "60000" {
		t.Errorf("snapshot knobs %+v", snap.Knobs)
	}
	if c := snap.Files[HPUXNddconf]; c == nil || *c != before.Persisted {
		t.Fatalf("snapshot lacks nddconf's content")
	}

	after := hpuxFacts(t, "gather-converged.txt")
	diff := d.Differences(after, snap)
	wantDiff := []string{
		"tcp_keepalive_interval is 300000, was 7200000",
		"tcp_smallest_anon_port is 10240, was 49152",
		"tcp_time_wait_interval is 30000, was 60000",
		HPUXNddconf + " differs from its previous content",
	}
	if !reflect.DeepEqual(diff, wantDiff) {
		t.Errorf("differences %q, want %q", diff, wantDiff)
	}
	cmds, err := d.RestoreCommands(after, snap)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		// The range moves back up: the high end is already there, so
		// only the low end.
		"ndd -set /dev/tcp tcp_smallest_anon_port 49152",
		"ndd -set /dev/tcp tcp_keepalive_interval 7200000",
		"ndd -set /dev/tcp tcp_time_wait_interval 60000",
		hpuxWriteNddconf(before.Persisted),
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("restore:\n%q\nwant:\n%q", cmds, want)
	}
	// Back where it was: nothing to do, no differences.
	if cmds, _ := d.RestoreCommands(before, snap); len(cmds) != 0 {
		t.Errorf("restore of an unchanged host: %q", cmds)
	}
	if diff := d.Differences(before, snap); len(diff) != 0 {
		t.Errorf("differences of an unchanged host: %q", diff)
	}
	// Values compare by meaning: 0xc000 is 49152.
	hex := hpuxFacts(t, "gather-default.txt")
	k := hex.Knobs[hpuxSmallestAnon]
	k.Live = "0xc000"
	hex.Knobs[hpuxSmallestAnon] = k
	if diff := d.Differences(hex, snap); len(diff) != 0 {
		t.Errorf("0xc000 differs from 49152: %q", diff)
	}
	// Only known parameter names reach a command line.
	snap.Knobs["tcp_x; reboot"] = KnobState{Live: "1"}
	if _, err := d.RestoreCommands(after, snap); err == nil {
		t.Error("restore accepted an unknown parameter name")
	}
}

// The nddconf write, run by a real sh into a temporary directory, leaves
// exactly the content, whatever it holds, and no temporary file.
func TestHPUXWriteNddconfByteExact(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "nddconf")
	tmp := path + ".fleettune-tmp"
	def := hpuxFacts(t, "gather-default.txt").Persisted
	merged, err := mergeNddconf(def, []hpuxSet{{hpuxTimeWait, 30000, 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{
		merged,
		"# it's 100% \\n not a newline; $HOME `id` \"q\" '' \t\nNDD_VALUE[0]=1",
		"",
	} {
		cmd := exec.Command(sh, "-c", hpuxWriteFile(path, tmp, content))
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
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary file left behind: %v", err)
		}
	}
	// The command the driver sends is the same with the real paths.
	if got := hpuxWriteNddconf("x"); got != "printf '%s' 'x' > /etc/rc.config.d/nddconf.fleettune-tmp && mv -f /etc/rc.config.d/nddconf.fleettune-tmp /etc/rc.config.d/nddconf" {
		t.Errorf("write command %q", got)
	}
}

type hpuxFixtureRunner struct {
	out  string
	code int
	err  error
	cmd  string
}

func (r *hpuxFixtureRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.cmd = cmd
	return remote.Result{Stdout: []byte(r.out), ExitCode: r.code, Stderr: []byte("sh: bad\n")}, r.err
}

func TestHPUXGather(t *testing.T) {
	d, err := For(HPUX)
	if err != nil || d.OS() != HPUX {
		t.Fatalf("For(hpux) = %v, %v", d, err)
	}
	r := &hpuxFixtureRunner{out: readHPUXFixture(t, "gather-default.txt")}
	f, err := d.Gather(context.Background(), r, []string{"tcp_x; reboot"})
	if err != nil || f.Knobs[hpuxTimeWait].Live != "60000" {
		t.Fatalf("gather: %+v %v", f, err)
	}
	if r.cmd != HPUXGatherScript() || strings.Contains(r.cmd, "tcp_x") {
		t.Errorf("gather ran %q; native names must never reach the host", r.cmd)
	}
	for _, k := range hpuxKnobs {
		if !strings.Contains(r.cmd, "ndd -get /dev/tcp "+k+" 2>&1 || echo '@@fleettune@@ failed ndd "+k+"'\n") {
			t.Errorf("script lacks the read of %s with its failure marker", k)
		}
	}
	if _, err := d.Gather(context.Background(), &hpuxFixtureRunner{err: errors.New("connection lost")}, nil); err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("runner error: %v", err)
	}
	if _, err := d.Gather(context.Background(), &hpuxFixtureRunner{code: 2}, nil); err == nil || !strings.Contains(err.Error(), "exit status 2: sh: bad") {
		t.Errorf("script failure: %v", err)
	}
}
