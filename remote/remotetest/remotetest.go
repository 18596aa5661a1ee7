// Package remotetest is the conformance suite every remote.Session
// implementation runs: exit codes, stdout and stderr kept apart, timeout and
// cancel errors wrapped with the host, concurrent Runs, Close twice, a
// connection lost in the middle of a command, and the output cap. Each
// transport fills a Suite with callbacks to its own test host and calls
// RunTests (the shape of restic's internal/backend/test).
package remotetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

// Instance is one Session opened for one test, and the way to break it.
type Instance struct {
	Session remote.Session
	// Break cuts the connection under Session from the far side, as a host
	// that crashed or a network that failed would. Commands in flight must
	// then fail with a clear error, and promptly. nil skips the test that
	// needs it.
	Break func()
}

// Commands say things in the test host's shell. Every command must be
// short-lived unless said otherwise.
type Commands struct {
	// Print writes stdout to standard output and stderr to standard error
	// (both plain ASCII letters, digits and spaces, no newline added) and
	// exits with code.
	Print func(stdout, stderr string, code int) string
	// Wait runs until it is signalled or its connection goes away, far
	// longer than Suite.Timeout. It may print a little while it waits.
	Wait string
	// NotFound is a command the host does not have, and NotFoundExit the
	// exit code its shell gives it (127 for a POSIX shell, 9009 for cmd.exe).
	NotFound     string
	NotFoundExit int
	// Flood writes n bytes to standard output (stderr false) or standard
	// error (stderr true), then exits 0. nil skips the output-cap test.
	Flood func(n int, stderr bool) string
}

// Suite is the conformance suite for one transport.
type Suite struct {
	// Host is the name every error of the Sessions must carry.
	Host string
	// Timeout is the per-command timeout of the Sessions NewSession opens
	// (inventory timeout); keep it short (about a second).
	Timeout time.Duration
	// NewSession opens a Session to a test host for one test, with timeout
	// as the per-command timeout (Timeout, or longer for the tests that move
	// a lot of output). The suite closes it; anything else it starts is the
	// callback's to clean up (t.Cleanup).
	NewSession func(t *testing.T, timeout time.Duration) Instance
	Cmd        Commands
	// FloodBelowCap is the largest output the output-cap test expects
	// through unharmed; 0 means remote.MaxOutput itself. A transport whose
	// wire messages have a smaller limit of their own (WinRM's) sets it
	// lower.
	FloodBelowCap int
}

// RunTests runs every test of the suite as a subtest of t.
func (s *Suite) RunTests(t *testing.T) {
	t.Helper()
	tests := []struct {
		name string
		f    func(*testing.T)
	}{
		{"ExitCodes", s.testExitCodes},
		{"StdoutStderrApart", s.testStreamsApart},
		{"SessionTimeout", s.testSessionTimeout},
		{"CallerDeadline", s.testCallerDeadline},
		{"CallerCancel", s.testCallerCancel},
		{"AlreadyDoneContext", s.testAlreadyDone},
		{"DeadlineDuringRun", s.testDeadlineDuringRun},
		{"ConcurrentRuns", s.testConcurrent},
		{"CloseTwice", s.testCloseTwice},
		{"ConnectionLost", s.testConnectionLost},
		{"OutputCap", s.testOutputCap},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.f)
	}
}

func (s *Suite) open(t *testing.T) Instance {
	t.Helper()
	return s.openWith(t, s.Timeout)
}

func (s *Suite) openWith(t *testing.T, timeout time.Duration) Instance {
	t.Helper()
	in := s.NewSession(t, timeout)
	if in.Session == nil {
		t.Fatal("NewSession returned no Session")
	}
	t.Cleanup(func() { _ = in.Session.Close() })
	return in
}

