package views

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/fleettune/fleettune/internal/termsafe"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/playbooks"
)

// Outcome renders what apply or rollback did.
type Outcome interface {
	Outcome(o *playbooks.Outcome) error
}

// NewOutcome chooses the view for a format once.
func NewOutcome(f Format, w io.Writer, color bool) Outcome {
	return NewOutcomeDetail(f, w, color, false)
}

// NewOutcomeDetail is NewOutcome; with detail the text shows every host on
// its own line instead of grouping hosts that read the same (--detail).
func NewOutcomeDetail(f Format, w io.Writer, color, detail bool) Outcome {
	if f == JSON {
		return &OutcomeJSON{W: w}
	}
	return &OutcomeHuman{W: w, Color: color, Detail: detail}
}

var (
	_ Outcome = (*OutcomeHuman)(nil)
	_ Outcome = (*OutcomeJSON)(nil)
)

// OutcomeJSON writes the contract's result document.
type OutcomeJSON struct{ W io.Writer }

func (v *OutcomeJSON) Outcome(o *playbooks.Outcome) error {
	c := *o
	c.Hosts = make([]playbooks.HostOutcome, len(o.Hosts))
	for i, h := range o.Hosts {
		if h.Changes == nil {
			h.Changes = []platform.Change{}
		}
		if h.Notes == nil {
			h.Notes = []string{}
		}
		c.Hosts[i] = h
	}
	if c.Batches == nil {
		c.Batches = []playbooks.BatchOutcome{}
	}
	return writeJSON(v.W, &c)
}

// OutcomeHuman writes one line per host that was changed or failed (hosts
// that read the same grouped, unless Detail), the batches' health, a recap
// of the failed and unreachable hosts by reason, and a summary line.
type OutcomeHuman struct {
	W      io.Writer
	Color  bool
	Detail bool
}

func (v *OutcomeHuman) Outcome(o *playbooks.Outcome) error {
	s := style{v.Color}
	var b strings.Builder
	title := "fleettune apply"
	if o.Kind == "rollback" {
		title = "fleettune rollback of run " + o.RollbackOf
	}
	fmt.Fprintf(&b, "%s · %s · run %s\n\n", s.bold(title), plural(len(o.Hosts), "host", "hosts"), o.RunID)

	var okHosts, names, keys, bodies []string
	for _, h := range o.Hosts {
		if h.Status == playbooks.StatusOK {
			okHosts = append(okHosts, h.Host)
			continue
		}
		name := h.Host
		h.Error = strings.TrimPrefix(h.Error, name+": ")
		h.Host = nameMark
		key := ""
		switch {
		case v.Detail:
			key = name
		case h.Reason != "" && (h.Status == playbooks.StatusFailed || h.Status == playbooks.StatusUnreachable):
			// Grouped by the kind of failure; the first host's error
			// stands for the group's.
			key = string(h.Status) + "\x00" + h.Reason
			h.Error = "e.g. " + name + ": " + h.Error
		}
		body := v.hostBlock(s, o, h)
		if key == "" {
			key = body
		}
		names, keys, bodies = append(names, name), append(keys, key), append(bodies, body)
	}
	for _, g := range groupBlocks(names, keys, bodies) {
		if len(g.names) == 1 {
			g.body = strings.Replace(g.body, "e.g. "+g.names[0]+": ", "", 1)
		}
		b.WriteString(g.render(s))
	}
	if len(okHosts) > 0 {
		why := "already as the playbook says; nothing changed"
		if o.Kind == "rollback" {
			why = "already at the recorded previous values; nothing changed"
		}
		fmt.Fprintf(&b, "%s %s  %s\n", s.green("="), hostList(okHosts, 12), s.dim(why))
	}
	if len(o.Batches) > 0 {
		b.WriteString("\n" + s.bold("Health:") + "\n")
		for _, bt := range o.Batches {
			label := fmt.Sprintf("batch %d", bt.Number)
			if bt.Canary {
				label += " (canary)"
			}
			var state string
			switch {
			case bt.Failed || (bt.Checked && !bt.Healthy):
				state = s.red("UNHEALTHY")
			case bt.Checked:
				state = s.green("healthy") + s.dim(" (every host checked)")
			default:
				state = s.yellow("not checked")
				if len(bt.Unchecked) > 0 {
					state += " on " + hostList(bt.Unchecked, 6) + " (never counted as healthy)"
				}
			}
			fmt.Fprintf(&b, "  %s, %s: %s\n", label, plural(len(bt.Hosts), "host", "hosts"), state)
			for _, d := range bt.Details {
				fmt.Fprintf(&b, "    %s\n", termsafe.String(d))
			}
			for _, d := range bt.ConfigErrors {
				fmt.Fprintf(&b, "    %s %s\n", s.red("configuration error:"), termsafe.String(d))
			}
		}
		if th := thresholds(o.Batches); th != "" {
			fmt.Fprintf(&b, "  %s\n", s.dim("thresholds per watch window: "+th))
		}
	}
	if o.Stopped != "" {
		fmt.Fprintf(&b, "\n%s %s\n", s.yellow("Stopped:"), o.Stopped)
	}
	writeRecap(&b, s, o)
	b.WriteString("\n" + outcomeSummary(s, o) + "\n")
	_, err := io.WriteString(v.W, b.String())
	return err
}

