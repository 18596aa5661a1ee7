package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

func readWindowsFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "windows", name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\r\n") {
		t.Fatalf("%s: fixture has no CRLF line ends", name)
	}
	return string(b)
}

func windowsFacts(t *testing.T, name string) *Facts {
	t.Helper()
	f, err := ParseWindowsFacts(readWindowsFixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

func windowsDrv() windowsDriver { return windowsDriver{} }

func TestWindowsGatherCommandShape(t *testing.T) {
	line := WindowsGatherCommand()
	// One cmd.exe line: no line breaks, variables or escapes, and pipes
	// only into the two netstat filters.
	pipes := strings.Count(strings.ReplaceAll(line, "||", ""), "|")
	if pipes != 2 || strings.ContainsAny(line, "\r\n%^();") {
		t.Errorf("gather line uses syntax outside cmd.exe's & && || and the netstat pipes (%d pipes): %q", pipes, line)
	}
	for _, want := range []string{
		"echo @@fleettune@@ ver & ver 2>&1 || echo @@fleettune@@ failed ver",
		"wmic os get lastbootuptime 2>&1",
		"netsh int ipv4 show dynamicport tcp 2>&1",
		"netsh int ipv6 show dynamicport tcp 2>&1",
		`reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v MaxUserPort 2>&1`,
		`reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay 2>&1`,
		`reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v KeepAliveTime 2>&1`,
		`reg query "HKLM\SOFTWARE\fleettune\PendingReboot" 2>&1`,
		`netstat -ano 2>&1 | findstr /I /V /C:"TIME_WAIT" /C:"ESTABLISHED" `,
		`/C:"BOUND" || echo @@fleettune@@ failed netstat`,
		`echo @@fleettune@@ timewait & netstat -ano | find /C "TIME_WAIT" & `,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("gather line lacks %q:\n%s", want, line)
		}
	}
}

func TestParseWindowsFacts(t *testing.T) {
	type knob struct {
		live, atBoot string
		set, missing bool
	}
	v4 := func(s string) knob { return knob{s, s, true, false} }
	absent := knob{live: "default"}
	tests := []struct {
		fixture   string
		version   string
		boot      string
		knobs     map[string]knob
		listening []int
		timeWait  int
	}{
		{"gather-2019-default.txt", "10.0.17763", "20261101060000.000000+000", map[string]knob{
			windowsDynV4: v4("start=49152 num=16384"), windowsDynV6: v4("start=49152 num=16384"),
			windowsMaxUser: absent, windowsTimedWait: absent, windowsKeepAlive: absent,
		}, []int{135, 445, 3389, 5985, 5986, 49664}, 3},
		// Written by fleettune during this boot: the registry (AtBoot)
		// has the new values, the record says what is in force.
		{"gather-2019-pending.txt", "10.0.17763", "20261101060000.000000+000", map[string]knob{
			windowsDynV4: v4("start=20000 num=25000"), windowsDynV6: v4("start=20000 num=25000"),
			windowsMaxUser: absent, windowsTimedWait: {"default", "30", true, false}, windowsKeepAlive: {"default", "300000", true, false},
		}, []int{135, 445, 3389, 5985, 5986, 49664}, 3},
		// After the reboot the records are stale: the registry is in force.
		{"gather-2019-converged.txt", "10.0.17763", "20261102073000.000000+000", map[string]knob{
			windowsDynV4: v4("start=20000 num=25000"), windowsDynV6: v4("start=20000 num=25000"),
			windowsMaxUser: absent, windowsTimedWait: {"30", "30", true, false}, windowsKeepAlive: {"300000", "300000", true, false},
		}, []int{135, 445, 3389, 5985, 5986, 49664}, 1},
		{"gather-2003-default.txt", "5.2.3790", "20261101060000.000000+000", map[string]knob{
			windowsDynV4: {missing: true}, windowsDynV6: {missing: true},
			windowsMaxUser: absent, windowsTimedWait: absent, windowsKeepAlive: absent,
		}, []int{135, 445, 3389, 5985, 5986}, 2},
		{"gather-2003-pending.txt", "5.2.3790", "20261101060000.000000+000", map[string]knob{
			windowsDynV4: {missing: true}, windowsDynV6: {missing: true},
			windowsMaxUser: {"default", "5500", true, false}, windowsTimedWait: {"default", "30", true, false}, windowsKeepAlive: absent,
		}, []int{135, 445, 3389, 5985, 5986}, 2},
		{"gather-2003-converged.txt", "5.2.3790", "20261102073000.000000+000", map[string]knob{
			windowsDynV4: {missing: true}, windowsDynV6: {missing: true},
			windowsMaxUser: {"5500", "5500", true, false}, windowsTimedWait: {"30", "30", true, false}, windowsKeepAlive: absent,
		}, []int{135, 445, 3389, 5985, 5986}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			f := windowsFacts(t, tt.fixture)
			if f.OS != Windows || f.Version != tt.version || f.BootID != tt.boot {
				t.Errorf("os %q version %q boot %q; want windows %q %q", f.OS, f.Version, f.BootID, tt.version, tt.boot)
			}
			for name, want := range tt.knobs {
				k := f.Knobs[name]
				got := knob{k.Live, k.AtBoot, k.AtBootSet, k.Missing}
				if got != want {
					t.Errorf("%s = %+v, want %+v", name, got, want)
				}
			}
			if !reflect.DeepEqual(f.Listening, tt.listening) || f.TimeWait != tt.timeWait {
				t.Errorf("listening %v TIME_WAIT %d; want %v %d", f.Listening, f.TimeWait, tt.listening, tt.timeWait)
			}
		})
	}
}

