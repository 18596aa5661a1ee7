package playbooks

import (
	"context"
	"sync"
)

// each runs fn(i) for every i in [0, n), at most forks at once (DefaultForks
// when forks < 1). Before starting an index it asks stop (nil: never stop);
// once ctx ends or stop says so, no further index starts and skip, when not
// nil, is called for each one left. each returns when every started fn has.
func each(ctx context.Context, forks, n int, stop func() bool, fn func(i int), skip func(i int)) {
	if forks < 1 {
		forks = DefaultForks
	}
	sem := make(chan struct{}, forks)
	var wg sync.WaitGroup
	for i := range n {
		stopped := false
		select {
		case sem <- struct{}{}:
			if ctx.Err() != nil || (stop != nil && stop()) {
				<-sem
				stopped = true
			}
		case <-ctx.Done():
			stopped = true
		}
		if stopped {
			if skip == nil {
				break
			}
			skip(i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}
