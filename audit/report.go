package audit

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/fleettune/fleettune/platform"
)

// Host status values, as plan uses them.
const (
	StatusOK          = "ok"
	StatusFailed      = "failed"
	StatusUnreachable = "unreachable"
)

// MaxPools is how many pools a host report lists (the worst first); the
// count of all is in PoolCount.
const MaxPools = 10

// HostReport is the audit of one host.
type HostReport struct {
	Host    string   `json:"host"`
	Groups  []string `json:"groups"`
	OS      string   `json:"os"`
	Version string   `json:"version"`
	Status  string   `json:"status"`
	Error   string   `json:"error"`
	Grade   Grade    `json:"grade"`

	Range          string    `json:"range"`
	RangeSize      int       `json:"range_size"`
	Excluded       int       `json:"excluded"`           // reserved or excluded ports inside the range
	Listeners      []int     `json:"listeners_in_range"` // listening ports inside the range
	Usable         int       `json:"usable"`
	TimeWait       string    `json:"time_wait"`
	TimeWaitSecs   float64   `json:"time_wait_seconds"`
	TimeWaitSource string    `json:"time_wait_source"`
	PoolModel      string    `json:"pool_model"`
	Assumed        bool      `json:"pool_model_assumed"`
	TwReuse        *int      `json:"tcp_tw_reuse,omitempty"`
	Timestamps     *int      `json:"tcp_timestamps,omitempty"`
	SocketSource   string    `json:"socket_source"`
	Sockets        int       `json:"sockets"`
	Truncated      bool      `json:"truncated"`
	Samples        int       `json:"samples"`
	Pools          []Pool    `json:"pools"`
	PoolCount      int       `json:"pool_count"`
	Services       []Inbound `json:"services"`
	Signals        []Signal  `json:"signals"`
	Findings       []string  `json:"findings"`
	Advice         []Advice  `json:"advice"`
	WhatIf         []WhatIf  `json:"what_if,omitempty"`

	t     time.Duration
	dests map[destKey]*destStat
}

// Pool is one pool of ephemeral ports and what it holds.
type Pool struct {
	Name      string         `json:"name"`
	Local     string         `json:"local"`
	Remote    string         `json:"remote,omitempty"` // ADDRESS:PORT, per-destination pools
	Service   string         `json:"service,omitempty"`
	Held      int            `json:"held"`
	States    map[string]int `json:"states"`
	TimeWait  int            `json:"time_wait"`
	CloseWait int            `json:"close_wait"`
	Util      float64        `json:"util"`
	Rate      float64        `json:"rate"`    // λ now: TIME_WAIT ÷ T, new connections a second
	Ceiling   float64        `json:"ceiling"` // λmax: (usable − other held) ÷ T
	WithReuse float64        `json:"ceiling_with_reuse,omitempty"`
	ReuseOn   bool           `json:"reuse_in_force"` // tcp_tw_reuse applies (Linux, timestamps on)
	Headroom  *float64       `json:"headroom"`       // λmax ÷ λ; null without churn
	Ages      []AgeBin       `json:"time_wait_ages,omitempty"`
	Rising    bool           `json:"ages_rising"`
	ClosedBy  string         `json:"closed_first_by,omitempty"` // "this host" when it holds TIME_WAIT
	Top       []Destination  `json:"destinations,omitempty"`    // per-address pools: the busiest destinations
	PIDs      []PIDCount     `json:"processes,omitempty"`
	Slope     *float64       `json:"slope,omitempty"` // held ports a second, with --sample
	TTE       string         `json:"time_to_exhaustion,omitempty"`
	Trend     string         `json:"trend,omitempty"`
	Grade     Grade          `json:"grade"`
	other     int
}

// AgeBin counts TIME_WAIT sockets by age (seconds since they entered it).
type AgeBin struct {
	From  int `json:"from"`
	To    int `json:"to"`
	Count int `json:"count"`
}

// Destination is a remote address and port.
type Destination struct {
	Remote   string `json:"remote"`
	Service  string `json:"service,omitempty"`
	Held     int    `json:"held"`
	TimeWait int    `json:"time_wait"`
}

// PIDCount is an owning process and its sockets in a pool.
type PIDCount struct {
	PID     int `json:"pid"`
	Sockets int `json:"sockets"`
}