// The gather filters netstat on the host and counts TIME_WAIT apart; an
// output from before the filter (netstat -ano whole, no count) still reads,
// its rows counted, and a count that is not one is unknown, not an error.
func TestParseWindowsFactsTimeWaitCount(t *testing.T) {
	def := readWindowsFixture(t, "gather-2019-default.txt")
	i, j := strings.Index(def, "@@fleettune@@ netstat \r\n"), strings.Index(def, "@@fleettune@@ excluded \r\n")
	if i < 0 || j < i || !strings.Contains(def[i:j], "@@fleettune@@ timewait \r\n3\r\n") || strings.Contains(def[i:j], "TIME_WAIT") {
		t.Fatalf("fixture's netstat sections are not the filtered table and the count:\n%s", def[i:j])
	}
	whole := def[:i] + "@@fleettune@@ netstat \r\n" + readWindowsFixture(t, "netstat-ano-2019.txt") + def[j:]
	for _, tt := range []struct {
		name, out string
		want      int
	}{
		{"filtered", def, 3},
		{"whole netstat, no count", whole, 3},
		{"zero", strings.Replace(def, "timewait \r\n3\r\n", "timewait \r\n0\r\n", 1), 0},
		{"another find", strings.Replace(def, "timewait \r\n3\r\n", "timewait \r\nfind: '/C': No such file or directory\r\nfind: 'TIME_WAIT': No such file or directory\r\n", 1), -1},
		{"too long", strings.Replace(def, "timewait \r\n3\r\n", "timewait \r\n12345678901\r\n", 1), -1},
	} {
		f, err := ParseWindowsFacts(tt.out)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if f.TimeWait != tt.want || !reflect.DeepEqual(f.Listening, []int{135, 445, 3389, 5985, 5986, 49664}) {
			t.Errorf("%s: TIME_WAIT %d listening %v; want %d", tt.name, f.TimeWait, f.Listening, tt.want)
		}
	}
}

