package playbooks

import (
	"fmt"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// propose is the one proposal the planner, Verify and the engine make: the
// driver's (with its OS limits), then the playbook's OS-neutral
// guardrails, applied here once for every OS.
func propose(d platform.Driver, f *platform.Facts, t platform.Targets, g platform.Guardrails, minTimeWait time.Duration) (platform.Proposal, error) {
	p, err := platform.Propose(d, f, t, g)
	if err != nil {
		return p, err
	}
	refuseBelowMinTimeWait(&p, minTimeWait)
	return p, nil
}

// refuseBelowMinTimeWait refuses a TIME_WAIT change whose typed target is
// below guardrails.min_time_wait, whatever the OS: the loader refuses such
// a playbook already, so this holds the line for targets that came another
// way. A refusal leaves the proposal without steps.
func refuseBelowMinTimeWait(p *platform.Proposal, min time.Duration) {
	if min <= 0 {
		return
	}
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Setting != string(platform.TimeWait) || c.After == nil || c.After.Duration == nil || *c.After.Duration >= min {
			continue
		}
		msg := fmt.Sprintf("%s is below guardrails.min_time_wait (%s)", *c.After.Duration, min)
		if c.Refused != "" {
			msg += "; and " + c.Refused
		}
		c.Refused = msg
		c.Action = platform.ActionRefused
		p.Steps = nil
	}
}
