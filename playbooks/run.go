package playbooks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// Journal is where the run engine writes down what it is about to do and
// what happened, in order: Before is called, and must succeed, before the
// first command touches a host. The journal package provides one.
type Journal interface {
	Before(b BeforeRecord) error
	// Record writes commands that ran, in the order they ran, then
	// results, in one durable write (one fsync or transaction). The engine
	// journals a host's commands with the result they led to, and a
	// batch's health results together: the before record is what a
	// rollback needs, and it is on disk before the first command.
	Record(cmds []CommandRecord, results []HostOutcome) error
	Health(h BatchOutcome) error
}

// BeforeRecord is a host's state before the engine changes it.
type BeforeRecord struct {
	Host     *inventory.Host
	OS       string
	BootID   string
	Changes  []platform.Change
	Targets  platform.Targets
	Snapshot platform.Snapshot
}

// CommandRecord is one command run on a host: record.Command, the type
// the journal stores as it is.
type CommandRecord = record.Command

// Outcome is what apply or rollback did to a fleet.
type Outcome struct {
	RunID      string `json:"run_id"`
	Kind       string `json:"kind"` // "apply" | "rollback"
	RollbackOf string `json:"rollback_of,omitempty"`
	// Plan is the run id of the saved plan this run applied, if any.
	Plan    string         `json:"plan,omitempty"`
	Hosts   []HostOutcome  `json:"hosts"`
	Batches []BatchOutcome `json:"batches,omitempty"`
	// Stopped says why a rollout ended before every host was done.
	Stopped string `json:"stopped,omitempty"`
	// RolledBack is set when a failed health check rolled hosts back.
	RolledBack bool `json:"rolled_back"`
	// AtRisk are the applied hosts an audit after the run still grades
	// WARN or worse (apply --audit).
	AtRisk  []HostRisk     `json:"at_risk,omitempty"`
	Summary OutcomeSummary `json:"summary"`
}

// HostRisk is one host's audit after apply: its grade and summary line.
type HostRisk struct {
	Host  string `json:"host"`
	Grade string `json:"grade"`
	Audit string `json:"audit"`
}

// HostOutcome is one host's part of an outcome.
type HostOutcome struct {
	Host   string        `json:"host"`
	OS     string        `json:"os"`
	Batch  int           `json:"batch,omitempty"`
	Status record.Status `json:"status"`
	Error  string        `json:"error"`
	// Reason is the kind of a failure in a few words ("connection
	// refused"), for grouping hosts; Error says it in full.
	Reason         string            `json:"reason,omitempty"`
	RebootRequired bool              `json:"reboot_required"`
	RebootReason   string            `json:"reboot_reason,omitempty"`
	BootID         string            `json:"boot_id,omitempty"`
	Changes        []platform.Change `json:"changes"`
	Commands       []CommandRecord   `json:"commands,omitempty"`
	Notes          []string          `json:"notes"`
	// Health is what the batch's health check measured on this host.
	Health *HostHealth `json:"health,omitempty"`

	// journaled counts the Commands already in the journal.
	journaled int
}

// BatchOutcome is one rollout batch and its health check.
type BatchOutcome struct {
	Number int      `json:"batch"`
	Canary bool     `json:"canary"`
	Hosts  []string `json:"hosts"`
	// Checked: every host in the batch was checked (counters read before
	// and after the watch, or the probe run). Healthy only when checked and
	// nothing failed.
	Checked bool     `json:"checked"`
	Healthy bool     `json:"healthy"`
	Details []string `json:"details,omitempty"`
	// Unchecked names the hosts of the batch whose health was not read.
	Unchecked []string `json:"unchecked,omitempty"`
	// ConfigErrors are checks that could not run for a reason the operator
	// must fix (a probe that was not found).
	ConfigErrors []string `json:"config_errors,omitempty"`
	// Failed: some host measured unhealthy or could not be read.
	Failed bool `json:"failed,omitempty"`
	// Thresholds are the counter limits the check used, shown to the operator.
	Thresholds map[string]int64 `json:"thresholds,omitempty"`
}

// OutcomeSummary counts hosts by status.
type OutcomeSummary struct {
	Hosts          int `json:"hosts"`
	OK             int `json:"ok"`
	Applied        int `json:"applied"`
	RolledBack     int `json:"rolled_back"`
	Failed         int `json:"failed"`
	Unreachable    int `json:"unreachable"`
	Skipped        int `json:"skipped"`
	RebootRequired int `json:"reboot_required"`
}