func TestParseWindowsFactsErrors(t *testing.T) {
	def := readWindowsFixture(t, "gather-2019-default.txt")
	legacy := readWindowsFixture(t, "gather-2003-default.txt")
	netsh := "\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\nStart Port      : 49152\r\nNumber of Ports : 16384\r\n\r\n"
	tests := []struct {
		name, out string
		want      []string
	}{
		{"cut short", def[:strings.Index(def, "@@fleettune@@ netstat")], []string{`no section "netstat"`}},
		{"netsh fails on 2019", strings.Replace(def, netsh, "The following command was not found: int ipv4 show dynamicport tcp.\r\n@@fleettune@@ failed netsh ipv4 \r\n", 1),
			[]string{"netsh int ipv4 dynamicport tcp", "The following command was not found"}},
		{"netsh works on 2003", strings.Replace(legacy, "The following command was not found: int ipv4 show dynamicport tcp.\r\n@@fleettune@@ failed netsh ipv4 \r\n", netsh, 1),
			[]string{"5.2.3790", "dynamicport"}},
		{"no wmic", strings.Replace(def, "LastBootUpTime             \r\r\n20261101060000.000000+000  \r\r\n\r\r\n",
			"'wmic' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n@@fleettune@@ failed boot \r\n", 1),
			[]string{"read boot time", "'wmic' is not recognized", "WMIC"}},
		{"registry access denied", strings.Replace(def, "@@fleettune@@ reg TcpTimedWaitDelay \r\nERROR: The system was unable to find the specified registry key or value.\r\n",
			"@@fleettune@@ reg TcpTimedWaitDelay \r\nERROR: Access is denied.\r\n", 1), []string{"TcpTimedWaitDelay", "Access is denied"}},
		{"not REG_DWORD", strings.Replace(readWindowsFixture(t, "gather-2019-converged.txt"), "TcpTimedWaitDelay    REG_DWORD    0x1e", "TcpTimedWaitDelay    REG_SZ    30", 1),
			[]string{"TcpTimedWaitDelay", "REG_DWORD"}},
		{"localised netstat", strings.ReplaceAll(def, "LISTENING", "ABHÖREN"), []string{"netstat -ano", "LISTENING"}},
		// netstat's own error passes findstr, which then succeeds.
		{"netstat fails", def[:strings.Index(def, "@@fleettune@@ netstat")] + "@@fleettune@@ netstat \r\nThe requested operation requires elevation.\r\n" + def[strings.Index(def, "@@fleettune@@ timewait"):],
			[]string{"netstat -ano", "no TCP LISTENING rows", "requires elevation"}},
		{"ver garbled", strings.Replace(def, "Microsoft Windows [Version 10.0.17763.1234]", "Microsoft Windows", 1), []string{"read version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWindowsFacts(tt.out)
			if err == nil {
				t.Fatal("parsed; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWindowsParsers(t *testing.T) {
	// netsh: labels are localised, so the numbers are taken by order.
	for _, tt := range []struct {
		name, out  string
		start, num int
	}{
		{"fixture", readWindowsFixture(t, "netsh-show-dynamicport.txt"), 49152, 16384},
		{"french", "\r\nPlage de ports dynamique du protocole tcp\r\n---------------------------------\r\nPort de démarrage   : 49152\r\nNombre de ports     : 16384\r\n\r\n", 49152, 16384},
		{"chinese", "\r\n协议 tcp 动态端口范围\r\n---------------------------------\r\n起始端口        : 10000\r\n端口数          : 55536\r\n\r\n", 10000, 55536},
	} {
		s, n, err := parseNetshDynamicPort(tt.out)
		if err != nil || s != tt.start || n != tt.num {
			t.Errorf("%s: %d %d %v; want %d %d", tt.name, s, n, err, tt.start, tt.num)
		}
	}
	if _, _, err := parseNetshDynamicPort(readWindowsFixture(t, "netsh-2003-not-found.txt")); err == nil {
		t.Error("netsh's error parsed as a range")
	}
	// reg query, both generations; the missing value prints no value line.
	for _, tt := range []struct {
		fixture string
		want    []regValue
	}{
		{"reg-query-2019.txt", []regValue{{"TcpTimedWaitDelay", "REG_DWORD", "0x1e"}}},
		{"reg-query-2003.txt", []regValue{{"MaxUserPort", "REG_DWORD", "0xfffe"}}},
		{"reg-query-missing.txt", nil},
	} {
		if got := parseRegQuery(readWindowsFixture(t, tt.fixture)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.fixture, got, tt.want)
		}
	}
	if n, err := parseRegDword("0xfffe"); err != nil || n != 65534 {
		t.Errorf("parseRegDword(0xfffe) = %d, %v", n, err)
	}
	if _, err := parseRegDword("30"); err == nil {
		t.Error("reg query's DWORD is always hex; a bare number must not parse")
	}
	if b, err := parseWindowsBoot(readWindowsFixture(t, "wmic-lastbootuptime.txt")); err != nil || b != "20261101060000.000000+000" {
		t.Errorf("wmic: %q, %v", b, err)
	}
	if b, err := parseWindowsBoot("Please wait while WMIC is being installed.\r\nLastBootUpTime\r\r\n20231027083000.123456+060\r\r\n\r\r\n"); err != nil || b != "20231027073000.000000+000" {
		t.Errorf("wmic on 2003's first run: %q, %v (want the boot id in UTC, to the minute)", b, err)
	}
	// The same boot read a second apart, or across a daylight-saving
	// change, has the same boot id.
	for _, v := range []string{"20231027083000.123456+060", "20231027083001.123456+060", "20231027093000.123456+120"} {
		if b, err := parseWindowsBoot("LastBootUpTime\r\r\n" + v + "\r\r\n"); err != nil || b != "20231027073000.000000+000" {
			t.Errorf("wmic printed %s: boot id %q, %v", v, b, err)
		}
	}
	l, tw, err := parseWindowsNetstat(readWindowsFixture(t, "netstat-ano-2019.txt"))
	if err != nil || !reflect.DeepEqual(l, []int{135, 445, 3389, 5985, 5986, 49664}) || tw != 3 {
		t.Errorf("netstat 2019: %v %d %v", l, tw, err)
	}
	if _, _, err := parseWindowsNetstat("  TCP    0.0.0.0:x    0.0.0.0:0    LISTENING    4\r\n"); err == nil {
		t.Error("a LISTENING row without a port parsed")
	}
}

func winRange(lo, hi int) *PortRange        { return &PortRange{lo, hi} }
func winDur(d time.Duration) *time.Duration { return &d }

func TestWindowsPropose2019(t *testing.T) {
	d := windowsDrv()
	g := Guardrails{}
	tgt := Targets{EphemeralPorts: winRange(20000, 44999), TimeWait: winDur(30 * time.Second), KeepaliveTime: winDur(5 * time.Minute)}

	p := d.Propose(windowsFacts(t, "gather-2019-default.txt"), tgt, g)
	if len(p.Changes) != 3 {
		t.Fatalf("changes %+v", p.Changes)
	}
	eph, tw, ka := p.Changes[0], p.Changes[1], p.Changes[2]
	if eph.Current != "49152-65535" || eph.Target != "20000-44999" || eph.RebootRequired || eph.Refused != "" ||
		!reflect.DeepEqual(eph.Commands, []string{"netsh int ipv4 set dynamicport tcp start=20000 num=25000", "netsh int ipv6 set dynamicport tcp start=20000 num=25000"}) {
		t.Errorf("ephemeral_ports: %+v", eph)
	}
	wantTW := []string{
		`reg add "HKLM\SOFTWARE\fleettune\PendingReboot" /v TcpTimedWaitDelay /t REG_SZ /d "20261101060000.000000+000 default" /f`,
		`reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f`,
	}
	if tw.Current != "4m0s (default, not set: 240s per Microsoft's port-exhaustion page; KB 314053 (XP/2003) says 120s)" || tw.Target != "30s" || !tw.RebootRequired || tw.RebootReason == "" || tw.Pending() ||
		!reflect.DeepEqual(tw.Commands, wantTW) || !strings.Contains(tw.Persist, "TcpTimedWaitDelay = 30") {
		t.Errorf("time_wait: %+v", tw)
	}
	if ka.Current != "2h0m0s (default, not set)" || ka.Target != "5m0s" || !ka.RebootRequired ||
		!strings.HasSuffix(ka.Commands[1], "/v KeepAliveTime /t REG_DWORD /d 300000 /f") {
		t.Errorf("keepalive_time: %+v", ka)
	}

	// Applied, not rebooted: the range is done; the registry values wait.
	p = d.Propose(windowsFacts(t, "gather-2019-pending.txt"), tgt, g)
	if len(p.Changes) != 2 {
		t.Fatalf("pending: changes %+v", p.Changes)
	}
	for _, c := range p.Changes {
		if !c.Pending() || c.AtBoot == "" || !strings.Contains(c.Current, "(default, not set") {
			t.Errorf("pending: %+v, want Pending with drift shown", c)
		}
	}
	if p.Changes[0].AtBoot != "30s" || p.Changes[1].AtBoot != "5m0s" {
		t.Errorf("pending: at boot %q, %q", p.Changes[0].AtBoot, p.Changes[1].AtBoot)
	}

	// After the reboot: nothing to do.
	if p = d.Propose(windowsFacts(t, "gather-2019-converged.txt"), tgt, g); len(p.Changes) != 0 {
		t.Errorf("converged: %+v", p.Changes)
	}
	// A different target on the pending host is a change again, not Pending.
	p = d.Propose(windowsFacts(t, "gather-2019-pending.txt"), Targets{TimeWait: winDur(60 * time.Second)}, g)
	if len(p.Changes) != 1 || p.Changes[0].Pending() || len(p.Changes[0].Commands) != 2 {
		t.Errorf("pending, new target: %+v", p.Changes)
	}
	// The value the record says is in force is what is recorded again, with
	// this boot's id: UTC, to the minute, whatever second wmic showed.
	if !strings.Contains(p.Changes[0].Commands[0], `/d "20261101060000.000000+000 default"`) {
		t.Errorf("record: %q", p.Changes[0].Commands[0])
	}
}

func TestWindowsPropose2003(t *testing.T) {
	d := windowsDrv()
	g := Guardrails{}
	f := windowsFacts(t, "gather-2003-default.txt")
	p := d.Propose(f, Targets{EphemeralPorts: winRange(1025, 5500), TimeWait: winDur(30 * time.Second)}, g)
	if len(p.Changes) != 2 {
		t.Fatalf("changes %+v", p.Changes)
	}
	// 3389 is inside 2003's fixed-low-end default range already: reported
	// exempt, for the planner to note rather than refuse.
	if want := []ExemptPorts{{Reason: ExemptInRange, Ports: []int{3389}, Within: &PortRange{1025, 5000}}}; !reflect.DeepEqual(f.Exempt, want) {
		t.Errorf("exempt %+v, want %+v", f.Exempt, want)
	}
	eph := p.Changes[0]
	if eph.Current != "1025-5000 (default, not set)" || !eph.RebootRequired || eph.Refused != "" ||
		!strings.HasSuffix(eph.Commands[1], `/v MaxUserPort /t REG_DWORD /d 5500 /f`) || !strings.Contains(eph.Knob, "MaxUserPort") {
		t.Errorf("ephemeral_ports: %+v", eph)
	}
	if tw := p.Changes[1]; tw.Current != "2m0s (default, not set: 120s per KB 314053 for XP/2003; other Microsoft pages say 240s)" {
		t.Errorf("time_wait on 2003: %+v (default 120 s, KB 314053)", tw)
	}
	pending := windowsFacts(t, "gather-2003-pending.txt")
	p = d.Propose(pending, Targets{EphemeralPorts: winRange(1025, 5500), TimeWait: winDur(30 * time.Second)}, g)
	if len(p.Changes) != 2 || !p.Changes[0].Pending() || !p.Changes[1].Pending() || p.Changes[0].AtBoot != "1025-5500" {
		t.Errorf("pending: %+v", p.Changes)
	}
	if p = d.Propose(windowsFacts(t, "gather-2003-converged.txt"), Targets{EphemeralPorts: winRange(1025, 5500)}, g); len(p.Changes) != 0 {
		t.Errorf("converged: %+v", p.Changes)
	}
}

func TestWindowsGuardrails(t *testing.T) {
	d := windowsDrv()
	g := Guardrails{}
	modern := windowsFacts(t, "gather-2019-default.txt")
	legacy := windowsFacts(t, "gather-2003-default.txt")
	tests := []struct {
		name    string
		f       *Facts
		t       Targets
		g       Guardrails
		refused string
	}{
		{"start below 1025", modern, Targets{EphemeralPorts: winRange(1024, 2000)}, Guardrails{}, "below 1025"},
		{"fewer than 255 ports", modern, Targets{EphemeralPorts: winRange(20000, 20253)}, g, "at least 255"},
		{"2003: low end fixed", legacy, Targets{EphemeralPorts: winRange(10240, 20000)}, Guardrails{}, "use 1025-20000"},
		{"2003: MaxUserPort too high", legacy, Targets{EphemeralPorts: winRange(1025, 65535)}, Guardrails{}, "between 5000 and 65534"},
		{"2003: MaxUserPort too low", legacy, Targets{EphemeralPorts: winRange(1025, 4000)}, Guardrails{}, "between 5000 and 65534"},
		{"time_wait below 30s", modern, Targets{TimeWait: winDur(20 * time.Second)}, g, "between 30s and 5m0s"},
		{"time_wait above 300s", modern, Targets{TimeWait: winDur(301 * time.Second)}, g, "between 30s and 5m0s"},
		{"time_wait not whole seconds", modern, Targets{TimeWait: winDur(30500 * time.Millisecond)}, g, "whole seconds"},
		{"keepalive not whole ms", modern, Targets{KeepaliveTime: winDur(1500 * time.Microsecond)}, g, "whole milliseconds"},
		{"native knob", modern, Targets{Native: map[string]string{"StrictTimeWaitSeqCheck": "1"}}, g, "windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := d.Propose(tt.f, tt.t, tt.g)
			if len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Refused, tt.refused) {
				t.Fatalf("changes %+v; want one refused mentioning %q", p.Changes, tt.refused)
			}
			if _, err := d.ApplyCommands(tt.f, p.Changes); err == nil {
				t.Error("ApplyCommands accepted a refused change")
			}
		})
	}
	// A range over listeners is the planner's to refuse, not the driver's.
	if p := d.Propose(modern, Targets{EphemeralPorts: winRange(10240, 65535)}, Guardrails{}); len(p.Changes) != 1 || p.Changes[0].Refused != "" {
		t.Errorf("without protect_listening_ports: %+v", p.Changes)
	}
	// 2008+: a MaxUserPort in the registry is flagged as a conflict.
	f := windowsFacts(t, "gather-2019-default.txt")
	k := f.Knobs[windowsMaxUser]
	k.AtBoot, k.AtBootSet, k.Live = "65534", true, "65534"
	f.Knobs[windowsMaxUser] = k
	p := d.Propose(f, Targets{EphemeralPorts: winRange(20000, 44999)}, g)
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "conflict") || !strings.Contains(p.Notes[0], "MaxUserPort") {
		t.Errorf("notes %q; want the MaxUserPort conflict", p.Notes)
	}
}

// Apply, then restore: the reg delete for a value that was absent, and
// Differences that mark what only a reboot clears.
func TestWindowsApplyRestore(t *testing.T) {
	d := windowsDrv()
	g := Guardrails{}
	tgt := Targets{EphemeralPorts: winRange(20000, 44999), TimeWait: winDur(30 * time.Second), KeepaliveTime: winDur(5 * time.Minute)}
	before := windowsFacts(t, "gather-2019-default.txt")
	p := d.Propose(before, tgt, g)
	snap := d.Snapshot(before, p.Changes)
	wantSnap := map[string]KnobState{
		windowsDynV4:     {Live: "start=49152 num=16384", AtBoot: "start=49152 num=16384", AtBootSet: true},
		windowsDynV6:     {Live: "start=49152 num=16384", AtBoot: "start=49152 num=16384", AtBootSet: true},
		windowsTimedWait: {Live: "default"},
		windowsKeepAlive: {Live: "default"},
	}
	if !reflect.DeepEqual(snap.Knobs, wantSnap) {
		t.Fatalf("snapshot %+v", snap.Knobs)
	}
	cmds, err := d.ApplyCommands(before, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range p.Changes {
		want = append(want, c.Commands...)
	}
	if !reflect.DeepEqual(cmds, want) || len(cmds) != 6 {
		t.Errorf("apply commands %q, want the plan's %q", cmds, want)
	}
	// Nothing to restore on the untouched host.
	if r, err := d.RestoreCommands(before, snap); err != nil || len(r) != 0 {
		t.Errorf("restore on the host as it was: %q, %v", r, err)
	}
	if diff := d.Differences(before, snap); len(diff) != 0 {
		t.Errorf("differences on the host as it was: %q", diff)
	}

	// Applied and rebooted.
	after := windowsFacts(t, "gather-2019-converged.txt")
	diff := d.Differences(after, snap)
	if pending, other := SplitAwaitingReboot(diff); len(pending) != 0 || len(other) != 6 {
		t.Errorf("differences after apply: %q", diff)
	}
	restore, err := d.RestoreCommands(after, snap)
	if err != nil {
		t.Fatal(err)
	}
	wantRestore := []string{
		`reg add "HKLM\SOFTWARE\fleettune\PendingReboot" /v KeepAliveTime /t REG_SZ /d "20261102073000.000000+000 300000" /f`,
		`reg delete "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v KeepAliveTime /f`,
		`reg add "HKLM\SOFTWARE\fleettune\PendingReboot" /v TcpTimedWaitDelay /t REG_SZ /d "20261102073000.000000+000 30" /f`,
		`reg delete "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /f`,
		"netsh int ipv4 set dynamicport tcp start=49152 num=16384",
		"netsh int ipv6 set dynamicport tcp start=49152 num=16384",
	}
	if !reflect.DeepEqual(restore, wantRestore) {
		t.Errorf("restore:\n%q\nwant\n%q", restore, wantRestore)
	}

	// Restored, not rebooted: the registry values are gone again, the values
	// in force are still the targets; only the reboot clears that.
	restored := windowsFacts(t, "gather-2019-converged.txt")
	for _, k := range []string{windowsTimedWait, windowsKeepAlive} {
		kn := restored.Knobs[k]
		kn.AtBoot, kn.AtBootSet = "", false
		restored.Knobs[k] = kn
	}
	for _, k := range []string{windowsDynV4, windowsDynV6} {
		restored.Knobs[k] = before.Knobs[k]
	}
	diff = d.Differences(restored, snap)
	pending, other := SplitAwaitingReboot(diff)
	if len(other) != 0 || len(pending) != 2 || !strings.Contains(pending[1], "TcpTimedWaitDelay in force is 30s, was 4m0s (default)") {
		t.Errorf("differences after restore: pending %q other %q", pending, other)
	}
	if r, err := d.RestoreCommands(restored, snap); err != nil || len(r) != 0 {
		t.Errorf("a second restore runs %q, %v; nothing but a reboot helps", r, err)
	}
	// Rebooted: the records are stale, the registry (absent) is in force.
	for _, k := range []string{windowsTimedWait, windowsKeepAlive} {
		kn := restored.Knobs[k]
		kn.Live = windowsDefault
		restored.Knobs[k] = kn
	}
	if diff := d.Differences(restored, snap); len(diff) != 0 {
		t.Errorf("differences after the reboot: %q", diff)
	}
}

func TestWindowsRestoreOldValue(t *testing.T) {
	// A value that was set before fleettune is written back, not deleted.
	d := windowsDrv()
	snap := Snapshot{Knobs: map[string]KnobState{windowsTimedWait: {Live: "60", AtBoot: "60", AtBootSet: true}}}
	f := windowsFacts(t, "gather-2019-converged.txt")
	cmds, err := d.RestoreCommands(f, snap)
	if err != nil || len(cmds) != 2 || cmds[1] != `reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /t REG_DWORD /d 60 /f` {
		t.Errorf("restore: %q, %v", cmds, err)
	}
	if _, err := d.RestoreCommands(f, Snapshot{Knobs: map[string]KnobState{"StrictTimeWaitSeqCheck": {Live: "1"}}}); err == nil {
		t.Error("restore of an unmanaged knob accepted")
	}
	// A boot time that is not a CIM datetime never reaches a command line.
	f.BootID = `x" & del C:\ & "`
	if _, err := d.RestoreCommands(f, snap); err == nil {
		t.Error("restore with a strange boot time accepted")
	}
}

func TestWindowsGather(t *testing.T) {
	out := readWindowsFixture(t, "gather-2019-default.txt")
	r := &fakeRunner{res: remote.Result{Stdout: []byte(out)}}
	f, err := windowsDrv().Gather(context.Background(), r, nil)
	if err != nil || f.Version != "10.0.17763" {
		t.Fatalf("gather: %+v, %v", f, err)
	}
	if len(r.cmds) != 1 || r.cmds[0] != WindowsGatherCommand() {
		t.Errorf("ran %q", r.cmds)
	}
	errDown := errors.New("winrm: connection refused")
	if _, err := windowsDrv().Gather(context.Background(), &fakeRunner{err: errDown}, nil); !errors.Is(err, errDown) {
		t.Errorf("transport error: %v", err)
	}
	if _, err := windowsDrv().Gather(context.Background(), &fakeRunner{res: remote.Result{ExitCode: 1, Stderr: []byte("sh: syntax error\n")}}, nil); err == nil || !strings.Contains(err.Error(), "sh: syntax error") {
		t.Errorf("not cmd.exe: %v", err)
	}
	d, err := For(Windows)
	if err != nil || d.OS() != Windows {
		t.Fatalf("For(windows) = %v, %v", d, err)
	}
	if _, ok := d.(Applier); !ok {
		t.Error("the Windows driver is not an Applier")
	}
}

// LastBootUpTime moves without a reboot: a second between reads, an hour of
// local time across a daylight-saving change. Only a real reboot is a new
// boot.
func TestWindowsSameBoot(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"20261101060000.000000+000", "20261101060000.000000+000", true},
		{"20261101060000.000000+000", "20261101060001.000000+000", true},  // jitter
		{"20261101070000.500000+060", "20261101080000.500000+120", true},  // daylight saving
		{"20261101010000.000000-300", "20261101060000.000000+000", true},  // same instant, another zone
		{"20261101060000.000000+000", "20261101070000.000000+000", true},  // a VM's clock set an hour on: the same boot (see windowsSameBoot)
		{"20261101070001.000000+060", "20261101060000.000000+060", true},  // and back, with jitter
		{"20261101060000.000000+000", "20261101080000.000000+000", false}, // a reboot two hours later
		{"20261101060000.000000+000", "20261101070300.000000+000", false}, // an hour and three minutes
		{"20261101060000.000000+000", "20261101060500.000000+000", false},
		{"20261101060000.000000+000", "Nov  1 06:00", false},
		{"", "", false},
	} {
		if got := windowsSameBoot(tc.a, tc.b); got != tc.same {
			t.Errorf("windowsSameBoot(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
		if got := SameBoot(Windows, tc.a, tc.b); got != tc.same {
			t.Errorf("SameBoot(windows, %q, %q) = %v", tc.a, tc.b, got)
		}
	}
	if !SameBoot(Linux, "x", "x") || SameBoot(Linux, "x", "y") {
		t.Error("SameBoot on Linux is not equality")
	}
}

func TestParseWindowsTCPStats(t *testing.T) {
	c, err := ParseWindowsTCPStats(readWindowsFixture(t, "netstat-s-p-tcp.txt"))
	if err != nil || c["Tcp.FailedConnectionAttempts"] != 212 || c["Tcp.ResetConnections"] != 96 || c["Tcp.ActiveOpens"] != 48213 || c["Tcp.SegmentsRetransmitted"] != 1422 || len(c) != 8 {
		t.Errorf("fixture: %v, %v", c, err)
	}
	// A German Windows: labels localised, read by position.
	de := "\r\nTCP-Statistik für IPv4\r\n\r\n  Aktive Öffnungen                    = 5\r\n  Passive Öffnungen                   = 6\r\n  Fehlgeschlagene Verbindungsversuche = 7\r\n  Zurückgesetzte Verbindungen         = 8\r\n  Aktuelle Verbindungen               = 1\r\n  Empfangene Segmente                 = 10\r\n  Gesendete Segmente                  = 11\r\n  Erneut übertragene Segmente         = 0\r\n"
	if c, err := ParseWindowsTCPStats(de); err != nil || c["Tcp.FailedConnectionAttempts"] != 7 || c["Tcp.ResetConnections"] != 8 {
		t.Errorf("German: %v, %v", c, err)
	}
	fix := readWindowsFixture(t, "netstat-s-p-tcp.txt")
	for _, tc := range []struct{ name, out, want string }{
		{"empty", "", `0 "label = number" lines`},
		{"cut short", strings.SplitAfter(fix, "Reset Connections")[0], `3 "label = number" lines`},
		{"renamed", strings.Replace(fix, "Reset Connections  ", "Resets             ", 1), `line 7: expected "Reset Connections", got "Resets"`},
		{"not a count", strings.Replace(fix, "= 96", "= lots", 1), `line 7: Reset Connections = "lots" is not a count`},
		{"huge", strings.Repeat("x", maxCounterOutput+1), "more than"},
	} {
		if _, err := ParseWindowsTCPStats(tc.out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	d := windowsDrv()
	if !d.Capabilities().Counters || d.Thresholds()["Tcp.FailedConnectionAttempts"] != 50 || d.Thresholds()["Tcp.ResetConnections"] != 50 {
		t.Errorf("capabilities %+v thresholds %v", d.Capabilities(), d.Thresholds())
	}
}

func TestParseWindowsExcluded(t *testing.T) {
	out := "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n      5357        5357\r\n     50000       50059     *\r\n\r\n* - Administered port exclusions.\r\n\r\n"
	ex, err := parseWindowsExcluded(out)
	if err != nil || !reflect.DeepEqual(ex, []PortRange{{5357, 5357}, {50000, 50059}}) {
		t.Errorf("%v, %v", ex, err)
	}
	if ex, err := parseWindowsExcluded("\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n\r\n"); err != nil || len(ex) != 0 {
		t.Errorf("none: %v, %v", ex, err)
	}
	for _, bad := range []string{"", "no table\r\n", "----\r\n 5000\r\n", "----\r\n 6000 5000\r\n", "----\r\n 1 70000\r\n", "----\r\n 1 2 x\r\n"} {
		if _, err := parseWindowsExcluded(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	f := &Facts{Knobs: map[string]Knob{WindowsExcludedKnob: {Live: "5357-5357,50000-50059"}}}
	if n, r := windowsExcludedIn(f, PortRange{49152, 65535}); n != 60 || !reflect.DeepEqual(r, []string{"50000-50059"}) {
		t.Errorf("excluded in 49152-65535: %d %v", n, r)
	}
}

func TestParseWevtutilText(t *testing.T) {
	fx := readWindowsFixture(t, "wevtutil-tcpip.txt")
	event := func(n, id int) string {
		return fmt.Sprintf("Event[%d]:\r\n  Log Name: System\r\n  Source: Tcpip\r\n  Date: 2026-11-02T13:30:00.000\r\n  Event ID: %d\r\n  Level: Warning\r\n  Description: \r\nEvent ID: 1 in the text\r\n\r\n", n, id)
	}
	for _, tc := range []struct {
		name, out string
		c4227     int64
		c4231     int64
		total     int
		err       string
	}{
		{name: "fixture", out: fx, c4227: 2, c4231: 1, total: 3},
		{name: "none since the boot", out: ""},
		{name: "a description that names an ID", out: event(0, 4227) + event(1, 4227), c4227: 2, total: 2},
		{name: "another event", out: event(0, 7036), err: `line 5: "Event ID: 7036" is not event 4227 or 4231`},
		{name: "not wevtutil", out: "ERROR: something\r\n", err: `line 1: expected "Event[N]:"`},
		{name: "an event without its ID", out: "Event[0]:\r\n  Log Name: System\r\n\r\n" + event(1, 4227), err: "before line 4 has no Event ID"},
		{name: "too much", out: strings.Repeat("x", windowsEventsMaxOutput+1), err: "more than the"},
	} {
		counts, total, err := ParseWevtutilText(tc.out)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || counts[4227] != tc.c4227 || counts[4231] != tc.c4231 || total != tc.total {
			t.Errorf("%s: %v %d %v, want 4227=%d 4231=%d total %d", tc.name, counts, total, err, tc.c4227, tc.c4231, tc.total)
		}
	}
}

// The events are counted since a minute before the boot, in UTC as the
// XPath's @SystemTime is, whatever the host's zone.
func TestWindowsEventsCommand(t *testing.T) {
	since := time.Date(2026, 11, 2, 8, 29, 0, 0, time.FixedZone("CET", 3600))
	want := `wevtutil qe System /q:"*[System[Provider[@Name='Tcpip'] and (EventID=4227 or EventID=4231) and TimeCreated[@SystemTime>='2026-11-02T07:29:00.000Z']]]" /c:1001 /rd:true /f:text`
	if got := WindowsEventsCommand(since); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// seqRunner answers the commands it is given in turn.
type seqRunner struct {
	res  []remote.Result
	cmds []string
}

func (r *seqRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.cmds = append(r.cmds, cmd)
	if len(r.res) == 0 {
		return remote.Result{ExitCode: 1, Stderr: []byte("no more answers\r\n")}, nil
	}
	res := r.res[0]
	r.res = r.res[1:]
	return res, nil
}

// Without wevtutil (Server 2003) the counters are netstat's alone, whether
// cmd says so in English or in another language (exit 9009); a wevtutil
// that fails otherwise fails the read.
func TestWindowsCountersWithoutWevtutil(t *testing.T) {
	stats := readWindowsFixture(t, "netstat-s-p-tcp.txt")
	boot := readWindowsFixture(t, "wmic-lastbootuptime.txt")
	for _, tc := range []struct {
		name   string
		events remote.Result
		err    string
		counts bool
	}{
		{"English", remote.Result{ExitCode: 1, Stderr: []byte("'wevtutil' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n")}, "", false},
		{"German", remote.Result{ExitCode: 9009, Stderr: []byte("Der Befehl \"wevtutil\" ist entweder falsch geschrieben oder\r\nkonnte nicht gefunden werden.\r\n")}, "", false},
		{"access denied", remote.Result{ExitCode: 5, Stderr: []byte("Failed to read events. Access is denied.\r\n")}, "read Tcpip events: wevtutil qe System: exit status 5: Failed to read events. Access is denied.", false},
		{"events", remote.Result{Stdout: []byte(readWindowsFixture(t, "wevtutil-tcpip.txt"))}, "", true},
	} {
		r := &seqRunner{res: []remote.Result{{Stdout: []byte(stats)}, {Stdout: []byte(boot)}, tc.events}}
		c, err := windowsDriver{}.Counters(context.Background(), r)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, has := c["Tcpip.Event4227"]
		if has != tc.counts || c["Tcp.ResetConnections"] == 0 || (tc.counts && (c["Tcpip.Event4227"] != 2 || c["Tcpip.Event4231"] != 1)) {
			t.Errorf("%s: counters %v", tc.name, c)
		}
	}
}

// Counting the most events the health check reads (1001, about 900 kB).
func BenchmarkParseWevtutilText(b *testing.B) {
	one := strings.SplitAfter(readWindowsFixture(&testing.T{}, "wevtutil-tcpip.txt"), "\r\n\r\n")[1]
	out := strings.Repeat(one, windowsEventsMax+1)
	b.SetBytes(int64(len(out)))
	for i := 0; i < b.N; i++ {
		if _, n, err := ParseWevtutilText(out); err != nil || n != windowsEventsMax+1 {
			b.Fatal(n, err)
		}
	}
}