// Inbound is what a listening port's connections hold: they use the
// listening port, not ephemeral ones; a TIME_WAIT here means this host, the
// server, closed first, which tcp_tw_reuse cannot help.
type Inbound struct {
	Port     int            `json:"port"`
	Service  string         `json:"service,omitempty"`
	States   map[string]int `json:"states"`
	TimeWait int            `json:"time_wait"`
}

// Signal is a counter or event that says ports already ran out.
type Signal struct {
	Name     string `json:"name"`
	Value    int64  `json:"value"`
	Increase *int64 `json:"increase,omitempty"` // over the samples
	Last     string `json:"last,omitempty"`
	Fired    bool   `json:"fired"`
}

// Advice is one thing that would help, most effective first.
type Advice struct {
	Rank    int     `json:"rank"`
	Kind    string  `json:"kind"` // close-wait, pooling, tw_reuse, source-addresses, range, time_wait
	Text    string  `json:"text"`
	Ceiling float64 `json:"ceiling,omitempty"` // the λmax it would give, when it changes it
}

// WhatIf is a pool's ceiling before and after a playbook's targets.
type WhatIf struct {
	Pool     string  `json:"pool"`
	Range    string  `json:"range"`
	TimeWait string  `json:"time_wait"`
	Usable   int     `json:"usable"`
	Before   float64 `json:"before"`
	After    float64 `json:"after"`
	Util     float64 `json:"util_after"`
	Note     string  `json:"note,omitempty"`
}

type destStat struct{ held, tw int }

// Input is what Analyze needs for one host.
type Input struct {
	Host      string
	Groups    []string
	Snapshots []*Snapshot // oldest first; the last is reported
	Targets   *platform.Targets
}

// Analyze turns one host's snapshots into its report.
func Analyze(in Input, th Thresholds) HostReport {
	s := in.Snapshots[len(in.Snapshots)-1]
	h := HostReport{Host: in.Host, Groups: in.Groups, OS: s.OS, Version: s.Version, Status: StatusOK,
		Range: fmt.Sprintf("%d-%d", s.Range.Low, s.Range.High), RangeSize: s.Range.Size(),
		TimeWait: s.T.String(), TimeWaitSecs: s.T.Seconds(), TimeWaitSource: s.TSource, PoolModel: string(s.Table.Model),
		Assumed: s.OS != platform.Linux && s.OS != platform.Windows, SocketSource: s.SocketSource,
		Sockets: s.Table.Sockets, Truncated: s.Truncated, Samples: len(in.Snapshots),
		Listeners: []int{}, Pools: []Pool{}, Services: []Inbound{}, Signals: []Signal{}, Findings: []string{}, Advice: []Advice{},
		t: s.T, dests: map[destKey]*destStat{}}
	if s.OS == platform.Linux {
		h.TwReuse, h.Timestamps = intPtr(s.TwReuse), intPtr(s.Timestamps)
	}
	usable, excluded, listeners := usablePorts(s.Range, s.Excluded, s.Table.Listens)
	h.Usable, h.Excluded, h.Listeners = usable, excluded, listeners

	first := in.Snapshots[0]
	elapsed := s.Taken.Sub(first.Taken).Seconds()
	var pools []Pool
	for k, acc := range s.Table.pools {
		p := h.pool(s, k, acc, usable)
		if len(in.Snapshots) > 1 && elapsed > 0 {
			before := 0
			if a0 := first.Table.pools[k]; a0 != nil {
				before = a0.held()
			}
			trend(&p, before, elapsed, usable)
		}
		var tte time.Duration
		if p.TTE != "" {
			tte, _ = time.ParseDuration(p.TTE)
		}
		hr := 0.0
		if p.Headroom != nil {
			hr = *p.Headroom
		}
		p.Grade = th.grade(p.Util, hr, tte)
		if p.Grade > h.Grade {
			h.Grade = p.Grade
		}
		pools = append(pools, p)
	}
	sort.Slice(pools, func(i, j int) bool {
		if pools[i].Grade != pools[j].Grade {
			return pools[i].Grade > pools[j].Grade
		}
		if pools[i].Held != pools[j].Held {
			return pools[i].Held > pools[j].Held
		}
		return pools[i].Name < pools[j].Name
	})
	h.PoolCount = len(pools)
	if len(pools) > MaxPools {
		pools = pools[:MaxPools]
	}
	h.Pools = append(h.Pools, pools...)
	h.services(s)
	h.signals(first, s)
	h.findings(s)
	h.advise(s)
	if in.Targets != nil {
		h.whatIf(s, *in.Targets)
	}
	return h
}

