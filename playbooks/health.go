package playbooks

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/fleettune/fleettune/platform"
)

// checkHealth watches a batch of changed hosts for the signs of stray
// segments reaching new connections: kernel counters rising past their
// thresholds over the watch window, and the playbook's probe failing. A host
// whose health cannot be read counts as unhealthy: at 3 a.m. silence is not
// a good sign.
func (e *Engine) checkHealth(ctx context.Context, hosts []*applied, o ApplyOptions, b *BatchOutcome) {
	var live []*applied
	for _, a := range hosts {
		if a.out.Status == StatusApplied && a.conn.sess != nil {
			live = append(live, a)
		}
	}
	if len(live) == 0 || (!o.Health.Counters && len(o.Health.Probe) == 0) {
		return
	}
	b.Checked = true
	var mu sync.Mutex
	var details []string
	add := func(s string) { mu.Lock(); details = append(details, s); mu.Unlock() }
	checkCtx := context.WithoutCancel(ctx)

	readers := map[*applied]platform.HealthReader{}
	if o.Health.Counters {
		for _, a := range live {
			if hr := a.conn.driver; hr.Capabilities().Counters {
				readers[a] = hr
				if b.Thresholds == nil {
					b.Thresholds = map[string]int64{}
				}
				for k, v := range hr.Thresholds() {
					b.Thresholds[k] = v
				}
			}
		}
		e.parallel(live, func(a *applied) {
			if hr := readers[a]; hr != nil {
				c, err := hr.Counters(checkCtx, a.conn.sess)
				if err != nil {
					add(fmt.Sprintf("%s: cannot read counters: %v", a.out.Host, err))
					delete(readers, a)
					return
				}
				a.before = c
			}
		})
	}
	if o.Watch > 0 {
		e.logger().Info("watching", "batch", b.Number, "hosts", len(live), "for", o.Watch)
		if err := e.sleep(ctx, o.Watch); err != nil {
			add(fmt.Sprintf("watch cut short (%v); checked at once", err))
		}
	}
	e.parallel(live, func(a *applied) {
		if hr := readers[a]; hr != nil && a.before != nil {
			after, err := hr.Counters(checkCtx, a.conn.sess)
			if err != nil {
				add(fmt.Sprintf("%s: cannot read counters: %v", a.out.Host, err))
			} else {
				_, exceeded := platform.CounterDeltas(a.before, after, hr.Thresholds())
				for _, x := range exceeded {
					add(fmt.Sprintf("%s: %s", a.out.Host, x))
				}
			}
		}
		if cmd := o.Health.Probe[a.conn.os]; cmd != "" {
			res, err := a.conn.sess.Run(checkCtx, cmd)
			switch {
			case err != nil:
				add(fmt.Sprintf("%s: probe %q: %v", a.out.Host, cmd, err))
			case res.ExitCode != 0:
				msg := firstLine(trimOutput(res.Stderr))
				if msg == "" {
					msg = firstLine(trimOutput(res.Stdout))
				}
				add(strings.TrimSuffix(fmt.Sprintf("%s: probe %q exited %d: %s", a.out.Host, cmd, res.ExitCode, msg), ": "))
			}
		}
	})
	sort.Strings(details)
	b.Details = details
	b.Healthy = true
	for _, d := range details {
		if !strings.HasPrefix(d, "watch cut short") {
			b.Healthy = false
		}
	}
}

// parallel runs fn for every host at most Forks at once, to the end: it is
// for work that must not be cut short (health reads, restores).
func (e *Engine) parallel(hosts []*applied, fn func(*applied)) {
	each(context.Background(), e.Forks, len(hosts), nil, func(i int) { fn(hosts[i]) }, nil)
}
