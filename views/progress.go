package views

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fleettune/fleettune/playbooks"
)

// DefaultRedraw is the least time between two redraws of the live line.
const DefaultRedraw = 250 * time.Millisecond

var _ playbooks.Progress = (*Progress)(nil)

// Progress shows a rollout as it goes, fed by the engine's events. Every
// batch ends with one line. On a terminal a status line below them (hosts
// done of the batch and of the run, failures so far, the watch countdown,
// time left) is redrawn in place, at most once per Redraw; log lines
// written through Progress's Write go above it.
type Progress struct {
	W        io.Writer
	Terminal bool
	Color    bool
	Now      func() time.Time // nil is time.Now
	Redraw   time.Duration    // 0 is DefaultRedraw

	mu    sync.Mutex
	st    progressState
	drawn bool      // the status line is on screen
	last  time.Time // when it was last drawn
}

type progressState struct {
	start                  time.Time
	total, batches, done   int
	failures               int
	batch, batchHosts      int
	batchDone, batchFailed int
	batchApplied           int
	canary                 bool
	batchStart             time.Time
	watch                  time.Duration // the watch after each batch
	watching               bool
	batchWatched           bool // the current batch's watch has begun
	watchStart             time.Time
	watchLen               time.Duration
	watched                time.Duration // time spent in finished watches
	finished               bool
}

// NewProgress is the progress view for stderr.
func NewProgress(w io.Writer, terminal, color bool) *Progress {
	return &Progress{W: w, Terminal: terminal, Color: color}
}

func (p *Progress) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Progress takes one event of the engine.
func (p *Progress) Progress(ev playbooks.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	st := &p.st
	force := false
	switch ev.Kind {
	case playbooks.RolloutStarted:
		*st = progressState{start: now, total: ev.Total, batches: ev.Batches, watch: ev.Watch}
	case playbooks.BatchStarted:
		st.batch, st.batchHosts, st.canary, st.batchStart = ev.Batch, ev.Hosts, ev.Canary, now
		st.batchDone, st.batchFailed, st.batchApplied, st.batchWatched = 0, 0, 0, false
		force = true
	case playbooks.HostDone:
		st.batchDone++
		st.done++
		switch ev.Status {
		case playbooks.StatusFailed, playbooks.StatusUnreachable:
			st.batchFailed++
			st.failures++
		case playbooks.StatusApplied:
			st.batchApplied++
		}
		force = st.batchDone == st.batchHosts // the batch's last host is shown
	case playbooks.WatchStarted:
		st.watching, st.watchStart, st.watchLen, st.batchWatched = true, now, ev.Watch, true
		force = true
	case playbooks.BatchDone:
		if st.watching {
			st.watched += now.Sub(st.watchStart)
			st.watching = false
		}
		p.above(p.batchLine(ev, now))
		force = true
	case playbooks.RolloutDone:
		st.finished = true
		p.clear()
		return
	}
	p.draw(now, force)
}

// Tick redraws the status line when it is due: the countdown moves while
// no event comes. cmd calls it a few times a second.
func (p *Progress) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(p.now(), false)
}

// Write puts a log line above the status line, which is then redrawn.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	n, err := p.W.Write(b)
	p.draw(p.now(), true)
	return n, err
}

// Finish removes the status line; what was printed above it stays.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.finished = true
	p.clear()
}

// above prints a line that stays: above the status line on a terminal.
func (p *Progress) above(line string) {
	p.clear()
	_, _ = io.WriteString(p.W, line+"\n")
}

func (p *Progress) clear() {
	if p.drawn {
		_, _ = io.WriteString(p.W, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *Progress) draw(now time.Time, force bool) {
	if !p.Terminal || p.st.batch == 0 || p.st.finished {
		return
	}
	every := p.Redraw
	if every <= 0 {
		every = DefaultRedraw
	}
	if p.drawn && !force && now.Sub(p.last) < every {
		return
	}
	_, _ = io.WriteString(p.W, "\r\x1b[K"+p.statusLine(now))
	p.drawn, p.last = true, now
}

func (p *Progress) batchLabel() string {
	l := fmt.Sprintf("batch %d/%d", p.st.batch, p.st.batches)
	if p.st.canary {
		l += " (canary)"
	}
	return l
}

// statusLine is the live line: where the rollout is now.
func (p *Progress) statusLine(now time.Time) string {
	s, st := style{p.Color}, &p.st
	parts := []string{s.bold(p.batchLabel())}
	if st.watching {
		rest := max(0, st.watchLen-now.Sub(st.watchStart)).Round(time.Second)
		parts = append(parts, fmt.Sprintf("watching health, %s to go", rest))
	} else {
		parts = append(parts, fmt.Sprintf("%d/%d hosts", st.batchDone, st.batchHosts))
	}
	parts = append(parts, fmt.Sprintf("%d/%d done", st.done, st.total))
	failed := fmt.Sprintf("%d failed", st.failures)
	if st.failures > 0 {
		failed = s.red(failed)
	}
	parts = append(parts, failed)
	if left, ok := p.timeLeft(now); ok {
		parts = append(parts, "~"+left.String()+" left")
	}
	return strings.Join(parts, " · ")
}

// timeLeft estimates the rest of the run: the hosts to go at the pace so
// far (watches left out), and the watches still to come.
func (p *Progress) timeLeft(now time.Time) (time.Duration, bool) {
	st := &p.st
	if st.done == 0 {
		return 0, false
	}
	watched := st.watched
	var watchRest time.Duration
	if st.watching {
		in := now.Sub(st.watchStart)
		watched += in
		watchRest = max(0, st.watchLen-in)
	}
	work := max(0, now.Sub(st.start)-watched)
	perHost := work / time.Duration(st.done)
	left := perHost*time.Duration(st.total-st.done) + watchRest
	// Every batch still to run, and this one if its watch has not begun,
	// is watched once.
	future := st.batches - st.batch
	if !st.batchWatched {
		future++
	}
	left += time.Duration(max(0, future)) * st.watch
	return left.Round(time.Second), true
}

// batchLine is the line a batch leaves behind.
func (p *Progress) batchLine(ev playbooks.Event, now time.Time) string {
	s, st := style{p.Color}, &p.st
	var health string
	switch {
	case ev.Changed == 0:
		health = "nothing changed, no watch"
	case ev.Unhealthy:
		health = s.red("UNHEALTHY")
	case ev.Healthy:
		health = s.green("healthy")
	case ev.Checked:
		health = s.red("UNHEALTHY")
	default:
		health = s.yellow("health not checked")
	}
	failed := fmt.Sprintf("%d failed", st.batchFailed)
	if st.batchFailed > 0 {
		failed = s.red(failed)
	}
	return fmt.Sprintf("%s: %s, %d applied, %s, %s · %d/%d done, %s so far · %s",
		p.batchLabel(), plural(st.batchHosts, "host", "hosts"), st.batchApplied, failed, health,
		st.done, st.total, plural(st.failures, "failure", "failures"), now.Sub(st.batchStart).Round(time.Second))
}
