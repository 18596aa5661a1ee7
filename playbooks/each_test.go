package playbooks

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachBoundsAndStops(t *testing.T) {
	var running, most atomic.Int32
	var mu sync.Mutex
	done := map[int]bool{}
	each(context.Background(), 3, 12, nil, func(i int) {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		mu.Lock()
		done[i] = true
		mu.Unlock()
	}, nil)
	if len(done) != 12 || most.Load() > 3 || most.Load() < 2 {
		t.Errorf("ran %d of 12, at most %d at once; want all, never more than 3", len(done), most.Load())
	}

	// Once stop says so, no index starts; the ones left are skipped, and
	// every started fn has returned when each does.
	var started, finished atomic.Int32
	var skipped []int
	each(context.Background(), 1, 6, func() bool { return started.Load() >= 2 }, func(int) {
		started.Add(1)
		time.Sleep(time.Millisecond)
		finished.Add(1)
	}, func(i int) { skipped = append(skipped, i) })
	if started.Load() != 2 || finished.Load() != 2 || len(skipped) != 4 || skipped[0] != 2 {
		t.Errorf("started %d finished %d skipped %v; want 2, 2, [2 3 4 5]", started.Load(), finished.Load(), skipped)
	}

	// A cancelled context starts nothing; without skip the rest is left.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	each(ctx, 2, 3, nil, func(int) { ran = true }, nil)
	if ran {
		t.Error("ran after the context ended")
	}
}
