package remote

// WinRM sessions (github.com/masterzen/winrm): one client and ONE remote
// shell per host, created at dial time and reused by every command of the
// run; Close deletes the shell.
//
// The library's traps, and what is done about them here:
//   - CreateShell, Execute and Close take no context and are bounded only
//     by the endpoint's response-header timeout: every call runs in its own
//     goroutine under the host's timeout (call).
//   - A cancelled command reports exit code 0: the context is checked
//     before the exit code is trusted.
//   - Non-200 answers come back as a body with a nil error, so a SOAP fault
//     (an unknown shell, say) would be parsed as an answer: a Receive would
//     poll for ever. faultTransport turns every fault but the
//     OperationTimeout one (which means "no output yet, poll again") into
//     an error.
//   - A wrong password is only "http response error: 401 - invalid content
//     type": it is mapped to ErrAuth naming the user.
//   - NTLM is connection-oriented on Windows and the client runs its
//     3-leg handshake per request: requests are serialised per session, one
//     command at a time on the one shell.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/log"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/fleettune/fleettune/inventory"
)

const (
	// winrmMaxOperationTimeout is the longest a Receive long-polls; a
	// cancelled command is noticed within one poll, so it stays short.
	winrmMaxOperationTimeout = 20 * time.Second
	// winrmDefaultTimeout bounds dial and commands when the host has none.
	winrmDefaultTimeout = 60 * time.Second
	winrmEnvelopeSize   = 153600
	// winrmMaxMessage caps what is read of one HTTP answer: a host sends
	// at most the envelope size asked for (150 KiB) in one message, and
	// the library would read any answer whole into memory.
	winrmMaxMessage     = 1 << 20
	winrmMaxMessageText = "1 MiB"
)

// errMessageTooLarge is the read error of a connection whose answer passed
// winrmMaxMessage.
var errMessageTooLarge = errors.New("WS-Management message too large")

// winrmSession is a Session over one WinRM shell.
type winrmSession struct {
	name    string
	timeout time.Duration
	log     *log.Logger
	client  *winrm.Client
	http    *faultTransport // the client's transport: exec posts its own requests
	wire    *wsHTTP         // under it: Receive answers are read in place
	url     string          // the endpoint's URL, as the client has it
	shellID string
	shell   *winrm.Shell
	conns   *connTracker

	turn      chan struct{} // one command (or Delete) at a time on the shell
	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
}

var _ Session = (*winrmSession)(nil)

// winrmDialer holds one dial's settings.
type winrmDialer struct {
	h       *inventory.Host
	opts    Options
	log     *log.Logger
	user    string
	auth    string
	addr    string // host:port, for messages
	timeout time.Duration
}

