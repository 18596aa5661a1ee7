package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/remote"
)

// srvEmu is the server tests' emulator: "fail N MSG" prints MSG on stderr
// and exits N, "whoami" prints the login user; the rest is the shell's.
type srvEmu struct{}

func (srvEmu) Command(c *Call) (Output, bool) {
	switch c.Argv[0] {
	case "fail":
		n, _ := strconv.Atoi(c.Argv[1])
		return Output{Stderr: strings.Join(c.Argv[2:], " ") + "\n", Code: n}, true
	case "whoami":
		return Output{Stdout: c.User + "\n"}, true
	}
	return Output{}, false
}
func (srvEmu) Boot(*Host)              {}
func (srvEmu) TimeWait() time.Duration { return time.Minute }

func newSrvHost(name string) *Host {
	return &Host{Name: name, OS: "testos", Files: map[string]string{}, Boots: 1,
		BootTime: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC),
		Uname:    Uname{Sysname: "SunOS", Nodename: name, Release: "5.10", Version: "Generic_150400-59", Machine: "sun4v"},
		Emu:      srvEmu{}}
}

// startTestLab serves n test hosts t1..tn; Close runs at cleanup.
func startTestLab(t *testing.T, n int, o Options) *Lab {
	t.Helper()
	for i := 1; i <= n; i++ {
		o.Hosts = append(o.Hosts, newSrvHost(fmt.Sprintf("t%d", i)))
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	l, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// xdial connects with x/crypto/ssh directly, checking the host key against
// known_hosts strictly.
func xdial(t *testing.T, l *Lab, name, user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	cb, err := knownhosts.New(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if auth == nil {
		auth = []ssh.AuthMethod{ssh.PublicKeys(l.ClientSigner())}
	}
	c, err := ssh.Dial("tcp", l.Addr(name), &ssh.ClientConfig{
		User: user, Auth: auth, HostKeyCallback: cb,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}, Timeout: 10 * time.Second,
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func xrun(t *testing.T, c *ssh.Client, cmd string) (stdout, stderr string, code int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.Close()
	var o, e bytes.Buffer
	s.Stdout, s.Stderr = &o, &e
	err = s.Run(cmd)
	var ee *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitStatus()
	default:
		t.Fatalf("run %q: %v", cmd, err)
	}
	return o.String(), e.String(), code
}

// invHost is the host as the lab's inventory describes it.
func invHost(t *testing.T, l *Lab, name string) *inventory.Host {
	t.Helper()
	inv, err := inventory.Load(l.Inventory)
	if err != nil {
		t.Fatalf("inventory.Load: %v", err)
	}
	h := inv.Host(name)
	if h == nil {
		t.Fatalf("inventory has no host %s", name)
	}
	return h
}

var noEnv = func(string) string { return "" }

// rdial connects with the product's client, from the lab's inventory.
func rdial(t *testing.T, h *inventory.Host) (remote.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := remote.Dial(ctx, h, remote.Options{Getenv: noEnv, KeepaliveInterval: 50 * time.Millisecond})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *Lab) running(name string) int {
	s := l.servers[name]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

func TestExecWithXCrypto(t *testing.T) {
	l := startTestLab(t, 1, Options{})
	c, err := xdial(t, l, "t1", "root")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd, stdout, stderr string
		code                int
	}{
		{"echo hello  world", "hello world\n", "", 0},
		{"fail 3 boom now", "", "boom now\n", 3},
		{"uname -srv", "SunOS 5.10 Generic_150400-59\n", "", 0},
		{"whoami; id -u", "root\n0\n", "", 0},
		{"no-such-command", "", "sh: no-such-command: not found\n", 127},
		{"fail 255 x", "", "x\n", 255},
	} {
		o, e, code := xrun(t, c, tc.cmd)
		if o != tc.stdout || e != tc.stderr || code != tc.code {
			t.Errorf("%q: got (%q, %q, %d), want (%q, %q, %d)", tc.cmd, o, e, code, tc.stdout, tc.stderr, tc.code)
		}
	}

	ops, err := xdial(t, l, "t1", NonRootUser)
	if err != nil {
		t.Fatal(err)
	}
	if o, _, _ := xrun(t, ops, "whoami; id -u"); o != "ops\n1001\n" {
		t.Errorf("as %s: %q", NonRootUser, o)
	}
	if _, err := xdial(t, l, "t1", "bob"); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("unknown user: err = %v, want an authentication failure", err)
	}

	// Requests a command channel does not serve, and one it ignores.
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Setenv("LC_ALL", "C"); err != nil {
		t.Errorf("env: %v, want accepted", err)
	}
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err == nil {
		t.Error("pty-req accepted")
	}
	if err := s.RequestSubsystem("sftp"); err == nil {
		t.Error("subsystem accepted")
	}
	if err := s.Shell(); err == nil {
		t.Error("shell accepted")
	}
	s.Close()
	// Only one exec per channel.
	s2, _ := c.NewSession()
	defer s2.Close()
	if err := s2.Start("echo one"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s2.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{"echo two"})); ok || err != nil && err != io.EOF {
		t.Errorf("second exec on one channel: ok=%v err=%v", ok, err)
	}

	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if err != nil || !ok {
		t.Errorf("keepalive: ok=%v err=%v, want true", ok, err)
	}
	if ok, _, _ := c.SendRequest("tcpip-forward", true, ssh.Marshal(struct {
		Addr string
		Port uint32
	}{"127.0.0.1", 0})); ok {
		t.Error("tcpip-forward accepted")
	}
	// No forwarding of any kind: the lab never opens connections itself.
	if conn, err := c.Dial("tcp", l.Addr("t1")); err == nil {
		conn.Close()
		t.Error("direct-tcpip channel accepted")
	}
	if got := l.Connections("t1"); got != 3 {
		t.Errorf("Connections = %d, want 3 (root, ops, bob)", got)
	}
}

func TestExecWithRemoteDial(t *testing.T) {
	l := startTestLab(t, 2, Options{})
	for _, name := range []string{"t1", "t2"} {
		s, err := rdial(t, invHost(t, l, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx := context.Background()
		res, err := s.Run(ctx, "uname -n; echo out; echo err >&2")
		if err != nil || string(res.Stdout) != name+"\nout\n" || string(res.Stderr) != "err\n" || res.ExitCode != 0 {
			t.Errorf("%s: got %q %q %d %v", name, res.Stdout, res.Stderr, res.ExitCode, err)
		}
		res, err = s.Run(ctx, "fail 4 no luck")
		if err != nil || res.ExitCode != 4 || string(res.Stderr) != "no luck\n" || len(res.Stdout) != 0 {
			t.Errorf("%s: fail: got %q %q %d %v", name, res.Stdout, res.Stderr, res.ExitCode, err)
		}
		// A keepalive or two pass on the idle connection without harm.
		time.Sleep(150 * time.Millisecond)
		if res, err := s.Run(ctx, "true"); err != nil || res.ExitCode != 0 {
			t.Errorf("%s: after keepalives: %v %d", name, err, res.ExitCode)
		}
		if got := l.Connections(name); got != 1 {
			t.Errorf("%s: Connections = %d, want 1", name, got)
		}
	}
	if l.Host("t1").Commands != 3 || l.Host("t2").Commands != 3 {
		t.Errorf("commands run: t1 %d, t2 %d, want 3 each", l.Host("t1").Commands, l.Host("t2").Commands)
	}
}

func TestConcurrentChannels(t *testing.T) {
	l := startTestLab(t, 1, Options{})
	s, err := rdial(t, invHost(t, l, "t1"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	// Every command waits out an hour's delay, so all n are in the server
	// at once before any is cut off.
	if err := l.SetFaults("t1", Faults{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.Run(ctx, "echo "+strconv.Itoa(i))
			errs <- err
		}()
	}
	eventually(t, "8 commands running at once", func() bool { return l.running("t1") == n })
	cancel()
	for range n {
		if err := <-errs; !errors.Is(err, remote.ErrTimeout) || !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled run: %v", err)
		}
	}
	eventually(t, "the server to drop the cancelled commands", func() bool { return l.running("t1") == 0 })
	if l.Host("t1").Commands != 0 {
		t.Errorf("%d commands ran; cancelled ones must not", l.Host("t1").Commands)
	}

	if err := l.SetFaults("t1", Faults{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := strconv.Itoa(i)
			res, err := s.Run(context.Background(), "echo "+want+"; fail "+want+" e"+want)
			if err != nil || string(res.Stdout) != want+"\n" || string(res.Stderr) != "e"+want+"\n" || res.ExitCode != i {
				t.Errorf("run %d: %q %q %d %v", i, res.Stdout, res.Stderr, res.ExitCode, err)
			}
		}()
	}
	wg.Wait()
	if got := l.Connections("t1"); got != 1 {
		t.Errorf("Connections = %d, want 1", got)
	}
}

func TestDelay(t *testing.T) {
	l := startTestLab(t, 1, Options{})
	s, err := rdial(t, invHost(t, l, "t1"))
	if err != nil {
		t.Fatal(err)
	}
	const d = 300 * time.Millisecond
	if err := l.SetFaults("t1", Faults{Delay: d}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := s.Run(context.Background(), "echo late")
	if err != nil || string(res.Stdout) != "late\n" {
		t.Fatalf("delayed run: %q %v", res.Stdout, err)
	}
	if el := time.Since(start); el < d {
		t.Errorf("answered after %s, before the %s delay", el, d)
	}

	if err := l.SetFaults("t1", Faults{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = s.Run(ctx, "echo never")
	if !errors.Is(err, remote.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run past its deadline: %v, want a timeout", err)
	}
	eventually(t, "the server to end the cut-off command", func() bool { return l.running("t1") == 0 })

	l.SetFaults("t1", Faults{})
	if res, err := s.Run(context.Background(), "echo again"); err != nil || string(res.Stdout) != "again\n" {
		t.Errorf("after a cut-off command: %q %v", res.Stdout, err)
	}
	if got := l.Host("t1").Commands; got != 2 {
		t.Errorf("commands run = %d, want 2 (the cut-off one never ran)", got)
	}
}

func TestHostKeys(t *testing.T) {
	l := startTestLab(t, 2, Options{})
	if bytes.Equal(l.HostKey("t1").Marshal(), l.HostKey("t2").Marshal()) {
		t.Fatal("t1 and t2 share a host key")
	}
	if l.HostKey("t1").Type() != ssh.KeyAlgoED25519 {
		t.Errorf("host key type %s", l.HostKey("t1").Type())
	}

	t.Run("unknown", func(t *testing.T) {
		h := invHost(t, l, "t1")
		h.SSH.KnownHosts = filepath.Join(t.TempDir(), "known_hosts") // missing: nothing known
		_, err := rdial(t, h)
		if !errors.Is(err, remote.ErrHostKey) || !strings.Contains(err.Error(), "no host key is known") {
			t.Errorf("unknown key: %v", err)
		}
		// Another host's key for this address is a mismatch.
		other := filepath.Join(t.TempDir(), "known_hosts")
		line := knownHostsPattern(l.Addr("t1")) + " " + string(ssh.MarshalAuthorizedKey(l.HostKey("t2")))
		os.WriteFile(other, []byte(line), 0o644)
		h.SSH.KnownHosts = other
		if _, err := rdial(t, h); !errors.Is(err, remote.ErrHostKey) {
			t.Errorf("wrong key: %v", err)
		}
	})

	t.Run("changed", func(t *testing.T) {
		before := l.Connections("t1")
		newKey, err := l.ChangeHostKey("t1")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(newKey.Marshal(), l.HostKey("t1").Marshal()) {
			t.Fatal("ChangeHostKey returned another key than the host presents")
		}
		if _, err := rdial(t, invHost(t, l, "t1")); !errors.Is(err, remote.ErrHostKey) || !strings.Contains(err.Error(), "changed") {
			t.Errorf("changed key, remote: %v", err)
		}
		var ke *knownhosts.KeyError
		if _, err := xdial(t, l, "t1", "root"); !errors.As(err, &ke) || len(ke.Want) != 1 {
			t.Errorf("changed key, x/crypto: %v, want a knownhosts.KeyError", err)
		}
		if l.Connections("t1") != before+2 {
			t.Errorf("host-key failures are not retried: %d connections, want %d", l.Connections("t1"), before+2)
		}
		if _, err := rdial(t, invHost(t, l, "t2")); err != nil {
			t.Errorf("t2 kept its key: %v", err)
		}
		if err := l.WriteKnownHosts(); err != nil {
			t.Fatal(err)
		}
		if _, err := rdial(t, invHost(t, l, "t1")); err != nil {
			t.Errorf("after accepting the new key: %v", err)
		}
	})
}

func TestRejectAuth(t *testing.T) {
	l := startTestLab(t, 1, Options{})
	l.SetFaults("t1", Faults{RejectAuth: true})
	_, err := rdial(t, invHost(t, l, "t1"))
	if !errors.Is(err, remote.ErrAuth) || errors.Is(err, remote.ErrUnreachable) {
		t.Errorf("RejectAuth: %v, want an authentication error", err)
	}
	if _, err := xdial(t, l, "t1", "root"); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("RejectAuth, x/crypto: %v", err)
	}
	l.SetFaults("t1", Faults{})
	if _, err := rdial(t, invHost(t, l, "t1")); err != nil {
		t.Errorf("after RejectAuth is cleared: %v", err)
	}
}

func TestPassword(t *testing.T) {
	l := startTestLab(t, 1, Options{Password: "s3cret"})
	if _, err := xdial(t, l, "t1", "ops", ssh.Password("s3cret")); err != nil {
		t.Errorf("right password: %v", err)
	}
	if _, err := xdial(t, l, "t1", "ops", ssh.Password("guess")); err == nil {
		t.Error("wrong password accepted")
	}
	h := invHost(t, l, "t1")
	h.SSH.IdentityFiles, h.SSH.PasswordEnv, h.User = nil, "LAB_PW", NonRootUser
	s, err := remote.Dial(context.Background(), h, remote.Options{KeepaliveInterval: -1,
		Getenv: func(k string) string {
			if k == "LAB_PW" {
				return "s3cret"
			}
			return ""
		}})
	if err != nil {
		t.Fatalf("remote with password_env: %v", err)
	}
	defer s.Close()
	if res, err := s.Run(context.Background(), "whoami"); err != nil || string(res.Stdout) != "ops\n" {
		t.Errorf("whoami: %q %v", res.Stdout, err)
	}

	// Without Options.Password, password authentication is not offered.
	l2 := startTestLab(t, 1, Options{})
	if _, err := xdial(t, l2, "t1", "root", ssh.Password("")); err == nil {
		t.Error("password accepted by a lab without one")
	}
}

func TestRefuse(t *testing.T) {
	l := startTestLab(t, 1, Options{})
	addr := l.Addr("t1")

	t.Run("listener closed", func(t *testing.T) {
		if err := l.SetFaults("t1", Faults{Refuse: true}); err != nil {
			t.Fatal(err)
		}
		if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
			if c != nil {
				c.Close()
			}
			t.Errorf("dial while refusing: %v, want connection refused", err)
		}
		_, err := rdial(t, invHost(t, l, "t1"))
		if !errors.Is(err, remote.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("remote while refusing: %v", err)
		}
		if got := l.Connections("t1"); got != 0 {
			t.Errorf("refused connections reached the server: %d", got)
		}
		if err := l.SetFaults("t1", Faults{}); err != nil {
			t.Fatal(err)
		}
		if l.Addr("t1") != addr {
			t.Fatalf("port moved: %s, was %s", l.Addr("t1"), addr)
		}
		if _, err := rdial(t, invHost(t, l, "t1")); err != nil {
			t.Errorf("after Refuse is cleared: %v", err)
		}
	})

	t.Run("closed on accept", func(t *testing.T) {
		before := l.Connections("t1")
		h := l.Host("t1")
		h.Lock()
		h.Faults.Refuse = true // set directly: the listener stays open
		h.Unlock()
		defer func() { h.Lock(); h.Faults.Refuse = false; h.Unlock() }()
		_, err := rdial(t, invHost(t, l, "t1"))
		if !errors.Is(err, remote.ErrUnreachable) {
			t.Errorf("remote: %v, want unreachable", err)
		}
		if l.Connections("t1") <= before {
			t.Error("no connection was accepted")
		}
	})
}

func TestReset(t *testing.T) {
	l := startTestLab(t, 1, Options{})
	l.SetFaults("t1", Faults{Reset: true})
	// On loopback the RST may arrive before connect returns, or after.
	var b []byte
	c, err := net.Dial("tcp", l.Addr("t1"))
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err = io.ReadAll(c)
	}
	if len(b) != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("got %q, %v; want a reset before any banner", b, err)
	}
	_, err = rdial(t, invHost(t, l, "t1"))
	if !errors.Is(err, remote.ErrUnreachable) {
		t.Errorf("remote: %v, want unreachable", err)
	}
	l.SetFaults("t1", Faults{})
	if _, err := rdial(t, invHost(t, l, "t1")); err != nil {
		t.Errorf("after Reset is cleared: %v", err)
	}
}

func TestRebootDropsConnections(t *testing.T) {
	l := startTestLab(t, 1, Options{})
	s, err := rdial(t, invHost(t, l, "t1"))
	if err != nil {
		t.Fatal(err)
	}
	l.SetFaults("t1", Faults{RebootAfter: 2})
	ctx := context.Background()
	for _, w := range []string{"a", "b"} {
		if res, err := s.Run(ctx, "echo "+w); err != nil || string(res.Stdout) != w+"\n" {
			t.Fatalf("echo %s: %q %v", w, res.Stdout, err)
		}
	}
	if b := l.Host("t1").Boots; b != 2 {
		t.Fatalf("Boots = %d, want 2", b)
	}
	eventually(t, "the connection to drop", func() bool {
		_, err := s.Run(ctx, "true")
		return errors.Is(err, remote.ErrConnLost)
	})
	s2, err := rdial(t, invHost(t, l, "t1"))
	if err != nil {
		t.Fatalf("redial after reboot: %v", err)
	}
	if res, err := s2.Run(ctx, "echo back"); err != nil || string(res.Stdout) != "back\n" {
		t.Errorf("after reboot: %q %v", res.Stdout, err)
	}
}

func TestParseListen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ip   string
		port int
		bad  string
	}{
		{in: "", ip: "127.0.0.1"},
		{in: "127.0.0.1", ip: "127.0.0.1"},
		{in: "localhost", ip: "127.0.0.1"},
		{in: "127.0.0.2:2200", ip: "127.0.0.2", port: 2200},
		{in: "::1", ip: "::1"},
		{in: "[::1]:2200", ip: "::1", port: 2200},
		{in: "0.0.0.0", bad: "not a loopback address"},
		{in: "::", bad: "not a loopback address"},
		{in: "10.1.2.3:22", bad: "not a loopback address"},
		{in: "example.com", bad: "not an IP address"},
		{in: "127.0.0.1:http", bad: "bad port"},
		{in: "127.0.0.1:70000", bad: "bad port"},
	} {
		ip, port, err := ParseListen(tc.in)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.bad)
			}
			continue
		}
		if err != nil || ip.String() != tc.ip || port != tc.port {
			t.Errorf("%q: %v %d %v, want %s %d", tc.in, ip, port, err, tc.ip, tc.port)
		}
	}
	if _, err := Start(context.Background(), Options{Hosts: []*Host{newSrvHost("t1")}, Listen: "0.0.0.0", Dir: t.TempDir()}); err == nil {
		t.Error("Start listened on 0.0.0.0")
	}
}
