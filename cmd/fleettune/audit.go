package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/audit"
	"github.com/fleettune/fleettune/internal/termsafe"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/playbooks"
	"github.com/fleettune/fleettune/views"
)

type auditFlags struct {
	inventory                       []string // -i, repeatable; "-" is stdin
	playbook, limit, format, sample string
	watch, warn, crit, minHeadroom  string
	forks, maxLines                 int
	listHosts                       bool
}

func newAuditCmd(g *globals) *cobra.Command {
	f := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "audit -i INVENTORY [-p PLAYBOOK]",
		Short: "Find the hosts that run out of ephemeral ports, towards what, how fast",
		Long: `audit reads each selected host's socket table and port configuration in
one read-only command over one connection, groups the sockets into the pools
the OS draws ephemeral ports from (Linux: per local address, remote address
and port; Windows and the Unix systems: per local address), and shows per
pool the ports held, the utilisation of the usable range, the rate of new
connections now (TIME_WAIT ÷ T), the ceiling that rate can reach, a grade
(OK, WATCH, WARN, CRIT, EXHAUSTED) and what would help, most effective first.

With -p, the playbook's targets are a what-if: each at-risk pool's ceiling
before and after. Its audit: section sets the grade thresholds; flags win.
--sample NxDURATION reads each host N times for a slope and a time to
exhaustion.

Exit status: 0 when every host was read and none is WARN or worse, 2 when
some host is WARN or worse, 1 on bad input or when a host was not read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.readCtx(cmd.Context())
			defer cancel()
			return runAudit(ctx, g, f)
		},
	}
	fl := cmd.Flags()
	addInventoryFlag(fl, &f.inventory, inventoryHelp)
	fl.StringVarP(&f.playbook, "playbook", "p", "", "playbook for a what-if of its targets, and its audit: thresholds")
	addLimitFlag(fl, &f.limit)
	addListHostsFlag(fl, &f.listHosts)
	fl.IntVarP(&f.forks, "forks", "f", playbooks.DefaultForks, "hosts read at once")
	fl.StringVar(&f.sample, "sample", "", "read each host N times, DURATION apart (e.g. 3x10s), for a slope and a time to exhaustion")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.StringVar(&f.watch, "watch", "", "grade WATCH from this utilisation (default 50%)")
	fl.StringVar(&f.warn, "warn", "", "grade WARN from this utilisation (default 66%)")
	fl.StringVar(&f.crit, "crit", "", "grade CRIT from this utilisation (default 85%)")
	fl.StringVar(&f.minHeadroom, "min-headroom", "", "grade CRIT below this ceiling ÷ rate (default 1.25)")
	fl.IntVar(&f.maxLines, "max-sockets", audit.DefaultMaxLines, "socket table lines read per host at most; a host with more is audited on the first ones")
	_ = cmd.RegisterFlagCompletionFunc("limit", completeLimit(g))
	return cmd
}

func runAudit(ctx context.Context, g *globals, f *auditFlags) error {
	format, err := views.ParseFormat(f.format)
	if err != nil {
		return badInput(err)
	}
	if err := checkForks(f.forks); err != nil {
		return err
	}
	if err := checkLimit(f.limit); err != nil {
		return err
	}
	if f.maxLines < 1 {
		return badInput(fmt.Errorf("--max-sockets %d: must be at least 1", f.maxLines))
	}
	if f.listHosts {
		return g.listSelection(format, f.inventory, f.limit)
	}
	var sample audit.Sample
	if f.sample != "" {
		if sample, err = audit.ParseSample(f.sample); err != nil {
			return badInput(err)
		}
	}
	var pb *playbooks.Playbook
	if f.playbook != "" {
		if pb, err = playbooks.Load(f.playbook); err != nil {
			return badInput(err)
		}
	}
	th, err := thresholds(pb, f)
	if err != nil {
		return badInput(err)
	}
	inv, err := g.loadInventory(f.inventory)
	if err != nil {
		return err
	}
	hosts, err := inv.Select(f.limit)
	if err != nil {
		return badInput(err)
	}
	targets := make([]audit.Target, len(hosts))
	for i, h := range hosts {
		targets[i] = audit.Target{Name: h.Name, OS: h.OS, Groups: h.Groups}
		if pb != nil {
			targets[i].WhatIf = func(os string) (*platform.Targets, error) {
				t, err := pb.Resolve(os, h.Groups, h.Name)
				return &t, err
			}
		}
	}
	kv := []any{"hosts", len(hosts), "forks", min(f.forks, len(hosts))}
	if sample.N > 1 {
		kv = append(kv, "sample", sample.String())
	}
	g.log.Info("auditing", kv...)
	dial := g.dialer()
	a := &audit.Auditor{
		Dial: func(ctx context.Context, i int) (audit.Session, error) {
			return dial(ctx, hosts[i])
		},
		Forks: f.forks, Sample: sample, Limits: audit.Limits{MaxLines: f.maxLines}, Thresholds: th,
		OnHost: func(h *audit.HostReport) {
			if h.Status != audit.StatusOK {
				g.log.Debug("not read", "host", termsafe.String(h.Host), "err", termsafe.String(h.Error))
				return
			}
			g.log.Debug("audited", "host", termsafe.String(h.Host), "grade", h.Grade.String(), "pools", h.PoolCount)
		},
	}
	rep := a.Run(ctx, targets)
	if pb != nil {
		rep.Playbook = f.playbook
	}
	if err := views.NewAudit(format, g.stdout, g.color()).Audit(rep); err != nil {
		return badInput(err)
	}
	if ctx.Err() != nil {
		return badInput(fmt.Errorf("interrupted"))
	}
	return &exitError{code: rep.ExitCode()}
}

// thresholds starts from the defaults, applies the playbook's audit:
// section, then the flags.
func thresholds(pb *playbooks.Playbook, f *auditFlags) (audit.Thresholds, error) {
	th := audit.DefaultThresholds()
	if pb != nil {
		a := pb.Audit
		set := func(dst *float64, v *float64) {
			if v != nil {
				*dst = *v
			}
		}
		set(&th.Watch, a.Watch)
		set(&th.Warn, a.Warn)
		set(&th.Crit, a.Crit)
		set(&th.MinHeadroom, a.MinHeadroom)
		if a.MinTTE != nil {
			th.MinTTE, th.MinTTEText = *a.MinTTE, a.MinTTE.String()
		}
	}
	for _, fl := range []struct {
		name, v string
		dst     *float64
		pct     bool
	}{{"--watch", f.watch, &th.Watch, true}, {"--warn", f.warn, &th.Warn, true}, {"--crit", f.crit, &th.Crit, true}, {"--min-headroom", f.minHeadroom, &th.MinHeadroom, false}} {
		if fl.v == "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(fl.v, "%"), "x"), 64)
		if err != nil {
			return th, fmt.Errorf("%s %q: expected a number, such as 66%% or 1.25", fl.name, fl.v)
		}
		if fl.pct {
			v /= 100
		}
		*fl.dst = v
	}
	return th, th.Validate()
}
