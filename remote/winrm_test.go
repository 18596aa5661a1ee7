package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/lab"
)

// winCmd is a test emulator with its own command interpreter, as the lab's
// Windows emulator has.
type winCmd struct{}

func (winCmd) Command(*lab.Call) (lab.Output, bool) { return lab.Output{}, false }
func (winCmd) Boot(*lab.Host)                       {}
func (winCmd) TimeWait() time.Duration              { return 240 * time.Second }
func (winCmd) Shell(h *lab.Host, user, line string) lab.Output {
	switch {
	case line == "whoami":
		return lab.Output{Stdout: strings.ToLower(h.Name + `\` + user + "\r\n")}
	case strings.HasPrefix(line, "flood "):
		n, _ := strconv.Atoi(line[len("flood "):])
		return lab.Output{Stdout: strings.Repeat("x", n)}
	case strings.HasPrefix(line, "flooderr "):
		n, _ := strconv.Atoi(line[len("flooderr "):])
		return lab.Output{Stdout: "fine", Stderr: strings.Repeat("x", n)}
	case strings.HasPrefix(line, "echo "):
		return lab.Output{Stdout: line[len("echo "):] + "\r\n"}
	case strings.HasPrefix(line, "exit /b "):
		n, _ := strconv.Atoi(line[len("exit /b "):])
		return lab.Output{Stdout: "out\r\n", Stderr: "err " + strconv.Itoa(n) + "\r\n", Code: n}
	}
	return lab.Output{Stderr: "not recognized\r\n", Code: 9009}
}

type winFixture struct {
	lab *lab.Lab
	env map[string]string
}

const winName = "web01" // wantKind checks Error.Host against it

func newWinFixture(t *testing.T, o lab.Options) *winFixture {
	t.Helper()
	o.Hosts = []*lab.Host{{Name: winName, OS: "windows", Files: map[string]string{}, Boots: 1, Emu: winCmd{}}}
	o.Dir = t.TempDir()
	l, err := lab.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &winFixture{lab: l, env: map[string]string{lab.PasswordEnv: l.Password()}}
}

// host is the host as the lab's own inventory describes it.
func (f *winFixture) host(t *testing.T) *inventory.Host {
	t.Helper()
	inv, err := inventory.Load(f.lab.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	h := inv.Host(winName)
	if h == nil {
		t.Fatal("lab inventory has no " + winName)
	}
	h.Timeout = 5 * time.Second
	return h
}

func (f *winFixture) opts(connects *atomic.Int32) Options {
	return Options{
		Getenv: func(k string) string { return f.env[k] },
		OnConnect: func(string) {
			if connects != nil {
				connects.Add(1)
			}
		},
	}
}

func (f *winFixture) dial(t *testing.T, h *inventory.Host) Session {
	t.Helper()
	s, err := Dial(context.Background(), h, f.opts(nil))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestWinRMRunAndShellReuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    lab.Options
	}{
		{"https ntlm", lab.Options{}},
		{"https basic", lab.Options{WinRMAuth: "basic"}},
		{"http ntlm", lab.Options{WinRMHTTP: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newWinFixture(t, tc.o)
			h := f.host(t)
			if h.Transport != "winrm" || h.OS != "windows" || h.User != "Administrator" || h.WinRM.HTTPS == tc.o.WinRMHTTP {
				t.Fatalf("lab inventory host = %+v", h)
			}
			var connects atomic.Int32
			s, err := Dial(context.Background(), h, f.opts(&connects))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			want := []struct {
				cmd  string
				want Result
			}{
				{"whoami", Result{Stdout: []byte("web01\\administrator\r\n"), Stderr: []byte{}, ExitCode: 0}},
				{"echo a&b <c> \"d\"", Result{Stdout: []byte("a&b <c> \"d\"\r\n"), Stderr: []byte{}, ExitCode: 0}},
				{"exit /b 3", Result{Stdout: []byte("out\r\n"), Stderr: []byte("err 3\r\n"), ExitCode: 3}},
				{"nosuch", Result{Stdout: []byte{}, Stderr: []byte("not recognized\r\n"), ExitCode: 9009}},
				{"exit /b 0", Result{Stdout: []byte("out\r\n"), Stderr: []byte("err 0\r\n"), ExitCode: 0}},
			}
			for _, w := range want {
				got, err := s.Run(context.Background(), w.cmd)
				if err != nil || !bytes.Equal(got.Stdout, w.want.Stdout) || !bytes.Equal(got.Stderr, w.want.Stderr) || got.ExitCode != w.want.ExitCode {
					t.Errorf("Run(%q) = %q, %q, %d, %v; want %q, %q, %d", w.cmd, got.Stdout, got.Stderr, got.ExitCode, err,
						w.want.Stdout, w.want.Stderr, w.want.ExitCode)
				}
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			st, _ := f.lab.WinRMStats(winName)
			if st.Creates != 1 || st.Deletes != 1 || st.Commands != len(want) || st.OpenShells != 0 {
				t.Errorf("server saw %+v; want 1 Create, 1 Delete, %d commands, no shell left", st, len(want))
			}
			if n := f.lab.Connections(winName); n > 2 || int(connects.Load()) != n {
				t.Errorf("%d TCP connections (client counted %d); want at most 2, counted alike", n, connects.Load())
			}
			deadline := time.Now().Add(2 * time.Second)
			for f.lab.OpenConnections(winName) != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := f.lab.OpenConnections(winName); n != 0 {
				t.Errorf("%d connections left open after Close", n)
			}
			if _, err := s.Run(context.Background(), "whoami"); !errors.Is(err, ErrConnLost) {
				t.Errorf("Run after Close: %v; want ErrConnLost", err)
			}
		})
	}
}

func TestWinRMCertificates(t *testing.T) {
	f := newWinFixture(t, lab.Options{})

	// The lab's CA, checked strictly, with the name the certificate has.
	h := f.host(t)
	h.WinRM.ServerName = "localhost"
	f.dial(t, h)

	// No ca_file: the system roots do not know the lab's CA.
	h = f.host(t)
	h.WinRM.CAFile = ""
	_, err := Dial(context.Background(), h, f.opts(nil))
	wantKind(t, err, ErrHostKey, "not trusted", "unknown authority", "set winrm.ca_file")

	// A name the certificate does not carry.
	h = f.host(t)
	h.WinRM.ServerName = "win01.corp.example.com"
	_, err = Dial(context.Background(), h, f.opts(nil))
	wantKind(t, err, ErrHostKey, "not trusted", `not "win01.corp.example.com"`, "localhost", "127.0.0.1", "set winrm.server_name")

	// A host that presents another CA's certificate: one clear error, no retry.
	if err := f.lab.SetBadCertificate(winName, true); err != nil {
		t.Fatal(err)
	}
	var connects atomic.Int32
	_, err = Dial(context.Background(), f.host(t), f.opts(&connects))
	wantKind(t, err, ErrHostKey, "unknown authority", "did not sign it")
	if errors.Is(err, ErrAuth) || errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "attempts") {
		t.Errorf("bad certificate error %q is of another kind too or was retried", err)
	}
	if connects.Load() != 1 {
		t.Errorf("%d connections for a bad certificate; want 1 (no retry)", connects.Load())
	}

	// insecure_skip_verify accepts it, and says so at WARN on every dial.
	var logs bytes.Buffer
	o := f.opts(nil)
	o.Logger = log.NewWithOptions(&logs, log.Options{Level: log.WarnLevel})
	h = f.host(t)
	h.WinRM.InsecureSkipVerify = true
	for range 2 {
		s, err := Dial(context.Background(), h, o)
		if err != nil {
			t.Fatalf("insecure_skip_verify: %v", err)
		}
		s.Close()
	}
	if n := strings.Count(logs.String(), "certificate checking is OFF for "+winName); n != 2 {
		t.Errorf("warnings %q; want one per dial", logs.String())
	}
}

func TestWinRMWrongPassword(t *testing.T) {
	for _, auth := range []string{"ntlm", "basic"} {
		t.Run(auth, func(t *testing.T) {
			f := newWinFixture(t, lab.Options{WinRMAuth: auth})
			f.env[lab.PasswordEnv] = "not-" + f.lab.Password()
			var connects atomic.Int32
			_, err := Dial(context.Background(), f.host(t), f.opts(&connects))
			wantKind(t, err, ErrAuth, "authentication failed for Administrator: wrong password or account?", "auth "+auth, "$"+lab.PasswordEnv)
			if strings.Contains(err.Error(), f.env[lab.PasswordEnv]) || strings.Contains(err.Error(), "attempts") {
				t.Errorf("error %q shows the password or was retried", err)
			}
			if st, _ := f.lab.WinRMStats(winName); st.Creates != 0 {
				t.Errorf("a shell was created with a wrong password")
			}
			// RejectAuth refuses the right password too.
			f.env[lab.PasswordEnv] = f.lab.Password()
			_ = f.lab.SetFaults(winName, lab.Faults{RejectAuth: true})
			_, err = Dial(context.Background(), f.host(t), f.opts(nil))
			wantKind(t, err, ErrAuth, "wrong password or account?")
		})
	}
}

func TestWinRMPasswordEnvMissing(t *testing.T) {
	var connects atomic.Int32
	h := &inventory.Host{Name: winName, Address: "127.0.0.1", Transport: "winrm", User: "Administrator",
		WinRM: inventory.WinRM{Port: 1, HTTPS: true, Auth: "ntlm", PasswordEnv: "FLEETTUNE_TEST_NO_SUCH_VAR"}}
	o := Options{Getenv: func(string) string { return "" }, OnConnect: func(string) { connects.Add(1) }}
	_, err := Dial(context.Background(), h, o)
	wantKind(t, err, ErrAuth, "FLEETTUNE_TEST_NO_SUCH_VAR", "empty or unset")
	h.WinRM.PasswordEnv = ""
	_, err = Dial(context.Background(), h, o)
	wantKind(t, err, ErrAuth, "password_env")
	if connects.Load() != 0 {
		t.Errorf("%d connections without a password; want none", connects.Load())
	}
}

func TestWinRMRefusedIsRetriedThenUnreachable(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	if err := f.lab.SetFaults(winName, lab.Faults{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	o := f.opts(nil)
	o.Logger = log.NewWithOptions(&logs, log.Options{Level: log.DebugLevel})
	start := time.Now()
	_, err := Dial(context.Background(), f.host(t), o)
	wantKind(t, err, ErrUnreachable, "connection refused", "(after 4 attempts)", "127.0.0.1:"+strconv.Itoa(f.lab.Port(winName)))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err does not wrap ECONNREFUSED: %v", err)
	}
	if d := time.Since(start); d < 1200*time.Millisecond || d > 4*time.Second {
		t.Errorf("took %v; want the SSH backoff (~1.4s + jitter)", d)
	}
	if n := strings.Count(logs.String(), "retrying"); n != 3 {
		t.Errorf("%d retries logged; want 3", n)
	}

	// A host that comes back within the retries is reached.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = f.lab.SetFaults(winName, lab.Faults{})
	}()
	s, err := Dial(context.Background(), f.host(t), f.opts(nil))
	if err != nil {
		t.Fatalf("host back during retries: %v", err)
	}
	s.Close()
}

func TestWinRMTimeoutCutsADelay(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	h := f.host(t)
	h.Timeout = 2 * time.Second
	s := f.dial(t, h)
	if err := f.lab.SetFaults(winName, lab.Faults{Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// The caller's ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := s.Run(ctx, "whoami")
	wantKind(t, err, ErrTimeout, "whoami")
	if !errors.Is(err, context.DeadlineExceeded) || res.ExitCode != -1 {
		t.Errorf("Run = %+v, %v; want exit -1 and deadline exceeded (never the exit 0 of a cancelled command)", res, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %v with a 300ms ctx", d)
	}
	// The host's own timeout.
	start = time.Now()
	_, err = s.Run(context.Background(), "whoami")
	wantKind(t, err, ErrTimeout, "did not finish within 2s")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v with a 2s host timeout", d)
	}
	// The shell survives: the delayed commands were signalled.
	_ = f.lab.SetFaults(winName, lab.Faults{})
	res, err = s.Run(context.Background(), "echo again")
	if err != nil || string(res.Stdout) != "again\r\n" {
		t.Errorf("after timeouts: %q, %v", res.Stdout, err)
	}
	if st, _ := f.lab.WinRMStats(winName); st.Creates != 1 || st.Signals < 3 {
		t.Errorf("server saw %+v; want one shell, every command signalled", st)
	}
}

func TestWinRMConcurrentRuns(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	s := f.dial(t, f.host(t))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("n%d", i)
			res, err := s.Run(context.Background(), "echo "+want)
			if err != nil || string(res.Stdout) != want+"\r\n" {
				errs <- fmt.Errorf("run %d: %q, %v", i, res.Stdout, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st, _ := f.lab.WinRMStats(winName); st.Creates != 1 || st.Commands != 16 {
		t.Errorf("server saw %+v; want 16 commands in one shell", st)
	}
}

// A host that loses the shell (a reboot, or someone deleting it) fails the
// command with ErrConnLost, promptly, instead of polling for ever.
func TestWinRMShellLostMidRun(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	h := f.host(t)
	h.Timeout = 10 * time.Second
	s := f.dial(t, h)
	// Delete the shell behind the session's back, as an administrator
	// (or a reboot) would.
	ws := s.(*winrmSession)
	if err := ws.shell.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Run(context.Background(), "whoami")
	wantKind(t, err, ErrConnLost, "the shell was not found")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestWinRMUnreachableAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A listener that answers plain HTTP where HTTPS is expected.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	defer ln.Close()
	h := &inventory.Host{Name: winName, Address: "127.0.0.1", Transport: "winrm", User: "Administrator", Timeout: 2 * time.Second,
		WinRM: inventory.WinRM{Port: ln.Addr().(*net.TCPAddr).Port, HTTPS: true, Auth: "ntlm", PasswordEnv: "PW"}}
	o := Options{Getenv: func(string) string { return "x" }}
	_, err = Dial(context.Background(), h, o)
	wantKind(t, err, ErrUnreachable, "answers plain HTTP, not HTTPS")
}

// Run must wrap a timeout with the host even when the command's own error
// (the bare ctx.Err() of exec) is ready at the same moment as ctx.Done():
// the hook holds Run until both are, so its select picks either at random.
func TestWinRMContextErrorAlwaysWrapped(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	h := f.host(t)
	h.Timeout = 2 * time.Second // polls of 1s: each held Run waits one out
	s := f.dial(t, h)
	if err := f.lab.SetFaults(winName, lab.Faults{Delay: time.Hour, DelayOnly: "echo slow"}); err != nil {
		t.Fatal(err)
	}
	testHookWinRMRunWait = holdUntilBothReady(time.Second)
	t.Cleanup(func() { testHookWinRMRunWait = nil })
	for i := range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := s.Run(ctx, "echo slow")
		cancel()
		wantKind(t, err, ErrTimeout, `"echo slow"`)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("run %d: %v, want context.DeadlineExceeded", i, err)
		}
	}
}

// A host that answers a huge message (8 MiB) is read no further than
// winrmMaxMessage: the command fails with ErrOutputTooLarge naming the
// limit, and the shell goes on.
func TestWinRMHugeAnswerIsCut(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	h := f.host(t)
	h.Timeout = 30 * time.Second // the lab encodes the whole answer first, slowly under -race
	s := f.dial(t, h)
	// Windows splits output by MaxEnvelopeSize; a broken host or proxy
	// that sends it all in one message is cut at 1 MiB.
	if err := f.lab.SetFaults(winName, lab.Faults{WholeReceive: true}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), "flood 8388608")
	wantKind(t, err, ErrOutputTooLarge, `"flood 8388608"`, "more than the limit of 1 MiB in one WS-Management message")
	if res.Stdout != nil || res.ExitCode != -1 {
		t.Errorf("Result = %d bytes, exit %d; want nothing, -1", len(res.Stdout), res.ExitCode)
	}
	res, err = s.Run(context.Background(), "echo after")
	if err != nil || string(res.Stdout) != "after\r\n" {
		t.Errorf("Run after a huge answer = %q, %v", res.Stdout, err)
	}
	if st, _ := f.lab.WinRMStats(winName); st.Creates != 1 || st.Signals != 2 {
		t.Errorf("server saw %+v; want the one shell kept and both commands signalled", st)
	}
}

// Past MaxOutput on one stream, the command fails with ErrOutputTooLarge,
// what is already in flight is read into nothing (the library blocks on
// its pipes otherwise) and the command is signalled. The lab, like Windows,
// sends the output in envelope-sized pieces, so it is the stream cap that
// acts, not the 1 MiB message cap.
func TestWinRMStreamCap(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	h := f.host(t)
	h.Timeout = 30 * time.Second
	s := f.dial(t, h)
	for _, tc := range []struct{ cmd, stream string }{
		{fmt.Sprintf("flood %d", MaxOutput+1), "stdout"},
		{fmt.Sprintf("flooderr %d", MaxOutput+100<<10), "stderr"},
	} {
		res, err := s.Run(context.Background(), tc.cmd)
		wantKind(t, err, ErrOutputTooLarge, tc.stream+" passed the limit of 4 MiB", "the rest was not read")
		if res.Stdout != nil || res.Stderr != nil || res.ExitCode != -1 {
			t.Errorf("%s: Result = %d, %d bytes, exit %d; want nothing, -1", tc.cmd, len(res.Stdout), len(res.Stderr), res.ExitCode)
		}
	}
	res, err := s.Run(context.Background(), fmt.Sprintf("flood %d", MaxOutput))
	if err != nil || len(res.Stdout) != MaxOutput {
		t.Errorf("exactly MaxOutput: %d bytes, %v", len(res.Stdout), err)
	}
	if st, _ := f.lab.WinRMStats(winName); st.Creates != 1 || st.Signals < 3 {
		t.Errorf("server saw %+v; want one shell, every command signalled", st)
	}
}

// A host that answers every Receive at once with nothing (Windows would
// wait for output) is not polled as fast as the network allows: after a
// few such answers the polls slow down, and the command still ends at its
// timeout.
func TestWinRMEagerReceiveIsPaced(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	h := f.host(t)
	h.Timeout = 2 * time.Second
	s := f.dial(t, h)
	if err := f.lab.SetFaults(winName, lab.Faults{EagerReceive: true, Delay: time.Hour, DelayOnly: "whoami"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Run(context.Background(), "whoami")
	wantKind(t, err, ErrTimeout, "did not finish within 2s")
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Run took %v with a 2s timeout", d)
	}
	st, _ := f.lab.WinRMStats(winName)
	if st.Receives > 40 {
		t.Errorf("%d Receives in 2s to a host answering at once; want the polls paced (under 40)", st.Receives)
	}
	t.Logf("%d Receives in %v", st.Receives, time.Since(start))
	// A host that answers normally again is polled normally: the command
	// is quick once its delay is gone.
	_ = f.lab.SetFaults(winName, lab.Faults{})
	if res, err := s.Run(context.Background(), "echo back"); err != nil || string(res.Stdout) != "back\r\n" {
		t.Errorf("after the eager host: %q, %v", res.Stdout, err)
	}
}

// A command cut short by its ctx does not hold the shell for the rest of
// the Receive long poll it was in (up to half the host's timeout): the
// poll's connection is closed, the command signalled, and the next
// command runs at once.
func TestWinRMCancelEndsTheLongPoll(t *testing.T) {
	f := newWinFixture(t, lab.Options{})
	h := f.host(t)
	h.Timeout = 20 * time.Second // Receives long-poll for 10s
	s := f.dial(t, h)
	if err := f.lab.SetFaults(winName, lab.Faults{Delay: time.Hour, DelayOnly: "echo slow"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := s.Run(ctx, "echo slow")
	wantKind(t, err, ErrTimeout, "context deadline exceeded")
	start := time.Now()
	res, err := s.Run(context.Background(), "echo next")
	if err != nil || string(res.Stdout) != "next\r\n" {
		t.Fatalf("next Run = %q, %v", res.Stdout, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the next command waited %v: the cut command's 10s poll held the shell", d)
	}
	if st, _ := f.lab.WinRMStats(winName); st.Signals < 2 || st.Creates != 1 {
		t.Errorf("server saw %+v; want both commands signalled on the one shell", st)
	}
}
