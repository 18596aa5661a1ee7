package lab

// The lab's SSH server: one loopback listener per host, each with its own
// ed25519 host key, answering "exec" requests through Host.Run.
//
// Connection faults (Host.Faults) are honoured here:
//
//   - Refuse: set through (*Lab).SetFaults, the host's listener is closed,
//     so connections are refused by the kernel (ECONNREFUSED), and it is
//     reopened on the same port when Refuse is cleared. Set directly in
//     Host.Faults (without SetFaults), the listener stays open and closes
//     each connection as soon as it is accepted: the client sees EOF before
//     the SSH version exchange.
//   - Reset: each connection is accepted and reset (SO_LINGER 0, so an RST)
//     before the SSH version exchange.
//   - RejectAuth: every authentication attempt fails.
//   - Delay: each command waits this long before it runs; the wait ends
//     early when the client closes the channel, signals the command or the
//     connection goes.
//
// A host that reboots while a command runs (Faults.RebootAfter, or an
// emulated reboot command) drops all its connections once that command's
// output and exit status are sent, as a real reboot does.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// NonRootUser is the lab's one unprivileged login; the other is "root".
const NonRootUser = "ops"

const (
	// serverVersion is the identification string every lab host sends.
	serverVersion = "SSH-2.0-OpenSSH_lab fleettune"
	// handshakeTimeout bounds a connection's SSH handshake and
	// authentication, as sshd's LoginGraceTime does.
	handshakeTimeout = 30 * time.Second
	// relistenFor is how long clearing Refuse keeps trying to reopen the
	// host's port (another socket may hold it for a moment).
	relistenFor = 2 * time.Second
	// dropGrace is how long a connection dropped by a reboot may take to
	// read what was sent before it is closed outright.
	dropGrace = time.Second
)

// hostServer serves one host on one loopback port.
type hostServer struct {
	portListener
	signer  ssh.Signer
	running int // exec requests between accept and exit status (delay included)
}

func newHostServer(l *Lab, h *Host, addr *net.TCPAddr) (*hostServer, error) {
	signer, err := newHostKey()
	if err != nil {
		return nil, err
	}
	s := &hostServer{portListener: portListener{lab: l, host: h, addr: addr, conns: map[net.Conn]struct{}{}}, signer: signer}
	s.handle = func(c net.Conn) bool {
		if !s.track(c) {
			return false
		}
		s.lab.wg.Add(1)
		go s.serveConn(c)
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.listenLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

func newHostKey() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("lab: generate host key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

func (s *hostServer) hostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signer.PublicKey()
}

// close stops the listener and closes every connection.
func (s *hostServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

// dropConns ends every connection of the host, the way a reboot does: what
// was already sent is delivered (FIN after the data), then the connection
// is closed outright after dropGrace.
func (s *hostServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		time.AfterFunc(dropGrace, func() { c.Close() })
	}
}

func (s *hostServer) forget(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *hostServer) boots() int {
	s.host.Lock()
	defer s.host.Unlock()
	return s.host.Boots
}

// serveConn runs one TCP connection: faults, handshake, then its channels.
func (s *hostServer) serveConn(c net.Conn) {
	defer s.lab.wg.Done()
	defer s.forget(c)
	log := s.lab.log.With("host", s.host.Name, "remote", c.RemoteAddr().String())

	switch f := s.faults(); {
	case f.Refuse:
		log.Debug("lab: connection closed (fault Refuse)")
		return
	case f.Reset:
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // Close sends an RST
		}
		log.Debug("lab: connection reset (fault Reset)")
		return
	}

	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config())
	if err != nil {
		log.Debug("lab: handshake failed", "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	user := sc.User()
	log.Debug("lab: logged in", "user", user)

	ctx, cancel := context.WithCancel(s.lab.ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range reqs {
			// OpenSSH's client and fleettune's keep connections alive with
			// this; everything else global is refused.
			_ = r.Reply(r.Type == "keepalive@openssh.com", nil)
		}
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "the lab serves only session channels")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ctx, user, nc)
		}()
	}
	// chans is closed: the connection is gone. End delayed commands.
	cancel()
	sc.Close()
	wg.Wait()
	log.Debug("lab: connection closed")
}

