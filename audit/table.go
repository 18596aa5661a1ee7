package audit

import (
	"net/netip"
	"time"
)

// PoolModel says how the OS shares ephemeral ports between connections.
type PoolModel string

const (
	// PerDestination: Linux 3.2 and later draw from the whole range for each
	// (local address, remote address, remote port).
	PerDestination PoolModel = "per-destination"
	// PerAddress: one pool per local address (Windows: "the global TCP port
	// space"; the Unix systems: assumed).
	PerAddress PoolModel = "per-address"
)

// poolKey names a pool: Remote is invalid and Port 0 for a per-address pool.
type poolKey struct {
	Local  netip.Addr
	Remote netip.Addr
	Port   uint16
}

// destKey is a destination, address and port.
type destKey struct {
	Addr netip.Addr
	Port uint16
}

// ageBins is the number of TIME_WAIT age bins; each is a sixth of T.
const ageBins = 6

type poolAcc struct {
	states [nStates]int
	ages   [ageBins]int
	aged   int                 // TIME_WAIT sockets with a timer
	dests  map[destKey]*[2]int // per-address pools: held, TIME_WAIT per destination
	pids   map[int]int         // owning process -> sockets (Windows)
}

func (p *poolAcc) held() int {
	n := 0
	for s, c := range p.states {
		if State(s).holds() {
			n += c
		}
	}
	return n
}

// listenSet is a set of ports, one bit each.
type listenSet [65536 / 64]uint64

func (l *listenSet) add(p uint16)      { l[p/64] |= 1 << (p % 64) }
func (l *listenSet) has(p uint16) bool { return l[p/64]&(1<<(p%64)) != 0 }

// Table is a host's socket table grouped into pools. It is built from the
// sockets in two passes (listeners first, so that a socket on a listening
// port is known to be inbound), keeping counts only: memory grows with the
// number of pools, not sockets.
type Table struct {
	Model    PoolModel
	Range    rangeT
	T        time.Duration
	listen   listenSet
	pools    map[poolKey]*poolAcc
	inbound  map[uint16]*[nStates]int // per listening port
	outside  int                      // outbound sockets whose port is outside the range
	Sockets  int                      // every socket row read
	Listens  []uint16                 // listening ports in the order first seen
	listened int
}

// rangeT is the ephemeral range the table classifies against.
type rangeT struct{ Low, High int }

func (r rangeT) contains(p uint16) bool { return int(p) >= r.Low && int(p) <= r.High }

func newTable(model PoolModel, r rangeT, t time.Duration) *Table {
	return &Table{Model: model, Range: r, T: t, pools: map[poolKey]*poolAcc{}, inbound: map[uint16]*[nStates]int{}}
}

// addListener is the first pass.
func (t *Table) addListener(s Socket) {
	if s.State != Listen {
		return
	}
	p := s.Local.Port()
	if !t.listen.has(p) {
		t.listen.add(p)
		t.Listens = append(t.Listens, p)
	}
}

// add is the second pass: one socket.
func (t *Table) add(s Socket) {
	t.Sockets++
	if s.State == Listen || s.State == StateUnknown {
		return
	}
	lp := s.Local.Port()
	if t.listen.has(lp) {
		c := t.inbound[lp]
		if c == nil {
			c = new([nStates]int)
			t.inbound[lp] = c
		}
		c[s.State]++
		return
	}
	if !t.Range.contains(lp) {
		if s.State.holds() {
			t.outside++
		}
		return
	}
	k := poolKey{Local: s.Local.Addr()}
	if t.Model == PerDestination {
		k.Remote, k.Port = s.Remote.Addr(), s.Remote.Port()
	}
	p := t.pools[k]
	if p == nil {
		p = &poolAcc{}
		t.pools[k] = p
	}
	p.states[s.State]++
	if s.State == TimeWait && s.Timer >= 0 && t.T > 0 {
		age := t.T - s.Timer
		bin := int(age * ageBins / t.T)
		bin = max(0, min(bin, ageBins-1))
		p.ages[bin]++
		p.aged++
	}
	if t.Model == PerAddress && s.Remote.IsValid() {
		if p.dests == nil {
			p.dests = map[destKey]*[2]int{}
		}
		d := p.dests[destKey{s.Remote.Addr(), s.Remote.Port()}]
		if d == nil {
			d = new([2]int)
			p.dests[destKey{s.Remote.Addr(), s.Remote.Port()}] = d
		}
		if s.State.holds() {
			d[0]++
		}
		if s.State == TimeWait {
			d[1]++
		}
	}
	if s.PID > 0 {
		if p.pids == nil {
			p.pids = map[int]int{}
		}
		p.pids[s.PID]++
	}
}