func dialWinRM(ctx context.Context, h *inventory.Host, opts Options) (Session, error) {
	fail := func(kind, err error) error { return &Error{Host: h.Name, Kind: kind, Err: err} }
	w := h.WinRM
	d := &winrmDialer{h: h, opts: opts, log: opts.Logger, user: h.User, auth: w.Auth, timeout: h.Timeout}
	if d.auth == "" {
		d.auth = inventory.DefaultWinRMAuth
	}
	if d.auth != "ntlm" && d.auth != "basic" {
		return nil, fail(ErrAuth, fmt.Errorf("unknown winrm auth %q (want basic or ntlm)", w.Auth))
	}
	if d.timeout <= 0 {
		d.timeout = winrmDefaultTimeout
	}
	if d.user == "" {
		return nil, fail(ErrAuth, errors.New("no user for winrm (set user:)"))
	}
	if w.PasswordEnv == "" {
		return nil, fail(ErrAuth, errors.New("winrm needs a password: set winrm.password_env to the name of an environment variable that holds it"))
	}
	password := opts.Getenv(w.PasswordEnv)
	if password == "" {
		return nil, fail(ErrAuth, fmt.Errorf("password_env names %s, but that environment variable is empty or unset", w.PasswordEnv))
	}
	port := w.Port
	if port == 0 {
		port = inventory.DefaultWinRMPortHTTP
		if w.HTTPS {
			port = inventory.DefaultWinRMPortHTTPS
		}
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(h.Addr(), "["), "]")
	d.addr = net.JoinHostPort(addr, strconv.Itoa(port))

	var ca []byte
	if w.HTTPS {
		if w.CAFile != "" {
			var err error
			if ca, err = readCapped(w.CAFile, maxKeyFile); err != nil {
				return nil, fail(ErrHostKey, fmt.Errorf("read winrm ca_file: %w", err))
			}
			if !x509.NewCertPool().AppendCertsFromPEM(ca) {
				return nil, fail(ErrHostKey, fmt.Errorf("winrm ca_file %s holds no PEM certificate", w.CAFile))
			}
		}
		if w.InsecureSkipVerify {
			d.log.Warn("certificate checking is OFF for "+h.Name+" (winrm insecure_skip_verify: true): anyone on the path can read the password and the commands", "host", h.Name)
		}
	} else if d.auth == "basic" {
		d.log.Warn("winrm Basic authentication over plain HTTP sends the password in clear text to "+h.Name, "host", h.Name)
	}

	opTimeout := min(winrmMaxOperationTimeout, max(d.timeout/2, time.Second))
	urlHost := addr
	if strings.Contains(addr, ":") {
		urlHost = "[" + addr + "]" // the library pastes host:port into the URL
	}
	// The response-header timeout must outlast a Receive's long poll.
	ep := winrm.NewEndpoint(urlHost, port, w.HTTPS, w.InsecureSkipVerify, ca, nil, nil, opTimeout+d.timeout)
	ep.TLSServerName = addr
	if w.ServerName != "" {
		ep.TLSServerName = w.ServerName
	}
	conns := newConnTracker()
	dial := func(network, a string) (net.Conn, error) {
		nd := net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second}
		c, err := nd.Dial(network, a)
		if err != nil {
			return nil, err
		}
		opts.OnConnect(h.Name)
		return conns.add(c), nil
	}
	scheme := "http"
	if w.HTTPS {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s:%d/wsman", scheme, urlHost, port) // the library's Endpoint URL
	base := &wsHTTP{ntlm: d.auth == "ntlm", dial: dial, url: url, user: d.user, password: password}
	params := winrm.NewParameters(isoSeconds(opTimeout), "en-US", winrmEnvelopeSize)
	ft := &faultTransport{Transporter: base}
	params.TransportDecorator = func() winrm.Transporter { return ft }
	client, err := winrm.NewClientWithParameters(ep, d.user, password, params)
	if err != nil {
		return nil, fail(ErrHostKey, fmt.Errorf("winrm ca_file %s: %w", w.CAFile, err))
	}
	s := &winrmSession{name: h.Name, timeout: d.timeout, log: d.log, client: client, http: ft, wire: base,
		url: url, conns: conns, turn: make(chan struct{}, 1)}
	// A shell created after the dial gave up on it is deleted.
	id, err := d.createShell(ctx, s.createShell, func(id string) { _ = client.NewShell(id).Close() })
	if err != nil {
		conns.closeAll()
		return nil, err
	}
	s.shellID, s.shell = id, client.NewShell(id)
	d.log.Debug("winrm shell created", "host", h.Name, "endpoint", d.addr, "auth", d.auth, "https", w.HTTPS)
	return s, nil
}

// createShell sends Create and returns the new shell's id.
func (s *winrmSession) createShell() (string, error) {
	m := winrm.NewOpenShellRequest(s.url, &s.client.Parameters)
	defer m.Free()
	body, err := s.http.post(s.client, m, false)
	if err != nil {
		return "", err
	}
	return parseCreateResponse(body)
}

// createShell creates the session's shell, retrying with backoff what
// looks like a server shedding load before authentication (refused, reset),
// as SSH does.
func (d *winrmDialer) createShell(ctx context.Context, create func() (string, error), late func(id string)) (string, error) {
	fail := func(kind, err error) error { return &Error{Host: d.h.Name, Kind: kind, Err: err} }
	for attempt := 1; ; attempt++ {
		id, err := call(ctx, d.timeout, create, late)
		if err == nil {
			return id, nil
		}
		var kind error
		var retry bool
		switch {
		case errors.Is(err, errCallTimeout):
			kind, err = ErrUnreachable, fmt.Errorf("%s did not create a shell within %s", d.addr, d.timeout)
		case ctx.Err() != nil:
			kind, err = ErrUnreachable, fmt.Errorf("winrm connect to %s: %w", d.addr, ctx.Err())
		default:
			kind, err, retry = d.classify(err)
		}
		if !retry || attempt == maxDialAttempts {
			if attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return "", fail(kind, err)
		}
		delay := retryBaseDelay << (attempt - 1)
		delay += rand.N(delay / 2)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return "", fail(kind, fmt.Errorf("%w (after %d attempts; no time left to retry)", err, attempt))
		}
		d.log.Debug("winrm connect failed, retrying", "host", d.h.Name, "attempt", attempt, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fail(kind, fmt.Errorf("%w (after %d attempts; %v)", err, attempt, ctx.Err()))
		case <-t.C:
		}
	}
}

