// Package playbooks loads and validates tuning playbooks, plans the changes
// each host needs (current values against targets) and runs them.
package playbooks

import (
	"encoding/json"
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
	Batch       Ramp
	MaxFailures Budget
}

// Ramp is rollout.batch: the batch sizes in order, as Ansible's serial. The
// first batch is the canary; the last size repeats until every host is
// done. An empty Ramp, or one zero Batch, is all hosts at once.
type Ramp []Batch

// String renders the ramp the way --batch takes it: "1,10%,25%".
func (r Ramp) String() string {
	if len(r) == 0 {
		return "100%"
	}
	parts := make([]string, len(r))
	for i, b := range r {
		parts[i] = b.String()
	}
	return strings.Join(parts, ",")
}

// Sizes splits total hosts into batches: each size from its step of the
// ramp (percentages of total), the last step repeating, the last batch
// holding what is left. The sizes sum to total.
func (r Ramp) Sizes(total int) []int {
	var sizes []int
	for done, i := 0, 0; done < total; i++ {
		var b Batch
		if len(r) > 0 {
			b = r[min(i, len(r)-1)]
		}
		n := min(b.Size(total), total-done)
		sizes = append(sizes, n)
		done += n
	}
	return sizes
}

// ParseRamp parses --batch: one batch size or a comma-separated list of
// them ("1,10%,25%").
func ParseRamp(s string) (Ramp, error) {
	var r Ramp
	for i, part := range strings.Split(s, ",") {
		b, err := ParseBatch(part)
		if err != nil {
			if strings.Contains(s, ",") {
				return nil, fmt.Errorf("step %d of %q: %w", i+1, s, err)
			}
			return nil, err
		}
		r = append(r, b)
	}
	return r, nil
}

// Budget is rollout.max_failures: how many failed hosts (unreachable ones
// included) the rollout tolerates before it stops, as a count or as a
// percentage of the hosts started so far. The zero Budget stops at the
// first failure.
type Budget struct {
	Count   int // used when Percent is 0
	Percent int // 1..100
}

// String renders the budget the way it is written: "10%" or "2".
func (b Budget) String() string {
	if b.Percent > 0 {
		return strconv.Itoa(b.Percent) + "%"
	}
	return strconv.Itoa(b.Count)
}

// Exceeded reports whether failures out of sofar started hosts are more
// than the budget allows.
func (b Budget) Exceeded(failures, sofar int) bool {
	if b.Percent > 0 {
		return failures*100 > b.Percent*sofar
	}
	return failures > b.Count
}

// ParseBudget parses a failure budget as written in rollout.max_failures or
// on the command line (--max-failures): a count ("2", at least 0) or a
// percentage of the hosts so far ("10%", 0-100).
func ParseBudget(s string) (Budget, error) {
	t := strings.TrimSpace(s)
	if num, ok := strings.CutSuffix(t, "%"); ok {
		p, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil {
			return Budget{}, fmt.Errorf("%q: expected a count such as 2 or a percentage such as 10%%", s)
		}
		if p < 0 || p > 100 {
			return Budget{}, fmt.Errorf("%q: a percentage must be between 0%% and 100%%", s)
		}
		return Budget{Percent: p}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return Budget{}, fmt.Errorf("%q: expected a count such as 2 or a percentage such as 10%%", s)
	}
	if n < 0 {
		return Budget{}, fmt.Errorf("%s is negative; 0 stops at the first failure", t)
	}
	return Budget{Count: n}, nil
}

// MarshalJSON writes a count as a number and a percentage as "10%", so a
// saved plan reads as the playbook does.
func (b Budget) MarshalJSON() ([]byte, error) {
	if b.Percent > 0 {
		return json.Marshal(b.String())
	}
	return json.Marshal(b.Count)
}

// UnmarshalJSON reads a number or a string such as "10%".
func (b *Budget) UnmarshalJSON(data []byte) error {
	var n int
	if err := json.Unmarshal(data, &n); err == nil {
		if n < 0 {
			return fmt.Errorf("max_failures %d is negative", n)
		}
		*b = Budget{Count: n}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("max_failures: expected a count or a percentage, found %s", data)
	}
	v, err := ParseBudget(s)
	if err != nil {
		return fmt.Errorf("max_failures %w", err)
	}
	*b = v
	return nil
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
