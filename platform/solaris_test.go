package platform

import (
	"context"
	"errors"
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
			// None of these hosts has fleettune's SMF service; the drift
			// one has fleettune's old rc script.
			rc, hasRC := f.Files[SolarisRCScript]
			if f.PersistedExists || hasRC != (tt.persisted != "") || !strings.HasSuffix(rc, tt.persisted) {
				t.Errorf("method script %v %q, rc script %v %q", f.PersistedExists, f.Persisted, hasRC, rc)
			}
			if _, ok := f.Files[SolarisService]; ok {
				t.Errorf("service state %q on a host without the service", f.Files[SolarisService])
			}
		})
	}
	if src := solarisFacts(t, "gather-5.10-drift.txt").Knobs["tcp_smallest_anon_port"].Source; src != SolarisRCScript+":3" {
		t.Errorf("source %q", src)
	}

	// Converged 5.10: the values come from the method script, because the
	// service is online; the manifest is the driver's.
	conv := solarisFacts(t, "gather-5.10-converged.txt")
	if !conv.PersistedExists || conv.Files[SolarisService] != "online" || conv.Files[SolarisManifest] != solarisManifestXML {
		t.Errorf("converged: method %v, service %q, manifest %d bytes", conv.PersistedExists, conv.Files[SolarisService], len(conv.Files[SolarisManifest]))
	}
	if k := conv.Knobs["tcp_time_wait_interval"]; k.AtBoot != "30000" || k.Source != SolarisMethodScript+":8" {
		t.Errorf("converged time_wait %+v", k)
	}
	// The same host with the service disabled: nothing applies at boot.
	disabled := strings.Replace(readSolarisFixture(t, "gather-5.10-converged.txt"), "@@fleettune@@ svcs\nonline\n", "@@fleettune@@ svcs\ndisabled\n", 1)
	f, err := ParseSolarisFacts(disabled)
	if err != nil {
		t.Fatal(err)
	}
	if k := f.Knobs["tcp_time_wait_interval"]; k.AtBootSet || f.Files[SolarisService] != "disabled" {
		t.Errorf("disabled service: %+v, state %q", k, f.Files[SolarisService])
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
		{"unreadable rc script", replaceOnce(t, readSolarisFixture(t, "gather-5.10-drift.txt"), "@@fleettune@@ endfile /etc/rc2.d/S70fleettune\n", ""), []string{"could not be read"}, nil},
		{"svcs error", replaceOnce(t, d10, "svcs: Pattern 'svc:/site/fleettune-ndd:default' doesn't match any instances\n", "svcs: Could not bind to repository server: repository server unavailable.  Exiting.\n"),
			[]string{"state of svc:/site/fleettune-ndd:default", "Could not bind"}, nil},
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

const solarisPersistPrefix = SolarisService + " (" + SolarisMethodScript + "): "

func TestSolarisPropose(t *testing.T) {
	d := solarisDriver{}
	protect := Guardrails{}
	all := Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute)}

	// Solaris 10 from defaults: ndd commands, the rc script, no reboot.
	p := d.Propose(solarisFacts(t, "gather-5.10-default.txt"), all, protect)
	want := []Change{
		{Setting: "ephemeral_ports", Knob: "tcp_smallest_anon_port,tcp_largest_anon_port", Current: "32768-65535", AtBoot: "Solaris default (not persisted)", Target: "10240-65535",
			Commands: []string{"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240"},
			Persist:  solarisPersistPrefix + "ndd -set /dev/tcp tcp_smallest_anon_port 10240; ndd -set /dev/tcp tcp_largest_anon_port 65535"},
		{Setting: "time_wait", Knob: "tcp_time_wait_interval", Current: "1m0s", AtBoot: "Solaris default (not persisted)", Target: "30s",
			Commands: []string{"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000"}, Persist: solarisPersistPrefix + "ndd -set /dev/tcp tcp_time_wait_interval 30000"},
		{Setting: "keepalive_time", Knob: "tcp_keepalive_interval", Current: "2h0m0s", AtBoot: "Solaris default (not persisted)", Target: "5m0s",
			Commands: []string{"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000"}, Persist: solarisPersistPrefix + "ndd -set /dev/tcp tcp_keepalive_interval 300000"},
	}
	if !reflect.DeepEqual(untyped(p.Changes), want) {
		t.Errorf("changes\n%+v\nwant\n%+v", p.Changes, want)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "not going below 60s") {
		t.Errorf("notes %q", p.Notes)
	}

	// Drift on 10: live range differs from the persisted one, which already
	// is the target; time_wait is converged; keepalive is only persisted.
	// Its values are in fleettune's old rc script, so time_wait, converged,
	// still moves to SMF: persistence only.
	p = d.Propose(solarisFacts(t, "gather-5.10-drift.txt"), Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30 * time.Second)}, protect)
	if len(p.Changes) != 2 || p.Changes[0].Current != "20000-65535" || p.Changes[0].AtBoot != "10240-65535" ||
		!reflect.DeepEqual(p.Changes[0].Commands, []string{"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240"}) {
		t.Errorf("drift: %+v", p.Changes)
	} else if c := p.Changes[1]; c.Knob != "tcp_time_wait_interval" || len(c.Commands) != 0 || c.Persist == "" || c.AtBoot != "" {
		t.Errorf("migration of a converged knob: %+v", c)
	}
	// Drift against the SMF service: live 20000, at next boot the method
	// script's 10240; the fix is the live value only, the service stays.
	p = d.Propose(solarisFacts(t, "gather-5.10-smf-drift.txt"), all, protect)
	if len(p.Changes) != 1 || p.Changes[0].Current != "20000-65535" || p.Changes[0].AtBoot != "10240-65535" {
		t.Errorf("SMF drift: %+v", p.Changes)
	} else if cmds, err := d.ApplyCommands(solarisFacts(t, "gather-5.10-smf-drift.txt"), p.Changes); err != nil ||
		!reflect.DeepEqual(cmds, []string{"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240"}) {
		t.Errorf("SMF drift commands %q, %v", cmds, err)
	}
	// A method script or manifest at fleettune's paths that fleettune did
	// not write is never overwritten: every change is refused.
	for _, tc := range []struct{ from, to string }{
		{"# Written by fleettune. The start method", "# Local tuning. The start method"},
		{"<!-- Written by fleettune.", "<!-- Local."},
	} {
		f, err := ParseSolarisFacts(replaceOnce(t, readSolarisFixture(t, "gather-5.10-smf-drift.txt"), tc.from, tc.to))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Propose(f, all, protect).Changes {
			if !strings.Contains(c.Refused, "was not written by fleettune; move it away") {
				t.Errorf("%s: %s refused %q", tc.to, c.Knob, c.Refused)
			}
		}
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

	// 10, drift host with fleettune's old rc script (which holds an
	// operator's line): ndd for the live low end and keepalive, then the
	// SMF service with every value, and the rc script keeping only the
	// operator's line.
	drift := solarisFacts(t, "gather-5.10-drift.txt")
	p := d.Propose(drift, all, Guardrails{})
	cmds, err := d.ApplyCommands(drift, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	method := solarisMethodHeader +
		"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240 &&\n/usr/sbin/ndd -set /dev/tcp tcp_largest_anon_port 65535 &&\n" +
		"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000 &&\n/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000\n"
	want := []string{
		"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 10240",
		"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000",
		solarisInstall(SolarisMethodScript, method),
		solarisInstall(SolarisManifest, solarisManifestXML),
		"/usr/sbin/svccfg import " + SolarisManifest,
		"/usr/sbin/svcadm enable -s " + SolarisService,
		solarisInstall(SolarisRCScript, solarisRCKeptHeader+"/usr/sbin/ndd -set /dev/tcp tcp_conn_req_max_q 1024\n"),
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands\n%q\nwant\n%q", cmds, want)
	}
	if !strings.HasPrefix(cmds[2], "mkdir -m 700 /lib/svc/method/.fleettune.d && printf '%s' '#!/sbin/sh") ||
		!strings.HasSuffix(cmds[2], " > /lib/svc/method/.fleettune.d/new && chmod 555 /lib/svc/method/.fleettune.d/new && chown root:bin /lib/svc/method/.fleettune.d/new && "+
			"mv -f /lib/svc/method/.fleettune.d/new /lib/svc/method/fleettune-ndd && rmdir /lib/svc/method/.fleettune.d") {
		t.Errorf("method install %q", cmds[2])
	}
	notes := strings.Join(p.Notes, "\n")
	if !strings.Contains(notes, "fleettune's old rc script") || !strings.Contains(notes, `S70fleettune:6 was not written by fleettune and is kept`) {
		t.Errorf("notes %q", p.Notes)
	}
	snap := d.Snapshot(drift, p.Changes)
	rc := drift.Files[SolarisRCScript]
	if c := snap.Files[SolarisRCScript]; c == nil || *c != rc {
		t.Errorf("rc script snapshot %v", c)
	}
	for _, k := range []string{SolarisMethodScript, SolarisManifest, SolarisService} {
		if c, tracked := snap.Files[k]; !tracked || c != nil {
			t.Errorf("snapshot of %s: tracked %t, %v; want recorded as absent", k, tracked, c)
		}
	}

	conv := solarisFacts(t, "gather-5.10-converged.txt")
	restore, err := d.RestoreCommands(conv, snap)
	if err != nil {
		t.Fatal(err)
	}
	wantRestore := []string{
		"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 7200000",
		"/usr/sbin/ndd -set /dev/tcp tcp_smallest_anon_port 20000",
		"/usr/sbin/svcadm disable -s " + SolarisService,
		"/usr/sbin/svccfg delete svc:/site/fleettune-ndd",
		solarisInstall(SolarisRCScript, rc),
		"rm -f " + SolarisMethodScript,
		"rm -f " + SolarisManifest,
	}
	if !reflect.DeepEqual(restore, wantRestore) {
		t.Errorf("restore\n%q\nwant\n%q", restore, wantRestore)
	}
	wantDiff := []string{
		"tcp_keepalive_interval is 300000, was 7200000",
		"tcp_smallest_anon_port is 10240, was 20000",
		SolarisRCScript + " is missing",
		SolarisMethodScript + " exists; there was none",
		SolarisManifest + " exists; there was none",
		SolarisService + " exists (online); there was none",
	}
	if diff := d.Differences(conv, snap); !reflect.DeepEqual(diff, wantDiff) {
		t.Errorf("differences %q", diff)
	}
	if r, _ := d.RestoreCommands(drift, snap); len(r) != 0 {
		t.Errorf("restore on unchanged host: %q", r)
	}
	// Restoring a host whose service existed (an earlier apply) and was
	// disabled since: the values back, the service enabled again.
	snapConv := d.Snapshot(conv, d.Propose(conv, Targets{TimeWait: dur(45 * time.Second)}, Guardrails{}).Changes)
	off, err := ParseSolarisFacts(strings.Replace(readSolarisFixture(t, "gather-5.10-converged.txt"), "@@fleettune@@ svcs\nonline\n", "@@fleettune@@ svcs\ndisabled\n", 1))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := d.RestoreCommands(off, snapConv); !reflect.DeepEqual(r, []string{"/usr/sbin/svcadm enable -s " + SolarisService}) {
		t.Errorf("restore of a disabled service %q", r)
	}
	// ... and one whose service went to maintenance: cleared, then enabled.
	maint, err := ParseSolarisFacts(strings.Replace(readSolarisFixture(t, "gather-5.10-converged.txt"), "@@fleettune@@ svcs\nonline\n", "@@fleettune@@ svcs\nmaintenance\n", 1))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := d.RestoreCommands(maint, snapConv); !reflect.DeepEqual(r, []string{"/usr/sbin/svcadm clear " + SolarisService, "/usr/sbin/svcadm enable -s " + SolarisService}) {
		t.Errorf("restore of a service in maintenance %q", r)
	}
	// A converged host whose service was disabled needs only the enable.
	p = d.Propose(off, all, Guardrails{})
	if len(p.Changes) != 3 || len(p.Changes[0].Commands) != 0 || !strings.Contains(strings.Join(p.Notes, "\n"), "is disabled, so") {
		t.Errorf("disabled service: %+v %q", p.Changes, p.Notes)
	}
	if cmds, _ := d.ApplyCommands(off, p.Changes); !reflect.DeepEqual(cmds, []string{"/usr/sbin/svcadm enable -s " + SolarisService}) {
		t.Errorf("re-enable %q", cmds)
	}
	// No service before: restore removes it and its files.
	def := solarisFacts(t, "gather-5.10-default.txt")
	snapDef := d.Snapshot(def, d.Propose(def, all, Guardrails{}).Changes)
	if c, tracked := snapDef.Files[SolarisMethodScript]; !tracked || c != nil {
		t.Errorf("snapshot of no file: %v %v", tracked, c)
	}
	r, _ := d.RestoreCommands(conv, snapDef)
	if r[len(r)-1] != "rm -f "+SolarisManifest {
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

// The install command, run by a real sh, leaves exactly the content with
// its mode, removes its private directory, and stops at mkdir when that
// directory (or a link planted in its place) exists.
func TestSolarisInstallByteExact(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "fleettune-ndd")
	owner := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	for _, content := range []string{
		solarisMethodContent(map[string]string{"tcp_smallest_anon_port": "10240"}),
		solarisManifestXML,
		"it's 100% \\n $HOME `id` \"q\"\nno newline",
		"",
	} {
		if out, err := exec.Command(sh, "-c", solarisInstallAs(target, "555", owner, content)).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		got, err := os.ReadFile(target)
		if err != nil || string(got) != content {
			t.Errorf("file holds %q, want %q (%v)", got, content, err)
		}
		if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o555 {
			t.Errorf("mode %v, %v", st.Mode(), err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%d entries, want only the file", len(entries))
		}
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, ".fleettune.d")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sh, "-c", solarisInstallAs(target, "555", owner, "evil")).CombinedOutput(); err == nil {
		t.Errorf("install went ahead past a planted link: %s", out)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
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
