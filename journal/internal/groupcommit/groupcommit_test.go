package groupcommit

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// waitQueued waits until n callers wait in q.
func waitQueued[T any](t *testing.T, q *Queue[T], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers queued after 10s, want %d", q.Waiting(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// gate is a commit function that records each group and, for the groups
// it is told to, waits to be let go and fails with the error given.
type gate struct {
	mu      sync.Mutex
	groups  [][]int
	hold    map[int]chan error // group number -> its outcome, when held
	entered chan int           // group numbers, as commits start
}

func newGate(held ...int) *gate {
	g := &gate{hold: map[int]chan error{}, entered: make(chan int, 100)}
	for _, n := range held {
		g.hold[n] = make(chan error)
	}
	return g
}

func (g *gate) commit(vs []int) error {
	g.mu.Lock()
	n := len(g.groups)
	g.groups = append(g.groups, slices.Clone(vs))
	ch := g.hold[n]
	g.mu.Unlock()
	g.entered <- n
	if ch != nil {
		return <-ch
	}
	return nil
}

func (g *gate) got() [][]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.groups)
}

func TestAloneCommitsAtOnce(t *testing.T) {
	g := newGate()
	q := New(g.commit)
	for i := range 3 {
		if err := q.Do(i); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.got(); !slices.EqualFunc(got, [][]int{{0}, {1}, {2}}, slices.Equal) {
		t.Errorf("groups = %v, want each value alone and in turn", got)
	}
}

// While a group commits, callers queue; the first of them then commits all
// of them in one group, in the order they queued, and each gets the
// group's error.
func TestQueuedCallersCommitAsOneGroup(t *testing.T) {
	g := newGate(0, 1)
	q := New(g.commit)
	errs := make([]chan error, 5)
	do := func(v int) {
		ch := make(chan error, 1)
		errs[v] = ch
		go func() { ch <- q.Do(v) }()
	}
	do(0)
	if n := <-g.entered; n != 0 {
		t.Fatalf("first commit is group %d", n)
	}
	for v := 1; v < 5; v++ {
		do(v)
		waitQueued(t, q, v)
	}
	broke := errors.New("disk on fire")
	g.hold[0] <- nil // group 0 done
	if err := <-errs[0]; err != nil {
		t.Fatalf("leader of group 0: %v", err)
	}
	if n := <-g.entered; n != 1 {
		t.Fatalf("second commit is group %d", n)
	}
	// The next group is under way: a new caller queues behind it.
	do(0)
	waitQueued(t, q, 1)
	g.hold[1] <- broke
	for v := 1; v < 5; v++ {
		if err := <-errs[v]; !errors.Is(err, broke) {
			t.Errorf("member %d of the failed group got %v, want its error", v, err)
		}
	}
	if err := <-errs[0]; err != nil {
		t.Errorf("the caller after the failed group: %v", err)
	}
	want := [][]int{{0}, {1, 2, 3, 4}, {0}}
	if got := g.got(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("groups = %v, want %v", got, want)
	}
}

// A leader returns when its own group is done, though more callers queued
// meanwhile: it hands the next group to the first of them.
func TestLeaderDoesNotCommitForOthers(t *testing.T) {
	g := newGate(0, 1)
	q := New(g.commit)
	first := make(chan error, 1)
	go func() { first <- q.Do(1) }()
	<-g.entered
	second := make(chan error, 1)
	go func() { second <- q.Do(2) }()
	waitQueued(t, q, 1)
	g.hold[0] <- nil
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first leader did not return while the second group was committing")
	}
	<-g.entered // group 1, led by the second caller, is held
	select {
	case err := <-second:
		t.Fatalf("the second caller returned (%v) before its group was committed", err)
	default:
	}
	g.hold[1] <- nil
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// Many callers at once: every value is committed exactly once, no Do
// returns before its value's group was committed, and commits never
// overlap.
func TestConcurrentCallers(t *testing.T) {
	const callers, each = 64, 50
	var (
		mu        sync.Mutex
		committed = map[string]bool{}
		inCommit  bool
		groups    int
	)
	q := New(func(vs []string) error {
		mu.Lock()
		if inCommit {
			mu.Unlock()
			return errors.New("two commits at once")
		}
		inCommit = true
		groups++
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // an fsync's worth, roughly
		mu.Lock()
		for _, v := range vs {
			if committed[v] {
				t.Errorf("%s committed twice", v)
			}
			committed[v] = true
		}
		inCommit = false
		mu.Unlock()
		return nil
	})
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				v := fmt.Sprintf("%d/%d", c, i)
				if err := q.Do(v); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ok := committed[v]
				mu.Unlock()
				if !ok {
					t.Errorf("Do(%s) returned before it was committed", v)
				}
			}
		})
	}
	wg.Wait()
	if len(committed) != callers*each {
		t.Errorf("%d values committed, want %d", len(committed), callers*each)
	}
	if groups >= callers*each {
		t.Errorf("%d commits for %d values: nothing was grouped", groups, callers*each)
	}
	t.Logf("%d values in %d groups", callers*each, groups)
}

// BenchmarkDoAlone is what Do adds to a commit when nobody else is about
// (the commit itself does nothing here): the cost of group commit for a
// single writer.
func BenchmarkDoAlone(b *testing.B) {
	n := 0
	q := New(func(vs []int) error { n += len(vs); return nil })
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := q.Do(i); err != nil {
			b.Fatal(err)
		}
	}
	if n != b.N {
		b.Fatalf("%d values committed, want %d", n, b.N)
	}
}
