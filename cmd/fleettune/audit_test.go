package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/log"

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

// Bad input is exit status 1 with a message that names it, before any host
// is contacted.
func TestAuditBadInput(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inv.yaml")
	if err := os.WriteFile(inv, []byte("hosts:\n  h1: {address: 127.0.0.1, ssh: {port: 1}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &globals{log: log.New(os.Stderr)}
	for _, tc := range []struct {
		f    auditFlags
		want string
	}{
		{auditFlags{inventory: inv, format: "yaml", forks: 1, maxLines: 1}, `--format "yaml": expected text or json`},
		{auditFlags{inventory: inv, format: "text", forks: 1, maxLines: 1, sample: "1x10s"}, "N must be between 2"},
		{auditFlags{format: "text", forks: 1, maxLines: 1}, "audit needs -i INVENTORY"},
		{auditFlags{inventory: inv, format: "text", forks: 0, maxLines: 1}, "--forks 0"},
		{auditFlags{inventory: inv, playbook: inv + ".missing", format: "text", forks: 1, maxLines: 1}, "reading playbook"},
		{auditFlags{inventory: inv, format: "text", forks: 1, maxLines: 1, limit: "nosuch"}, "nosuch"},
	} {
		err := runAudit(context.Background(), g, &tc.f)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || ee.err == nil || !strings.Contains(ee.err.Error(), tc.want) {
			t.Errorf("%+v: %v, want exit 1 with %q", tc.f, err, tc.want)
		}
	}
}
