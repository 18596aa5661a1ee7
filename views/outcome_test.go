package views

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/playbooks"
)

var linuxThresholds = map[string]int64{"Tcp.AttemptFails": 50, "TcpExt.PAWSEstab": 10, "TcpExt.TCPTimeWaitOverflow": 0}

func outcomeHost(name, status string, batch int) playbooks.HostOutcome {
	hp := changedHost(name)
	return playbooks.HostOutcome{Host: name, OS: "linux", Batch: batch, Status: record.Status(status), BootID: hp.BootID, Changes: hp.Changes, Notes: hp.Notes}
}

// The canary was unhealthy: its hosts were rolled back, the rest never
// started; exit 3.
func canaryRolledBack() *playbooks.Outcome {
	o := &playbooks.Outcome{RunID: "20261122T171500Z-3f2a", Kind: "apply", RolledBack: true,
		Stopped: "batch 1 (canary) unhealthy; rolled back batch 1"}
	o.Hosts = []playbooks.HostOutcome{
		outcomeHost("node01", playbooks.StatusRolledBack, 1),
		outcomeHost("node02", playbooks.StatusRolledBack, 1),
		{Host: "node03", OS: "linux", Status: playbooks.StatusSkipped, Error: "not started: the rollout stopped", Changes: changedHost("node03").Changes},
		{Host: "node04", OS: "linux", Status: playbooks.StatusSkipped, Error: "not started: the rollout stopped"},
	}
	o.Hosts[0].Health = &playbooks.HostHealth{Checked: true, Counters: map[string]playbooks.CounterCheck{"Tcp.AttemptFails": {Increase: 57, Threshold: 50}}}
	o.Hosts[1].Health = &playbooks.HostHealth{Checked: true, Counters: map[string]playbooks.CounterCheck{"Tcp.AttemptFails": {Increase: 0, Threshold: 50}},
		Probe: &playbooks.ProbeCheck{Exit: 2, Output: "3 of 20 handshakes failed"}}
	o.Batches = []playbooks.BatchOutcome{{Number: 1, Canary: true, Hosts: []string{"node01", "node02"}, Checked: true, Failed: true,
		Details: []string{
			"node01: Tcp.AttemptFails +57 (threshold 50)",
			`node02: probe "/usr/local/bin/check-app-handshakes" exited 2: 3 of 20 handshakes failed`,
		},
		Thresholds: linuxThresholds}}
	o.Summarize()
	return o
}

// health.unchecked: allow on OS families without counters: applied, and
// every batch shown as not checked, never healthy.
func notCheckedOutcome() *playbooks.Outcome {
	o := &playbooks.Outcome{RunID: "20261122T171500Z-3f2a", Kind: "apply"}
	for i, n := range []string{"hpux-01", "aix-01", "tru64-01", "win-01"} {
		os := []string{"hpux", "aix", "tru64", "windows"}[i]
		h := playbooks.HostOutcome{Host: n, OS: os, Batch: 1 + i/2, Status: playbooks.StatusApplied,
			Changes: []platform.Change{{Setting: "ephemeral_ports", Knob: "ephemeral_ports", Current: "49152-65535", Target: "10240-65535", Action: platform.ActionUpdate}},
			Health:  &playbooks.HostHealth{Reason: "fleettune reads no TCP counters on " + os + " yet and health.probe has no " + os + " command"}}
		o.Hosts = append(o.Hosts, h)
	}
	o.Batches = []playbooks.BatchOutcome{
		{Number: 1, Canary: true, Hosts: []string{"aix-01", "hpux-01"}, Unchecked: []string{"aix-01", "hpux-01"}},
		{Number: 2, Hosts: []string{"tru64-01", "win-01"}, Unchecked: []string{"tru64-01", "win-01"}},
	}
	o.Summarize()
	return o
}

// A finished rollout with every kind of host line.
func mixedOutcome() *playbooks.Outcome {
	o := &playbooks.Outcome{RunID: "20261122T171500Z-3f2a", Kind: "apply"}
	rb := outcomeHost("sol01", playbooks.StatusApplied, 1)
	rb.OS, rb.RebootRequired, rb.RebootReason = "solaris", true, "time_wait: tcp_time_wait_interval in /etc/system takes effect at the next boot"
	rb.Health = &playbooks.HostHealth{Checked: true, Counters: map[string]playbooks.CounterCheck{"tcp.tcpAttemptFails": {Increase: 1, Threshold: 50}}}
	o.Hosts = []playbooks.HostOutcome{
		outcomeHost("node01", playbooks.StatusApplied, 1),
		rb,
		{Host: "node03", OS: "linux", Batch: 2, Status: playbooks.StatusOK},
		{Host: "node04", OS: "linux", Batch: 2, Status: playbooks.StatusOK},
		{Host: "node05", OS: "linux", Batch: 2, Status: playbooks.StatusFailed,
			Error: "stale plan: ephemeral_ports is now 25000-50001, the plan saw 32768-60999; run plan again"},
		{Host: "node06", OS: "linux", Batch: 2, Status: playbooks.StatusUnreachable, Error: "node06: dial tcp 127.0.0.1:2206: connect: connection refused"},
	}
	o.Batches = []playbooks.BatchOutcome{
		{Number: 1, Canary: true, Hosts: []string{"node01", "sol01"}, Checked: true, Healthy: true, Thresholds: linuxThresholds},
		{Number: 2, Hosts: []string{"node03", "node04", "node05", "node06"}},
	}
	o.Summarize()
	return o
}

