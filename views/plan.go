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

// Plan renders a plan.
type Plan interface {
	Plan(p *playbooks.Plan) error
}

// NewPlan chooses the view for a format once.
func NewPlan(f Format, w io.Writer, color bool) Plan {
	return NewPlanDetail(f, w, color, false)
}

// NewPlanDetail is NewPlan; with detail the text shows every host on its
// own instead of grouping hosts whose plans read the same (--detail).
func NewPlanDetail(f Format, w io.Writer, color, detail bool) Plan {
	if f == JSON {
		return &PlanJSON{W: w}
	}
	return &PlanHuman{W: w, Color: color, Detail: detail}
}

var (
	_ Plan = (*PlanHuman)(nil)
	_ Plan = (*PlanJSON)(nil)
)

// PlanJSON writes the plan as the contract's JSON document.
type PlanJSON struct{ W io.Writer }

func (v *PlanJSON) Plan(p *playbooks.Plan) error {
	return writeJSON(v.W, normalized(p))
}

// normalized returns a copy whose empty lists are [] rather than null, so
// that consumers can iterate without checks.
func normalized(p *playbooks.Plan) *playbooks.Plan {
	c := *p
	c.Hosts = make([]playbooks.HostPlan, len(p.Hosts))
	for i, h := range p.Hosts {
		if h.Changes == nil {
			h.Changes = []platform.Change{}
		}
		for j := range h.Changes {
			if h.Changes[j].Commands == nil {
				cp := append([]platform.Change(nil), h.Changes...)
				cp[j].Commands = []string{}
				h.Changes = cp
			}
		}
		if h.Notes == nil {
			h.Notes = []string{}
		}
		c.Hosts[i] = h
	}
	return &c
}

// PlanHuman writes a plan an operator reads at a glance: hosts with
// something to say in detail, hosts already right on one line, notes shared
// by many hosts once, and a summary line last. Hosts whose plans read the
// same are shown once, as "120 hosts (web001…web120)", and hosts that
// failed or were unreachable for the same reason together, unless Detail.
type PlanHuman struct {
	W      io.Writer
	Color  bool
	Detail bool
}

func (v *PlanHuman) Plan(p *playbooks.Plan) error {
	s := style{v.Color}
	var b strings.Builder
	name := p.PlaybookName
	if name == "" {
		name = p.Playbook
	}
	fmt.Fprintf(&b, "%s · playbook %s · %s · run %s\n", s.bold("fleettune plan"), termsafe.String(name), plural(len(p.Hosts), "host", "hosts"), p.RunID)

	var okHosts, names, keys, bodies []string
	audits := map[string]playbooks.HostPlan{}
	for _, h := range p.Hosts {
		if h.Audit != "" {
			audits[h.Host] = h
		}
		if h.Status == playbooks.StatusOK && !h.RebootRequired {
			okHosts = append(okHosts, h.Host)
			continue
		}
		var hb strings.Builder
		name := h.Host
		h.Error = strings.TrimPrefix(h.Error, name+": ")
		if !v.Detail && h.Reason != "" && (h.Status == playbooks.StatusFailed || h.Status == playbooks.StatusUnreachable) {
			// Grouped by the kind of failure; the first host's error
			// stands for the group's.
			h.Error = "e.g. " + name + ": " + h.Error
			h.Host = nameMark
			writeHost(&hb, s, h)
			keys = append(keys, h.Status+"\x00"+h.Reason)
		} else {
			h.Host = nameMark
			writeHost(&hb, s, h)
			keys = append(keys, hb.String())
		}
		if v.Detail {
			keys[len(keys)-1] = name
		}
		names, bodies = append(names, name), append(bodies, hb.String())
	}
	for _, g := range groupBlocks(names, keys, bodies) {
		if len(g.names) == 1 {
			// One host alone: its error says it without "e.g.".
			g.body = strings.Replace(g.body, "e.g. "+g.names[0]+": ", "", 1)
		}
		b.WriteString("\n" + strings.Replace(g.render(s), auditMark, groupAudit(s, g.names, audits), 1))
	}
	if len(okHosts) > 0 {
		fmt.Fprintf(&b, "\n%s %s\n", s.green("Up to date:"), hostList(okHosts, 12))
	}
	writeProbe(&b, s, p)
	writeNotes(&b, s, p.Hosts)
	b.WriteString("\n" + planSummary(s, p) + "\n")
	_, err := io.WriteString(v.W, b.String())
	return err
}

