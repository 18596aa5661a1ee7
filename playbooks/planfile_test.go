package playbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPlan(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"run_id": "20261122T171500Z-3f2a", "kind": "plan",
 "hosts": [{"host": "a", "os": "linux", "status": "changes", "targets": {"ephemeral_ports": "20000-60999"}}]}`)
	p, err := ReadPlan(good)
	if err != nil || p.RunID != "20261122T171500Z-3f2a" || len(p.Hosts) != 1 || p.Hosts[0].Targets.EphemeralPorts.Low != 20000 {
		t.Fatalf("ReadPlan: %+v %v", p, err)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"syntax.json", "{\n  \"kind\": \"plan\",\n  \"hosts\": [\n    {\"host\": \"a\",}\n  ]\n}\n", "syntax.json:4: not a fleettune plan: invalid character '}'"},
		{"type.json", "{\n  \"kind\": \"plan\",\n  \"run_id\": 7\n}\n", "type.json:3: not a fleettune plan: run_id has number, expected string"},
		{"targets.json", `{"kind": "plan", "run_id": "x", "hosts": [{"host": "a", "targets": {"ephemeral_ports": "9-1"}}]}`, "targets.json: not a fleettune plan: targets: ephemeral_ports"},
		{"result.json", `{"kind": "apply", "run_id": "x"}`, `result.json: not a fleettune plan (kind "apply"); make one with fleettune plan --out`},
	} {
		_, err := ReadPlan(write(tc.name, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), dir) {
			t.Errorf("%s: the error must start with the file: %v", tc.name, err)
		}
	}
	if _, err := ReadPlan(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}