func intPtr(v int) *int {
	if v < 0 {
		return nil
	}
	return &v
}

// usablePorts is R: the range, minus reserved or excluded ports inside it,
// minus listening ports inside it (not counted twice). The exclusions are
// merged first, so a host listing the same range many times costs no more.
func usablePorts(r platform.PortRange, excl []platform.PortRange, listens []uint16) (usable, excluded int, inRange []int) {
	merged := append([]platform.PortRange(nil), excl...)
	sort.Slice(merged, func(i, j int) bool { return merged[i].Low < merged[j].Low })
	var out listenSet
	last := 0 // highest port marked so far
	for _, e := range merged {
		for p := max(e.Low, r.Low, last+1); p <= min(e.High, r.High); p++ {
			out.add(uint16(p))
			excluded++
		}
		last = max(last, e.High)
	}
	for _, l := range listens {
		if r.Contains(int(l)) && !out.has(l) {
			inRange = append(inRange, int(l))
		}
	}
	sort.Ints(inRange)
	if inRange == nil {
		inRange = []int{}
	}
	return r.Size() - excluded - len(inRange), excluded, inRange
}

func (h *HostReport) pool(s *Snapshot, k poolKey, acc *poolAcc, usable int) Pool {
	p := Pool{Local: k.Local.String(), States: map[string]int{}}
	for st, n := range acc.states {
		if n > 0 && State(st).holds() {
			p.States[State(st).String()] = n
		}
	}
	p.Held = acc.held()
	p.TimeWait, p.CloseWait = acc.states[TimeWait], acc.states[CloseWait]
	p.other = p.Held - p.TimeWait
	secs := s.T.Seconds()
	if usable > 0 {
		p.Util = float64(p.Held) / float64(usable)
	} else {
		p.Util = 1
	}
	p.Rate = float64(p.TimeWait) / secs
	p.Ceiling = math.Max(0, float64(usable-p.other)) / secs
	if s.Table.Model == PerDestination {
		p.Remote = netip.AddrPortFrom(k.Remote, k.Port).String()
		p.Service = service(int(k.Port))
		p.Name = fmt.Sprintf("%s → %s", p.Local, p.Remote)
		if p.Service != "" {
			p.Name += " (" + p.Service + ")"
		}
		reuseOn := s.Timestamps != 0 && (s.TwReuse == 1 || (s.TwReuse == 2 && k.Remote.IsLoopback()))
		reuseCeil := math.Max(0, float64(usable-p.other)) / 1
		if reuseOn {
			p.ReuseOn, p.Ceiling = true, reuseCeil
		} else {
			p.WithReuse = reuseCeil
		}
		h.addDest(destKey{k.Remote, k.Port}, p.Held, p.TimeWait)
	} else {
		p.Name = p.Local + " (all destinations)"
		if s.OS != platform.Windows {
			p.Name = p.Local + " (per address, assumed)"
		}
		for dk, d := range acc.dests {
			h.addDest(dk, d[0], d[1])
			p.Top = append(p.Top, Destination{Remote: netip.AddrPortFrom(dk.Addr, dk.Port).String(), Service: service(int(dk.Port)), Held: d[0], TimeWait: d[1]})
		}
		sort.Slice(p.Top, func(i, j int) bool {
			if p.Top[i].Held != p.Top[j].Held {
				return p.Top[i].Held > p.Top[j].Held
			}
			return p.Top[i].Remote < p.Top[j].Remote
		})
		if len(p.Top) > 3 {
			p.Top = p.Top[:3]
		}
	}
	if p.Rate > 0 {
		hr := p.Ceiling / p.Rate
		p.Headroom = &hr
	}
	if p.TimeWait > 0 {
		p.ClosedBy = "this host"
	}
	if acc.aged > 0 {
		step := int(s.T.Seconds()) / ageBins
		for i, n := range acc.ages {
			p.Ages = append(p.Ages, AgeBin{From: i * step, To: (i + 1) * step, Count: n})
		}
		// More young than old TIME_WAIT sockets: churn is rising.
		p.Rising = acc.ages[0]+acc.ages[1] > (acc.ages[ageBins-2]+acc.ages[ageBins-1])*3/2 && acc.aged >= 20
	}
	for pid, n := range acc.pids {
		p.PIDs = append(p.PIDs, PIDCount{pid, n})
	}
	sort.Slice(p.PIDs, func(i, j int) bool {
		if p.PIDs[i].Sockets != p.PIDs[j].Sockets {
			return p.PIDs[i].Sockets > p.PIDs[j].Sockets
		}
		return p.PIDs[i].PID < p.PIDs[j].PID
	})
	if len(p.PIDs) > 3 {
		p.PIDs = p.PIDs[:3]
	}
	return p
}