var httpStatusRE = regexp.MustCompile(`http response error: (\d{3}) - `)

// httpStatus is the status of a non-SOAP answer the library reported, or 0.
func httpStatus(err error) int {
	if m := httpStatusRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// classify maps a failed dial to a kind, a message an operator can act on
// and whether to retry.
func (d *winrmDialer) classify(err error) (kind, msg error, retry bool) {
	var unknownCA x509.UnknownAuthorityError
	var badName x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	w := d.h.WinRM
	switch {
	case errors.As(err, &unknownCA):
		issuer := ""
		if unknownCA.Cert != nil {
			issuer = unknownCA.Cert.Issuer.String()
		}
		fix := "set winrm.ca_file to the PEM file of the CA that signed it"
		if w.CAFile != "" {
			fix = "ca_file " + w.CAFile + " did not sign it: point winrm.ca_file at the CA that did"
		}
		return ErrHostKey, fmt.Errorf("certificate of %s not trusted: signed by an unknown authority (issuer %q); %s", d.addr, issuer, fix), false
	case errors.As(err, &badName):
		var names []string
		if badName.Certificate != nil {
			names = append(names, badName.Certificate.DNSNames...)
			for _, ip := range badName.Certificate.IPAddresses {
				names = append(names, ip.String())
			}
		}
		return ErrHostKey, fmt.Errorf("certificate of %s not trusted: it is for %s, not %q; set winrm.server_name to the name it carries",
			d.addr, strings.Join(names, ", "), badName.Host), false
	case errors.As(err, &invalid):
		return ErrHostKey, fmt.Errorf("certificate of %s not trusted: %v", d.addr, invalid), false
	case errors.As(err, &verify):
		return ErrHostKey, fmt.Errorf("certificate of %s not trusted: %v", d.addr, verify.Err), false
	case errors.As(err, &rec), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return ErrUnreachable, fmt.Errorf("%s answers plain HTTP, not HTTPS: set winrm https: false, or the HTTPS port", d.addr), false
	case httpStatus(err) == 401 || httpStatus(err) == 403:
		return ErrAuth, fmt.Errorf("authentication failed for %s: wrong password or account? (auth %s, password from $%s, HTTP %d)",
			d.user, d.auth, w.PasswordEnv, httpStatus(err)), false
	case httpStatus(err) != 0:
		return ErrUnreachable, fmt.Errorf("%s answered HTTP %d without a SOAP body: not a WinRM listener? (check port and https)", d.addr, httpStatus(err)), false
	case isShed(err):
		return ErrUnreachable, fmt.Errorf("winrm connect to %s: %w", d.addr, unwrapURL(err)), true
	}
	var f *wsmanFault
	if errors.As(err, &f) {
		return ErrUnreachable, fmt.Errorf("%s refused to create a shell: %w", d.addr, f), false
	}
	return ErrUnreachable, fmt.Errorf("winrm connect to %s: %w", d.addr, unwrapURL(err)), false
}

// unwrapURL drops the library's "unknown error Post \"URL\": " prefix.
func unwrapURL(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		var op *net.OpError
		if errors.As(e, &op) {
			return op
		}
	}
	return err
}

