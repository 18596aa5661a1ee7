package e2e

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/lab"
	"github.com/fleettune/fleettune/platform"
)

// An AIX host in the pre-5.2 compatibility mode (sys0 pre520tune=enable),
// over real SSH: plan says so and shows no -o and the write of fleettune's
// block in /etc/rc.net; apply sets the values, the host reboots (the lab
// runs rc.net's no lines, nextboot is not applied) with nothing left to do;
// rollback --last gives rc.net back byte for byte.
func TestLabAIXCompatibilityMode(t *testing.T) {
	l := startLab(t, []lab.Spec{{Name: "aix-old", OS: "aix", Release: "7.2"}})
	h := l.Host("aix-old")
	if err := lab.AIXCompatibilityMode(h, true); err != nil {
		t.Fatal(err)
	}
	h.Reboot()
	before := labFiles(l)
	pb := writePlaybook(t, "name: compat\ntargets: {ephemeral_ports: 10240-65535, time_wait: 30s}\nhealth: {watch: 0s}\n")

	plan := run(t, "plan", "-i", l.Inventory, "-p", pb)
	t.Logf("plan:\n%s", plan.stdout)
	if plan.code != 2 || !strings.Contains(plan.stdout, "pre-5.2 compatibility mode") ||
		!strings.Contains(plan.stdout, "1. no -o tcp_ephemeral_low=10240") || !strings.Contains(plan.stdout, "cp -p "+platform.AIXRcNet+" ") ||
		strings.Contains(plan.stdout, ". no -p -o ") {
		t.Fatalf("plan: exit %d\n%s%s", plan.code, plan.stdout, plan.stderr)
	}
	if r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes"); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	h.Lock()
	rcnet, nextboot := h.Files[platform.AIXRcNet], h.Files[platform.AIXNextboot]
	h.Unlock()
	if !strings.Contains(rcnet, "\n/usr/sbin/no -o tcp_timewait=2\n# END fleettune\n") || nextboot != before["aix-old"][platform.AIXNextboot] {
		t.Errorf("after apply: rc.net\n%s\nnextboot changed: %t", rcnet, nextboot != before["aix-old"][platform.AIXNextboot])
	}
	h.Reboot()
	if r := run(t, "plan", "-i", l.Inventory, "-p", pb); r.code != 0 {
		t.Errorf("plan after the reboot: exit %d\n%s", r.code, r.stdout)
	}
	rb := run(t, "rollback", "--last", "--yes")
	t.Logf("rollback:\n%s", rb.stdout)
	if rb.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", rb.code, rb.stdout, rb.stderr)
	}
	if got := labFiles(l); !reflect.DeepEqual(got, before) {
		t.Errorf("files differ after rollback:\n%s", got["aix-old"][platform.AIXRcNet])
	}
	if r := run(t, "plan", "-i", l.Inventory, "-p", pb); r.code != 2 {
		t.Errorf("plan after the rollback: exit %d, want the changes pending again\n%s", r.code, r.stdout)
	}
}

// A Windows host whose failures show only in the System log (Tcpip event
// 4227: connections refused before a segment leaves, so netstat's counters
// stay flat) fails the canary's health check through the real WinRM
// transport, and is rolled back.
func TestLabWindowsTcpipEventsRollBackCanary(t *testing.T) {
	l := startLab(t, []lab.Spec{{Name: "win2019", OS: "windows", Release: "10.0"}})
	setEnv(t, lab.PasswordEnv, l.Password())
	h := l.Host("win2019")
	if err := lab.WindowsEventOnlyFailures(h, true); err != nil {
		t.Fatal(err)
	}
	h.Lock()
	h.Faults.HandshakeFailures, h.BaselineTimeWait = true, 1<<62 // failing from the start
	h.Unlock()
	pb := writePlaybook(t, "name: range\ntargets: {ephemeral_ports: 20000-44999}\nrollout: {batch: 1}\nhealth: {watch: 0s, rollback: auto}\n")
	r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3 (unhealthy, rolled back)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	if got := d.status("win2019"); !strings.HasPrefix(got, "rolled_back") {
		t.Errorf("win2019 = %s", got)
	}
	details := strings.Join(d.Batches[0].Details, "\n")
	if !strings.Contains(details, "Tcpip.Event4227 +") || strings.Contains(details, "Tcp.FailedConnectionAttempts") {
		t.Errorf("details %q; want the 4227 events, and only them", d.Batches[0].Details)
	}
	// netsh's store is the emulator's, not a file: the plan shows the
	// range back where it was.
	h.Lock()
	h.Faults.HandshakeFailures = false
	h.Unlock()
	if p := run(t, "plan", "-i", l.Inventory, "-p", pb); p.code != 2 || !strings.Contains(p.stdout, "49152-65535 → 20000-44999") {
		t.Errorf("plan after the rollback: exit %d\n%s", p.code, p.stdout)
	}
}
