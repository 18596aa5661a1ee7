package lab

// Fleets at scale: every host behind one SSH and one WinRM listener, told
// apart by the loopback address a client dialled; loads and faults from a
// seed; the compact inventory such a fleet gets.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// sharedBase is the first host's address behind the shared listeners; the
// i-th host answers on sharedBase + i (127.1.0.1, 127.1.0.2, ...).
var sharedBase = netip.MustParseAddr("127.1.0.1")

func sharedAddr(i int) netip.Addr {
	b := sharedBase.As4()
	n := binary.BigEndian.Uint32(b[:]) + uint32(i)
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b)
}

// listenShared opens the SSH listener on basePort (0: a free port), the
// WinRM one on the next port (or a free one), and the refusing port.
func (l *Lab) listenShared(basePort int) error {
	l.byAddr, l.winByAddr = map[netip.Addr]*hostServer{}, map[netip.Addr]*winrmServer{}
	var err error
	if l.sshLn, err = listenLoopbackAll(basePort); err != nil {
		return fmt.Errorf("lab: shared SSH listener: %w", err)
	}
	l.sshPort = l.sshLn.Addr().(*net.TCPAddr).Port
	winPort := 0
	if basePort != 0 {
		winPort = basePort + 1
	}
	if l.winLn, err = listenLoopbackAll(winPort); err != nil {
		return fmt.Errorf("lab: shared WinRM listener: %w", err)
	}
	l.winPort = l.winLn.Addr().(*net.TCPAddr).Port
	if l.deadPort, l.releaseDead, err = deadPort(); err != nil {
		return err
	}
	return nil
}

// serveShared starts the two accept loops once every host is known.
func (l *Lab) serveShared() {
	l.wg.Add(2)
	go l.acceptShared(l.sshLn, func(a netip.Addr) *portListener {
		if s := l.byAddr[a]; s != nil {
			return &s.portListener
		}
		return nil
	}, false)
	go l.acceptShared(l.winLn, func(a netip.Addr) *portListener {
		if w := l.winByAddr[a]; w != nil {
			return &w.portListener
		}
		return nil
	}, true)
}

func (l *Lab) acceptShared(ln net.Listener, find func(netip.Addr) *portListener, async bool) {
	defer l.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("lab: accept failed", "err", err)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		ta, _ := c.LocalAddr().(*net.TCPAddr)
		var pl *portListener
		if ta != nil {
			pl = find(ta.AddrPort().Addr().Unmap())
		}
		if pl == nil { // not a lab host's address (e.g. the machine's own)
			c.Close()
			continue
		}
		if async {
			go pl.dispatch(c)
		} else {
			pl.dispatch(c)
		}
	}
}

// usablePorts is how many ports of the host's live ephemeral range no
// listener holds.
func usablePorts(h *Host) int {
	er, ok := h.Emu.(interface{ ephemeralRange() (int, int) })
	if !ok {
		return 0
	}
	lo, hi := er.ephemeralRange()
	t := tableSpec{low: lo, high: hi}
	if ex, ok := h.Emu.(interface{ excludedPorts() func(int) bool }); ok {
		t.skip = ex.excludedPorts()
	}
	return t.free(listenSet(h.Listening))
}

// SetProfile gives the host a load profile from its live configuration:
// index is its place in the fleet (its address in its socket table) and
// seed makes the load's figures deterministic.
func SetProfile(h *Host, p Profile, index int, seed int64) error {
	h.Lock()
	defer h.Unlock()
	l, err := NewLoad(p, h.Name, index, usablePorts(h), h.Emu.TimeWait(), seed, h.OS == "windows")
	if err != nil {
		return err
	}
	h.Load = l
	return nil
}

// assignFaults makes round(rate × hosts) hosts faulty, chosen and given
// their kind by the seed.
func (l *Lab) assignFaults(rate float64, seed int64) error {
	order := make([]*Host, len(l.hosts))
	copy(order, l.hosts)
	sort.SliceStable(order, func(i, j int) bool {
		return seeded(seed, order[i].Name, "fault") < seeded(seed, order[j].Name, "fault")
	})
	n := int(rate*float64(len(order)) + 0.5)
	if rate > 0 && n == 0 {
		n = 1
	}
	for _, h := range order[:n] {
		kind := FaultKinds[int(seeded(seed, h.Name, "kind")*float64(len(FaultKinds)))]
		var f Faults
		switch kind {
		case "refused":
			f.Refuse = true
		case "reset":
			f.Reset = true
		case "slow":
			f.Delay = SlowDelay
		case "auth":
			f.RejectAuth = true
		case "reboot":
			f.RebootAfter = 2
		}
		if err := l.SetFaults(h.Name, f); err != nil {
			return err
		}
		l.faults[h.Name] = kind
	}
	return nil
}

// Fault is the fault Options.FaultRate gave the host, "" for none.
func (l *Lab) Fault(name string) string { return l.faults[name] }

