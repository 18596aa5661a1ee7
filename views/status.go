package views

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fleettune/fleettune/internal/termsafe"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/playbooks"
)

// StatusDoc is what fleettune status reports.
type StatusDoc struct {
	StateDir string                   `json:"state_dir"`
	Runs     []RunLine                `json:"runs"`
	Reboots  []playbooks.RebootStatus `json:"reboots"`
}

// RunLine is one run, as status lists it.
type RunLine struct {
	ID         string         `json:"run_id"`
	Kind       string         `json:"kind"`
	Started    time.Time      `json:"started"`
	User       string         `json:"user"`
	Machine    string         `json:"machine,omitempty"` // where the run came from
	Playbook   string         `json:"playbook,omitempty"`
	RollbackOf string         `json:"rollback_of,omitempty"`
	State      string         `json:"state"` // done, failed, rolled_back, interrupted, running, unreadable
	Counts     map[string]int `json:"counts"`
	Error      string         `json:"error,omitempty"`
}

// RunLineOf summarizes a journal run. An unfinished run is "running" when
// another fleettune holds the state dir's lock, "interrupted" otherwise.
func RunLineOf(r *journal.Run, lockHeld bool) RunLine {
	l := RunLine{ID: r.ID(), Kind: r.Header.Kind, Started: r.Header.Started, User: r.Header.User, Machine: r.Header.OperatorHost,
		RollbackOf: r.Header.RollbackOf, Counts: r.Counts()}
	if r.Header.Playbook != nil {
		l.Playbook = r.Header.Playbook.Name
	}
	switch {
	case r.Err != nil:
		l.State, l.Error = "unreadable", r.Err.Error()
	case r.End != nil:
		l.State = r.End.Status
	case lockHeld:
		l.State = "running"
	default:
		l.State = "interrupted"
	}
	return l
}

// Status renders a StatusDoc.
type Status interface{ Status(*StatusDoc) error }

// NewStatus chooses the view for a format once.
func NewStatus(f Format, w io.Writer, color bool) Status {
	if f == JSON {
		return statusJSON{w}
	}
	return statusHuman{w, style{color}}
}

type statusJSON struct{ w io.Writer }

func (v statusJSON) Status(d *StatusDoc) error {
	c := *d
	if c.Runs == nil {
		c.Runs = []RunLine{}
	}
	if c.Reboots == nil {
		c.Reboots = []playbooks.RebootStatus{}
	}
	return writeJSON(v.w, &c)
}

type statusHuman struct {
	w io.Writer
	s style
}

// Status prints the runs and the reboots. Everything in them came from
// journal files or hosts, so it is printed terminal-safe.
func (v statusHuman) Status(d *StatusDoc) error {
	s := v.s
	safe := termsafe.String
	// rolledBackBy: run id -> the rollback runs that undid it.
	rolledBackBy := map[string][]string{}
	for _, r := range d.Runs {
		if r.RollbackOf != "" && r.State != "unreadable" {
			rolledBackBy[r.RollbackOf] = append(rolledBackBy[r.RollbackOf], r.ID)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s · %s\n\n", s.bold("fleettune status"), safe(d.StateDir))
	if len(d.Runs) == 0 {
		b.WriteString("No runs yet.\n")
	} else {
		fmt.Fprintf(&b, "%-22s %-9s %-19s %-12s %-12s %s\n", "RUN", "KIND", "STARTED", "BY", "STATE", "HOSTS")
		for _, r := range d.Runs {
			state := r.State
			switch state {
			case journal.EndDone:
				state = s.green(fmt.Sprintf("%-12s", state))
			case "interrupted", journal.EndFailed, "unreadable", journal.EndRolledBack:
				state = s.yellow(fmt.Sprintf("%-12s", state))
			default:
				state = fmt.Sprintf("%-12s", state)
			}
			what := countsLine(r.Counts)
			if r.RollbackOf != "" {
				what += " (of " + safe(r.RollbackOf) + ")"
			} else if r.Playbook != "" {
				what += " · " + safe(r.Playbook)
			}
			by := r.User
			if r.Machine != "" {
				by += "@" + r.Machine
			}
			fmt.Fprintf(&b, "%-22s %-9s %-19s %-12s %s %s\n", safe(r.ID), safe(r.Kind), r.Started.Local().Format("2006-01-02 15:04:05"), safe(by), state, what)
			if r.Error != "" {
				fmt.Fprintf(&b, "    %s\n", s.red(safe(r.Error)))
			}
			if r.State == "interrupted" {
				if by := rolledBackBy[r.ID]; len(by) > 0 {
					fmt.Fprintf(&b, "    %s\n", s.dim("did not finish; rolled back by run "+safe(by[len(by)-1])))
				} else {
					fmt.Fprintf(&b, "    %s\n", s.dim("did not finish; fleettune rollback --run "+safe(r.ID)+" restores the hosts it changed"))
				}
			}
		}
	}
	b.WriteString("\n")
	if len(d.Reboots) == 0 {
		b.WriteString("No host is awaiting a reboot.\n")
	} else {
		b.WriteString(s.bold("Awaiting a reboot:") + "\n")
		for _, r := range d.Reboots {
			var state string
			switch r.State {
			case playbooks.RebootPending:
				state = s.yellow("not rebooted yet")
			case playbooks.RebootVerified:
				state = s.green("rebooted; persisted values are live (cleared)")
			case playbooks.RebootNotTaken:
				state = s.red("rebooted, but the values did not take: " + safe(r.Detail))
			default:
				state = s.red("could not check: " + safe(r.Detail))
			}
			fmt.Fprintf(&b, "  %s  %s  %s\n    why: %s (run %s)\n", s.bold(safe(r.Host)), safe(r.OS), state, safe(r.Reason), safe(r.RunID))
		}
	}
	_, err := io.WriteString(v.w, b.String())
	return err
}

func countsLine(c map[string]int) string {
	var parts []string
	for _, k := range []string{"applied", "ok", "rolled_back", "failed", "unreachable", "skipped"} {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[k], strings.ReplaceAll(k, "_", " ")))
		}
	}
	// A host with a "before" record but no result was being changed when
	// the run died (kill -9, a lost machine): it counts, and rollback
	// restores it from that record.
	if n := c["no_result"]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d touched without a result", n))
	}
	if len(parts) == 0 {
		return "no hosts"
	}
	return strings.Join(parts, ", ")
}
