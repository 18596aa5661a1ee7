package audit

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

func snap(t *testing.T, h linuxHost) *Snapshot {
	t.Helper()
	s, err := ParseLinux(h.output(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.01*math.Max(1, math.Abs(b)) }

// audit.md's arithmetic on a Linux host with the default range: one
// destination takes 24,310 TIME_WAIT + 251 ESTABLISHED of 28,232 ports.
func TestArithmeticAppExample(t *testing.T) {
	h := analyze(t, snap(t, linuxHost{low: 32768, high: 60999, twReuse: 2,
		dests: []linuxDest{{addr: "10.0.0.5:5432", tw: 24310, est: 251}, {addr: "10.0.0.9:443", tw: 30, est: 2}}}))
	p := h.Pools[0]
	if p.Remote != "10.0.0.5:5432" || p.Held != 24561 {
		t.Fatalf("worst pool = %s held %d", p.Name, p.Held)
	}
	if !near(p.Util, 24561.0/28232) || !near(p.Rate, 24310.0/60) || !near(p.Ceiling, (28232.0-251)/60) {
		t.Errorf("util %.4f rate %.2f ceiling %.2f", p.Util, p.Rate, p.Ceiling)
	}
	if p.Headroom == nil || !near(*p.Headroom, (28232.0-251)/24310) {
		t.Errorf("headroom %v", p.Headroom)
	}
	if p.Grade != Crit || h.Grade != Crit {
		t.Errorf("grade pool %s host %s, want CRIT at 87%%", p.Grade, h.Grade)
	}
	if p.ReuseOn || !near(p.WithReuse, 28232-251) {
		t.Errorf("reuse on %v, with reuse %.0f (tw_reuse 2 is loopback only)", p.ReuseOn, p.WithReuse)
	}
	// The other pool, on the same ports, is a different destination.
	if q := h.Pools[1]; q.Remote != "10.0.0.9:443" || q.Grade != OK {
		t.Errorf("second pool = %s %s", q.Name, q.Grade)
	}
	kinds := []string{}
	for _, a := range h.Advice {
		kinds = append(kinds, a.Kind)
	}
	if strings.Join(kinds, ",") != "pooling,tw_reuse,source-addresses,range,time_wait" {
		t.Errorf("advice kinds %v", kinds)
	}
	if !strings.Contains(h.Advice[0].Text, "10.0.0.5:5432") || !strings.Contains(h.Advice[0].Text, "pgbouncer") {
		t.Errorf("first advice %q", h.Advice[0].Text)
	}
	// widen to 1024-65535: (64,512 - 251) / 60 = 1,071/s.
	if a := h.Advice[3]; a.Kind != "range" || !near(a.Ceiling, (64512.0-251)/60) || !strings.Contains(a.Text, "1,071/s") {
		t.Errorf("range advice %+v", a)
	}
}

func TestEnhydraWindows(t *testing.T) {
	// 64,511 ports ÷ 240 s ≈ 268 new connections a second.
	win := fixture(t, "windows/script.txt")
	win = strings.Replace(win, "Start Port      : 49152\r\nNumber of Ports : 16384", "Start Port      : 1025\r\nNumber of Ports : 64511", 1)
	win = strings.Replace(win, "     50000       50059     *\r\n     50060       50159\r\n", "", 1)
	s, err := ParseWindows(win, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	h := analyze(t, s)
	p := poolOf(t, h, "10.0.2.2")
	// 3 ports held by other states: (64,511 - 2 listeners in range - 3) / 240.
	if h.Usable != 64511-2 || !near(p.Ceiling, float64(64511-2-3)/240) || rate(64511.0/240) != "268/s" {
		t.Errorf("usable %d ceiling %.2f %s", h.Usable, p.Ceiling, rate(64511.0/240))
	}
	for _, want := range []string{"ports 5985, 50010 listen inside the range", "TIME_WAIT length is ambiguous"} {
		if !strings.Contains(strings.Join(h.Findings, "\n"), want) {
			t.Errorf("findings %q lack %q", h.Findings, want)
		}
	}
}

func TestGrades(t *testing.T) {
	th := DefaultThresholds()
	for _, tc := range []struct {
		util, headroom float64
		tte            time.Duration
		want           Grade
	}{
		{0.10, 50, 0, OK},
		{0.50, 50, 0, Watch},
		{0.66, 50, 0, Warn},
		{0.86, 50, 0, Crit},
		{0.20, 1.2, 0, Crit},
		{0.20, 0, 30 * time.Minute, Crit},
		{0.20, 0, 2 * time.Hour, OK},
		{1.00, 0.9, 0, Exhausted},
	} {
		if g := th.grade(tc.util, tc.headroom, tc.tte); g != tc.want {
			t.Errorf("grade(%v, %v, %v) = %s, want %s", tc.util, tc.headroom, tc.tte, g, tc.want)
		}
	}
	bad := th
	bad.Warn = 0.4
	if bad.Validate() == nil {
		t.Error("watch 50% above warn 40% validated")
	}
}

// A small range: reserved ports and listeners inside it shrink R; a
// CLOSE_WAIT leak is advised first.
func TestUsableAndLeak(t *testing.T) {
	h := analyze(t, snap(t, linuxHost{low: 40000, high: 40999, reserved: "40900-40999,40850", twReuse: 1,
		listen: []int{40800, 22}, dests: []linuxDest{{addr: "10.0.0.20:8080", tw: 100, est: 10, cw: 600}}}))
	if h.Usable != 1000-101-1 || h.Excluded != 101 {
		t.Fatalf("usable %d excluded %d", h.Usable, h.Excluded)
	}
	p := h.Pools[0]
	if !p.ReuseOn || p.Grade != Warn {
		t.Errorf("pool %s reuse %v grade %s (710 of 898)", p.Name, p.ReuseOn, p.Grade)
	}
	if h.Advice[0].Kind != "close-wait" || !strings.Contains(h.Advice[0].Text, "600 sockets in CLOSE_WAIT") {
		t.Errorf("advice %+v", h.Advice)
	}
	f := strings.Join(h.Findings, "\n")
	for _, want := range []string{"only 1,000 ports", "101 ports of the range are reserved", "port 40800 listen inside the range"} {
		if !strings.Contains(f, want) {
			t.Errorf("findings %q lack %q", h.Findings, want)
		}
	}
}

// --sample: growth gives a slope and a time to exhaustion; none gives
// "stable at N%"; a TCPTimeWaitOverflow increase is EXHAUSTED.
func TestSample(t *testing.T) {
	base := linuxHost{low: 32768, high: 60999, dests: []linuxDest{{addr: "10.0.0.5:5432", tw: 5000}}}
	s1 := snap(t, base)
	grown := base
	grown.dests = []linuxDest{{addr: "10.0.0.5:5432", tw: 8000}}
	s2 := snap(t, grown)
	s2.Taken = s1.Taken.Add(30 * time.Second)
	h := Analyze(Input{Host: "h", Snapshots: []*Snapshot{s1, s2}}, DefaultThresholds())
	p := h.Pools[0]
	// 3,000 ports in 30 s = 100/s; 28,232 - 8,000 left: 202 s.
	if p.Slope == nil || !near(*p.Slope, 100) || p.TTE != "3m22s" || p.Grade != Crit {
		t.Errorf("slope %v tte %q grade %s trend %q", p.Slope, p.TTE, p.Grade, p.Trend)
	}
	s3 := snap(t, grown)
	s3.Taken = s2.Taken.Add(30 * time.Second)
	h = Analyze(Input{Host: "h", Snapshots: []*Snapshot{s2, s3}}, DefaultThresholds())
	if p := h.Pools[0]; p.Trend != "stable at 28%" || p.TTE != "" {
		t.Errorf("trend %q tte %q", p.Trend, p.TTE)
	}
	over := grown
	over.overflow = 5
	s4 := snap(t, over)
	s4.Taken = s3.Taken.Add(time.Second)
	h = Analyze(Input{Host: "h", Snapshots: []*Snapshot{s3, s4}}, DefaultThresholds())
	if h.Grade != Exhausted {
		t.Errorf("grade %s after TCPTimeWaitOverflow rose", h.Grade)
	}
}

func TestWhatIf(t *testing.T) {
	wide := platform.PortRange{Low: 10240, High: 65535}
	tw := 30 * time.Second
	s := snap(t, linuxHost{low: 32768, high: 60999, dests: []linuxDest{{addr: "10.0.0.5:5432", tw: 20000, est: 100}}})
	h := Analyze(Input{Host: "h", Snapshots: []*Snapshot{s}, Targets: &platform.Targets{EphemeralPorts: &wide, TimeWait: &tw}}, DefaultThresholds())
	if len(h.WhatIf) != 1 {
		t.Fatalf("what-if %+v", h.WhatIf)
	}
	w := h.WhatIf[0]
	if !near(w.Before, (28232.0-100)/60) || !near(w.After, (55296.0-100)/60) || w.TimeWait != "1m0s" || !strings.Contains(w.Note, "fixed by the Linux kernel") {
		t.Errorf("what-if %+v", w)
	}
	// AIX rounds TIME_WAIT up to 15-second units.
	a := parseFixture(t, platform.AIX, "aix/script.txt")
	tw20 := 20 * time.Second
	h = Analyze(Input{Host: "a", Snapshots: []*Snapshot{a}, Targets: &platform.Targets{TimeWait: &tw20}}, DefaultThresholds())
	if w := h.WhatIf[0]; w.TimeWait != "30s" || !strings.Contains(w.Note, "15-second units") || strings.Contains(w.Note, "covers") {
		t.Errorf("aix what-if %+v", w)
	}
}

func TestFleet(t *testing.T) {
	mk := func(name string, low int, tw int, groups ...string) HostReport {
		h := Analyze(Input{Host: name, Groups: append([]string{"all"}, groups...), Snapshots: []*Snapshot{snap(t, linuxHost{low: low, high: 60999,
			dests: []linuxDest{{addr: "10.0.0.5:5432", tw: tw}, {addr: "10.0.0.6:6379", tw: 10}}})}}, DefaultThresholds())
		return h
	}
	hosts := []HostReport{mk("app1", 32768, 20000, "app"), mk("app2", 32768, 100, "app"), mk("app3", 20000, 30000, "app"),
		failed(Target{Name: "down", Groups: []string{"all"}}, StatusUnreachable, "down: host unreachable")}
	f := Summarize(hosts)
	if f.Hosts != 4 || f.Read != 3 || f.NotRead != 1 || f.Grades["OK"] != 1 || f.Grades["WARN"] != 2 || f.Grades["CRIT"] != 0 {
		t.Errorf("fleet %+v", f)
	}
	if f.Hottest[0].Remote != "10.0.0.5:5432" || f.Hottest[0].Hosts != 3 || f.Hottest[0].TimeWait != 50100 || f.Hottest[1].Remote != "10.0.0.6:6379" {
		t.Errorf("hottest %+v", f.Hottest)
	}
	// "all" and "app" hold the same hosts: one drift, both groups.
	if len(f.Drift) != 1 || strings.Join(f.Drift[0].Groups, ",") != "all,app" || f.Drift[0].Values[0].Value != "32768-60999" || len(f.Drift[0].Values[0].Hosts) != 2 {
		t.Errorf("drift %+v", f.Drift)
	}
	r := &Report{Hosts: hosts, Fleet: f}
	if r.ExitCode() != 1 {
		t.Errorf("exit %d with a host not read", r.ExitCode())
	}
	r.Fleet.NotRead, r.Hosts = 0, hosts[:3]
	if r.ExitCode() != 2 {
		t.Errorf("exit %d with a WARN host", r.ExitCode())
	}
}

func TestParseSample(t *testing.T) {
	if s, err := ParseSample("3x10s"); err != nil || s.N != 3 || s.Interval != 10*time.Second || s.String() != "3x10s" {
		t.Errorf("3x10s = %+v %v", s, err)
	}
	for _, bad := range []string{"3", "1x10s", "3x", "3x100ms", "99x1s", "x10s"} {
		if _, err := ParseSample(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Overlapping and repeated exclusions count once, and cost no more.
func TestUsableMergesExclusions(t *testing.T) {
	r := platform.PortRange{Low: 1000, High: 1999}
	var excl []platform.PortRange
	for i := 0; i < 100000; i++ {
		excl = append(excl, platform.PortRange{Low: 1, High: 65535})
	}
	excl = append(excl, platform.PortRange{Low: 1500, High: 1600})
	if u, e, _ := usablePorts(r, excl, nil); u != 0 || e != 1000 {
		t.Errorf("usable %d excluded %d", u, e)
	}
	u, e, l := usablePorts(r, []platform.PortRange{{Low: 900, High: 1099}, {Low: 1050, High: 1199}, {Low: 1500, High: 1500}}, []uint16{1100, 1300, 1300 + 1, 2500})
	if e != 201 || len(l) != 2 || u != 1000-201-2 {
		t.Errorf("usable %d excluded %d listeners %v", u, e, l)
	}
}

// HostSummary is the one line plan will show in a host's header.
func TestHostSummary(t *testing.T) {
	h := analyze(t, snap(t, linuxHost{low: 32768, high: 60999, dests: []linuxDest{{addr: "10.0.0.5:5432", tw: 24310, est: 251}}}))
	if got, want := HostSummary(&h), "CRIT · 10.0.1.7 → 10.0.0.5:5432 (postgresql) 87% · headroom 1.15×"; got != want {
		t.Errorf("HostSummary = %q, want %q", got, want)
	}
	quiet := analyze(t, snap(t, linuxHost{low: 32768, high: 60999}))
	if got := HostSummary(&quiet); got != "OK · no outbound ports held" {
		t.Errorf("quiet = %q", got)
	}
	down := failed(Target{Name: "x"}, StatusUnreachable, "x: unreachable")
	if HostSummary(&down) != "" {
		t.Error("a host not read has a summary")
	}
}

func TestPercent(t *testing.T) {
	for u, want := range map[float64]string{0.8699: "87%", 0.996: "99%", 1: "100%", 0: "0%", 1.2: "120%"} {
		if got := Percent(u); got != want {
			t.Errorf("Percent(%v) = %q, want %q", u, got, want)
		}
	}
}

// A what-if range over a listener says plan would refuse it; a service
// port full of CLOSE_WAIT is a finding of its own.
func TestWhatIfCoversListenerAndServerLeak(t *testing.T) {
	out := linuxHost{low: 32768, high: 60999, listen: []int{8080}, dests: []linuxDest{{addr: "10.0.0.5:5432", tw: 20000}}}.output()
	var leak strings.Builder
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&leak, "CLOSE-WAIT 1 0 10.0.1.7:8080 10.0.9.%d:%d\n", i%250, 40000+i)
	}
	out = strings.Replace(out, "@@fleettune@@ end\n", leak.String()+"@@fleettune@@ end\n", 1)
	s, err := ParseLinux(out, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wide := platform.PortRange{Low: 1024, High: 65535}
	h := Analyze(Input{Host: "h", Snapshots: []*Snapshot{s}, Targets: &platform.Targets{EphemeralPorts: &wide}}, DefaultThresholds())
	if w := h.WhatIf[0]; !strings.Contains(w.Note, "covers listening port 8080: plan's protect_listening_ports would refuse it") {
		t.Errorf("what-if note %q", w.Note)
	}
	if f := strings.Join(h.Findings, "\n"); !strings.Contains(f, "150 connections to service port 8080 sit in CLOSE_WAIT") {
		t.Errorf("findings %q", h.Findings)
	}
}

// Windows events: with samples only new ones fire.
func TestWindowsEventsSampled(t *testing.T) {
	a := parseFixture(t, platform.Windows, "windows/script.txt")
	b := parseFixture(t, platform.Windows, "windows/script.txt")
	b.Taken = a.Taken.Add(10 * time.Second)
	h := Analyze(Input{Host: "w", Snapshots: []*Snapshot{a, b}}, DefaultThresholds())
	if h.Grade == Exhausted || len(h.Signals) != 2 || h.Signals[0].Fired || *h.Signals[0].Increase != 0 {
		t.Errorf("no new events: grade %s signals %+v", h.Grade, h.Signals)
	}
	a.Events[4231] = EventCount{Count: 1, Last: "2026-11-29T08:02:11.950"}
	h = Analyze(Input{Host: "w", Snapshots: []*Snapshot{a, b}}, DefaultThresholds())
	if h.Grade != Exhausted || !h.Signals[0].Fired || *h.Signals[0].Increase != 1 {
		t.Errorf("a new 4231: grade %s signals %+v", h.Grade, h.Signals)
	}
}
