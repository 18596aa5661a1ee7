package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

// Three hosts with different starting values: plan must read each host's own
// values, show the drift on the one whose persisted file disagrees, and
// report the converged one as up to date.
func TestPlanReadsEachHost(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := context.Background()
	n1, n2, n3 := f.Host("node01"), f.Host("node02"), f.Host("node03")

	// node01: kernel defaults, whatever they are.
	def, err := n1.ReadSysctl(ctx, "net.ipv4.ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	defRange := strings.Join(strings.Fields(def), "-")
	// node02: live range changed by hand, and a local file persisting another.
	must(t, n2.Sysctl(ctx, "net.ipv4.ip_local_port_range", "25000 50001"))
	must(t, n2.Sysctl(ctx, "net.ipv4.tcp_keepalive_time", "300"))
	must(t, n2.WriteFile("sysctl.d/60-local.conf", []byte("net.ipv4.ip_local_port_range = 30000 40000\n")))
	// node03: converged, live and persisted.
	must(t, n3.Sysctl(ctx, "net.ipv4.ip_local_port_range", "20000\t60999"))
	must(t, n3.Sysctl(ctx, "net.ipv4.tcp_keepalive_time", "300"))
	must(t, n3.WriteFile("sysctl.d/90-fleettune.conf", []byte("net.ipv4.ip_local_port_range = 20000 60999\nnet.ipv4.tcp_keepalive_time = 300\n")))

	pb := writePlaybook(t, hygiene)
	r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--format", "json")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (changes pending)\nstderr:\n%s", r.code, r.stderr)
	}
	d := decodePlan(t, r)

	h1 := d.Hosts[d.host(t, "node01")]
	if h1.Status != "changes" || h1.OS != "linux" || len(h1.Changes) != 2 {
		t.Fatalf("node01 = %+v", h1)
	}
	c := h1.Changes[0]
	if c.Setting != "ephemeral_ports" || c.Current != defRange || c.Target != "20000-60999" ||
		len(c.Commands) != 1 || c.Commands[0] != "sysctl -w net.ipv4.ip_local_port_range='20000 60999'" {
		t.Errorf("node01 range change = %+v (kernel default %s)", c, defRange)
	}
	if c := h1.Changes[1]; c.Setting != "keepalive_time" || c.Current != "2h0m0s" || c.Target != "5m0s" {
		t.Errorf("node01 keepalive change = %+v", c)
	}
	if !containsNote(h1.Notes, "time_wait: fixed at 60s by the Linux kernel; not changeable at runtime") {
		t.Errorf("node01 notes = %q; want the TIME_WAIT note", h1.Notes)
	}

	h2 := d.Hosts[d.host(t, "node02")]
	if h2.Status != "changes" || len(h2.Changes) != 2 {
		t.Fatalf("node02 = %+v", h2)
	}
	if c := h2.Changes[0]; c.Current != "25000-50001" || c.AtBoot != "30000-40000" {
		t.Errorf("node02 range = %+v; want live 25000-50001 and at boot 30000-40000", c)
	}
	// keepalive is right live but not persisted: a change with nothing to run now.
	if c := h2.Changes[1]; c.Current != "5m0s" || len(c.Commands) != 0 || !strings.Contains(c.AtBoot, "not persisted") {
		t.Errorf("node02 keepalive = %+v; want persist-only", c)
	}

	h3 := d.Hosts[d.host(t, "node03")]
	if h3.Status != "ok" || len(h3.Changes) != 0 {
		t.Errorf("node03 = %+v; want ok with no changes", h3)
	}
	if d.Summary["changes"] != 2 || d.Summary["ok"] != 1 || d.Summary["hosts"] != 3 {
		t.Errorf("summary = %v", d.Summary)
	}

	// plan touched nothing.
	if v, _ := n2.ReadSysctl(ctx, "net.ipv4.ip_local_port_range"); strings.Join(strings.Fields(v), "-") != "25000-50001" {
		t.Errorf("plan changed node02's range to %q", v)
	}

	// The human view of the same fleet.
	r = run(t, "plan", "-i", f.Inventory, "-p", pb)
	if r.code != 2 {
		t.Fatalf("text plan exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"live 25000-50001, at next boot 30000-40000 → 20000-60999",
		"sysctl -w net.ipv4.ip_local_port_range='20000 60999'",
		"Up to date: node03",
		"Plan: 2 hosts to change (4 settings), 1 up to date.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text plan lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestPlanConvergedFleetExitsZero(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	ctx := context.Background()
	for _, h := range f.Hosts {
		must(t, h.Sysctl(ctx, "net.ipv4.ip_local_port_range", "20000 60999"))
		must(t, h.WriteFile("sysctl.d/90-fleettune.conf", []byte("net.ipv4.ip_local_port_range=20000 60999\n")))
	}
	pb := writePlaybook(t, "name: ranges\ntargets: {ephemeral_ports: 20000-60999}\n")
	r := run(t, "plan", "-i", f.Inventory, "-p", pb)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "No changes. 2 hosts match the playbook.") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

// A down host and a host whose key changed are reported with their reasons;
// the others are planned all the same, and the exit status is 1.
func TestPlanUnreachableAndChangedHostKey(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	must(t, f.Stop("node02"))
	must(t, f.ChangeHostKey("node03"))
	pb := writePlaybook(t, hygiene)
	r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--format", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstderr:\n%s", r.code, r.stderr)
	}
	d := decodePlan(t, r)
	if h := d.Hosts[d.host(t, "node01")]; h.Status != "changes" {
		t.Errorf("node01 = %s %q; one bad host must not stop the others", h.Status, h.Error)
	}
	if h := d.Hosts[d.host(t, "node02")]; h.Status != "unreachable" || !strings.Contains(h.Error, "proxy command") {
		t.Errorf("node02 = %s %q; want unreachable naming the proxy command's failure", h.Status, h.Error)
	}
	if h := d.Hosts[d.host(t, "node03")]; h.Status != "unreachable" || !strings.Contains(h.Error, "host key") || !strings.Contains(h.Error, "changed") {
		t.Errorf("node03 = %s %q; want unreachable for a changed host key", h.Status, h.Error)
	}
	if f.Connections("node03") != 1 {
		t.Errorf("node03 connections = %d; a host key failure must not be retried", f.Connections("node03"))
	}
	if d.Summary["unreachable"] != 2 || d.Summary["changes"] != 1 {
		t.Errorf("summary = %v", d.Summary)
	}
}

