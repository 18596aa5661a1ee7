package views

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/playbooks"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time            { return c.t }
func (c *fakeClock) add(d time.Duration)       { c.t = c.t.Add(d) }
func newClock() *fakeClock                     { return &fakeClock{t: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)} }
func ev(k playbooks.EventKind) playbooks.Event { return playbooks.Event{Kind: k} }

// run feeds a rollout of 5 hosts in batches of 1 and 4, with one
// unreachable host and a 2m watch, each host taking 1s.
func feedRollout(p *Progress, c *fakeClock, mid func(step string)) {
	p.Progress(playbooks.Event{Kind: playbooks.RolloutStarted, Total: 5, Batches: 2, Watch: 2 * time.Minute})
	p.Progress(playbooks.Event{Kind: playbooks.BatchStarted, Batch: 1, Batches: 2, Canary: true, Hosts: 1})
	c.add(time.Second)
	p.Progress(playbooks.Event{Kind: playbooks.HostDone, Batch: 1, Host: "web1", Status: playbooks.StatusApplied})
	mid("canary applied")
	p.Progress(playbooks.Event{Kind: playbooks.WatchStarted, Batch: 1, Hosts: 1, Watch: 2 * time.Minute})
	c.add(30 * time.Second)
	mid("watching")
	c.add(90 * time.Second)
	p.Progress(playbooks.Event{Kind: playbooks.BatchDone, Batch: 1, Canary: true, Changed: 1, Checked: true, Healthy: true})
	p.Progress(playbooks.Event{Kind: playbooks.BatchStarted, Batch: 2, Batches: 2, Hosts: 4})
	for i, h := range []string{"web2", "web3", "web4", "web5"} {
		c.add(100 * time.Millisecond)
		st := playbooks.StatusApplied
		if i == 1 {
			st = playbooks.StatusUnreachable
		}
		p.Progress(playbooks.Event{Kind: playbooks.HostDone, Batch: 2, Host: h, Status: st, Reason: "connection refused"})
	}
	mid("second batch done")
	p.Progress(playbooks.Event{Kind: playbooks.WatchStarted, Batch: 2, Hosts: 3, Watch: 2 * time.Minute})
	c.add(2 * time.Minute)
	p.Progress(playbooks.Event{Kind: playbooks.BatchDone, Batch: 2, Changed: 3, Checked: true, Healthy: true})
	p.Progress(ev(playbooks.RolloutDone))
}

// lastFrame is what a terminal shows on its last line: the text after the
// last carriage return.
func lastFrame(s string) string {
	i := strings.LastIndex(s, "\r\x1b[K")
	if i < 0 {
		return s
	}
	return s[i+len("\r\x1b[K"):]
}

func TestProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	c := newClock()
	p := &Progress{W: &b, Terminal: true, Now: c.now}
	frames := map[string]string{}
	feedRollout(p, c, func(step string) {
		p.Tick()
		frames[step] = lastFrame(b.String())
	})
	for step, want := range map[string]string{
		// 1s per host for 4 more hosts, and two watches of 2m to come
		"canary applied": "batch 1/2 (canary) · 1/1 hosts · 1/5 done · 0 failed · ~4m4s left",
		// the countdown, and only the next batch's watch still to come
		"watching":          "batch 1/2 (canary) · watching health, 1m30s to go · 1/5 done · 0 failed · ~3m34s left",
		"second batch done": "batch 2/2 · 4/4 hosts · 5/5 done · 1 failed · ~2m0s left",
	} {
		if frames[step] != want {
			t.Errorf("%s: the terminal shows\n %q\nwant\n %q", step, frames[step], want)
		}
	}
	out := b.String()
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("the status line is not cleared at the end: %q", out[max(0, len(out)-80):])
	}
	// The lines that stay, once the terminal has applied the redraws.
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if i := strings.LastIndex(l, "\r\x1b[K"); i >= 0 {
			l = l[i+len("\r\x1b[K"):]
		}
		if l != "" {
			kept = append(kept, l)
		}
	}
	want := []string{
		"batch 1/2 (canary): 1 host, 1 applied, 0 failed, healthy · 1/5 done, 0 failures so far · 2m1s",
		"batch 2/2: 4 hosts, 3 applied, 1 failed, healthy · 5/5 done, 1 failure so far · 2m0s",
	}
	if strings.Join(kept, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept lines:\n%s\nwant:\n%s", strings.Join(kept, "\n"), strings.Join(want, "\n"))
	}
}

