package views

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/playbooks"
)

var update = flag.Bool("update", false, "rewrite golden files")

const twNote = "time_wait: fixed at 60s by the Linux kernel; not changeable at runtime"

func changedHost(name string) playbooks.HostPlan {
	return playbooks.HostPlan{
		Host: name, OS: "linux", Version: "6.18.44", Status: playbooks.StatusChanges,
		BootID: "8d7ef2d3-9313-42c2-9ac6-8afc6f15fc5d", TimeWaitSockets: 0,
		Changes: []platform.Change{
			{Setting: "ephemeral_ports", Knob: "net.ipv4.ip_local_port_range", Current: "32768-60999", AtBoot: "kernel default",
				Target: "20000-60999", Commands: []string{"sysctl -w net.ipv4.ip_local_port_range='20000 60999'"},
				Persist: "/etc/sysctl.d/90-fleettune.conf: net.ipv4.ip_local_port_range = 20000 60999",
				Action:  platform.ActionUpdate, After: &platform.Value{Ports: &platform.PortRange{Low: 20000, High: 60999}}},
			{Setting: "keepalive_time", Knob: "net.ipv4.tcp_keepalive_time", Current: "2h0m0s", AtBoot: "10m0s",
				Target: "5m0s", Commands: []string{"sysctl -w net.ipv4.tcp_keepalive_time=300"},
				Persist: "/etc/sysctl.d/90-fleettune.conf: net.ipv4.tcp_keepalive_time = 300",
				Action:  platform.ActionUpdate, After: &platform.Value{Duration: durp(5 * time.Minute)}},
		},
		Steps: []string{
			"sysctl -w net.ipv4.ip_local_port_range='20000 60999'",
			"sysctl -w net.ipv4.tcp_keepalive_time=300",
			"umask 022 && printf '%s' '# Written by fleettune.\nnet.ipv4.ip_local_port_range = 20000 60999\nnet.ipv4.tcp_keepalive_time = 300\n' > /etc/sysctl.d/90-fleettune.conf.fleettune-tmp && sync /etc/sysctl.d/90-fleettune.conf.fleettune-tmp && mv -f /etc/sysctl.d/90-fleettune.conf.fleettune-tmp /etc/sysctl.d/90-fleettune.conf",
		},
		Notes: []string{twNote},
	}
}

func mixedPlan() *playbooks.Plan {
	p := &playbooks.Plan{
		RunID: "20261122T171500Z-3f2a", Kind: "plan", CreatedAt: time.Date(2026, 11, 22, 17, 15, 0, 0, time.UTC),
		Playbook: "examples/playbook.yaml", PlaybookName: "port-hygiene",
		Settings: playbooks.RunSettings{ProtectListeningPorts: true, MinTimeWait: "10s", Batch: "25%", MaxFailures: playbooks.Budget{}, Watch: "2m0s", Counters: true, Rollback: "auto",
			Probe: map[string]string{"linux": "/usr/local/bin/check-app-handshakes"}},
		Hosts: []playbooks.HostPlan{
			changedHost("node01"),
			{Host: "node02", OS: "linux", Version: "6.18.44", Status: playbooks.StatusOK, Notes: []string{twNote}},
			{Host: "node03", OS: "linux", Version: "6.18.44", Status: playbooks.StatusFailed,
				Error: "refused by guardrail: ephemeral_ports: range 10240-65535 covers listening port(s) 15000",
				Changes: []platform.Change{{Setting: "ephemeral_ports", Knob: "net.ipv4.ip_local_port_range",
					Current: "32768-60999", Target: "10240-65535", Action: platform.ActionRefused,
					Refused: "range 10240-65535 covers listening port(s) 15000; move the range or reserve them in net.ipv4.ip_local_reserved_ports"}},
				Notes: []string{twNote, "net.ipv4.tcp_tw_reuse is 0: outgoing connections cannot reuse TIME_WAIT ports (1 helps clients with timestamps on)"}},
			{Host: "node04", Status: playbooks.StatusUnreachable, TimeWaitSockets: -1,
				Error: "node04: host unreachable: proxy command exited 255: Connection closed by remote host"},
			{Host: "node05", OS: "linux", Version: "6.18.44", Status: playbooks.StatusChanges,
				Changes: []platform.Change{{Setting: "keepalive_time", Knob: "net.ipv4.tcp_keepalive_time",
					Current: "5m0s", AtBoot: "kernel default (not persisted)", Target: "5m0s", Action: platform.ActionPersistOnly,
					Persist: "/etc/sysctl.d/90-fleettune.conf: net.ipv4.tcp_keepalive_time = 300"}},
				Steps: []string{"umask 022 && printf '%s' '# Written by fleettune.\nnet.ipv4.tcp_keepalive_time = 300\n' > /etc/sysctl.d/90-fleettune.conf.fleettune-tmp && sync /etc/sysctl.d/90-fleettune.conf.fleettune-tmp && mv -f /etc/sysctl.d/90-fleettune.conf.fleettune-tmp /etc/sysctl.d/90-fleettune.conf"},
				Notes: []string{twNote}},
		},
	}
	p.Summarize()
	return p
}

func durp(d time.Duration) *time.Duration { return &d }

