package journal

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/record"
)

// TestOldFormatJournalStillReads reads a journal written by the journal
// code before the engine and the journal shared internal/record's types
// (testdata/old-format-run.jsonl, written by that code at commit a4899d3):
// every record reads back with the same values, and a result without the
// per-host health reads as "no health recorded".
func TestOldFormatJournalStillReads(t *testing.T) {
	old, err := os.ReadFile("testdata/old-format-run.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261130T120000Z-0a0b"
	if err := os.WriteFile(s.RunPath(id), old, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := s.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Header.ID != id || r.Header.Kind != KindApply || r.End == nil || r.End.Status != EndDone || r.Torn {
		t.Fatalf("header %+v end %+v torn %v", r.Header, r.End, r.Torn)
	}
	web := r.Host("web1")
	if web == nil || web.Before == nil || web.Result == nil {
		t.Fatalf("web1 = %+v", web)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	wantCmds := []record.Command{
		{Host: "web1", Phase: record.PhaseApply, Cmd: "sysctl -w net.ipv4.ip_local_port_range='20000 60999'", Exit: 0, Time: at.Add(time.Second)},
		{Host: "web1", Phase: record.PhaseApply, Cmd: "persist", Exit: 1, Stderr: "permission denied", Time: at.Add(2 * time.Second)},
	}
	if !reflect.DeepEqual(web.Commands, wantCmds) {
		t.Errorf("commands\n%+v\nwant\n%+v", web.Commands, wantCmds)
	}
	if web.Status() != record.StatusApplied || web.Result.Batch != 1 || web.Result.Health != nil {
		t.Errorf("web1 result %+v", web.Result)
	}
	if db := r.Host("db1"); db == nil || db.Status() != record.StatusUnreachable || !strings.Contains(db.Result.Error, "connection refused") {
		t.Errorf("db1 = %+v", db)
	}
	if c := r.Counts(); c["applied"] != 1 || c["unreachable"] != 1 {
		t.Errorf("counts %v", c)
	}
	if len(r.Health) != 1 || !r.Health[0].Checked || !r.Health[0].Healthy {
		t.Errorf("health %+v", r.Health)
	}
}

// TestResultRecordKeepsHostHealth: the result record keeps what the
// batch's health check measured on the host, as the engine reported it,
// under the field names of the old records plus "health".
func TestResultRecordKeepsHostHealth(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(Header{ID: "20261201T120000Z-0c0d", Kind: KindApply})
	if err != nil {
		t.Fatal(err)
	}
	measured := &record.Health{Checked: true, Counters: map[string]record.CounterCheck{"Tcp.AttemptFails": {Increase: 3, Threshold: 50}},
		Probe: &record.ProbeCheck{Exit: 0, Output: "20 of 20 handshakes"}}
	unchecked := &record.Health{Reason: "fleettune reads no TCP counters on aix yet and health.probe has no aix command"}
	for _, rec := range []Record{
		ResultRecord{Host: "a", Status: record.StatusApplied, Health: measured},
		ResultRecord{Host: "b", Status: record.StatusApplied, Health: unchecked},
		ResultRecord{Host: "c", Status: record.StatusOK},
	} {
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Append(ResultRecord{Host: "d", Status: "changes"}); err == nil || !strings.Contains(err.Error(), `unknown status "changes"`) {
		t.Errorf("a plan-only status: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if !strings.Contains(lines[1], `"health":{"checked":true,"counters":{"Tcp.AttemptFails":{"increase":3,"threshold":50}},"probe":{"exit":0,"output":"20 of 20 handshakes"}}`) {
		t.Errorf("line 2 = %s", lines[1])
	}
	if strings.Contains(lines[3], "health") {
		t.Errorf("a result without health wrote one: %s", lines[3])
	}
	r, err := s.Load(w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Host("a").Result.Health; !reflect.DeepEqual(got, measured) {
		t.Errorf("a health %+v, want %+v", got, measured)
	}
	if got := r.Host("b").Result.Health; got == nil || got.Checked || got.Reason != unchecked.Reason {
		t.Errorf("b health %+v", got)
	}
	if r.Host("c").Result.Health != nil {
		t.Errorf("c health %+v", r.Host("c").Result.Health)
	}
}
