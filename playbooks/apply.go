package playbooks

import (
	"context"
	"errors"
	"fmt"
	"github.com/fleettune/fleettune/remote"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

var errStopped = errors.New("rollout stopped")

// Rollback scopes: what an unhealthy batch undoes.
const (
	ScopeBatch = "batch" // the unhealthy batch only
	ScopeAll   = "all"   // every host applied so far in this run
)

// ApplyOptions say what to apply and how to roll it out.
type ApplyOptions struct {
	// Targets resolves one host's targets once its OS is known.
	Targets func(h *inventory.Host, os string) (platform.Targets, error)
	// Expected, when set, holds the reviewed plan per host: a host whose
	// fresh proposal differs from it is refused as stale.
	Expected map[string]HostPlan
	// Guardrails are the playbook's OS-neutral guardrails, applied by the
	// planner to every fresh proposal.
	Guardrails Guardrails
	// Batch is the ramp of batch sizes; the first batch is the canary.
	Batch Ramp
	// MaxFailures stops the rollout once more hosts than it allows have
	// failed or were unreachable.
	MaxFailures Budget
	Watch       time.Duration
	Health      Health
	// RollbackScope is ScopeBatch (default) or ScopeAll.
	RollbackScope string
	// ReuseFor lets apply take the facts this process's plan read from a
	// host (in Expected) instead of reading the host again, when they were
	// read over the very pooled session apply now holds (not lost and
	// dialled again since) at most ReuseFor ago. Zero reads every host again. A
	// plan loaded from a file is always read again: its facts are only
	// compared with a fresh read, for staleness.
	ReuseFor time.Duration
}

// DefaultReuseFor is how old the facts of apply's own plan may be for apply
// to take them instead of reading the host again: the plan's own read time
// at fleet scale (one to four minutes for 10,000 hosts, the machine busy)
// and a prompt answered soon, not a review that took longer or a batch
// that came after several health watches.
const DefaultReuseFor = 5 * time.Minute

// reusable returns the facts the plan read from h over sess, when o lets
// apply take them at now; nil when the host must be read again.
func (o ApplyOptions) reusable(h string, sess remote.Session, now time.Time) *platform.Facts {
	if o.ReuseFor <= 0 {
		return nil
	}
	exp, ok := o.Expected[h]
	tok := tokenOf(sess)
	if !ok || exp.read == nil || exp.Facts == nil || tok == nil || exp.read.session != tok {
		return nil
	}
	if age := now.Sub(exp.read.at); age < 0 || age > o.ReuseFor {
		return nil
	}
	return exp.Facts
}

// applied is a host the engine changed, kept for the health check and for
// rolling back.
type applied struct {
	conn     *hostConn
	out      *HostOutcome
	snapshot platform.Snapshot
	before   platform.Counters
	// pendingRestore lists what a restore left for the next boot.
	pendingRestore []string
}

// Apply rolls changes out over hosts in batches. The first batch is the
// canary. It never returns without a result for every host.
func (e *Engine) Apply(ctx context.Context, runID string, hosts []*inventory.Host, o ApplyOptions) *Outcome {
	out := &Outcome{RunID: runID, Kind: "apply", Hosts: make([]HostOutcome, len(hosts))}
	for i, h := range hosts {
		out.Hosts[i] = HostOutcome{Host: h.Name, OS: h.OS, Status: StatusSkipped, Error: "not started"}
	}
	sizes := o.Batch.Sizes(len(hosts))
	e.progress(Event{Kind: RolloutStarted, Total: len(hosts), Batches: len(sizes), Watch: o.Watch})
	failures := 0
	// A host's connection is released once its batch is judged, unless an
	// automatic rollback may still include it (rollback_scope all with
	// automatic rollback: to the end of the run). Sessions opened by plan's
	// read for hosts of later batches are kept for them: one connection
	// per host per run.
	holdAll := o.Health.Rollback == RollbackAuto && o.RollbackScope == ScopeAll
	var done []*applied // hosts changed so far, for a rollback of everything
	defer func() {
		for _, a := range done {
			e.release(a.conn)
		}
		out.Summarize()
		e.progress(Event{Kind: RolloutDone, Stopped: out.Stopped})
	}()
	for start, n := 0, 1; start < len(hosts); start, n = start+sizes[n-1], n+1 {
		if err := e.journalErr(); err != nil {
			out.Stopped = fmt.Sprintf("journal write failed (%v): rollout stopped before batch %d; no further host was touched", err, n)
			break
		}
		if ctx.Err() != nil || e.stopped() {
			out.Stopped = "interrupted before batch " + fmt.Sprint(n)
			break
		}
		end := start + sizes[n-1]
		batch := BatchOutcome{Number: n, Canary: n == 1 && end < len(hosts)}
		e.progress(Event{Kind: BatchStarted, Batch: n, Batches: len(sizes), Canary: batch.Canary, Hosts: end - start})
		var changed []*applied
		var mu sync.Mutex
		e.forEachHost(ctx, hosts[start:end], func(ctx context.Context, i int, h *inventory.Host) {
			ho := &out.Hosts[start+i]
			ho.Batch = n
			a := e.applyHost(ctx, h, o, ho)
			e.progress(Event{Kind: HostDone, Batch: n, Host: h.Name, Status: string(ho.Status), Reason: ho.Reason})
			if a != nil {
				mu.Lock()
				changed = append(changed, a)
				mu.Unlock()
			}
		})
		for i := start; i < end; i++ {
			batch.Hosts = append(batch.Hosts, out.Hosts[i].Host)
			if s := out.Hosts[i].Status; s == StatusFailed || s == StatusUnreachable {
				failures++
			}
		}
		sort.Slice(changed, func(i, j int) bool { return changed[i].out.Host < changed[j].out.Host })
		done = append(done, changed...)
		// settle releases the batch's sessions once no automatic rollback
		// can include it any more.
		settle := func() {
			if holdAll {
				return
			}
			for _, a := range changed {
				e.release(a.conn)
			}
		}

		if len(changed) == 0 {
			e.progress(Event{Kind: BatchDone, Batch: n, Canary: batch.Canary})
		}
		if len(changed) > 0 {
			e.checkHealth(ctx, changed, o, &batch)
			// The result again, now with what the check measured on the
			// host: the journal keeps per-host health (the last result
			// record of a host counts). Written in one durable write, not
			// one fsync per host.
			e.recordAll(changed)
			out.Batches = append(out.Batches, batch)
			e.progress(Event{Kind: BatchDone, Batch: n, Canary: batch.Canary, Changed: len(changed), Checked: batch.Checked, Healthy: batch.Healthy && !batch.Failed, Unhealthy: batch.Failed})
			if e.Journal != nil {
				if err := e.Journal.Health(batch); err != nil {
					e.journalFailed("", err)
				}
			}
			label := fmt.Sprintf("batch %d", n)
			if batch.Canary {
				label += " (canary)"
			}
			if !batch.Failed && len(batch.ConfigErrors) > 0 {
				out.Stopped = fmt.Sprintf("%s: %s; rollout stopped, the batch stays applied: undo with fleettune rollback --run %s", label, strings.Join(batch.ConfigErrors, "; "), runID)
				break
			}
			if !batch.Failed {
				settle()
			}
			if !batch.Failed && !batch.Checked && o.Health.RefusesUnchecked() {
				out.Stopped = fmt.Sprintf("%s: health not checked on %s; with health.unchecked: refuse the rollout stops here: undo with fleettune rollback --run %s", label, strings.Join(batch.Unchecked, ", "), runID)
				break
			}
			if batch.Failed {
				e.logger().Warn(label+" unhealthy", "details", strings.Join(batch.Details, "; "))
				if o.Health.Rollback == RollbackAuto {
					undo := changed
					if o.RollbackScope == ScopeAll {
						undo = done
					}
					e.logger().Warn("rolling back", "hosts", len(undo))
					e.restoreAll(context.WithoutCancel(ctx), undo)
					out.RolledBack = true
					out.Stopped = fmt.Sprintf("%s unhealthy: rolled back %s", label, plural(len(undo), "host", "hosts"))
				} else {
					out.Stopped = fmt.Sprintf("%s unhealthy: rollout stopped; undo with fleettune rollback --run %s", label, runID)
				}
				break
			}
		}
		if err := e.journalErr(); err != nil {
			out.Stopped = fmt.Sprintf("journal write failed (%v): rollout stopped; no host after it was touched", err)
			break
		}
		if o.MaxFailures.Exceeded(failures, end) && end < len(hosts) {
			out.Stopped = fmt.Sprintf("%d of %s failed or unreachable, more than rollout.max_failures (%s) allows: rollout stopped", failures, plural(end, "host", "hosts"), o.MaxFailures)
			break
		}
	}
	for i := range out.Hosts {
		if h := &out.Hosts[i]; h.Status == StatusSkipped && h.Error == "not started" && out.Stopped != "" {
			h.Error = "not started: " + out.Stopped
		}
	}
	return out
}

// forEachHost runs fn over hosts with at most Forks at once. Hosts not
// started when the rollout is stopped or cancelled are left as they are.
func (e *Engine) forEachHost(ctx context.Context, hosts []*inventory.Host, fn func(context.Context, int, *inventory.Host)) {
	each(ctx, e.Forks, len(hosts), e.stopped, func(i int) { fn(ctx, i, hosts[i]) }, nil)
}

// applyHost changes one host. It returns the host when commands ran on it
// (and its session is still open), nil otherwise.
func (e *Engine) applyHost(ctx context.Context, h *inventory.Host, o ApplyOptions, ho *HostOutcome) *applied {
	l := e.logger().With("host", h.Name)
	ho.Error = ""
	c, err := e.connect(ctx, h)
	if err != nil {
		ho.fail(err)
		e.record(ho)
		return nil
	}
	ho.OS = c.os
	keep := false
	defer func() {
		if !keep {
			e.release(c)
		}
	}()
	if reason := o.Health.UncheckedReason(c.os, c.driver.Capabilities()); reason != "" && o.Health.RefusesUnchecked() {
		ho.Status, ho.Error = StatusFailed, "not started: "+uncheckedRefusal(reason, c.os)
		e.record(ho)
		return nil
	}
	targets, err := o.Targets(h, c.os)
	if err != nil {
		ho.fail(err)
		e.record(ho)
		return nil
	}
	// The host as this run's plan read it moments ago over this session,
	// or read again.
	var facts *platform.Facts
	var prop platform.Proposal
	if f := o.reusable(h.Name, c.sess, e.now()); f != nil {
		facts = f
		prop, err = propose(c.driver, f, targets, o.Guardrails)
	} else {
		facts, prop, err = e.propose(ctx, c, targets, o.Guardrails)
	}
	if err != nil {
		ho.fail(err)
		e.record(ho)
		return nil
	}
	ho.BootID, ho.Changes, ho.Notes = facts.BootID, prop.Changes, prop.Notes
	if exp, ok := o.Expected[h.Name]; o.Expected != nil {
		if msg := staleness(exp, ok, prop.Changes); msg != "" {
			ho.Status, ho.Error = StatusFailed, "stale plan: "+msg+"; run plan again"
			e.record(ho)
			return nil
		}
		// The plan carries exactly what apply runs: the fresh proposal must
		// give the very changes and steps the plan shows, or nothing runs.
		if msg := platform.SameChanges(exp.Changes, prop.Changes); msg != "" {
			ho.Status, ho.Error = StatusFailed, "the plan's changes are not what the playbook gives now: "+msg+"; run plan again"
			e.record(ho)
			return nil
		}
		if !slices.Equal(exp.Steps, prop.Steps) {
			ho.Status, ho.Error = StatusFailed, "the plan's steps are not what apply would run now (the host's persisted configuration changed since the plan?); run plan again"
			e.record(ho)
			return nil
		}
	}
	var refused []string
	for _, ch := range prop.Changes {
		if ch.Refused != "" {
			refused = append(refused, ch.Setting+": "+ch.Refused)
		}
	}
	if len(refused) > 0 {
		ho.Status, ho.Error = StatusFailed, "refused by guardrail: "+strings.Join(refused, "; ")
		e.record(ho)
		return nil
	}
	if countActionable(prop.Changes) == 0 {
		// Nothing to do, or only a reboot left to do.
		ho.Status = StatusOK
		ho.RebootRequired, ho.RebootReason = rebootReasons(prop.Changes)
		e.record(ho)
		return nil
	}
	// The steps computed once by platform.Propose, equal to the plan's.
	cmds := prop.Steps
	snap := c.driver.Snapshot(facts, prop.Changes)
	// The journal entry comes first: no host is changed without one.
	if e.Journal != nil {
		if err := e.Journal.Before(BeforeRecord{Host: h, OS: c.os, BootID: facts.BootID, Changes: prop.Changes, Targets: targets, Snapshot: snap}); err != nil {
			ho.Status, ho.Error, ho.Reason = StatusFailed, "journal: "+err.Error()+"; host not touched", "journal write failed"
			e.journalFailed(h.Name, err)
			return nil
		}
	}
	a := &applied{conn: c, out: ho, snapshot: snap}
	l.Debug("applying", "changes", len(prop.Changes))
	// Commands that started run to their end even when the rollout is
	// interrupted: a host is never left between a runtime change and its
	// persistence by a Ctrl-C.
	runCtx := context.WithoutCancel(ctx)
	if err := e.runAll(runCtx, c, "apply", cmds, ho); err != nil {
		ho.fail(err)
		if rerr := e.restore(runCtx, a); rerr != nil {
			ho.Error += "; restoring previous values failed too: " + rerr.Error()
		} else {
			ho.Error += "; previous values restored"
		}
		e.record(ho)
		return nil
	}
	// Verify by reading back.
	_, after, err := e.propose(runCtx, c, targets, o.Guardrails)
	if err != nil {
		ho.fail(fmt.Errorf("verify: %w", err))
		e.record(ho)
		keep = true
		return a
	}
	var wrong []string
	for _, ch := range after.Changes {
		if !ch.Pending() {
			wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", ch.Knob, ch.Current, ch.Target))
		}
	}
	switch {
	case len(wrong) > 0:
		ho.Status, ho.Error, ho.Reason = StatusFailed, "verify: "+strings.Join(wrong, "; "), "verify failed"
	default:
		ho.Status = StatusApplied
		ho.RebootRequired, ho.RebootReason = rebootReasons(after.Changes)
	}
	e.record(ho)
	keep = true
	return a
}

// propose gathers a host's facts and compares them with targets.
func (e *Engine) propose(ctx context.Context, c *hostConn, t platform.Targets, g Guardrails) (*platform.Facts, platform.Proposal, error) {
	native := make([]string, 0, len(t.Native))
	for k := range t.Native {
		native = append(native, k)
	}
	sort.Strings(native)
	f, err := c.driver.Gather(ctx, c.sess, native)
	if err != nil {
		return nil, platform.Proposal{}, err
	}
	// The snapshot and the outcome are kept to the end of the run: they
	// must not pin the host's whole gather output (a loaded host's netstat
	// runs to megabytes).
	f.Detach()
	p, err := propose(c.driver, f, t, g)
	return f, p, err
}

// runAll runs commands in order, the first failure stopping them, and
// adds each to ho.Commands; the next record of ho journals them.
func (e *Engine) runAll(ctx context.Context, c *hostConn, phase string, cmds []string, ho *HostOutcome) error {
	for _, cmd := range cmds {
		res, err := c.sess.Run(ctx, cmd)
		rec := CommandRecord{Host: c.host.Name, Phase: phase, Cmd: cmd, Exit: res.ExitCode, Stderr: trimOutput(res.Stderr), Time: e.now()}
		if err != nil {
			rec.Exit, rec.Error = -1, err.Error()
		}
		// Journalled with the result they lead to (record): the host's
		// own commands run to their end either way (it is never left
		// between a runtime change and its persistence).
		ho.Commands = append(ho.Commands, rec)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("%s: exit status %d: %s", cmd, res.ExitCode, firstLine(rec.Stderr))
		}
	}
	return nil
}

