package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/fleettune/fleettune/inventory"
)

// Connection retries: only failures before authentication that look like a
// server shedding load (refused, reset, closed before the version exchange,
// as sshd's MaxStartups does) are retried, with exponential backoff.
const (
	maxDialAttempts = 4
	retryBaseDelay  = 200 * time.Millisecond
)

// maxKeyFile caps what is read of an identity file or a CA file: a key
// is a few KiB, so a bigger file is a mistake (a path to something else).
const maxKeyFile = 1 << 20

// hop is one SSH server on the way to the host: a jump host or the host.
type hop struct {
	name string // for messages and OnConnect
	addr string // host to connect to
	port int
	user string
}

func (p hop) hostPort() string { return net.JoinHostPort(p.addr, strconv.Itoa(p.port)) }

// sshDialer holds what every hop of one Dial shares.
type sshDialer struct {
	h          *inventory.Host
	opts       Options
	log        *log.Logger
	auth       []ssh.AuthMethod
	knownHosts *KnownHosts // the run's, or this dial's own
}

// dialFailure is one failed connection attempt.
type dialFailure struct {
	kind  error // ErrUnreachable, ErrAuth or ErrHostKey
	err   error
	retry bool
}

func dialSSH(ctx context.Context, h *inventory.Host, opts Options) (Session, error) {
	fail := func(kind, err error) error { return &Error{Host: h.Name, Kind: kind, Err: err} }
	if h.SSH.ProxyJump != "" && h.SSH.ProxyCommand != "" {
		return nil, fail(ErrUnreachable, errors.New("proxy_jump and proxy_command are both set; use one"))
	}
	switch h.SSH.Become {
	case "", "none", "sudo":
	default:
		return nil, fail(ErrUnreachable, fmt.Errorf("unknown become %q (want none or sudo)", h.SSH.Become))
	}
	port := h.SSH.Port
	if port == 0 {
		port = 22
	}
	d := &sshDialer{h: h, opts: opts, log: opts.Logger, knownHosts: opts.KnownHosts}
	if d.knownHosts == nil {
		d.knownHosts = NewKnownHosts() // read once for this dial's hops
	}

	auth, closeAgent, err := d.authMethods(ctx)
	if err != nil {
		return nil, fail(ErrAuth, err)
	}
	defer closeAgent() // the agent is only needed during the handshakes
	d.auth = auth

	var jumps []*ssh.Client
	closeJumps := func() {
		for i := len(jumps) - 1; i >= 0; i-- {
			jumps[i].Close()
		}
	}
	if h.SSH.ProxyJump != "" {
		hops, err := parseProxyJump(h.SSH.ProxyJump, h.User)
		if err != nil {
			return nil, fail(ErrUnreachable, err)
		}
		var via *ssh.Client
		for _, j := range hops {
			c, f := d.connect(ctx, j, via)
			if f != nil {
				closeJumps()
				return nil, fail(f.kind, fmt.Errorf("jump host %s: %w", j.name, f.err))
			}
			jumps = append(jumps, c)
			via = c
		}
	}
	var via *ssh.Client
	if len(jumps) > 0 {
		via = jumps[len(jumps)-1]
	}
	client, f := d.connect(ctx, hop{name: h.Name, addr: h.Addr(), port: port, user: h.User}, via)
	if f != nil {
		closeJumps()
		return nil, fail(f.kind, f.err)
	}
	d.log.Debug("ssh connected", "server", string(client.ServerVersion()), "jumps", len(jumps))
	return newSSHSession(h, opts, client, jumps), nil
}

// parseProxyJump reads "[user@]host[:port]" (comma-separated for several
// jumps, first one first); IPv6 addresses go in brackets.
func parseProxyJump(spec, defaultUser string) ([]hop, error) {
	var hops []hop
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		p := hop{user: defaultUser, port: 22}
		if i := strings.LastIndex(part, "@"); i >= 0 {
			p.user, part = part[:i], part[i+1:]
		}
		p.addr = part
		if strings.HasPrefix(part, "[") || strings.Count(part, ":") == 1 {
			host, port, err := net.SplitHostPort(part)
			if err != nil {
				return nil, fmt.Errorf("proxy_jump %q: %w", spec, err)
			}
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("proxy_jump %q: bad port %q", spec, port)
			}
			p.addr, p.port = host, n
		}
		if p.addr == "" || p.user == "" {
			return nil, fmt.Errorf("proxy_jump %q: want [user@]host[:port]", spec)
		}
		p.name = part
		hops = append(hops, p)
	}
	return hops, nil
}

