package lab

// The lab's WinRM server: a WS-Management endpoint (POST /wsman, SOAP 1.2)
// per Windows host on its own loopback port, speaking enough of the
// Windows Remote Shell protocol for an unmodified github.com/masterzen/winrm
// client: Create, Command, Receive, Send, Signal and Delete on the cmd
// resource, with the faults Windows sends for an unknown shell and for a
// Receive that outlives its OperationTimeout. Commands run through
// Host.Run, so the host's emulator (its Shell) answers them.
//
// HTTPS (the default) uses a certificate for 127.0.0.1, ::1 and localhost
// signed by a CA the lab makes at start and writes as ca.pem. Auth is
// NTLM (Negotiate, connection-oriented as Windows' HTTP.sys does it: a
// connection that authenticated stays authenticated) or Basic.
//
// Faults (Host.Faults) honoured here: Refuse (through SetFaults the
// listener is closed; set directly, each connection is closed at once),
// Reset, RejectAuth (every request gets 401) and Delay (each command waits
// this long before it runs; Signal, Delete or the lab closing end the
// wait). SetBadCertificate makes a host present a certificate from another
// CA.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"
)

// WinRM protocol constants: namespaces and actions as Windows uses them.
const (
	nsSOAP      = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr      = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsTransfer  = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	nsWSMan     = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsMSWSMan   = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	nsShell     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsWSManFlt  = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
	resourceCmd = nsShell + "/cmd"

	actionCreate   = nsTransfer + "/Create"
	actionDelete   = nsTransfer + "/Delete"
	actionCommand  = nsShell + "/Command"
	actionReceive  = nsShell + "/Receive"
	actionSend     = nsShell + "/Send"
	actionSignal   = nsShell + "/Signal"
	actionFault    = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	stateDone      = nsShell + "/CommandState/Done"
	stateRunning   = nsShell + "/CommandState/Running"
	anonymousReply = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
)

// WinRM settings of the lab's Windows hosts.
const (
	// WinRMUser is the account the lab's Windows hosts accept.
	WinRMUser = "Administrator"
	// PasswordEnv is the variable the lab's inventory names in
	// password_env for its Windows hosts; set it to Lab.Password().
	PasswordEnv = "FLEETTUNE_LAB_PASSWORD"
	// CAFile is the lab CA's certificate (PEM), written into Lab.Dir.
	CAFile = "ca.pem"

	maxEnvelope         = 512 << 10 // bytes of request body read
	maxOperationTimeout = 60 * time.Second
	minOperationTimeout = 100 * time.Millisecond
	// exitTerminated is the exit code of a command ended by Signal before
	// it ran (STATUS_CONTROL_C_EXIT).
	exitTerminated = -1073741510
)

// winrmServer serves one Windows host.
type winrmServer struct {
	portListener
	https bool
	auth  string // "ntlm" or "basic"

	srv     *http.Server
	pending *connQueue

	badCert bool
	// cert is this host's own certificate behind the shared listener
	// (for its address), made at its first TLS handshake.
	cert   *tls.Certificate
	shells map[string]*wsShell
	// orphans are commands whose shell a reboot ended while they ran:
	// their output is still delivered, once.
	orphans map[string]*wsCommand
	stats   WinRMStats
}

// WinRMStats counts what a Windows host's WinRM endpoint served, for tests:
// shell reuse shows as one Create per run.
type WinRMStats struct {
	Connections int // TCP connections accepted (faulted ones included)
	Requests    int // HTTP requests, 401s included
	Creates     int // shells created
	Deletes     int // shells deleted
	Commands    int // commands started
	Receives    int // Receive requests, those that timed out included
	TimedOut    int // Receives answered with the OperationTimeout fault
	Signals     int
	OpenShells  int // shells that exist now
}

type wsShell struct {
	id, user string
	cmds     map[string]*wsCommand
}

type wsCommand struct {
	id     string
	done   chan struct{} // closed when out is set
	out    Output
	reboot bool // the host rebooted while it ran
	cancel context.CancelFunc
	// sentOut and sentErr count the bytes of out already sent: like
	// Windows, the lab answers a Receive with no more output than the
	// client's MaxEnvelopeSize holds, and the rest in the next ones.
	sentOut, sentErr int
}