// The guardrail: a range over a port a service listens on is refused and the
// host fails, naming the port.
func TestPlanRefusesRangeOverListeningPort(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	l, err := f.Host("node01").Listen(15000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pb := writePlaybook(t, "name: wide\ntargets: {ephemeral_ports: 10240-65535}\n")
	r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--format", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	h := decodePlan(t, r).Hosts[0]
	if h.Status != "failed" || len(h.Changes) != 1 || !strings.Contains(h.Changes[0].Refused, "15000") {
		t.Errorf("node01 = %+v; want the range refused naming port 15000", h)
	}
}

// Fifty hosts, one SSH connection each, and --out saves what stdout shows.
func TestPlanFiftyHostsOneConnectionEach(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 50})
	pb := writePlaybook(t, hygiene)
	out := filepath.Join(t.TempDir(), "plan.json")
	r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--format", "json", "--out", out)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
	}
	d := decodePlan(t, r)
	if len(d.Hosts) != 50 || d.Summary["changes"] != 50 {
		t.Fatalf("hosts %d, summary %v", len(d.Hosts), d.Summary)
	}
	for _, h := range f.Hosts {
		if n := f.Connections(h.Name); n != 1 {
			t.Errorf("%s: %d SSH connections, want exactly 1", h.Name, n)
		}
	}
	saved, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(saved) != r.stdout {
		t.Errorf("--out file differs from the JSON on stdout")
	}
}

