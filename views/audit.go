package views

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/fleettune/fleettune/audit"
	"github.com/fleettune/fleettune/internal/termsafe"
)

// Audit renders an audit report.
type Audit interface {
	Audit(r *audit.Report) error
}

// NewAudit chooses the view for a format once.
func NewAudit(f Format, w io.Writer, color bool) Audit {
	if f == JSON {
		return &AuditJSON{W: w}
	}
	return &AuditHuman{W: w, Color: color}
}

var (
	_ Audit = (*AuditHuman)(nil)
	_ Audit = (*AuditJSON)(nil)
)

// AuditJSON writes the report as one JSON document.
type AuditJSON struct{ W io.Writer }

func (v *AuditJSON) Audit(r *audit.Report) error { return writeJSON(v.W, r) }

// AuditHuman writes a table of hosts (worst first), then the detail of the
// hosts at WARN or worse, then the fleet roll-up, ending with one summary
// line. Every string a host supplied goes through termsafe.
type AuditHuman struct {
	W     io.Writer
	Color bool
}

// maxOKRows: with more rows than this, the OK hosts are named on one line.
const maxOKRows = 20

func (v *AuditHuman) Audit(r *audit.Report) error {
	s := style{v.Color}
	var b strings.Builder
	th := r.Thresholds
	head := fmt.Sprintf("%s · %s · watch %.0f%% · warn %.0f%% · crit %.0f%%", s.bold("fleettune audit"),
		plural(len(r.Hosts), "host", "hosts"), th.Watch*100, th.Warn*100, th.Crit*100)
	if r.Sample != "" {
		head += " · sampled " + r.Sample
	}
	if r.Playbook != "" {
		head += " · what-if " + termsafe.String(r.Playbook)
	}
	b.WriteString(head + "\n\n")

	hosts := make([]*audit.HostReport, len(r.Hosts))
	for i := range r.Hosts {
		hosts[i] = &r.Hosts[i]
	}
	sort.SliceStable(hosts, func(i, j int) bool { return rank(hosts[i]) > rank(hosts[j]) })
	var okNames []string
	rows := [][]string{{"HOST", "OS", "GRADE", "WORST POOL", "UTIL", "λ NOW", "λ MAX", "HEADROOM", "SIGNALS"}}
	var colors []func(string) string
	colors = append(colors, nil)
	collapse := len(hosts) > maxOKRows
	for _, h := range hosts {
		if collapse && h.Status == audit.StatusOK && h.Grade == audit.OK {
			okNames = append(okNames, termsafe.String(h.Host))
			continue
		}
		rows = append(rows, hostRow(h))
		colors = append(colors, gradeColor(s, h))
	}
	writeTable(&b, rows, colors, []bool{false, false, false, false, true, true, true, true, false})
	if len(okNames) > 0 {
		fmt.Fprintf(&b, "%s OK: %s\n", plural(len(okNames), "more host", "more hosts"), hostList(okNames, 8))
	}
	notRead := false
	for _, h := range hosts {
		if h.Status != audit.StatusOK {
			if !notRead {
				b.WriteString("\n")
				notRead = true
			}
			msg := h.Error
			if !strings.HasPrefix(msg, h.Host+":") {
				msg = h.Host + ": " + msg
			}
			fmt.Fprintf(&b, "%s %s\n", s.red("not read:"), termsafe.String(msg))
		}
	}

	for _, h := range hosts {
		if h.Status == audit.StatusOK && h.Grade >= audit.Warn {
			b.WriteString("\n")
			hostDetail(&b, s, h)
		}
	}

	f := r.Fleet
	b.WriteString("\n")
	var parts []string
	for i := len(audit.Grades) - 1; i >= 0; i-- {
		g := audit.Grades[i]
		parts = append(parts, fmt.Sprintf("%d %s", f.Grades[g.String()], strings.ToLower(gradeWord(g))))
	}
	if f.NotRead > 0 {
		parts = append(parts, s.red(fmt.Sprintf("%d not read", f.NotRead)))
	}
	fmt.Fprintf(&b, "%s %s · %s\n", s.bold("Fleet:"), plural(f.Hosts, "host", "hosts"), strings.Join(parts, " · "))
	for i, hot := range f.Hottest {
		if i == 3 || hot.TimeWait == 0 {
			break
		}
		label := "hottest destination"
		if i > 0 {
			label = "then"
		}
		fmt.Fprintf(&b, "  %s: %s on %s (%s in TIME_WAIT)\n", label, destName(hot.Remote, hot.Service), plural(hot.Hosts, "host", "hosts"), short(hot.TimeWait))
	}
	for _, d := range f.Drift {
		var vals []string
		for _, dv := range d.Values {
			names := make([]string, len(dv.Hosts))
			for i, n := range dv.Hosts {
				names[i] = termsafe.String(n)
			}
			vals = append(vals, fmt.Sprintf("%s on %s", dv.Value, hostList(names, 3)))
		}
		groups := make([]string, len(d.Groups))
		for i, g := range d.Groups {
			groups[i] = termsafe.String(g)
		}
		word := "group"
		if len(groups) > 1 {
			word = "groups"
		}
		fmt.Fprintf(&b, "  drift in %s %s (%s): %s %s\n", word, strings.Join(groups, ", "), d.OS, strings.ReplaceAll(d.Setting, "_", " "), strings.Join(vals, "; "))
	}
	_, err := io.WriteString(v.W, b.String())
	return err
}