// wsConn is one client connection's NTLM state.
type wsConn struct {
	mu        sync.Mutex
	challenge *[8]byte // outstanding CHALLENGE, nil when none
	user      string   // authenticated user, "" before
}

type connKey struct{}

func newWinRMServer(l *Lab, h *Host, addr *net.TCPAddr, https bool, auth string) (*winrmServer, error) {
	s := &winrmServer{portListener: portListener{lab: l, host: h, addr: addr, conns: map[net.Conn]struct{}{}},
		https: https, auth: auth, shells: map[string]*wsShell{}, orphans: map[string]*wsCommand{}}
	s.handle = s.accept
	s.pending = newConnQueue()
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: handshakeTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          l.log.StandardLog(log.StandardLogOptions{ForceLevel: log.DebugLevel}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &wsConn{})
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}
		},
	}
	s.mu.Lock()
	err := s.listenLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = s.srv.Serve(s.pending)
	}()
	return s, nil
}

// accept applies the connection faults, wraps TLS, and queues the
// connection for the HTTP server.
func (s *winrmServer) accept(c net.Conn) bool {
	s.mu.Lock()
	s.stats.Connections++
	s.mu.Unlock()
	switch f := s.faults(); {
	case f.Refuse:
		c.Close()
		return true
	case f.Reset:
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		return true
	}
	if s.https {
		c = tls.Server(c, &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"http/1.1"},
			GetCertificate: s.certificate,
		})
	}
	if !s.track(c) {
		return false
	}
	if !s.pending.push(c) {
		c.Close()
		return false
	}
	return true
}

// certificate is the host's server certificate: the lab CA's, or another
// CA's while SetBadCertificate is on.
func (s *winrmServer) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.badCert {
		return s.lab.badServerCert()
	}
	if s.lab.shared {
		if s.cert == nil {
			c, err := s.lab.ca.serverCert(s.addr.IP)
			if err != nil {
				return nil, err
			}
			s.cert = c
		}
		return s.cert, nil
	}
	return &s.lab.ca.server, nil
}

func (s *winrmServer) close() {
	s.mu.Lock()
	s.closeLocked()
	for _, sh := range s.shells {
		for _, c := range sh.cmds {
			c.cancel()
		}
	}
	s.mu.Unlock()
	s.pending.close()
	_ = s.srv.Close()
}

func (s *winrmServer) snapshot() WinRMStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.OpenShells = len(s.shells)
	return st
}

// ServeHTTP answers one WS-Management request.
func (s *winrmServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()
	if r.URL.Path != "/wsman" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "", http.StatusMethodNotAllowed)
		return
	}
	user, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEnvelope+1))
	if err != nil {
		return
	}
	if !strings.Contains(r.Header.Get("Content-Type"), "application/soap+xml") {
		http.Error(w, "", http.StatusUnsupportedMediaType)
		return
	}
	var env envelope
	if len(body) > maxEnvelope || xml.Unmarshal(body, &env) != nil {
		s.fault(w, "", "s:Sender", "w:SchemaValidationError", "2150858817",
			"The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. ")
		return
	}
	h := env.Header
	if h.Action != actionCreate && h.ResourceURI != resourceCmd {
		s.fault(w, h.MessageID, "s:Sender", "w:DestinationUnreachable", "2150858770",
			"The WS-Management service cannot process the request. The resource URI is not supported. ")
		return
	}
	switch h.Action {
	case actionCreate:
		s.create(w, r, &env, user)
	case actionCommand:
		s.command(w, &env)
	case actionReceive:
		s.receive(w, r, &env)
	case actionSend:
		s.withShell(w, &env, func(*wsShell) string { return respond(actionSend+"Response", h.MessageID, "<rsp:SendResponse/>") })
	case actionSignal:
		s.signal(w, &env)
	case actionDelete:
		s.delete(w, &env)
	default:
		s.fault(w, h.MessageID, "s:Sender", "a:ActionNotSupported", "2150858771",
			"The WS-Management service cannot process the request because the action is not supported. ")
	}
}