func (h *HostReport) addDest(k destKey, held, tw int) {
	d := h.dests[k]
	if d == nil {
		d = &destStat{}
		h.dests[k] = d
	}
	d.held += held
	d.tw += tw
}

// trend sets the slope and the time to exhaustion from the first sample.
func trend(p *Pool, before int, elapsed float64, usable int) {
	slope := float64(p.Held-before) / elapsed
	p.Slope = &slope
	growth := p.Held - before
	if growth <= max(1, usable/100) {
		p.Trend = fmt.Sprintf("stable at %.0f%%", p.Util*100)
		return
	}
	left := float64(usable - p.Held)
	tte := time.Duration(left / slope * float64(time.Second)).Round(time.Second)
	p.TTE = tte.String()
	p.Trend = fmt.Sprintf("rising %.1f ports/s, full in %s", slope, shortDuration(tte))
}

func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.0fm", d.Minutes())
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}

func (h *HostReport) services(s *Snapshot) {
	for port, c := range s.Table.inbound {
		in := Inbound{Port: int(port), Service: service(int(port)), States: map[string]int{}, TimeWait: c[TimeWait]}
		for st, n := range c {
			if n > 0 {
				in.States[State(st).String()] = n
			}
		}
		h.Services = append(h.Services, in)
	}
	total := func(in Inbound) int {
		n := 0
		for _, v := range in.States {
			n += v
		}
		return n
	}
	sort.Slice(h.Services, func(i, j int) bool {
		a, b := total(h.Services[i]), total(h.Services[j])
		if a != b {
			return a > b
		}
		return h.Services[i].Port < h.Services[j].Port
	})
	if len(h.Services) > 5 {
		h.Services = h.Services[:5]
	}
}

func (h *HostReport) signals(first, last *Snapshot) {
	names := make([]string, 0, len(last.Counters))
	for k := range last.Counters {
		if strings.HasPrefix(k, "TcpExt.") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		sig := Signal{Name: strings.TrimPrefix(k, "TcpExt."), Value: last.Counters[k]}
		if first != last {
			inc := last.Counters[k] - first.Counters[k]
			sig.Increase = &inc
			sig.Fired = inc > 0 && k == "TcpExt.TCPTimeWaitOverflow"
		}
		if sig.Fired {
			h.Grade = Exhausted
		}
		h.Signals = append(h.Signals, sig)
	}
	for _, id := range []int{4231, 4227} {
		e, ok := last.Events[id]
		if !ok || e.Count == 0 {
			continue
		}
		// One read cannot tell an old event from a new one: any fires. With
		// samples, only events logged during them do.
		sig := Signal{Name: fmt.Sprintf("event %d", id), Value: int64(e.Count), Last: e.Last, Fired: true}
		if first != last {
			e0 := first.Events[id]
			inc := int64(e.Count - e0.Count)
			if e.Last != e0.Last && inc <= 0 {
				inc = 1 // the newest 50 only: the count may stay while the events are new
			}
			sig.Increase, sig.Fired = &inc, inc > 0
		}
		if sig.Fired {
			h.Grade = Exhausted
		}
		h.Signals = append(h.Signals, sig)
	}
}

