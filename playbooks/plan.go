package playbooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// Host statuses, as the contract names them: "changes", which only a plan
// has, and record.Status's values, which an outcome (HostOutcome.Status) and
// the journal share. They are untyped so that one set of names serves the
// plan's string and the outcome's record.Status; a test holds them equal
// to record's.
const (
	StatusOK          = "ok"
	StatusChanges     = "changes"
	StatusApplied     = "applied"
	StatusRolledBack  = "rolled_back"
	StatusFailed      = "failed"
	StatusUnreachable = "unreachable"
	StatusSkipped     = "skipped"
)

// Plan is what fleettune would do to a fleet: per host, every setting that
// differs from its target, the commands that would fix it and what stands in
// the way. It is a plain value: saved with --out, loaded by apply, rendered by
// the views.
type Plan struct {
	RunID           string    `json:"run_id"`
	Kind            string    `json:"kind"` // "plan"
	CreatedAt       time.Time `json:"created_at"`
	Inventory       string    `json:"inventory,omitempty"`
	InventoryDigest string    `json:"inventory_digest,omitempty"`
	Playbook        string    `json:"playbook,omitempty"`
	PlaybookName    string    `json:"playbook_name,omitempty"`
	PlaybookDigest  string    `json:"playbook_digest,omitempty"`
	Limit           string    `json:"limit,omitempty"`
	// Settings are the playbook's guardrails, rollout and health, so that
	// apply PLAN.json runs exactly as the reviewed plan says.
	Settings RunSettings `json:"settings"`
	Hosts    []HostPlan  `json:"hosts"`
	Summary  Summary     `json:"summary"`
}