// authenticate checks the request's credentials; on failure it has
// answered 401 (with the challenge) and returns false.
func (s *winrmServer) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	reject := s.faults().RejectAuth
	pw := s.lab.winrmPassword
	deny := func(challenge string) (string, bool) {
		// Windows answers 401 with an empty body: no SOAP content type.
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return "", false
	}
	if s.auth == "basic" {
		u, p, ok := r.BasicAuth()
		if !ok || reject || !isAdmin(u) || subtle.ConstantTimeCompare([]byte(p), []byte(pw)) != 1 {
			return deny(`Basic realm="WSMAN"`)
		}
		return u, true
	}

	conn, _ := r.Context().Value(connKey{}).(*wsConn)
	if conn == nil {
		conn = &wsConn{}
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Negotiate") && !strings.EqualFold(scheme, "NTLM") {
		if conn.user != "" && !reject && token == "" && scheme == "" {
			return conn.user, true // an authenticated connection
		}
		return deny("Negotiate")
	}
	msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil {
		return deny("Negotiate")
	}
	typ, err := ntlmMessageType(msg)
	if err != nil {
		return deny("Negotiate")
	}
	switch typ {
	case ntlmMessageNegotiate:
		conn.user = ""
		if parseNTLMNegotiate(msg) != nil {
			return deny("Negotiate")
		}
		chal, c, err := newNTLMChallenge(s.host.Name)
		if err != nil {
			return deny("Negotiate")
		}
		conn.challenge = &c
		return deny(scheme + " " + base64.StdEncoding.EncodeToString(chal))
	case ntlmMessageAuthenticate:
		c := conn.challenge
		conn.challenge = nil // a challenge answers once
		if c == nil {
			return deny("Negotiate")
		}
		a, err := parseNTLMAuthenticate(msg)
		if err == nil && !isAdmin(a.User) {
			err = fmt.Errorf("no user %q", a.User)
		}
		if err == nil {
			err = verifyNTLMv2(a, *c, pw)
		}
		if err == nil && reject {
			err = errors.New("fault RejectAuth")
		}
		if err != nil {
			s.lab.log.Debug("lab: winrm ntlm logon refused", "host", s.host.Name, "err", err)
			return deny("Negotiate")
		}
		conn.user = a.User
		return a.User, true
	}
	return deny("Negotiate")
}

