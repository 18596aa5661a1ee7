// Package e2e runs the fleettune binary against real hosts: network
// namespaces reached through real OpenSSH sshd, as the README's examples do.
// The tests need root and sshd; they skip without them unless
// FLEETTUNE_E2E_REQUIRED=1, which CI sets.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/pgtest"
)

// binary is the fleettune binary built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fleettune-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "fleettune")
	build := exec.Command("go", "build", "-o", binary, "../cmd/fleettune")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fleettune:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// testEnv holds, per test, variables added to every run's environment.
var testEnv sync.Map

// setEnv adds NAME=value to the environment of the test's runs.
func setEnv(t *testing.T, name, value string) {
	var env []string
	if e, ok := testEnv.Load(t.Name()); ok {
		env = e.([]string)
	}
	testEnv.Store(t.Name(), append(env, name+"="+value))
}

// stateDirs gives each test one state directory for all its runs.
var stateDirs sync.Map

func stateDir(t *testing.T) string {
	if d, ok := stateDirs.Load(t.Name()); ok {
		return d.(string)
	}
	d := filepath.Join(t.TempDir(), "state")
	stateDirs.Store(t.Name(), d)
	return d
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "FLEETTUNE_STATE_DIR="+stateDir(t), "NO_COLOR=1")
	if extra, ok := testEnv.Load(t.Name()); ok {
		cmd.Env = append(cmd.Env, extra.([]string)...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run fleettune %v: %v", args, err)
	}
	return r
}

// planDoc is the contract's plan JSON, as much as the tests read.
type planDoc struct {
	RunID string `json:"run_id"`
	Kind  string `json:"kind"`
	Hosts []struct {
		Host           string `json:"host"`
		OS             string `json:"os"`
		Status         string `json:"status"`
		Error          string `json:"error"`
		RebootRequired bool   `json:"reboot_required"`
		Changes        []struct {
			Setting  string   `json:"setting"`
			Knob     string   `json:"knob"`
			Current  string   `json:"current"`
			AtBoot   string   `json:"at_boot"`
			Target   string   `json:"target"`
			Commands []string `json:"commands"`
			Refused  string   `json:"refused"`
		} `json:"changes"`
		Notes []string `json:"notes"`
	} `json:"hosts"`
	Summary map[string]int `json:"summary"`
}

func decodePlan(t *testing.T, r result) planDoc {
	t.Helper()
	var d planDoc
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", r.stdout)
	}
	return d
}

func (d planDoc) host(t *testing.T, name string) int {
	t.Helper()
	for i, h := range d.Hosts {
		if h.Host == name {
			return i
		}
	}
	t.Fatalf("host %s not in the plan", name)
	return -1
}

func writePlaybook(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "playbook.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const hygiene = `name: port-hygiene
targets:
  ephemeral_ports: 20000-60999
  time_wait: 30s
  keepalive_time: 5m
`