// run is Run bounded by a watchdog, so a hanging transport fails the test
// instead of the whole test binary.
func (s *Suite) run(t *testing.T, sess remote.Session, ctx context.Context, cmd string, limit time.Duration) (remote.Result, error, time.Duration) {
	t.Helper()
	type out struct {
		res remote.Result
		err error
	}
	ch := make(chan out, 1)
	start := time.Now()
	go func() {
		res, err := sess.Run(ctx, cmd)
		ch <- out{res, err}
	}()
	select {
	case o := <-ch:
		return o.res, o.err, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("Run(%q) did not return within %v", cmd, limit)
		return remote.Result{}, nil, 0
	}
}

// slack is how long past a deadline Run may take to return.
func (s *Suite) slack() time.Duration { return 2*s.Timeout + 3*time.Second }

// wantWrapped fails unless err is a *remote.Error naming the host, whose
// text names it too, and that matches every one of is.
func (s *Suite) wantWrapped(t *testing.T, what string, err error, is ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: err = nil, want an error", what)
	}
	var re *remote.Error
	if !errors.As(err, &re) {
		t.Fatalf("%s: err = %v (%T), want a *remote.Error (the host is lost otherwise)", what, err, err)
	}
	if re.Host != s.Host {
		t.Errorf("%s: Error.Host = %q, want %q", what, re.Host, s.Host)
	}
	if !strings.Contains(err.Error(), s.Host) {
		t.Errorf("%s: error %q does not name the host %s", what, err, s.Host)
	}
	for _, target := range is {
		if !errors.Is(err, target) {
			t.Errorf("%s: error %q does not match %v (errors.Is)", what, err, target)
		}
	}
}

// wantUsable fails unless sess still runs a command.
func (s *Suite) wantUsable(t *testing.T, sess remote.Session, after string) {
	t.Helper()
	cmd := s.Cmd.Print("still here", "", 0)
	res, err, _ := s.run(t, sess, context.Background(), cmd, s.slack())
	if err != nil || string(res.Stdout) != "still here" || res.ExitCode != 0 {
		t.Errorf("after %s, Run(%q) = %q, exit %d, %v; want the session still usable", after, cmd, res.Stdout, res.ExitCode, err)
	}
}

func (s *Suite) testExitCodes(t *testing.T) {
	in := s.open(t)
	for _, code := range []int{0, 3, 127} {
		cmd := s.Cmd.Print("out", "err", code)
		res, err, _ := s.run(t, in.Session, context.Background(), cmd, s.slack())
		if err != nil {
			t.Fatalf("Run(%q): %v (a non-zero exit is not an error)", cmd, err)
		}
		if res.ExitCode != code {
			t.Errorf("Run(%q) exit = %d, want %d", cmd, res.ExitCode, code)
		}
	}
	res, err, _ := s.run(t, in.Session, context.Background(), s.Cmd.NotFound, s.slack())
	if err != nil || res.ExitCode != s.Cmd.NotFoundExit || len(res.Stderr) == 0 {
		t.Errorf("Run(%q) = exit %d, stderr %q, %v; want exit %d and a message on stderr",
			s.Cmd.NotFound, res.ExitCode, res.Stderr, err, s.Cmd.NotFoundExit)
	}
}

func (s *Suite) testStreamsApart(t *testing.T) {
	in := s.open(t)
	for _, tc := range []struct{ out, err string }{
		{"only stdout", ""},
		{"", "only stderr"},
		{"to stdout", "to stderr"},
	} {
		cmd := s.Cmd.Print(tc.out, tc.err, 5)
		res, err, _ := s.run(t, in.Session, context.Background(), cmd, s.slack())
		if err != nil || string(res.Stdout) != tc.out || string(res.Stderr) != tc.err || res.ExitCode != 5 {
			t.Errorf("Run(%q) = stdout %q, stderr %q, exit %d, %v; want %q, %q, 5",
				cmd, res.Stdout, res.Stderr, res.ExitCode, err, tc.out, tc.err)
		}
	}
}

