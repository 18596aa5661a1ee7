package playbooks

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/fleettune/fleettune/remote"
)

// Progress receives the engine's events as a rollout goes, so that a view
// can show it. The engine calls it one event at a time, from its own
// goroutines; a nil Progress receives nothing.
type Progress interface {
	Progress(Event)
}

// EventKind says what happened.
type EventKind int

// The events of a rollout, in the order they come.
const (
	// RolloutStarted: Total hosts in Batches batches.
	RolloutStarted EventKind = iota
	// BatchStarted: batch Batch of Batches, with Hosts hosts.
	BatchStarted
	// HostDone: Host ended with Status (and Reason when it failed).
	HostDone
	// WatchStarted: the health watch of the batch began; it lasts Watch.
	WatchStarted
	// BatchDone: the batch's health is known (Healthy, Checked); with
	// Changed 0 no host of it changed and there was nothing to watch.
	BatchDone
	// RolloutDone: the rollout ended; Stopped says why it ended early.
	RolloutDone
)

// Event is one step of a rollout. Only the fields its Kind names are set.
type Event struct {
	Kind    EventKind
	Total   int // RolloutStarted
	Batches int // RolloutStarted, BatchStarted
	Batch   int // BatchStarted and after: the batch's number, from 1
	Canary  bool
	Hosts   int           // BatchStarted: hosts in the batch
	Host    string        // HostDone
	Status  string        // HostDone
	Reason  string        // HostDone, when failed or unreachable
	Watch   time.Duration // WatchStarted; RolloutStarted: the watch after each batch
	Changed int           // BatchDone: hosts changed, and so health-checked
	Checked bool          // BatchDone: every host of the batch was checked
	Healthy bool          // BatchDone
	// Unhealthy: BatchDone: some host of the batch showed handshake
	// failures (even when others could not be checked).
	Unhealthy bool
	Stopped   string // RolloutDone
}

// progress sends one event, one at a time.
func (e *Engine) progress(ev Event) {
	if e.Progress == nil {
		return
	}
	e.pmu.Lock()
	defer e.pmu.Unlock()
	e.Progress.Progress(ev)
}

// Reason names the kind of a host's failure in a few words, for grouping
// hosts in a recap: "connection refused", "authentication failed", ...
// The full error stays in the host's error.
func Reason(err error) string {
	var dns *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return "name not resolved"
	case errors.Is(err, remote.ErrAuth):
		return "authentication failed"
	case errors.Is(err, remote.ErrHostKey):
		return "host key verification failed"
	case errors.Is(err, remote.ErrUnreachable) && isTimeout(err):
		return "connection timed out"
	case errors.Is(err, remote.ErrUnreachable):
		return "host unreachable"
	case errors.Is(err, remote.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "command timed out"
	case errors.Is(err, remote.ErrConnLost):
		return "connection lost"
	case errors.Is(err, remote.ErrOutputTooLarge):
		return "output too large"
	}
	return "command failed"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || (errors.As(err, &ne) && ne.Timeout())
}