// hostBlock is one host's lines, its name left as nameMark.
func (v *OutcomeHuman) hostBlock(s style, o *playbooks.Outcome, h playbooks.HostOutcome) string {
	var b strings.Builder
	var mark, what string
	switch h.Status {
	case playbooks.StatusApplied:
		mark, what = s.green("✓"), s.green("applied")
	case playbooks.StatusRolledBack:
		mark, what = s.yellow("↶"), s.yellow("rolled back")
	case playbooks.StatusSkipped:
		mark, what = s.dim("-"), s.dim("skipped")
	default:
		mark, what = s.red("✗"), s.red(strings.ReplaceAll(string(h.Status), "_", " "))
		if h.Reason != "" && h.Reason != "command failed" {
			what += s.red(": " + h.Reason)
		}
	}
	line := fmt.Sprintf("%s %s  %s", mark, nameMark, what)
	if h.Batch > 0 && len(o.Batches) > 1 {
		line += s.dim(fmt.Sprintf("  batch %d", h.Batch))
	}
	sum := changeSummary(h.Changes)
	if h.Status == playbooks.StatusRolledBack || o.Kind == "rollback" {
		sum = restoreSummary(h.Changes)
		if h.Status == playbooks.StatusFailed && sum != "" {
			sum = "wanted " + sum
		}
	}
	if sum != "" && h.Status != playbooks.StatusSkipped {
		line += "  " + sum
	}
	b.WriteString(line + "\n")
	if h.Error != "" {
		fmt.Fprintf(&b, "    %s\n", s.red(termsafe.String(h.Error)))
	}
	if h.RebootRequired {
		fmt.Fprintf(&b, "    %s %s\n", s.yellow("reboot required:"), termsafe.String(h.RebootReason))
	}
	for _, n := range h.Notes {
		fmt.Fprintf(&b, "    %s\n", s.dim(termsafe.String(n)))
	}
	if h.Health != nil {
		fmt.Fprintf(&b, "    %s %s\n", s.dim("health:"), healthWords(s, *h.Health))
	}
	return b.String()
}

// writeRecap names the hosts that failed or were unreachable, grouped by
// the kind of failure: "connection refused (12): web001…web012".
func writeRecap(b *strings.Builder, s style, o *playbooks.Outcome) {
	var order []string
	who := map[string][]string{}
	for _, h := range o.Hosts {
		if h.Status != playbooks.StatusFailed && h.Status != playbooks.StatusUnreachable {
			continue
		}
		r := h.Reason
		if r == "" {
			r = strings.ReplaceAll(string(h.Status), "_", " ")
		}
		if _, ok := who[r]; !ok {
			order = append(order, r)
		}
		who[r] = append(who[r], h.Host)
	}
	if len(o.AtRisk) > 0 {
		b.WriteString("\n" + s.bold("Still at risk (audit after the run):") + "\n")
		for _, r := range o.AtRisk {
			fmt.Fprintf(b, "  %s  %s\n", s.bold(termsafe.String(r.Host)), s.yellow(termsafe.String(r.Audit)))
		}
	}
	if len(order) == 0 {
		return
	}
	b.WriteString("\n" + s.bold("Failed and unreachable, by reason:") + "\n")
	for _, r := range order {
		hs := who[r]
		list := strings.Join(hs, ", ")
		if len(hs) > 5 {
			list = hs[0] + "…" + hs[len(hs)-1]
		}
		fmt.Fprintf(b, "  %s (%d): %s\n", s.red(r), len(hs), list)
	}
}