// authMethods collects, in OpenSSH's spirit: the identity files, the agent
// at SSH_AUTH_SOCK, and the password from password_env (for both the
// "password" and "keyboard-interactive" methods). The returned func closes
// the agent connection.
func (d *sshDialer) authMethods(ctx context.Context) ([]ssh.AuthMethod, func(), error) {
	h := d.h
	var signers []ssh.Signer
	for _, f := range h.SSH.IdentityFiles {
		data, err := readCapped(f, maxKeyFile)
		if errors.Is(err, fs.ErrNotExist) {
			d.log.Debug("identity file not found, skipped", "file", f)
			continue
		}
		if err != nil {
			d.log.Warn("identity file unreadable, skipped", "file", f, "err", err)
			continue
		}
		s, err := ssh.ParsePrivateKey(data)
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			d.log.Warn("identity file is encrypted and fleettune cannot ask for a passphrase; skipped (add it to ssh-agent)", "file", f)
			continue
		}
		if err != nil {
			d.log.Warn("identity file does not parse, skipped", "file", f, "err", err)
			continue
		}
		signers = append(signers, s)
	}

	var onlyKeys []string // IdentitiesOnly: the public keys of the identity files
	for _, f := range h.SSH.IdentityFiles {
		if pub, err := readCapped(f+".pub", maxKeyFile); err == nil {
			if k, _, _, _, err := ssh.ParseAuthorizedKey(pub); err == nil {
				onlyKeys = append(onlyKeys, string(k.Marshal()))
			}
		}
	}
	closeAgent := func() {}
	var agentSigners func() ([]ssh.Signer, error)
	if sock := d.opts.Getenv("SSH_AUTH_SOCK"); sock != "" {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, "unix", sock)
		if err != nil {
			d.log.Warn("ssh-agent unreachable, not used", "SSH_AUTH_SOCK", sock, "err", err)
		} else {
			closeAgent = func() { c.Close() }
			agentSigners = agent.NewClient(c).Signers
		}
	}

	var methods []ssh.AuthMethod
	if len(signers) > 0 || agentSigners != nil {
		methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			all := slices.Clone(signers)
			if agentSigners == nil {
				return all, nil
			}
			fromAgent, err := agentSigners()
			if err != nil {
				d.log.Warn("ssh-agent: cannot list keys", "err", err)
				return all, nil
			}
			for _, s := range fromAgent {
				dup := slices.ContainsFunc(all, func(o ssh.Signer) bool {
					return string(o.PublicKey().Marshal()) == string(s.PublicKey().Marshal())
				})
				if h.SSH.IdentitiesOnly && !slices.Contains(onlyKeys, string(s.PublicKey().Marshal())) {
					continue // IdentitiesOnly: agent keys only for the identity files named
				}
				if !dup {
					all = append(all, s)
				}
			}
			return all, nil
		}))
	}
	if name := h.SSH.PasswordEnv; name != "" {
		pw := d.opts.Getenv(name)
		if pw == "" {
			closeAgent()
			return nil, nil, fmt.Errorf("password_env names %s, but that environment variable is empty or unset", name)
		}
		methods = append(methods,
			ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if len(methods) == 0 {
		closeAgent()
		return nil, nil, fmt.Errorf("no authentication method: no usable identity file (tried %v), no ssh-agent (SSH_AUTH_SOCK) and no password_env",
			h.SSH.IdentityFiles)
	}
	return methods, closeAgent, nil
}

// connect opens one hop (over via when not nil), retrying what is worth
// retrying.
func (d *sshDialer) connect(ctx context.Context, p hop, via *ssh.Client) (*ssh.Client, *dialFailure) {
	checker, err := newHostKeyChecker(d.knownHosts, p.name, p.addr, p.port, d.h.SSH.KnownHosts, d.h.SSH.HostKeyChecking, d.log)
	if err != nil {
		return nil, &dialFailure{kind: ErrHostKey, err: err}
	}
	var prev *dialFailure
	for attempt := 1; ; attempt++ {
		c, f := d.connectOnce(ctx, p, via, checker)
		if f == nil {
			return c, nil
		}
		if ctx.Err() != nil && prev != nil {
			// The ctx ran out during a retry: the earlier failure is the news.
			prev.err = fmt.Errorf("%w (after %d attempts; %v)", prev.err, attempt, ctx.Err())
			return nil, prev
		}
		prev = f
		if !f.retry || attempt == maxDialAttempts {
			if attempt > 1 {
				f.err = fmt.Errorf("%w (after %d attempts)", f.err, attempt)
			}
			return nil, f
		}
		delay := retryBaseDelay << (attempt - 1)
		delay += rand.N(delay / 2) // jitter, so a fleet does not come back in lockstep
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			f.err = fmt.Errorf("%w (after %d attempts; no time left to retry)", f.err, attempt)
			return nil, f
		}
		d.log.Debug("ssh connect failed, retrying", "hop", p.name, "attempt", attempt, "delay", delay, "err", f.err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.err = fmt.Errorf("%w (after %d attempts; %v)", f.err, attempt, ctx.Err())
			return nil, f
		case <-t.C:
		}
	}
}

