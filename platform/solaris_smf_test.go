package platform

import (
	"os"
	"path/filepath"
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
