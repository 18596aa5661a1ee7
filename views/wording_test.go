package views

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/playbooks"
)

// The plan's words: a note shared by two hosts says "both hosts", by more
// "all N hosts"; the playbook's name is printed terminal-safe.
func TestPlanWording(t *testing.T) {
	const note = "time_wait: fixed at 60s by the Linux kernel; not changeable at runtime"
	plan := func(n int) *playbooks.Plan {
		p := &playbooks.Plan{RunID: "20261122T171500Z-3f2a", Kind: "plan", PlaybookName: "hygiene" + hostile}
		for _, h := range []string{"web01", "web02", "web03"}[:n] {
			p.Hosts = append(p.Hosts, playbooks.HostPlan{Host: h, OS: "linux", Status: playbooks.StatusOK, Notes: []string{note}})
		}
		p.Summarize()
		return p
	}
	for n, want := range map[int]string{2: "(both hosts)", 3: "(all 3 hosts)"} {
		var b bytes.Buffer
		if err := NewPlan(Text, &b, false).Plan(plan(n)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), note+" "+want) {
			t.Errorf("%d hosts: want %q:\n%s", n, want, b.String())
		}
		if strings.ContainsAny(b.String(), "\x1b\x07") {
			t.Errorf("the playbook's name reached the text raw:\n%q", b.String())
		}
	}
}
