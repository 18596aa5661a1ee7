// Package playbooks loads and validates tuning playbooks, plans the changes
// each host needs (current values against targets) and runs them.
package playbooks

import (
	"time"

	"github.com/fleettune/fleettune/platform"
)

// Playbook is a parsed, validated playbook file.
type Playbook struct {
	File       string
	Name       string
	Targets    Targets
	Overrides  []Override
	Guardrails Guardrails
	Rollout    Rollout
	Health     Health
}

// Targets are the abstract settings of a playbook's targets: block.
type Targets struct {
	EphemeralPorts *platform.PortRange
	TimeWait       *time.Duration
	KeepaliveTime  *time.Duration
}

// Override changes targets, or adds native knobs, for the hosts it matches.
// Later overrides win.
type Override struct {
	When    Match
	Targets Targets
	Native  map[string]map[string]string // os -> knob -> value
	Line    int                          // line of the entry in the playbook file
}

// Match selects hosts by OS, group or host name; each field is a glob, ""
// matches anything, and all set fields must match.
type Match struct {
	OS    string
	Group string
	Host  string
}

// Guardrails refuse dangerous targets.
type Guardrails struct {
	MinTimeWait           time.Duration // default 10s
	ProtectListeningPorts bool          // default true
}

// Rollout controls how apply walks the fleet.
type Rollout struct {
	Batch       Batch
	MaxFailures int
}

// Batch is a batch size: a count of hosts or a percentage of the selection.
type Batch struct {
	Count   int // > 0 when given as a count
	Percent int // 1..100 when given as N%
}

// Health says how "handshake failures appeared" is detected after a batch.
type Health struct {
	Watch    time.Duration
	Counters bool              // default true
	Probe    map[string]string // os family -> command
	Rollback string            // "auto" | "manual"
}