// HostPlan is one host's part of a plan.
type HostPlan struct {
	Host    string `json:"host"`
	OS      string `json:"os"`
	Version string `json:"version,omitempty"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Reason  string `json:"reason,omitempty"` // the kind of a failure, for grouping
	// Grade and Audit are the host's audit grade and one-line summary
	// (plan --audit); "" when not asked for or not read.
	Grade          string            `json:"grade,omitempty"`
	Audit          string            `json:"audit,omitempty"`
	RebootRequired bool              `json:"reboot_required"`
	Changes        []platform.Change `json:"changes"`
	Notes          []string          `json:"notes"`
	BootID         string            `json:"boot_id,omitempty"`
	// TimeWaitSockets is how many sockets were in TIME_WAIT when the host
	// was read; -1 when unknown.
	TimeWaitSockets int `json:"time_wait_sockets"`
	// Targets are the host's resolved targets, for apply PLAN.json.
	Targets *platform.Targets `json:"targets,omitempty"`
	// Steps are the exact commands apply runs on the host, in order; the
	// plan's text shows every one of them.
	Steps []string `json:"steps"`
	// Facts are what the plan read from the host: apply PLAN.json
	// recomputes the plan from them and the playbook, before it touches
	// any host, and compares them with a fresh read for staleness.
	Facts *platform.Facts `json:"facts,omitempty"`
	// Unchecked says why apply could not check this host's health (no
	// counters, no probe); "" when it can. With health.unchecked: refuse
	// such a host with changes is refused.
	Unchecked string `json:"health_unchecked,omitempty"`

	// read is when and over which pooled session this process read
	// Facts; nil for a plan loaded from a file or read over a session of
	// no Pool. Apply may take the facts instead of reading the host again
	// (ApplyOptions.ReuseFor).
	read *hostRead
}

// hostRead is one read of a host by this process: when, and the token of
// the pooled session it went over (not the session: a plan must not keep
// every host's closed connection alive).
type hostRead struct {
	at      time.Time
	session *sessionToken
}

// RunSettings are the parts of a playbook that steer apply.
type RunSettings struct {
	ProtectListeningPorts bool              `json:"protect_listening_ports"`
	MinTimeWait           string            `json:"min_time_wait"`
	Batch                 string            `json:"batch"`
	MaxFailures           Budget            `json:"max_failures"`
	Watch                 string            `json:"watch"`
	Counters              bool              `json:"counters"`
	Probe                 map[string]string `json:"probe,omitempty"`
	Rollback              string            `json:"rollback"`
	Unchecked             string            `json:"unchecked"`
}

// Settings returns the playbook's run settings.
func (pb *Playbook) Settings() RunSettings {
	return RunSettings{
		ProtectListeningPorts: pb.Guardrails.ProtectListeningPorts,
		MinTimeWait:           pb.Guardrails.MinTimeWait.String(),
		Batch:                 pb.Rollout.Batch.String(),
		MaxFailures:           pb.Rollout.MaxFailures,
		Watch:                 pb.Health.Watch.String(),
		Counters:              pb.Health.Counters,
		Probe:                 pb.Health.Probe,
		Rollback:              pb.Health.Rollback,
		Unchecked:             pb.Health.Unchecked,
	}
}

// Summary counts hosts by status.
type Summary struct {
	Hosts          int `json:"hosts"`
	OK             int `json:"ok"`
	Changes        int `json:"changes"`
	Failed         int `json:"failed"`
	Unreachable    int `json:"unreachable"`
	Skipped        int `json:"skipped,omitempty"`
	RebootRequired int `json:"reboot_required"`
}

// Summarize recounts the summary from the hosts.
func (p *Plan) Summarize() {
	s := Summary{Hosts: len(p.Hosts)}
	for _, h := range p.Hosts {
		switch h.Status {
		case StatusOK:
			s.OK++
		case StatusChanges:
			s.Changes++
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
	p.Summary = s
}

// ExitCode is plan's exit status in the manner of terraform plan
// -detailed-exitcode: 1 when any host failed, was unreachable or was not
// planned, 2 when every host was reached and some have changes, 0 otherwise.
func (p *Plan) ExitCode() int {
	s := p.Summary
	switch {
	case s.Failed > 0 || s.Unreachable > 0 || s.Skipped > 0:
		return 1
	case s.Changes > 0:
		return 2
	}
	return 0
}

// Dialer opens a session to a host. remote.Dial is one.
type Dialer func(ctx context.Context, h *inventory.Host) (remote.Session, error)

// Planner computes plans. Its zero value is not usable: Dial is required.
type Planner struct {
	Dial   Dialer
	Forks  int         // hosts worked on at once; <= 0 means DefaultForks
	Log    *log.Logger // nil means no logging
	Driver func(os string) (platform.Driver, error)
	Now    func() time.Time
	// Summary, when set, reads a reached host's port use over the plan's
	// own session (one more read-only command) and returns its audit
	// grade and one-line summary, shown on the host's header.
	Summary func(ctx context.Context, h *inventory.Host, os string, r platform.Runner) (grade, line string)
	// Release, when set, is told of every host whose session the apply
	// that follows the plan will not want (Pool.Release): those without
	// changes, as soon as each is read.
	Release func(host string)
}

// DefaultForks bounds concurrency when --forks is not given.
const DefaultForks = 64

// Plan reads every host and compares it with the playbook. One host's failure
// never stops the others: it is recorded in that host's entry. The error is
// non-nil only when no plan could be made at all.
func (pl *Planner) Plan(ctx context.Context, hosts []*inventory.Host, pb *Playbook) (*Plan, error) {
	if pl.Dial == nil {
		return nil, errors.New("planner: no dialer")
	}
	now := time.Now
	if pl.Now != nil {
		now = pl.Now
	}
	p := &Plan{
		RunID:          NewRunID(now()),
		Kind:           "plan",
		CreatedAt:      now().UTC().Truncate(time.Second),
		Playbook:       pb.File,
		PlaybookName:   pb.Name,
		PlaybookDigest: pb.Digest,
		Settings:       pb.Settings(),
		Hosts:          make([]HostPlan, len(hosts)),
	}
	pl.forEach(ctx, hosts, func(ctx context.Context, i int, h *inventory.Host) {
		p.Hosts[i] = pl.planHost(ctx, h, pb)
		if pl.Release != nil && p.Hosts[i].Status != StatusChanges {
			pl.Release(h.Name)
		}
	}, func(i int, h *inventory.Host) {
		p.Hosts[i] = HostPlan{Host: h.Name, OS: h.OS, Status: StatusSkipped, Error: "not planned: interrupted", TimeWaitSockets: -1}
	})
	p.Summarize()
	return p, nil
}

// forEach runs fn for every host with at most Forks at once; hosts not
// started when ctx ends get skip instead.
func (pl *Planner) forEach(ctx context.Context, hosts []*inventory.Host, fn func(context.Context, int, *inventory.Host), skip func(int, *inventory.Host)) {
	each(ctx, pl.Forks, len(hosts), nil,
		func(i int) { fn(ctx, i, hosts[i]) },
		func(i int) { skip(i, hosts[i]) })
}

func (pl *Planner) now() time.Time {
	if pl.Now != nil {
		return pl.Now()
	}
	return time.Now()
}

func (pl *Planner) logger() *log.Logger {
	if pl.Log == nil {
		return log.New(discard{})
	}
	return pl.Log
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (pl *Planner) planHost(ctx context.Context, h *inventory.Host, pb *Playbook) HostPlan {
	hp := HostPlan{Host: h.Name, OS: h.OS, TimeWaitSockets: -1}
	l := pl.logger().With("host", h.Name)
	start := time.Now()

	sess, err := pl.Dial(ctx, h)
	if err != nil {
		hp.fail(err)
		l.Debug("cannot connect", "err", err) // the plan and the recap show it, grouped by reason
		return hp
	}
	defer sess.Close()

	facts, targets, prop, caps, err := pl.read(ctx, h, sess, pb)
	if targets != nil {
		hp.Targets = targets
	}
	if facts != nil {
		hp.OS, hp.Version, hp.BootID, hp.TimeWaitSockets = facts.OS, facts.Version, facts.BootID, facts.TimeWait
		if facts.Knobs != nil {
			hp.Facts = facts
			if tok := tokenOf(sess); err == nil && tok != nil {
				hp.read = &hostRead{at: pl.now(), session: tok}
			}
		}
	}
	if err != nil {
		hp.fail(err)
		l.Warn("cannot plan", "err", err)
		return hp
	}
	hp.judge(prop)
	hp.judgeHealth(pb.Health, caps)
	if hp.Status == StatusChanges {
		if msg := probeMissing(ctx, sess, hp.OS, pb.Health.Probe[hp.OS]); msg != "" {
			hp.Status, hp.Error, hp.Steps = StatusFailed, msg, nil
		}
	}
	if pl.Summary != nil {
		hp.Grade, hp.Audit = pl.Summary(ctx, h, hp.OS, sess)
	}
	l.Debug("planned", "os", hp.OS, "status", hp.Status, "changes", len(hp.Changes), "took", time.Since(start).Round(time.Millisecond))
	return hp
}

// judge sets the host's changes, notes, steps and status from a proposal.
func (hp *HostPlan) judge(prop platform.Proposal) {
	hp.Changes, hp.Notes, hp.Steps = prop.Changes, prop.Notes, prop.Steps
	hp.Status, hp.Error, hp.RebootRequired = StatusOK, "", false
	var refused []string
	for _, c := range prop.Changes {
		if c.Refused != "" {
			refused = append(refused, fmt.Sprintf("%s: %s", c.Setting, c.Refused))
		}
		if c.RebootRequired {
			hp.RebootRequired = true
		}
	}
	switch {
	case len(refused) > 0:
		hp.Status = StatusFailed
		hp.Error = "refused by guardrail: " + strings.Join(refused, "; ")
	case countActionable(prop.Changes) > 0:
		hp.Status = StatusChanges
	}
}

// probeMissing checks, read-only, that the host has the playbook's probe
// for its OS: "test -e" of an absolute path, "command -v" of a bare name.
// A probe that is not there would exit 127 after the first batch, a
// configuration error rather than ill health, so plan refuses the host and
// says so. "" when the probe is there, or cannot be checked (Windows'
// cmd.exe, a shell without command -v).
func probeMissing(ctx context.Context, sess remote.Session, os, probe string) string {
	f := strings.Fields(probe)
	if len(f) == 0 || os == platform.Windows {
		return ""
	}
	prog := f[0]
	check := "command -v -- " + remote.ShellQuote(prog) + " >/dev/null"
	if strings.HasPrefix(prog, "/") {
		check = "test -e " + remote.ShellQuote(prog)
	}
	res, err := sess.Run(ctx, check)
	if err != nil || res.ExitCode != 1 {
		return ""
	}
	return fmt.Sprintf("health.probe for %s: %s is not on the host (%s exited 1); the probe would exit 127 after the first batch: install it or fix the playbook", os, prog, check)
}

// judgeHealth notes a host whose health apply cannot check, and refuses it
// when it has changes and the playbook says health.unchecked: refuse.
func (hp *HostPlan) judgeHealth(h Health, caps platform.Capabilities) {
	hp.Unchecked = h.UncheckedReason(hp.OS, caps)
	if hp.Unchecked != "" && hp.Status == StatusChanges && h.RefusesUnchecked() {
		hp.Status, hp.Error = StatusFailed, uncheckedRefusal(hp.Unchecked, hp.OS)
		hp.Steps = nil // a refused host runs nothing
	}
}

// read detects the OS when the inventory does not say, gathers the facts and
// asks the driver for a proposal.
func (pl *Planner) read(ctx context.Context, h *inventory.Host, sess remote.Session, pb *Playbook) (*platform.Facts, *platform.Targets, platform.Proposal, platform.Capabilities, error) {
	os := h.OS
	var early *platform.Facts // DetectGather's, read in the detection's command
	var earlyNative []string
	if os == "" {
		var err error
		if pl.Driver == nil {
			// One command detects the OS and, on Linux, gathers too, for
			// the native knobs the playbook gives this host as a Linux one.
			if lt, rerr := pb.Resolve(platform.Linux, h.Groups, h.Name); rerr == nil {
				earlyNative = nativeNames(lt.Native)
			}
			os, _, early, err = platform.DetectGather(ctx, sess, earlyNative)
		} else {
			os, _, err = platform.Detect(ctx, sess)
		}
		if err != nil {
			return nil, nil, platform.Proposal{}, platform.Capabilities{}, err
		}
	}
	drivers := platform.For
	if pl.Driver != nil {
		drivers = pl.Driver
	}
	d, err := drivers(os)
	if err != nil {
		return &platform.Facts{OS: os, TimeWait: -1}, nil, platform.Proposal{}, platform.Capabilities{}, err
	}
	targets, err := pb.Resolve(os, h.Groups, h.Name)
	if err != nil {
		return &platform.Facts{OS: os, TimeWait: -1}, nil, platform.Proposal{}, platform.Capabilities{}, err
	}
	native := nativeNames(targets.Native)
	facts := early
	if facts == nil || os != platform.Linux || !slices.Equal(native, earlyNative) {
		facts, err = d.Gather(ctx, sess, native)
	}
	if err != nil {
		return &platform.Facts{OS: os, TimeWait: -1}, &targets, platform.Proposal{}, d.Capabilities(), err
	}
	facts.Detach()
	prop, err := propose(d, facts, targets, pb.Guardrails)
	return facts, &targets, prop, d.Capabilities(), err
}

// nativeNames are the names of a host's native knobs, sorted.
func nativeNames(native map[string]string) []string {
	names := make([]string, 0, len(native))
	for k := range native {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// fail records err, choosing unreachable for failures to reach or log in to
// the host and failed for everything after.
func (hp *HostPlan) fail(err error) {
	hp.Error = err.Error()
	hp.Status = StatusFailed
	hp.Reason = Reason(err)
	for _, k := range []error{remote.ErrUnreachable, remote.ErrAuth, remote.ErrHostKey} {
		if errors.Is(err, k) {
			hp.Status = StatusUnreachable
		}
	}
	if errors.Is(err, context.Canceled) {
		hp.Status = StatusSkipped
	}
}

// NewRunID returns an id like 20261122T171500Z-3f2a: sortable by time,
// unique enough for one operator's state directory.
func NewRunID(t time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ApplyOptions turns a plan into the options apply runs it with: the
// settings it recorded and, per host, the targets it resolved.
func (p *Plan) ApplyOptions() (ApplyOptions, error) {
	s := p.Settings
	batch, err := ParseRamp(nonEmpty(s.Batch, "100%"))
	if err != nil {
		return ApplyOptions{}, fmt.Errorf("plan settings: %w", err)
	}
	watch, err := time.ParseDuration(nonEmpty(s.Watch, "0s"))
	if err != nil {
		return ApplyOptions{}, fmt.Errorf("plan settings: watch %q: %w", s.Watch, err)
	}
	var minTW time.Duration
	if s.MinTimeWait != "" {
		if minTW, err = time.ParseDuration(s.MinTimeWait); err != nil {
			return ApplyOptions{}, fmt.Errorf("plan settings: min_time_wait %q: %w", s.MinTimeWait, err)
		}
	}
	byHost := map[string]HostPlan{}
	for _, h := range p.Hosts {
		byHost[h.Host] = h
	}
	return ApplyOptions{
		Targets: func(h *inventory.Host, os string) (platform.Targets, error) {
			hp, ok := byHost[h.Name]
			switch {
			case !ok || hp.Targets == nil:
				return platform.Targets{}, fmt.Errorf("the plan has no targets for %s", h.Name)
			case hp.OS != "" && hp.OS != os:
				return platform.Targets{}, fmt.Errorf("stale plan: %s now runs %s, the plan saw %s; run plan again", h.Name, os, hp.OS)
			}
			return *hp.Targets, nil
		},
		Expected:    byHost,
		Guardrails:  Guardrails{ProtectListeningPorts: s.ProtectListeningPorts, MinTimeWait: minTW},
		Batch:       batch,
		MaxFailures: s.MaxFailures,
		Watch:       watch,
		Health:      Health{Watch: watch, Counters: s.Counters, Probe: s.Probe, Rollback: s.Rollback, Unchecked: s.Unchecked},
	}, nil
}

// countActionable counts the changes apply would act on: all but those
// only a reboot completes (platform.Change.Pending).
func countActionable(cs []platform.Change) int {
	n := 0
	for _, c := range cs {
		if !c.Pending() {
			n++
		}
	}
	return n
}
