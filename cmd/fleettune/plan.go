package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/audit"
	"github.com/fleettune/fleettune/internal/atomicfile"
	"github.com/fleettune/fleettune/internal/termsafe"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/playbooks"
	"github.com/fleettune/fleettune/remote"
	"github.com/fleettune/fleettune/views"
)

type planFlags struct {
	inventory                    []string // -i, repeatable; "-" is stdin
	playbook, limit, out, format string
	forks                        int
	listHosts                    bool
}

func newPlanCmd(g *globals) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan -i INVENTORY -p PLAYBOOK",
		Short: "Show what would change on each host, touching nothing",
		Long: `plan connects to every selected host (one SSH connection each), reads the
live and persisted values of the settings the playbook tunes and shows, per
host, current against target, the commands that would run and whether a
reboot would be needed.

Exit status: 0 when every host was reached and nothing would change, 2 when
every host was reached and some would change, 1 on bad input or when any
host failed or was unreachable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.readCtx(cmd.Context())
			defer cancel()
			return runPlan(ctx, g, f)
		},
	}
	fl := cmd.Flags()
	addInventoryFlag(fl, &f.inventory, inventoryHelp)
	fl.StringVarP(&f.playbook, "playbook", "p", "", "playbook file (YAML; default $FLEETTUNE_PLAYBOOK)")
	addLimitFlag(fl, &f.limit)
	fl.IntVarP(&f.forks, "forks", "f", playbooks.DefaultForks, "hosts worked on at once")
	fl.StringVar(&f.out, "out", "", "also save the plan as JSON to this file, for apply PLAN.json")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.BoolVar(&g.planAudit, "audit", false, "also read each host's port use (one more read-only command on the same connection) and show its audit grade and headroom")
	fl.BoolVar(&g.detail, "detail", false, "show every host on its own, not grouped with hosts whose plans read the same")
	addListHostsFlag(fl, &f.listHosts)
	_ = cmd.RegisterFlagCompletionFunc("limit", completeLimit(g))
	return cmd
}

func runPlan(ctx context.Context, g *globals, f *planFlags) error {
	format, err := views.ParseFormat(f.format)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if err := checkForks(f.forks); err != nil {
		return err
	}
	if err := checkLimit(f.limit); err != nil {
		return err
	}
	if f.listHosts {
		return g.listSelection(format, f.inventory, f.limit)
	}
	plan, _, err := makePlan(ctx, g, g.dialer(), f.inventory, f.playbook, f.limit, f.forks)
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := savePlan(f.out, plan); err != nil {
			return &exitError{code: 1, err: err}
		}
		g.log.Info("plan saved", "file", f.out)
	}
	if err := views.NewPlanDetail(format, g.stdout, g.color(), g.detail).Plan(plan); err != nil {
		return &exitError{code: 1, err: err}
	}
	if f.out != "" && plan.Summary.Changes > 0 {
		// Where the operator reads it: after the plan, and never inside
		// the JSON document.
		hint := g.stdout
		if format == views.JSON {
			hint = g.stderr
		}
		fmt.Fprintf(hint, "\nSaved the plan to %s. To apply exactly this plan, run:\n  %s\n", termsafe.String(f.out), g.applyCommand(f.out))
	}
	if ctx.Err() != nil {
		return &exitError{code: 1, err: fmt.Errorf("interrupted")}
	}
	return &exitError{code: plan.ExitCode()}
}

// checkForks validates --forks before anything else runs.
func checkForks(n int) error {
	if n < 1 {
		return badInput(fmt.Errorf("--forks %d: must be at least 1", n))
	}
	return nil
}

// applyCommand is the command line that applies a saved plan, quoted for
// a POSIX shell.
func (g *globals) applyCommand(planFile string) string {
	words := []string{"fleettune", "apply", planFile}
	if g.stateDirFlag != "" {
		words = append(words, "--state-dir", g.stateDirFlag)
	}
	for i, w := range words {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(termsafe.String(s), "'", `'\''`) + "'"
}

// listSelection prints, for --list-hosts, the hosts -i and --limit select.
func (g *globals) listSelection(format views.Format, invFlag []string, limit string) error {
	inv, err := g.loadInventory(invFlag)
	if err != nil {
		return err
	}
	hosts, err := inv.Select(limit)
	if err != nil {
		return badInput(err)
	}
	return g.listHosts(format, hosts)
}

// makePlan loads the inputs and plans; errors are exit-status 1. with
// adjusts the planner (apply's connection holding).
func makePlan(ctx context.Context, g *globals, dial playbooks.Dialer, invPaths []string, pbPath, limit string, forks int, with ...func(*playbooks.Planner)) (*playbooks.Plan, []*inventory.Host, error) {
	inv, err := g.loadInventory(invPaths)
	if err != nil {
		return nil, nil, err
	}
	pbPath = g.orEnv(pbPath, "FLEETTUNE_PLAYBOOK")
	if pbPath == "" {
		return nil, nil, badInput(errors.New("no playbook: give -p PLAYBOOK or set FLEETTUNE_PLAYBOOK"))
	}
	pb, err := playbooks.Load(pbPath)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	hosts, err := inv.Select(limit)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	g.log.Info("planning", "hosts", len(hosts), "forks", min(forks, len(hosts)), "playbook", termsafe.String(pb.Name))
	pl := &playbooks.Planner{Dial: dial, Forks: forks, Log: g.log}
	for _, w := range with {
		w(pl)
	}
	if g.planAudit {
		th, err := thresholds(pb, &auditFlags{})
		if err != nil {
			return nil, nil, &exitError{code: 1, err: err}
		}
		pl.Summary = func(ctx context.Context, h *inventory.Host, os string, r platform.Runner) (string, string) {
			return auditSummary(ctx, h, os, r, th)
		}
	}
	plan, err := pl.Plan(ctx, hosts, pb)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	plan.Inventory, plan.InventoryDigest, plan.Limit = inv.File, inv.Digest, limit
	// A saved plan finds its inventory from any working directory.
	if abs, err := filepath.Abs(inv.File); err == nil && len(inv.Paths) == 1 && inv.Paths[0] != "-" {
		plan.Inventory = abs
	}
	if abs, err := filepath.Abs(plan.Playbook); err == nil && plan.Playbook != "" {
		plan.Playbook = abs
	}
	return plan, hosts, nil
}

func (g *globals) dialer() playbooks.Dialer {
	if g.dial != nil {
		return g.dial
	}
	kh := remote.NewKnownHosts() // each known_hosts file read once for the run
	return func(ctx context.Context, h *inventory.Host) (remote.Session, error) {
		return remote.Dial(ctx, h, remote.Options{Logger: g.log.With("host", h.Name), Getenv: g.getenv, KnownHosts: kh})
	}
}

func savePlan(path string, p *playbooks.Plan) error {
	data, err := views.PlanDocument(p)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}

// auditSummary is plan --audit's look at one host: its port use read over
// the plan's session, graded as fleettune audit grades it.
func auditSummary(ctx context.Context, h *inventory.Host, os string, r platform.Runner, th audit.Thresholds) (grade, line string) {
	snap, err := audit.Collect(ctx, r, os, audit.Limits{})
	if err != nil {
		return "", "audit not read: " + playbooks.Reason(err)
	}
	rep := audit.Analyze(audit.Input{Host: h.Name, Groups: h.Groups, Snapshots: []*audit.Snapshot{snap}}, th)
	return rep.Grade.String(), audit.HostSummary(&rep)
}
