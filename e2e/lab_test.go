package e2e

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/lab"
)

// labFleet is one host of every OS and release the lab emulates, served
// over SSH on loopback; the binary reaches it like any fleet. These tests
// need neither root nor sshd, so they always run.
var labFleet = []lab.Spec{
	{Name: "sol10", OS: "solaris", Release: "5.10"},
	{Name: "sol11", OS: "solaris", Release: "5.11"},
	{Name: "hpux1131", OS: "hpux", Release: "B.11.31"},
	{Name: "hpux1123", OS: "hpux", Release: "B.11.23"},
	{Name: "hpux1111", OS: "hpux", Release: "B.11.11"},
	{Name: "aix72", OS: "aix", Release: "7.2"},
	{Name: "aix61", OS: "aix", Release: "6.1"},
	{Name: "tru64-51b", OS: "tru64", Release: "V5.1B"},
	{Name: "tru64-51", OS: "tru64", Release: "V5.1"},
	{Name: "tru64-40f", OS: "tru64", Release: "V4.0F"},
}

func startLab(t *testing.T, specs []lab.Spec) *lab.Lab {
	t.Helper()
	l, err := lab.Start(context.Background(), lab.Options{Specs: specs, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// files copies every host's file system.
func labFiles(l *lab.Lab) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, h := range l.Hosts() {
		h.Lock()
		out[h.Name] = maps.Clone(h.Files)
		h.Unlock()
	}
	return out
}

// changesOf is a host's planned changes as "setting current [at boot] → target".
func changesOf(d planDoc) map[string][]string {
	out := map[string][]string{}
	for _, h := range d.Hosts {
		var cs []string
		for _, c := range h.Changes {
			cs = append(cs, c.Setting+" "+c.Current+" ["+c.AtBoot+"] → "+c.Target)
		}
		out[h.Host] = cs
	}
	return out
}

const labPlaybook = `name: lab-hygiene
targets:
  ephemeral_ports: 20000-60999
  time_wait: 30s
  keepalive_time: 5m
health: {watch: 0s, unchecked: allow}
rollout: {batch: 100%}
`

// The whole story on every emulated OS, over SSH: plan detects each OS and
// proposes its own commands; apply changes live values and each OS's
// persistent configuration; a second plan finds nothing to do; the hosts
// whose knob only a boot changes await a reboot, which status clears once
// they have rebooted; rollback --last puts every file back byte for byte,
// and after a reboot every host plans exactly as it did at the start.
func TestLabEveryDriver(t *testing.T) {
	l := startLab(t, labFleet)
	pb := writePlaybook(t, labPlaybook)
	filesBefore := labFiles(l)

	first := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	if first.code != 2 {
		t.Fatalf("plan: exit %d\n%s\n%s", first.code, first.stdout, first.stderr)
	}
	planned := decodePlan(t, first)
	for _, h := range planned.Hosts {
		spec := specOf(t, h.Host)
		if h.OS != spec.OS || h.Status != "changes" || len(h.Changes) != 3 {
			t.Errorf("%s: os %s status %s, %d changes; want %s with 3 changes: %s", h.Host, h.OS, h.Status, len(h.Changes), spec.OS, h.Error)
		}
	}

	r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	applied := decodeResult(t, r)
	if applied.Summary["applied"] != len(labFleet) {
		t.Fatalf("apply summary %v", applied.Summary)
	}
	// Every batch is checked on every host, or shown as not checked: a
	// batch with an unread host is never "healthy".
	for _, b := range applied.Batches {
		if b.Healthy && (!b.Checked || len(b.Unchecked) > 0) {
			t.Errorf("batch %d healthy yet not checked on %v", b.Batch, b.Unchecked)
		}
		if !b.Checked && len(b.Unchecked) == 0 {
			t.Errorf("batch %d not checked, yet names no unchecked host", b.Batch)
		}
	}
	// What each OS persists, and where.
	filesAfter := labFiles(l)
	persisted := map[string]string{
		"sol10":     "/lib/svc/method/fleettune-ndd",
		"hpux1131":  "/etc/rc.config.d/nddconf",
		"hpux1123":  "/etc/rc.config.d/nddconf",
		"hpux1111":  "/etc/rc.config.d/nddconf",
		"aix72":     "/etc/tunables/nextboot",
		"aix61":     "/etc/tunables/nextboot",
		"tru64-51b": "/etc/sysconfigtab",
		"tru64-51":  "/etc/sysconfigtab",
		"tru64-40f": "/etc/sysconfigtab",
	}
	for host, file := range persisted {
		if filesAfter[host][file] == filesBefore[host][file] {
			t.Errorf("%s: %s unchanged by apply", host, file)
		}
	}
	for host, files := range filesAfter {
		for p := range files {
			if strings.Contains(p, "tmp") || strings.Contains(p, ".stanza") {
				t.Errorf("%s: temporary file %s left behind", host, p)
			}
		}
	}

	// Converged: a plan changes nothing; the hosts whose tcp_msl is boot-only
	// are ok but await a reboot.
	again := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	if again.code != 0 {
		t.Errorf("plan after apply: exit %d, want 0\n%s", again.code, again.stdout)
	}
	waiting := map[string]bool{}
	for _, h := range decodePlan(t, again).Hosts {
		if h.Status != "ok" {
			t.Errorf("%s after apply: %s %s", h.Host, h.Status, h.Error)
		}
		if h.RebootRequired {
			waiting[h.Host] = true
		}
	}
	if !reflect.DeepEqual(waiting, map[string]bool{"tru64-51": true, "tru64-40f": true}) {
		t.Errorf("hosts awaiting a reboot: %v; want the Tru64 V5.1 and V4.0F hosts (tcp_msl is boot-only there)", waiting)
	}

	st := run(t, "status")
	if st.code != 0 || strings.Count(st.stdout, "not rebooted yet") != 2 {
		t.Errorf("status before reboots: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
	for name := range waiting {
		l.Host(name).Reboot()
	}
	st = run(t, "status", "--format", "json")
	if st.code != 0 || strings.Count(st.stdout, `"state": "verified"`) != 2 {
		t.Errorf("status after reboots: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
	st = run(t, "status")
	if !strings.Contains(st.stdout, "No host is awaiting a reboot.") {
		t.Errorf("a verified reboot must clear the flag:\n%s", st.stdout)
	}

	// Rollback: every file as it was; the boot-only knob awaits a reboot
	// again, after which every host plans exactly as at the start.
	r = run(t, "rollback", "--last", "--yes", "--format", "json")
	if r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if rb := decodeResult(t, r); rb.Summary["rolled_back"] != len(labFleet) {
		t.Errorf("rollback summary %v", rb.Summary)
	}
	if got := labFiles(l); !reflect.DeepEqual(got, filesBefore) {
		for host := range got {
			for p, content := range got[host] {
				if filesBefore[host][p] != content {
					t.Errorf("%s: %s after rollback:\n%s\nbefore:\n%s", host, p, content, filesBefore[host][p])
				}
			}
			for p := range filesBefore[host] {
				if _, ok := got[host][p]; !ok {
					t.Errorf("%s: %s is gone after rollback", host, p)
				}
			}
		}
	}
	for name := range waiting {
		l.Host(name).Reboot()
	}
	final := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	if got, want := changesOf(decodePlan(t, final)), changesOf(planned); !reflect.DeepEqual(got, want) {
		t.Errorf("after rollback and reboot the plan differs from the first:\ngot  %v\nwant %v", got, want)
	}
}

func specOf(t *testing.T, name string) lab.Spec {
	t.Helper()
	for _, s := range labFleet {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no spec for %s", name)
	return lab.Spec{}
}

// Handshake failures after a TIME_WAIT change, over SSH: the lab's probe
// fails on the canary, which is rolled back (exit 3), and the hosts after
// it are never connected to.
func TestLabHandshakeFailuresRollBackCanary(t *testing.T) {
	l := startLab(t, lab.DefaultFleet(4))
	before := labFiles(l)
	for _, h := range l.Hosts() {
		h.Lock()
		h.Faults.HandshakeFailures = true
		h.Unlock()
	}
	pb := writePlaybook(t, `name: tw
targets: {time_wait: 30s}
rollout: {batch: 1}
health:
  watch: 0s
  probe: {solaris: /usr/local/bin/check-app-handshakes, hpux: /usr/local/bin/check-app-handshakes}
  rollback: auto
`)
	r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	first := l.Hosts()[0].Name
	if got := d.status(first); !strings.HasPrefix(got, "rolled_back") {
		t.Errorf("%s = %s", first, got)
	}
	if !strings.Contains(strings.Join(d.Batches[0].Details, "\n"), "handshakes failed") {
		t.Errorf("details %q", d.Batches[0].Details)
	}
	for _, h := range l.Hosts()[1:] {
		if got := d.status(h.Name); !strings.HasPrefix(got, "skipped") {
			t.Errorf("%s = %s", h.Name, got)
		}
		if n := l.Connections(h.Name); n != 1 {
			t.Errorf("%s: %d connections, want only the plan's", h.Name, n)
		}
	}
	if got := labFiles(l); !reflect.DeepEqual(got, before) {
		t.Errorf("files differ after the automatic rollback")
	}
}

// fleettune demo tells its story and ends well; the story's steps are
// checked by what it prints.
func TestDemo(t *testing.T) {
	r := run(t, "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"(plan: exit status 2)",
		"3 hosts awaiting a reboot (fleettune status tracks them)",
		"win2003-01  windows  not rebooted yet",
		"not rebooted yet",
		"rebooted; persisted values are live (cleared)",
		"batch 1 (canary), 2 hosts: UNHEALTHY",
		"(apply: exit status 3)",
		"Rollback: 12 rolled back.", // ten Unix and Windows hosts and two Linux ones
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The demo's lab, keys and journal lived in a temporary directory it
	// names in the status output; it must be gone.
	i := strings.Index(r.stdout, "fleettune status · ")
	if i < 0 {
		t.Fatal("demo printed no status")
	}
	stateDir := strings.Fields(r.stdout[i+len("fleettune status · "):])[0]
	if !strings.HasPrefix(stateDir, os.TempDir()) {
		t.Fatalf("demo state dir %q is not under %s", stateDir, os.TempDir())
	}
	if _, err := os.Stat(filepath.Dir(stateDir)); !os.IsNotExist(err) {
		t.Errorf("demo left %s behind (%v)", filepath.Dir(stateDir), err)
	}
}

// Faults, one per host, through the binary: each faulty host gets one
// clear error naming its trouble, the healthy host is planned as usual,
// and plan exits 1.
func TestLabFaultsStayWithTheirHost(t *testing.T) {
	l := startLab(t, lab.DefaultFleet(6))
	names := make([]string, 0, 6)
	for _, h := range l.Hosts() {
		names = append(names, h.Name)
	}
	must(t, l.SetFaults(names[1], lab.Faults{Refuse: true}))
	must(t, l.SetFaults(names[2], lab.Faults{Reset: true}))
	must(t, l.SetFaults(names[3], lab.Faults{RejectAuth: true}))
	if _, err := l.ChangeHostKey(names[4]); err != nil {
		t.Fatal(err)
	}
	must(t, l.SetFaults(names[5], lab.Faults{FailCommand: "uname"}))

	pb := writePlaybook(t, labPlaybook)
	r := run(t, "plan", "-i", l.Inventory, "-p", pb, "--format", "json")
	if r.code != 1 {
		t.Fatalf("plan: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodePlan(t, r)
	want := map[string]struct{ status, says string }{
		names[0]: {"changes", ""},
		names[1]: {"unreachable", "refused"},
		names[2]: {"unreachable", "reset"},
		names[3]: {"unreachable", "authentication"},
		names[4]: {"unreachable", "host key"},
		names[5]: {"failed", "lab: injected failure"},
	}
	for _, h := range d.Hosts {
		w := want[h.Host]
		if h.Status != w.status || !strings.Contains(strings.ToLower(h.Error), strings.ToLower(w.says)) {
			t.Errorf("%s: status %s, error %q; want %s mentioning %q", h.Host, h.Status, h.Error, w.status, w.says)
		}
	}
}

// A host that reboots in the middle of its apply: the connection drops,
// fleettune reconnects and puts the host back as it was; the other hosts
// are applied; rollback --last afterwards leaves every file as it was.
func TestLabHostRebootsMidApply(t *testing.T) {
	l := startLab(t, []lab.Spec{{Name: "sol10-a", OS: "solaris", Release: "5.10"}, {Name: "hpux-a", OS: "hpux", Release: "B.11.31"}})
	before := labFiles(l)
	pb := writePlaybook(t, labPlaybook)
	// plan: detect + gather (2); apply: detect + gather (2), then the first
	// change command reboots the host once it has run.
	h := l.Host("sol10-a")
	h.Lock()
	h.Faults.RebootAfter = 5
	h.Unlock()
	r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 1 {
		t.Fatalf("apply: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	if got := d.status("sol10-a"); !strings.HasPrefix(got, "failed") || !strings.Contains(got, "previous values restored") {
		t.Errorf("sol10-a = %s; want failed with its previous values restored", got)
	}
	t.Logf("sol10-a: %s", d.status("sol10-a"))
	if got := d.status("hpux-a"); !strings.HasPrefix(got, "applied") {
		t.Errorf("hpux-a = %s", got)
	}
	if got := labFiles(l)["sol10-a"]; !reflect.DeepEqual(got, before["sol10-a"]) {
		t.Errorf("sol10-a files changed after its restore")
	}
	if r := run(t, "rollback", "--last", "--yes"); r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := labFiles(l); !reflect.DeepEqual(got, before) {
		t.Errorf("files differ after rollback --last")
	}
}

// Handshake failures seen in Solaris's TCP counters (netstat -s -P tcp),
// no probe: the canary's tcpAttemptFails rises past its threshold once
// TIME_WAIT is lowered, and it is rolled back.
func TestLabSolarisCountersRollBackCanary(t *testing.T) {
	l := startLab(t, []lab.Spec{{Name: "sol-a", OS: "solaris", Release: "5.10"}, {Name: "sol-b", OS: "solaris", Release: "5.11"}})
	before := labFiles(l)
	for _, h := range l.Hosts() {
		h.Lock()
		h.Faults.HandshakeFailures = true
		h.Unlock()
	}
	pb := writePlaybook(t, "name: tw\ntargets: {time_wait: 30s}\nrollout: {batch: 1}\nhealth: {watch: 0s, counters: true, rollback: auto}\n")
	r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes", "--format", "json")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := decodeResult(t, r)
	if details := strings.Join(d.Batches[0].Details, "\n"); !strings.Contains(details, "sol-a: Tcp.tcpAttemptFails +") {
		t.Errorf("details %q; want sol-a's tcpAttemptFails over its threshold", details)
	}
	if got := d.status("sol-b"); !strings.HasPrefix(got, "skipped") {
		t.Errorf("sol-b = %s", got)
	}
	if got := labFiles(l); !reflect.DeepEqual(got, before) {
		t.Errorf("files differ after the automatic rollback")
	}
}
