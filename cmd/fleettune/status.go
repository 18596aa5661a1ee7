package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/playbooks"
	"github.com/fleettune/fleettune/views"
)

var timeNow = time.Now

type statusFlags struct {
	inventory []string // -i, repeatable; "-" is stdin
	format    string
}

func newStatusCmd(g *globals) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List runs, and the hosts awaiting a reboot (re-checking their boot ids)",
		Long: `status lists the runs in the state directory and every host a run left
awaiting a reboot, with why. It reads each such host's boot id again; a host
that has rebooted is verified (its persisted values must now be live) and
its flag cleared in the journal, or reported as not taken.

With -i, hosts are reached with the inventory's current connection settings
instead of those the run recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.readCtx(cmd.Context())
			defer cancel()
			return runStatus(ctx, g, f)
		},
	}
	addInventoryFlag(cmd.Flags(), &f.inventory, "reach hosts with this inventory's settings (repeatable, as for plan)")
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	return cmd
}

func runStatus(ctx context.Context, g *globals, f *statusFlags) (err error) {
	format, err := views.ParseFormat(f.format)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	store, err := g.openStore(ctx)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer store.Close()
	var inv *inventory.Inventory
	if len(f.inventory) > 0 {
		if inv, err = g.loadInventory(f.inventory); err != nil {
			return err
		}
	}
	runs, err := store.Runs()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	// Holding the lock tells unfinished runs that are running from those
	// that were interrupted, and lets status record what it sees.
	lock, lerr := store.Lock("", "status")
	switch {
	case lerr == nil:
		defer lock.Unlock()
	case errors.Is(lerr, journal.ErrReadOnly):
		g.log.Warn("the state dir is read-only; reboot checks will not be recorded", "err", lerr)
	default:
		g.log.Warn("another fleettune is running; reboot checks will not be recorded", "err", lerr)
	}
	st := &views.StatusDoc{StateDir: store.Dir()}
	var unreadable []string
	for _, r := range runs {
		// A run is running when the state dir's lock is busy, or (with a
		// database) when a live fleettune holds its hosts.
		running := !r.Finished() && (lerr != nil || lock.Running(ctx, r.ID()))
		st.Runs = append(st.Runs, views.RunLineOf(r, running))
		if r.Err != nil {
			unreadable = append(unreadable, r.Err.Error())
		}
	}
	// A corrupt run is the operator's to repair: status says where and
	// exits non-zero, after showing everything else.
	defer func() {
		if len(unreadable) > 0 && err == nil {
			err = &exitError{code: 1, err: fmt.Errorf("%d runs cannot be read:\n  %s", len(unreadable), strings.Join(unreadable, "\n  "))}
		}
	}()
	pending := journal.PendingReboots(runs)
	if len(pending) > 0 {
		var checks []playbooks.RebootCheck
		for _, p := range pending {
			conn := p.Host.Conn
			if inv != nil {
				if h := inv.Host(p.Host.Host); h != nil {
					conn = *h
				}
			}
			reason := ""
			if p.Host.Result != nil {
				reason = p.Host.Result.RebootReason
			}
			check := playbooks.RebootCheck{RunID: p.Run.ID(), Host: &conn, OS: p.Host.OS,
				BootID: p.Host.BootID, Targets: p.Host.Targets, Reason: reason}
			if p.Run.Header.Kind == journal.KindRollback {
				// A rollback awaiting a reboot is done when the host is
				// back as the rolled-back run found it.
				check.Snapshot = restoredSnapshot(runs, p.Run.Header.RollbackOf, p.Host.Host)
			}
			checks = append(checks, check)
		}
		e := &playbooks.Engine{Dial: g.dialer(), Log: g.log}
		st.Reboots = e.CheckReboots(ctx, checks)
		// Record what was seen; a busy state dir only skips the recording.
		if lerr == nil {
			for _, r := range st.Reboots {
				if r.State == playbooks.RebootVerified || r.State == playbooks.RebootNotTaken {
					rec := journal.RebootRecord{Host: r.Host, BootID: r.BootID, Verified: r.State == playbooks.RebootVerified, Detail: r.Detail}
					if err := store.AppendTo(r.RunID, rec); err != nil {
						g.log.Error("journal", "run", r.RunID, "err", err)
					}
				}
			}
		}
	}
	if err := views.NewStatus(format, g.stdout, g.color()).Status(st); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

// restoredSnapshot is the state a rollback of run put host back to: what
// that run recorded before changing it.
func restoredSnapshot(runs []*journal.Run, run, host string) *platform.Snapshot {
	for _, r := range runs {
		if r.ID() == run {
			if h := r.Host(host); h != nil && h.Before != nil {
				return h.Before
			}
		}
	}
	return nil
}
