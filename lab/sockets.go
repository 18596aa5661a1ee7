package lab

// Load profiles and the socket tables they give.
//
// A host's Load is a handful of numbers (what its applications do with TCP:
// new outbound connections a second towards one destination, connections
// held open, connections the application forgot to close). Its socket table
// is computed from them on every read, never stored: a host with 50,000
// TIME_WAIT sockets costs the lab a few dozen bytes until something reads
// it, and then a stream of rows. The table follows the host's live
// configuration the way a kernel would: the number of TIME_WAIT sockets is
// the connection rate times the live TIME_WAIT interval (Little's law),
// capped by the ephemeral ports the live range leaves free, so widening the
// range or shortening TIME_WAIT shows in the next read.

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Profile names a host's load.
type Profile string

const (
	// ProfileIdle: a few connections, a trickle of new ones.
	ProfileIdle Profile = "idle"
	// ProfileBusy: one destination takes 52-82% of the ephemeral range
	// in TIME_WAIT (WATCH or WARN).
	ProfileBusy Profile = "busy"
	// ProfileExhausted: the demand is above what the range and TIME_WAIT
	// allow; the range is full and the OS's signals fire (Windows Tcpip
	// 4231 and 4227 events, Linux TCPTimeWaitOverflow).
	ProfileExhausted Profile = "exhausted"
	// ProfileLeaking: the application never closes connections the peer
	// closed; CLOSE_WAIT holds 30-60% of the range.
	ProfileLeaking Profile = "leaking"
)

// Profiles are the load profiles in the order the lab documents them.
var Profiles = []Profile{ProfileIdle, ProfileBusy, ProfileExhausted, ProfileLeaking}

// Load is what a host's applications do with TCP. The zero Load adds
// nothing to the socket table the emulator shows by itself.
type Load struct {
	Profile Profile
	// Local is the host's own address in its socket table.
	Local netip.Addr
	// Dest is where the new connections go.
	Dest netip.AddrPort
	// Rate is the new outbound connections a second towards Dest.
	Rate float64
	// Established connections towards Dest, and CloseWait ones towards
	// LeakDest.
	Established, CloseWait int
	LeakDest               netip.AddrPort
	// Peer is the admin host with one inbound SSH (or WinRM) session.
	Peer netip.AddrPort
}

// Destinations the lab's loads use; shared across hosts so that a fleet
// roll-up finds the one backend many hosts hammer.
var (
	destPostgres = netip.MustParseAddrPort("10.0.0.5:5432")
	destMSSQL    = netip.MustParseAddrPort("10.0.0.12:1433")
	destHTTPS    = netip.MustParseAddrPort("10.0.0.20:443")
	destLeak     = netip.MustParseAddrPort("10.0.0.7:8080")
	adminPeer    = netip.MustParseAddrPort("10.0.0.1:50123")
)

// hostAddr is the i-th host's address in its own socket table: 10.1.0.1,
// 10.1.0.2, ... (never a real address the lab reaches).
func hostAddr(i int) netip.Addr {
	i++
	return netip.AddrFrom4([4]byte{10, byte(1 + i>>16), byte(i >> 8), byte(i)})
}

// seeded is a deterministic number in [0, 1) from a seed and a name.
func seeded(seed int64, name, what string) float64 {
	f := fnv.New64a()
	fmt.Fprintf(f, "%d/%s/%s", seed, name, what)
	return float64(f.Sum64()>>11) / float64(1<<53)
}