// connectOnce makes one attempt: transport (TCP, proxy command or a tunnel
// through via), then the handshake bounded by h.Timeout and ctx.
func (d *sshDialer) connectOnce(ctx context.Context, p hop, via *ssh.Client, checker *hostKeyChecker) (*ssh.Client, *dialFailure) {
	addr := p.hostPort()
	timeout := hostTimeout(d.h)
	if d.h.SSH.ConnectTimeout > 0 { // ssh_config's ConnectTimeout
		timeout = d.h.SSH.ConnectTimeout
	}
	var conn net.Conn
	var proxy *proxyConn
	switch {
	case via != nil:
		dctx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		c, err := via.DialContext(dctx, "tcp", addr)
		if err != nil {
			var oce *ssh.OpenChannelError
			retry := errors.As(err, &oce) && oce.Reason == ssh.ConnectionFailed && strings.Contains(strings.ToLower(oce.Message), "refused")
			return nil, &dialFailure{kind: ErrUnreachable, err: fmt.Errorf("tunnel to %s: %w", addr, err), retry: retry}
		}
		conn = c
	case d.h.SSH.ProxyCommand != "":
		argv, err := proxyArgv(d.h.SSH.ProxyCommand, p.addr, p.port, p.user)
		if err != nil {
			return nil, &dialFailure{kind: ErrUnreachable, err: err}
		}
		if proxy, err = startProxy(argv, addr); err != nil {
			return nil, &dialFailure{kind: ErrUnreachable, err: err}
		}
		d.log.Debug("proxy command started", "argv", argv, "pid", proxy.cmd.Process.Pid)
		d.opts.OnConnect(p.name)
		conn = proxy
	default:
		nd := net.Dialer{Timeout: timeout}
		c, err := nd.DialContext(ctx, "tcp", addr)
		if err != nil {
			if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) && dnsErr.IsNotFound && p.name == d.h.Name {
				err = fmt.Errorf("%w (%s)", err, d.h.AddressNote()) // say whether ssh_config was consulted
			}
			return nil, &dialFailure{kind: ErrUnreachable, err: err, retry: isShed(err)}
		}
		d.opts.OnConnect(p.name)
		conn = c
	}

	var kexSeen atomic.Bool
	var hostKeyErr atomic.Value // error
	check := checker.callback(func() { kexSeen.Store(true) })
	cfg := &ssh.ClientConfig{
		User: p.user,
		Auth: d.auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := check(hostname, remote, key)
			if err != nil {
				hostKeyErr.Store(err)
			}
			return err
		},
		HostKeyAlgorithms: checker.algos,
		Timeout:           timeout,
	}
	c, chans, reqs, why, err := handshake(ctx, conn, addr, cfg, timeout)
	if err == nil {
		return ssh.NewClient(c, chans, reqs), nil
	}
	hkErr, _ := hostKeyErr.Load().(error)
	early := why == "" && hkErr == nil && !kexSeen.Load() && !isTimeout(err)
	// How the proxy command ended, if it did: read before Close kills it.
	proxyReport, proxyExited := "", false
	if proxy != nil {
		wait := time.Duration(0)
		if early {
			wait = 500 * time.Millisecond
		}
		if rep, ok := proxy.exitReport(wait); ok {
			proxyReport, proxyExited = rep, true
		} else if s := strings.TrimSpace(proxy.stderr.String()); s != "" {
			proxyReport = "proxy command stderr: " + s
		}
	}
	conn.Close() // also ends a proxy command
	withProxy := func(err error) error {
		if proxyReport != "" {
			return fmt.Errorf("%w (%s)", err, proxyReport)
		}
		return err
	}
	var ane *ssh.AlgorithmNegotiationError
	switch {
	case why == "ctx":
		return nil, &dialFailure{kind: ErrUnreachable, err: fmt.Errorf("ssh handshake with %s: %w", addr, ctx.Err())}
	case hkErr != nil:
		return nil, &dialFailure{kind: ErrHostKey, err: hkErr}
	case why == "timeout" || isTimeout(err):
		return nil, &dialFailure{kind: ErrUnreachable, err: withProxy(fmt.Errorf("ssh handshake with %s did not complete within %s", addr, timeout))}
	case early && errors.As(err, &ane) && ane.What == "host key" && checker.algos != nil:
		return nil, &dialFailure{kind: ErrHostKey, err: fmt.Errorf("%s offers none of the host key types known_hosts %s holds for it (%s); server offered %s; refusing",
			checker.display(), checker.path, strings.Join(checker.known, ", "), strings.Join(ane.RequestedAlgorithms, ", "))}
	case early && proxyExited:
		// A proxy command that died is a deterministic failure: say how it
		// ended and do not retry.
		return nil, &dialFailure{kind: ErrUnreachable, err: errors.New(proxyReport)}
	case early:
		return nil, &dialFailure{kind: ErrUnreachable, err: withProxy(unwrapHandshake(err)), retry: isShed(err)}
	case isShed(err):
		return nil, &dialFailure{kind: ErrUnreachable, err: withProxy(fmt.Errorf("connection closed during authentication: %w", unwrapHandshake(err)))}
	default:
		return nil, &dialFailure{kind: ErrAuth, err: unwrapHandshake(err)}
	}
}