// Run executes cmd on the session's shell. Commands run one at a time;
// concurrent Runs queue. It is safe for concurrent use.
func (s *winrmSession) Run(ctx context.Context, cmd string) (Result, error) {
	if err := s.deadErr(); err != nil {
		return Result{}, err
	}
	if ctx.Err() != nil { // ended already: run nothing
		return Result{ExitCode: -1}, s.ctxErr(ctx, cmd)
	}
	runCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	select {
	case s.turn <- struct{}{}:
	case <-runCtx.Done():
		return Result{ExitCode: -1}, s.ctxErr(ctx, cmd)
	}
	if err := s.deadErr(); err != nil {
		<-s.turn
		return Result{}, err
	}
	if runCtx.Err() != nil { // ended while this Run waited for its turn
		<-s.turn
		return Result{ExitCode: -1}, s.ctxErr(ctx, cmd)
	}
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		// The turn is given back when the library is done with the shell,
		// which may be after Run returned on a timeout.
		defer func() { <-s.turn }()
		res, err := s.exec(runCtx, cmd)
		done <- outcome{res, err}
	}()
	if hook := testHookWinRMRunWait; hook != nil {
		hook(runCtx, func() bool { return len(done) > 0 })
	}
	select {
	case o := <-done:
		// exec may see ctx end before this select does and return the
		// bare ctx.Err(): whatever it returned, a ctx that ended makes
		// this a timeout (or cancel) of this host, wrapped.
		if runCtx.Err() != nil {
			return Result{Stdout: o.res.Stdout, Stderr: o.res.Stderr, ExitCode: -1}, s.ctxErr(ctx, cmd)
		}
		return o.res, o.err
	case <-runCtx.Done():
		return Result{ExitCode: -1}, s.ctxErr(ctx, cmd)
	}
}

// testHookWinRMRunWait, when set by a test, runs before Run waits for its
// command, with a func that says whether the command's outcome is in: a
// test holds Run there until it is and ctx has ended, so that both are
// ready when Run selects.
var testHookWinRMRunWait func(runCtx context.Context, outcomeIn func() bool)

// exec runs one command: Command, then Receive until the host says it is
// done, then Signal to release it. Each Receive answer is read in one pass
// (parseReceive), its output decoded straight into the capped buffers.
func (s *winrmSession) exec(runCtx context.Context, cmd string) (Result, error) {
	id, err := s.command(cmd)
	if err != nil {
		if runCtx.Err() != nil {
			return Result{ExitCode: -1}, runCtx.Err()
		}
		return Result{ExitCode: -1}, s.runErr(cmd, err)
	}
	// The library's requests take no ctx: a Receive long poll in flight
	// when runCtx ends would hold the shell (and the next command) for up
	// to the OperationTimeout. Closing the client's connections ends it at
	// once; the Signal below goes on a new one.
	abort := context.AfterFunc(runCtx, s.conns.closeAll)
	defer abort()
	release := func(why string) { // Signal terminate: frees the command on the host
		if err := s.signal(id); err != nil {
			s.log.Debug("winrm: signalling "+why+" failed", "host", s.name, "cmd", short(cmd), "err", err)
		}
	}
	stdout, stderr, over := newCapBuffers(outputLimit(runCtx))
	write := func(stream string, p []byte) error {
		if stream == "stdout" {
			_, err := stdout.Write(p)
			return err
		}
		_, err := stderr.Write(p)
		return err
	}
	for {
		if runCtx.Err() != nil {
			// Its output so far goes with the error; its exit code would
			// be meaningless.
			release("a cancelled command")
			return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, runCtx.Err()
		}
		a, err := s.receive(id, write)
		switch {
		case err == nil && a.done:
			release("a finished command")
			return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: a.exitCode}, nil
		case err == nil || pollAgain(err):
			continue
		case over.stream() != "":
			release("a command past the output cap")
			return Result{ExitCode: -1}, over.err(s.name, cmd)
		case runCtx.Err() != nil:
			continue // the poll was cut by runCtx: said above
		default:
			release("a failed command") // best effort
			return Result{ExitCode: -1}, s.runErr(cmd, err)
		}
	}
}

// pollAgain reports whether a failed Receive only means "no output yet":
// the client's own response timeout, or the host's OperationTimeout fault,
// as the library treats them.
func pollAgain(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return true
	}
	return strings.Contains(err.Error(), "OperationTimeout")
}

// command sends Command and returns the new command's id.
func (s *winrmSession) command(cmd string) (string, error) {
	m := winrm.NewExecuteCommandRequest(s.url, s.shellID, cmd, nil, &s.client.Parameters)
	defer m.Free()
	body, err := s.http.post(s.client, m, false)
	if err != nil {
		return "", err
	}
	return parseCommandResponse(body)
}

