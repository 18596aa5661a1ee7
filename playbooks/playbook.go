// Package playbooks loads and validates tuning playbooks, plans the changes
// each host needs (current values against targets) and runs them.
package playbooks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// Playbook is a parsed, validated playbook file.
type Playbook struct {
	File       string
	Digest     string // "sha256:<hex>" of the file's bytes
	Name       string // defaults to the file's base name without extension
	Targets    Targets
	Overrides  []Override
	Guardrails Guardrails
	Rollout    Rollout
	Health     Health
	Audit      Audit // thresholds for fleettune audit (audit.go)
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

// String renders the batch the way it is written: "25%" or "3".
func (b Batch) String() string {
	if b.Percent > 0 {
		return strconv.Itoa(b.Percent) + "%"
	}
	return strconv.Itoa(b.Count)
}

// Size is the number of hosts in one batch out of total selected hosts: the
// count (at most total), or the percentage rounded up, and at least 1 when
// total > 0. A zero Batch means all hosts at once.
func (b Batch) Size(total int) int {
	if total <= 0 {
		return 0
	}
	n := total
	switch {
	case b.Percent > 0:
		n = (total*b.Percent + 99) / 100
	case b.Count > 0:
		n = b.Count
	}
	return max(1, min(n, total))
}

// ParseBatch parses a batch size as written in a playbook's rollout.batch or
// on the command line (--batch): a count of hosts ("5", at least 1) or a
// percentage of the selection ("25%", 1-100).
func ParseBatch(s string) (Batch, error) {
	t := strings.TrimSpace(s)
	if num, ok := strings.CutSuffix(t, "%"); ok {
		p, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil {
			return Batch{}, fmt.Errorf("%q: expected a count such as 5 or a percentage such as 25%%", s)
		}
		if p < 1 || p > 100 {
			return Batch{}, fmt.Errorf("%q: a percentage must be between 1%% and 100%%", s)
		}
		return Batch{Percent: p}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return Batch{}, fmt.Errorf("%q: expected a count such as 5 or a percentage such as 25%%", s)
	}
	if n < 1 {
		return Batch{}, fmt.Errorf("%q: a batch must hold at least 1 host", s)
	}
	return Batch{Count: n}, nil
}

// Health says how "handshake failures appeared" is detected after a batch.
type Health struct {
	Watch    time.Duration
	Counters bool              // default true
	Probe    map[string]string // os family -> command
	Rollback string            // "auto" | "manual"
	// Unchecked is what happens to a host whose health cannot be read at
	// all (no counters, no probe): UncheckedRefuse (the default) refuses
	// it in plan and apply; UncheckedAllow applies it, shown as not checked.
	Unchecked string
}

// Values of health.unchecked.
const (
	UncheckedRefuse = "refuse"
	UncheckedAllow  = "allow"
)

// Rollback modes of health.rollback.
const (
	RollbackAuto   = "auto"
	RollbackManual = "manual"
)
