package remote

// Test servers for the conformance suite (conformance_test.go, package
// remote_test, which may import remotetest: this package's own tests may
// not, remotetest imports remote).

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
)

// ConformanceSSH starts the in-process SSH server with conformanceHandler
// as its shell. It returns the host, the options to dial it with, and a
// func that drops every connection from the server's side.
func ConformanceSSH(t *testing.T) (*inventory.Host, Options, func()) {
	f := newFixture(t, serverConfig{handler: conformanceHandler})
	return f.host(), f.opts(), f.srv.dropConns
}

// RealSSHD is realSSHD for the suite: the host (proxy command "sshd -i",
// through sh so it leaves its pid behind) and a func that kills that sshd's
// process group, as a host that crashed.
func RealSSHD(t *testing.T) (*inventory.Host, func()) {
	h, _ := realSSHD(t)
	pidFile := filepath.Join(t.TempDir(), "sshd.pid")
	h.SSH.ProxyCommand = "sh -c " + ShellQuote("echo $$ >"+ShellQuote(pidFile)+"; exec "+h.SSH.ProxyCommand)
	return h, func() {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Errorf("no pid of the proxy command: %v", err)
			return
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			t.Errorf("pid file %q", b)
			return
		}
		// The proxy command leads a process group of its own (Setpgid):
		// this kills sshd and its privilege-separated children.
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill -%d: %v", pid, err)
		}
	}
}

// HoldWinRMRunsEndingSoon makes every WinRM Run whose ctx ends within
// `within` of starting its command wait, before it looks at the outcome,
// until ctx has ended and the command's outcome (exec's bare ctx.Err()) is
// in, so both are ready when it selects: the race behind unwrapped
// timeouts, made likely.
func HoldWinRMRunsEndingSoon(t *testing.T, within time.Duration) {
	testHookWinRMRunWait = holdUntilBothReady(within)
	t.Cleanup(func() { testHookWinRMRunWait = nil })
}

func holdUntilBothReady(within time.Duration) func(context.Context, func() bool) {
	return func(ctx context.Context, outcomeIn func() bool) {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) >= within {
			return
		}
		<-ctx.Done()
		for end := time.Now().Add(10 * time.Second); !outcomeIn() && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// SetCommandTimeout sets the per-command timeout of a Session dialed with
// a longer one: the suite dials with room for a slow handshake on a busy
// machine and then runs its commands with a short timeout.
func SetCommandTimeout(s Session, d time.Duration) {
	switch s := s.(type) {
	case *sshSession:
		s.timeout = d
	case *winrmSession:
		s.timeout = d
	}
}

// dropConns closes every connection the server holds (a host that went
// away), and keeps listening.
func (s *testServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// conformanceHandler is the suite's shell on the in-process server:
//
//	print CODE "OUT" "ERR"   → OUT on stdout, ERR on stderr, exit CODE (Go-quoted)
//	wait                     → until signalled or the channel closes, exit 143
//	flood N out|err          → N bytes on stdout or stderr, exit 0
//	anything else            → not found, exit 127
func conformanceHandler(ctx context.Context, cmd string, stdout, stderr io.Writer) int {
	var code, n int
	var out, errs, stream string
	switch {
	case strings.HasPrefix(cmd, "print "):
		if _, err := fmt.Sscanf(cmd, "print %d %q %q", &code, &out, &errs); err != nil {
			fmt.Fprintf(stderr, "print: %v\n", err)
			return 2
		}
		io.WriteString(stdout, out)
		io.WriteString(stderr, errs)
		return code
	case cmd == "wait":
		<-ctx.Done()
		return 143
	case strings.HasPrefix(cmd, "flood "):
		if _, err := fmt.Sscanf(cmd, "flood %d %s", &n, &stream); err != nil {
			return 2
		}
		w := stdout
		if stream == "err" {
			w = stderr
		}
		chunk := make([]byte, 32<<10)
		for i := range chunk {
			chunk[i] = 'x'
		}
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return 141
			}
			n -= k
		}
		return 0
	}
	fmt.Fprintf(stderr, "sh: 1: %s: not found\n", strings.Fields(cmd + " x")[0])
	return 127
}