// restore brings one applied host back to its snapshot and verifies it.
func (e *Engine) restore(ctx context.Context, a *applied) error {
	c, r, err := e.restoreTo(ctx, a.conn, a.snapshot, a.out, nil)
	a.conn = c
	a.pendingRestore = r.pending
	return err
}

// restoreResult is what restoreTo did.
type restoreResult struct {
	facts   *platform.Facts // the host as read before the restore
	nothing bool            // the host was already at the snapshot: nothing ran
	pending []string        // what only the next boot puts back
}

// restoreTo is the one restore path, for automatic and manual rollback
// alike: read the host (connecting when c has no session, and once more
// when the connection was lost under the change: the host rebooted, a
// firewall dropped it), run the driver's restore commands, read again and
// verify against snap. before, when set, is called with what was read
// before anything runs and must succeed (the journal's record). The
// returned connection replaces c.
func (e *Engine) restoreTo(ctx context.Context, c *hostConn, snap platform.Snapshot, ho *HostOutcome, before func(*platform.Facts) error) (*hostConn, restoreResult, error) {
	var r restoreResult
	if c.sess == nil {
		nc, err := e.connect(ctx, c.host)
		if err != nil {
			return c, r, err
		}
		c = nc
	}
	knobs := knobNames(snap)
	f, err := c.driver.Gather(ctx, c.sess, knobs)
	if errors.Is(err, remote.ErrConnLost) {
		c.close()
		nc, cerr := e.connect(ctx, c.host)
		if cerr != nil {
			return c, r, fmt.Errorf("reconnect to restore: %w", cerr)
		}
		c = nc
		f, err = c.driver.Gather(ctx, c.sess, knobs)
	}
	if err != nil {
		return c, r, fmt.Errorf("read before restore: %w", err)
	}
	r.facts = f
	cmds, err := c.driver.RestoreCommands(f, snap)
	if err != nil {
		return c, r, err
	}
	if len(cmds) == 0 {
		r.nothing = true
		return c, r, nil
	}
	if before != nil {
		if err := before(f); err != nil {
			return c, r, err
		}
	}
	if err := e.runAll(ctx, c, "restore", cmds, ho); err != nil {
		return c, r, err
	}
	f, err = c.driver.Gather(ctx, c.sess, knobs)
	if err != nil {
		return c, r, fmt.Errorf("verify restore: %w", err)
	}
	pending, diff := platform.SplitAwaitingReboot(c.driver.Differences(f, snap))
	if len(diff) > 0 {
		return c, r, fmt.Errorf("verify restore: %s", strings.Join(diff, "; "))
	}
	r.pending = pending
	return c, r, nil
}