func writeHost(b *strings.Builder, s style, h playbooks.HostPlan) {
	head := h.Host
	if head != nameMark {
		head = s.bold(head)
	}
	if h.OS != "" {
		osv := h.OS
		if h.Version != "" {
			osv += " " + h.Version
		}
		head += "  " + s.dim(osv)
	}
	switch h.Status {
	case playbooks.StatusChanges:
		n := 0
		for _, c := range h.Changes {
			if !c.Pending() {
				n++
			}
		}
		head += "  " + s.yellow(plural(n, "change", "changes"))
	case playbooks.StatusUnreachable:
		head += "  " + s.red("unreachable")
		if h.Reason != "" {
			head += s.red(": " + h.Reason)
		}
	case playbooks.StatusFailed:
		head += "  " + s.red("failed")
		if h.Reason != "" && h.Reason != "command failed" {
			head += s.red(": " + h.Reason)
		}
	case playbooks.StatusOK:
		if h.RebootRequired {
			head += "  " + s.yellow("awaits a reboot") + "  " + s.dim("nothing to run")
		} else {
			head += "  " + h.Status
		}
	default:
		head += "  " + h.Status
	}
	if h.RebootRequired && h.Status != playbooks.StatusOK {
		head += "  " + s.yellow("reboot required")
	}
	if h.Audit != "" {
		head += auditMark
	}
	b.WriteString(head + "\n")
	if h.Error != "" && (h.Status != playbooks.StatusFailed || !refusedOnly(h)) {
		fmt.Fprintf(b, "    %s\n", s.red(termsafe.String(strings.TrimPrefix(h.Error, h.Host+": "))))
	}
	if h.Unchecked != "" && h.Status == playbooks.StatusChanges {
		fmt.Fprintf(b, "    %s %s\n", s.yellow("health not checked:"), termsafe.String(h.Unchecked)+s.dim(" (health.unchecked: allow)"))
	}
	width := 0
	for _, c := range h.Changes {
		width = max(width, len(settingLabel(c)))
	}
	for _, c := range h.Changes {
		mark, label := s.yellow("~"), settingLabel(c)
		switch c.Action {
		case platform.ActionRefused:
			mark = s.red("!")
		case platform.ActionAwaitReboot:
			mark = s.yellow("⟳")
		case platform.ActionPersistOnly:
			mark = s.yellow("+")
		}
		cur := termsafe.String(c.Current)
		if c.AtBoot != "" {
			cur = "live " + cur + ", at next boot " + termsafe.String(c.AtBoot)
		}
		target := c.Target
		if c.After != nil {
			target = c.After.String()
		}
		fmt.Fprintf(b, "  %s %-*s  %s → %s  %s%s\n", mark, width, label, cur, s.bold(termsafe.String(target)), s.dim("("+c.Knob+")"), actionWords(s, c.Action))
		if c.Refused != "" {
			fmt.Fprintf(b, "      %s %s\n", s.red("refused:"), termsafe.String(c.Refused))
			continue
		}
		if c.Persist != "" {
			fmt.Fprintf(b, "      %s %s\n", s.dim("persist"), termsafe.String(c.Persist))
		}
		if c.RebootRequired {
			reason := c.RebootReason
			if reason == "" {
				reason = "takes effect at the next boot"
			}
			fmt.Fprintf(b, "      %s %s\n", s.yellow("reboot "), termsafe.String(reason))
		}
	}
	if len(h.Steps) > 0 {
		fmt.Fprintf(b, "  %s\n", s.dim("apply runs, in order:"))
		for i, step := range h.Steps {
			fmt.Fprintf(b, "    %d. %s\n", i+1, s.cyan(termsafe.String(step)))
		}
	}
}

// auditMark stands for a host's audit summary in its header until the
// block is known to be one host's or a group's.
const auditMark = "\x00audit\x00"

// groupAudit is the header's audit part: one host's summary, or for a
// group how many hosts have each grade, naming those at WARN or worse.
func groupAudit(s style, names []string, audits map[string]playbooks.HostPlan) string {
	if len(names) == 1 {
		return "  " + s.dim("· audit "+termsafe.String(audits[names[0]].Audit))
	}
	count := map[string]int{}
	var order, atRisk []string
	for _, n := range names {
		g := audits[n].Grade
		if g == "" {
			g = "not read"
		}
		if count[g] == 0 {
			order = append(order, g)
		}
		count[g]++
		if g == "WARN" || g == "CRIT" || g == "EXHAUSTED" {
			atRisk = append(atRisk, n)
		}
	}
	// Worst last, as audit orders its grades; unknown words after them.
	rank := map[string]int{"OK": 1, "WATCH": 2, "WARN": 3, "CRIT": 4, "EXHAUSTED": 5, "not read": 6}
	sort.SliceStable(order, func(i, j int) bool { return rank[order[i]] < rank[order[j]] })
	parts := make([]string, len(order))
	for i, g := range order {
		parts[i] = fmt.Sprintf("%d %s", count[g], termsafe.String(g))
	}
	out := "· audit " + strings.Join(parts, ", ")
	if len(atRisk) > 0 {
		out += " (at risk: " + hostList(atRisk, 6) + ")"
	}
	return "  " + s.dim(out)
}

