package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/journal"
)

const askLine = "Only 'yes' will be accepted"

// Anything but "yes" at the prompt refuses: exit 1, nothing journalled,
// nothing changed.
func TestPromptRefusesAnythingButYes(t *testing.T) {
	f := newFleet(t, 1)
	for _, answer := range []string{"no\n", "y\n", "YES please\n", "\n", ""} {
		r := f.runOn(tty{stdin: strings.NewReader(answer), stdinTTY: true}, "apply", "-i", f.lab.Inventory, "-p", f.playbook)
		if r.code != 1 || !strings.Contains(r.stderr, askLine) || !strings.Contains(r.stderr, "cancelled; nothing was changed") {
			t.Errorf("answer %q: want the question, then exit 1 cancelled; got %s", answer, r)
		}
		if !strings.Contains(r.stderr, "Apply these changes to 1 host?") {
			t.Errorf("answer %q: the question should read \"1 host\": %s", answer, r.stderr)
		}
	}
	if runs := f.runs(""); len(runs) != 0 {
		t.Errorf("a refused prompt journalled %d runs", len(runs))
	}
	if r := f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook); r.code != 2 {
		t.Errorf("hosts changed after a refusal: plan exit %d", r.code)
	}
	r := f.runOn(tty{stdin: strings.NewReader("yes\n"), stdinTTY: true}, "apply", "-i", f.lab.Inventory, "-p", f.playbook)
	if r.code != 0 || len(f.runs(journal.KindApply)) != 1 {
		t.Errorf("\"yes\" should apply: %s", r)
	}
}

// Ctrl-C at the prompt cancels at once, though nobody answers, and
// journals nothing.
func TestPromptInterruptCancelsAtOnce(t *testing.T) {
	f := newFleet(t, 1)
	stdin, w := io.Pipe() // a terminal nobody types on
	t.Cleanup(func() { w.Close() })
	stop := make(chan struct{})
	stderr := &syncBuffer{}
	go func() {
		for !strings.Contains(stderr.String(), askLine) {
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
	}()
	done := make(chan result, 1)
	go func() {
		done <- f.runOn(tty{stdin: stdin, stdinTTY: true, interrupt: stop, stderr: stderr}, "apply", "-i", f.lab.Inventory, "-p", f.playbook)
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute): // a guard against hanging, not a timing
		t.Fatalf("apply still waits for an answer after the interrupt:\n%s", stderr.String())
	}
	if r.code != 1 || !strings.Contains(r.stderr, "cancelled; nothing was changed") || strings.Contains(r.stderr, "in flight") {
		t.Errorf("interrupt at the prompt: want exit 1 cancelled, no talk of hosts in flight; got %s", r)
	}
	if runs := f.runs(""); len(runs) != 0 {
		t.Errorf("an interrupted prompt journalled %d runs", len(runs))
	}
}

// Without a terminal to ask on and without --yes, apply and rollback
// refuse and change nothing.
func TestNoTerminalNoYesRefuses(t *testing.T) {
	f := newFleet(t, 1)
	r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook)
	if r.code != 1 || !strings.Contains(r.stderr, "pass --yes") || strings.Contains(r.stderr, askLine) {
		t.Errorf("apply with no terminal: want a refusal naming --yes, got %s", r)
	}
	if runs := f.runs(""); len(runs) != 0 {
		t.Errorf("a refusal journalled %d runs", len(runs))
	}
	if r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--yes"); r.code != 0 {
		t.Fatalf("apply --yes: %s", r)
	}
	r = f.run("rollback", "--last")
	if r.code != 1 || !strings.Contains(r.stderr, "pass --yes") {
		t.Errorf("rollback with no terminal: want a refusal naming --yes, got %s", r)
	}
	if runs := f.runs(journal.KindRollback); len(runs) != 0 {
		t.Errorf("a refused rollback journalled %d runs", len(runs))
	}
}

// apply --format json on a terminal without --yes shows the plan to the
// person asked, on stderr; stdout is the result document and nothing else.
func TestApplyJSONPromptShowsPlanOnStderr(t *testing.T) {
	f := newFleet(t, 1)
	r := f.runOn(tty{stdin: strings.NewReader("yes\n"), stdinTTY: true, stdoutTTY: true},
		"apply", "-i", f.lab.Inventory, "-p", f.playbook, "--format", "json")
	var d outcomeDoc
	oneJSON(t, r, &d)
	if r.code != 0 || d.Kind != "apply" || d.status("sol10-01") != "applied" {
		t.Fatalf("apply: %s", r)
	}
	if !strings.Contains(r.stderr, "Plan:") || !strings.Contains(r.stderr, "ephemeral_ports") || !strings.Contains(r.stderr, askLine) {
		t.Errorf("the plan and the question should be on stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "Plan:") {
		t.Errorf("the plan's text reached stdout:\n%s", r.stdout)
	}
}

// rollback's prompt names every host and the values it will put back.
func TestRollbackPromptListsValues(t *testing.T) {
	f := newFleet(t, 2)
	if r := f.run("apply", "-i", f.lab.Inventory, "-p", f.playbook, "--yes"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	run := f.runs(journal.KindApply)[0]
	r := f.runOn(tty{stdin: strings.NewReader("no\n"), stdinTTY: true}, "rollback", "--last")
	if r.code != 1 || !strings.Contains(r.stderr, "cancelled") {
		t.Fatalf("rollback answered no: %s", r)
	}
	if !strings.Contains(r.stderr, "changed 2 hosts") || !strings.Contains(r.stderr, "Restore these previous values on 2 hosts?") {
		t.Errorf("prompt wording:\n%s", r.stderr)
	}
	for _, name := range []string{"sol10-01", "sol11-01"} {
		h := run.Host(name)
		if h == nil || h.Before == nil {
			t.Fatalf("%s: no before record", name)
		}
		if !strings.Contains(r.stderr, "  "+name+" (solaris)\n") {
			t.Errorf("the prompt does not name %s:\n%s", name, r.stderr)
		}
		for knob, st := range h.Before.Knobs {
			if !strings.Contains(r.stderr, knob+" = "+st.Live) {
				t.Errorf("the prompt does not show %s's %s = %s:\n%s", name, knob, st.Live, r.stderr)
			}
		}
	}
	if runs := f.runs(journal.KindRollback); len(runs) != 0 {
		t.Errorf("a refused rollback journalled %d runs", len(runs))
	}
}
