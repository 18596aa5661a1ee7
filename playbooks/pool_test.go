package playbooks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

type lossySession struct {
	id     int
	lose   atomic.Bool
	closed atomic.Bool
}

func (s *lossySession) Run(context.Context, string) (remote.Result, error) {
	if s.lose.Load() {
		return remote.Result{}, fmt.Errorf("h: %w", remote.ErrConnLost)
	}
	return remote.Result{Stdout: []byte(fmt.Sprint(s.id))}, nil
}
func (s *lossySession) Close() error { s.closed.Store(true); return nil }

func TestPoolOneSessionPerHostRedialsWhenLost(t *testing.T) {
	var dials []*lossySession
	p := &Pool{Dial: func(context.Context, *inventory.Host) (remote.Session, error) {
		s := &lossySession{id: len(dials) + 1}
		dials = append(dials, s)
		return s, nil
	}}
	h := &inventory.Host{Name: "h"}
	ctx := context.Background()
	a, _ := p.Dialer()(ctx, h)
	a.Close() // a user's Close leaves it open for the run
	b, _ := p.Dialer()(ctx, h)
	if len(dials) != 1 || dials[0].closed.Load() {
		t.Fatalf("%d dials, closed %v; want one open session shared", len(dials), dials[0].closed.Load())
	}
	dials[0].lose.Store(true)
	if _, err := b.Run(ctx, "x"); err == nil {
		t.Fatal("lost connection not reported")
	}
	c, _ := p.Dialer()(ctx, h)
	res, err := c.Run(ctx, "x")
	if err != nil || string(res.Stdout) != "2" || len(dials) != 2 || !dials[0].closed.Load() {
		t.Fatalf("after a loss: %q %v, %d dials; want a fresh session and the lost one closed", res.Stdout, err, len(dials))
	}
	if err := p.Close(); err != nil || !dials[1].closed.Load() {
		t.Errorf("Pool.Close: %v, closed %v", err, dials[1].closed.Load())
	}
}

// TestApplyHoldsConnectionsOnlyWhileNeeded holds issue 14's scale fix: apply
// holds a host's connection only while its batch is in flight or an
// automatic rollback may still include it. With a saved plan every host is
// dialled exactly once; with rollback_scope all and automatic rollback the
// sessions stay open so that rolling every batch back needs no new dial.
func TestApplyHoldsConnectionsOnlyWhileNeeded(t *testing.T) {
	tests := []struct {
		name      string
		scope     string
		rollback  string
		unhealthy bool // the last batch fails its health check
		wantPeak  int
		wantDials int
		rolled    int
	}{
		{"healthy, scope batch: one batch open at a time", ScopeBatch, RollbackAuto, false, 2, 6, 0},
		{"manual rollback: one batch open at a time", ScopeAll, RollbackManual, false, 2, 6, 0},
		{"scope all, auto: held to the end, rolled back without a new dial", ScopeAll, RollbackAuto, true, 6, 6, 6},
		{"scope batch, auto: the failed batch rolled back on its own sessions", ScopeBatch, RollbackAuto, true, 2, 6, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newKVFleet(6, func(i int, h *kvHost) {
				if tt.unhealthy && i >= 4 {
					h.rise = 100
				}
			})
			var closes atomic.Int64
			e := f.engine(&memJournal{})
			inner := e.Dial
			pool := &Pool{Dial: func(ctx context.Context, h *inventory.Host) (remote.Session, error) {
				s, err := inner(ctx, h)
				if err != nil {
					return nil, err
				}
				return &closeCounter{Session: s, closes: &closes}, nil
			}}
			e.Dial, e.Release = pool.Dialer(), pool.Release
			o := rangeOptions("20000-60999", Batch{Count: 2}, Health{Counters: true, Rollback: tt.rollback})
			o.RollbackScope = tt.scope
			out := e.Apply(context.Background(), "run", f.inventory(), o)
			dials, open, peak := pool.Stats()
			if dials != tt.wantDials || peak != tt.wantPeak {
				t.Errorf("dials %d, most open at once %d; want %d and %d", dials, peak, tt.wantDials, tt.wantPeak)
			}
			if open != 0 || closes.Load() != int64(dials) {
				t.Errorf("after the run %d sessions open, %d of %d closed; want all closed", open, closes.Load(), dials)
			}
			if out.Summary.RolledBack != tt.rolled {
				t.Errorf("rolled back %d, want %d (%+v, stopped %q)", out.Summary.RolledBack, tt.rolled, out.Summary, out.Stopped)
			}
			for _, n := range f.names {
				h := f.hosts[n]
				rolledBack := tt.rolled == 6 || (tt.rolled == 2 && (n == "h05" || n == "h06"))
				if want := map[bool]string{true: "32768-60999", false: "20000-60999"}[rolledBack]; h.live != want {
					t.Errorf("%s live %s, want %s", n, h.live, want)
				}
			}
		})
	}
}

