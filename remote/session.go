// Package remote opens sessions to hosts: the transport-neutral Session and
// its implementations over SSH (golang.org/x/crypto/ssh, with proxy
// commands, jump hosts and known_hosts checking) and WinRM
// (github.com/masterzen/winrm). Every error names the host and wraps one of
// the Err* kinds; what a command prints is capped at MaxOutput per stream.
// remote/remotetest is the conformance suite both transports pass.
package remote

import (
	"context"
	"errors"
	"fmt"

	"github.com/fleettune/fleettune/internal/hostcmd"
)

// Result is what one remote command produced. A non-zero ExitCode is not a
// transport error: Run returns it with a nil error. It is hostcmd.Result,
// which the drivers share without importing remote.
type Result = hostcmd.Result

// Session runs commands on one host over one connection. Every command of a
// run goes through the same Session, so a host costs one TCP connection.
type Session interface {
	// Run executes cmd and waits for it. ctx bounds the command; on ctx done
	// the remote command is signalled and Run returns ctx.Err() wrapped.
	Run(ctx context.Context, cmd string) (Result, error)
	Close() error
}

// Kinds of failure a caller decides on. Errors returned by Dial and Run wrap
// one of these (test with errors.Is).
var (
	// ErrUnreachable: the host could not be reached (refused, reset, no route,
	// DNS failure, proxy command failed, connect timeout).
	ErrUnreachable = errors.New("host unreachable")
	// ErrAuth: the host was reached but refused our credentials.
	ErrAuth = errors.New("authentication failed")
	// ErrHostKey: the host key is unknown (strict checking) or has changed.
	ErrHostKey = errors.New("host key verification failed")
	// ErrTimeout: a command did not finish within its timeout.
	ErrTimeout = errors.New("command timed out")
	// ErrConnLost: the connection died after it was established.
	ErrConnLost = errors.New("connection lost")
	// ErrOutputTooLarge: a command printed more than MaxOutput on stdout or
	// on stderr; the rest was not read and the command was stopped.
	ErrOutputTooLarge = errors.New("command output too large")
)

// Error carries the host and the kind of a failure.
type Error struct {
	Host string
	Kind error // one of the Err* sentinels
	Err  error // the underlying cause, may be nil
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s: %v", e.Host, e.Kind)
	}
	return fmt.Sprintf("%s: %v: %v", e.Host, e.Kind, e.Err)
}

func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
