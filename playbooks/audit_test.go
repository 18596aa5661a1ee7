package playbooks

import (
	"strings"
	"testing"
	"time"
)

func TestAuditSection(t *testing.T) {
	pb, err := Parse("pb.yaml", []byte("targets: {ephemeral_ports: 10240-65535}\naudit:\n  watch: 40%\n  warn: 60\n  crit: 90%\n  min_headroom: 1.5\n  min_time_to_exhaustion: 30m\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := pb.Audit
	if *a.Watch != 0.40 || *a.Warn != 0.60 || *a.Crit != 0.90 || *a.MinHeadroom != 1.5 || *a.MinTTE != 30*time.Minute {
		t.Errorf("audit = %+v", a)
	}
	for _, tc := range []struct{ body, want string }{
		{"audit: {watch: lots}", "pb.yaml:2:16: audit.watch: expected a percentage between 0 and 100"},
		{"audit: {min_headroom: 0.5}", "audit.min_headroom: expected a factor of at least 1"},
		{"audit: {watch: 70%, warn: 60%, crit: 90%}", "audit: expected watch < warn < crit"},
		{"audit: {wtach: 70%}", "wtach"},
	} {
		_, err := Parse("pb.yaml", []byte("targets: {ephemeral_ports: 10240-65535}\n"+tc.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.body, err, tc.want)
		}
	}
}
