package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/audit"
	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/playbooks"
	"github.com/fleettune/fleettune/views"
)

type applyFlags struct {
	inventory                                    []string // -i, repeatable; "-" is stdin
	playbook, limit, format, batch, watch, scope string
	maxFailures                                  string
	forks                                        int
	yes, listHosts                               bool
	// quietPlan skips printing the plan before applying (the demo has
	// just shown it); not a command-line flag.
	quietPlan bool
}

func newApplyCmd(g *globals) *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply (-i INVENTORY -p PLAYBOOK | PLAN.json [-i INVENTORY])",
		Short: "Change hosts as the playbook (or a saved plan) says, in batches, with a journal",
		Long: `apply plans (or loads a saved plan), asks for confirmation, then changes
hosts batch by batch: the previous values go into the journal before
anything runs on a host, the runtime commands run, the persistent
configuration is written, and the values are read back. After each batch
the health check watches for handshake failures; with health.rollback: auto
an unhealthy batch is rolled back.

Given PLAN.json (from plan --out) it applies exactly that plan, refusing
hosts whose values changed since. The plan names its inventory; -i gives it
when it moved, and must be the very inventory the plan was made from.

Exit status: 0 every selected host done and verified; 1 bad input or some
host failed; 3 the health check failed and the rollout was rolled back.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			planFile := ""
			if len(args) == 1 {
				planFile = args[0]
			}
			return runApply(cmd.Context(), g, f, planFile)
		},
	}
	fl := cmd.Flags()
	addInventoryFlag(fl, &f.inventory, inventoryHelp+"; not read from the environment when PLAN.json is given")
	fl.StringVarP(&f.playbook, "playbook", "p", "", "playbook file (YAML; default $FLEETTUNE_PLAYBOOK, unless PLAN.json is given)")
	addLimitFlag(fl, &f.limit)
	fl.IntVarP(&f.forks, "forks", "f", playbooks.DefaultForks, "hosts worked on at once")
	fl.StringVar(&f.batch, "batch", "", "batch sizes, N hosts or P%, or a ramp such as 1,10%,25% whose last size repeats (default: the playbook's rollout.batch)")
	fl.StringVar(&f.maxFailures, "max-failures", "", "failed or unreachable hosts tolerated, N or P% of the hosts so far (default: the playbook's rollout.max_failures)")
	fl.StringVar(&f.watch, "watch", "", "health watch after each batch (default: the playbook's health.watch)")
	fl.StringVar(&f.scope, "rollback-scope", playbooks.ScopeBatch, "what an unhealthy batch rolls back with health.rollback auto: batch or all")
	fl.BoolVar(&f.yes, "yes", false, "apply without asking")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.BoolVar(&g.planAudit, "audit", false, "audit each host in the plan, and each applied host again at the end (over the same connection); the recap lists those still at risk")
	fl.BoolVar(&g.detail, "detail", false, "show every host on its own, not grouped with hosts that read the same")
	addListHostsFlag(fl, &f.listHosts)
	_ = cmd.RegisterFlagCompletionFunc("limit", completeLimit(g))
	return cmd
}

func runApply(ctx context.Context, g *globals, f *applyFlags, planFile string) error {
	// Every flag is checked before the state dir is locked or any host
	// contacted.
	format, err := views.ParseFormat(f.format)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if f.scope != playbooks.ScopeBatch && f.scope != playbooks.ScopeAll {
		return &exitError{code: 1, err: fmt.Errorf("--rollback-scope %q: expected batch or all", f.scope)}
	}
	if err := checkForks(f.forks); err != nil {
		return err
	}
	if err := checkLimit(f.limit); err != nil {
		return err
	}
	var batch playbooks.Ramp
	if f.batch != "" {
		if batch, err = playbooks.ParseRamp(f.batch); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--batch: %w", err)}
		}
	}
	var budget *playbooks.Budget
	if f.maxFailures != "" {
		b, err := playbooks.ParseBudget(f.maxFailures)
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--max-failures: %w", err)}
		}
		budget = &b
	}
	watch := time.Duration(-1)
	if f.watch != "" {
		if watch, err = parseWatch(f.watch); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	if planFile != "" && f.playbook != "" {
		return &exitError{code: 1, err: errors.New("apply takes either PLAN.json or -p PLAYBOOK, not both: a saved plan carries its playbook's settings")}
	}
	if planFile == "" {
		f.inventory = g.inventoryPaths(f.inventory)
		f.playbook = g.orEnv(f.playbook, "FLEETTUNE_PLAYBOOK")
		if len(f.inventory) == 0 || f.playbook == "" {
			return &exitError{code: 1, err: errors.New("apply needs -i INVENTORY and -p PLAYBOOK (or FLEETTUNE_INVENTORY and FLEETTUNE_PLAYBOOK), or a PLAN.json from plan --out")}
		}
	}
	if f.listHosts {
		if planFile == "" {
			return g.listSelection(format, f.inventory, f.limit)
		}
		_, hosts, err := loadPlan(g, planFile, f.inventory, f.limit)
		if err != nil {
			return err
		}
		return g.listHosts(format, hosts)
	}
	store, err := g.openStore(ctx)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%w; nothing was changed", err)}
	}
	defer store.Close()
	// The lock comes before planning, as Terraform locks state before it
	// refreshes: a plan made while another fleettune changes hosts would be
	// stale by the time it ran.
	lock, err := store.Lock("", journal.KindApply)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer lock.Unlock()

	// One connection per host while the run needs it: the plan's read, the
	// changes, the health check and any automatic restore share it; the
	// engine releases it once the host's batch is done.
	pool := &playbooks.Pool{Dial: g.dialer()}
	defer pool.Close()

	var plan *playbooks.Plan
	var hosts []*inventory.Host
	readCtx, cancelRead := g.readCtx(ctx)
	defer cancelRead()
	if planFile != "" {
		plan, hosts, err = loadPlan(g, planFile, f.inventory, f.limit)
	} else {
		plan, hosts, err = makePlan(readCtx, g, pool.Dialer(), f.inventory, f.playbook, f.limit, f.forks, func(pl *playbooks.Planner) {
			// Hosts with nothing to apply are done with.
			pl.Release = pool.Release
		})
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil || isClosed(g.stop) {
		return &exitError{code: 1, err: errors.New("interrupted while planning; nothing was changed")}
	}
	opts, err := plan.ApplyOptions()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if batch != nil {
		opts.Batch = batch
	}
	if budget != nil {
		opts.MaxFailures = *budget
	}
	if watch >= 0 {
		opts.Watch = watch
		opts.Health.Watch = watch
	}
	opts.RollbackScope = f.scope
	if planFile == "" {
		// The plan was read just now, under this run's lock: a host whose
		// read is recent enough is not read again before it is changed.
		opts.ReuseFor = playbooks.DefaultReuseFor
	}

	// Only hosts with changes are applied; the others keep their plan status.
	var todo []*inventory.Host
	for i, hp := range plan.Hosts {
		if hp.Status == playbooks.StatusChanges {
			todo = append(todo, hosts[i])
		} else {
			pool.Release(hp.Host) // nothing to apply: its plan-time connection is done
		}
	}
	if len(todo) == 0 {
		out := &playbooks.Outcome{RunID: plan.RunID, Kind: "apply"}
		if planFile != "" {
			out.Plan = plan.RunID
		}
		mergePlanHosts(out, plan)
		out.Summarize()
		return renderOutcome(g, format, out)
	}
	runID := plan.RunID
	if planFile != "" {
		// Each apply of a saved plan (or of a part of it, with --limit) is
		// a run of its own that records the plan it came from.
		runID = playbooks.NewRunID(time.Now())
	}
	// Each host's lock before anything touches it: with a shared
	// database, a host another fleettune is changing is refused.
	todo, refused, err := lockHosts(ctx, lock, runID, todo)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%w; nothing was changed", err)}
	}
	if len(todo) == 0 {
		out := &playbooks.Outcome{RunID: runID, Kind: "apply", Hosts: refused, Plan: planRunOf(planFile, plan)}
		mergePlanHosts(out, plan)
		out.Summarize()
		return renderOutcome(g, format, out)
	}
	if !f.yes && !g.stdinTTY {
		return &exitError{code: 1, err: errors.New("refusing to change hosts without confirmation: no terminal to ask on; pass --yes")}
	}
	if !f.quietPlan && (format == views.Text || !f.yes) {
		// With --format json the plan is shown to the person who is asked,
		// on stderr: stdout is the result document only.
		w, color := g.stdout, g.color()
		if format == views.JSON {
			w, color = g.stderr, false
		}
		if err := views.NewPlanDetail(views.Text, w, color, g.detail).Plan(plan); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	if !f.yes {
		if err := g.confirm(ctx, fmt.Sprintf("Apply these changes to %s?", plural(len(todo), "host", "hosts"))); err != nil {
			return &exitError{code: 1, err: err}
		}
	}

	hdr := journal.Header{ID: runID, PlanRun: planRunOf(planFile, plan), Kind: journal.KindApply, Version: version, Limit: f.limit,
		Batch: opts.Batch.String(), Watch: journal.Duration(opts.Watch)}
	if plan.Inventory != "" {
		hdr.Inventory = &journal.FileRef{Path: plan.Inventory, Digest: plan.InventoryDigest}
	}
	if plan.Playbook != "" {
		hdr.Playbook = &journal.FileRef{Path: plan.Playbook, Digest: plan.PlaybookDigest, Name: plan.PlaybookName}
	}
	if planFile != "" {
		d, _ := journal.FileDigest(planFile)
		hdr.PlanFile = &journal.FileRef{Path: planFile, Digest: d}
	}
	w, err := store.Create(hdr)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer w.Close()
	if err := playbooks.JournalPlanFailures(journalSink{w}, plan); err != nil {
		return &exitError{code: 1, err: err}
	}
	if err := journalRefused(w, refused); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%w; nothing was changed", err)}
	}
	g.log.Info("applying", "run", plan.RunID, "hosts", len(todo), "batch", opts.Batch.String(), "max_failures", opts.MaxFailures.String(), "watch", opts.Watch, "journal", w.Path())

	g.changing.Store(true)
	release := pool.Release
	if g.planAudit {
		// The audit after the run reads the applied hosts over the
		// connections they already have: they stay open to the end.
		release = nil
	}
	e := &playbooks.Engine{Dial: pool.Dialer(), Release: release, Journal: journalSink{w}, Forks: f.forks, Log: g.log, Stop: stopOrLost(ctx, g, lock)}
	stopProgress := g.showProgress(e)
	out := e.Apply(ctx, runID, todo, opts)
	stopProgress()
	if g.planAudit {
		out.AtRisk = stillAtRisk(context.WithoutCancel(ctx), pool.Dialer(), todo, out, f.forks)
	}
	dials, _, peak := pool.Stats()
	g.log.Debug("connections", "dialled", dials, "most_open_at_once", peak, "hosts", len(hosts))
	out.Plan = planRunOf(planFile, plan)
	addRefused(out, refused)
	mergePlanHosts(out, plan)
	out.Summarize()
	if err := w.Append(endRecord(out, ctx, g.stop)); err != nil {
		g.log.Error("journal", "err", err)
	}
	reportKept(g, w)
	return renderOutcome(g, format, out)
}

// loadPlan reads a saved plan and the inventory it was made from (or the
// one -i names, which must be that same inventory, byte for byte).
func loadPlan(g *globals, path string, invPaths []string, limit string) (*playbooks.Plan, []*inventory.Host, error) {
	p, err := playbooks.ReadPlan(path)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	var inv *inventory.Inventory
	if len(invPaths) > 0 {
		if inv, err = g.loadInventory(invPaths); err != nil {
			return nil, nil, err
		}
		if inv.Digest != p.InventoryDigest {
			return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s was made from another inventory (%s, %s), not %s (%s): a plan applies only to the inventory it was made from", path, p.Inventory, short(p.InventoryDigest), inv.File, short(inv.Digest))}
		}
		p.Inventory = inv.File
	} else {
		inv, err = g.loadInventory([]string{p.Inventory})
	}
	if err != nil {
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s: the plan's inventory: %w (give it with -i if it moved)", path, err)}
	}
	if inv.Digest != p.InventoryDigest {
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s was made from inventory %s as it was then (%s); it has changed since (%s): run plan again", path, p.Inventory, short(p.InventoryDigest), short(inv.Digest))}
	}
	var all []*inventory.Host
	for _, hp := range p.Hosts {
		h := inv.Host(hp.Host)
		if h == nil {
			return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s: host %s is not in inventory %s", path, hp.Host, p.Inventory)}
		}
		all = append(all, h)
	}
	// The plan is held to the playbook it names before any host is
	// contacted: nothing runs unless all of it is what that playbook gives.
	if p.Playbook == "" {
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s names no playbook; make it with fleettune plan --out", path)}
	}
	pb, err := playbooks.Load(p.Playbook)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s: the plan's playbook: %w", path, err)}
	}
	if err := p.Verify(pb, all, nil); err != nil {
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("%s: %w", path, err)}
	}
	if limit == "" {
		return p, all, nil
	}
	hs, err := inv.Select(limit)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	inPlan := map[string]bool{}
	for _, hp := range p.Hosts {
		inPlan[hp.Host] = true
	}
	selected := map[string]bool{}
	var missing []string
	for _, h := range hs {
		selected[h.Name] = true
		if !inPlan[h.Name] {
			missing = append(missing, h.Name)
		}
	}
	switch {
	case len(missing) > 0:
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("--limit %s selects %s, not in the plan %s: a saved plan applies only to the hosts it planned", limit, strings.Join(missing, ", "), path)}
	case len(hs) == 0:
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("--limit %s selects no host of the plan %s", limit, path)}
	}
	var keep []playbooks.HostPlan
	var hosts []*inventory.Host
	for i, hp := range p.Hosts {
		if selected[hp.Host] {
			keep = append(keep, hp)
			hosts = append(hosts, all[i])
		}
	}
	p.Hosts = keep
	p.Summarize()
	return p, hosts, nil
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// mergePlanHosts puts the hosts apply did not touch (up to date, failed or
// unreachable when planned) into the outcome, in plan order.
func mergePlanHosts(out *playbooks.Outcome, plan *playbooks.Plan) {
	done := map[string]playbooks.HostOutcome{}
	for _, h := range out.Hosts {
		done[h.Host] = h
	}
	merged := make([]playbooks.HostOutcome, 0, len(plan.Hosts))
	for _, hp := range plan.Hosts {
		if h, ok := done[hp.Host]; ok {
			merged = append(merged, h)
			continue
		}
		merged = append(merged, playbooks.HostOutcome{Host: hp.Host, OS: hp.OS, Status: record.Status(hp.Status), Error: hp.Error, Reason: hp.Reason, Changes: hp.Changes, Notes: hp.Notes})
	}
	out.Hosts = merged
}

func endRecord(out *playbooks.Outcome, ctx context.Context, stop <-chan struct{}) journal.EndRecord {
	status := journal.EndDone
	switch {
	case out.RolledBack:
		status = journal.EndRolledBack
	case ctx.Err() != nil || isClosed(stop):
		status = journal.EndInterrupted
	case out.ExitCode() != 0:
		status = journal.EndFailed
	}
	sum := out.Summary
	return journal.EndRecord{Status: status, Detail: out.Stopped, Summary: map[string]int{
		"hosts": sum.Hosts, "ok": sum.OK, "applied": sum.Applied, "rolled_back": sum.RolledBack,
		"failed": sum.Failed, "unreachable": sum.Unreachable, "skipped": sum.Skipped, "reboot_required": sum.RebootRequired}}
}

func renderOutcome(g *globals, format views.Format, out *playbooks.Outcome) error {
	if err := views.NewOutcomeDetail(format, g.stdout, g.color(), g.detail).Outcome(out); err != nil {
		return &exitError{code: 1, err: err}
	}
	return &exitError{code: out.ExitCode()}
}

// planRunOf is the saved plan's run id, "" when apply planned itself.
func planRunOf(planFile string, p *playbooks.Plan) string {
	if planFile == "" {
		return ""
	}
	return p.RunID
}

// plural is "1 host", "2 hosts".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// showProgress makes the engine report to the progress view on stderr:
// on a terminal a live line redrawn a few times a second, with the log
// lines kept above it; off a terminal one line per batch. The returned
// func ends the display.
func (g *globals) showProgress(e *playbooks.Engine) (stop func()) {
	lw, ok := g.stderr.(*lockedWriter)
	if !ok || !g.stderrTTY {
		e.Progress = views.NewProgress(g.stderr, false, false)
		return func() {}
	}
	p := views.NewProgress(nil, true, g.stderrColor())
	restore := lw.through(func(inner io.Writer) io.Writer {
		p.W = inner
		return p
	})
	e.Progress = p
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(views.DefaultRedraw)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.Tick()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		p.Finish()
		restore()
	}
}

// stillAtRisk audits the applied hosts again, over the run's connections,
// and returns those graded WARN or worse, in the hosts' order.
func stillAtRisk(ctx context.Context, dial playbooks.Dialer, hosts []*inventory.Host, out *playbooks.Outcome, forks int) []playbooks.HostRisk {
	th := audit.DefaultThresholds()
	applied := map[string]string{}
	for _, h := range out.Hosts {
		if h.Status == playbooks.StatusApplied {
			applied[h.Host] = h.OS
		}
	}
	risks := make([]*playbooks.HostRisk, len(hosts))
	sem := make(chan struct{}, max(1, forks))
	var wg sync.WaitGroup
	for i, h := range hosts {
		os, ok := applied[h.Name]
		if !ok {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sess, err := dial(ctx, h)
			if err != nil {
				return
			}
			grade, line := auditSummary(ctx, h, os, sess, th)
			switch grade {
			case "WARN", "CRIT", "EXHAUSTED":
				risks[i] = &playbooks.HostRisk{Host: h.Name, Grade: grade, Audit: line}
			}
		}()
	}
	wg.Wait()
	var at []playbooks.HostRisk
	for _, r := range risks {
		if r != nil {
			at = append(at, *r)
		}
	}
	return at
}
