package playbooks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// propose is the one proposal the planner, Verify and the engine make: the
// driver's (with its OS limits), then the playbook's OS-neutral
// guardrails, applied here once for every OS from the facts the driver
// reported.
func propose(d platform.Driver, f *platform.Facts, t platform.Targets, g Guardrails) (platform.Proposal, error) {
	p, err := platform.Propose(d, f, t, platform.Guardrails{})
	if err != nil {
		return p, err
	}
	if g.ProtectListeningPorts {
		refuseListeningPorts(&p, f, d.Capabilities())
	}
	refuseBelowMinTimeWait(&p, g.MinTimeWait)
	return p, nil
}

// refuseListeningPorts refuses an ephemeral range whose typed target covers
// a port a service listens on, unless the OS reported that port exempt
// (reserved from ephemeral use, or inside the current range already on an
// OS that does not hand out a listener's port: then it is only noted). A
// change the driver refused already keeps its OS-limit message. A refusal
// leaves the proposal without steps.
func refuseListeningPorts(p *platform.Proposal, f *platform.Facts, caps platform.Capabilities) {
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Setting != string(platform.EphemeralPorts) || c.After == nil || c.After.Ports == nil || c.Refused != "" {
			continue
		}
		want := *c.After.Ports
		exempt := map[int]bool{}
		var inRange []int
		var within *platform.PortRange
		for _, e := range f.Exempt {
			for _, port := range e.Ports {
				exempt[port] = true
				if e.Reason == platform.ExemptInRange && want.Contains(port) {
					inRange, within = append(inRange, port), e.Within
				}
			}
		}
		var covered []int
		for _, port := range f.Listening {
			if want.Contains(port) && !exempt[port] {
				covered = append(covered, port)
			}
		}
		if len(covered) == 0 {
			if len(inRange) > 0 && within != nil {
				p.Notes = append(p.Notes, fmt.Sprintf("ephemeral_ports %s: listening port(s) %s are inside the current range %s already; the OS does not hand them out", want, formatPorts(inRange), *within))
			}
			continue
		}
		advice := "move the range or the services"
		if caps.ReservedPortsKnob != "" {
			advice = "move the range or reserve them in " + caps.ReservedPortsKnob
		}
		c.Refused = fmt.Sprintf("range %s covers listening port(s) %s; %s", want, formatPorts(covered), advice)
		c.Action = platform.ActionRefused
		p.Steps = nil
	}
}

// formatPorts lists ports for a message, the first eight and a count.
func formatPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, port := range ports {
		s[i] = strconv.Itoa(port)
	}
	if len(s) > 8 {
		return strings.Join(s[:8], ", ") + fmt.Sprintf(" and %d more", len(s)-8)
	}
	return strings.Join(s, ", ")
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