// receive sends one Receive for both streams and reads the answer. It does
// what faultTransport does for the library's requests from what
// parseReceive saw, rather than by searching the answer (up to 150 KiB of
// base64) for words: a fault other than OperationTimeout is an error, and
// an answer with nothing, at once, is paced.
func (s *winrmSession) receive(id string, write func(stream string, p []byte) error) (receiveAnswer, error) {
	m := winrm.NewGetOutputRequest(s.url, s.shellID, id, "stdout stderr", &s.client.Parameters)
	defer m.Free()
	start := time.Now()
	var a receiveAnswer
	err := s.wire.postRead(m, func(body string) error {
		var err error
		a, err = parseReceive(body, write)
		s.http.pace(err == nil && !a.done && !a.streams && time.Since(start) < eagerReceiveQuick)
		if err != nil {
			return err
		}
		if a.fault {
			if f := parseFault(body); f != nil && !f.timedOut() {
				return f
			}
		}
		return nil
	})
	if err != nil {
		return receiveAnswer{}, err
	}
	return a, nil
}

// signal sends Signal terminate for a command.
func (s *winrmSession) signal(id string) error {
	m := winrm.NewSignalRequest(s.url, s.shellID, id, &s.client.Parameters)
	defer m.Free()
	_, err := s.http.post(s.client, m, false)
	return err
}

// runErr maps a failure after the shell was created.
func (s *winrmSession) runErr(cmd string, err error) error {
	var ece *winrm.ExecuteCommandError
	if errors.As(err, &ece) && ece.Inner != nil {
		err = ece.Inner
	}
	if errors.Is(err, errMessageTooLarge) {
		return &Error{Host: s.name, Kind: ErrOutputTooLarge, Err: fmt.Errorf("%s: the host sent more than the limit of %s in one WS-Management message (fleettune asks for at most %d KiB); the rest was not read",
			short(cmd), winrmMaxMessageText, winrmEnvelopeSize>>10)}
	}
	if st := httpStatus(err); st == 401 || st == 403 {
		return &Error{Host: s.name, Kind: ErrAuth, Err: fmt.Errorf("%s: the host refused our credentials in mid-run (HTTP %d)", short(cmd), st)}
	}
	return &Error{Host: s.name, Kind: ErrConnLost, Err: fmt.Errorf("%s: %w", short(cmd), unwrapURL(err))}
}

func (s *winrmSession) ctxErr(parent context.Context, cmd string) error {
	if err := parent.Err(); err != nil {
		return &Error{Host: s.name, Kind: ErrTimeout, Err: fmt.Errorf("%s: %w", short(cmd), err)}
	}
	return &Error{Host: s.name, Kind: ErrTimeout, Err: fmt.Errorf("%s did not finish within %s: %w", short(cmd), s.timeout, context.DeadlineExceeded)}
}

func (s *winrmSession) deadErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return &Error{Host: s.name, Kind: ErrConnLost, Err: errors.New("session closed")}
	}
	return nil
}

// Close deletes the shell (after a command still being cleaned up, within
// the timeout) and closes the connections.
func (s *winrmSession) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		t := time.NewTimer(s.timeout)
		defer t.Stop()
		select {
		case s.turn <- struct{}{}:
			defer func() { <-s.turn }()
		case <-t.C:
			s.log.Debug("winrm: a command is still being cleaned up; deleting the shell anyway", "host", s.name)
		}
		_, err = call(context.Background(), s.timeout, func() (struct{}, error) { return struct{}{}, s.shell.Close() }, nil)
		s.conns.closeAll()
		if err != nil {
			s.log.Debug("winrm: deleting the shell failed", "host", s.name, "err", err)
			err = &Error{Host: s.name, Kind: ErrConnLost, Err: fmt.Errorf("delete shell: %w", unwrapURL(err))}
		}
	})
	return err
}

var errCallTimeout = errors.New("winrm call timed out")

// call runs f, which takes no context, in its own goroutine and waits at
// most timeout (and ctx) for it. A result that arrives after call gave up
// is handed to late (nil: dropped).
func call[T any](ctx context.Context, timeout time.Duration, f func() (T, error), late func(T)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	var mu sync.Mutex
	abandoned := false
	go func() {
		v, err := f()
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if err == nil && late != nil {
				go late(v)
			}
			return
		}
		ch <- res{v, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var zero T
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
	case <-t.C:
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case r := <-ch: // it finished as we gave up
		return r.v, r.err
	default:
	}
	abandoned = true
	if ctx.Err() != nil {
		return zero, ctx.Err()
	}
	return zero, errCallTimeout
}

// isoSeconds writes d as an xs:duration in seconds ("PT20S").
func isoSeconds(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}

