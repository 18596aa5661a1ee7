package lab

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// portListener is one simulated host's loopback port, shared by the SSH and
// the WinRM servers: it listens, hands each accepted connection to the
// server, closes while the host refuses connections and reopens on the same
// port, and tracks the open connections. Its mu guards the embedding
// server's fields too.
type portListener struct {
	lab  *Lab
	host *Host

	mu       sync.Mutex
	addr     *net.TCPAddr // the port is kept across Refuse
	ln       net.Listener // nil while refusing and after close
	conns    map[net.Conn]struct{}
	accepted int // TCP connections accepted, faulted ones included
	closed   bool

	// handle takes one accepted connection (mu not held); false stops
	// the accept loop.
	handle func(c net.Conn) bool
}

// listenLocked opens the listener on addr and starts its accept loop.
func (s *portListener) listenLocked() error {
	if s.lab.shared {
		return nil // the lab's shared listener hands this host its connections
	}
	if !s.addr.IP.IsLoopback() { // the lab never listens beyond loopback
		return fmt.Errorf("lab: %s: refusing to listen on %s: not a loopback address", s.host.Name, s.addr.IP)
	}
	ln, err := net.ListenTCP("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("lab: %s: listen: %w", s.host.Name, err)
	}
	s.ln = ln
	s.addr = ln.Addr().(*net.TCPAddr)
	s.lab.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// Addr is host:port as clients dial it.
func (s *portListener) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr.String()
}

func (s *portListener) port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr.Port
}

func (s *portListener) acceptLoop(ln net.Listener) {
	defer s.lab.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little, as
			// net/http does, unless the lab is closing.
			s.lab.log.Warn("lab: accept failed", "host", s.host.Name, "err", err)
			select {
			case <-s.lab.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !s.dispatch(c) {
			return
		}
	}
}

// dispatch counts one accepted connection and hands it to the server;
// false when the host is closed for good.
func (s *portListener) dispatch(c net.Conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return false
	}
	s.accepted++
	s.mu.Unlock()
	return s.handle(c)
}

// setRefusing closes the listener (on) or reopens it on the same port (off).
//
// Hosts behind the shared listener have no port of their own to close:
// while Refuse is set their connections are closed as soon as accepted.
func (s *portListener) setRefusing(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.lab.shared {
		return nil
	}
	if on {
		if s.ln != nil {
			s.ln.Close()
			s.ln = nil
		}
		return nil
	}
	if s.ln != nil {
		return nil
	}
	deadline := time.Now().Add(relistenFor)
	for {
		err := s.listenLocked()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closeLocked stops the listener and closes every connection for good.
func (s *portListener) closeLocked() {
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
}

// track records an open connection; false when the port is closed (the
// connection is then closed).
func (s *portListener) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *portListener) faults() Faults {
	s.host.Lock()
	defer s.host.Unlock()
	return s.host.Faults
}
