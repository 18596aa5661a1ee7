package playbooks

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/platform"
)

// HostHealth is what the health check measured on one host, as the result
// JSON shows it and the journal's result record keeps it: counters read
// before and after the watch window and the probe's exit, or "checked":
// false with the reason nothing was read. It is record.Health: one type
// for the engine and the journal.
type HostHealth = record.Health

// CounterCheck is one counter's rise over the watch window and the most it
// may rise (record.CounterCheck).
type CounterCheck = record.CounterCheck

// ProbeCheck is the probe's exit status and what it printed, trimmed
// (record.ProbeCheck).
type ProbeCheck = record.ProbeCheck

// probeNotFound is the exit status of a shell that cannot find a command.
const probeNotFound = 127

// UncheckedReason says why a host of this OS cannot be health-checked at
// all: no counters (off in the playbook, or no reader for the OS yet) and
// no probe for the OS. "" when something will be read.
func (h Health) UncheckedReason(os string, caps platform.Capabilities) string {
	if h.Probe[os] != "" || (h.Counters && caps.Counters) {
		return ""
	}
	if !caps.Counters {
		return fmt.Sprintf("fleettune reads no TCP counters on %s yet and health.probe has no %s command", os, os)
	}
	return fmt.Sprintf("health.counters is off and health.probe has no %s command", os)
}

// RefusesUnchecked reports whether hosts that cannot be checked are
// refused (health.unchecked: refuse, the default).
func (h Health) RefusesUnchecked() bool { return h.Unchecked != UncheckedAllow }

// uncheckedRefusal is the error of a host refused for health.unchecked.
func uncheckedRefusal(reason, os string) string {
	return fmt.Sprintf("refused: health not checkable (%s); with health.unchecked: refuse it is not changed: add a health.probe for %s or set health.unchecked: allow", reason, os)
}

// hostCheck is one host's health check in progress; each goroutine owns
// its own, so nothing is shared between them.
type hostCheck struct {
	a       *applied
	reader  bool // counters are read on this host
	before  platform.Counters
	failure []string
	health  HostHealth
	// configError: the check could not run for a reason the operator must
	// fix (a probe that does not exist), not a sign of ill health.
	configError string
}

