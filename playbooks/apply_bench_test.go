package playbooks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// BenchmarkApplyAfterPlan is apply's engine after its own plan, per host,
// on fake hosts (no transport, no parsing worth the name): the engine's
// own cost, its allocations, and the reads it makes. One op is one host;
// reads/op says how often each host was read (the plan's read included).
func BenchmarkApplyAfterPlan(b *testing.B) {
	for _, reuse := range []time.Duration{0, DefaultReuseFor} {
		b.Run(fmt.Sprintf("ReuseFor=%v", reuse), func(b *testing.B) {
			const n = 256
			pr := platform.PortRange{Low: 20000, High: 60999}
			pb := &Playbook{Name: "kv", Targets: Targets{EphemeralPorts: &pr}, Health: Health{Unchecked: UncheckedAllow}}
			b.ReportAllocs()
			reads := 0
			for b.Loop() {
				b.StopTimer()
				f := newKVFleet(n, nil)
				e := f.engine(&memJournal{})
				e.Forks = 64
				pool := &Pool{Dial: e.Dial}
				e.Dial, e.Release = pool.Dialer(), pool.Release
				p, err := (&Planner{Dial: pool.Dialer(), Driver: e.Driver, Forks: 64}).Plan(context.Background(), f.inventory(), pb)
				if err != nil {
					b.Fatal(err)
				}
				o := rangeOptions("20000-60999", Batch{}, Health{})
				o.Watch, o.Health.Watch = 0, 0
				o.Expected, o.ReuseFor = expected(p), reuse
				b.StartTimer()
				out := e.Apply(context.Background(), "run", f.inventory(), o)
				b.StopTimer()
				if out.Summary.Applied != n {
					b.Fatalf("summary %+v", out.Summary)
				}
				for _, r := range f.reads() {
					reads += r
				}
				pool.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(reads)/float64(b.N*n), "reads/host")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/host")
		})
	}
}
