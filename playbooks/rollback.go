package playbooks

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

// RestoreTarget is one host to put back as a journal recorded it.
type RestoreTarget struct {
	Host     *inventory.Host // connection settings as recorded
	OS       string
	Snapshot platform.Snapshot
	Changes  []platform.Change // what the run changed, for the record
}

// Rollback restores hosts to their recorded previous values, at runtime and
// in the persistent configuration, and verifies by reading back. A host
// already at its previous values is left alone, so rolling back twice is
// harmless. The host's state before the rollback is journaled first, like
// any change.
func (e *Engine) Rollback(ctx context.Context, runID, of string, targets []RestoreTarget) *Outcome {
	out := &Outcome{RunID: runID, Kind: "rollback", RollbackOf: of, Hosts: make([]HostOutcome, len(targets))}
	hosts := make([]*inventory.Host, len(targets))
	for i, t := range targets {
		h := *t.Host
		h.OS = t.OS
		hosts[i] = &h
		out.Hosts[i] = HostOutcome{Host: h.Name, OS: t.OS, Status: StatusSkipped, Error: "not started", Changes: t.Changes}
	}
	e.forEachHost(ctx, hosts, func(ctx context.Context, i int, h *inventory.Host) {
		e.rollbackHost(ctx, h, targets[i], &out.Hosts[i])
	})
	if err := e.journalErr(); err != nil {
		out.Stopped = fmt.Sprintf("journal write failed (%v): rollback stopped; no further host was touched", err)
	} else if ctx.Err() != nil || e.stopped() {
		out.Stopped = "interrupted"
	}
	out.Summarize()
	return out
}

func (e *Engine) rollbackHost(ctx context.Context, h *inventory.Host, t RestoreTarget, ho *HostOutcome) {
	ho.Error = ""
	c, err := e.connect(ctx, h)
	if err != nil {
		ho.fail(err)
		e.record(*ho)
		return
	}
	defer c.close()
	knobs := knobNames(t.Snapshot)
	f, err := c.driver.Gather(ctx, c.sess, knobs)
	if err != nil {
		ho.fail(err)
		e.record(*ho)
		return
	}
	ho.BootID = f.BootID
	cmds, err := c.driver.RestoreCommands(f, t.Snapshot)
	if err != nil {
		ho.fail(err)
		e.record(*ho)
		return
	}
	if len(cmds) == 0 {
		ho.Status = StatusOK
		ho.Notes = append(ho.Notes, "already at the recorded previous values; nothing to do")
		e.record(*ho)
		return
	}
	if e.Journal != nil {
		now := c.driver.Snapshot(f, t.Changes)
		if err := e.Journal.Before(BeforeRecord{Host: h, OS: c.os, BootID: f.BootID, Changes: t.Changes, Snapshot: now}); err != nil {
			ho.Status, ho.Error = StatusFailed, "journal: "+err.Error()+"; host not touched"
			e.journalFailed(h.Name, err)
			return
		}
	}
	runCtx := context.WithoutCancel(ctx)
	if err := e.runAll(runCtx, c, "restore", cmds, ho); err != nil {
		ho.fail(err)
		e.record(*ho)
		return
	}
	f, err = c.driver.Gather(runCtx, c.sess, knobs)
	if err != nil {
		ho.fail(fmt.Errorf("verify: %w", err))
		e.record(*ho)
		return
	}
	pending, diff := platform.SplitAwaitingReboot(c.driver.Differences(f, t.Snapshot))
	if len(diff) > 0 {
		ho.Status, ho.Error = StatusFailed, "verify: "+strings.Join(diff, "; ")
		e.record(*ho)
		return
	}
	ho.Status = StatusRolledBack
	if len(pending) > 0 {
		ho.RebootRequired, ho.RebootReason = true, "restored at the next boot: "+strings.Join(pending, "; ")
	}
	e.record(*ho)
}
