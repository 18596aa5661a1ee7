package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/internal/termsafe"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/playbooks"
	"github.com/fleettune/fleettune/views"
)

type rollbackFlags struct {
	run, limit, format string
	last, yes          bool
	listHosts          bool
	forks              int
}

func newRollbackCmd(g *globals) *cobra.Command {
	f := &rollbackFlags{}
	cmd := &cobra.Command{
		Use:   "rollback (--run ID | --last)",
		Short: "Put hosts back to the values a run recorded before changing them",
		Long: `rollback restores, on every host a run changed, the values the journal
recorded before the run touched it: live, and in the persistent
configuration (removing fleettune's file where there was none). It reads the
values back to verify, and records the rollback as a run of its own. Hosts
already at their previous values are left alone, so rolling back twice is
harmless. Hosts are reached with the connection settings the run recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRollback(cmd.Context(), g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.run, "run", "", "the run to undo (fleettune status lists them)")
	fl.BoolVar(&f.last, "last", false, "undo the most recent apply")
	fl.StringVarP(&f.limit, "limit", "l", "", "only these hosts, groups or globs of the run; !x excludes")
	fl.IntVarP(&f.forks, "forks", "f", playbooks.DefaultForks, "hosts worked on at once")
	fl.BoolVar(&f.yes, "yes", false, "roll back without asking")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	addListHostsFlag(fl, &f.listHosts)
	_ = cmd.RegisterFlagCompletionFunc("run", completeRuns(g, journal.KindApply))
	return cmd
}

func runRollback(ctx context.Context, g *globals, f *rollbackFlags) error {
	format, err := views.ParseFormat(f.format)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if (f.run == "") == !f.last {
		return &exitError{code: 1, err: errors.New("rollback needs exactly one of --run ID or --last")}
	}
	if err := checkForks(f.forks); err != nil {
		return err
	}
	if err := checkLimit(f.limit); err != nil {
		return err
	}
	store, err := g.openStore(ctx)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%w; nothing was changed", err)}
	}
	defer store.Close()
	// The lock comes first: --last must not pick, and no rollback may
	// touch, a run another fleettune is still writing.
	id := playbooks.NewRunID(timeNow())
	lock, err := store.Lock(id, journal.KindRollback)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer lock.Unlock()
	var run *journal.Run
	if f.last {
		run, err = store.Last(journal.KindApply)
	} else {
		run, err = store.Load(f.run)
	}
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if !run.Finished() && lock.Running(ctx, run.ID()) {
		return &exitError{code: 1, err: fmt.Errorf("run %s is still running (another fleettune holds its hosts); wait for it to finish", run.ID())}
	}
	if run.Header.Kind != journal.KindApply {
		return &exitError{code: 1, err: fmt.Errorf("run %s is a %s; only apply runs can be rolled back (apply again to redo)", run.ID(), run.Header.Kind)}
	}
	var conns []*inventory.Host
	byName := map[string]*journal.HostRun{}
	for _, h := range run.Hosts {
		if h.Before == nil {
			continue // never changed
		}
		c := h.Conn
		conns = append(conns, &c)
		byName[h.Host] = h
	}
	if len(conns) == 0 {
		return &exitError{code: 1, err: fmt.Errorf("run %s changed no host; nothing to roll back", run.ID())}
	}
	selected := conns
	if f.limit != "" {
		if selected, err = inventory.FromHosts("run "+run.ID(), conns).Select(f.limit); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	// In name order, whatever order the run finished them in.
	sort.Slice(selected, func(i, j int) bool { return selected[i].Name < selected[j].Name })
	// Each host's lock before anything touches it.
	selected, refused, err := lockHosts(ctx, lock, id, selected)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%w; nothing was changed", err)}
	}
	if len(selected) == 0 {
		out := &playbooks.Outcome{RunID: id, Kind: journal.KindRollback, RollbackOf: run.ID()}
		addRefused(out, refused)
		return renderOutcome(g, format, out)
	}
	var targets []playbooks.RestoreTarget
	for _, c := range selected {
		h := byName[c.Name]
		targets = append(targets, playbooks.RestoreTarget{Host: c, OS: h.OS, Snapshot: *h.Before, Changes: h.Changes})
	}
	// Rolling back an older run puts back values from before it, over
	// whatever later applies set on the same hosts: say so before asking.
	if later := laterApplies(store, run, targets); len(later) > 0 {
		g.log.Warn("later applies changed these hosts too; rolling back this run undoes them as well", "hosts", strings.Join(later, ", "))
	}
	if f.listHosts {
		return g.listHosts(format, selected)
	}
	if !f.yes {
		if !g.stdinTTY {
			return &exitError{code: 1, err: errors.New("refusing to change hosts without confirmation: no terminal to ask on; pass --yes")}
		}
		fmt.Fprintf(g.stderr, "Run %s (%s, started %s) changed %s.\n%s", run.ID(), run.Header.Kind,
			run.Header.Started.Local().Format("2006-01-02 15:04:05"), plural(len(conns), "host", "hosts"), restoreList(targets))
		if err := g.confirm(ctx, fmt.Sprintf("Restore these previous values on %s?", plural(len(targets), "host", "hosts"))); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	w, err := store.Create(journal.Header{ID: id, Kind: journal.KindRollback, Version: version, RollbackOf: run.ID(), Limit: f.limit,
		Inventory: run.Header.Inventory, Playbook: run.Header.Playbook})
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer w.Close()
	if err := journalRefused(w, refused); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%w; nothing was changed", err)}
	}
	g.log.Info("rolling back", "run", run.ID(), "hosts", len(targets), "as", id)
	g.changing.Store(true)
	e := &playbooks.Engine{Dial: g.dialer(), Journal: journalSink{w}, Forks: f.forks, Log: g.log, Stop: stopOrLost(ctx, g, lock)}
	out := e.Rollback(ctx, id, run.ID(), targets)
	addRefused(out, refused)
	if err := w.Append(endRecord(out, ctx, g.stop)); err != nil {
		g.log.Error("journal", "err", err)
	}
	reportKept(g, w)
	return renderOutcome(g, format, out)
}

// restoreList shows, per host, the values rollback will put back: each
// knob's live value and, where it differs, the value persisted for the
// next boot. The values come from the journal, hence terminal-safe.
func restoreList(targets []playbooks.RestoreTarget) string {
	var b strings.Builder
	b.WriteString("It will restore:\n")
	for _, t := range targets {
		knobs := make([]string, 0, len(t.Snapshot.Knobs))
		for k := range t.Snapshot.Knobs {
			knobs = append(knobs, k)
		}
		sort.Strings(knobs)
		fmt.Fprintf(&b, "  %s (%s)\n", termsafe.String(t.Host.Name), termsafe.String(t.OS))
		for _, k := range knobs {
			st := t.Snapshot.Knobs[k]
			val := st.Live
			if st.Missing {
				val = "(absent)"
			}
			line := fmt.Sprintf("    %s = %s", termsafe.String(k), termsafe.String(val))
			if st.AtBootSet && st.AtBoot != st.Live {
				line += ", at next boot " + termsafe.String(st.AtBoot)
			}
			b.WriteString(line + "\n")
		}
		files := make([]string, 0, len(t.Snapshot.Files))
		for f := range t.Snapshot.Files {
			files = append(files, f)
		}
		sort.Strings(files)
		for _, f := range files {
			if t.Snapshot.Files[f] == nil {
				fmt.Fprintf(&b, "    %s removed (it did not exist before)\n", termsafe.String(f))
			} else {
				fmt.Fprintf(&b, "    %s put back as it was\n", termsafe.String(f))
			}
		}
	}
	return b.String()
}

// laterApplies names the hosts among targets that an apply run started
// after run also changed and left changed (not rolled back), as
// "host (run ID)".
func laterApplies(store *journal.Store, run *journal.Run, targets []playbooks.RestoreTarget) []string {
	runs, err := store.Runs()
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range targets {
		for _, r := range runs {
			if r.Header.Kind != journal.KindApply || r.ID() == run.ID() || !r.Header.Started.After(run.Header.Started) {
				continue
			}
			if h := r.Host(t.Host.Name); h != nil && h.Before != nil && h.Status() == journal.StatusApplied {
				out = append(out, fmt.Sprintf("%s (run %s)", t.Host.Name, r.ID()))
				break
			}
		}
	}
	return out
}