// Summarize recounts the summary.
func (o *Outcome) Summarize() {
	s := OutcomeSummary{Hosts: len(o.Hosts)}
	for _, h := range o.Hosts {
		switch h.Status {
		case StatusOK:
			s.OK++
		case StatusApplied:
			s.Applied++
		case StatusRolledBack:
			s.RolledBack++
		case StatusFailed:
			s.Failed++
		case StatusUnreachable:
			s.Unreachable++
		case StatusSkipped:
			s.Skipped++
		}
		if h.RebootRequired {
			s.RebootRequired++
		}
	}
	o.Summary = s
}

// ExitCode is apply's and rollback's exit status: 3 when a failed health
// check rolled the rollout back, 1 when any host failed, was unreachable or
// was not done, 0 when every selected host is done and verified.
func (o *Outcome) ExitCode() int {
	s := o.Summary
	switch {
	case o.RolledBack:
		return 3
	case s.Failed > 0 || s.Unreachable > 0 || s.Skipped > 0:
		return 1
	}
	return 0
}

// Engine applies and rolls back changes. Dial and Journal are required.
type Engine struct {
	Dial    Dialer
	Journal Journal
	Forks   int
	Log     *log.Logger
	Driver  func(os string) (platform.Driver, error)
	// Stop, when closed, ends a rollout gently: hosts in flight finish,
	// no new host or batch starts. Cancelling the context instead abandons
	// hosts in flight (their journal entries still allow rollback).
	Stop <-chan struct{}
	// Release, when set, is told when the engine no longer needs a host's
	// session: Pool.Release, so that a run holds a connection only while
	// the host's batch is in flight or an automatic rollback may still
	// include it. A restore after that dials again.
	Release func(host string)
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Progress, when set, is told how the rollout goes.
	Progress Progress
	pmu      sync.Mutex

	// jerr is the first journal write that failed: the rollout then
	// touches no further host.
	jmu  sync.Mutex
	jerr error
}

// JournalPlanFailures journals, as results of the run, the hosts that
// failed, were unreachable or were not planned when apply planned them:
// apply does not start them, and the journal still says why. The first
// failed write is returned; the caller must then touch no host.
func JournalPlanFailures(j Journal, p *Plan) error {
	var rs []HostOutcome
	for _, h := range p.Hosts {
		switch h.Status {
		case StatusFailed, StatusUnreachable, StatusSkipped:
			rs = append(rs, HostOutcome{Host: h.Host, OS: h.OS, Status: record.Status(h.Status), Error: "at plan time: " + h.Error})
		}
	}
	if len(rs) == 0 {
		return nil
	}
	if err := j.Record(nil, rs); err != nil {
		return fmt.Errorf("journal: %w; no host was touched", err)
	}
	return nil
}

// journalFailed records a failed journal write; the first one stops the
// rollout before the next host is touched.
func (e *Engine) journalFailed(host string, err error) {
	e.logger().Error("journal write failed; the rollout stops before the next host", "host", host, "err", err)
	e.jmu.Lock()
	defer e.jmu.Unlock()
	if e.jerr == nil {
		e.jerr = err
	}
}

// journalErr is the first failed journal write, nil while all went well.
func (e *Engine) journalErr() error {
	e.jmu.Lock()
	defer e.jmu.Unlock()
	return e.jerr
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.Stop:
		return errStopped
	}
}

func (e *Engine) logger() *log.Logger {
	if e.Log == nil {
		return log.New(discard{})
	}
	return e.Log
}

func (e *Engine) driver(os string) (platform.Driver, error) {
	if e.Driver != nil {
		return e.Driver(os)
	}
	return platform.For(os)
}

func (e *Engine) stopped() bool {
	if e.journalErr() != nil {
		return true
	}
	if e.Stop == nil {
		return false
	}
	select {
	case <-e.Stop:
		return true
	default:
		return false
	}
}

// hostConn is an open session to a host with what was learnt about it.
type hostConn struct {
	host   *inventory.Host
	sess   remote.Session
	os     string
	driver platform.Driver
}

// release ends the engine's use of a host's session: closes it and tells
// Release, so that a pooled connection is really closed.
func (e *Engine) release(c *hostConn) {
	if c == nil {
		return
	}
	c.close()
	if e.Release != nil {
		e.Release(c.host.Name)
	}
}

func (c *hostConn) close() {
	if c != nil && c.sess != nil {
		c.sess.Close()
		c.sess = nil
	}
}

// connect dials a host and finds its driver.
func (e *Engine) connect(ctx context.Context, h *inventory.Host) (*hostConn, error) {
	sess, err := e.Dial(ctx, h)
	if err != nil {
		return nil, err
	}
	c := &hostConn{host: h, sess: sess, os: h.OS}
	if c.os == "" {
		c.os, _, err = platform.Detect(ctx, sess)
		if err != nil {
			sess.Close()
			return nil, err
		}
	}
	if c.driver, err = e.driver(c.os); err != nil {
		sess.Close()
		return nil, err
	}
	return c, nil
}
