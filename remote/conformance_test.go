package remote_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/lab"
	"github.com/fleettune/fleettune/remote"
	"github.com/fleettune/fleettune/remote/remotetest"
)

const suiteTimeout = time.Second

// dialTimeout bounds the suite's dials: a busy machine may take seconds
// for a handshake; the commands then run with the suite's timeout.
const dialTimeout = 30 * time.Second

// dial opens a Session to h with room for a slow handshake, then gives it
// h.Timeout as its per-command timeout.
func dial(t *testing.T, h *inventory.Host, o remote.Options) remote.Session {
	t.Helper()
	timeout := h.Timeout
	h.Timeout = dialTimeout
	s, err := remote.Dial(context.Background(), h, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	remote.SetCommandTimeout(s, timeout)
	return s
}

// The in-process x/crypto/ssh server.
func TestConformanceSSH(t *testing.T) {
	s := &remotetest.Suite{
		Host:    "web01",
		Timeout: suiteTimeout,
		NewSession: func(t *testing.T, timeout time.Duration) remotetest.Instance {
			h, o, drop := remote.ConformanceSSH(t)
			h.Timeout = timeout
			return remotetest.Instance{Session: dial(t, h, o), Break: drop}
		},
		Cmd: remotetest.Commands{
			Print:        func(out, err string, code int) string { return fmt.Sprintf("print %d %q %q", code, out, err) },
			Wait:         "wait",
			NotFound:     "fleettune-no-such-command",
			NotFoundExit: 127,
			Flood:        flood,
		},
	}
	s.RunTests(t)
}

// Real OpenSSH sshd, started per connection by the proxy command "sshd -i".
func TestConformanceRealSSHD(t *testing.T) {
	s := &remotetest.Suite{
		Host:    "web01",
		Timeout: suiteTimeout,
		NewSession: func(t *testing.T, timeout time.Duration) remotetest.Instance {
			h, kill := remote.RealSSHD(t)
			h.Timeout = timeout
			return remotetest.Instance{Session: dial(t, h, remote.Options{Getenv: func(string) string { return "" }}), Break: kill}
		},
		Cmd: remotetest.Commands{
			Print: func(out, err string, code int) string {
				return fmt.Sprintf("printf '%%s' %s; printf '%%s' %s >&2; exit %d", remote.ShellQuote(out), remote.ShellQuote(err), code)
			},
			// Prints while it waits, so it dies of SIGPIPE once its sshd
			// is gone instead of outliving the test.
			Wait:         "while echo .; do sleep 0.1; done",
			NotFound:     "fleettune-no-such-command",
			NotFoundExit: 127,
			Flood: func(n int, stderr bool) string {
				if stderr {
					return fmt.Sprintf("head -c %d /dev/zero >&2", n)
				}
				return fmt.Sprintf("head -c %d /dev/zero", n)
			},
		},
	}
	s.RunTests(t)
}

// confPOSIX answers the suite's own commands on a lab host served over
// SSH; the lab's shell does the rest (quotes, not-found).
type confPOSIX struct{}

func (confPOSIX) Boot(*lab.Host)          {}
func (confPOSIX) TimeWait() time.Duration { return 60 * time.Second }
func (confPOSIX) Command(c *lab.Call) (lab.Output, bool) {
	switch {
	case c.Argv[0] == "print" && len(c.Argv) == 4:
		code, err := strconv.Atoi(c.Argv[1])
		if err != nil {
			return lab.Output{Stderr: err.Error(), Code: 2}, true
		}
		return lab.Output{Stdout: c.Argv[2], Stderr: c.Argv[3], Code: code}, true
	case c.Argv[0] == "flood" && len(c.Argv) == 3:
		n, _ := strconv.Atoi(c.Argv[1])
		if c.Argv[2] == "err" {
			return lab.Output{Stderr: strings.Repeat("x", n)}, true
		}
		return lab.Output{Stdout: strings.Repeat("x", n)}, true
	case c.Argv[0] == winWait:
		return lab.Output{Stdout: "waited\n"}, true // after the lab's DelayOnly delay
	}
	return lab.Output{}, false
}

// The lab's own SSH server (lab/server.go), which the end-to-end tests of
// the emulated Unix hosts go through.
func TestConformanceLabSSH(t *testing.T) {
	s := &remotetest.Suite{
		Host:    "web01",
		Timeout: suiteTimeout,
		NewSession: func(t *testing.T, timeout time.Duration) remotetest.Instance {
			l, h, o := startLab(t, &lab.Host{Name: "web01", OS: "solaris", Files: map[string]string{}, Boots: 1, Emu: confPOSIX{}})
			h.Timeout = timeout
			return remotetest.Instance{Session: dial(t, h, o), Break: func() { l.Close() }}
		},
		Cmd: remotetest.Commands{
			Print: func(out, err string, code int) string {
				return fmt.Sprintf("print %d %s %s", code, remote.ShellQuote(out), remote.ShellQuote(err))
			},
			Wait:         winWait,
			NotFound:     "fleettune-no-such-command",
			NotFoundExit: 127,
			Flood:        flood,
		},
	}
	s.RunTests(t)
}

// startLab serves one host in a lab of its own, its one command
// winWait slow (until signalled), and returns the host as the lab's
// inventory describes it and the options to dial it with.
func startLab(t *testing.T, host *lab.Host) (*lab.Lab, *inventory.Host, remote.Options) {
	t.Helper()
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Hosts: []*lab.Host{host}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.SetFaults(host.Name, lab.Faults{Delay: time.Hour, DelayOnly: winWait}); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	h := inv.Host(host.Name)
	if h == nil {
		t.Fatalf("the lab's inventory has no %s", host.Name)
	}
	env := map[string]string{lab.PasswordEnv: l.Password()}
	return l, h, remote.Options{Getenv: func(k string) string { return env[k] }}
}

// confWindows is the suite's cmd.exe on the lab's WinRM endpoint: its own
// tiny interpreter (the lab's Shell hook), as the Windows emulator has.
type confWindows struct{}

func (confWindows) Command(*lab.Call) (lab.Output, bool) { return lab.Output{}, false }
func (confWindows) Boot(*lab.Host)                       {}
func (confWindows) TimeWait() time.Duration              { return 240 * time.Second }
func (confWindows) Shell(h *lab.Host, user, line string) lab.Output {
	var code int
	var out, errs string
	switch {
	case strings.HasPrefix(line, "print "):
		if _, err := fmt.Sscanf(line, "print %d %q %q", &code, &out, &errs); err != nil {
			return lab.Output{Stderr: err.Error(), Code: 2}
		}
		return lab.Output{Stdout: out, Stderr: errs, Code: code}
	case strings.HasPrefix(line, "flood "):
		var n int
		var stream string
		if _, err := fmt.Sscanf(line, "flood %d %s", &n, &stream); err != nil {
			return lab.Output{Stderr: err.Error(), Code: 2}
		}
		if stream == "err" {
			return lab.Output{Stderr: strings.Repeat("x", n)}
		}
		return lab.Output{Stdout: strings.Repeat("x", n)}
	case line == winWait:
		return lab.Output{Stdout: "waited\r\n"} // after the lab's DelayOnly delay
	}
	return lab.Output{Stderr: "'" + strings.Fields(line + " x")[0] + "' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", Code: 9009}
}

// winWait is the suite's Wait command on lab hosts.
const winWait = "fleettune-wait"

// flood is the Flood command of the test shells here.
func flood(n int, stderr bool) string {
	if stderr {
		return fmt.Sprintf("flood %d err", n)
	}
	return fmt.Sprintf("flood %d out", n)
}

// The lab's WS-Management endpoint (HTTPS, NTLM), one lab per test.
func TestConformanceWinRM(t *testing.T) {
	// A Run whose ctx ends in the middle waits for its command's own
	// outcome before it selects, as a busy scheduler makes it now and
	// then: the outcome must still come back wrapped with the host.
	remote.HoldWinRMRunsEndingSoon(t, 200*time.Millisecond)
	s := &remotetest.Suite{
		Host:    "web01",
		Timeout: suiteTimeout,
		NewSession: func(t *testing.T, timeout time.Duration) remotetest.Instance {
			l, h, o := startLab(t, &lab.Host{Name: "web01", OS: "windows", Files: map[string]string{}, Boots: 1, Emu: confWindows{}})
			h.Timeout = timeout
			// Break: the host goes away, every connection with it.
			return remotetest.Instance{Session: dial(t, h, o), Break: func() { l.Close() }}
		},
		Cmd: remotetest.Commands{
			Print:        func(out, err string, code int) string { return fmt.Sprintf("print %d %q %q", code, out, err) },
			Wait:         winWait,
			NotFound:     "fleettune-no-such-command",
			NotFoundExit: 9009,
			Flood:        flood,
		},
		// The lab answers a command's output in one message, which the
		// client caps at 1 MiB (base64 inside).
		FloodBelowCap: 512 << 10,
	}
	s.RunTests(t)
}
