package playbooks

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

// RebootCheck is a host a run left awaiting a reboot.
type RebootCheck struct {
	RunID   string
	Host    *inventory.Host
	OS      string
	BootID  string // the boot id when the change was made
	Targets platform.Targets
	// Snapshot, for a rollback awaiting a reboot, is the state the host
	// must be back in after it; Targets are then not used.
	Snapshot *platform.Snapshot
	Reason   string
}

// Reboot states reported by CheckReboots.
const (
	RebootPending     = "pending"     // the host has not rebooted yet
	RebootVerified    = "verified"    // rebooted, and the persisted values are live
	RebootNotTaken    = "not_taken"   // rebooted, but the values are not what was persisted
	RebootUnreachable = "unreachable" // could not tell
)

// RebootStatus is what CheckReboots found on one host.
type RebootStatus struct {
	RunID  string `json:"run_id"`
	Host   string `json:"host"`
	OS     string `json:"os"`
	State  string `json:"state"`
	Reason string `json:"reason"`           // why a reboot was needed
	BootID string `json:"boot_id"`          // seen now
	Detail string `json:"detail,omitempty"` // what is not as persisted, or the error
}

// CheckReboots re-reads each host's boot id. A host that rebooted is
// verified: its live values must now be the targets the run persisted.
func (e *Engine) CheckReboots(ctx context.Context, checks []RebootCheck) []RebootStatus {
	out := make([]RebootStatus, len(checks))
	hosts := make([]*inventory.Host, len(checks))
	for i, c := range checks {
		h := *c.Host
		h.OS = c.OS
		hosts[i] = &h
		out[i] = RebootStatus{RunID: c.RunID, Host: h.Name, OS: c.OS, Reason: c.Reason, State: RebootUnreachable, Detail: "not checked"}
	}
	e.forEachHost(ctx, hosts, func(ctx context.Context, i int, h *inventory.Host) {
		st := &out[i]
		c, err := e.connect(ctx, h)
		if err != nil {
			st.Detail = err.Error()
			return
		}
		defer c.close()
		var f *platform.Facts
		var wrong []string
		if snap := checks[i].Snapshot; snap != nil {
			if f, err = c.driver.Gather(ctx, c.sess, knobNames(*snap)); err != nil {
				st.Detail = err.Error()
				return
			}
			wrong = c.driver.Differences(f, *snap)
		} else {
			var prop platform.Proposal
			if f, prop, err = e.propose(ctx, c, checks[i].Targets, Guardrails{}); err != nil {
				st.Detail = err.Error()
				return
			}
			for _, ch := range prop.Changes {
				wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", ch.Knob, ch.Current, ch.Target))
			}
		}
		st.BootID, st.Detail = f.BootID, ""
		if platform.SameBoot(c.os, f.BootID, checks[i].BootID) {
			st.State = RebootPending
			return
		}
		if len(wrong) > 0 {
			st.State, st.Detail = RebootNotTaken, strings.Join(wrong, "; ")
			return
		}
		st.State = RebootVerified
	})
	return out
}