func rollbackOutcome() *playbooks.Outcome {
	o := &playbooks.Outcome{RunID: "20261122T172000Z-77aa", Kind: "rollback", RollbackOf: "20261122T171500Z-3f2a"}
	o.Hosts = []playbooks.HostOutcome{
		outcomeHost("node01", playbooks.StatusRolledBack, 0),
		{Host: "node02", OS: "linux", Status: playbooks.StatusOK, Changes: changedHost("node02").Changes,
			Notes: []string{"already at the recorded previous values; nothing to do"}},
		{Host: "node03", OS: "linux", Status: playbooks.StatusFailed, Changes: changedHost("node03").Changes,
			Error: "verify: net.ipv4.ip_local_port_range is 20000 60999, was 32768 60999"},
	}
	o.Summarize()
	return o
}

func TestOutcomeGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     *playbooks.Outcome
		color bool
	}{
		{"apply-canary-rolled-back", canaryRolledBack(), false},
		{"apply-mixed", mixedOutcome(), false},
		{"apply-mixed-color", mixedOutcome(), true},
		{"rollback", rollbackOutcome(), false},
		{"apply-not-checked", notCheckedOutcome(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := NewOutcome(Text, &b, tc.color).Outcome(tc.o); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".txt", b.Bytes())
			if !tc.color && strings.Contains(b.String(), "\x1b[") {
				t.Error("escape codes without color")
			}
			if tc.color {
				return
			}
			b.Reset()
			if err := NewOutcome(JSON, &b, false).Outcome(tc.o); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".json", b.Bytes())
		})
	}
}