// NewLoad makes a profile's load for a host whose ephemeral range has
// usable ports and whose TIME_WAIT interval is tw, from a seed (the same
// seed and name give the same load). windows picks a SQL Server
// destination for the exhausted profile, as the Tcpip events describe.
func NewLoad(p Profile, name string, index int, usable int, tw time.Duration, seed int64, windows bool) (Load, error) {
	l := Load{Profile: p, Local: hostAddr(index), Peer: adminPeer, LeakDest: destLeak}
	r := func(what string) float64 { return seeded(seed, name, what) }
	secs := tw.Seconds()
	if secs <= 0 {
		secs = 60
	}
	switch p {
	case ProfileIdle:
		l.Dest, l.Rate, l.Established = destHTTPS, 0.2+2*r("rate"), 2+int(6*r("estab"))
	case ProfileBusy:
		frac := 0.52 + 0.30*r("frac")
		l.Dest, l.Established = destPostgres, 20+int(40*r("estab"))
		l.Rate = frac * float64(usable) / secs
	case ProfileExhausted:
		l.Dest, l.Established = destPostgres, 60+int(60*r("estab"))
		if windows {
			l.Dest = destMSSQL
		}
		l.Rate = 1.4 * float64(usable) / secs
	case ProfileLeaking:
		l.Dest, l.Rate, l.Established = destHTTPS, 1+2*r("rate"), 5+int(10*r("estab"))
		l.CloseWait = int((0.30 + 0.30*r("frac")) * float64(usable))
	default:
		return Load{}, fmt.Errorf("lab: load profile %q: want idle, busy, exhausted or leaking", p)
	}
	return l, nil
}

// TCP states as the tables name them.
type tcpState uint8

const (
	stListen tcpState = iota
	stEstablished
	stCloseWait
	stTimeWait
)

// sockRow is one row of a socket table, computed, never stored.
type sockRow struct {
	state         tcpState
	local, remote netip.AddrPort
	// timer is the TIME_WAIT time left.
	timer time.Duration
}

// tableSpec is what a socket table is computed from: the live range, the
// ports inside it that connect() skips, the live TIME_WAIT interval and
// the listeners.
type tableSpec struct {
	low, high int
	skip      func(port int) bool // reserved or excluded ports; nil: none
	timeWait  time.Duration
	listening []int
}

// free is how many ports of the range connect() may use.
func (t tableSpec) free(listening map[int]bool) int {
	n := 0
	for p := t.low; p <= t.high && t.low > 0; p++ {
		if !listening[p] && (t.skip == nil || !t.skip(p)) {
			n++
		}
	}
	return n
}

// sizes is how many rows of each state the load gives: established,
// CLOSE_WAIT and TIME_WAIT, each holding one ephemeral port.
func (l *Load) sizes(t tableSpec, listening map[int]bool) (estab, closeWait, timeWait int) {
	if l.Profile == "" || t.low <= 0 || t.high < t.low {
		return 0, 0, 0
	}
	free := t.free(listening)
	estab = min(l.Established, free)
	closeWait = min(l.CloseWait, free-estab)
	timeWait = int(l.Rate * t.timeWait.Seconds())
	timeWait = max(0, min(timeWait, free-estab-closeWait))
	return estab, closeWait, timeWait
}

func listenSet(ports []int) map[int]bool {
	m := make(map[int]bool, len(ports))
	for _, p := range ports {
		m[p] = true
	}
	return m
}

// rows calls yield for the rows the load adds, in the order a kernel
// lists them after its listeners: established, CLOSE_WAIT, TIME_WAIT, each
// holding its own ephemeral port. The listeners and the admin session are
// the emulator's own rows. It returns the TIME_WAIT count.
func (l *Load) rows(t tableSpec, yield func(sockRow)) (timeWait int) {
	listening := listenSet(t.listening)
	estab, closeWait, tw := l.sizes(t, listening)
	port := t.low
	nextPort := func() uint16 {
		for listening[port] || t.skip != nil && t.skip(port) {
			port++
		}
		p := port
		port++
		return uint16(p)
	}
	for range estab {
		yield(sockRow{state: stEstablished, local: netip.AddrPortFrom(l.Local, nextPort()), remote: l.Dest})
	}
	for range closeWait {
		yield(sockRow{state: stCloseWait, local: netip.AddrPortFrom(l.Local, nextPort()), remote: l.LeakDest})
	}
	for k := range tw {
		// A steady rate leaves the ages spread evenly over the interval.
		left := t.timeWait - time.Duration((float64(k)+0.5)*float64(t.timeWait)/float64(tw))
		yield(sockRow{state: stTimeWait, local: netip.AddrPortFrom(l.Local, nextPort()), remote: l.Dest, timer: left})
	}
	return tw
}

