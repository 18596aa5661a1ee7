package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"
	"golang.org/x/crypto/ssh"

	"github.com/fleettune/fleettune/inventory"
)

// maxChannels bounds the commands one connection runs at once, below
// OpenSSH's default MaxSessions (10), so concurrent Runs queue instead of
// being refused.
const maxChannels = 8

// sshSession is a Session over one SSH connection: every Run is a new
// channel on the same client.
type sshSession struct {
	name    string
	become  string
	timeout time.Duration
	log     *log.Logger
	client  *ssh.Client
	jumps   []*ssh.Client // jump host clients, first hop first

	slots     chan struct{} // one token per open channel
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu     sync.Mutex
	lost   error // why the connection died; nil while it lives
	closed bool

	// keepalive's timer, and its interval: a timer rather than a
	// goroutine per session, which a run holding 10,000 sessions between
	// plan and apply would keep parked (and the collector scanning).
	kaTimer    *time.Timer
	kaInterval time.Duration
}

var _ Session = (*sshSession)(nil)

func newSSHSession(h *inventory.Host, opts Options, client *ssh.Client, jumps []*ssh.Client) *sshSession {
	s := &sshSession{
		name:    h.Name,
		become:  h.SSH.Become,
		timeout: hostTimeout(h),
		log:     opts.Logger,
		client:  client,
		jumps:   jumps,
		slots:   make(chan struct{}, maxChannels),
		done:    make(chan struct{}),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := client.Wait()
		s.markLost(fmt.Errorf("connection closed by the server or the network: %v", err))
	}()
	if opts.KeepaliveInterval > 0 {
		interval := opts.KeepaliveInterval
		if h.SSH.ServerAliveInterval > 0 { // ssh_config's ServerAliveInterval
			interval = h.SSH.ServerAliveInterval
		}
		s.kaInterval = interval
		s.mu.Lock()
		s.kaTimer = time.AfterFunc(interval, s.keepalive)
		s.mu.Unlock()
	}
	return s
}

// Run executes cmd on a new channel. It is safe for concurrent use.
func (s *sshSession) Run(ctx context.Context, cmd string) (Result, error) {
	if err := s.deadErr(); err != nil {
		return Result{}, err
	}
	if ctx.Err() != nil { // ended already: run nothing
		return Result{ExitCode: -1}, s.ctxErr(ctx, cmd)
	}
	full := cmd
	if s.become == "sudo" {
		full = sudoWrap(cmd)
	}
	runCtx := ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}

	select {
	case s.slots <- struct{}{}:
	case <-runCtx.Done():
		return Result{}, s.ctxErr(ctx, cmd)
	case <-s.done:
		return Result{}, s.deadErr()
	}
	if runCtx.Err() != nil { // ended while this Run waited for a slot
		<-s.slots
		return Result{ExitCode: -1}, s.ctxErr(ctx, cmd)
	}

	stdout, stderr, over := newCapBuffers(outputLimit(ctx))
	var mu sync.Mutex
	var sess *ssh.Session // set once the channel is open
	cancelled := false
	finished := make(chan error, 1)
	go func() {
		defer func() { <-s.slots }() // the slot is free when the channel is
		ch, err := s.openChannel(runCtx)
		if err != nil {
			finished <- err
			return
		}
		defer ch.Close()
		mu.Lock()
		if cancelled {
			mu.Unlock()
			finished <- context.Canceled
			return
		}
		sess = ch
		mu.Unlock()
		ch.Stdout, ch.Stderr = stdout, stderr
		if err := ch.Start(full); err != nil {
			finished <- fmt.Errorf("start command: %w", err)
			return
		}
		finished <- ch.Wait()
	}()
	// stop signals the command and closes its channel, so nothing more is
	// read (the server's window fills, then the channel goes), and waits a
	// moment for the goroutine above.
	stop := func() {
		mu.Lock()
		cancelled = true
		ch := sess
		mu.Unlock()
		if ch != nil {
			// Not inline: on a stalled connection even these writes may block.
			go func() {
				_ = ch.Signal(ssh.SIGTERM)
				_ = ch.Close()
			}()
		}
		select { // give the output a moment to arrive, bounded
		case <-finished:
		case <-time.After(time.Second):
		}
	}

	select {
	case err := <-finished:
		if over.stream() != "" {
			return Result{ExitCode: -1}, over.err(s.name, cmd)
		}
		if err != nil && runCtx.Err() != nil {
			// The command failed because ctx ended (the channel was shut
			// as the deadline passed): that is the news, wrapped.
			return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, s.ctxErr(ctx, cmd)
		}
		return s.result(cmd, stdout.Bytes(), stderr.Bytes(), err)
	case <-over.c:
		stop()
		return Result{ExitCode: -1}, over.err(s.name, cmd)
	case <-runCtx.Done():
		stop()
		if over.stream() != "" {
			return Result{ExitCode: -1}, over.err(s.name, cmd)
		}
		return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, s.ctxErr(ctx, cmd)
	}
}

