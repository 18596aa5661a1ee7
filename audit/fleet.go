package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// Report is one audit of a fleet.
type Report struct {
	Kind       string       `json:"kind"` // "audit"
	Playbook   string       `json:"playbook,omitempty"`
	Sample     string       `json:"sample,omitempty"`
	Thresholds Thresholds   `json:"thresholds"`
	Hosts      []HostReport `json:"hosts"`
	Fleet      Fleet        `json:"fleet"`
}

// Fleet is the roll-up across hosts.
type Fleet struct {
	Hosts   int            `json:"hosts"`
	Read    int            `json:"read"`
	NotRead int            `json:"not_read"`
	Grades  map[string]int `json:"grades"`
	Hottest []Hot          `json:"hottest"`
	Drift   []Drift        `json:"drift"`
}

// Hot is a destination summed across hosts.
type Hot struct {
	Remote   string   `json:"remote"`
	Service  string   `json:"service,omitempty"`
	Hosts    int      `json:"hosts"`
	TimeWait int      `json:"time_wait"`
	Held     int      `json:"held"`
	Names    []string `json:"host_names"` // the first few
}

// Drift is a setting that differs between the hosts of one group and OS.
type Drift struct {
	Groups  []string     `json:"groups"` // groups whose hosts drift the same way`
	OS      string       `json:"os"`
	Setting string       `json:"setting"` // range | time_wait
	Values  []DriftValue `json:"values"`
}

// DriftValue is one value of a drifting setting and the hosts with it.
type DriftValue struct {
	Value string   `json:"value"`
	Hosts []string `json:"hosts"`
}

// ExitCode is the contract's audit exit status: 1 when a host was not read,
// 2 when some host is WARN or worse, 0 otherwise.
func (r *Report) ExitCode() int {
	if r.Fleet.NotRead > 0 {
		return 1
	}
	for _, h := range r.Hosts {
		if h.Grade >= Warn {
			return 2
		}
	}
	return 0
}

// MaxHottest is how many destinations the roll-up lists.
const MaxHottest = 5

// Summarize builds the fleet roll-up over the host reports.
func Summarize(hosts []HostReport) Fleet {
	f := Fleet{Hosts: len(hosts), Grades: map[string]int{}, Hottest: []Hot{}, Drift: []Drift{}}
	for _, g := range Grades {
		f.Grades[g.String()] = 0
	}
	type hotAcc struct {
		Hot
		key destKey
	}
	hot := map[destKey]*hotAcc{}
	for _, h := range hosts {
		if h.Status != StatusOK {
			f.NotRead++
			continue
		}
		f.Read++
		f.Grades[h.Grade.String()]++
		for k, d := range h.dests {
			if d.tw == 0 && d.held == 0 {
				continue
			}
			a := hot[k]
			if a == nil {
				a = &hotAcc{Hot: Hot{Remote: netip.AddrPortFrom(k.Addr, k.Port).String(), Service: service(int(k.Port))}, key: k}
				hot[k] = a
			}
			a.Hosts++
			a.TimeWait += d.tw
			a.Held += d.held
			if len(a.Names) < 5 {
				a.Names = append(a.Names, h.Host)
			}
		}
	}
	for _, a := range hot {
		f.Hottest = append(f.Hottest, a.Hot)
	}
	sort.Slice(f.Hottest, func(i, j int) bool {
		a, b := f.Hottest[i], f.Hottest[j]
		if a.TimeWait != b.TimeWait {
			return a.TimeWait > b.TimeWait
		}
		if a.Held != b.Held {
			return a.Held > b.Held
		}
		return a.Remote < b.Remote
	})
	if len(f.Hottest) > MaxHottest {
		f.Hottest = f.Hottest[:MaxHottest]
	}
	f.Drift = drift(hosts)
	return f
}

// drift lists, per group and OS, the settings whose value differs between
// the group's hosts ("all" included).
func drift(hosts []HostReport) []Drift {
	type key struct{ group, os string }
	members := map[key][]*HostReport{}
	var order []key
	for i := range hosts {
		h := &hosts[i]
		if h.Status != StatusOK {
			continue
		}
		for _, g := range h.Groups {
			k := key{g, h.OS}
			if _, seen := members[k]; !seen {
				order = append(order, k)
			}
			members[k] = append(members[k], h)
		}
	}
	var out []Drift
	seen := map[string]int{} // the drift's signature -> its index in out
	for _, k := range order {
		for _, setting := range []string{"range", "time_wait"} {
			byValue := map[string][]string{}
			var values []string
			for _, h := range members[k] {
				v := h.Range
				if setting == "time_wait" {
					v = h.TimeWait
				}
				if _, seen := byValue[v]; !seen {
					values = append(values, v)
				}
				byValue[v] = append(byValue[v], h.Host)
			}
			if len(values) < 2 {
				continue
			}
			d := Drift{Groups: []string{k.group}, OS: k.os, Setting: setting}
			sort.SliceStable(values, func(i, j int) bool { return len(byValue[values[i]]) > len(byValue[values[j]]) })
			var sig strings.Builder
			sig.WriteString(k.os + "\x00" + setting)
			for _, v := range values {
				d.Values = append(d.Values, DriftValue{Value: v, Hosts: byValue[v]})
				sig.WriteString("\x00" + v + "\x00" + strings.Join(byValue[v], "\x00"))
			}
			if i, dup := seen[sig.String()]; dup {
				out[i].Groups = append(out[i].Groups, k.group)
				continue
			}
			seen[sig.String()] = len(out)
			out = append(out, d)
		}
	}
	if out == nil {
		out = []Drift{}
	}
	return out
}