func TestPlanLimit(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 4})
	pb := writePlaybook(t, hygiene)
	r := run(t, "plan", "-i", f.Inventory, "-p", pb, "--format", "json", "--limit", "node0*,!node03")
	if r.code != 2 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var got []string
	for _, h := range decodePlan(t, r).Hosts {
		got = append(got, h.Host)
	}
	if strings.Join(got, ",") != "node01,node02,node04" {
		t.Errorf("hosts planned = %v, want node01,node02,node04", got)
	}
	if f.Connections("node03") != 0 {
		t.Errorf("an excluded host was contacted")
	}
	r = run(t, "plan", "-i", f.Inventory, "-p", pb, "--limit", "db*")
	if r.code != 1 || !strings.Contains(r.stderr, "db*") || r.stdout != "" {
		t.Errorf("a limit matching nothing: exit %d, stderr %q, stdout %q; want exit 1 naming the pattern", r.code, r.stderr, r.stdout)
	}
}

// Bad input is refused before any host is contacted, naming file:line:col.
func TestPlanBadInput(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	pb := writePlaybook(t, hygiene)
	dir := t.TempDir()
	badInv := filepath.Join(dir, "inventory.yaml")
	must(t, os.WriteFile(badInv, []byte("defaults:\n  user: root\n  ssh:\n    becom: sudo\nhosts:\n  node01: {}\n"), 0o644))
	badPb := filepath.Join(dir, "playbook.yaml")
	must(t, os.WriteFile(badPb, []byte("name: x\ntargets:\n  ephemeral_ports: 0-5\n"), 0o644))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown inventory key", []string{"plan", "-i", badInv, "-p", pb}, badInv + ":4:5:"},
		{"port 0 in playbook", []string{"plan", "-i", f.Inventory, "-p", badPb}, badPb + ":3:"},
		{"missing inventory file", []string{"plan", "-i", filepath.Join(dir, "nope.yaml"), "-p", pb}, "nope.yaml"},
		{"no playbook flag", []string{"plan", "-i", f.Inventory}, "playbook"},
		{"bad format", []string{"plan", "-i", f.Inventory, "-p", pb, "--format", "yaml"}, "text or json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty on bad input: %q", r.stdout)
			}
		})
	}
	if n := f.Connections("node01"); n != 0 {
		t.Errorf("bad input still contacted the host %d times", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func containsNote(notes []string, want string) bool {
	for _, n := range notes {
		if n == want {
			return true
		}
	}
	return false
}

// A host's own files reach plan's text escaped, never raw (issue 14): a
// sysctl.d file whose value holds a terminal title change and a screen
// clear is shown with its control characters written out, and the JSON
// keeps them exact.
func TestPlanTextEscapesHostFiles(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	const evil = "\x1b]0;pwned\x07\x1b[2J"
	n1 := f.Host("node01")
	must(t, n1.WriteFile("sysctl.d/60-local.conf", []byte("net.ipv4.ip_local_port_range = 30000 "+evil+"\n")))
	pb := writePlaybook(t, hygiene)

	r := run(t, "plan", "-i", f.Inventory, "-p", pb)
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
		t.Errorf("plan's text carries the host's control characters raw:\n%q", r.stdout+r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, `\x1b]0;pwned\x07\x1b[2J`) {
		t.Errorf("plan's text does not show the host's value, escaped:\n%s%s", r.stdout, r.stderr)
	}

	r = run(t, "plan", "-i", f.Inventory, "-p", pb, "--format", "json")
	if !strings.Contains(r.stdout, `\u001b]0;pwned\u0007\u001b[2J`) {
		t.Errorf("plan's JSON does not keep the value exact:\n%s", r.stdout)
	}
}
