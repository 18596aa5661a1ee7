package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/journal"
)

// fleettune version and --version say the version and the Go version from
// the build info.
func TestVersion(t *testing.T) {
	f := newFleet(t, 1)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := f.run(args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "fleettune "+version) || !strings.Contains(r.stdout, runtime.Version()) {
			t.Errorf("%v: %s", args, r)
		}
	}
	r := f.run("version", "--format", "json")
	var v versionInfo
	oneJSON(t, r, &v)
	if v.Version != version || v.Go != runtime.Version() {
		t.Errorf("version JSON: %+v", v)
	}
}

// --list-hosts prints the selection and how each host is reached, as a
// table or one JSON document, and connects to nothing, on every command
// that selects hosts.
func TestListHostsConnectsToNothing(t *testing.T) {
	f := newFleet(t, 2)
	port := f.lab.Port("sol11-01")
	r := f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook, "--list-hosts", "-l", "sol11*")
	if r.code != 0 || !strings.Contains(r.stdout, "HOST") || !strings.Contains(r.stdout, "sol11-01") || strings.Contains(r.stdout, "sol10-01") ||
		!strings.Contains(r.stdout, "1 host selected; nothing was contacted.") {
		t.Errorf("plan --list-hosts: %s", r)
	}
	r = f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--list-hosts", "--format", "json")
	var doc struct {
		Hosts []struct {
			Name, Address, User, Transport, OS string
			Port                               int
		} `json:"hosts"`
	}
	oneJSON(t, r, &doc)
	if r.code != 0 || len(doc.Hosts) != 2 || doc.Hosts[1].Name != "sol11-01" || doc.Hosts[1].Port != port ||
		doc.Hosts[1].Address != "127.0.0.1" || doc.Hosts[1].Transport != "ssh" || doc.Hosts[1].User == "" {
		t.Errorf("apply --list-hosts --format json: %+v\n%s", doc, r)
	}
	if n := f.connections(); n != 0 {
		t.Fatalf("--list-hosts made %d connections", n)
	}
	if len(f.runs("")) != 0 {
		t.Errorf("--list-hosts journalled a run")
	}

	// A saved plan and a run's hosts list the same way.
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if r := f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook, "--out", planFile); r.code != 2 {
		t.Fatalf("plan --out: %s", r)
	}
	if r := f.run("apply", planFile, "--list-hosts", "-l", "sol10-01"); r.code != 0 || !strings.Contains(r.stdout, "sol10-01") || strings.Contains(r.stdout, "sol11-01") {
		t.Errorf("apply PLAN.json --list-hosts: %s", r)
	}
	if r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--yes"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	before := f.connections()
	if r := f.run("rollback", "--last", "--list-hosts"); r.code != 0 || !strings.Contains(r.stdout, "sol10-01") || !strings.Contains(r.stdout, "2 hosts selected") {
		t.Errorf("rollback --list-hosts: %s", r)
	}
	if f.connections() != before || len(f.runs(journal.KindRollback)) != 0 {
		t.Errorf("rollback --list-hosts contacted hosts or journalled a run")
	}
}

// FLEETTUNE_INVENTORY and FLEETTUNE_PLAYBOOK stand in for -i and -p.
func TestInventoryAndPlaybookFromEnvironment(t *testing.T) {
	f := newFleet(t, 1)
	f.env["FLEETTUNE_INVENTORY"] = f.lab.Inventory
	f.env["FLEETTUNE_PLAYBOOK"] = f.playbook
	if r := f.run("plan"); r.code != 2 || !strings.Contains(r.stdout, "sol10-01") {
		t.Errorf("plan from the environment: %s", r)
	}
	if r := f.run("apply", "--yes"); r.code != 0 {
		t.Errorf("apply from the environment: %s", r)
	}
	// The flag wins over the environment.
	f.env["FLEETTUNE_INVENTORY"] = filepath.Join(t.TempDir(), "missing.yaml")
	if r := f.run("plan", "-i", f.lab.Inventory); r.code != 0 {
		t.Errorf("-i should win over FLEETTUNE_INVENTORY: %s", r)
	}
}

// plan --out ends with the exact command that applies the saved plan,
// and that command works.
func TestPlanOutPrintsApplyCommand(t *testing.T) {
	f := newFleet(t, 1)
	planFile := filepath.Join(t.TempDir(), "tuned plan.json")
	r := f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook, "--out", planFile)
	want := "fleettune apply '" + planFile + "'"
	if r.code != 2 || !strings.Contains(r.stdout, "To apply exactly this plan, run:\n  "+want+"\n") {
		t.Fatalf("plan --out should print %q: %s", want, r)
	}
	// With --format json the hint goes to stderr; stdout stays one document.
	r = f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook, "--out", planFile, "--format", "json")
	var doc map[string]any
	oneJSON(t, r, &doc)
	if !strings.Contains(r.stderr, want) {
		t.Errorf("plan --out --format json: the command should be on stderr: %s", r)
	}
	if r := f.run("apply", planFile, "--yes"); r.code != 0 {
		t.Errorf("the printed command: %s", r)
	}
}