// openChannel opens a session channel. A server may refuse one for a
// moment even below its MaxSessions (OpenSSH frees a session only once its
// child is reaped), so a refusal is retried briefly while ctx allows.
func (s *sshSession) openChannel(ctx context.Context) (*ssh.Session, error) {
	delay := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ch, err := s.client.NewSession()
		var oce *ssh.OpenChannelError
		if err == nil || !errors.As(err, &oce) || attempt == 6 {
			if oce != nil {
				return nil, fmt.Errorf("server refused a new channel %d times (MaxSessions?): %w", attempt, err)
			}
			if err != nil {
				return nil, fmt.Errorf("open channel: %w", err)
			}
			return ch, nil
		}
		s.log.Debug("server refused a channel, retrying", "attempt", attempt, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-s.done:
			t.Stop()
			return nil, errors.New("session closed")
		case <-t.C:
		}
		delay *= 2
	}
}

// result turns what ssh.Session.Wait said into a Result or an *Error.
func (s *sshSession) result(cmd string, stdout, stderr []byte, err error) (Result, error) {
	res := Result{Stdout: stdout, Stderr: stderr}
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitStatus()
		if ee.Signal() != "" {
			s.log.Debug("remote command killed by a signal", "cmd", short(cmd), "signal", ee.Signal())
		}
		return res, nil
	}
	res.ExitCode = -1
	if dead := s.deadErr(); dead != nil {
		return res, dead
	}
	if errors.As(err, &missing) {
		err = fmt.Errorf("%s: the command ended without an exit status (channel closed early)", short(cmd))
	} else {
		err = fmt.Errorf("%s: %w", short(cmd), err)
	}
	return res, &Error{Host: s.name, Kind: ErrConnLost, Err: err}
}

// ctxErr is the error for a Run cut short: our own per-command timeout, or
// the caller's ctx. Both wrap the context error.
func (s *sshSession) ctxErr(parent context.Context, cmd string) error {
	if err := parent.Err(); err != nil {
		return &Error{Host: s.name, Kind: ErrTimeout, Err: fmt.Errorf("%s: %w", short(cmd), err)}
	}
	return &Error{Host: s.name, Kind: ErrTimeout, Err: fmt.Errorf("%s did not finish within %s: %w", short(cmd), s.timeout, context.DeadlineExceeded)}
}

// deadErr says why the session can no longer run commands, or nil.
func (s *sshSession) deadErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return &Error{Host: s.name, Kind: ErrConnLost, Err: errors.New("session closed")}
	case s.lost != nil:
		return &Error{Host: s.name, Kind: ErrConnLost, Err: s.lost}
	}
	return nil
}

// markLost records the first reason the connection died (not after Close).
func (s *sshSession) markLost(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.lost != nil {
		return false
	}
	s.lost = err
	return true
}

// keepalive probes the server, from the session's timer, every
// kaInterval; a failed probe, or none answered within three intervals,
// closes the client so Runs fail fast. A probe starts only while the
// session is open, and Close waits for one in flight.
func (s *sshSession) keepalive() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1) // under mu, before Close marks the session closed and waits
	s.mu.Unlock()
	defer s.wg.Done()
	wait := 3 * s.kaInterval
	reply := make(chan error, 1)
	go func() {
		// OpenSSH answers failure: ok=false, err=nil means alive.
		_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var dead error
	select {
	case <-s.done:
		return
	case err := <-reply:
		if err != nil {
			dead = fmt.Errorf("keepalive failed: %w", err)
		}
	case <-timer.C:
		dead = fmt.Errorf("server did not answer keepalives for %s", wait)
	}
	if dead == nil {
		s.mu.Lock()
		if !s.closed {
			s.kaTimer.Reset(s.kaInterval)
		}
		s.mu.Unlock()
		return
	}
	if s.markLost(dead) {
		s.log.Warn("ssh connection lost", "err", dead)
	}
	s.client.Close()
}

// Close closes the connection (and the jump hosts' and any proxy command,
// which is killed and reaped) and stops the keepalive.
func (s *sshSession) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if s.kaTimer != nil {
			s.kaTimer.Stop()
		}
		s.mu.Unlock()
		close(s.done)
		s.client.Close()
		for i := len(s.jumps) - 1; i >= 0; i-- {
			s.jumps[i].Close()
		}
		s.wg.Wait()
	})
	return nil
}

// hostTimeout is the host's connect and per-command timeout; a host that
// has none (built without the inventory's default) gets that default
// rather than no bound at all.
func hostTimeout(h *inventory.Host) time.Duration {
	if h.Timeout <= 0 {
		return inventory.DefaultTimeout
	}
	return h.Timeout
}

// sudoWrap runs cmd through sudo without a password prompt (-n), in sh so
// pipes and redirections apply to the privileged side.
func sudoWrap(cmd string) string {
	return "sudo -n -- sh -c " + ShellQuote(cmd)
}

// ShellQuote quotes s for a POSIX shell: in single quotes, each single
// quote inside closed, backslash-escaped and reopened.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// short quotes a command for an error message, cut to a readable length.
func short(cmd string) string {
	const max = 80
	if len(cmd) > max {
		cmd = cmd[:max] + "…"
	}
	return fmt.Sprintf("%q", cmd)
}