// addrCache formats the few distinct addresses of a table once.
type addrCache struct {
	keys []netip.Addr
	vals []string
}

func (c *addrCache) str(a netip.Addr) string {
	for i, k := range c.keys {
		if k == a {
			return c.vals[i]
		}
	}
	s := a.String()
	c.keys, c.vals = append(c.keys, a), append(c.vals, s)
	return s
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

func appendPad(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, ' ')
	}
	return b
}

const hexDigits = "0123456789ABCDEF"

// appendHex appends v in upper-case hex, zero-padded to width.
func appendHex(b []byte, v uint64, width int) []byte {
	var buf [16]byte
	i := len(buf)
	for v > 0 || i == len(buf) {
		i--
		buf[i] = hexDigits[v&15]
		v >>= 4
	}
	for n := len(buf) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, buf[i:]...)
}

// bsdStates are the netstat names of the load's states on the Unix
// systems and Windows.
var bsdStates = map[tcpState]string{stEstablished: "ESTABLISHED", stCloseWait: "CLOSE_WAIT", stTimeWait: "TIME_WAIT"}

// dottedRows yields the load's rows as the BSD and Solaris netstat print
// addresses: a.b.c.d.port. local and remote are reused between calls.
func dottedRows(h *Host, yield func(state string, local, remote []byte)) {
	if h.Load.Profile == "" {
		return
	}
	er, ok := h.Emu.(interface{ ephemeralRange() (int, int) })
	if !ok {
		return
	}
	lo, hi := er.ephemeralRange()
	t := tableSpec{low: lo, high: hi, timeWait: h.Emu.TimeWait(), listening: h.Listening}
	var cache addrCache
	var lb, rb []byte
	dot := func(b []byte, ap netip.AddrPort) []byte {
		b = append(b[:0], cache.str(ap.Addr())...)
		b = append(b, '.')
		return strconv.AppendInt(b, int64(ap.Port()), 10)
	}
	h.Load.rows(t, func(r sockRow) {
		lb, rb = dot(lb, r.local), dot(rb, r.remote)
		yield(bsdStates[r.state], lb, rb)
	})
}

// writeBSDRows writes the load's rows in the BSD netstat -an layout the
// HP-UX, AIX and Tru64 emulators share: prefix (the protocol and the two
// queue columns, as each OS prints them), then the local and remote
// address padded to 22 columns, then the state. It is the emulators' row
// format written without fmt, which a 60,000-row table makes too slow.
func writeBSDRows(b *strings.Builder, h *Host, prefix string) {
	dottedRows(h, func(state string, local, remote []byte) {
		b.WriteString(prefix)
		writePadded(b, local, 22)
		b.WriteByte(' ')
		writePadded(b, remote, 22)
		b.WriteByte(' ')
		b.WriteString(state)
		b.WriteByte('\n')
	})
}

// writePadded writes s and pads it with spaces to width.
func writePadded(b *strings.Builder, s []byte, width int) {
	b.Write(s)
	for n := len(s); n < width; n++ {
		b.WriteByte(' ')
	}
}

// netstatFlags reads netstat's arguments as a set: -a -n (or -an), -f
// FAMILY, -P PROTO, -p PROTO, -s, -o, -q; anything else is an error.
func netstatFlags(args []string) (flags map[byte]bool, family, proto string, err error) {
	flags = map[byte]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-f" || a == "-P" || a == "-p":
			if i+1 >= len(args) {
				return nil, "", "", fmt.Errorf("%s needs an argument", a)
			}
			if a == "-f" {
				family = args[i+1]
			} else {
				proto = strings.ToLower(args[i+1])
			}
			i++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				if !strings.ContainsRune("anosq", rune(a[j])) {
					return nil, "", "", fmt.Errorf("option -%c is not emulated", a[j])
				}
				flags[a[j]] = true
			}
		default:
			return nil, "", "", fmt.Errorf("argument %q is not emulated", a)
		}
	}
	return flags, family, proto, nil
}
