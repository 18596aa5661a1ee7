package views

import (
	"fmt"
	"io"
	"testing"

	"github.com/fleettune/fleettune/playbooks"
)

// BenchmarkPlanHuman10000 is what grouping costs on a 10,000-host plan:
// every host's block is rendered once to find its group.
func BenchmarkPlanHuman10000(b *testing.B) {
	p := mixedPlan()
	p.Hosts = nil
	for i := range 10000 {
		p.Hosts = append(p.Hosts, changedHost(fmt.Sprintf("web%05d", i)))
	}
	p.Summarize()
	v := NewPlan(Text, io.Discard, false)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Plan(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProgressHostDone is one host's event on a terminal.
func BenchmarkProgressHostDone(b *testing.B) {
	c := newClock()
	p := &Progress{W: io.Discard, Terminal: true, Now: c.now}
	p.Progress(playbooks.Event{Kind: playbooks.RolloutStarted, Total: 1 << 30, Batches: 1})
	p.Progress(playbooks.Event{Kind: playbooks.BatchStarted, Batch: 1, Batches: 1, Hosts: 1 << 30})
	b.ReportAllocs()
	for b.Loop() {
		c.add(1e6)
		p.Progress(playbooks.Event{Kind: playbooks.HostDone, Status: playbooks.StatusApplied})
	}
}
