package playbooks

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkVerify1000 is apply PLAN.json's check of a 1000-host plan
// against its playbook (no host contacted): what a saved plan costs
// before the first batch.
func BenchmarkVerify1000(b *testing.B) {
	f := newKVFleet(1000, nil)
	pb, err := Parse("kv.yaml", []byte("name: kv\ntargets: {ephemeral_ports: 20000-60999}\n"))
	if err != nil {
		b.Fatal(err)
	}
	e := f.engine(nil)
	pl := &Planner{Dial: e.Dial, Driver: e.Driver, Forks: 64}
	p, err := pl.Plan(context.Background(), f.inventory(), pb)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(p)
	hosts := f.inventory()
	b.ResetTimer()
	for range b.N {
		q, err := ParsePlan("plan.json", data)
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Verify(pb, hosts, kvDrivers); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data))/1000, "plan-bytes/host")
}