// isAdmin accepts Administrator, DOMAIN\Administrator and
// Administrator@domain, in any case.
func isAdmin(u string) bool {
	if _, after, ok := strings.Cut(u, `\`); ok {
		u = after
	}
	if before, _, ok := strings.Cut(u, "@"); ok {
		u = before
	}
	return strings.EqualFold(u, WinRMUser)
}

// envelope is what the lab reads of a request.
type envelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action           string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID        string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		ResourceURI      string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		OperationTimeout string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		MaxEnvelopeSize  string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
		SelectorSet      struct {
			Selectors []struct {
				Name  string `xml:"Name,attr"`
				Value string `xml:",chardata"`
			} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
		} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		CommandLine *struct {
			Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
			Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Receive *struct {
			DesiredStream struct {
				CommandID string `xml:"CommandId,attr"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Signal *struct {
			CommandID string `xml:"CommandId,attr"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

func (e *envelope) shellID() string {
	for _, s := range e.Header.SelectorSet.Selectors {
		if s.Name == "ShellId" {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

// operationTimeout reads w:OperationTimeout ("PT60S", "PT1.5S"), bounded.
var isoSeconds = regexp.MustCompile(`^PT(?:(\d+)M)?(\d+(?:\.\d+)?)S$`)

// maxEnvelope is the client's MaxEnvelopeSize in bytes (the WS-Management
// default, 153,600, when it sends none).
func (e *envelope) maxEnvelope() int {
	n, err := strconv.Atoi(strings.TrimSpace(e.Header.MaxEnvelopeSize))
	if err != nil || n <= 0 {
		n = 153600
	}
	return max(n, 8192)
}

func (e *envelope) operationTimeout() time.Duration {
	d := maxOperationTimeout
	if m := isoSeconds.FindStringSubmatch(strings.TrimSpace(e.Header.OperationTimeout)); m != nil {
		mins, _ := strconv.Atoi(m[1])
		sec, _ := strconv.ParseFloat(m[2], 64)
		d = time.Duration(mins)*time.Minute + time.Duration(sec*float64(time.Second))
	}
	return max(minOperationTimeout, min(d, maxOperationTimeout))
}

func (s *winrmServer) create(w http.ResponseWriter, r *http.Request, env *envelope, user string) {
	sh := &wsShell{id: newWSID(), user: user, cmds: map[string]*wsCommand{}}
	s.mu.Lock()
	s.shells[sh.id] = sh
	s.stats.Creates++
	s.mu.Unlock()
	scheme := "http"
	if s.https {
		scheme = "https"
	}
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	body := fmt.Sprintf(`<x:ResourceCreated><a:Address>%s://%s/wsman</a:Address><a:ReferenceParameters>`+
		`<w:ResourceURI>%s</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>`+
		`</a:ReferenceParameters></x:ResourceCreated>`+
		`<rsp:Shell><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner>`+
		`<rsp:ClientIP>%s</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>`+
		`<rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>`+
		`<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`,
		scheme, esc(r.Host), resourceCmd, sh.id, sh.id, resourceCmd, esc(user), esc(client))
	s.reply(w, respond(actionCreate+"Response", env.Header.MessageID, body))
}

// withShell runs f on the request's shell and sends what it returns, or
// the fault Windows sends for a shell it does not know.
func (s *winrmServer) withShell(w http.ResponseWriter, env *envelope, f func(*wsShell) string) {
	id := env.shellID()
	s.mu.Lock()
	sh := s.shells[id]
	s.mu.Unlock()
	if sh == nil {
		s.fault(w, env.Header.MessageID, "s:Sender", "w:InvalidSelectors", "2150858843",
			fmt.Sprintf("The request for the Windows Remote Shell with ShellId %s failed because the shell was not found on the server. "+
				"Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. "+
				"Provide the correct ShellId or create a new shell and retry the operation. ", id))
		return
	}
	if out := f(sh); out != "" {
		s.reply(w, out)
	}
}

// errUnknownCommand is the fault for a CommandId the shell does not hold
// (text as Windows words it; code unconfirmed against a real host).
func (s *winrmServer) unknownCommand(w http.ResponseWriter, env *envelope) {
	s.fault(w, env.Header.MessageID, "s:Sender", "w:InvalidParameter", "2150858854",
		"The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. "+
			"Either the command has completed execution or the client specified an invalid command identifier. ")
}

func (s *winrmServer) command(w http.ResponseWriter, env *envelope) {
	cl := env.Body.CommandLine
	if cl == nil {
		s.fault(w, env.Header.MessageID, "s:Sender", "w:SchemaValidationError", "2150858817",
			"The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. ")
		return
	}
	line := strings.Join(append([]string{cl.Command}, cl.Arguments...), " ")
	s.withShell(w, env, func(sh *wsShell) string {
		ctx, cancel := context.WithCancel(s.lab.ctx)
		c := &wsCommand{id: newWSID(), done: make(chan struct{}), cancel: cancel}
		s.mu.Lock()
		sh.cmds[c.id] = c
		s.stats.Commands++
		user := sh.user
		s.mu.Unlock()
		s.lab.wg.Add(1)
		go func() {
			defer s.lab.wg.Done()
			defer cancel()
			s.run(ctx, c, user, line)
		}()
		return respond(actionCommand+"Response", env.Header.MessageID,
			`<rsp:CommandResponse><rsp:CommandId>`+c.id+`</rsp:CommandId></rsp:CommandResponse>`)
	})
}

// run waits out the host's delay, runs the command line and publishes its
// output. A reboot while it ran ends every shell of the host.
func (s *winrmServer) run(ctx context.Context, c *wsCommand, user, line string) {
	defer close(c.done)
	if d := s.faults().delayFor(line); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			c.out = Output{Code: exitTerminated}
			return
		}
	}
	boots := s.host.bootCount()
	c.out = s.host.Run(windowsUser(user), line)
	if s.host.bootCount() != boots {
		c.reboot = true
		s.lab.log.Info("lab: host rebooted; its WinRM shells are gone", "host", s.host.Name)
		s.mu.Lock()
		for id, sh := range s.shells {
			for _, other := range sh.cmds {
				if other != c {
					other.cancel()
				}
			}
			delete(s.shells, id)
		}
		s.orphans[c.id] = c
		s.mu.Unlock()
	}
}