func (h *HostReport) findings(s *Snapshot) {
	add := func(f string, a ...any) { h.Findings = append(h.Findings, fmt.Sprintf(f, a...)) }
	if s.Range.Size() < 16384 {
		add("the range %s has only %s ports (under 16,384)", h.Range, thousands(s.Range.Size()))
	}
	if h.Excluded*10 > s.Range.Size() {
		what := "reserved (ip_local_reserved_ports)"
		if s.OS == platform.Windows {
			what = "excluded (excludedportrange: Hyper-V, WinNAT, Docker)"
		}
		add("%d ports of the range are %s: more than 10%%", h.Excluded, what)
	}
	if len(h.Listeners) > 0 {
		add("%s listen inside the range: a restarting service can find its port taken", portList(h.Listeners))
	}
	if s.Ambiguous {
		add("TIME_WAIT length is ambiguous: %s", s.TSource)
	}
	if s.OS == platform.Linux && s.Counters["TcpExt.TCPTimeWaitOverflow"] > 0 {
		add("tcp_max_tw_buckets (%d) overflowed %d times since boot: TIME_WAIT sockets were dropped early", s.MaxTwBuckets, s.Counters["TcpExt.TCPTimeWaitOverflow"])
	}
	if s.OS == platform.Linux && s.Timestamps == 0 {
		add("net.ipv4.tcp_timestamps is 0: tcp_tw_reuse cannot work")
	}
	for _, n := range s.Notes {
		add("%s", n)
	}
	for _, in := range h.Services {
		if cw := in.States["CLOSE_WAIT"]; cw >= 100 {
			add("%d connections to service port %d sit in CLOSE_WAIT: the service never closes them after its clients did (a leak, not churn)", cw, in.Port)
		}
		if in.TimeWait >= 1000 {
			add("%d TIME_WAIT on service port %d: this host (the server) closed first; they use no ephemeral ports and tcp_tw_reuse cannot help", in.TimeWait, in.Port)
		}
	}
}

func portList(ports []int) string {
	s := make([]string, 0, len(ports))
	for i, p := range ports {
		if i == 8 {
			s = append(s, fmt.Sprintf("and %d more", len(ports)-8))
			break
		}
		s = append(s, fmt.Sprint(p))
	}
	word := "port"
	if len(ports) > 1 {
		word = "ports"
	}
	return word + " " + strings.Join(s, ", ")
}

// widest is the range a "widen it" advice proposes per OS.
func widest(os string) platform.PortRange {
	if os == platform.Windows {
		return platform.PortRange{Low: 1025, High: 65535}
	}
	return platform.PortRange{Low: 1024, High: 65535}
}

// ceilingWith is a pool's λmax with another range and TIME_WAIT.
func (h *HostReport) ceilingWith(s *Snapshot, p Pool, r platform.PortRange, t time.Duration) (float64, int) {
	usable, _, _ := usablePorts(r, s.Excluded, s.Table.Listens)
	return math.Max(0, float64(usable-p.other)) / t.Seconds(), usable
}

// advise ranks what would help the worst pool at WATCH or worse.
func (h *HostReport) advise(s *Snapshot) {
	var p *Pool
	for i := range h.Pools {
		if h.Pools[i].Grade >= Watch {
			p = &h.Pools[i]
			break
		}
	}
	if p == nil && h.Grade >= Warn && len(h.Pools) > 0 {
		p = &h.Pools[0] // a signal fired: advise on the busiest pool
	}
	if p == nil {
		return
	}
	add := func(kind string, ceil float64, f string, a ...any) {
		h.Advice = append(h.Advice, Advice{Rank: len(h.Advice) + 1, Kind: kind, Text: fmt.Sprintf(f, a...), Ceiling: ceil})
	}
	dest, svc := p.Remote, p.Service
	if dest == "" && len(p.Top) > 0 {
		dest, svc = p.Top[0].Remote, p.Top[0].Service
	}
	if p.CloseWait*5 > p.Held {
		proc := ""
		if len(p.PIDs) > 0 {
			proc = fmt.Sprintf(" (process %d)", p.PIDs[0].PID)
		}
		add("close-wait", 0, "%d sockets in CLOSE_WAIT: the application%s never closes them; fix the leak, tuning cannot help", p.CloseWait, proc)
	}
	if dest != "" {
		add("pooling", 0, "reuse connections to %s: %s", dest, poolingAdvice(svc))
	}
	if s.OS == platform.Linux && p.Remote != "" && !p.ReuseOn {
		if s.Timestamps == 0 {
			add("tw_reuse", p.WithReuse, "net.ipv4.tcp_timestamps=1 and net.ipv4.tcp_tw_reuse=1 (outbound) → about %s with reuse", rate(p.WithReuse))
		} else {
			add("tw_reuse", p.WithReuse, "net.ipv4.tcp_tw_reuse=1 (outbound; timestamps are on) → about %s with reuse", rate(p.WithReuse))
		}
	}
	if s.OS == platform.Linux {
		add("source-addresses", 2*p.Ceiling, "a second source address (bind it with IP_BIND_ADDRESS_NO_PORT) gives a second pool: 2 × %s", rate(p.Ceiling))
	} else {
		add("source-addresses", 2*p.Ceiling, "a second local address for these outbound connections gives them a pool of their own: 2 × %s", rate(p.Ceiling))
	}
	w := widest(s.OS)
	if c, _ := h.ceilingWith(s, *p, w, s.T); c > p.Ceiling*1.05 {
		add("range", c, "widen the range to %d-%d → %s", w.Low, w.High, rate(c))
	}
	switch s.OS {
	case platform.Linux:
		add("time_wait", 0, "TIME_WAIT is fixed at 60s by the Linux kernel; never tcp_tw_recycle (removed in 4.12)")
	default:
		t := 30 * time.Second
		if s.OS == platform.AIX {
			t = 15 * time.Second
		}
		if s.T > t {
			c, _ := h.ceilingWith(s, *p, s.Range, t)
			when := ""
			if s.OS == platform.Windows {
				when = " (registry: takes effect at the next boot)"
			}
			add("time_wait", c, "shorten TIME_WAIT to %s → %s%s", t, rate(c), when)
		}
	}
}

