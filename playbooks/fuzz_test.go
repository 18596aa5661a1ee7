package playbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// FuzzParse: any bytes give a playbook or an error naming the file; a
// playbook that loads resolves for every OS without panicking.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/playbooks/*.yaml")
	bad, _ := filepath.Glob("testdata/playbooks/bad/*.yaml")
	for _, p := range append(seeds, bad...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = pb.Settings()
		for _, os := range platform.OSNames {
			_, _ = pb.Resolve(os, []string{"all", "db"}, "db1")
		}
	})
}

// FuzzParsePlan: any bytes give a plan or an error naming the file; a plan
// that reads verifies against a playbook without panicking.
func FuzzParsePlan(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/plans/*.json")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	pb, err := Parse("kv.yaml", []byte("name: kv\ntargets: {ephemeral_ports: 20000-60999}\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan("fuzz.json", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		hosts := hostsNamed(make([]string, len(p.Hosts))...)
		p.PlaybookDigest = pb.Digest
		_ = p.Verify(pb, hosts, nil)
	})
}
