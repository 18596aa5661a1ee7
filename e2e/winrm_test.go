package e2e

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/lab"
)

// The Windows playbook: 2003's range must start at 1025 (it is
// 1025..MaxUserPort) and end below its WinRM listeners at 5985-5986; 2019's stays
// below the RPC listener at 49664.
const windowsPlaybook = `name: windows-hygiene
targets:
  ephemeral_ports: 20000-44999
  time_wait: 30s
  keepalive_time: 5m
overrides:
  - when: {host: "win2003*"}
    targets: {ephemeral_ports: 1025-5500}
health: {watch: 0s, unchecked: allow}
rollout: {batch: 100%}
`

// regValue asks the emulated host for a Tcpip\Parameters value, as reg.exe
// would answer it.
func regValue(h *lab.Host, name string) string {
	out := h.Run(lab.WindowsAdmin, `reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v `+name)
	return strings.TrimSpace(out.Stdout + out.Stderr)
}

// Both Windows generations over WinRM (HTTPS, strict certificate checking,
// NTLM): plan, apply (the registry values await a reboot), status before
// and after the reboot, rollback — which deletes the values that were
// absent — and its own reboot.
func TestWinRMBothGenerations(t *testing.T) {
	l := startLab(t, []lab.Spec{{Name: "win2003", OS: "windows", Release: "5.2"}, {Name: "win2019", OS: "windows", Release: "10.0"}})
	setEnv(t, lab.PasswordEnv, l.Password())
	pb := writePlaybook(t, windowsPlaybook)
	for _, h := range l.Hosts() {
		if got := regValue(h, "TcpTimedWaitDelay"); !strings.Contains(got, "ERROR: The system was unable to find the specified registry key or value.") {
			t.Fatalf("%s starts with TcpTimedWaitDelay set: %q", h.Name, got)
		}
	}

	r := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	if r.code != 2 {
		t.Fatalf("plan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	first := decodePlan(t, r)
	for _, h := range first.Hosts {
		if h.OS != "windows" || h.Status != "changes" || !h.RebootRequired {
			t.Errorf("%s: %s %s reboot %v %s; want windows changes needing a reboot", h.Host, h.OS, h.Status, h.RebootRequired, h.Error)
		}
	}
	for _, name := range []string{"win2003", "win2019"} {
		if st, _ := l.WinRMStats(name); st.Creates != 1 || st.Deletes != 1 || st.Commands < 1 {
			t.Errorf("%s: %+v; want one shell for the whole plan", name, st)
		}
	}

	r = run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if d := decodeResult(t, r); d.Summary["applied"] != 2 || d.Summary["reboot_required"] != 2 {
		t.Errorf("apply summary %v; want 2 applied, both awaiting a reboot", d.Summary)
	}
	if got := regValue(l.Host("win2019"), "TcpTimedWaitDelay"); !strings.Contains(got, "0x1e") {
		t.Errorf("win2019 TcpTimedWaitDelay after apply: %q", got)
	}
	if got := regValue(l.Host("win2003"), "MaxUserPort"); !strings.Contains(got, "0x157c") {
		t.Errorf("win2003 MaxUserPort after apply: %q", got)
	}
	again := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	for _, h := range decodePlan(t, again).Hosts {
		if h.Status != "ok" || !h.RebootRequired {
			t.Errorf("%s before the reboot: %s, reboot %v; want ok and awaiting a reboot", h.Host, h.Status, h.RebootRequired)
		}
	}
	if again.code != 0 {
		t.Errorf("plan before the reboot: exit %d, want 0 (nothing left for fleettune to do)", again.code)
	}
	if st := run(t, "status"); strings.Count(st.stdout, "not rebooted yet") != 2 {
		t.Errorf("status before the reboot:\n%s%s", st.stdout, st.stderr)
	}
	for _, h := range l.Hosts() {
		h.Reboot()
	}
	if st := run(t, "status", "--format", "json"); strings.Count(st.stdout, `"state": "verified"`) != 2 {
		t.Errorf("status after the reboot:\n%s%s", st.stdout, st.stderr)
	}
	if st := run(t, "status"); !strings.Contains(st.stdout, "No host is awaiting a reboot.") {
		t.Errorf("the flags must be cleared:\n%s", st.stdout)
	}
	if r := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json"); r.code != 0 {
		t.Errorf("plan after the reboot: exit %d\n%s", r.code, r.stdout)
	}

	r = run(t, "rollback", "--last", "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if d := decodeResult(t, r); d.Summary["rolled_back"] != 2 {
		t.Errorf("rollback summary %v", d.Summary)
	}
	for _, h := range l.Hosts() {
		for _, v := range []string{"TcpTimedWaitDelay", "KeepAliveTime"} {
			if got := regValue(h, v); !strings.Contains(got, "unable to find") {
				t.Errorf("%s: %s after rollback: %q; it was absent, so it must be deleted", h.Name, v, got)
			}
		}
		h.Reboot()
	}
	if got := regValue(l.Host("win2003"), "MaxUserPort"); !strings.Contains(got, "unable to find") {
		t.Errorf("win2003 MaxUserPort after rollback: %q", got)
	}
	final := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	if got, want := changesOf(decodePlan(t, final)), changesOf(first); !reflect.DeepEqual(got, want) {
		t.Errorf("after rollback and reboot the plan differs from the first:\ngot  %v\nwant %v", got, want)
	}
}

// One host with a certificate from another CA, one with a wrong password,
// one healthy: each fault is one clear error for its host only.
func TestWinRMCertificateAndPasswordErrors(t *testing.T) {
	l := startLab(t, []lab.Spec{
		{Name: "win-ok", OS: "windows", Release: "10.0"},
		{Name: "win-badcert", OS: "windows", Release: "10.0"},
		{Name: "win-badpw", OS: "windows", Release: "10.0"},
	})
	setEnv(t, lab.PasswordEnv, l.Password())
	setEnv(t, "WRONG_PASSWORD", "not-the-password")
	must(t, l.SetBadCertificate("win-badcert", true))
	// win-badpw reads its password from another variable.
	inv, err := os.ReadFile(l.Inventory)
	must(t, err)
	text := string(inv)
	i := strings.Index(text, "  win-badpw:\n")
	j := i + strings.Index(text[i:], "password_env: "+lab.PasswordEnv)
	if i < 0 || j < i {
		t.Fatalf("inventory has no winrm block for win-badpw:\n%s", text)
	}
	text = text[:j] + "password_env: WRONG_PASSWORD" + text[j+len("password_env: "+lab.PasswordEnv):]
	must(t, os.WriteFile(l.Inventory, []byte(text), 0o644))

	r := run(t, "plan", "-i", l.Inventory, "-p", writePlaybook(t, windowsPlaybook), "--format", "json")
	if r.code != 1 {
		t.Fatalf("plan: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodePlan(t, r)
	for _, h := range d.Hosts {
		switch h.Host {
		case "win-ok":
			if h.Status != "changes" {
				t.Errorf("win-ok: %s %s", h.Status, h.Error)
			}
		case "win-badcert":
			if h.Status != "unreachable" || !strings.Contains(h.Error, "certificate") || !strings.Contains(h.Error, "ca_file") {
				t.Errorf("win-badcert: %s %q; want one error about the certificate, saying how to fix it", h.Status, h.Error)
			}
		case "win-badpw":
			if h.Status != "unreachable" || !strings.Contains(h.Error, "authentication failed for Administrator") || !strings.Contains(h.Error, "WRONG_PASSWORD") {
				t.Errorf("win-badpw: %s %q; want one authentication error naming the user and the variable", h.Status, h.Error)
			}
		}
		if strings.Count(h.Error, "\n") > 0 {
			t.Errorf("%s: the error spans lines: %q", h.Host, h.Error)
		}
	}
}

// Windows reached through OpenSSH (transport ssh, no os: in the inventory):
// detection falls back from uname to ver, and the same driver plans,
// applies and rolls back.
func TestWindowsOverOpenSSH(t *testing.T) {
	l := startLab(t, []lab.Spec{{Name: "win2019-ssh", OS: "windows", Release: "10.0", Transport: "ssh"}})
	pb := writePlaybook(t, windowsPlaybook)
	r := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	if r.code != 2 {
		t.Fatalf("plan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if h := decodePlan(t, r).Hosts[0]; h.OS != "windows" || h.Status != "changes" || !h.RebootRequired {
		t.Errorf("plan: %+v", h)
	}
	if st, ok := l.WinRMStats("win2019-ssh"); ok && st.Connections > 0 {
		t.Errorf("a WinRM connection to an SSH-only host: %+v", st)
	}
	if r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes"); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := regValue(l.Host("win2019-ssh"), "TcpTimedWaitDelay"); !strings.Contains(got, "0x1e") {
		t.Errorf("TcpTimedWaitDelay after apply: %q", got)
	}
	if r := run(t, "rollback", "--last", "--yes"); r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := regValue(l.Host("win2019-ssh"), "TcpTimedWaitDelay"); !strings.Contains(got, "unable to find") {
		t.Errorf("TcpTimedWaitDelay after rollback: %q; it was absent", got)
	}
}
