package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// handlerFunc runs one exec request on the test server: it writes to stdout
// and stderr and returns the exit status; noExitStatus closes the channel
// without one. ctx ends when the client signals or closes the channel.
type handlerFunc func(ctx context.Context, cmd string, stdout, stderr io.Writer) int

const noExitStatus = -1

// serverConfig says what a testServer accepts.
type serverConfig struct {
	hostKeys       []ssh.Signer    // default: one fresh ed25519 key
	authorized     []ssh.PublicKey // public keys that may log in
	password       string          // "" = no password login
	kbdInteractive bool            // take the password via keyboard-interactive instead of "password"
	handler        handlerFunc     // default: defaultHandler
}

// testServer is an in-process SSH server on 127.0.0.1:0 built on
// x/crypto/ssh: public key and password auth, exec, direct-tcpip (to
// loopback only), and failure modes for the client's retry, timeout and
// keepalive logic.
type testServer struct {
	t        testing.TB
	port     int
	hostKeys []ssh.Signer
	cfg      *ssh.ServerConfig
	handler  handlerFunc
	ln       net.Listener
	quit     chan struct{}
	wg       sync.WaitGroup

	accepts   atomic.Int32 // TCP connections accepted
	dropFirst atomic.Int32 // close this many next connections at once (sshd's MaxStartups)
	stall     atomic.Bool  // accept new connections but never speak
	frozen    atomic.Bool  // live connections stop reading (a server that went away)
	rejectCh  atomic.Int32 // refuse this many next session channels (sshd past MaxSessions)

	mu       sync.Mutex
	cmds     []string
	signals  []string
	forwards []string
	conns    []net.Conn
}

func newTestServer(t testing.TB, sc serverConfig) *testServer {
	t.Helper()
	if len(sc.hostKeys) == 0 {
		sc.hostKeys = []ssh.Signer{newEd25519(t)}
	}
	if sc.handler == nil {
		sc.handler = defaultHandler
	}
	s := &testServer{t: t, hostKeys: sc.hostKeys, handler: sc.handler, quit: make(chan struct{})}
	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range sc.authorized {
				if string(k.Marshal()) == string(key.Marshal()) {
					return nil, nil
				}
			}
			return nil, fmt.Errorf("key %s not authorized", ssh.FingerprintSHA256(key))
		},
	}
	if sc.password != "" && !sc.kbdInteractive {
		s.cfg.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) == sc.password {
				return nil, nil
			}
			return nil, fmt.Errorf("wrong password")
		}
	}
	if sc.password != "" && sc.kbdInteractive {
		s.cfg.KeyboardInteractiveCallback = func(_ ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ans, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(ans) == 1 && ans[0] == sc.password {
				return nil, nil
			}
			return nil, fmt.Errorf("wrong password")
		}
	}
	for _, k := range sc.hostKeys {
		s.cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *testServer) close() {
	close(s.quit)
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmds)
}

func (s *testServer) signalsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signals)
}

func (s *testServer) forwardsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.forwards)
}

// track registers a conn to close on cleanup; false if already closing.
func (s *testServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.quit:
		return false
	default:
	}
	s.conns = append(s.conns, c)
	return true
}

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		if s.dropFirst.Add(-1) >= 0 {
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			return
		}
		if s.stall.Load() {
			continue // held open, silent, until cleanup closes it
		}
		s.wg.Add(1)
		go s.handleConn(&freezeConn{Conn: c, s: s})
	}
}

// freezeConn stops delivering what it reads while the server is frozen.
type freezeConn struct {
	net.Conn
	s *testServer
}

func (c *freezeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for c.s.frozen.Load() {
		select {
		case <-c.s.quit:
			return 0, net.ErrClosed
		case <-time.After(10 * time.Millisecond):
		}
	}
	return n, err
}

func (s *testServer) handleConn(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r := range reqs { // keepalive@openssh.com and the like: "no", as OpenSSH says
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}()
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			if s.rejectCh.Add(-1) >= 0 {
				nc.Reject(ssh.ConnectionFailed, "open failed")
				continue
			}
			ch, chReqs, err := nc.Accept()
			if err != nil {
				continue
			}
			s.wg.Add(1)
			go s.handleSession(ch, chReqs)
		case "direct-tcpip":
			s.wg.Add(1)
			go s.handleForward(nc)
		default:
			nc.Reject(ssh.UnknownChannelType, "unsupported")
		}
	}
}

