package playbooks

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// reads counts the gathers ("get") each host of f answered.
func (f *kvFleet) reads() map[string]int {
	n := map[string]int{}
	for name, h := range f.hosts {
		for _, c := range h.commands() {
			if c == "get" {
				n[name]++
			}
		}
	}
	return n
}

// TestApplyReusesItsOwnPlansRead: apply after its own plan, through the
// same pool, takes the facts the plan read over the session it still holds
// when they are recent enough: each host is read twice (the plan, and the
// verify after the change), not three times. Facts that are too old, that
// came from a file, or that were read over a session since dialled again
// are read again, and a host changed since is then refused as stale.
func TestApplyReusesItsOwnPlansRead(t *testing.T) {
	pr := platform.PortRange{Low: 20000, High: 60999}
	pb := &Playbook{Name: "kv", Targets: Targets{EphemeralPorts: &pr}, Health: Health{Counters: true, Unchecked: UncheckedAllow}}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// run plans f through a pool at t0 and applies at t0+after; edit, when
	// set, changes the plan between the two (a round trip through JSON) or
	// the hosts (a change behind fleettune's back).
	run := func(t *testing.T, reuseFor, after time.Duration, edit func(*kvFleet, *Plan) *Plan, newPool bool) (*kvFleet, *Outcome) {
		t.Helper()
		f := newKVFleet(3, nil)
		e := f.engine(&memJournal{})
		pool := &Pool{Dial: e.Dial}
		pl := &Planner{Dial: pool.Dialer(), Driver: e.Driver, Forks: 2, Now: func() time.Time { return t0 }}
		p, err := pl.Plan(context.Background(), f.inventory(), pb)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			p = edit(f, p)
		}
		if newPool {
			pool.Close()
			pool = &Pool{Dial: e.Dial}
			// A session that is not the plan's: kvFleet's dialer hands out
			// the host itself, so wrap it.
			inner := pool.Dial
			pool.Dial = func(ctx context.Context, h *inventory.Host) (remote.Session, error) {
				s, err := inner(ctx, h)
				return &closeCounter{Session: s, closes: new(atomic.Int64)}, err
			}
		}
		e.Dial, e.Release = pool.Dialer(), pool.Release
		e.Now = func() time.Time { return t0.Add(after) }
		o := rangeOptions("20000-60999", Batch{}, Health{Counters: true})
		o.Expected, o.ReuseFor = expected(p), reuseFor
		return f, e.Apply(context.Background(), "run", f.inventory(), o)
	}
	want := func(t *testing.T, f *kvFleet, out *Outcome, reads int) {
		t.Helper()
		if out.Summary.Applied != 3 {
			t.Fatalf("summary %+v, want 3 applied", out.Summary)
		}
		for name, n := range f.reads() {
			if n != reads {
				t.Errorf("%s was read %d times, want %d", name, n, reads)
			}
		}
	}

	t.Run("recent read over the same session", func(t *testing.T) {
		f, out := run(t, time.Minute, 30*time.Second, nil, false)
		want(t, f, out, 2)
		// The journal still has a before record ahead of every command.
		for _, h := range f.names {
			if got := f.hosts[h].live; got != "20000-60999" {
				t.Errorf("%s live %s", h, got)
			}
		}
	})
	t.Run("reuse off", func(t *testing.T) {
		f, out := run(t, 0, 0, nil, false)
		want(t, f, out, 3)
	})
	t.Run("read too long ago", func(t *testing.T) {
		f, out := run(t, time.Minute, time.Minute+time.Second, nil, false)
		want(t, f, out, 3)
	})
	t.Run("plan from a file", func(t *testing.T) {
		f, out := run(t, time.Minute, time.Second, func(_ *kvFleet, p *Plan) *Plan {
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var q Plan
			if err := json.Unmarshal(b, &q); err != nil {
				t.Fatal(err)
			}
			return &q
		}, false)
		want(t, f, out, 3)
	})
	t.Run("session dialled again", func(t *testing.T) {
		f, out := run(t, time.Minute, time.Second, nil, true)
		want(t, f, out, 3)
	})
	t.Run("host changed, read too long ago: stale", func(t *testing.T) {
		_, out := run(t, time.Minute, 2*time.Minute, func(f *kvFleet, p *Plan) *Plan {
			f.hosts["h02"].live = "25000-50000"
			return p
		}, false)
		if h := out.Hosts[1]; h.Status != StatusFailed || !strings.Contains(h.Error, "stale plan") {
			t.Errorf("h02 = %s %q, want refused as stale", h.Status, h.Error)
		}
	})
}

