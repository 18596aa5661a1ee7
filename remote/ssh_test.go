package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleettune/fleettune/inventory"
)

// The test binary doubles as a proxy command: "BIN -fleettune-proxy-helper
// HOST PORT [PIDFILE]" pipes stdin/stdout to HOST:PORT (loopback in tests).
const proxyHelperFlag = "-fleettune-proxy-helper"

func TestMain(m *testing.M) {
	if len(os.Args) >= 4 && os.Args[1] == proxyHelperFlag {
		os.Exit(proxyHelper(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func proxyHelper(args []string) int {
	if ip := net.ParseIP(args[0]); ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "proxy helper: %s is not loopback\n", args[0])
		return 2
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(args[0], args[1]), 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "proxy helper: %v\n", err)
		return 255
	}
	if len(args) > 2 {
		os.WriteFile(args[2], []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
	go func() {
		io.Copy(conn, os.Stdin)
		conn.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, conn)
	return 0
}

// fixture is one test server with an authorized client key and a
// known_hosts file that trusts the server.
type fixture struct {
	t          testing.TB
	dir        string
	keyPath    string
	key        ssh.Signer
	srv        *testServer
	knownHosts string
	logs       *syncBuffer
	connects   atomic.Int32
	env        map[string]string
}

func newFixture(t testing.TB, sc serverConfig) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), logs: &syncBuffer{}, env: map[string]string{}}
	f.keyPath, f.key = newEd25519File(t, f.dir, "id_ed25519", "")
	sc.authorized = append(sc.authorized, f.key.PublicKey())
	f.srv = newTestServer(t, sc)
	var lines []string
	for _, k := range f.srv.hostKeys {
		lines = append(lines, knownHostsLine(f.srv.port, k.PublicKey()))
	}
	f.knownHosts = writeFile(t, filepath.Join(f.dir, "known_hosts"), lines...)
	return f
}

func (f *fixture) host() *inventory.Host {
	return &inventory.Host{
		Name:      "web01",
		Address:   "127.0.0.1",
		Transport: "ssh",
		User:      "root",
		Timeout:   10 * time.Second,
		SSH: inventory.SSH{
			Port:            f.srv.port,
			IdentityFiles:   []string{f.keyPath},
			KnownHosts:      f.knownHosts,
			HostKeyChecking: "strict",
			Become:          "none",
		},
	}
}

// opts isolates Dial from the real environment (no SSH_AUTH_SOCK of the
// person running the tests) and logs into f.logs.
func (f *fixture) opts() Options {
	return Options{
		Logger:    log.NewWithOptions(f.logs, log.Options{Level: log.DebugLevel}),
		Getenv:    func(k string) string { return f.env[k] },
		OnConnect: func(string) { f.connects.Add(1) },
	}
}

func (f *fixture) dial(ctx context.Context, h *inventory.Host) (Session, error) {
	f.t.Helper()
	return f.dialOpts(ctx, h, f.opts())
}

func (f *fixture) dialOpts(ctx context.Context, h *inventory.Host, o Options) (Session, error) {
	f.t.Helper()
	s, err := Dial(ctx, h, o)
	if err == nil {
		f.t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func (f *fixture) mustDial(h *inventory.Host) Session {
	f.t.Helper()
	s, err := f.dial(context.Background(), h)
	if err != nil {
		f.t.Fatalf("Dial: %v\nlogs:\n%s", err, f.logs.Bytes())
	}
	return s
}

// wantKind fails unless err is an *Error of kind for host web01 whose text
// contains every one of parts.
func wantKind(t testing.TB, err, kind error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", kind)
	}
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, kind) {
		t.Fatalf("err = %v (%T), want *Error of kind %v", err, err, kind)
	}
	if e.Host != "web01" {
		t.Errorf("Error.Host = %q, want web01", e.Host)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestRunStdoutStderrExitCodes(t *testing.T) {
	f := newFixture(t, serverConfig{})
	s := f.mustDial(f.host())
	tests := []struct {
		cmd            string
		stdout, stderr string
		code           int
	}{
		{"echo 32768 60999", "32768 60999\n", "", 0},
		{"fail 3 sysctl: permission denied", "", "sysctl: permission denied\n", 3},
		{"ndd", "", "sh: 1: ndd: not found\n", 127},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			res, err := s.Run(context.Background(), tc.cmd)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if string(res.Stdout) != tc.stdout || string(res.Stderr) != tc.stderr || res.ExitCode != tc.code {
				t.Errorf("got stdout %q stderr %q exit %d, want %q %q %d", res.Stdout, res.Stderr, res.ExitCode, tc.stdout, tc.stderr, tc.code)
			}
		})
	}
}