// checkHealth watches a batch of changed hosts for the signs of stray
// segments reaching new connections: kernel counters rising past their
// thresholds over the watch window, and the playbook's probe failing. Every
// host gets its own HostHealth. A host whose counters cannot be read counts
// as unhealthy: at 3 a.m. silence is not a good sign. The batch is checked
// only when every host in it was; healthy only when checked and nothing
// failed.
func (e *Engine) checkHealth(ctx context.Context, hosts []*applied, o ApplyOptions, b *BatchOutcome) {
	var checks []*hostCheck
	for _, a := range hosts {
		if a.out.Status == StatusApplied && a.conn.sess != nil {
			checks = append(checks, &hostCheck{a: a})
		}
	}
	if len(checks) == 0 {
		return
	}
	checkCtx := context.WithoutCancel(ctx)
	for _, c := range checks {
		caps := c.a.conn.driver.Capabilities()
		c.reader = o.Health.Counters && caps.Counters
		if reason := o.Health.UncheckedReason(c.a.conn.os, caps); reason != "" {
			c.health.Reason = reason
		}
		if c.reader {
			if b.Thresholds == nil {
				b.Thresholds = map[string]int64{}
			}
			for k, v := range c.a.conn.driver.Thresholds() {
				b.Thresholds[k] = v
			}
		}
	}
	e.parallelChecks(checks, func(c *hostCheck) {
		if !c.reader {
			return
		}
		cs, err := c.a.conn.driver.Counters(checkCtx, c.a.conn.sess)
		if err != nil {
			c.failure = append(c.failure, fmt.Sprintf("%s: cannot read counters: %v", c.a.out.Host, err))
			c.health.Reason = "cannot read counters: " + err.Error()
			c.reader = false
			return
		}
		c.before = cs
	})
	var note string
	if o.Watch > 0 {
		// One line per batch (not per host), at info: scripts and the e2e
		// tests wait for it.
		e.logger().Info("watching", "batch", b.Number, "hosts", len(checks), "for", o.Watch)
		e.progress(Event{Kind: WatchStarted, Batch: b.Number, Hosts: len(checks), Watch: o.Watch})
		if err := e.sleep(ctx, o.Watch); err != nil {
			note = fmt.Sprintf("watch cut short (%v); checked at once", err)
		}
	}
	e.parallelChecks(checks, func(c *hostCheck) {
		a := c.a
		if c.reader {
			after, err := a.conn.driver.Counters(checkCtx, a.conn.sess)
			if err != nil {
				c.failure = append(c.failure, fmt.Sprintf("%s: cannot read counters: %v", a.out.Host, err))
				c.health.Reason = "cannot read counters after the watch: " + err.Error()
			} else {
				th := a.conn.driver.Thresholds()
				_, exceeded := platform.CounterDeltas(c.before, after, th)
				for _, x := range exceeded {
					c.failure = append(c.failure, fmt.Sprintf("%s: %s", a.out.Host, x))
				}
				c.health.Counters = map[string]CounterCheck{}
				for name, limit := range th {
					if v0, ok := c.before[name]; ok {
						if v1, ok := after[name]; ok {
							c.health.Counters[name] = CounterCheck{Increase: v1 - v0, Threshold: limit}
						}
					}
				}
				c.health.Checked = true
			}
		}
		if cmd := o.Health.Probe[a.conn.os]; cmd != "" {
			res, err := a.conn.sess.Run(checkCtx, cmd)
			switch {
			case err != nil:
				c.failure = append(c.failure, fmt.Sprintf("%s: probe %q: %v", a.out.Host, cmd, err))
				c.health.Reason = "probe: " + err.Error()
			case res.ExitCode == probeNotFound:
				c.configError = fmt.Sprintf("%s: health.probe %q was not found (exit %d): a configuration error, not a health signal; fix the playbook", a.out.Host, cmd, res.ExitCode)
				c.health.Reason = fmt.Sprintf("probe not found (exit %d)", res.ExitCode)
			default:
				msg := firstLine(trimOutput(res.Stderr))
				if msg == "" {
					msg = firstLine(trimOutput(res.Stdout))
				}
				c.health.Probe = &ProbeCheck{Exit: res.ExitCode, Output: msg}
				c.health.Checked = true
				if res.ExitCode != 0 {
					c.failure = append(c.failure, strings.TrimSuffix(fmt.Sprintf("%s: probe %q exited %d: %s", a.out.Host, cmd, res.ExitCode, msg), ": "))
				}
			}
		}
		if c.health.Checked && len(c.failure) == 0 {
			c.health.Reason = ""
		}
	})
	b.Checked = true
	var details []string
	failed := false
	for _, c := range checks {
		h := c.health
		c.a.out.Health = &h
		if !h.Checked {
			b.Checked = false
			b.Unchecked = append(b.Unchecked, c.a.out.Host)
		}
		if c.configError != "" {
			b.ConfigErrors = append(b.ConfigErrors, c.configError)
		}
		if len(c.failure) > 0 {
			failed = true
		}
		details = append(details, c.failure...)
	}
	sort.Strings(details)
	if note != "" {
		details = append(details, note)
	}
	sort.Strings(b.Unchecked)
	b.Details = details
	b.Failed = failed
	b.Healthy = b.Checked && !failed
}

// parallelChecks runs fn for every check, at most Forks at once, to the end.
func (e *Engine) parallelChecks(checks []*hostCheck, fn func(*hostCheck)) {
	each(context.Background(), e.Forks, len(checks), nil, func(i int) { fn(checks[i]) }, nil)
}

// parallel runs fn for every host at most Forks at once, to the end: it is
// for work that must not be cut short (health reads, restores).
func (e *Engine) parallel(hosts []*applied, fn func(*applied)) {
	each(context.Background(), e.Forks, len(hosts), nil, func(i int) { fn(hosts[i]) }, nil)
}
