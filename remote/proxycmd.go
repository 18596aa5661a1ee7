package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proxyArgv turns an OpenSSH-style ProxyCommand into argv: the line is split
// with shell-like quoting ('…', "…", backslash) and each word then has %h,
// %p, %r and %% expanded. No shell ever sees it, so an expanded value cannot
// inject anything.
func proxyArgv(line, host string, port int, user string) ([]string, error) {
	words, err := splitWords(line)
	if err != nil {
		return nil, fmt.Errorf("proxy_command %q: %w", line, err)
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("proxy_command is empty")
	}
	for i, w := range words {
		if words[i], err = expandPercent(w, host, port, user); err != nil {
			return nil, fmt.Errorf("proxy_command %q: %w", line, err)
		}
	}
	return words, nil
}

// expandPercent expands %h, %p, %r and %% in one word.
func expandPercent(w, host string, port int, user string) (string, error) {
	if !strings.Contains(w, "%") {
		return w, nil
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '%' {
			b.WriteByte(w[i])
			continue
		}
		if i+1 == len(w) {
			return "", errors.New("lone % at the end (write %% for a percent sign)")
		}
		i++
		switch w[i] {
		case 'h':
			b.WriteString(host)
		case 'p':
			b.WriteString(strconv.Itoa(port))
		case 'r':
			b.WriteString(user)
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("unknown escape %%%c (known: %%h %%p %%r %%%%)", w[i])
		}
	}
	return b.String(), nil
}

// splitWords splits a command line the way a POSIX shell splits words,
// without any expansion: whitespace separates words, '…' is literal, "…"
// honours backslash before " \ $ ` and newline, and a backslash outside
// quotes takes the next character literally.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 == len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			if s[i] != '\n' { // backslash-newline is a line continuation
				cur.WriteByte(s[i])
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] != '\n' {
						cur.WriteByte(s[i])
					}
					continue
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// proxyConn is a proxy command's stdin and stdout as a net.Conn. The
// command runs in a process group of its own; closing the conn closes the
// pipes, gives the command a moment to exit on EOF, then kills the whole
// group (so a child it started, a `sleep` or an ssh -W, goes too) and
// reaps the command.
type proxyConn struct {
	cmd    *exec.Cmd
	r      *os.File // the child's stdout, our read end
	w      *os.File // the child's stdin, our write end
	stderr *tailBuffer
	addr   proxyAddr

	exited  chan struct{} // closed once Wait returned
	waitErr error         // set before exited is closed

	closeOnce sync.Once
}

// startProxy starts argv with its stdin/stdout on pipes. The process is not
// tied to any context: it lives until Close.
func startProxy(argv []string, remote string) (*proxyConn, error) {
	childIn, ourW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ourR, childOut, err := os.Pipe()
	if err != nil {
		childIn.Close()
		ourW.Close()
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = childIn
	cmd.Stdout = childOut
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	cmd.WaitDelay = time.Second // a grandchild holding stderr open must not hang Close
	// Its own process group: Close kills the group, children included, and
	// the terminal's Ctrl-C reaches fleettune, which closes it, not the
	// command behind its back.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	childIn.Close()
	childOut.Close()
	if err != nil {
		ourR.Close()
		ourW.Close()
		return nil, fmt.Errorf("start proxy command: %w", err)
	}
	p := &proxyConn{cmd: cmd, r: ourR, w: ourW, stderr: tail, addr: proxyAddr(remote), exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proxyConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *proxyConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *proxyConn) LocalAddr() net.Addr         { return proxyAddr("proxy-command") }
func (p *proxyConn) RemoteAddr() net.Addr        { return p.addr }

func (p *proxyConn) SetDeadline(t time.Time) error {
	return errors.Join(p.r.SetReadDeadline(t), p.w.SetWriteDeadline(t))
}
func (p *proxyConn) SetReadDeadline(t time.Time) error  { return p.r.SetReadDeadline(t) }
func (p *proxyConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

// proxyExitGrace is how long Close waits for a proxy command to exit on
// EOF before it kills its process group; sshd -i exits well before.
const proxyExitGrace = time.Second

func (p *proxyConn) Close() error {
	p.closeOnce.Do(func() {
		p.w.Close()
		p.r.Close()
		t := time.NewTimer(proxyExitGrace)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
		}
		// The group outlives its leader while any member lives: kill what
		// is left of it either way (ESRCH when nothing is).
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	})
	return nil
}

// exitReport waits up to d for the process to exit and, if it did, says how
// it ended and quotes the end of its stderr: "proxy command exited 255: …".
func (p *proxyConn) exitReport(d time.Duration) (string, bool) {
	select {
	case <-p.exited:
	case <-time.After(d):
		return "", false
	}
	how := "proxy command exited 0"
	var ee *exec.ExitError
	switch {
	case errors.As(p.waitErr, &ee) && ee.ExitCode() >= 0:
		how = fmt.Sprintf("proxy command exited %d", ee.ExitCode())
	case p.waitErr != nil:
		how = "proxy command ended: " + p.waitErr.Error()
	}
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		how += ": " + s
	}
	return how, true
}

// proxyAddr is the net.Addr of a proxy command connection: "host:port" of
// the host it leads to, so knownhosts can parse it.
type proxyAddr string

func (a proxyAddr) Network() string { return "proxy-command" }
func (a proxyAddr) String() string  { return string(a) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
