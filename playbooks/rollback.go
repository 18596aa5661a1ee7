package playbooks

import (
	"context"
	"errors"
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
		e.record(ho)
		return
	}
	defer func() { c.close() }()
	journalErr := errors.New("journal")
	before := func(f *platform.Facts) error {
		if e.Journal == nil {
			return nil
		}
		now := c.driver.Snapshot(f, t.Changes)
		if err := e.Journal.Before(BeforeRecord{Host: h, OS: c.os, BootID: f.BootID, Changes: t.Changes, Snapshot: now}); err != nil {
			e.journalFailed(h.Name, err)
			return fmt.Errorf("%w: %v; host not touched", journalErr, err)
		}
		return nil
	}
	// Commands that started run to their end even when the rollback is
	// interrupted.
	nc, r, err := e.restoreTo(context.WithoutCancel(ctx), c, t.Snapshot, ho, before)
	c = nc
	if r.facts != nil {
		ho.BootID = r.facts.BootID
	}
	switch {
	case errors.Is(err, journalErr):
		ho.Status, ho.Error = StatusFailed, err.Error()
		return
	case err != nil:
		ho.fail(err)
		e.record(ho)
		return
	case r.nothing:
		ho.Status = StatusOK
		ho.Notes = append(ho.Notes, "already at the recorded previous values; nothing to do")
		e.record(ho)
		return
	}
	ho.Status = StatusRolledBack
	if len(r.pending) > 0 {
		ho.RebootRequired, ho.RebootReason = true, "restored at the next boot: "+strings.Join(r.pending, "; ")
	}
	e.record(ho)
}
