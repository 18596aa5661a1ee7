package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// factsDoc is as much of a plan's JSON as tells what a host has: the live
// and persisted value of every knob, and fleettune's persisted file.
type factsDoc struct {
	Hosts []struct {
		Host   string `json:"host"`
		Status string `json:"status"`
		Facts  *struct {
			Knobs map[string]struct {
				Live      string `json:"live"`
				Missing   bool   `json:"missing"`
				AtBoot    string `json:"at_boot"`
				AtBootSet bool   `json:"at_boot_set"`
			} `json:"knobs"`
			Persisted       string `json:"persisted"`
			PersistedExists bool   `json:"persisted_exists"`
		} `json:"facts"`
	} `json:"hosts"`
}

// hostFacts plans and returns, per host that could be read, what it has.
func hostFacts(t *testing.T, args ...string) map[string]string {
	t.Helper()
	r := run(t, append([]string{"plan", "--format", "json", "--log-level", "error"}, args...)...)
	var doc factsDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan: exit %d: %v\n%s", r.code, err, r.stderr)
	}
	out := map[string]string{}
	for _, h := range doc.Hosts {
		if h.Facts == nil || h.Facts.Knobs == nil {
			continue
		}
		b, _ := json.Marshal(struct {
			K any
			P string
			E bool
		}{h.Facts.Knobs, h.Facts.Persisted, h.Facts.PersistedExists})
		out[h.Host] = string(b)
	}
	return out
}

// journalled lists the hosts some run in dir has a "before" record for.
func journalled(t *testing.T, dir string) map[string]bool {
	t.Helper()
	hosts := map[string]bool{}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var rec struct{ Type, Host string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Type == "before" {
				hosts[rec.Host] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hosts
}

// Issue 14's end-to-end case: a 500-host lab apply with 5% of the hosts
// faulty (refused, reset, slow, auth failure, reboot mid-run) is killed
// with -9 in the middle. Every host is then either changed and journalled
// or untouched, and rollback --last puts every changed host back exactly.
func TestKilledApplyOnAFaultyFleetRollsBackExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("500 lab hosts")
	}
	p := startLabCommand(t, "lab", "--hosts", "500", "--faults", "5%", "--seed", "7")
	env := p.env(t)
	for k, v := range env {
		setEnv(t, k, v)
	}
	inv := filepath.Join(p.dir, "inventory.yaml")
	pb := filepath.Join(t.TempDir(), "pb.yaml")
	must(t, os.WriteFile(pb, []byte(`name: faults
targets: {ephemeral_ports: 20000-60999, keepalive_time: 5m}
guardrails: {protect_listening_ports: false}
rollout: {batch: 40%, max_failures: 500}
health: {watch: 10m, unchecked: allow, counters: false}
`), 0o644))

	before := hostFacts(t, "-i", inv, "-p", pb)
	if len(before) < 450 {
		t.Fatalf("only %d of 500 hosts could be read before the apply", len(before))
	}

	cmd, _ := startUntilWatching(t, "apply", "-i", inv, "-p", pb, "--yes", "--log-level", "info")
	// The first batch is applied and watched: kill -9 in the middle.
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	mid := hostFacts(t, "-i", inv, "-p", pb)
	inJournal := journalled(t, stateDir(t))
	changed := 0
	for host, was := range before {
		now, ok := mid[host]
		if !ok || now == was {
			continue
		}
		changed++
		if !inJournal[host] {
			t.Errorf("%s was changed but the journal has no before record for it", host)
		}
	}
	if changed == 0 || changed > 260 {
		t.Fatalf("%d hosts changed before the kill; want the first batch (40%% of 500)", changed)
	}

	r := run(t, "rollback", "--last", "--yes", "--log-level", "warn")
	if r.code != 0 {
		t.Logf("rollback --last: exit %d\n%s", r.code, lastLines(r.stdout+r.stderr, 30))
	}
	after := hostFacts(t, "-i", inv, "-p", pb)
	restored := 0
	for host, was := range before {
		now, ok := after[host]
		if !ok {
			t.Errorf("%s could be read before the apply but not after the rollback", host)
			continue
		}
		if now != was {
			t.Errorf("%s not restored exactly:\nbefore %s\nafter  %s", host, was, now)
			continue
		}
		if mid[host] != was {
			restored++
		}
	}
	t.Logf("%d hosts read, %d changed before the kill -9, %d restored; rollback exit %d", len(before), changed, restored, r.code)
	if restored != changed {
		t.Errorf("%d of %d changed hosts restored", restored, changed)
	}
	if !reflect.DeepEqual(len(before), len(after)) {
		t.Errorf("%d hosts read before, %d after", len(before), len(after))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