func (s *testServer) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer s.wg.Done()
	defer ch.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	status := make(chan int, 1)
	started := false
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				cancel() // the client closed the channel
				if started {
					<-status
				}
				return
			}
			switch r.Type {
			case "exec":
				var p struct{ Command string }
				if started || ssh.Unmarshal(r.Payload, &p) != nil {
					r.Reply(false, nil)
					continue
				}
				started = true
				s.mu.Lock()
				s.cmds = append(s.cmds, p.Command)
				s.mu.Unlock()
				r.Reply(true, nil)
				go func() { status <- s.handler(ctx, p.Command, ch, ch.Stderr()) }()
			case "signal":
				var p struct{ Signal string }
				ssh.Unmarshal(r.Payload, &p)
				s.mu.Lock()
				s.signals = append(s.signals, p.Signal)
				s.mu.Unlock()
				cancel()
			default:
				if r.WantReply {
					r.Reply(false, nil)
				}
			}
		case code := <-status:
			if code != noExitStatus {
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			}
			ch.CloseWrite()
			return
		}
	}
}

// handleForward serves direct-tcpip (what a jump host does), to loopback only.
func (s *testServer) handleForward(nc ssh.NewChannel) {
	defer s.wg.Done()
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		nc.Reject(ssh.ConnectionFailed, "bad payload")
		return
	}
	target := net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
	s.mu.Lock()
	s.forwards = append(s.forwards, target)
	s.mu.Unlock()
	if ip := net.ParseIP(p.Host); ip == nil || !ip.IsLoopback() {
		nc.Reject(ssh.Prohibited, "test server forwards to loopback only")
		return
	}
	tc, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, "Connection refused")
		return
	}
	if !s.track(tc) {
		tc.Close()
		nc.Reject(ssh.ConnectionFailed, "shutting down")
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		tc.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	done := make(chan struct{}, 2)
	go func() { io.Copy(tc, ch); tc.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(ch, tc); ch.CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
	ch.Close()
	tc.Close()
}

// defaultHandler is a tiny shell for tests:
//
//	echo WORDS        → WORDS\n on stdout, exit 0
//	fail N MESSAGE    → MESSAGE\n on stderr, exit N
//	sleep             → waits until signalled or closed, exit 143
//	noexit            → closes the channel without an exit status
//	anything else     → "sh: 1: CMD: not found" on stderr, exit 127
func defaultHandler(ctx context.Context, cmd string, stdout, stderr io.Writer) int {
	switch {
	case strings.HasPrefix(cmd, "echo "):
		fmt.Fprintln(stdout, strings.TrimPrefix(cmd, "echo "))
		return 0
	case strings.HasPrefix(cmd, "fail "):
		f := strings.SplitN(cmd, " ", 3)
		n, _ := strconv.Atoi(f[1])
		if len(f) == 3 {
			fmt.Fprintln(stderr, f[2])
		}
		return n
	case cmd == "sleep":
		<-ctx.Done()
		return 143
	case cmd == "noexit":
		return noExitStatus
	default:
		fmt.Fprintf(stderr, "sh: 1: %s: not found\n", cmd)
		return 127
	}
}

// --- keys and files ---

func newEd25519(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newEd25519File writes a fresh ed25519 private key in OpenSSH format to
// dir/name (encrypted when passphrase is not empty) and returns its signer.
func newEd25519File(t testing.TB, dir, name, passphrase string) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "fleettune-test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "fleettune-test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return path, s
}

func newRSA(t testing.TB) ssh.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// knownHostsLine is the known_hosts line for key at 127.0.0.1:port.
func knownHostsLine(port int, key ssh.PublicKey) string {
	return knownhosts.Line([]string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, key)
}

func writeFile(t testing.TB, path string, lines ...string) string {
	t.Helper()
	data := ""
	for _, l := range lines {
		data += l + "\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe to read while the ssh library writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