func TestExitStatusMissingIsConnLostAndSessionSurvives(t *testing.T) {
	f := newFixture(t, serverConfig{})
	s := f.mustDial(f.host())
	_, err := s.Run(context.Background(), "noexit")
	wantKind(t, err, ErrConnLost, "without an exit status")
	res, err := s.Run(context.Background(), "echo still here")
	if err != nil || string(res.Stdout) != "still here\n" {
		t.Fatalf("next Run = %q, %v", res.Stdout, err)
	}
}

func TestRefusedChannelIsRetried(t *testing.T) {
	f := newFixture(t, serverConfig{})
	s := f.mustDial(f.host())
	f.srv.rejectCh.Store(2)
	res, err := s.Run(context.Background(), "echo third time")
	if err != nil || string(res.Stdout) != "third time\n" {
		t.Fatalf("Run = %q, %v", res.Stdout, err)
	}
	f.srv.rejectCh.Store(100)
	_, err = s.Run(context.Background(), "echo never")
	wantKind(t, err, ErrConnLost, "refused a new channel 6 times", "open failed")
	if n := f.srv.accepts.Load(); n != 1 {
		t.Errorf("accepts = %d, want 1", n)
	}
}

func TestOneConnectionForManyCommands(t *testing.T) {
	f := newFixture(t, serverConfig{})
	s := f.mustDial(f.host())
	for i := range 20 {
		res, err := s.Run(context.Background(), fmt.Sprintf("echo seq %d", i))
		if err != nil || string(res.Stdout) != fmt.Sprintf("seq %d\n", i) {
			t.Fatalf("Run %d = %q, %v", i, res.Stdout, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			res, err := s.Run(context.Background(), fmt.Sprintf("echo par %d", i))
			if err == nil && string(res.Stdout) != fmt.Sprintf("par %d\n", i) {
				err = fmt.Errorf("Run %d: stdout %q", i, res.Stdout)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.srv.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d TCP connections, want 1", n)
	}
	if n := f.connects.Load(); n != 1 {
		t.Errorf("OnConnect fired %d times, want 1", n)
	}
	if n := len(f.srv.commands()); n != 40 {
		t.Errorf("server ran %d commands, want 40", n)
	}
}

func TestBecome(t *testing.T) {
	const cmd = `cat /proc/sys/net/ipv4/ip_local_port_range; echo 'it''s'`
	tests := []struct {
		become string
		want   string
	}{
		{"none", cmd},
		{"", cmd},
		{"sudo", `sudo -n -- sh -c 'cat /proc/sys/net/ipv4/ip_local_port_range; echo '\''it'\'''\''s'\'''`},
	}
	for _, tc := range tests {
		t.Run("become="+tc.become, func(t *testing.T) {
			f := newFixture(t, serverConfig{})
			h := f.host()
			h.SSH.Become = tc.become
			s := f.mustDial(h)
			if _, err := s.Run(context.Background(), cmd); err != nil {
				t.Fatal(err)
			}
			if got := f.srv.commands(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("server saw %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWrongKeyIsAuthErrorAndNotRetried(t *testing.T) {
	f := newFixture(t, serverConfig{})
	h := f.host()
	other, _ := newEd25519File(t, f.dir, "id_other", "")
	h.SSH.IdentityFiles = []string{other}
	_, err := f.dial(context.Background(), h)
	wantKind(t, err, ErrAuth, "unable to authenticate", "publickey")
	if n := f.srv.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1 (auth failures are not retried)", n)
	}
}

func TestIdentityFiles(t *testing.T) {
	t.Run("missing and encrypted files are skipped", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		h := f.host()
		enc, _ := newEd25519File(t, f.dir, "id_encrypted", "secret")
		// A file of 2 MiB is no key (a path to something else): not read
		// whole, skipped with a warning naming it.
		huge := filepath.Join(f.dir, "id_huge")
		if err := os.WriteFile(huge, make([]byte, 2<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		h.SSH.IdentityFiles = []string{filepath.Join(f.dir, "id_missing"), enc, huge, f.keyPath}
		s := f.mustDial(h)
		if _, err := s.Run(context.Background(), "echo ok"); err != nil {
			t.Fatal(err)
		}
		logs := string(f.logs.Bytes())
		if !strings.Contains(logs, "identity file not found") || !strings.Contains(logs, "encrypted") ||
			!strings.Contains(logs, "id_huge: larger than 1 MiB") {
			t.Errorf("logs do not mention the skipped files:\n%s", logs)
		}
	})
	t.Run("no method at all", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		h := f.host()
		h.SSH.IdentityFiles = []string{filepath.Join(f.dir, "id_missing")}
		_, err := f.dial(context.Background(), h)
		wantKind(t, err, ErrAuth, "no authentication method")
		if n := f.srv.accepts.Load(); n != 0 {
			t.Errorf("server accepted %d connections, want 0", n)
		}
	})
}

func TestHostKeyChecking(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		known      func(f *fixture, stranger ssh.PublicKey) []string // known_hosts lines; nil = no file
		wantErr    []string                                          // parts of an ErrHostKey error; nil = success
		wantRecord bool                                              // the file gained the server's key
	}{
		{
			name:    "strict unknown, no file",
			mode:    "strict",
			known:   nil,
			wantErr: []string{"no host key is known", "[127.0.0.1]:", "known_hosts"},
		},
		{
			name: "strict unknown, other hosts only",
			mode: "strict",
			known: func(f *fixture, stranger ssh.PublicKey) []string {
				return []string{knownHostsLine(1, stranger), "db01 " + string(ssh.MarshalAuthorizedKey(stranger)[:len(ssh.MarshalAuthorizedKey(stranger))-1])}
			},
			wantErr: []string{"no host key is known", "strict"},
		},
		{
			name: "strict changed",
			mode: "strict",
			known: func(f *fixture, stranger ssh.PublicKey) []string {
				return []string{"# comment", knownHostsLine(f.srv.port, stranger)}
			},
			wantErr: []string{"changed", "known_hosts:2 has ssh-ed25519 SHA256:", "server offered ssh-ed25519 SHA256:", "man-in-the-middle"},
		},
		{
			name: "accept-new changed still refused",
			mode: "accept-new",
			known: func(f *fixture, stranger ssh.PublicKey) []string {
				return []string{knownHostsLine(f.srv.port, stranger)}
			},
			wantErr: []string{"changed"},
		},
		{
			name:       "accept-new unknown records",
			mode:       "accept-new",
			known:      nil,
			wantRecord: true,
		},
		{
			name: "off accepts a changed key",
			mode: "off",
			known: func(f *fixture, stranger ssh.PublicKey) []string {
				return []string{knownHostsLine(f.srv.port, stranger)}
			},
		},
		{
			name: "strict hashed entry",
			mode: "strict",
			known: func(f *fixture, _ ssh.PublicKey) []string {
				lookup := knownhosts.Normalize(f.srv.addr())
				return []string{knownhosts.Line([]string{knownhosts.HashHostname(lookup)}, f.srv.hostKeys[0].PublicKey())}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, serverConfig{})
			stranger := newEd25519(t).PublicKey()
			h := f.host()
			h.SSH.HostKeyChecking = tc.mode
			h.SSH.KnownHosts = filepath.Join(f.dir, "sub", "known_hosts")
			if tc.known != nil {
				os.MkdirAll(filepath.Dir(h.SSH.KnownHosts), 0o700)
				writeFile(t, h.SSH.KnownHosts, tc.known(f, stranger)...)
			}
			before := readFile(t, h.SSH.KnownHosts)
			s, err := f.dial(context.Background(), h)
			after := readFile(t, h.SSH.KnownHosts)
			if tc.wantErr != nil {
				wantKind(t, err, ErrHostKey, append(tc.wantErr, "web01")...)
				if after != before {
					t.Errorf("known_hosts changed on a refused key:\nbefore %q\nafter  %q", before, after)
				}
				if n := f.srv.accepts.Load(); n != 1 {
					t.Errorf("server accepted %d connections, want 1 (host key failures are not retried)", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if _, err := s.Run(context.Background(), "echo ok"); err != nil {
				t.Fatal(err)
			}
			if tc.mode == "off" && !strings.Contains(string(f.logs.Bytes()), "host key not checked") {
				t.Errorf("no warning logged for host_key_checking off:\n%s", f.logs.Bytes())
			}
			if !tc.wantRecord {
				if after != before {
					t.Errorf("known_hosts changed: %q → %q", before, after)
				}
				return
			}
			want := knownhosts.Line([]string{knownhosts.Normalize(f.srv.addr())}, f.srv.hostKeys[0].PublicKey()) + "\n"
			if after != before+want {
				t.Errorf("known_hosts = %q, want %q", after, before+want)
			}
			if st, err := os.Stat(h.SSH.KnownHosts); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("known_hosts mode = %v, %v; want 0600", st.Mode(), err)
			}
			// The recorded key now passes strict checking.
			h.SSH.HostKeyChecking = "strict"
			if _, err := f.dial(context.Background(), h); err != nil {
				t.Fatalf("strict dial after accept-new: %v", err)
			}
		})
	}
}

// golang/go#29286: with known_hosts holding one key type and the server
// several, the client must ask for the known type or strict checking fails.
// x/crypto's default order prefers RSA over ed25519, so the ed25519 case
// fails without HostKeyAlgorithms.
func TestHostKeyAlgorithmsFollowKnownHosts(t *testing.T) {
	ed, rsa := newEd25519(t), newRSA(t)
	for _, known := range []ssh.Signer{ed, rsa} {
		t.Run(known.PublicKey().Type(), func(t *testing.T) {
			f := newFixture(t, serverConfig{hostKeys: []ssh.Signer{rsa, ed}})
			h := f.host()
			writeFile(t, h.SSH.KnownHosts, knownHostsLine(f.srv.port, known.PublicKey()))
			s := f.mustDial(h)
			if _, err := s.Run(context.Background(), "echo ok"); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("server lacks the known type", func(t *testing.T) {
		f := newFixture(t, serverConfig{hostKeys: []ssh.Signer{rsa}})
		h := f.host()
		writeFile(t, h.SSH.KnownHosts, knownHostsLine(f.srv.port, ed.PublicKey()))
		_, err := f.dial(context.Background(), h)
		wantKind(t, err, ErrHostKey, "ssh-ed25519")
	})
}

func TestCommandTimeoutKeepsSessionUsable(t *testing.T) {
	f := newFixture(t, serverConfig{})
	h := f.host()
	h.Timeout = 500 * time.Millisecond
	s := f.mustDial(h)
	start := time.Now()
	res, err := s.Run(context.Background(), "sleep")
	wantKind(t, err, ErrTimeout, "did not finish within 500ms")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v does not wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v, want about 500ms", d)
	}
	if res.ExitCode != -1 {
		t.Errorf("ExitCode = %d on timeout, want -1", res.ExitCode)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(f.srv.signalsSeen()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.srv.signalsSeen(); len(got) != 1 || got[0] != "TERM" {
		t.Errorf("server got signals %q, want [TERM]", got)
	}
	res, err = s.Run(context.Background(), "echo after")
	if err != nil || string(res.Stdout) != "after\n" {
		t.Fatalf("Run after timeout = %q, %v", res.Stdout, err)
	}
	if n := f.srv.accepts.Load(); n != 1 {
		t.Errorf("accepts = %d, want 1", n)
	}

	// The caller's ctx bounds a command too.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = s.Run(ctx, "sleep")
	wantKind(t, err, ErrTimeout)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v does not wrap context.Canceled", err)
	}
}

func TestRetriesDroppedConnections(t *testing.T) {
	f := newFixture(t, serverConfig{})
	f.srv.dropFirst.Store(2)
	s := f.mustDial(f.host())
	if _, err := s.Run(context.Background(), "echo ok"); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.accepts.Load(); n != 3 {
		t.Errorf("accepts = %d, want 3 (2 dropped + 1)", n)
	}
	if n := f.connects.Load(); n != 3 {
		t.Errorf("OnConnect fired %d times, want 3", n)
	}
	if !strings.Contains(string(f.logs.Bytes()), "retrying") {
		t.Errorf("retries not logged:\n%s", f.logs.Bytes())
	}
}

func TestGivesUpOnAServerThatKeepsDropping(t *testing.T) {
	f := newFixture(t, serverConfig{})
	f.srv.dropFirst.Store(100)
	_, err := f.dial(context.Background(), f.host())
	wantKind(t, err, ErrUnreachable, "(after 4 attempts)")
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err %v wraps neither EOF nor ECONNRESET", err)
	}
	if n := f.srv.accepts.Load(); n != 4 {
		t.Errorf("accepts = %d, want 4", n)
	}
}

func TestRefusedPortIsUnreachableQuickly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f := newFixture(t, serverConfig{})
	h := f.host()
	h.SSH.Port = port
	start := time.Now()
	_, err = f.dial(context.Background(), h)
	wantKind(t, err, ErrUnreachable, "connection refused", "(after 4 attempts)", fmt.Sprintf("dial tcp 127.0.0.1:%d", port))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err does not wrap ECONNREFUSED: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v; retries must stay bounded (~1.4s + jitter)", d)
	}

	// A ctx deadline shorter than the backoff stops the retries early.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = f.dial(ctx, h)
	wantKind(t, err, ErrUnreachable, "connection refused")
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("took %v with a 300ms ctx", d)
	}
}

func TestStalledServer(t *testing.T) {
	t.Run("handshake bounded by host timeout", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		f.srv.stall.Store(true)
		h := f.host()
		h.Timeout = 300 * time.Millisecond
		start := time.Now()
		_, err := f.dial(context.Background(), h)
		wantKind(t, err, ErrUnreachable, "did not complete within 300ms")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
		if n := f.srv.accepts.Load(); n != 1 {
			t.Errorf("accepts = %d, want 1 (a timeout is not retried)", n)
		}
	})
	t.Run("handshake bounded by ctx", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		f.srv.stall.Store(true)
		h := f.host()
		h.Timeout = 0
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := f.dial(ctx, h)
		wantKind(t, err, ErrUnreachable)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v does not wrap DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

func TestProxyJump(t *testing.T) {
	target := newFixture(t, serverConfig{})
	bastion := newTestServer(t, serverConfig{authorized: []ssh.PublicKey{target.key.PublicKey()}})
	h := target.host()
	h.SSH.ProxyJump = "jump@" + bastion.addr()
	both := []string{knownHostsLine(target.srv.port, target.srv.hostKeys[0].PublicKey()), knownHostsLine(bastion.port, bastion.hostKeys[0].PublicKey())}
	writeFile(t, h.SSH.KnownHosts, both...)

	s := target.mustDial(h)
	for range 3 {
		res, err := s.Run(context.Background(), "echo via bastion")
		if err != nil || string(res.Stdout) != "via bastion\n" {
			t.Fatalf("Run = %q, %v", res.Stdout, err)
		}
	}
	if got := bastion.forwardsSeen(); len(got) != 1 || got[0] != target.srv.addr() {
		t.Errorf("bastion forwarded to %q, want [%s]", got, target.srv.addr())
	}
	if len(bastion.commands()) != 0 || len(target.srv.commands()) != 3 {
		t.Errorf("commands ran on bastion %q / target %q", bastion.commands(), target.srv.commands())
	}
	if n := target.connects.Load(); n != 1 {
		t.Errorf("OnConnect fired %d times, want 1 (the bastion's TCP connection)", n)
	}
	if n := bastion.accepts.Load(); n != 1 {
		t.Errorf("bastion accepts = %d, want 1", n)
	}

	t.Run("bastion host key is checked", func(t *testing.T) {
		writeFile(t, h.SSH.KnownHosts, both[0]) // target only
		_, err := target.dial(context.Background(), h)
		wantKind(t, err, ErrHostKey, "jump host 127.0.0.1:", "no host key is known")
	})
	t.Run("target host key is checked", func(t *testing.T) {
		writeFile(t, h.SSH.KnownHosts, both[1]) // bastion only
		_, err := target.dial(context.Background(), h)
		wantKind(t, err, ErrHostKey, "no host key is known for web01")
	})
}

// agentFixture is a server that authorizes one key, and an agent that
// holds it, listening at sock (not yet in the fixture's SSH_AUTH_SOCK);
// served counts the agent's connections.
func agentFixture(t *testing.T) (f *fixture, pub ssh.PublicKey, sock string, served *atomic.Int32) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if pub, err = ssh.NewPublicKey(priv.Public()); err != nil {
		t.Fatal(err)
	}
	f = newFixture(t, serverConfig{authorized: []ssh.PublicKey{pub}})
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	served = &atomic.Int32{}
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			wg.Go(func() { agent.ServeAgent(keyring, c); c.Close() })
		}
	})
	return f, pub, sock, served
}

func TestAgentAuth(t *testing.T) {
	f, _, sock, served := agentFixture(t)
	h := f.host()
	h.SSH.IdentityFiles = nil // only the agent can log in
	_, err := f.dial(context.Background(), h)
	wantKind(t, err, ErrAuth, "no authentication method")

	f.env["SSH_AUTH_SOCK"] = sock
	s := f.mustDial(h)
	if _, err := s.Run(context.Background(), "echo ok"); err != nil {
		t.Fatal(err)
	}
	if served.Load() != 1 {
		t.Errorf("agent served %d connections, want 1", served.Load())
	}
}

func TestPasswordAuth(t *testing.T) {
	tests := []struct {
		name    string
		kbd     bool
		env     map[string]string
		wantErr []string // parts of an ErrAuth error; nil = success
		accepts int32
	}{
		{name: "password method", env: map[string]string{"WEB_PW": "s3cret"}, accepts: 1},
		{name: "keyboard-interactive method", kbd: true, env: map[string]string{"WEB_PW": "s3cret"}, accepts: 1},
		{name: "wrong password", env: map[string]string{"WEB_PW": "guess"}, wantErr: []string{"unable to authenticate", "password"}, accepts: 1},
		{name: "variable unset", env: map[string]string{}, wantErr: []string{"password_env names WEB_PW", "empty or unset"}, accepts: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, serverConfig{password: "s3cret", kbdInteractive: tc.kbd})
			f.env = tc.env
			h := f.host()
			h.SSH.IdentityFiles = nil
			h.SSH.PasswordEnv = "WEB_PW"
			s, err := f.dial(context.Background(), h)
			if n := f.srv.accepts.Load(); n != tc.accepts {
				t.Errorf("accepts = %d, want %d", n, tc.accepts)
			}
			if tc.wantErr != nil {
				wantKind(t, err, ErrAuth, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Run(context.Background(), "echo ok"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKeepaliveDetectsDeadServer(t *testing.T) {
	f := newFixture(t, serverConfig{})
	h := f.host()
	h.Timeout = 20 * time.Second // without keepalives a Run would hang this long
	o := f.opts()
	o.KeepaliveInterval = 50 * time.Millisecond
	s, err := f.dialOpts(context.Background(), h, o)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several keepalives answered: alive
	if _, err := s.Run(context.Background(), "echo alive"); err != nil {
		t.Fatalf("Run on a live server: %v", err)
	}
	f.srv.frozen.Store(true)
	start := time.Now()
	_, err = s.Run(context.Background(), "echo anyone")
	wantKind(t, err, ErrConnLost)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v to notice the dead server", d)
	}
	// Later Runs fail at once, naming the cause.
	start = time.Now()
	_, err = s.Run(context.Background(), "echo again")
	wantKind(t, err, ErrConnLost, "keepalive")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("second Run took %v", d)
	}
}

// Between probes a session's keepalive is a timer, not a parked
// goroutine: a run holding thousands of sessions keeps none of them.
func TestKeepaliveParksNoGoroutine(t *testing.T) {
	f := newFixture(t, serverConfig{})
	o := f.opts()
	o.KeepaliveInterval = 30 * time.Millisecond
	s, err := f.dialOpts(context.Background(), f.host(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(150 * time.Millisecond) // several probes answered
	if _, err := s.Run(context.Background(), "echo alive"); err != nil {
		t.Fatalf("Run after keepalives: %v", err)
	}
	for i := 0; ; i++ {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		// A probe in flight is fine; one waiting for the next tick is not.
		if !strings.Contains(stacks, "(*sshSession).keepalive") {
			break
		}
		if i == 100 {
			t.Fatalf("a keepalive goroutine stays parked:\n%s", stacks)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunAfterClose(t *testing.T) {
	f := newFixture(t, serverConfig{})
	s := f.mustDial(f.host())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Run(context.Background(), "echo x")
	wantKind(t, err, ErrConnLost, "closed")
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestProxyCommand(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("connects through the command and reaps it", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		h := f.host()
		pidFile := filepath.Join(f.dir, "proxy 100%.pid")
		h.SSH.ProxyCommand = ShellQuote(bin) + " " + proxyHelperFlag + ` %h %p "` + strings.ReplaceAll(pidFile, "%", "%%") + `"`
		s := f.mustDial(h)
		for range 3 {
			if res, err := s.Run(context.Background(), "echo proxied"); err != nil || string(res.Stdout) != "proxied\n" {
				t.Fatalf("Run = %q, %v", res.Stdout, err)
			}
		}
		if n := f.connects.Load(); n != 1 {
			t.Errorf("OnConnect fired %d times, want 1", n)
		}
		if n := f.srv.accepts.Load(); n != 1 {
			t.Errorf("accepts = %d, want 1", n)
		}
		pid, err := strconv.Atoi(readFile(t, pidFile))
		if err != nil {
			t.Fatalf("pid file: %v", err)
		}
		s.Close()
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("proxy process %d still exists after Close (kill -0: %v)", pid, err)
		}
	})
	t.Run("a failing command is reported with its stderr", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		h := f.host()
		h.SSH.ProxyCommand = `/bin/sh -c 'echo "no route to %h port %p as %r" >&2; exit 255'`
		start := time.Now()
		_, err := f.dial(context.Background(), h)
		wantKind(t, err, ErrUnreachable, "proxy command exited 255: no route to 127.0.0.1 port "+strconv.Itoa(f.srv.port)+" as root")
		if strings.Contains(err.Error(), "attempts") || time.Since(start) > 2*time.Second {
			t.Errorf("a dead proxy command was retried: %v (%v)", err, time.Since(start))
		}
	})
	t.Run("one that times out goes with its whole process group", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		h := f.host()
		h.Timeout = 300 * time.Millisecond
		pidFile := filepath.Join(f.dir, "child.pid")
		// Never speaks; leaves a child that would outlive a kill of the
		// shell alone.
		h.SSH.ProxyCommand = "/bin/sh -c " + ShellQuote("sleep 60 & echo $! >"+ShellQuote(pidFile)+"; wait")
		_, err := f.dial(context.Background(), h)
		wantKind(t, err, ErrUnreachable, "did not complete within 300ms")
		pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
		if err != nil {
			t.Fatalf("pid file: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // should there be one left
		deadline := time.Now().Add(3 * time.Second)
		for processAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("the proxy command's child (sleep, pid %d) is still running after Dial gave up", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("a missing program", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		h := f.host()
		h.SSH.ProxyCommand = filepath.Join(f.dir, "no-such-proxy") + " %h"
		_, err := f.dial(context.Background(), h)
		wantKind(t, err, ErrUnreachable, "start proxy command", "no-such-proxy")
	})
}

func TestProxyArgv(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{line: "ssh -W %h:%p bastion", want: []string{"ssh", "-W", "web01.example.com:2222", "bastion"}},
		{line: "  ip netns exec %h   /usr/sbin/sshd -i  ", want: []string{"ip", "netns", "exec", "web01.example.com", "/usr/sbin/sshd", "-i"}},
		{line: `connect -u %r '%h with spaces' "double %p" a\ b`, want: []string{"connect", "-u", "ops", "web01.example.com with spaces", "double 2222", "a b"}},
		{line: `echo 100%% '' "" x""y`, want: []string{"echo", "100%", "", "", "xy"}},
		{line: `say "a \"quoted\" \$word\\ \n" 'it'\''s'`, want: []string{"say", `a "quoted" $word\ \n`, "it's"}},
		{line: "%r@%h", want: []string{"ops@web01.example.com"}},
		{line: "a 'open", wantErr: "unterminated single quote"},
		{line: `a "open`, wantErr: "unterminated double quote"},
		{line: `a \`, wantErr: "trailing backslash"},
		{line: "nc %h %x", wantErr: "unknown escape %x"},
		{line: "nc %h %", wantErr: "lone %"},
		{line: "   ", wantErr: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			got, err := proxyArgv(tc.line, "web01.example.com", 2222, "ops")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKnownHostsMatching(t *testing.T) {
	hashed := knownhosts.HashHostname("[10.0.0.12]:2222")
	tests := []struct {
		patterns []string
		lookup   string
		want     bool
	}{
		{[]string{"web01"}, "web01", true},
		{[]string{"WEB01"}, "web01", true},
		{[]string{"web01"}, "[web01]:2222", false},
		{[]string{"[web01]:2222"}, "[web01]:2222", true},
		{[]string{"[web01]:22"}, "web01", true},
		{[]string{"[web01]:22*"}, "[web01]:2222", true},
		{[]string{"[web01]:22*"}, "web01", true},
		{[]string{"[web0?]:*"}, "[web01]:8022", true},
		{[]string{"[web01]:8022"}, "[WEB01]:8022", true},
		{[]string{"web02", "10.0.0.12"}, "10.0.0.12", true},
		{[]string{"*.example.com"}, "db1.example.com", true},
		{[]string{"*.example.com", "!db2.example.com"}, "db2.example.com", false},
		{[]string{"db?.example.com"}, "db10.example.com", false},
		{[]string{hashed}, "[10.0.0.12]:2222", true},
		{[]string{hashed}, "10.0.0.12", false},
	}
	for _, tc := range tests {
		if got := hostsMatch(tc.patterns, tc.lookup); got != tc.want {
			t.Errorf("hostsMatch(%q, %q) = %v, want %v", tc.patterns, tc.lookup, got, tc.want)
		}
	}

	ed, rsa := newEd25519(t).PublicKey(), newRSA(t).PublicKey()
	data := strings.Join([]string{
		"# fleet",
		knownhosts.Line([]string{"web01"}, rsa),
		"@revoked " + knownhosts.Line([]string{"web01"}, ed),
		knownhosts.Line([]string{"other"}, ed),
		knownhosts.Line([]string{knownhosts.HashHostname("web01")}, ed),
	}, "\n")
	types, ca, err := knownKeyTypes([]byte(data), "web01")
	if err != nil || ca || fmt.Sprint(types) != "[ssh-rsa ssh-ed25519]" {
		t.Errorf("knownKeyTypes = %v, %v, %v; want [ssh-rsa ssh-ed25519] false nil", types, ca, err)
	}
	if got := fmt.Sprint(algorithmsFor(types)); got != "[rsa-sha2-512 rsa-sha2-256 ssh-rsa ssh-ed25519]" {
		t.Errorf("algorithmsFor = %s", got)
	}
	if _, ca, _ := knownKeyTypes([]byte("@cert-authority *.example.com "+strings.TrimPrefix(knownhosts.Line([]string{"x"}, ed), "x ")), "db1.example.com"); !ca {
		t.Error("@cert-authority line not noticed")
	}
}

func TestParseProxyJump(t *testing.T) {
	tests := []struct {
		spec    string
		want    string
		wantErr bool
	}{
		{"bastion", "[{bastion bastion 22 root}]", false},
		{"ops@bastion:2200", "[{bastion:2200 bastion 2200 ops}]", false},
		{"[::1]:2200", "[{[::1]:2200 ::1 2200 root}]", false},
		{"a,ops@b:23", "[{a a 22 root} {b:23 b 23 ops}]", false},
		{"bastion:http", "", true},
		{"ops@", "", true},
	}
	for _, tc := range tests {
		got, err := parseProxyJump(tc.spec, "root")
		if (err != nil) != tc.wantErr || (err == nil && fmt.Sprint(got) != tc.want) {
			t.Errorf("parseProxyJump(%q) = %v, %v; want %s (err %v)", tc.spec, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestDialTransports(t *testing.T) {
	h := &inventory.Host{Name: "web01", Transport: "winrm", User: "Administrator", WinRM: inventory.WinRM{PasswordEnv: "FLEETTUNE_TEST_UNSET"}}
	_, err := Dial(context.Background(), h, Options{Getenv: func(string) string { return "" }})
	wantKind(t, err, ErrAuth, "FLEETTUNE_TEST_UNSET")
	h.Transport = "telnet"
	_, err = Dial(context.Background(), h, Options{})
	wantKind(t, err, ErrUnreachable, "unknown transport")
}

// processAlive reports whether pid runs (a zombie waiting for a reaper that
// is not ours counts as gone).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// A host without a timeout (not from the inventory, which sets 30s) is
// still bounded: by the inventory's default, never by nothing.
func TestZeroTimeoutMeansTheDefault(t *testing.T) {
	f := newFixture(t, serverConfig{})
	h := f.host()
	h.Timeout = 0
	s := f.mustDial(h)
	if got := s.(*sshSession).timeout; got != inventory.DefaultTimeout {
		t.Errorf("per-command timeout = %v, want %v", got, inventory.DefaultTimeout)
	}
	if got := hostTimeout(h); got != inventory.DefaultTimeout {
		t.Errorf("connect timeout = %v, want %v", got, inventory.DefaultTimeout)
	}
}
