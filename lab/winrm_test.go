package lab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// fakeCmd is a test emulator with its own command interpreter, as the
// Windows emulator has: it answers a few cmd.exe-like lines.
type fakeCmd struct{}

func (fakeCmd) Command(*Call) (Output, bool) { return Output{}, false }
func (fakeCmd) Boot(*Host)                   {}
func (fakeCmd) TimeWait() time.Duration      { return 240 * time.Second }
func (fakeCmd) Shell(h *Host, user, line string) Output {
	switch {
	case line == "whoami":
		return Output{Stdout: strings.ToLower(h.Name + `\` + user + "\r\n")}
	case strings.HasPrefix(line, "echo "):
		return Output{Stdout: line[len("echo "):] + "\r\n"}
	case strings.HasPrefix(line, "big "):
		n, _ := strconv.Atoi(line[len("big "):])
		return Output{Stdout: strings.Repeat("0123456789abcde\n", n/16), Stderr: "e" + strings.Repeat("!", n/32)}
	case strings.HasPrefix(line, "fail "):
		n, _ := strconv.Atoi(line[len("fail "):])
		return Output{Stdout: "partial\r\n", Stderr: "failed with " + strconv.Itoa(n) + "\r\n", Code: n}
	case line == "shutdown /r /t 0":
		h.rebootLocked()
		return Output{}
	}
	word, _, _ := strings.Cut(line, " ")
	return Output{Stderr: "'" + word + "' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", Code: 1}
}

func newFakeWindows(name string) *Host {
	return &Host{Name: name, OS: "windows", Files: map[string]string{}, Boots: 1,
		BootTime: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), Emu: fakeCmd{}}
}

// startWinLab serves one fake Windows host "win1" (and an SSH host, so
// both kinds live side by side).
func startWinLab(t *testing.T, o Options) *Lab {
	t.Helper()
	o.Hosts = append(o.Hosts, newFakeWindows("win1"), newSrvHost("unix1"))
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	l, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// client is a masterzen/winrm client for win1, as the inventory describes it.
func client(t *testing.T, l *Lab, password string, ntlm, https bool, opTimeout string) *winrm.Client {
	t.Helper()
	var ca []byte
	if https {
		var err error
		if ca, err = os.ReadFile(l.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	ep := winrm.NewEndpoint("127.0.0.1", l.Port("win1"), https, false, ca, nil, nil, 10*time.Second)
	params := winrm.NewParameters(opTimeout, "en-US", 153600)
	if ntlm {
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	}
	c, err := winrm.NewClientWithParameters(ep, "Administrator", password, params)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

func execute(t *testing.T, ctx context.Context, sh *winrm.Shell, cmd string, args ...string) (result, error) {
	t.Helper()
	c, err := sh.ExecuteWithContext(ctx, cmd, args...)
	if err != nil {
		return result{}, err
	}
	var out, errb bytes.Buffer
	var wg sync.WaitGroup
	var e1, e2 error
	wg.Add(2)
	go func() { defer wg.Done(); _, e1 = io.Copy(&out, c.Stdout) }()
	go func() { defer wg.Done(); _, e2 = io.Copy(&errb, c.Stderr) }()
	c.Wait()
	wg.Wait()
	_ = c.Close()
	return result{out.String(), errb.String(), c.ExitCode()}, errors.Join(e1, e2, ctx.Err())
}

func TestWinRMShellReuseNTLMOverHTTPS(t *testing.T) {
	l := startWinLab(t, Options{})
	if l.CAFile == "" {
		t.Fatal("no CA file for a lab with a Windows host")
	}
	c := client(t, l, l.Password(), true, true, "PT60S")
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatalf("CreateShell: %v", err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		cmd  string
		args []string
		want result
	}{
		{"whoami", nil, result{"win1\\administrator\r\n", "", 0}},
		{"echo", []string{"a&b", "<c>"}, result{"a&b <c>\r\n", "", 0}},
		{"fail 5", nil, result{"partial\r\n", "failed with 5\r\n", 5}},
		{"netsh int ipv4 show dynamicport tcp", nil, result{"", "'netsh' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1}},
	} {
		got, err := execute(t, ctx, sh, tc.cmd, tc.args...)
		if err != nil || got != tc.want {
			t.Errorf("%s %v = %+v, %v; want %+v", tc.cmd, tc.args, got, err, tc.want)
		}
	}
	if err := sh.Close(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	st, ok := l.WinRMStats("win1")
	if !ok || st.Creates != 1 || st.Deletes != 1 || st.Commands != 4 || st.OpenShells != 0 {
		t.Errorf("stats %+v; want 1 create, 1 delete, 4 commands, no shell left", st)
	}
	if st.Connections > 2 {
		t.Errorf("%d TCP connections for one client; want at most 2", st.Connections)
	}
	// A deleted shell is gone, with Windows' fault.
	// (masterzen/winrm returns a fault's body as an ExecuteCommandError.)
	if _, err := execute(t, ctx, sh, "whoami"); !isShellNotFound(err) {
		t.Errorf("command on a deleted shell: %v; want the unknown-shell fault", err)
	}
}

func TestWinRMAuthentication(t *testing.T) {
	for _, tc := range []struct {
		name       string
		auth       string
		ntlm, http bool
	}{
		{"ntlm https", "", true, false},
		{"ntlm http", "ntlm", true, true},
		{"basic https", "basic", false, false},
		{"basic http", "basic", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startWinLab(t, Options{WinRMAuth: tc.auth, WinRMHTTP: tc.http, Password: "Corr3ct!"})
			if l.Password() != "Corr3ct!" {
				t.Fatalf("Password() = %q", l.Password())
			}
			ok := client(t, l, "Corr3ct!", tc.ntlm, !tc.http, "PT60S")
			sh, err := ok.CreateShell()
			if err != nil {
				t.Fatalf("right password refused: %v", err)
			}
			if got, err := execute(t, context.Background(), sh, "whoami"); err != nil || got.stdout != "win1\\administrator\r\n" {
				t.Errorf("whoami = %+v, %v", got, err)
			}
			_ = sh.Close()

			bad := client(t, l, "wrong", tc.ntlm, !tc.http, "PT60S")
			if _, err := bad.CreateShell(); err == nil || !strings.Contains(err.Error(), "401") {
				t.Errorf("wrong password: %v; want a 401", err)
			}
			if tc.ntlm {
				// Basic against an NTLM host is refused. (The NTLM client
				// falls back to Basic when the server offers only that.)
				_, err = client(t, l, "Corr3ct!", false, !tc.http, "PT60S").CreateShell()
				if err == nil || !strings.Contains(err.Error(), "401") {
					t.Errorf("Basic against an NTLM host: %v; want a 401", err)
				}
			}
			// RejectAuth refuses the right password.
			if err := l.SetFaults("win1", Faults{RejectAuth: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := client(t, l, "Corr3ct!", tc.ntlm, !tc.http, "PT60S").CreateShell(); err == nil || !strings.Contains(err.Error(), "401") {
				t.Errorf("RejectAuth: %v; want a 401", err)
			}
			st, _ := l.WinRMStats("win1")
			if st.Creates != 1 {
				t.Errorf("%d shells created; want only the one with the right password", st.Creates)
			}
		})
	}
}

func TestWinRMBadCertificate(t *testing.T) {
	l := startWinLab(t, Options{})
	if err := l.SetBadCertificate("win1", true); err != nil {
		t.Fatal(err)
	}
	_, err := client(t, l, l.Password(), true, true, "PT60S").CreateShell()
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("bad certificate: %v; want unknown authority", err)
	}
	if err := l.SetBadCertificate("win1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, l, l.Password(), true, true, "PT60S").CreateShell(); err != nil {
		t.Fatalf("good certificate again: %v", err)
	}
	if err := l.SetBadCertificate("unix1", true); err == nil {
		t.Error("SetBadCertificate on an SSH host succeeded")
	}
}

func TestWinRMRefuse(t *testing.T) {
	l := startWinLab(t, Options{})
	if err := l.SetFaults("win1", Faults{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	_, err := client(t, l, l.Password(), true, true, "PT60S").CreateShell()
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Refuse: %v; want connection refused", err)
	}
	if err := l.SetFaults("win1", Faults{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, l, l.Password(), true, true, "PT60S").CreateShell(); err != nil {
		t.Fatalf("after Refuse cleared: %v", err)
	}
}

// A delayed command outlives several OperationTimeouts (the client polls
// again on the TimedOut fault); a cancelled one is signalled and its delay
// ends.
func TestWinRMDelayOperationTimeoutAndSignal(t *testing.T) {
	l := startWinLab(t, Options{})
	c := client(t, l, l.Password(), true, true, "PT0.3S")
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if err := l.SetFaults("win1", Faults{Delay: time.Second}); err != nil {
		t.Fatal(err)
	}
	before, _ := l.WinRMStats("win1")
	got, err := execute(t, context.Background(), sh, "echo late")
	if err != nil || got.stdout != "late\r\n" {
		t.Fatalf("delayed echo = %+v, %v", got, err)
	}
	after, _ := l.WinRMStats("win1")
	if n := after.TimedOut - before.TimedOut; n < 2 {
		t.Errorf("%d Receives timed out for a command that outlived 3 operation timeouts; want polling", n)
	}

	if err := l.SetFaults("win1", Faults{Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	before, _ = l.WinRMStats("win1")
	start := time.Now()
	_, err = execute(t, ctx, sh, "echo never")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled command: %v; want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %s", d)
	}
	st, _ := l.WinRMStats("win1")
	if st.Signals-before.Signals != 1 {
		t.Errorf("%d signals; want the cancelled command signalled", st.Signals)
	}
}

func TestWinRMRebootEndsShells(t *testing.T) {
	l := startWinLab(t, Options{})
	c := client(t, l, l.Password(), true, true, "PT60S")
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := execute(t, context.Background(), sh, "shutdown /r /t 0"); err != nil {
		t.Fatalf("reboot command: %v", err)
	}
	if h := l.Host("win1"); h.bootCount() != 2 {
		t.Fatalf("boots = %d, want 2", h.bootCount())
	}
	if _, err := execute(t, context.Background(), sh, "whoami"); !isShellNotFound(err) {
		t.Errorf("old shell after a reboot: %v; want the unknown-shell fault", err)
	}
}

func TestWinRMNotWSMan(t *testing.T) {
	l := startWinLab(t, Options{WinRMHTTP: true, WinRMAuth: "basic"})
	addr := l.Addr("win1")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(b), "HTTP/1.1 404") {
		t.Errorf("GET /other answered %q; want 404", strings.SplitN(string(b), "\r\n", 2)[0])
	}
}

// isShellNotFound reports Windows' fault for an unknown ShellId.
func isShellNotFound(err error) bool {
	var ece *winrm.ExecuteCommandError
	return errors.As(err, &ece) && strings.Contains(ece.Body, "w:InvalidSelectors") &&
		strings.Contains(ece.Body, "the shell was not found on the server")
}

// Like Windows, the lab sends a command's output in pieces no bigger than
// the client's MaxEnvelopeSize, over several Receives; a client that caps
// one message (fleettune caps at 1 MiB) still reads a large output whole.
func TestWinRMOutputSplitByEnvelopeSize(t *testing.T) {
	l := startWinLab(t, Options{})
	c := client(t, l, l.Password(), true, true, "PT60S")
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	const n = 3 << 20 // 3 MiB of stdout, 96 KiB of stderr
	got, err := execute(t, context.Background(), sh, "big "+strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("0123456789abcde\n", n/16); got.stdout != want {
		t.Errorf("stdout: %d bytes, want %d, in order", len(got.stdout), len(want))
	}
	if want := "e" + strings.Repeat("!", n/32); got.stderr != want {
		t.Errorf("stderr: %d bytes, want %d", len(got.stderr), len(want))
	}
	// 153,600-byte envelopes hold about 112 KiB of output each.
	st, _ := l.WinRMStats("win1")
	if st.Receives < n/(150<<10) {
		t.Errorf("%d Receives for %d bytes: the output was not split by MaxEnvelopeSize", st.Receives, n)
	}
}