// Redraws are rate limited: 100 hosts done within 300ms draw the line
// twice (at 250ms, and when the batch's last host is done), and a Tick
// before the interval draws nothing.
func TestProgressRedrawRate(t *testing.T) {
	var b bytes.Buffer
	c := newClock()
	p := &Progress{W: &b, Terminal: true, Now: c.now}
	p.Progress(playbooks.Event{Kind: playbooks.RolloutStarted, Total: 100, Batches: 1})
	p.Progress(playbooks.Event{Kind: playbooks.BatchStarted, Batch: 1, Batches: 1, Hosts: 100})
	before := strings.Count(b.String(), "\r\x1b[K")
	for range 100 {
		c.add(3 * time.Millisecond)
		p.Progress(playbooks.Event{Kind: playbooks.HostDone, Status: playbooks.StatusApplied})
	}
	if n := strings.Count(b.String(), "\r\x1b[K") - before; n != 2 {
		t.Errorf("100 hosts in 300ms drew %d times; want twice", n)
	}
	n := len(b.String())
	p.Tick()
	if len(b.String()) != n {
		t.Error("a Tick 50ms after a redraw drew again")
	}
	c.add(DefaultRedraw)
	p.Tick()
	if got := lastFrame(b.String()); !strings.HasPrefix(got, "batch 1/1 · 100/100 hosts · 100/100 done") {
		t.Errorf("after the interval the line shows %q", got)
	}
}

// A log line goes above the status line, which comes back below it.
func TestProgressLogAbove(t *testing.T) {
	var b bytes.Buffer
	c := newClock()
	p := &Progress{W: &b, Terminal: true, Now: c.now}
	p.Progress(playbooks.Event{Kind: playbooks.RolloutStarted, Total: 2, Batches: 1})
	p.Progress(playbooks.Event{Kind: playbooks.BatchStarted, Batch: 1, Batches: 1, Hosts: 2})
	b.Reset()
	if _, err := p.Write([]byte("WARN something\n")); err != nil {
		t.Fatal(err)
	}
	if want := "\r\x1b[KWARN something\n\r\x1b[Kbatch 1/1 · 0/2 hosts · 0/2 done · 0 failed"; b.String() != want {
		t.Errorf("wrote %q\nwant  %q", b.String(), want)
	}
}

// A batch where one host rose and another could not be checked is
// unhealthy, not "not checked".
func TestProgressUnhealthyBatch(t *testing.T) {
	var b bytes.Buffer
	c := newClock()
	p := &Progress{W: &b, Now: c.now}
	p.Progress(playbooks.Event{Kind: playbooks.RolloutStarted, Total: 2, Batches: 1})
	p.Progress(playbooks.Event{Kind: playbooks.BatchStarted, Batch: 1, Batches: 1, Hosts: 2})
	p.Progress(playbooks.Event{Kind: playbooks.BatchDone, Batch: 1, Changed: 2, Unhealthy: true})
	if !strings.Contains(b.String(), ", UNHEALTHY · ") {
		t.Errorf("batch line %q", b.String())
	}
}

// Off a terminal: one line per batch, no escape sequences, nothing else.
func TestProgressOffTerminal(t *testing.T) {
	var b bytes.Buffer
	c := newClock()
	p := &Progress{W: &b, Terminal: false, Now: c.now}
	feedRollout(p, c, func(string) { p.Tick() })
	want := "batch 1/2 (canary): 1 host, 1 applied, 0 failed, healthy · 1/5 done, 0 failures so far · 2m1s\n" +
		"batch 2/2: 4 hosts, 3 applied, 1 failed, healthy · 5/5 done, 1 failure so far · 2m0s\n"
	if b.String() != want {
		t.Errorf("off a terminal:\n%q\nwant\n%q", b.String(), want)
	}
}
