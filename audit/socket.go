// Package audit finds the hosts that run out of ephemeral ports: it reads
// each host's socket table and port configuration in one read-only remote
// command, groups the sockets into the pools the OS allocates ports from,
// and computes per pool the utilisation, the rate of new connections, the
// ceiling that rate can reach, a grade and advice (docs/audit.md).
package audit

import (
	"net/netip"
	"time"
)

// State is a TCP socket state, whatever the OS calls it.
type State uint8

// The states; every one but Listen and Closed holds its local port.
const (
	StateUnknown State = iota
	Established
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Closed
	CloseWait
	LastAck
	Listen
	Closing
	Bound // Windows netstat -q, Solaris BOUND: bound, not connected
	nStates
)

var stateNames = [nStates]string{"UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT_1", "FIN_WAIT_2",
	"TIME_WAIT", "CLOSED", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "BOUND"}

func (s State) String() string {
	if s < nStates {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// holds reports whether a socket in state s keeps its local port taken.
func (s State) holds() bool {
	return s != StateUnknown && s != Listen && s != Closed
}

// Socket is one row of a host's socket table.
type Socket struct {
	Local, Remote netip.AddrPort
	State         State
	// Timer is the time left on a TIME_WAIT socket's timer; -1 when the OS
	// does not say.
	Timer time.Duration
	PID   int // owning process; -1 when the OS does not say cheaply
}

// addrPort builds an AddrPort from a parsed address ("" or "*" is the
// unspecified address) and port, unmapping IPv4-mapped IPv6 addresses so
// that ::ffff:10.0.0.1 and 10.0.0.1 are one pool.
func addrPort(a netip.Addr, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(a.Unmap(), port)
}