// Shell completion offers the inventory's groups and hosts for --limit,
// after a comma too, and the state dir's apply runs for --run.
func TestCompletion(t *testing.T) {
	f := newFleet(t, 2)
	r := f.run("__complete", "plan", "-i", f.lab.Inventory, "--limit", "")
	for _, want := range []string{"all\tgroup", "sol10-01\thost", "sol11-01\thost"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--limit completion lacks %q:\n%s", want, r.stdout)
		}
	}
	r = f.run("__complete", "apply", "-i", f.lab.Inventory, "-l", "sol10-01,!sol1")
	if !strings.Contains(r.stdout, "sol10-01,!sol11-01\thost") || strings.Contains(r.stdout, "all\tgroup") {
		t.Errorf("--limit completion after a comma:\n%s", r.stdout)
	}
	if r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--yes"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	id := f.runs(journal.KindApply)[0].ID()
	r = f.run("__complete", "rollback", "--run", "")
	if !strings.Contains(r.stdout, id+"\tapply ") {
		t.Errorf("--run completion lacks %s:\n%s", id, r.stdout)
	}
	if r := f.run("__complete", "status", "--format", ""); !strings.Contains(r.stdout, "text\njson\n") {
		t.Errorf("--format completion:\n%s", r.stdout)
	}
	if r := f.run("__complete", "plan", "--log-level", ""); !strings.Contains(r.stdout, "debug\ninfo\nwarn\nerror\n") {
		t.Errorf("--log-level completion:\n%s", r.stdout)
	}
	// The completion scripts themselves come from cobra.
	if r := f.run("completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "__fleettune") {
		t.Errorf("completion bash: exit %d", r.code)
	}
}

// With --format json, stdout is one JSON document for every command.
func TestJSONStdoutIsOneDocument(t *testing.T) {
	f := newFleet(t, 1)
	for _, args := range [][]string{
		{"plan", "-i", f.lab.Inventory, "-p", f.playbook, "--format", "json", "--log-level", "debug"},
		{"apply", "-i", f.lab.Inventory, "-p", f.playbook, "--format", "json", "--yes", "--log-level", "debug"},
		{"status", "--format", "json"},
		{"rollback", "--last", "--format", "json", "--yes", "--log-level", "debug"},
		{"plan", "-i", f.lab.Inventory, "-p", f.playbook, "--format", "json", "--list-hosts"},
		{"version", "--format", "json"},
	} {
		r := f.run(args...)
		var v json.RawMessage
		oneJSON(t, r, &v)
	}
}

// A file or a host that holds terminal escape sequences cannot reach the
// terminal with them: errors and names are printed escaped, JSON exactly.
func TestTerminalInjection(t *testing.T) {
	const evil = "\x1b]0;pwned\x07\x1b[2J"
	f := newFleet(t, 1)
	// An inventory whose unknown key carries the sequence: the error names it.
	inv := f.write("hosts.yaml", "hosts:\n  sol10-01:\n    \""+`\e]0;pwned\a\e[2J`+"\": 1\n")
	r := f.run("plan", "-i", inv, "-p", f.playbook)
	if r.code != 1 || !strings.Contains(r.stderr, "hosts.yaml") {
		t.Fatalf("a bad inventory: %s", r)
	}
	if strings.ContainsAny(r.stderr, "\x1b\x07") || !strings.Contains(r.stderr, "pwned") {
		t.Errorf("the inventory error reached the terminal raw: %q", r.stderr)
	}
	// A playbook named with it: logs and status show it escaped.
	data, err := os.ReadFile(f.playbook)
	if err != nil {
		t.Fatal(err)
	}
	pb := f.write("evil.yaml", strings.Replace(string(data), "name: lab-hygiene", `name: "`+`\e]0;pwned\a\e[2J`+`"`, 1))
	r = f.run("apply", "-i", f.lab.Inventory, "-p", pb, "--yes")
	if r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	if strings.ContainsAny(r.stdout+r.stderr, "\x07") || strings.Contains(r.stdout+r.stderr, "\x1b]") {
		t.Errorf("apply printed the playbook's name raw: %q", r.stdout+r.stderr)
	}
	r = f.run("status")
	if strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, `\x1b]0;pwned`) {
		t.Errorf("status printed the playbook's name raw: %q", r.stdout)
	}
	r = f.run("status", "--format", "json")
	var doc struct {
		Runs []struct{ Playbook string } `json:"runs"`
	}
	oneJSON(t, r, &doc)
	if len(doc.Runs) != 1 || doc.Runs[0].Playbook != evil {
		t.Errorf("status JSON should carry the name exactly: %+v", doc)
	}
}

// An error carrying a host's lines cannot fake a line of fleettune's own.
func TestPrintErrorKeepsHostTextInside(t *testing.T) {
	var b syncBuffer
	g := &globals{stderr: &b}
	g.printError(errors.New("web01: probe said: ok\nfleettune: all hosts healthy\x1b[2J\n"))
	want := "fleettune: web01: probe said: ok\n  fleettune: all hosts healthy\\x1b[2J\n"
	if b.String() != want {
		t.Errorf("printError wrote %q, want %q", b.String(), want)
	}
}

// Colour only when stdout is a terminal, and never with NO_COLOR,
// TERM=dumb or --no-color.
func TestColourOnlyOnATerminal(t *testing.T) {
	f := newFleet(t, 1)
	plan := []string{"plan", "-i", f.lab.Inventory, "-p", f.playbook}
	if r := f.runOn(tty{stdoutTTY: true}, plan...); !strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("no colour on a terminal: %q", r.stdout)
	}
	if r := f.run(plan...); strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour into a pipe: %q", r.stdout)
	}
	if r := f.runOn(tty{stdoutTTY: true}, append(plan, "--no-color")...); strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour despite --no-color: %q", r.stdout)
	}
	for _, env := range [][2]string{{"NO_COLOR", "1"}, {"TERM", "dumb"}} {
		f.env[env[0]] = env[1]
		if r := f.runOn(tty{stdoutTTY: true}, plan...); strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("colour despite %s=%s: %q", env[0], env[1], r.stdout)
		}
		delete(f.env, env[0])
	}
}