// whatIf shows the at-risk pools' ceilings under a playbook's targets.
func (h *HostReport) whatIf(s *Snapshot, t platform.Targets) {
	r, tw, note := s.Range, s.T, ""
	if t.EphemeralPorts != nil {
		r = *t.EphemeralPorts
	}
	if t.TimeWait != nil {
		switch s.OS {
		case platform.Linux:
			note = "TIME_WAIT stays 60s: fixed by the Linux kernel"
		case platform.AIX:
			units := int(math.Ceil(t.TimeWait.Seconds() / 15))
			tw = time.Duration(max(1, units)) * 15 * time.Second
			if tw != *t.TimeWait {
				note = fmt.Sprintf("AIX counts TIME_WAIT in 15-second units: %s becomes %s", t.TimeWait, tw)
			}
		default:
			tw = *t.TimeWait
			if s.OS == platform.Windows {
				note = "TcpTimedWaitDelay takes effect at the next boot"
			}
		}
	}
	for i, p := range h.Pools {
		if p.Grade < Watch && i > 0 {
			break
		}
		after, usable := h.ceilingWith(s, p, r, tw)
		if _, _, in := usablePorts(r, s.Excluded, s.Table.Listens); len(in) > 0 && i == 0 {
			covers := fmt.Sprintf("the range covers listening %s: plan's protect_listening_ports would refuse it", portList(in))
			if note == "" {
				note = covers
			} else {
				note += "; " + covers
			}
		}
		before := p.Ceiling
		if p.ReuseOn {
			before = math.Max(0, float64(h.Usable-p.other)) / s.T.Seconds()
		}
		util := 1.0
		if usable > 0 {
			util = float64(p.Held) / float64(usable)
		}
		h.WhatIf = append(h.WhatIf, WhatIf{Pool: p.Name, Range: fmt.Sprintf("%d-%d", r.Low, r.High), TimeWait: tw.String(),
			Usable: usable, Before: before, After: after, Util: util, Note: note})
	}
}

// rate formats a rate of new connections.
func rate(r float64) string {
	switch {
	case r >= 10000:
		return fmt.Sprintf("%sk/s", thousands(int(math.Floor(r/1000))))
	case r >= 10:
		// Floor, as the published figures do: 28,232 / 60 s = 470/s.
		return fmt.Sprintf("%s/s", thousands(int(math.Floor(r))))
	}
	return fmt.Sprintf("%.1f/s", r)
}

// thousands writes n with commas: 28,232.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// HostSummary is one line for plan's header: the grade, the worst pool, its
// utilisation and headroom; "" for a host that was not read.
func HostSummary(h *HostReport) string {
	if h.Status != StatusOK {
		return ""
	}
	if len(h.Pools) == 0 {
		return fmt.Sprintf("%s · no outbound ports held", h.Grade)
	}
	p := h.Pools[0]
	hr := "no churn"
	if p.Headroom != nil {
		hr = fmt.Sprintf("headroom %s", Headroom(*p.Headroom))
	}
	return fmt.Sprintf("%s · %s %s · %s", h.Grade, p.Name, Percent(p.Util), hr)
}

// Headroom formats a headroom factor: "1.16×", ">10×".
func Headroom(h float64) string {
	if h > 10 {
		return ">10×"
	}
	return fmt.Sprintf("%.2f×", h)
}

// Percent formats a utilisation, rounded, but never 100% before the pool
// is full.
func Percent(u float64) string {
	v := math.Round(u * 100)
	if u < 1 && v >= 100 {
		v = 99
	}
	return fmt.Sprintf("%.0f%%", v)
}
