package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/playbooks"
)

// Thresholds: defaults, then the playbook's audit: section, then flags.
func TestAuditThresholds(t *testing.T) {
	pb, err := playbooks.Parse("pb.yaml", []byte("targets: {ephemeral_ports: 10240-65535}\naudit: {watch: 40%, min_time_to_exhaustion: 2h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	th, err := thresholds(pb, &auditFlags{warn: "70%", minHeadroom: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if th.Watch != 0.40 || th.Warn != 0.70 || th.Crit != 0.85 || th.MinHeadroom != 2 || th.MinTTEText != "2h0m0s" {
		t.Errorf("thresholds = %+v", th)
	}
	if _, err := thresholds(nil, &auditFlags{watch: "90%"}); err == nil || !strings.Contains(err.Error(), "watch < warn < crit") {
		t.Errorf("watch above warn: %v", err)
	}
	if _, err := thresholds(nil, &auditFlags{crit: "lots"}); err == nil || !strings.Contains(err.Error(), `--crit "lots": expected a number`) {
		t.Errorf("bad --crit: %v", err)
	}
}

// runLine runs one audit command line in-process, with no terminal.
func runLine(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// Bad input is exit status 1 with a message that names it, before any host
// is contacted; --list-hosts connects to nothing.
func TestAuditCommandLine(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inv.yaml")
	if err := os.WriteFile(inv, []byte("hosts:\n  h1: {address: 127.0.0.1, ssh: {port: 1}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "-i", inv, "--format", "yaml"}, `--format "yaml": expected text or json`},
		{[]string{"audit", "-i", inv, "--sample", "1x10s"}, "N must be between 2"},
		{[]string{"audit"}, "no inventory: give -i INVENTORY"},
		{[]string{"audit", "-i", inv, "-f", "0"}, "--forks 0"},
		{[]string{"audit", "-i", inv, "-p", inv + ".missing"}, "reading playbook"},
		{[]string{"audit", "-i", inv, "-l", "nosuch"}, "nosuch"},
		{[]string{"audit", "-i", inv, "--crit", "50%"}, "watch < warn < crit"},
	} {
		code, _, stderr := runLine(t, env, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
	code, stdout, stderr := runLine(t, env, "audit", "-i", inv, "--list-hosts")
	if code != 0 || !strings.Contains(stdout, "h1") {
		t.Errorf("--list-hosts: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The host is down: audited, it is named and the exit status is 1.
	code, stdout, _ = runLine(t, env, "audit", "-i", inv)
	if code != 1 || !strings.Contains(stdout, "not read: h1") {
		t.Errorf("audit of a down host: exit %d\n%s", code, stdout)
	}
}