func (s *Suite) testSessionTimeout(t *testing.T) {
	in := s.open(t)
	res, err, took := s.run(t, in.Session, context.Background(), s.Cmd.Wait, s.Timeout+s.slack())
	s.wantWrapped(t, "a command past the session's timeout", err, remote.ErrTimeout, context.DeadlineExceeded)
	if errors.Is(err, context.Canceled) {
		t.Errorf("timeout error %q also matches context.Canceled", err)
	}
	if took < s.Timeout-50*time.Millisecond || took > s.Timeout+s.slack() {
		t.Errorf("Run took %v with a timeout of %v", took, s.Timeout)
	}
	if res.ExitCode == 0 {
		t.Errorf("a timed-out command reports exit 0 (%+v): a caller could take it for success", res)
	}
	s.wantUsable(t, in.Session, "a timeout")
}

func (s *Suite) testCallerDeadline(t *testing.T) {
	in := s.open(t)
	d := s.Timeout / 4
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err, took := s.run(t, in.Session, ctx, s.Cmd.Wait, s.slack())
	s.wantWrapped(t, "a command past the caller's deadline", err, remote.ErrTimeout, context.DeadlineExceeded)
	if took > d+s.slack() {
		t.Errorf("Run took %v with a caller deadline of %v", took, d)
	}
	s.wantUsable(t, in.Session, "the caller's deadline")
}

func (s *Suite) testCallerCancel(t *testing.T) {
	in := s.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(s.Timeout/4, cancel)
	_, err, took := s.run(t, in.Session, ctx, s.Cmd.Wait, s.slack())
	s.wantWrapped(t, "a cancelled command", err, context.Canceled)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancel error %q matches context.DeadlineExceeded", err)
	}
	if took > s.Timeout/4+s.slack() {
		t.Errorf("Run took %v after a cancel at %v", took, s.Timeout/4)
	}
	s.wantUsable(t, in.Session, "a cancel")
}

// testAlreadyDone runs with contexts that are done before Run starts, many
// times: each gives the wrapped context error (and should run nothing); a
// transport that raced its result against ctx.Done() returned a bare
// context error, or even success, now and then.
func (s *Suite) testAlreadyDone(t *testing.T) {
	in := s.open(t)
	cmd := s.Cmd.Print("x", "", 0)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for i := range 25 {
		_, err, _ := s.run(t, in.Session, cancelled, cmd, s.slack())
		s.wantWrapped(t, fmt.Sprintf("run %d with a cancelled ctx", i), err, context.Canceled)
		_, err, _ = s.run(t, in.Session, expired, cmd, s.slack())
		s.wantWrapped(t, fmt.Sprintf("run %d with an expired ctx", i), err, context.DeadlineExceeded)
		if t.Failed() {
			return
		}
	}
	s.wantUsable(t, in.Session, "runs with done contexts")
}

// testDeadlineDuringRun ends the caller's ctx a moment after each Run
// starts, many times: whatever the transport's command returned as ctx
// ended, the error is wrapped with the host and matches the deadline.
func (s *Suite) testDeadlineDuringRun(t *testing.T) {
	in := s.open(t)
	for i := range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err, _ := s.run(t, in.Session, ctx, s.Cmd.Wait, s.slack())
		cancel()
		s.wantWrapped(t, fmt.Sprintf("run %d with a 20ms deadline", i), err, remote.ErrTimeout, context.DeadlineExceeded)
		if t.Failed() {
			return
		}
	}
	s.wantUsable(t, in.Session, "runs cut by their deadline")
}