// windowsUser is the account name a command runs as: Administrator
// without a domain.
func windowsUser(u string) string {
	if _, after, ok := strings.Cut(u, `\`); ok {
		u = after
	}
	if before, _, ok := strings.Cut(u, "@"); ok {
		u = before
	}
	return u
}

func (h *Host) bootCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Boots
}

func (s *winrmServer) lookupCommand(env *envelope, id string) (*wsShell, *wsCommand) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shells[env.shellID()]
	if sh == nil && env.Body.Receive != nil && s.orphans[id] != nil {
		c := s.orphans[id]
		delete(s.orphans, id)
		return &wsShell{id: env.shellID()}, c
	}
	if sh == nil {
		return nil, nil
	}
	return sh, sh.cmds[id]
}

func (s *winrmServer) receive(w http.ResponseWriter, r *http.Request, env *envelope) {
	if env.Body.Receive == nil {
		s.unknownCommand(w, env)
		return
	}
	id := env.Body.Receive.DesiredStream.CommandID
	sh, c := s.lookupCommand(env, id)
	if sh == nil {
		s.withShell(w, env, nil) // the fault for an unknown shell
		return
	}
	if c == nil {
		s.unknownCommand(w, env)
		return
	}
	s.mu.Lock()
	s.stats.Receives++
	s.mu.Unlock()
	if s.faults().EagerReceive {
		select {
		case <-c.done:
		default:
			s.reply(w, respond(actionReceive+"Response", env.Header.MessageID,
				`<rsp:ReceiveResponse><rsp:CommandState CommandId="`+c.id+`" State="`+stateRunning+`"/></rsp:ReceiveResponse>`))
			return
		}
	}
	t := time.NewTimer(env.operationTimeout())
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		s.mu.Lock()
		s.stats.TimedOut++
		s.mu.Unlock()
		s.fault(w, env.Header.MessageID, "s:Receiver", "w:TimedOut", "2150858793",
			"The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ")
		return
	case <-r.Context().Done():
		return
	}
	// Output in base64 fits in the envelope less room for the XML around it.
	budget := (env.maxEnvelope() - 4096) * 3 / 4
	if s.faults().WholeReceive {
		budget = len(c.out.Stdout) + len(c.out.Stderr)
	}
	var b strings.Builder
	b.WriteString("<rsp:ReceiveResponse>")
	s.mu.Lock()
	finished := true
	for _, st := range []struct {
		name, data string
		sent       *int
	}{{"stdout", c.out.Stdout, &c.sentOut}, {"stderr", c.out.Stderr, &c.sentErr}} {
		chunk := st.data[*st.sent:]
		if len(chunk) > budget {
			chunk = chunk[:budget]
		}
		budget -= len(chunk)
		*st.sent += len(chunk)
		if chunk != "" {
			fmt.Fprintf(&b, `<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>`, st.name, c.id, base64.StdEncoding.EncodeToString([]byte(chunk)))
		}
		if *st.sent < len(st.data) {
			finished = false
		}
	}
	s.mu.Unlock()
	if !finished {
		b.WriteString(`<rsp:CommandState CommandId="` + c.id + `" State="` + stateRunning + `"/></rsp:ReceiveResponse>`)
		s.reply(w, respond(actionReceive+"Response", env.Header.MessageID, b.String()))
		return
	}
	for _, name := range []string{"stdout", "stderr"} {
		fmt.Fprintf(&b, `<rsp:Stream Name="%s" CommandId="%s" End="true"></rsp:Stream>`, name, c.id)
	}
	fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`,
		c.id, stateDone, c.out.Code)
	if c.reboot {
		w.Header().Set("Connection", "close")
	}
	s.reply(w, respond(actionReceive+"Response", env.Header.MessageID, b.String()))
}