// Sample is --sample NxDURATION: N snapshots, DURATION apart.
type Sample struct {
	N        int
	Interval time.Duration
}

// MaxSamples bounds --sample.
const MaxSamples = 20

// ParseSample reads "3x10s".
func ParseSample(s string) (Sample, error) {
	n, d, ok := strings.Cut(strings.TrimSpace(s), "x")
	count, err := strconv.Atoi(n)
	if !ok || err != nil {
		return Sample{}, fmt.Errorf("--sample %q: expected NxDURATION, e.g. 2x30s", s)
	}
	iv, err := time.ParseDuration(d)
	if err != nil {
		return Sample{}, fmt.Errorf("--sample %q: expected NxDURATION, e.g. 2x30s: %v", s, err)
	}
	if count < 2 || count > MaxSamples {
		return Sample{}, fmt.Errorf("--sample %q: N must be between 2 and %d", s, MaxSamples)
	}
	if iv < time.Second || iv > 10*time.Minute {
		return Sample{}, fmt.Errorf("--sample %q: DURATION must be between 1s and 10m", s)
	}
	return Sample{N: count, Interval: iv}, nil
}

func (s Sample) String() string {
	if s.N < 2 {
		return ""
	}
	return fmt.Sprintf("%dx%s", s.N, s.Interval)
}

// Session is a connection to one host.
type Session interface {
	platform.Runner
	Close() error
}

// Target is one host to audit.
type Target struct {
	Name   string
	OS     string // "" to detect
	Groups []string
	// WhatIf gives the playbook's targets for the host once its OS is
	// known, for a what-if; nil for none.
	WhatIf func(os string) (*platform.Targets, error)
}

// Auditor audits a fleet, Forks hosts at once.
type Auditor struct {
	Dial       func(ctx context.Context, i int) (Session, error) // connects to Targets[i]
	Forks      int
	Sample     Sample
	Limits     Limits
	Thresholds Thresholds
	// OnHost, when set, is called as each host finishes (progress, logs).
	OnHost func(h *HostReport)
}

// Run audits every target; one host's failure never stops the others.
func (a *Auditor) Run(ctx context.Context, targets []Target) *Report {
	rep := &Report{Kind: "audit", Thresholds: a.Thresholds, Sample: a.Sample.String(), Hosts: make([]HostReport, len(targets))}
	forks := a.Forks
	if forks < 1 {
		forks = 64
	}
	sem := make(chan struct{}, forks)
	var wg sync.WaitGroup
	for i := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				rep.Hosts[i] = failed(targets[i], StatusFailed, "not read: interrupted")
				return
			}
			rep.Hosts[i] = a.host(ctx, i, targets[i])
			if a.OnHost != nil {
				a.OnHost(&rep.Hosts[i])
			}
		}()
	}
	wg.Wait()
	rep.Fleet = Summarize(rep.Hosts)
	return rep
}

func failed(t Target, status, msg string) HostReport {
	return HostReport{Host: t.Name, Groups: t.Groups, OS: t.OS, Status: status, Error: msg,
		Listeners: []int{}, Pools: []Pool{}, Services: []Inbound{}, Signals: []Signal{}, Findings: []string{}, Advice: []Advice{}}
}

func (a *Auditor) host(ctx context.Context, i int, t Target) HostReport {
	sess, err := a.Dial(ctx, i)
	if err != nil {
		return failed(t, statusOf(err), err.Error())
	}
	defer sess.Close()
	os := t.OS
	if os == "" {
		if os, _, err = platform.Detect(ctx, sess); err != nil {
			return failed(t, statusOf(err), fmt.Sprintf("%s: %v", t.Name, err))
		}
		t.OS = os
	}
	n := max(1, a.Sample.N)
	snaps := make([]*Snapshot, 0, n)
	for k := 0; k < n; k++ {
		if k > 0 {
			select {
			case <-time.After(a.Sample.Interval):
			case <-ctx.Done():
				return failed(t, StatusFailed, "not read: interrupted")
			}
		}
		s, err := Collect(ctx, sess, os, a.Limits)
		if err != nil {
			return failed(t, statusOf(err), fmt.Sprintf("%s: %v", t.Name, err))
		}
		snaps = append(snaps, s)
	}
	var targets *platform.Targets
	if t.WhatIf != nil {
		if targets, err = t.WhatIf(os); err != nil {
			return failed(t, StatusFailed, fmt.Sprintf("%s: %v", t.Name, err))
		}
	}
	return Analyze(Input{Host: t.Name, Groups: t.Groups, Snapshots: snaps, Targets: targets}, a.Thresholds)
}

func statusOf(err error) string {
	for _, k := range []error{remote.ErrUnreachable, remote.ErrAuth, remote.ErrHostKey} {
		if errors.Is(err, k) {
			return StatusUnreachable
		}
	}
	return StatusFailed
}