// handshake runs ssh.NewClientConn with a deadline of timeout on the conn
// (cleared afterwards) and closes the conn if ctx ends first. why says what
// cut it short: "ctx", "timeout" or "".
func handshake(ctx context.Context, conn net.Conn, addr string, cfg *ssh.ClientConfig, timeout time.Duration) (c ssh.Conn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, why string, err error) {
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout)) // tunnels do not support deadlines; the timer below covers them
	}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var expired <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(timeout + 50*time.Millisecond)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-stop:
		case <-ctx.Done():
			why = "ctx"
			conn.Close()
		case <-expired:
			why = "timeout"
			conn.Close()
		}
	}()
	c, chans, reqs, err = ssh.NewClientConn(&versionConn{Conn: conn}, addr, cfg)
	close(stop)
	<-watched
	if err == nil && why != "" {
		c.Close()
		err = errors.New("handshake interrupted")
	}
	if err != nil {
		return nil, nil, nil, why, err
	}
	_ = conn.SetDeadline(time.Time{})
	return c, chans, reqs, "", nil
}

// versionConn serves small reads from one buffered read. x/crypto/ssh
// reads the server's version line a byte at a time from the conn itself
// (its buffered reader comes after), which costs a system call, and often
// a trip through the poller, per byte: about 40 for OpenSSH's banner, most
// of what a plan's connection read. Reads of versionReadMin bytes or more
// (the transport's 4 KiB buffer) go to the conn directly once what was
// buffered is handed out, so after the version line this adds nothing.
type versionConn struct {
	net.Conn
	buf  []byte // read from the conn, not handed out yet; nil when drained
	rest []byte // buf's unread part
	err  error  // the conn's error, held until rest is handed out
}

// versionReadMin is the smallest read that goes to the conn as it is; a
// version line is at most 255 bytes (RFC 4253 4.2).
const versionReadMin = 256

func (c *versionConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.buf, c.rest = nil, nil
		}
		return n, nil
	}
	if c.err != nil {
		err := c.err
		c.err = nil
		return 0, err
	}
	if len(p) >= versionReadMin || len(p) == 0 {
		return c.Conn.Read(p)
	}
	if c.buf == nil {
		c.buf = make([]byte, versionReadMin)
	}
	n, err := c.Conn.Read(c.buf)
	m := copy(p, c.buf[:n])
	c.rest = c.buf[m:n]
	if len(c.rest) == 0 {
		c.buf, c.rest = nil, nil
		return m, err
	}
	c.err = err
	return m, nil
}

// isShed reports errors that look like a server refusing or dropping a
// connection under load: worth another try.
func isShed(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// unwrapHandshake drops x/crypto's "ssh: handshake failed: " prefix.
func unwrapHandshake(err error) error {
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "ssh: handshake failed: ") {
		return inner
	}
	return err
}
