package views

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/playbooks"
)

const hostile = "\x1b]0;pwned\x07\x1b[2J"

// Whatever a journal file or a host says reaches the terminal escaped in
// text, and exactly in JSON.
func TestStatusHostileStrings(t *testing.T) {
	doc := &StatusDoc{
		StateDir: "/s",
		Runs: []RunLine{{ID: "20261122T171500Z-3f2a", Kind: "apply", Started: time.Date(2026, 11, 22, 17, 15, 0, 0, time.UTC),
			User: "ops" + hostile, Playbook: "hygiene" + hostile, State: "unreadable", Error: "run.jsonl:3: " + hostile,
			Counts: map[string]int{"applied": 1}}},
		Reboots: []playbooks.RebootStatus{{RunID: "20261122T171500Z-3f2a", Host: "sol01" + hostile, OS: "solaris",
			State: playbooks.RebootNotTaken, Reason: "why" + hostile, Detail: "detail" + hostile}},
	}
	var b bytes.Buffer
	if err := NewStatus(Text, &b, false).Status(doc); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("status text carries raw control characters:\n%q", out)
	}
	for _, want := range []string{`hygiene\x1b]0;pwned\x07\x1b[2J`, `sol01\x1b]0;pwned`, `detail\x1b]0;pwned`, `why\x1b]0;pwned`, `run.jsonl:3: \x1b]0;pwned`, `ops\x1b]0;pwned`} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks the escaped %q:\n%s", want, out)
		}
	}

	b.Reset()
	if err := NewStatus(JSON, &b, false).Status(doc); err != nil {
		t.Fatal(err)
	}
	var back StatusDoc
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Runs[0].Playbook != "hygiene"+hostile || back.Reboots[0].Host != "sol01"+hostile {
		t.Errorf("status JSON is not exact: %+v", back)
	}
}

// An interrupted run is shown with the way to roll it back, unless a
// rollback run already undid it.
func TestStatusInterruptedRunAdvice(t *testing.T) {
	start := time.Date(2026, 11, 22, 17, 15, 0, 0, time.UTC)
	interrupted := RunLine{ID: "20261122T171500Z-3f2a", Kind: "apply", Started: start, State: "interrupted", Counts: map[string]int{"applied": 2}}
	rollback := RunLine{ID: "20261122T172000Z-9d9d", Kind: "rollback", Started: start.Add(5 * time.Minute), State: "done",
		RollbackOf: interrupted.ID, Counts: map[string]int{"rolled_back": 2}}

	var b bytes.Buffer
	_ = NewStatus(Text, &b, false).Status(&StatusDoc{StateDir: "/s", Runs: []RunLine{interrupted}})
	if !strings.Contains(b.String(), "fleettune rollback --run "+interrupted.ID) {
		t.Errorf("an interrupted run is not shown with its rollback:\n%s", b.String())
	}

	b.Reset()
	_ = NewStatus(Text, &b, false).Status(&StatusDoc{StateDir: "/s", Runs: []RunLine{interrupted, rollback}})
	if strings.Contains(b.String(), "fleettune rollback --run") {
		t.Errorf("status advises rolling back a run already rolled back:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "did not finish; rolled back by run "+rollback.ID) {
		t.Errorf("status does not say which run rolled it back:\n%s", b.String())
	}
}

// A run killed while it changed hosts is not "no hosts": a host the
// journal has a before record for, and no result, was touched (issue 14).
func TestCountsLineCountsHostsKilledMidChange(t *testing.T) {
	for _, tc := range []struct {
		counts map[string]int
		want   string
	}{
		{map[string]int{"hosts": 0}, "no hosts"},
		{map[string]int{"hosts": 3, "no_result": 3}, "3 touched without a result"},
		{map[string]int{"hosts": 3, "applied": 1, "no_result": 2}, "1 applied, 2 touched without a result"},
	} {
		if got := countsLine(tc.counts); got != tc.want {
			t.Errorf("countsLine(%v) = %q, want %q", tc.counts, got, tc.want)
		}
	}
}