// healthWords says what the health check measured on one host.
func healthWords(s style, h playbooks.HostHealth) string {
	if !h.Checked {
		return s.yellow("not checked") + ": " + termsafe.String(h.Reason)
	}
	var parts []string
	names := make([]string, 0, len(h.Counters))
	for n := range h.Counters {
		names = append(names, n)
	}
	sort.Strings(names)
	still := 0
	for _, n := range names {
		c := h.Counters[n]
		if c.Increase == 0 {
			still++
			continue
		}
		parts = append(parts, fmt.Sprintf("%s +%d (limit %d)", n, c.Increase, c.Threshold))
	}
	switch {
	case still > 0 && len(parts) > 0:
		parts = append(parts, fmt.Sprintf("%d more counters unchanged", still))
	case still > 0:
		parts = append(parts, plural(still, "counter", "counters")+" read, none rose")
	}
	if h.Probe != nil {
		p := fmt.Sprintf("probe exit %d", h.Probe.Exit)
		if h.Probe.Output != "" {
			p += ": " + termsafe.String(h.Probe.Output)
		}
		parts = append(parts, p)
	}
	out := "checked: " + strings.Join(parts, ", ")
	if h.Reason != "" {
		out += "; " + termsafe.String(h.Reason)
	}
	return out
}

func changeSummary(cs []platform.Change) string {
	var parts []string
	for _, c := range cs {
		if c.Refused != "" {
			continue
		}
		name := c.Setting
		if name == "native" {
			name = c.Knob
		}
		parts = append(parts, fmt.Sprintf("%s %s → %s", name, c.Current, c.Target))
	}
	return strings.Join(parts, ", ")
}

// restoreSummary says what a rollback put back: the value before the run.
func restoreSummary(cs []platform.Change) string {
	var parts []string
	for _, c := range cs {
		if c.Refused != "" {
			continue
		}
		name := c.Setting
		if name == "native" {
			name = c.Knob
		}
		parts = append(parts, fmt.Sprintf("%s back to %s", name, c.Current))
	}
	return strings.Join(parts, ", ")
}

func thresholds(bs []playbooks.BatchOutcome) string {
	all := map[string]int64{}
	for _, b := range bs {
		for k, v := range b.Thresholds {
			all[k] = v
		}
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s +%d", k, all[k])
	}
	return strings.Join(parts, ", ")
}

func outcomeSummary(s style, o *playbooks.Outcome) string {
	sum := o.Summary
	verb := "Apply"
	if o.Kind == "rollback" {
		verb = "Rollback"
	}
	if o.Kind == "apply" && sum.Applied == 0 && sum.OK == sum.Hosts {
		return s.green("No changes.") + fmt.Sprintf(" %s the playbook; nothing was done.", plural(sum.OK, "host matches", "hosts match"))
	}
	var parts []string
	if o.Kind == "apply" {
		parts = append(parts, fmt.Sprintf("%d applied", sum.Applied), fmt.Sprintf("%d unchanged", sum.OK))
	}
	if sum.RolledBack > 0 || o.Kind == "rollback" {
		parts = append(parts, fmt.Sprintf("%d rolled back", sum.RolledBack))
	}
	if o.Kind == "rollback" && sum.OK > 0 {
		parts = append(parts, fmt.Sprintf("%d already as before", sum.OK))
	}
	if sum.Failed > 0 {
		parts = append(parts, s.red(fmt.Sprintf("%d failed", sum.Failed)))
	}
	if sum.Unreachable > 0 {
		parts = append(parts, s.red(fmt.Sprintf("%d unreachable", sum.Unreachable)))
	}
	if sum.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d not done", sum.Skipped))
	}
	line := s.bold(verb+":") + " " + strings.Join(parts, ", ") + "."
	if sum.RebootRequired > 0 {
		line += fmt.Sprintf(" %s awaiting a reboot (fleettune status tracks them).", plural(sum.RebootRequired, "host", "hosts"))
	}
	return line
}