// actionWords names the actions that are not plain updates.
func actionWords(s style, a platform.Action) string {
	switch a {
	case platform.ActionPersistOnly:
		return "  " + s.dim("persist only: the live value is right")
	case platform.ActionAwaitReboot:
		return "  " + s.yellow("awaits a reboot")
	}
	return ""
}

// writeProbe shows the health probe apply runs after each batch: it runs on
// hosts too, so the plan shows it.
func writeProbe(b *strings.Builder, s style, p *playbooks.Plan) {
	if len(p.Settings.Probe) == 0 {
		return
	}
	b.WriteString("\n" + s.bold("Health probe") + " (apply runs it on every host of its OS after each batch):\n")
	for _, os := range platform.OSNames {
		if cmd, ok := p.Settings.Probe[os]; ok {
			fmt.Fprintf(b, "  %s: %s\n", os, s.cyan(termsafe.String(cmd)))
		}
	}
}

func settingLabel(c platform.Change) string {
	if c.Setting == "native" {
		return c.Knob
	}
	return c.Setting
}

func refusedOnly(h playbooks.HostPlan) bool {
	for _, c := range h.Changes {
		if c.Refused != "" {
			return true
		}
	}
	return false
}

// writeNotes prints each distinct note once with the hosts it concerns.
func writeNotes(b *strings.Builder, s style, hosts []playbooks.HostPlan) {
	var order []string
	who := map[string][]string{}
	reached := 0
	for _, h := range hosts {
		if len(h.Notes) > 0 || h.Status == playbooks.StatusOK || h.Status == playbooks.StatusChanges {
			reached++
		}
		for _, n := range h.Notes {
			if _, seen := who[n]; !seen {
				order = append(order, n)
			}
			who[n] = append(who[n], h.Host)
		}
	}
	if len(order) == 0 {
		return
	}
	b.WriteString("\n" + s.bold("Notes:") + "\n")
	for _, n := range order {
		hs := who[n]
		scope := hostList(hs, 6)
		switch {
		case len(hs) == reached && len(hs) == 2:
			scope = "both hosts"
		case len(hs) == reached && len(hs) > 2:
			scope = fmt.Sprintf("all %d hosts", len(hs))
		}
		fmt.Fprintf(b, "  • %s %s\n", termsafe.String(n), s.dim("("+scope+")"))
	}
}

func planSummary(s style, p *playbooks.Plan) string {
	sum := p.Summary
	if sum.Changes == 0 && sum.Failed == 0 && sum.Unreachable == 0 && sum.Skipped == 0 {
		awaiting := 0
		for _, h := range p.Hosts {
			if h.Status == playbooks.StatusOK && h.RebootRequired {
				awaiting++
			}
		}
		if awaiting > 0 {
			// Nothing to run, but not "No changes": the values are not in
			// force until the hosts reboot.
			line := s.yellow("Nothing to run:") + fmt.Sprintf(" %s a reboot to bring the persisted values into force", plural(awaiting, "host awaits", "hosts await"))
			if n := sum.OK - awaiting; n > 0 {
				line += fmt.Sprintf("; %s the playbook", plural(n, "host matches", "hosts match"))
			}
			return line + "."
		}
		return s.green("No changes.") + fmt.Sprintf(" %s the playbook.", plural(sum.OK, "host matches", "hosts match"))
	}
	settings := 0
	for _, h := range p.Hosts {
		if h.Status == playbooks.StatusChanges {
			settings += len(h.Changes)
		}
	}
	parts := []string{
		fmt.Sprintf("%s to change (%s)", plural(sum.Changes, "host", "hosts"), plural(settings, "setting", "settings")),
		fmt.Sprintf("%d up to date", sum.OK),
	}
	if sum.Failed > 0 {
		parts = append(parts, s.red(fmt.Sprintf("%d failed", sum.Failed)))
	}
	if sum.Unreachable > 0 {
		parts = append(parts, s.red(fmt.Sprintf("%d unreachable", sum.Unreachable)))
	}
	if sum.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d not planned", sum.Skipped))
	}
	line := s.bold("Plan:") + " " + strings.Join(parts, ", ") + "."
	if sum.RebootRequired > 0 {
		line += fmt.Sprintf(" %s would need a reboot.", plural(sum.RebootRequired, "host", "hosts"))
	}
	return line
}

// PlanDocument is the plan's JSON document, as --out saves it.
func PlanDocument(p *playbooks.Plan) ([]byte, error) {
	var b strings.Builder
	if err := writeJSON(&b, normalized(p)); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