// countingJournal counts the engine's durable writes.
type countingJournal struct {
	memJournal
	records atomic.Int64
	befores atomic.Int64
}

func (j *countingJournal) Before(b BeforeRecord) error {
	j.befores.Add(1)
	return j.memJournal.Before(b)
}

func (j *countingJournal) Record(cmds []CommandRecord, rs []HostOutcome) error {
	j.records.Add(1)
	return j.memJournal.Record(cmds, rs)
}

// TestApplyJournalsCommandsWithTheirResult: a changed host costs the
// journal two durable writes, its before record ahead of any command and
// its commands with the result they led to, and a batch's health results
// one more for all its hosts; every command is journalled, in order.
func TestApplyJournalsCommandsWithTheirResult(t *testing.T) {
	f := newKVFleet(4, nil)
	j := &countingJournal{}
	o := rangeOptions("20000-60999", Batch{}, Health{Counters: true})
	out := f.engine(j).Apply(context.Background(), "run", f.inventory(), o)
	if out.Summary.Applied != 4 {
		t.Fatalf("summary %+v", out.Summary)
	}
	if b, r := j.befores.Load(), j.records.Load(); b != 4 || r != 4+1 {
		t.Errorf("%d before writes and %d records writes for 4 hosts in one batch, want 4 and 5", b, r)
	}
	for _, h := range f.names {
		got := strings.Join(j.eventsFor(h), "; ")
		want := "before " + h + "; command " + h + " apply set 20000-60999 exit 0; command " + h + " apply persist 20000-60999 exit 0; result " + h + " applied; result " + h + " applied"
		if got != want {
			t.Errorf("%s journal:\n got %s\nwant %s", h, got, want)
		}
	}
}

// TestPlanKeepsNoSession: a plan keeps what it read, never the sessions
// it read over: every host's closed connection is garbage once its read
// is done, though the plan is still held (a 10,000-host plan kept them
// all when it held the session to tell apply which one it read over).
func TestPlanKeepsNoSession(t *testing.T) {
	pr := platform.PortRange{Low: 20000, High: 60999}
	pb := &Playbook{Name: "kv", Targets: Targets{EphemeralPorts: &pr}, Health: Health{Counters: true, Unchecked: UncheckedAllow}}
	for _, pooled := range []bool{false, true} {
		f := newKVFleet(8, nil)
		e := f.engine(nil)
		collected := new(atomic.Int64) // this round's sessions only
		dial := func(ctx context.Context, h *inventory.Host) (remote.Session, error) {
			s, err := e.Dial(ctx, h)
			if err != nil {
				return nil, err
			}
			w := &closeCounter{Session: s, closes: new(atomic.Int64)}
			runtime.AddCleanup(w, func(c *atomic.Int64) { c.Add(1) }, collected)
			return w, nil
		}
		d, pool := Dialer(dial), &Pool{Dial: dial}
		if pooled {
			d = pool.Dialer()
		}
		p, err := (&Planner{Dial: d, Driver: e.Driver, Forks: 2}).Plan(context.Background(), f.inventory(), pb)
		if err != nil {
			t.Fatal(err)
		}
		pool.Close()
		for i := 0; i < 50 && collected.Load() < 8; i++ {
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
		if n := collected.Load(); n != 8 {
			t.Errorf("pooled %v: %d of 8 closed sessions collected while the plan is held", pooled, n)
		}
		if pooled && p.Hosts[0].read == nil {
			t.Errorf("through a pool: the plan did not note its read for apply")
		}
		runtime.KeepAlive(p)
	}
}