// restoreAll rolls applied hosts back in parallel and records the result.
func (e *Engine) restoreAll(ctx context.Context, hosts []*applied) {
	e.parallel(hosts, func(a *applied) {
		if err := e.restore(ctx, a); err != nil {
			a.out.Status, a.out.Error = StatusFailed, "rollback: "+err.Error()
		} else {
			a.out.Status, a.out.Error = StatusRolledBack, ""
			a.out.RebootRequired, a.out.RebootReason = false, ""
			if len(a.pendingRestore) > 0 {
				a.out.RebootRequired, a.out.RebootReason = true, "restored at the next boot: "+strings.Join(a.pendingRestore, "; ")
			}
		}
		e.record(a.out)
	})
}

// record journals ho's commands not journalled yet and its result, in one
// durable write.
func (e *Engine) record(ho *HostOutcome) {
	if e.Journal == nil {
		return
	}
	cmds := ho.Commands[min(ho.journaled, len(ho.Commands)):]
	if err := e.Journal.Record(cmds, []HostOutcome{*ho}); err != nil {
		e.journalFailed(ho.Host, err)
		return
	}
	ho.journaled = len(ho.Commands)
}

// recordAll journals the results of hosts that have health measured, with
// any of their commands not journalled yet, in one durable write.
func (e *Engine) recordAll(hosts []*applied) {
	if e.Journal == nil {
		return
	}
	var cmds []CommandRecord
	var rs []HostOutcome
	for _, a := range hosts {
		if a.out.Health == nil {
			continue
		}
		cmds = append(cmds, a.out.Commands[min(a.out.journaled, len(a.out.Commands)):]...)
		rs = append(rs, *a.out)
	}
	if len(rs) == 0 {
		return
	}
	if err := e.Journal.Record(cmds, rs); err != nil {
		e.journalFailed("", err)
		return
	}
	for _, a := range hosts {
		a.out.journaled = len(a.out.Commands)
	}
}