// What the human view must say, whatever the layout: the facts an operator
// acts on at 3 a.m.
func TestOutcomeHumanSays(t *testing.T) {
	render := func(o *playbooks.Outcome) string {
		var b bytes.Buffer
		if err := NewOutcome(Text, &b, false).Outcome(o); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	canary := render(canaryRolledBack())
	for _, want := range []string{
		"batch 1 (canary), 2 hosts: UNHEALTHY",
		"node01: Tcp.AttemptFails +57 (threshold 50)",
		"thresholds per watch window: Tcp.AttemptFails +50, TcpExt.PAWSEstab +10, TcpExt.TCPTimeWaitOverflow +0",
		"node01  rolled back  ephemeral_ports back to 32768-60999, keepalive_time back to 2h0m0s",
		"Stopped: batch 1 (canary) unhealthy",
		"2 rolled back",
		"2 not done",
	} {
		if !strings.Contains(canary, want) {
			t.Errorf("canary outcome lacks %q:\n%s", want, canary)
		}
	}
	mixed := render(mixedOutcome())
	for _, want := range []string{
		"reboot required: time_wait: tcp_time_wait_interval in /etc/system",
		"= node03, node04  already as the playbook says",
		"stale plan: ephemeral_ports is now 25000-50001",
		"1 host awaiting a reboot (fleettune status tracks them)",
		"batch 2, 4 hosts: not checked",
	} {
		if !strings.Contains(mixed, want) {
			t.Errorf("mixed outcome lacks %q:\n%s", want, mixed)
		}
	}
	rb := render(rollbackOutcome())
	for _, want := range []string{
		"fleettune rollback of run 20261122T171500Z-3f2a",
		"node01  rolled back  ephemeral_ports back to 32768-60999",
		"= node02  already at the recorded previous values",
		"node03  failed  wanted ephemeral_ports back to 32768-60999",
		"Rollback: 1 rolled back, 1 already as before, 1 failed.",
	} {
		if !strings.Contains(rb, want) {
			t.Errorf("rollback outcome lacks %q:\n%s", want, rb)
		}
	}
	if conv := render(&playbooks.Outcome{Kind: "apply", Hosts: []playbooks.HostOutcome{{Host: "a", Status: "ok"}}, Summary: playbooks.OutcomeSummary{Hosts: 1, OK: 1}}); !strings.Contains(conv, "No changes. 1 host matches the playbook") {
		t.Errorf("converged apply:\n%s", conv)
	}
}

// The JSON result keeps the contract's shape: arrays never null, statuses
// from the contract's list.
func TestOutcomeJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := NewOutcome(JSON, &b, false).Outcome(canaryRolledBack()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RunID      string `json:"run_id"`
		Kind       string `json:"kind"`
		RolledBack bool   `json:"rolled_back"`
		Hosts      []struct {
			Status  string            `json:"status"`
			Changes []json.RawMessage `json:"changes"`
			Notes   []string          `json:"notes"`
		} `json:"hosts"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "apply" || !doc.RolledBack || doc.Summary["rolled_back"] != 2 || doc.Summary["skipped"] != 2 {
		t.Errorf("doc = %+v", doc)
	}
	statuses := map[string]bool{"ok": true, "changes": true, "applied": true, "rolled_back": true, "failed": true, "unreachable": true, "skipped": true}
	for _, h := range doc.Hosts {
		if !statuses[h.Status] || h.Changes == nil || h.Notes == nil {
			t.Errorf("host %+v: status outside the contract or null arrays", h)
		}
	}
	if !strings.Contains(b.String(), `"notes": []`) {
		t.Error("a host without notes must have \"notes\": []")
	}
}

func TestStatusGolden(t *testing.T) {
	// Status shows times in the operator's zone; pin it for the golden file.
	saved := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = saved })
	started := time.Date(2026, 11, 22, 17, 15, 0, 0, time.UTC)
	doc := &StatusDoc{
		StateDir: "/home/op/.local/state/fleettune",
		Runs: []RunLine{
			{ID: "20261122T171500Z-3f2a", Kind: "apply", Started: started, User: "op", Playbook: "port-hygiene", State: "done",
				Counts: map[string]int{"applied": 3, "ok": 1}},
			{ID: "20261122T172000Z-77aa", Kind: "rollback", Started: started.Add(5 * time.Minute), User: "op",
				RollbackOf: "20261122T171500Z-3f2a", State: "done", Counts: map[string]int{"rolled_back": 3}},
			{ID: "20261122T180000Z-0b1c", Kind: "apply", Started: started.Add(45 * time.Minute), User: "op", Playbook: "port-hygiene",
				State: "interrupted", Counts: map[string]int{"applied": 2}},
			{ID: "20261122T181000Z-dead", Kind: "apply", Started: started.Add(55 * time.Minute), User: "op", State: "unreadable",
				Counts: map[string]int{}, Error: "runs/20261122T181000Z-dead.jsonl:3: corrupt record"},
		},
		Reboots: []playbooks.RebootStatus{
			{RunID: "20261122T171500Z-3f2a", Host: "sol01", OS: "solaris", State: playbooks.RebootPending,
				Reason: "time_wait: tcp_time_wait_interval in /etc/system takes effect at the next boot", BootID: "2026-11-20 04:11"},
			{RunID: "20261122T171500Z-3f2a", Host: "hp01", OS: "hpux", State: playbooks.RebootNotTaken,
				Reason: "ephemeral_ports: nddconf", Detail: "tcp_smallest_anon_port is 49152, want 20000"},
			{RunID: "20261122T171500Z-3f2a", Host: "aix01", OS: "aix", State: playbooks.RebootUnreachable,
				Reason: "keepalive_time: nextboot", Detail: "dial tcp 127.0.0.1:2207: connect: connection refused"},
		},
	}
	for _, f := range []struct {
		name string
		f    Format
	}{{"status.txt", Text}, {"status.json", JSON}} {
		var b bytes.Buffer
		if err := NewStatus(f.f, &b, false).Status(doc); err != nil {
			t.Fatal(err)
		}
		golden(t, f.name, b.Bytes())
	}
	var b bytes.Buffer
	_ = NewStatus(Text, &b, false).Status(doc)
	for _, want := range []string{
		"fleettune rollback --run 20261122T180000Z-0b1c restores the hosts it changed",
		"sol01  solaris  not rebooted yet",
		"rebooted, but the values did not take: tcp_smallest_anon_port is 49152, want 20000",
		"3 applied, 1 ok · port-hygiene",
		"3 rolled back (of 20261122T171500Z-3f2a)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	_ = NewStatus(Text, &b, false).Status(&StatusDoc{StateDir: "/s"})
	if !strings.Contains(b.String(), "No runs yet.") || !strings.Contains(b.String(), "No host is awaiting a reboot.") {
		t.Errorf("empty status:\n%s", b.String())
	}
}