// SharedPorts are the shared SSH and WinRM ports (0, 0 when the lab serves
// a port per host).
func (l *Lab) SharedPorts() (ssh, winrm int) { return l.sshPort, l.winPort }

// shellQuote quotes s for sh: in single quotes, each single quote inside
// closed, escaped with a backslash and reopened.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// inventorySharedYAML is the inventory of a shared-listener fleet: the
// ports and credentials once in defaults and group settings, one short
// line per host, groups per OS family and per load profile.
func (l *Lab) inventorySharedYAML() []byte {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b bytes.Buffer
	fmt.Fprintf(&b, "# fleettune lab: %d simulated hosts on loopback (127.1.0.1 and up), served until the lab stops.\n", len(l.hosts))
	b.WriteString("# Hosts share one SSH port and one WinRM port and are told apart by address.\n")
	b.WriteString("# Groups: one per OS family and one per load profile (idle, busy, exhausted, leaking).\n")
	b.WriteString("# Windows hosts are reached over WinRM as " + WinRMUser + ": set -a; . ./" + EnvFile + " (it sets " + PasswordEnv + ").\n")
	b.WriteString("defaults:\n  transport: ssh\n  user: root\n  timeout: 30s\n  ssh:\n")
	fmt.Fprintf(&b, "    port: %d\n", l.sshPort)
	fmt.Fprintf(&b, "    identity_files: [%s]\n", q(l.ClientKey))
	fmt.Fprintf(&b, "    known_hosts: %s\n", q(l.KnownHosts))
	b.WriteString("    host_key_checking: strict\n")
	if l.ca != nil || !l.winrmHTTPS {
		fmt.Fprintf(&b, "  winrm:\n    port: %d\n    https: %t\n    auth: %s\n    password_env: %s\n", l.winPort, l.winrmHTTPS, l.winrmAuth, PasswordEnv)
		if l.winrmHTTPS && l.CAFile != "" {
			fmt.Fprintf(&b, "    ca_file: %s\n", q(l.CAFile))
		}
	}
	var families []string
	members := map[string][]string{}
	profiles := map[Profile][]string{}
	allWinRM := true // every Windows host is served over WinRM: say so once, in the group
	for _, h := range l.hosts {
		if h.OS == "windows" && l.winrm[h.Name] == nil {
			allWinRM = false
		}
	}
	b.WriteString("hosts:\n")
	for _, h := range l.hosts {
		var addr string
		if w := l.winrm[h.Name]; w != nil {
			addr = w.addr.IP.String()
		} else {
			addr = l.servers[h.Name].addr.IP.String()
		}
		fmt.Fprintf(&b, "  %s: {address: %s", h.Name, addr)
		if l.faults[h.Name] == "refused" {
			// Nothing listens there: the kernel refuses the connection.
			if l.winrm[h.Name] != nil {
				fmt.Fprintf(&b, ", winrm: {port: %d}", l.deadPort)
			} else {
				fmt.Fprintf(&b, ", ssh: {port: %d}", l.deadPort)
			}
		}
		if h.OS == "windows" && l.servers[h.Name] != nil {
			fmt.Fprintf(&b, ", user: %s", WindowsAdmin) // Windows over OpenSSH
		} else if l.winrm[h.Name] != nil && !allWinRM {
			fmt.Fprintf(&b, ", transport: winrm, os: windows, user: %s", WinRMUser)
		}
		b.WriteString("}\n")
		if _, ok := members[h.OS]; !ok {
			families = append(families, h.OS)
		}
		members[h.OS] = append(members[h.OS], h.Name)
		if p := h.Load.Profile; p != "" {
			profiles[p] = append(profiles[p], h.Name)
		}
	}
	b.WriteString("groups:\n")
	for _, f := range families {
		fmt.Fprintf(&b, "  %s:\n    hosts: [%s]\n", f, strings.Join(members[f], ", "))
		if f == "windows" && allWinRM {
			fmt.Fprintf(&b, "    settings: {transport: winrm, os: windows, user: %s}\n", WinRMUser)
		}
	}
	for _, p := range Profiles {
		if len(profiles[p]) > 0 {
			fmt.Fprintf(&b, "  %s:\n    hosts: [%s]\n", p, strings.Join(profiles[p], ", "))
		}
	}
	return b.Bytes()
}

// Stats are what the whole lab has served: TCP connections accepted (those
// a fault closed included), the most any one host accepted, and the
// commands run.
type Stats struct {
	Hosts             int `json:"hosts"`
	Connections       int `json:"connections"`
	MaxHostConnection int `json:"max_host_connections"`
	Commands          int `json:"commands"`
}

// Stats sums the counters of every host.
func (l *Lab) Stats() Stats {
	st := Stats{Hosts: len(l.hosts)}
	for _, h := range l.hosts {
		n := l.Connections(h.Name)
		st.Connections += n
		st.MaxHostConnection = max(st.MaxHostConnection, n)
		h.Lock()
		st.Commands += h.Commands
		h.Unlock()
	}
	return st
}
