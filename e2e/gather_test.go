package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

// On real hosts behind real sshd, plan costs a Linux host one session (one
// exec request, one login shell): detection and gather are one script.
// A host whose OS the inventory names gets the same plan from the same
// one session. The sessions are counted in sshd's own log (LogLevel
// VERBOSE: "Starting session: command for root ...").
func TestPlanOneSessionPerLinuxHost(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	dir := t.TempDir()
	cfg, err := os.ReadFile(f.SSHDConfig)
	if err != nil {
		t.Fatal(err)
	}
	verbose := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(verbose, regexp.MustCompile(`(?m)^LogLevel .*$`).ReplaceAll(cfg, []byte("LogLevel VERBOSE")), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy, err := os.ReadFile(f.Proxy)
	if err != nil {
		t.Fatal(err)
	}
	sshd := `/usr/sbin/sshd -i -f "$dir/sshd_config"`
	if !strings.Contains(string(proxy), sshd) {
		t.Fatalf("netnsfleet's proxy.sh no longer runs %s", sshd)
	}
	logged := strings.Replace(string(proxy), sshd, `/usr/sbin/sshd -i -f `+verbose+` -E `+dir+`/sshd-"$name".log`, 1)
	wrapper := filepath.Join(dir, "proxy.sh")
	if err := os.WriteFile(wrapper, []byte(logged), 0o755); err != nil {
		t.Fatal(err)
	}
	inv, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	invText := regexp.MustCompile(`(?m)^(\s*proxy_command:).*$`).ReplaceAllString(string(inv), "${1} "+wrapper+" %h")
	invText += "hosts:\n  node02: {os: linux}\n"
	invPath := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(invPath, []byte(invText), 0o644); err != nil {
		t.Fatal(err)
	}

	r := run(t, "plan", "-i", invPath, "-p", writePlaybook(t, hygiene), "--format", "json")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
	}
	d := decodePlan(t, r)
	for _, h := range f.Hosts {
		b, err := os.ReadFile(filepath.Join(dir, "sshd-"+h.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "Starting session: command"); n != 1 {
			t.Errorf("%s: %d sessions, want 1:\n%s", h.Name, n, b)
		}
	}
	detected, declared := d.Hosts[d.host(t, "node01")], d.Hosts[d.host(t, "node02")]
	a, _ := json.Marshal(detected.Changes)
	b, _ := json.Marshal(declared.Changes)
	if detected.OS != "linux" || detected.Status != "changes" || string(a) != string(b) || len(detected.Changes) != 2 {
		t.Errorf("node01 (detected) %s %s %s\nnode02 (os: linux) %s %s %s", detected.OS, detected.Status, a, declared.OS, declared.Status, b)
	}
}
