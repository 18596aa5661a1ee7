package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/lab"
)

// These tests run the whole command line in-process, through the same
// run that main calls, against the lab's emulated hosts over real SSH on
// loopback.

// labPlaybook works on the lab's Solaris hosts on a first apply; the probe
// is the lab's handshake check, so every host's health is really checked.
const labPlaybook = `name: lab-hygiene
targets:
  ephemeral_ports: 20000-60999
  time_wait: 30s
  keepalive_time: 5m
rollout: {batch: 100%}
health:
  watch: 0s
  probe: {solaris: /usr/local/bin/check-app-handshakes}
  rollback: auto
`

// fleet is a lab and a state directory for one test.
type fleet struct {
	t        *testing.T
	lab      *lab.Lab
	stateDir string
	playbook string
	env      map[string]string
}

func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	specs := []lab.Spec{{Name: "sol10-01", OS: "solaris", Release: "5.10"}, {Name: "sol11-01", OS: "solaris", Release: "5.11"},
		{Name: "sol10-02", OS: "solaris", Release: "5.10"}}[:n]
	l, err := lab.Start(context.Background(), lab.Options{Specs: specs, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fleet{t: t, lab: l, stateDir: filepath.Join(t.TempDir(), "state")}
	f.playbook = f.write("playbook.yaml", labPlaybook)
	f.env = map[string]string{"FLEETTUNE_STATE_DIR": f.stateDir, "HOME": t.TempDir()}
	return f
}

// write puts a file in a temporary directory and returns its path.
func (f *fleet) write(name, text string) string {
	f.t.Helper()
	p := filepath.Join(f.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// connections is how many connections the lab's hosts have accepted.
func (f *fleet) connections() int {
	n := 0
	for _, h := range f.lab.Hosts() {
		n += f.lab.Connections(h.Name)
	}
	return n
}

// runs is the journal's runs of a kind ("" for all).
func (f *fleet) runs(kind string) []*journal.Run {
	f.t.Helper()
	if _, err := os.Stat(f.stateDir); os.IsNotExist(err) {
		return nil
	}
	store, err := journal.Open(f.stateDir)
	if err != nil {
		f.t.Fatal(err)
	}
	runs, err := store.Runs()
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*journal.Run
	for _, r := range runs {
		if kind == "" || r.Header.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// tty says which streams are terminals, and what stdin holds.
type tty struct {
	stdin               io.Reader
	stdinTTY, stdoutTTY bool
	stderrTTY           bool
	// interrupt, when set, is closed as the first interrupt would be.
	interrupt <-chan struct{}
	// stderr, when set, receives stderr as it is written.
	stderr *syncBuffer
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs one command line in-process, with no terminal.
func (f *fleet) run(args ...string) result {
	f.t.Helper()
	return f.runOn(tty{}, args...)
}

func (f *fleet) runOn(tm tty, args ...string) result {
	f.t.Helper()
	stdout, stderr := &syncBuffer{}, tm.stderr
	if stderr == nil {
		stderr = &syncBuffer{}
	}
	stdin := tm.stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	g := &globals{
		stdin: stdin, stdout: stdout, stderr: stderr,
		getenv: func(name string) string { return f.env[name] },
		isTerminal: func(s any) bool {
			return s == stdin && tm.stdinTTY || s == stdout && tm.stdoutTTY || s == stderr && tm.stderrTTY
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if tm.interrupt != nil {
		ctx = withInterrupt(ctx, tm.interrupt)
	}
	code := g.run(ctx, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer safe to read while run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// oneJSON decodes stdout, which must be exactly one JSON document.
func oneJSON(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, r)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON document (%v):\n%s", err, r)
	}
}

// outcomeDoc is as much of the result JSON as these tests read.
type outcomeDoc struct {
	RunID      string `json:"run_id"`
	Kind       string `json:"kind"`
	RollbackOf string `json:"rollback_of"`
	Hosts      []struct {
		Host   string `json:"host"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"hosts"`
	Summary map[string]int `json:"summary"`
}

func (d outcomeDoc) status(host string) string {
	for _, h := range d.Hosts {
		if h.Host == host {
			return h.Status
		}
	}
	return "(absent)"
}
