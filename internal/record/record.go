// Package record is the vocabulary the run engine (playbooks) and the
// journal share: where a host ended up (Status), a command run on it
// (Command) and what its health check measured (Health). It is declared
// once, here, below both, so that what apply reports and what the journal
// keeps are the same values and no layer converts between look-alike
// types. It imports nothing of fleettune's.
//
// The JSON field names are the journal's on-disk format: they must not
// change (journals written before this package existed still read).
package record

import "time"

// Status is where a host ended up in a run.
type Status string

// The statuses a run records for a host.
const (
	StatusApplied     Status = "applied"     // changed and verified
	StatusOK          Status = "ok"          // nothing to do
	StatusFailed      Status = "failed"      // refused, a command failed, or verify failed
	StatusRolledBack  Status = "rolled_back" // changed, then put back
	StatusSkipped     Status = "skipped"     // not started (stopped or interrupted)
	StatusUnreachable Status = "unreachable" // could not connect or log in
)

// Statuses lists every Status, in the order above.
var Statuses = []Status{StatusApplied, StatusOK, StatusFailed, StatusRolledBack, StatusSkipped, StatusUnreachable}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Command phases.
const (
	PhaseApply   = "apply"
	PhaseRestore = "restore"
)

// Command is one command run on a host.
type Command struct {
	Host   string    `json:"host"`
	Phase  string    `json:"phase"` // PhaseApply | PhaseRestore
	Cmd    string    `json:"cmd"`
	Exit   int       `json:"exit"`
	Stderr string    `json:"stderr,omitempty"` // bounded by whoever stores it
	Error  string    `json:"error,omitempty"`  // transport error; Exit is then -1
	Time   time.Time `json:"time"`
}

// Health is what a batch's health check measured on one host: counters
// read before and after the watch window, or the probe, or nothing
// (Checked false, with the Reason).
type Health struct {
	Checked  bool                    `json:"checked"`
	Reason   string                  `json:"reason,omitempty"`
	Counters map[string]CounterCheck `json:"counters,omitempty"`
	Probe    *ProbeCheck             `json:"probe,omitempty"`
}

// CounterCheck is one counter's rise over the watch window and the most it
// may rise.
type CounterCheck struct {
	Increase  int64 `json:"increase"`
	Threshold int64 `json:"threshold"`
}

// ProbeCheck is the probe's exit status and what it printed (trimmed).
type ProbeCheck struct {
	Exit   int    `json:"exit"`
	Output string `json:"output"`
}
