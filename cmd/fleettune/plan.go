package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/internal/atomicfile"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/playbooks"
	"github.com/fleettune/fleettune/remote"
	"github.com/fleettune/fleettune/views"
)

type planFlags struct {
	inventory, playbook, limit, out, format string
	forks                                   int
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
	fl.StringVarP(&f.inventory, "inventory", "i", "", "inventory file (YAML)")
	fl.StringVarP(&f.playbook, "playbook", "p", "", "playbook file (YAML)")
	fl.StringVar(&f.limit, "limit", "", "hosts, groups and globs to select, comma-separated; !x excludes")
	fl.IntVar(&f.forks, "forks", playbooks.DefaultForks, "hosts worked on at once")
	fl.StringVar(&f.out, "out", "", "also save the plan as JSON to this file, for apply PLAN.json")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("inventory")
	_ = cmd.MarkFlagRequired("playbook")
	return cmd
}

func runPlan(ctx context.Context, g *globals, f *planFlags) error {
	format, err := views.ParseFormat(f.format)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if f.forks < 1 {
		return &exitError{code: 1, err: fmt.Errorf("--forks %d: must be at least 1", f.forks)}
	}
	plan, _, err := makePlan(ctx, g, f.inventory, f.playbook, f.limit, f.forks)
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := savePlan(f.out, plan); err != nil {
			return &exitError{code: 1, err: err}
		}
		g.log.Info("plan saved", "file", f.out)
	}
	if err := views.NewPlan(format, os.Stdout, g.color()).Plan(plan); err != nil {
		return &exitError{code: 1, err: err}
	}
	if ctx.Err() != nil {
		return &exitError{code: 1, err: fmt.Errorf("interrupted")}
	}
	return &exitError{code: plan.ExitCode()}
}

// makePlan loads the inputs and plans; errors are exit-status 1.
func makePlan(ctx context.Context, g *globals, invPath, pbPath, limit string, forks int) (*playbooks.Plan, []*inventory.Host, error) {
	inv, err := inventory.Load(invPath)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	pb, err := playbooks.Load(pbPath)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	hosts, err := inv.Select(limit)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	g.log.Info("planning", "hosts", len(hosts), "forks", min(forks, len(hosts)), "playbook", pb.Name)
	pl := &playbooks.Planner{Dial: g.dialer(), Forks: forks, Log: g.log}
	plan, err := pl.Plan(ctx, hosts, pb)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	plan.Inventory, plan.InventoryDigest, plan.Limit = inv.File, inv.Digest, limit
	// A saved plan finds its inventory from any working directory.
	if abs, err := filepath.Abs(inv.File); err == nil {
		plan.Inventory = abs
	}
	if abs, err := filepath.Abs(plan.Playbook); err == nil && plan.Playbook != "" {
		plan.Playbook = abs
	}
	return plan, hosts, nil
}

func (g *globals) dialer() playbooks.Dialer {
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
