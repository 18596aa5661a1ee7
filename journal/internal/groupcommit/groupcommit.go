// Package groupcommit makes concurrent durable writes share their cost, the
// way databases commit their log: while one caller (the leader) commits,
// the callers that arrive queue, and when it is done the first of them
// commits everything that queued in one go (one write and one fsync, or
// one transaction). Nobody waits for company: a caller that finds no
// commit under way commits at once, alone.
package groupcommit

import "sync"

// Queue hands values to its commit function in groups. Commit is called by
// one caller at a time, with one or more values in the order their Do
// calls queued; the error it returns is the error of every value in the
// group.
type Queue[T any] struct {
	commit func([]T) error

	mu      sync.Mutex
	waiting []*waiter[T] // non-empty only while busy
	spare   []*waiter[T] // the last group's slice, for the next one
	busy    bool         // a leader is committing

	vals []T // the group being committed: the leader's alone
}

type waiter[T any] struct {
	v    T
	wake chan struct{} // closed when its group is done or when it is to lead
	done bool
	err  error
}

// New is a Queue that commits with commit.
func New[T any](commit func([]T) error) *Queue[T] {
	return &Queue[T]{commit: commit}
}

// Waiting is how many callers wait for a commit under way to end.
func (q *Queue[T]) Waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// Do queues v and returns once the commit of a group that held it is over,
// with that commit's error. When no commit is under way the caller commits
// v at once (with anything queued), else it waits: either a leader commits
// v with its group, or the caller becomes the next leader and commits every
// value that queued while the previous group was committed. A leader
// returns as soon as its own group is done; it never keeps on committing
// for others.
func (q *Queue[T]) Do(v T) error {
	w := &waiter[T]{v: v}
	q.mu.Lock()
	q.waiting = append(q.waiting, w)
	if q.busy {
		w.wake = make(chan struct{})
		q.mu.Unlock()
		<-w.wake
		if w.done {
			return w.err
		}
		// This caller leads the group that queued behind the last one.
		q.mu.Lock()
	}
	q.busy = true
	group := q.waiting
	q.waiting, q.spare = q.spare[:0], nil
	q.mu.Unlock()

	q.vals = q.vals[:0]
	for _, g := range group {
		q.vals = append(q.vals, g.v)
	}
	err := q.commit(q.vals)
	clear(q.vals)

	q.mu.Lock()
	for _, g := range group {
		g.done, g.err = true, err
		if g != w {
			close(g.wake)
		}
	}
	clear(group)
	q.spare = group[:0]
	if len(q.waiting) > 0 {
		close(q.waiting[0].wake) // not done: it leads the next group
	} else {
		q.busy = false
	}
	q.mu.Unlock()
	return err
}
