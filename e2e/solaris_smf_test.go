package e2e

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/lab"
	"github.com/fleettune/fleettune/platform"
)

// A Solaris 10 host tuned by an earlier release keeps its values in
// /etc/rc2.d/S70fleettune, which runs after network services have started.
// plan shows the move to SMF as persistence only, apply installs the
// service and removes the script, the host reboots with the service online
// and nothing left to do; rollback --last puts the script back byte for
// byte and removes the service and its files.
func TestLabSolaris10MigratesToSMF(t *testing.T) {
	l := startLab(t, []lab.Spec{{Name: "sol10-old", OS: "solaris", Release: "5.10"}})
	h := l.Host("sol10-old")
	old := "#!/sbin/sh\n" +
		"# Written by fleettune. Solaris 10 forgets ndd settings at reboot; /sbin/rc2\n" +
		"# runs this script at boot to set them again. fleettune rewrites it whole.\n" +
		"/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000\n"
	h.Lock()
	h.Files[platform.SolarisRCScript] = old
	h.Unlock()
	h.Reboot()
	before := labFiles(l)
	pb := writePlaybook(t, "name: tw\ntargets: {time_wait: 30s}\nhealth: {watch: 0s}\n")

	plan := run(t, "plan", "-i", l.Inventory, "-p", pb)
	t.Logf("plan:\n%s", plan.stdout)
	if plan.code != 2 || !strings.Contains(plan.stdout, "fleettune's old rc script") || !strings.Contains(plan.stdout, "svcadm enable -s "+platform.SolarisService) {
		t.Fatalf("plan: exit %d\n%s%s", plan.code, plan.stdout, plan.stderr)
	}
	if r := run(t, "apply", "-i", l.Inventory, "-p", pb, "--yes"); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	h.Lock()
	_, rc := h.Files[platform.SolarisRCScript]
	_, method := h.Files[platform.SolarisMethodScript]
	h.Unlock()
	if rc || !method {
		t.Errorf("after apply: rc script %t, method script %t", rc, method)
	}
	h.Reboot()
	if out := h.Run("root", "/usr/bin/svcs "+platform.SolarisService); !strings.HasPrefix(out.Stdout, "STATE          STIME    FMRI\nonline ") {
		t.Errorf("svcs after reboot:\n%s%s", out.Stdout, out.Stderr)
	} else {
		t.Logf("svcs after reboot:\n%s", out.Stdout)
	}
	if r := run(t, "plan", "-i", l.Inventory, "-p", pb); r.code != 0 {
		t.Errorf("plan after reboot: exit %d\n%s", r.code, r.stdout)
	}
	rb := run(t, "rollback", "--last", "--yes")
	t.Logf("rollback:\n%s", rb.stdout)
	if rb.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", rb.code, rb.stdout, rb.stderr)
	}
	if got := labFiles(l); !reflect.DeepEqual(got, before) {
		for p, c := range got["sol10-old"] {
			if before["sol10-old"][p] != c {
				t.Errorf("%s after rollback:\n%s", p, c)
			}
		}
		t.Errorf("files differ after rollback")
	}
	if out := h.Run("root", "/usr/bin/svcs "+platform.SolarisService); out.Code != 1 {
		t.Errorf("the service is still there after rollback: %q", out.Stdout)
	}
}