// TestApplyAfterPlanOneConnectionPerHost: plan's read through the same
// pool releases the hosts with nothing to apply at once and keeps the
// others for apply, which reuses them (one connection per host per run)
// and releases each host's once its batch is judged.
func TestApplyAfterPlanOneConnectionPerHost(t *testing.T) {
	f := newKVFleet(6, func(i int, h *kvHost) {
		if i == 5 {
			h.live, h.persisted = "20000-60999", "20000-60999" // converged
		}
	})
	e := f.engine(&memJournal{})
	var closes atomic.Int64
	inner := e.Dial
	pool := &Pool{Dial: func(ctx context.Context, h *inventory.Host) (remote.Session, error) {
		s, err := inner(ctx, h)
		if err != nil {
			return nil, err
		}
		return &closeCounter{Session: s, closes: &closes}, nil
	}}
	e.Dial, e.Release = pool.Dialer(), pool.Release
	pr := platform.PortRange{Low: 20000, High: 60999}
	pl := &Planner{Dial: e.Dial, Driver: e.Driver, Forks: 4, Release: pool.Release}
	p, err := pl.Plan(context.Background(), f.inventory(), &Playbook{Name: "kv", Targets: Targets{EphemeralPorts: &pr}, Health: Health{Counters: true}})
	if err != nil {
		t.Fatal(err)
	}
	if dials, open, _ := pool.Stats(); dials != 6 || open != 5 || closes.Load() != 1 {
		t.Fatalf("after plan: %d dials, %d open, %d closed; want 6, the 5 with changes, the converged one", dials, open, closes.Load())
	}
	var todo []*inventory.Host
	for i, h := range f.inventory() {
		if p.Hosts[i].Status == StatusChanges {
			todo = append(todo, h)
		}
	}
	out := e.Apply(context.Background(), "run", todo, rangeOptions("20000-60999", Batch{Count: 2}, Health{Counters: true}))
	if out.Summary.Applied != 5 {
		t.Fatalf("summary %+v", out.Summary)
	}
	if dials, open, _ := pool.Stats(); dials != 6 || open != 0 || closes.Load() != 6 {
		t.Errorf("after apply: %d dials, %d open, %d closed; want one dial per host, every session closed", dials, open, closes.Load())
	}
}

type closeCounter struct {
	remote.Session
	closes *atomic.Int64
}

func (s *closeCounter) Close() error { s.closes.Add(1); return s.Session.Close() }

// TestStatusNamesAreRecords holds the one status vocabulary: the engine's
// untyped names are exactly record.Status's values, the ones the journal
// validates, and "changes" (a plan's only) is not one of them.
func TestStatusNamesAreRecords(t *testing.T) {
	pairs := map[record.Status]record.Status{
		StatusOK: record.StatusOK, StatusApplied: record.StatusApplied, StatusRolledBack: record.StatusRolledBack,
		StatusFailed: record.StatusFailed, StatusUnreachable: record.StatusUnreachable, StatusSkipped: record.StatusSkipped,
	}
	if len(pairs) != len(record.Statuses) {
		t.Fatalf("%d engine statuses for %d record statuses", len(pairs), len(record.Statuses))
	}
	for ours, theirs := range pairs {
		if ours != theirs || !ours.Valid() {
			t.Errorf("engine status %q, record %q", ours, theirs)
		}
	}
	if record.Status(StatusChanges).Valid() {
		t.Error(`"changes" is a record status`)
	}
}