func (s *Suite) testConcurrent(t *testing.T) {
	in := s.open(t)
	const n = 12 // more than OpenSSH's default MaxSessions (10)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			want := fmt.Sprintf("run %d", i)
			cmd := s.Cmd.Print(want, fmt.Sprintf("err %d", i), i%4)
			res, err := in.Session.Run(context.Background(), cmd)
			if err != nil || string(res.Stdout) != want || string(res.Stderr) != fmt.Sprintf("err %d", i) || res.ExitCode != i%4 {
				errs <- fmt.Errorf("concurrent Run(%q) = %q, %q, exit %d, %v", cmd, res.Stdout, res.Stderr, res.ExitCode, err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(n * s.slack()):
		t.Fatal("concurrent Runs did not all return")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (s *Suite) testCloseTwice(t *testing.T) {
	in := s.NewSession(t, s.Timeout)
	if err := in.Session.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- in.Session.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("second Close: %v, want nil", err)
		}
	case <-time.After(s.slack()):
		t.Fatal("second Close hangs")
	}
	_, err, _ := s.run(t, in.Session, context.Background(), s.Cmd.Print("x", "", 0), s.slack())
	s.wantWrapped(t, "Run after Close", err, remote.ErrConnLost)
}

func (s *Suite) testConnectionLost(t *testing.T) {
	in := s.open(t)
	if in.Break == nil {
		t.Skip("this transport cannot break its connection in tests")
	}
	type out struct {
		err  error
		took time.Duration
	}
	ch := make(chan out, 1)
	// A long timeout: the error must come from the loss, not the clock.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		start := time.Now()
		_, err := in.Session.Run(ctx, s.Cmd.Wait)
		ch <- out{err, time.Since(start)}
	}()
	time.Sleep(s.Timeout / 3) // the command is under way
	in.Break()
	var o out
	select {
	case o = <-ch:
	case <-time.After(s.Timeout + s.slack()):
		t.Fatal("a command whose connection was lost did not return (hang)")
	}
	if o.err == nil {
		t.Fatal("a command whose connection was lost returned no error")
	}
	if errors.Is(o.err, context.DeadlineExceeded) || errors.Is(o.err, context.Canceled) {
		t.Errorf("lost connection reported as %q: a timeout, not the loss", o.err)
	}
	if !errors.Is(o.err, remote.ErrConnLost) && !errors.Is(o.err, remote.ErrTimeout) {
		t.Errorf("lost connection error %q is neither ErrConnLost nor ErrTimeout", o.err)
	}
	s.wantWrapped(t, "a lost connection", o.err)
	// Later commands fail too, promptly and clearly (or, for a transport
	// that reconnects, succeed); they never hang.
	_, err, _ := s.run(t, in.Session, context.Background(), s.Cmd.Print("x", "", 0), s.Timeout+s.slack())
	if err != nil {
		s.wantWrapped(t, "Run after the connection was lost", err)
	}
}

// floodTimeout is the per-command timeout of the output-cap test's session.
const floodTimeout = 30 * time.Second

func (s *Suite) testOutputCap(t *testing.T) {
	if s.Cmd.Flood == nil {
		t.Skip("no Flood command")
	}
	in := s.openWith(t, floodTimeout) // moving megabytes is slow under -race
	below := s.FloodBelowCap
	if below == 0 {
		below = remote.MaxOutput
	}
	for _, stderr := range []bool{false, true} {
		stream := map[bool]string{false: "stdout", true: "stderr"}[stderr]
		res, err, _ := s.run(t, in.Session, context.Background(), s.Cmd.Flood(below, stderr), 2*floodTimeout)
		got := map[bool][]byte{false: res.Stdout, true: res.Stderr}[stderr]
		if err != nil || len(got) != below || res.ExitCode != 0 {
			t.Errorf("%d bytes on %s: got %d bytes, exit %d, %v; want them all", below, stream, len(got), res.ExitCode, err)
		}
		res, err, _ = s.run(t, in.Session, context.Background(), s.Cmd.Flood(remote.MaxOutput+1<<20, stderr), 2*floodTimeout)
		s.wantWrapped(t, "output past the cap on "+stream, err, remote.ErrOutputTooLarge)
		if err != nil && !strings.Contains(err.Error(), "limit of") {
			t.Errorf("output cap error %q does not name the limit", err)
		}
		if len(res.Stdout) > remote.MaxOutput || len(res.Stderr) > remote.MaxOutput {
			t.Errorf("Result holds %d+%d bytes, past the cap of %d", len(res.Stdout), len(res.Stderr), remote.MaxOutput)
		}
		s.wantUsable(t, in.Session, "output past the cap on "+stream)
	}
}