func gradeWord(g audit.Grade) string {
	switch g {
	case audit.Crit:
		return "critical"
	}
	return g.String()
}

// rank orders hosts worst first: not read, then by grade.
func rank(h *audit.HostReport) int {
	if h.Status != audit.StatusOK {
		return 100
	}
	return int(h.Grade)
}

func gradeColor(s style, h *audit.HostReport) func(string) string {
	if h.Status != audit.StatusOK {
		return s.red
	}
	switch h.Grade {
	case audit.OK:
		return s.green
	case audit.Watch:
		return s.cyan
	case audit.Warn:
		return s.yellow
	}
	return func(t string) string { return s.bold(s.red(t)) }
}

func hostRow(h *audit.HostReport) []string {
	osv := strings.TrimSpace(h.OS + " " + termsafe.String(h.Version))
	if h.Status != audit.StatusOK {
		return []string{termsafe.String(h.Host), osv, "NOT READ", "-", "", "", "", "", ""}
	}
	row := []string{termsafe.String(h.Host), osv, h.Grade.String(), "-", "-", "-", "-", "-", signals(h)}
	if len(h.Pools) > 0 {
		p := h.Pools[0]
		row[3] = termsafe.String(p.Name)
		row[4] = pct(p.Util)
		row[5] = rate(p.Rate)
		row[6] = rate(p.Ceiling)
		if p.ReuseOn {
			row[6] += " (reuse)"
		}
		if p.Headroom != nil {
			row[7] = audit.Headroom(*p.Headroom)
		}
	}
	return row
}