// faultTransport turns SOAP faults, which the library returns as if they
// were answers, into errors, except the OperationTimeout one (no output
// yet), which the library expects to see as an answer and polls again on.
//
// It also paces a host that answers Receive at once with nothing (the
// command running, no output), which Windows never does (it waits for
// output or the OperationTimeout): the library would poll it as fast as
// the network allows until the command's timeout. After a few such answers
// in a row each next Receive waits, 50ms doubling to at most a second.
type faultTransport struct {
	winrm.Transporter

	mu    sync.Mutex
	eager int // Receives in a row answered at once with nothing
}

const (
	eagerReceiveQuick = 50 * time.Millisecond // an answer this fast is "at once"
	eagerReceiveFree  = 3                     // such answers let through unpaced
	eagerReceivePause = 50 * time.Millisecond
)

func (t *faultTransport) Post(c *winrm.Client, m *soap.SoapMessage) (string, error) {
	return t.post(c, m, strings.Contains(m.String(), "/windows/shell/Receive"))
}

// post is Post for a caller that knows whether m is a Receive.
func (t *faultTransport) post(c *winrm.Client, m *soap.SoapMessage, receive bool) (string, error) {
	start := time.Now()
	body, err := t.Transporter.Post(c, m)
	if receive {
		t.pace(err == nil && !strings.Contains(body, "CommandState/Done") && !strings.Contains(body, "Stream") &&
			time.Since(start) < eagerReceiveQuick)
	}
	if err != nil || !strings.Contains(body, "Fault") {
		return body, err
	}
	if f := parseFault(body); f != nil && !f.timedOut() {
		return "", f
	}
	return body, nil
}

// pace counts a Receive answered at once with nothing (eager) or not, and
// waits when there have been too many in a row.
func (t *faultTransport) pace(eager bool) {
	t.mu.Lock()
	if !eager {
		t.eager = 0
		t.mu.Unlock()
		return
	}
	t.eager++
	n := t.eager
	t.mu.Unlock()
	if n > eagerReceiveFree {
		time.Sleep(min(eagerReceivePause<<min(n-eagerReceiveFree-1, 5), time.Second))
	}
}

// wsmanFault is a SOAP fault a WinRM host answered.
type wsmanFault struct {
	Subcode string
	Code    string // WSManFault Code, e.g. 2150858843
	Text    string
}

func (f *wsmanFault) Error() string {
	return fmt.Sprintf("WS-Management fault %s (%s): %s", f.Subcode, f.Code, strings.TrimSpace(f.Text))
}

func (f *wsmanFault) timedOut() bool {
	return strings.HasSuffix(f.Subcode, "TimedOut") || f.Code == "2150858793"
}

// parseFault reads a SOAP fault envelope, or returns nil for anything else.
func parseFault(body string) *wsmanFault {
	var env struct {
		Fault *struct {
			Subcode string `xml:"Code>Subcode>Value"`
			Text    string `xml:"Reason>Text"`
			Detail  struct {
				WSManFault struct {
					Code string `xml:"Code,attr"`
				} `xml:"WSManFault"`
			} `xml:"Detail"`
		} `xml:"Body>Fault"`
	}
	if xml.Unmarshal([]byte(body), &env) != nil || env.Fault == nil {
		return nil
	}
	return &wsmanFault{Subcode: env.Fault.Subcode, Code: env.Fault.Detail.WSManFault.Code, Text: env.Fault.Text}
}

// connTracker remembers a client's open connections, so Close (or a
// failed dial) can close the idle ones the library keeps.
type connTracker struct {
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	maxMessage atomic.Int64 // winrmMaxMessage; tests change it
}

func newConnTracker() *connTracker {
	t := &connTracker{conns: map[net.Conn]struct{}{}}
	t.maxMessage.Store(winrmMaxMessage)
	return t
}

type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
	// read counts the bytes read since the last write: one answer (HTTP
	// is request, then response, on a connection), capped at
	// winrmMaxMessage.
	read atomic.Int64
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.read.Store(0)
	return c.Conn.Write(b)
}

func (c *trackedConn) Read(b []byte) (int, error) {
	left := c.t.maxMessage.Load() - c.read.Load()
	if left <= 0 {
		return 0, errMessageTooLarge
	}
	if int64(len(b)) > left {
		b = b[:left+1] // one byte past the cap says the answer is too large
	}
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

func (t *connTracker) add(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	all := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