// staleness compares a fresh proposal with the reviewed plan's changes.
func staleness(exp HostPlan, known bool, fresh []platform.Change) string {
	if !known {
		return "host is not in the plan"
	}
	want := map[string]platform.Change{}
	for _, c := range exp.Changes {
		want[c.Knob] = c
	}
	got := map[string]platform.Change{}
	for _, c := range fresh {
		got[c.Knob] = c
	}
	var msgs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			msgs = append(msgs, fmt.Sprintf("%s already changed to %s since the plan", k, w.Target))
		case g.Current != w.Current || g.AtBoot != w.AtBoot:
			msgs = append(msgs, fmt.Sprintf("%s is now %s, the plan saw %s", k, describe(g), describe(w)))
		case g.Target != w.Target:
			msgs = append(msgs, fmt.Sprintf("%s target is now %s, the plan said %s", k, g.Target, w.Target))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			msgs = append(msgs, fmt.Sprintf("%s changed to %s since the plan", k, describe(g)))
		}
	}
	sort.Strings(msgs)
	return strings.Join(msgs, "; ")
}

func describe(c platform.Change) string {
	if c.AtBoot != "" {
		return fmt.Sprintf("live %s, at next boot %s", c.Current, c.AtBoot)
	}
	return c.Current
}

func knobNames(s platform.Snapshot) []string {
	var out []string
	for k := range s.Knobs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fail records err on an outcome, as HostPlan.fail does on a plan.
func (ho *HostOutcome) fail(err error) {
	hp := HostPlan{}
	hp.fail(err)
	ho.Status, ho.Error, ho.Reason = record.Status(hp.Status), hp.Error, hp.Reason
}

func trimOutput(b []byte) string {
	const max = 2048
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// rebootReasons joins why each pending change needs a reboot.
func rebootReasons(cs []platform.Change) (bool, string) {
	var reasons []string
	for _, c := range cs {
		if c.Pending() {
			reasons = append(reasons, fmt.Sprintf("%s: %s", c.Setting, nonEmpty(c.RebootReason, "takes effect at the next boot")))
		}
	}
	return len(reasons) > 0, strings.Join(reasons, "; ")
}