func (s *winrmServer) signal(w http.ResponseWriter, env *envelope) {
	if env.Body.Signal == nil {
		s.unknownCommand(w, env)
		return
	}
	id := env.Body.Signal.CommandID
	sh, c := s.lookupCommand(env, id)
	if sh == nil {
		s.withShell(w, env, nil)
		return
	}
	if c == nil {
		s.unknownCommand(w, env)
		return
	}
	c.cancel() // ends a command still waiting out its delay
	s.mu.Lock()
	delete(sh.cmds, id)
	s.stats.Signals++
	s.mu.Unlock()
	s.reply(w, respond(actionSignal+"Response", env.Header.MessageID, "<rsp:SignalResponse/>"))
}

func (s *winrmServer) delete(w http.ResponseWriter, env *envelope) {
	s.withShell(w, env, func(sh *wsShell) string {
		s.mu.Lock()
		for _, c := range sh.cmds {
			c.cancel()
		}
		delete(s.shells, sh.id)
		s.stats.Deletes++
		s.mu.Unlock()
		return respond(actionDelete+"Response", env.Header.MessageID, "")
	})
}

func (s *winrmServer) reply(w http.ResponseWriter, doc string) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, doc)
}

// fault sends a SOAP fault as Windows does: HTTP 500, a WSManFault detail.
func (s *winrmServer) fault(w http.ResponseWriter, relatesTo, code, subcode, wsmanCode, text string) {
	body := fmt.Sprintf(`<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value></s:Subcode></s:Code>`+
		`<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="%s" Code="%s" Machine="%s">`+
		`<f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>`,
		code, subcode, esc(text), nsWSManFlt, wsmanCode, esc(s.host.Name), esc(text))
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, respond(actionFault, relatesTo, body))
}

// respond wraps a body in a response envelope.
func respond(action, relatesTo, body string) string {
	return `<s:Envelope xml:lang="en-US" xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddr + `" xmlns:x="` + nsTransfer +
		`" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell + `" xmlns:p="` + nsMSWSMan + `"><s:Header>` +
		`<a:Action>` + action + `</a:Action><a:MessageID>uuid:` + newWSID() + `</a:MessageID>` +
		`<a:To>` + anonymousReply + `</a:To><a:RelatesTo>` + esc(relatesTo) + `</a:RelatesTo></s:Header>` +
		`<s:Body>` + body + `</s:Body></s:Envelope>`
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// newWSID is an upper-case UUID, as Windows writes ShellIds and CommandIds.
func newWSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// connQueue is a net.Listener fed by a host's accept loop, so that the
// TCP listener can close and reopen (Refuse) under one http.Server.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.close()
	return nil
}

func (q *connQueue) close() { q.once.Do(func() { close(q.done) }) }

func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// labCA is the lab's certificate authority and the server certificate
// every Windows host presents.
type labCA struct {
	pem    []byte // the CA certificate, PEM
	server tls.Certificate
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
}

// serverCert is a certificate the CA signs for one address.
func (ca *labCA) serverCert(ip net.IP) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("lab: server key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: ip.String(), Organization: []string{"fleettune lab"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{ip},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("lab: server certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// newLabCA makes a CA named name and a server certificate it signs for
// localhost, 127.0.0.1, ::1 and the listen address ip.
func newLabCA(name string, ip net.IP) (*labCA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("lab: CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"fleettune lab"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("lab: CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("lab: CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("lab: server key: %w", err)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if ip != nil && !ip.Equal(ips[0]) && !ip.Equal(ips[1]) {
		ips = append(ips, ip)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"fleettune lab"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("lab: server certificate: %w", err)
	}
	return &labCA{
		pem:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		key:    caKey,
		cert:   caCert,
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
