package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// labProcess is `fleettune lab` running in the background.
type labProcess struct {
	dir    string
	cmd    *exec.Cmd
	stdout *lockedBuffer // the host table
}

// startLabCommand runs `fleettune lab ARGS --write-inventory DIR/inventory.yaml`
// until the test ends and waits until it serves.
func startLabCommand(t *testing.T, args ...string) *labProcess {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(binary, append(args, "--write-inventory", filepath.Join(dir, "inventory.yaml"))...)
	errb, outb := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout = outb
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errb.String(), "lab serving") {
		if time.Now().After(deadline) {
			t.Fatalf("fleettune lab did not start:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &labProcess{dir: dir, cmd: cmd, stdout: outb}
}

// env reads lab.env as `set -a; . ./lab.env` would.
func (p *labProcess) env(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(p.dir, "lab.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st, _ := f.Stat(); st.Mode().Perm() != 0o600 {
		t.Errorf("lab.env has mode %v, want 0600", st.Mode().Perm())
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			vars[k] = strings.Trim(v, "'")
		}
	}
	return vars
}

type labStats struct {
	Hosts, Connections int
}

// stats asks the lab for its counters (SIGUSR1, lab-stats.json).
func (p *labProcess) stats(t *testing.T) labStats {
	t.Helper()
	path := filepath.Join(p.dir, "lab-stats.json")
	os.Remove(path)
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			var st labStats
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatalf("lab-stats.json: %v: %s", err, b)
			}
			return st
		}
		if time.Now().After(deadline) {
			t.Fatal("the lab wrote no lab-stats.json")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fleettune lab serves all six families behind two shared ports; plan
// reaches every host of a 60-host lab over exactly one connection each,
// with the password from lab.env, and the groups by family and profile
// select as --limit says.
func TestLabCommandSixFamilies(t *testing.T) {
	p := startLabCommand(t, "lab", "--hosts", "60", "--seed", "5")
	for k, v := range p.env(t) {
		setEnv(t, k, v)
	}
	inv := filepath.Join(p.dir, "inventory.yaml")
	pb := filepath.Join(t.TempDir(), "pb.yaml")
	os.WriteFile(pb, []byte("name: t\ntargets: {keepalive_time: 5m}\nhealth: {unchecked: allow}\n"), 0o644)

	before := p.stats(t)
	r := run(t, "plan", "-i", inv, "-p", pb, "--format", "json")
	var doc planDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan: exit %d: %v\n%s", r.code, err, r.stderr)
	}
	families := map[string]int{}
	for _, h := range doc.Hosts {
		if h.Status != "changes" {
			t.Errorf("%s (%s): %s %s", h.Host, h.OS, h.Status, h.Error)
		}
		families[h.OS]++
	}
	want := map[string]int{"linux": 30, "windows": 12, "solaris": 6, "aix": 5, "hpux": 4, "tru64": 3}
	for f, n := range want {
		if families[f] != n {
			t.Errorf("%d %s hosts planned, want %d (families %v)", families[f], f, n, families)
		}
	}
	after := p.stats(t)
	if got := after.Connections - before.Connections; got != 60 {
		t.Errorf("plan made %d connections to 60 hosts, want exactly one each", got)
	}

	r = run(t, "plan", "-i", inv, "-p", pb, "--format", "json", "--limit", "linux,&exhausted")
	doc = planDoc{}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan --limit: %v\n%s", err, r.stderr)
	}
	if len(doc.Hosts) == 0 {
		t.Fatal("no exhausted Linux host")
	}
	for _, h := range doc.Hosts {
		if h.OS != "linux" {
			t.Errorf("--limit linux,&exhausted selected %s (%s)", h.Host, h.OS)
		}
	}
}

// --faults: the faulty hosts fail with their fault's reason, the others
// are planned.
func TestLabCommandFaults(t *testing.T) {
	p := startLabCommand(t, "lab", "--hosts", "30", "--faults", "20%", "--seed", "2")
	for k, v := range p.env(t) {
		setEnv(t, k, v)
	}
	inv := filepath.Join(p.dir, "inventory.yaml")
	pb := filepath.Join(t.TempDir(), "pb.yaml")
	os.WriteFile(pb, []byte("name: t\ntargets: {keepalive_time: 5m}\nhealth: {unchecked: allow}\n"), 0o644)
	r := run(t, "plan", "-i", inv, "-p", pb, "--format", "json")
	var doc planDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan: exit %d: %v\n%s", r.code, err, r.stderr)
	}
	// The lab's table: HOST OS RELEASE ADDRESS PROFILE FAULT.
	fault := map[string]string{}
	for _, line := range strings.Split(p.stdout.String(), "\n")[1:] {
		if f := strings.Fields(line); len(f) == 6 && f[5] != "-" {
			fault[f[0]] = f[5]
		}
	}
	if len(fault) != 6 {
		t.Fatalf("%d faulty hosts, want 6 (20%% of 30):\n%s", len(fault), p.stdout)
	}
	for _, h := range doc.Hosts {
		// refused, reset and auth hosts cannot be reached; a slow host is
		// only slow; a host that reboots after its second command has
		// answered both of plan's by then.
		want := "changes"
		switch fault[h.Host] {
		case "refused", "reset", "auth":
			want = "unreachable"
		}
		if h.Status != want {
			t.Errorf("%s (fault %q): %s %s, want %s", h.Host, fault[h.Host], h.Status, h.Error, want)
		}
	}
	if r.code != 1 {
		t.Errorf("plan exit %d, want 1 (some host unreachable)", r.code)
	}
}