// config is a fresh server config with the host's current key, so that
// ChangeHostKey applies to the next connection.
func (s *hostServer) config() *ssh.ServerConfig {
	s.mu.Lock()
	signer := s.signer
	s.mu.Unlock()
	check := func(user string) error {
		if user != "root" && user != NonRootUser && !(s.host.OS == "windows" && user == WindowsAdmin) {
			return fmt.Errorf("lab: no user %q on %s", user, s.host.Name)
		}
		if s.faults().RejectAuth {
			return fmt.Errorf("lab: %s rejects every login (fault RejectAuth)", s.host.Name)
		}
		return nil
	}
	cfg := &ssh.ServerConfig{
		ServerVersion: serverVersion,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if err := check(meta.User()); err != nil {
				return nil, err
			}
			if !bytes.Equal(key.Marshal(), s.lab.clientKey.PublicKey().Marshal()) {
				return nil, fmt.Errorf("lab: key %s is not authorized on %s", ssh.FingerprintSHA256(key), s.host.Name)
			}
			return &ssh.Permissions{}, nil
		},
	}
	if pw := s.lab.password; pw != "" {
		cfg.PasswordCallback = func(meta ssh.ConnMetadata, given []byte) (*ssh.Permissions, error) {
			if err := check(meta.User()); err != nil {
				return nil, err
			}
			if subtle.ConstantTimeCompare(given, []byte(pw)) != 1 {
				return nil, fmt.Errorf("lab: wrong password for %s on %s", meta.User(), s.host.Name)
			}
			return &ssh.Permissions{}, nil
		}
	}
	cfg.AddHostKey(signer)
	return cfg
}

// session serves one session channel: one exec, env ignored, and no
// shell, pty or subsystem.
func (s *hostServer) session(connCtx context.Context, user string, nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(connCtx)
	defer cancel()
	var done chan struct{} // closed when the exec ends; nil before one starts
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if done != nil || ssh.Unmarshal(req.Payload, &p) != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			d := make(chan struct{})
			done = d
			s.mu.Lock()
			s.running++
			s.mu.Unlock()
			go func() {
				defer close(d)
				s.exec(ctx, ch, user, p.Command)
				s.mu.Lock()
				s.running--
				s.mu.Unlock()
			}()
		case "env":
			_ = req.Reply(true, nil) // accepted and ignored
		case "signal":
			// Any signal ends a command still waiting out its delay; one
			// that ran has already answered.
			cancel()
			_ = req.Reply(true, nil)
		default: // shell, pty-req, subsystem, x11-req, ...
			_ = req.Reply(false, nil)
		}
	}
	// The client closed the channel, or the connection is gone.
	cancel()
	if done != nil {
		<-done
	}
	ch.Close()
}

// exec runs one command after the host's delay, then sends its output,
// its exit status and closes the channel.
func (s *hostServer) exec(ctx context.Context, ch ssh.Channel, user, cmd string) {
	if d := s.faults().delayFor(cmd); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			ch.Close() // no exit status: the command was cut short
			return
		}
	}
	boots := s.boots()
	out := s.host.Run(user, cmd)
	_, _ = io.WriteString(ch, out.Stdout)
	_, _ = io.WriteString(ch.Stderr(), out.Stderr)
	code := out.Code
	if code < 0 || code > 255 {
		code = 255
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
	_ = ch.CloseWrite()
	_ = ch.Close()
	if s.boots() != boots {
		s.lab.log.Info("lab: host rebooted; dropping its connections", "host", s.host.Name)
		s.dropConns()
	}
}

// ParseListen reads a listen address for the lab: a loopback IP
// (127.0.0.0/8 or ::1; "" and "localhost" mean 127.0.0.1), optionally with
// a port, which is then the first host's port, the next host's port one
// more, and so on. Without a port every host gets a free one.
func ParseListen(s string) (ip net.IP, basePort int, err error) {
	host, port := s, ""
	if s == "" {
		host = "127.0.0.1"
	} else if s[0] == '[' || bytes.Count([]byte(s), []byte(":")) == 1 {
		if host, port, err = net.SplitHostPort(s); err != nil {
			return nil, 0, fmt.Errorf("listen address %q: %w", s, err)
		}
	}
	if host == "localhost" || host == "" {
		host = "127.0.0.1"
	}
	ip = net.ParseIP(host)
	if ip == nil {
		return nil, 0, fmt.Errorf("listen address %q: %q is not an IP address; the lab listens only on loopback (127.0.0.0/8 or ::1)", s, host)
	}
	if !ip.IsLoopback() {
		return nil, 0, fmt.Errorf("listen address %q: %s is not a loopback address; the lab listens only on loopback (127.0.0.0/8 or ::1)", s, ip)
	}
	if port != "" {
		basePort, err = strconv.Atoi(port)
		if err != nil || basePort < 0 || basePort > 65535 {
			return nil, 0, fmt.Errorf("listen address %q: bad port %q", s, port)
		}
	}
	return ip, basePort, nil
}
