package platform

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The cost of reading a converged Solaris 10 host's gather output, SMF
// sections included (method script, manifest, svcs), and of proposing and
// building the steps for a migration from the old rc script.
func BenchmarkParseSolaris10Facts(b *testing.B) {
	out := string(mustReadBench(b, "gather-5.10-converged.txt"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSolarisFacts(out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSolaris10MigrationSteps(b *testing.B) {
	f, err := ParseSolarisFacts(string(mustReadBench(b, "gather-5.10-drift.txt")))
	if err != nil {
		b.Fatal(err)
	}
	d := solarisDriver{}
	all := Targets{EphemeralPorts: rng(10240, 65535), TimeWait: dur(30e9), KeepaliveTime: dur(300e9)}
	b.ReportAllocs()
	for b.Loop() {
		if p, err := Propose(d, f, all, Guardrails{}); err != nil || len(p.Steps) == 0 {
			b.Fatal(err)
		}
	}
}

func mustReadBench(b *testing.B, name string) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "solaris", name))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// Other rc scripts' ndd -set lines count at boot after fleettune's old
// script and after the SMF service, rc3.d after rc2.d; lines that are not
// an ndd -set of a managed knob are ignored.
func TestSolaris10OtherRCScriptsAtBoot(t *testing.T) {
	out := strings.Replace(readSolarisFixture(t, "gather-5.10-drift.txt"), "@@fleettune@@ svcs\n",
		"@@fleettune@@ rc /etc/rc3.d/S99app\n/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 600000\nndd -set /dev/tcp tcp_conn_req_max_q 1024\n"+
			"@@fleettune@@ rc /etc/rc2.d/S99late\nndd -set /dev/tcp tcp_time_wait_interval 45000\n@@fleettune@@ svcs\n", 1)
	f, err := ParseSolarisFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	for knob, want := range map[string][2]string{
		"tcp_keepalive_interval": {"600000", "/etc/rc3.d/S99app"},
		"tcp_time_wait_interval": {"45000", "/etc/rc2.d/S99late"}, // S99late runs after S70fleettune
		"tcp_smallest_anon_port": {"10240", SolarisRCScript + ":3"},
	} {
		if k := f.Knobs[knob]; k.AtBoot != want[0] || k.Source != want[1] {
			t.Errorf("%s: %+v, want %v", knob, k, want)
		}
	}
	if _, ok := f.Files["/etc/rc2.d/S20sysetup"+solarisRCLines]; ok {
		t.Error("a script without ndd lines was recorded")
	}
	p := solarisDriver{}.Propose(f, Targets{TimeWait: dur(30e9)}, Guardrails{})
	if len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Refused, "/etc/rc2.d/S99late, which fleettune did not write, sets tcp_time_wait_interval to 45000") {
		t.Errorf("changes %+v", p.Changes)
	}
}

// Detach copies Facts.Files too: a plan keeps no Solaris 10 host's whole
// gather output alive through its manifest or service state.
func TestDetachLetsSolarisFilesGo(t *testing.T) {
	out := readSolarisFixture(t, "gather-5.10-converged.txt")
	f, err := ParseSolarisFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for k, v := range f.Files {
		want[k] = v
	}
	if len(want) != 2 {
		t.Fatalf("files %v", want)
	}
	f.Detach()
	for k, v := range f.Files {
		if within(k, out) || within(v, out) || want[k] != v {
			t.Errorf("%s still points into the gather output, or changed", k)
		}
	}
}

// A host with both the SMF service and fleettune's old rc script (which
// runs later and so wins at boot): the migration keeps the value the host
// boots with now, the rc script's, in the method script.
func TestSolaris10MigrationKeepsTheBootValue(t *testing.T) {
	out := strings.Replace(readSolarisFixture(t, "gather-5.10-converged.txt"), "@@fleettune@@ svcs\n",
		"@@fleettune@@ file "+SolarisRCScript+"\n#!/sbin/sh\n# Written by fleettune.\n/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 45000\n\n@@fleettune@@ endfile "+SolarisRCScript+"\n@@fleettune@@ svcs\n", 1)
	f, err := ParseSolarisFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	if k := f.Knobs["tcp_time_wait_interval"]; k.AtBoot != "45000" || k.Source != SolarisRCScript+":3" {
		t.Fatalf("time_wait %+v", k)
	}
	d := solarisDriver{}
	p, err := Propose(d, f, Targets{KeepaliveTime: dur(600e9)}, Guardrails{})
	if err != nil {
		t.Fatal(err)
	}
	method := solarisMethodContent(map[string]string{"tcp_smallest_anon_port": "10240", "tcp_largest_anon_port": "65535",
		"tcp_time_wait_interval": "45000", "tcp_keepalive_interval": "600000"})
	want := []string{
		"/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 600000",
		solarisInstall(SolarisMethodScript, method),
		"rm -f " + SolarisRCScript,
	}
	if strings.Join(p.Steps, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps\n%q\nwant\n%q", p.Steps, want)
	}
}

// The gather script, the method script and every install command parse
// with a real POSIX sh (sh -n), as Solaris' /sbin/sh must parse them.
func TestSolaris10ScriptsParseWithSh(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	f := solarisFacts(t, "gather-5.10-drift.txt")
	p, err := Propose(solarisDriver{}, f, Targets{TimeWait: dur(30e9)}, Guardrails{})
	if err != nil || len(p.Steps) == 0 {
		t.Fatalf("steps %q, %v", p.Steps, err)
	}
	scripts := append([]string{SolarisGatherScript(), solarisMethodContent(map[string]string{"tcp_time_wait_interval": "30000", "tcp_keepalive_interval": "300000"})}, p.Steps...)
	for _, s := range scripts {
		if out, err := exec.Command(sh, "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v: %s\n%s", err, out, s)
		}
	}
}