// rebootOnlyPlan: every host has persisted its targets and only awaits a
// reboot; nothing is to run, yet the summary must not say "No changes".
func rebootOnlyPlan() *playbooks.Plan {
	p := &playbooks.Plan{RunID: "20261122T171500Z-3f2a", Kind: "plan", PlaybookName: "port-hygiene"}
	for _, n := range []string{"aix-01", "aix-02"} {
		p.Hosts = append(p.Hosts, playbooks.HostPlan{Host: n, OS: "aix", Version: "7.2", Status: playbooks.StatusOK, RebootRequired: true,
			Changes: []platform.Change{{Setting: "ephemeral_ports", Knob: "tcp_ephemeral_low", Current: "32768-65535", AtBoot: "10240-65535",
				Target: "10240-65535", RebootRequired: true, RebootReason: "tcp_ephemeral_low is a reboot tunable; takes effect at the next boot",
				Action: platform.ActionAwaitReboot, After: &platform.Value{Ports: &platform.PortRange{Low: 10240, High: 65535}}}}})
	}
	p.Summarize()
	return p
}

func convergedPlan() *playbooks.Plan {
	p := &playbooks.Plan{RunID: "20261122T171500Z-3f2a", Kind: "plan", PlaybookName: "port-hygiene"}
	for _, n := range []string{"node01", "node02", "node03"} {
		p.Hosts = append(p.Hosts, playbooks.HostPlan{Host: n, OS: "linux", Status: playbooks.StatusOK, Notes: []string{twNote}})
	}
	p.Summarize()
	return p
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./views -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./views -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestPlanHumanGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plan  *playbooks.Plan
		color bool
	}{
		{"plan-mixed.txt", mixedPlan(), false},
		{"plan-mixed-color.txt", mixedPlan(), true},
		{"plan-converged.txt", convergedPlan(), false},
		{"plan-reboot-only.txt", rebootOnlyPlan(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := NewPlan(Text, &b, tc.color).Plan(tc.plan); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
			if !tc.color && strings.Contains(b.String(), "\x1b[") {
				t.Error("colour escape codes in output with colour off")
			}
			if tc.color && !strings.Contains(b.String(), "\x1b[") {
				t.Error("no colour with colour on")
			}
		})
	}
}

func TestPlanHumanSummaryLine(t *testing.T) {
	for _, tc := range []struct {
		plan *playbooks.Plan
		want string
	}{
		{mixedPlan(), "Plan: 2 hosts to change (3 settings), 1 up to date, 1 failed, 1 unreachable."},
		{convergedPlan(), "No changes. 3 hosts match the playbook."},
		{rebootOnlyPlan(), "Nothing to run: 2 hosts await a reboot to bring the persisted values into force."},
	} {
		var b bytes.Buffer
		if err := NewPlan(Text, &b, false).Plan(tc.plan); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		if last := lines[len(lines)-1]; last != tc.want {
			t.Errorf("last line = %q, want %q", last, tc.want)
		}
	}
}

// The kernel's TIME_WAIT note concerns every reached host: it is said once.
func TestPlanHumanSharedNoteOnce(t *testing.T) {
	var b bytes.Buffer
	if err := NewPlan(Text, &b, false).Plan(mixedPlan()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), twNote); n != 1 {
		t.Errorf("TIME_WAIT note printed %d times, want once", n)
	}
	if !strings.Contains(b.String(), "live 2h0m0s, at next boot 10m0s → 5m0s") {
		t.Errorf("drift not shown as live/at next boot:\n%s", b.String())
	}
}

func TestPlanJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := NewPlan(JSON, &b, true).Plan(mixedPlan()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-mixed.json", b.Bytes())
	// The fields the contract promises, by name and type.
	var doc struct {
		RunID string `json:"run_id"`
		Kind  string `json:"kind"`
		Hosts []struct {
			Host           string `json:"host"`
			OS             string `json:"os"`
			Status         string `json:"status"`
			Error          *string
			RebootRequired *bool `json:"reboot_required"`
			Changes        []struct {
				Setting, Knob, Current, Target string
				Commands                       []string
				RebootRequired                 *bool `json:"reboot_required"`
			} `json:"changes"`
			Notes []string `json:"notes"`
		} `json:"hosts"`
		Summary map[string]int `json:"summary"`
	}
	dec := json.NewDecoder(&b)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Error("more than one JSON document on stdout")
	}
	if doc.RunID != "20261122T171500Z-3f2a" || doc.Kind != "plan" || len(doc.Hosts) != 5 {
		t.Fatalf("run_id/kind/hosts = %q/%q/%d", doc.RunID, doc.Kind, len(doc.Hosts))
	}
	h := doc.Hosts[0]
	if h.Error == nil || h.RebootRequired == nil || h.Changes[0].RebootRequired == nil {
		t.Error("error and reboot_required must always be present")
	}
	if c := h.Changes[0]; c.Setting != "ephemeral_ports" || c.Current != "32768-60999" || c.Target != "20000-60999" || len(c.Commands) != 1 {
		t.Errorf("first change = %+v", c)
	}
	if doc.Hosts[3].Changes == nil || doc.Hosts[3].Notes == nil {
		t.Error("changes and notes must be [] for an unreachable host, not null")
	}
	want := map[string]int{"hosts": 5, "ok": 1, "changes": 2, "failed": 1, "unreachable": 1, "reboot_required": 0}
	for k, v := range want {
		if doc.Summary[k] != v {
			t.Errorf("summary.%s = %d, want %d", k, doc.Summary[k], v)
		}
	}
}

func TestParseFormat(t *testing.T) {
	if _, err := ParseFormat("yaml"); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("ParseFormat(yaml) = %v", err)
	}
	if f, err := ParseFormat("json"); err != nil || f != JSON {
		t.Errorf("ParseFormat(json) = %v, %v", f, err)
	}
}