func signals(h *audit.HostReport) string {
	var out []string
	for _, sg := range h.Signals {
		switch {
		case strings.HasPrefix(sg.Name, "event ") && sg.Increase != nil && !sg.Fired:
			out = append(out, fmt.Sprintf("%s ×%d (none new)", strings.TrimPrefix(sg.Name, "event "), sg.Value))
		case strings.HasPrefix(sg.Name, "event "):
			out = append(out, fmt.Sprintf("%s ×%d", strings.TrimPrefix(sg.Name, "event "), sg.Value))
		case sg.Increase != nil && *sg.Increase > 0:
			out = append(out, fmt.Sprintf("%s +%s", sg.Name, short(int(*sg.Increase))))
		case sg.Increase == nil && sg.Value > 0:
			out = append(out, fmt.Sprintf("%s %s", sg.Name, short(int(sg.Value))))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

func hostDetail(b *strings.Builder, s style, h *audit.HostReport) {
	fmt.Fprintf(b, "%s  range %s (%s usable)  TIME_WAIT %s (%s)", s.bold(termsafe.String(h.Host)), h.Range, thousands(h.Usable),
		secs(h.TimeWaitSecs), termsafe.String(h.TimeWaitSource))
	if h.TwReuse != nil {
		what := ""
		switch *h.TwReuse {
		case 0:
			what = " (off)"
		case 2:
			what = " (loopback only)"
		}
		fmt.Fprintf(b, "  tcp_tw_reuse %d%s", *h.TwReuse, what)
	}
	b.WriteString("\n")
	for i, p := range h.Pools {
		if (i > 0 && p.Grade < audit.Warn) || i == 3 {
			break // the worst pool always: a signal may grade the host
		}
		fmt.Fprintf(b, "  %s  %s held (%s)  %s  ≈%s", termsafe.String(p.Name), thousands(p.Held), states(p.States), pct(p.Util), rate(p.Rate))
		if len(p.Ages) > 0 {
			first, last := p.Ages[0], p.Ages[len(p.Ages)-1]
			fmt.Fprintf(b, "  ages %d-%ds %s … %d-%ds %s", first.From, first.To, short(first.Count), last.From, last.To, short(last.Count))
			if p.Rising {
				b.WriteString(" rising")
			}
		}
		if p.Trend != "" {
			b.WriteString("  " + p.Trend)
		}
		b.WriteString("\n")
		if i == 0 {
			b.WriteString("  why: " + why(h, p) + "\n")
		}
		for _, d := range p.Top {
			fmt.Fprintf(b, "    towards %s: %s held, %s in TIME_WAIT\n", destName(d.Remote, d.Service), thousands(d.Held), thousands(d.TimeWait))
		}
		for _, pc := range p.PIDs {
			fmt.Fprintf(b, "    process %d: %s sockets\n", pc.PID, thousands(pc.Sockets))
		}
	}
	for _, sg := range h.Signals {
		if !sg.Fired {
			continue
		}
		what := map[string]string{
			"event 4231":          "an ephemeral port could not be allocated: all were in use",
			"event 4227":          "a connection failed: its local endpoint was still in TIME_WAIT towards the same remote one",
			"TCPTimeWaitOverflow": "tcp_max_tw_buckets was hit: TIME_WAIT sockets were dropped",
		}[sg.Name]
		n := sg.Value
		if sg.Increase != nil {
			n = *sg.Increase
		}
		last := ""
		if sg.Last != "" {
			last = ", last " + termsafe.String(sg.Last)
		}
		fmt.Fprintf(b, "  signal: %s ×%d%s: %s\n", sg.Name, n, last, what)
	}
	if len(h.Advice) > 0 {
		var fix []string
		for _, a := range h.Advice {
			fix = append(fix, fmt.Sprintf("%d) %s", a.Rank, termsafe.String(a.Text)))
		}
		b.WriteString("  fix: " + strings.Join(fix, "\n       ") + "\n")
	}
	for _, f := range h.Findings {
		b.WriteString("  note: " + termsafe.String(f) + "\n")
	}
	for _, w := range h.WhatIf {
		fmt.Fprintf(b, "  what-if: %s: %s → %s with range %s (%s usable), TIME_WAIT %s; util %s", termsafe.String(w.Pool),
			rate(w.Before), rate(w.After), w.Range, thousands(w.Usable), w.TimeWait, pct(w.Util))
		if w.Note != "" {
			b.WriteString(" (" + w.Note + ")")
		}
		b.WriteString("\n")
	}
}

func why(h *audit.HostReport, p audit.Pool) string {
	closer := "this host closes them"
	if p.TimeWait == 0 {
		closer = "none are in TIME_WAIT"
	}
	ceiling := fmt.Sprintf("%s / %s = %s", thousands(h.Usable-(p.Held-p.TimeWait)), secs(h.TimeWaitSecs), rate(p.Ceiling))
	if p.ReuseOn {
		ceiling = fmt.Sprintf("%s a second with tcp_tw_reuse", thousands(h.Usable-(p.Held-p.TimeWait)))
	}
	if p.Remote != "" {
		return fmt.Sprintf("one destination takes ≈%s new connections a second and %s; its ceiling is %s", perSecond(p.Rate), closer, ceiling)
	}
	return fmt.Sprintf("every destination shares this address's ports: ≈%s new connections a second and %s; the ceiling is %s", perSecond(p.Rate), closer, ceiling)
}

func destName(remote, svc string) string {
	if svc != "" {
		return remote + " (" + svc + ")"
	}
	return remote
}

// states lists a pool's states, TIME_WAIT first, then by count.
func states(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool {
		if (l[i].k == "TIME_WAIT") != (l[j].k == "TIME_WAIT") {
			return l[i].k == "TIME_WAIT"
		}
		if l[i].v != l[j].v {
			return l[i].v > l[j].v
		}
		return l[i].k < l[j].k
	})
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = x.k + " " + thousands(x.v)
	}
	return strings.Join(parts, ", ")
}

// writeTable pads columns by rune count (→, λ, × are one column each);
// right-aligned columns are marked in right; colours apply after padding.
func writeTable(b *strings.Builder, rows [][]string, colors []func(string) string, right []bool) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for ri, r := range rows {
		var line strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			cell := c + pad
			if right[i] {
				cell = pad + c
			}
			if i == 2 && colors[ri] != nil {
				cell = colors[ri](c) + pad
			}
			line.WriteString(cell)
			if i < len(r)-1 {
				line.WriteString("  ")
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func rate(r float64) string {
	switch {
	case r >= 10000:
		return thousands(int(math.Floor(r/1000))) + "k/s"
	case r >= 10:
		return thousands(int(math.Floor(r))) + "/s"
	}
	return fmt.Sprintf("%.1f/s", r)
}

func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// short writes a count as 312, 4.9k, 312k.
func short(n int) string {
	switch {
	case n >= 100000:
		return fmt.Sprintf("%dk", n/1000)
	case n >= 1000:
		return fmt.Sprintf("%.1fk", float64(n)/1000)
	}
	return fmt.Sprint(n)
}

// pct is a utilisation, as audit.Percent writes it.
func pct(u float64) string { return audit.Percent(u) }

// secs writes a TIME_WAIT length as operators say it: "60 s".
func secs(s float64) string { return fmt.Sprintf("%g s", s) }

// perSecond is rate without its unit.
func perSecond(r float64) string { return strings.TrimSuffix(rate(r), "/s") }
