package lab

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HPUXNddconf is the file ndd -c (run at boot by /sbin/rc2.d/S340net)
// applies: indexed TRANSPORT_NAME/NDD_NAME/NDD_VALUE entries.
const HPUXNddconf = "/etc/rc.config.d/nddconf"

// HPUXNddconfDefault is the nddconf a new lab host has: HP's commented
// template (synthetic, shaped after the HP-UX Handbook and ndd(1M); see
// platform/testdata/hpux/README.md) with one unrelated entry an
// administrator added at index 0, so new entries go to index 1.
const HPUXNddconfDefault = `# @(#)B.11.31_LR
#
# nddconf: contains tunable parameters that will be set automatically
#          each time the system boots.
#
# The tunable parameters and their values are set at boot time by
# /sbin/init.d/net (ndd -c).  Each parameter takes three lines:
#
#       TRANSPORT_NAME[index]=NDD_name
#       NDD_NAME[index]=ndd_parameter_name
#       NDD_VALUE[index]=value
#
# where index is an integer starting at 0 and incremented by one for
# each parameter, and NDD_name is one of arp, ip, ip6, rawip, rawip6,
# sockets, tcp or udp.
#
# For example:
#
#       TRANSPORT_NAME[0]=tcp
#       NDD_NAME[0]=tcp_keepalive_interval
#       NDD_VALUE[0]=7200000
#
# See ndd(1M) for the supported parameters (ndd -h supported).
#
TRANSPORT_NAME[0]=ip
NDD_NAME[0]=ip_ire_gw_probe
NDD_VALUE[0]=0
`

// hpuxParam is one ndd parameter: its default and the values the driver
// accepts.
type hpuxParam struct{ def, min, max int64 }

// hpuxParams are the ndd parameters the lab knows, per device. The TCP
// ones are those of platforms.md 4.1 (HP-UX TCP/IP Performance White
// Paper, 2008).
var hpuxParams = map[string]map[string]hpuxParam{
	"tcp": {
		"tcp_smallest_anon_port":  {49152, 1024, 65535},
		"tcp_largest_anon_port":   {65535, 1024, 65535},
		"tcp_time_wait_interval":  {60000, 1000, 600000},
		"tcp_tw_cleanup_interval": {60000, 10000, 300000},
		"tcp_keepalive_interval":  {7200000, 10000, 864000000},
		"tcp_fin_wait_2_timeout":  {0, 0, 2147483647},
		"tcp_ip_abort_interval":   {600000, 500, 2147483647},
	},
	"ip": {
		"ip_forwarding":   {2, 0, 2},
		"ip_ire_gw_probe": {1, 0, 1},
	},
	"udp": {
		"udp_smallest_anon_port": {49152, 1024, 65535},
		"udp_largest_anon_port":  {65535, 1024, 65535},
	},
}

// hpuxAddr is the lab host's own address in netstat (TEST-NET-1).
const hpuxAddr = "192.0.2.10"

// hpux emulates HP-UX 11i's ndd, who and netstat on one host.
type hpux struct {
	release string
	// live holds the running kernel's ndd values: device → name → value.
	live map[string]map[string]int64
	// lacks are parameters this host's kernel does not have (Lack).
	lacks map[string]bool
	// tcp are the TCP statistics netstat -p tcp prints (bsdtcpstat.go).
	tcp bsdTCPStats
}

// newHPUX makes h an HP-UX 11i host of release B.11.11 (11i v1, PA-RISC),
// B.11.23 (11i v2) or B.11.31 (11i v3, Itanium).
func newHPUX(h *Host, release string) error {
	machine := "ia64"
	switch release {
	case "B.11.11":
		machine = "9000/800"
	case "B.11.23", "B.11.31":
	default:
		return fmt.Errorf("lab: no HP-UX release %q (want B.11.11, B.11.23 or B.11.31)", release)
	}
	h.Uname = Uname{Sysname: "HP-UX", Release: release, Version: "U", Machine: machine}
	h.Files[HPUXNddconf] = strings.Replace(HPUXNddconfDefault, "B.11.31", release, 1)
	// sshd, rpcbind, DCE rpcd, and the WBEM services (HTTP and HTTPS).
	h.Listening = []int{22, 111, 135, 5988, 5989}
	h.TimeWaitSockets = 2
	h.Emu = &hpux{release: release, tcp: bsdUptimeTCPStats()}
	return nil
}

// Boot sets every parameter to its default, then applies nddconf's entries
// in index order, as ndd -c does at boot; entries ndd would reject are
// skipped.
func (e *hpux) Boot(h *Host) {
	if h.Boots > 1 {
		e.tcp = bsdTCPStats{} // a reboot zeroes the TCP statistics
	}
	e.live = map[string]map[string]int64{}
	for dev, params := range hpuxParams {
		e.live[dev] = map[string]int64{}
		for name, p := range params {
			e.live[dev][name] = p.def
		}
	}
	e.applyNddconf(h)
}

func (e *hpux) applyNddconf(h *Host) {
	for _, ent := range parseLabNddconf(h.Files[HPUXNddconf]) {
		v, err := parseNddValue(ent.value)
		if err != nil {
			continue
		}
		e.set(ent.transport, ent.name, v)
	}
}

// Lack makes the host's kernel one without the named parameter, as a
// release or patch level that does not have it: ndd -get answers that the
// name is non-existent, and ndd -set fails.
func (e *hpux) Lack(name string) {
	if e.lacks == nil {
		e.lacks = map[string]bool{}
	}
	e.lacks[name] = true
}

// set changes a live parameter; false when ndd would reject it.
func (e *hpux) set(dev, name string, v int64) bool {
	p, ok := hpuxParams[dev][name]
	if !ok || e.lacks[name] || v < p.min || v > p.max {
		return false
	}
	e.live[dev][name] = v
	return true
}

// TimeWait is the live tcp_time_wait_interval.
func (e *hpux) TimeWait() time.Duration {
	return time.Duration(e.live["tcp"]["tcp_time_wait_interval"]) * time.Millisecond
}

// Command answers ndd, who -b, netstat -an and cat the way HP-UX 11i does.
func (e *hpux) Command(c *Call) (Output, bool) {
	if len(c.Argv) == 0 {
		return Output{}, false
	}
	if isNetstatPTCP(c.Argv) {
		return e.tcp.netstat(c.Host, e.TimeWait()), true
	}
	switch c.Argv[0] {
	case "ndd", "/usr/bin/ndd":
		return e.ndd(c), true
	case "who", "/usr/bin/who":
		if len(c.Argv) == 2 && c.Argv[1] == "-b" {
			return Output{Stdout: hpuxWhoB(c.Host.BootTime)}, true
		}
	case "netstat", "/usr/bin/netstat":
		if flags, fam, proto, err := netstatFlags(c.Argv[1:]); err == nil && flags['a'] && flags['n'] && len(flags) == 2 && proto == "" && (fam == "" || fam == "inet") {
			return Output{Stdout: hpuxNetstat(c.Host, fam == "inet")}, true
		}
	case "cat", "/usr/bin/cat":
		return hpuxCat(c)
	}
	return Output{}, false
}

// ndd's messages. The driver's ioctl fails with EINVAL for an unknown
// parameter or a value out of range, and EPERM ("Not owner" in HP-UX's
// strerror) when a non-root user sets one.
const (
	hpuxNddInvalid     = "operation failed: Invalid argument\n"
	hpuxNddNonExistent = "name is non-existent for this module\nfor a list of valid names, use name '?'\n"
	hpuxNddNotOwner    = "operation failed: Not owner\n"
	hpuxNddUsage       = "usage: ndd -get network_device parameter\n" +
		"       ndd -set network_device parameter value\n" +
		"       ndd -h sup[ported]\n" +
		"       ndd -h unsup[ported]\n" +
		"       ndd -h [parameter]\n" +
		"       ndd -c\n"
)

func (e *hpux) ndd(c *Call) Output {
	a := c.Argv[1:]
	device := func(path string) (string, *Output) {
		dev, ok := strings.CutPrefix(path, "/dev/")
		if _, known := hpuxParams[dev]; !ok || !known {
			return "", &Output{Stderr: fmt.Sprintf("couldn't open %s: No such file or directory\n", path), Code: 1}
		}
		return dev, nil
	}
	switch {
	case len(a) == 3 && a[0] == "-get":
		dev, fail := device(a[1])
		if fail != nil {
			return *fail
		}
		v, ok := e.live[dev][a[2]]
		if !ok || e.lacks[a[2]] {
			// Mentat's ndd prints the module's answer, an error included,
			// on stdout and exits 0 (platforms.md, corrections).
			return Output{Stdout: hpuxNddNonExistent}
		}
		return Output{Stdout: fmt.Sprintf("%d\n", v)}
	case len(a) == 4 && a[0] == "-set":
		dev, fail := device(a[1])
		if fail != nil {
			return *fail
		}
		if !c.Root() {
			return Output{Stderr: hpuxNddNotOwner, Code: 1}
		}
		v, err := parseNddValue(a[3])
		if err != nil || !e.set(dev, a[2], v) {
			return Output{Stderr: hpuxNddInvalid, Code: 1}
		}
		return Output{}
	case len(a) == 1 && a[0] == "-c":
		if !c.Root() {
			return Output{Stderr: hpuxNddNotOwner, Code: 1}
		}
		e.applyNddconf(c.Host)
		return Output{}
	}
	return Output{Stderr: hpuxNddUsage, Code: 1}
}

// hpuxWhoB is who -b's line: no year, so only its change over time means
// anything.
func hpuxWhoB(boot time.Time) string {
	return "   .       system boot  " + boot.Format("Jan _2 15:04") + "\n"
}

// hpuxNetstat is netstat -an (inet: -an -f inet, without the UNIX domain
// part): the BSD layout, host.port addresses, then the load's sockets.
func hpuxNetstat(h *Host, inet bool) string {
	var b strings.Builder
	b.WriteString("Active Internet connections (including servers)\n")
	b.WriteString("Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n")
	row := func(proto, local, foreign, state string) {
		line := fmt.Sprintf("%-5s %6d %6d  %-22s %-22s %s", proto, 0, 0, local, foreign, state)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	ports := append([]int(nil), h.Listening...)
	sort.Ints(ports)
	for _, p := range ports {
		row("tcp", fmt.Sprintf("*.%d", p), "*.*", "LISTEN")
	}
	row("tcp", hpuxAddr+".22", "192.0.2.1.50122", "ESTABLISHED")
	for i := 0; i < h.TimeWaitSockets; i++ {
		row("tcp", fmt.Sprintf("%s.%d", hpuxAddr, 49152+i%16384), "192.0.2.20.80", "TIME_WAIT")
	}
	writeBSDRows(&b, h, "tcp        0      0  ") // row's layout, without fmt
	row("udp", "*.123", "*.*", "")
	if inet {
		return b.String()
	}
	b.WriteString("Active UNIX domain sockets\n")
	b.WriteString("Address  Type   Recv-Q Send-Q    Inode     Conn     Refs  Nextref Addr\n")
	return b.String()
}

// hpuxCat gives HP-UX's message for a file that is not there; files that
// are there are left to the shell's cat.
func hpuxCat(c *Call) (Output, bool) {
	var missing bool
	for _, f := range c.Argv[1:] {
		if _, ok := c.Host.Files[f]; !ok && !strings.HasPrefix(f, "-") {
			missing = true
		}
	}
	if !missing {
		return Output{}, false
	}
	var out Output
	for _, f := range c.Argv[1:] {
		if content, ok := c.Host.Files[f]; ok {
			out.Stdout += content
			continue
		}
		out.Stderr += fmt.Sprintf("cat: Cannot open %s: No such file or directory\n", f)
		out.Code = 2
	}
	return out, true
}

// labNddEntry is one complete nddconf entry.
type labNddEntry struct {
	index                  int
	transport, name, value string
}

// parseLabNddconf returns the entries a boot applies from nddconf, in
// order. It is written from HP-UX's description of the file, not from the
// driver's parser, so that the lab stays an oracle for it: nddconf is a
// shell fragment of assignments NAME[INDEX]=VALUE (blank lines and "#"
// comments ignored, a value possibly quoted, a later assignment of the
// same element winning), and the entries are read from index 0 up, one by
// one, until the first index that lacks any of TRANSPORT_NAME, NDD_NAME and
// NDD_VALUE ("indices start at 0 and go up by one", platforms.md 4.3): an
// entry after a gap is never applied.
func parseLabNddconf(content string) []labNddEntry {
	vars := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		name, value, ok := nddconfAssignment(strings.TrimRight(line, "\r"))
		if ok {
			vars[name] = value
		}
	}
	var out []labNddEntry
	for i := 0; i < hpuxNddconfMaxIndex; i++ {
		idx := "[" + strconv.Itoa(i) + "]"
		t, ok1 := vars["TRANSPORT_NAME"+idx]
		n, ok2 := vars["NDD_NAME"+idx]
		v, ok3 := vars["NDD_VALUE"+idx]
		if !ok1 || !ok2 || !ok3 {
			break
		}
		out = append(out, labNddEntry{i, t, n, v})
	}
	return out
}

// hpuxNddconfMaxIndex bounds the entries read (real files hold a few).
const hpuxNddconfMaxIndex = 4096

// nddconfAssignment reads one line as sh reads an assignment: leading
// blanks, NAME[DIGITS]=, then the value up to a blank (or the end),
// single or double quotes grouping; "#" at a word start begins a comment.
// It returns the element ("NDD_NAME[3]") and the value; ok false for
// anything else (comments, blank lines, other commands).
func nddconfAssignment(line string) (elem, value string, ok bool) {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	start := i
	for i < len(line) && (line[i] == '_' || line[i] >= 'A' && line[i] <= 'Z' || line[i] >= 'a' && line[i] <= 'z' || i > start && line[i] >= '0' && line[i] <= '9') {
		i++
	}
	if i == start || i >= len(line) || line[i] != '[' {
		return "", "", false
	}
	name := line[start:i]
	i++
	digits := i
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i == digits || i+1 >= len(line) || line[i] != ']' || line[i+1] != '=' {
		return "", "", false
	}
	n, err := strconv.Atoi(line[digits:i])
	if err != nil {
		return "", "", false
	}
	i += 2
	var b strings.Builder
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			return name + "[" + strconv.Itoa(n) + "]", b.String(), true
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return "", "", false // unterminated: sh would fail
			}
			b.WriteString(line[i+1 : i+1+end])
			i += end + 2
		case c == '#' && b.Len() == 0:
			return name + "[" + strconv.Itoa(n) + "]", "", true
		default:
			b.WriteByte(c)
			i++
		}
	}
	return name + "[" + strconv.Itoa(n) + "]", b.String(), true
}

// parseNddValue reads a value as ndd accepts it: decimal, or hex with 0x.
func parseNddValue(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return strconv.ParseInt(h, 16, 64)
	}
	return strconv.ParseInt(s, 10, 64)
}

func (e *hpux) ephemeralRange() (int, int) {
	return int(e.live["tcp"]["tcp_smallest_anon_port"]), int(e.live["tcp"]["tcp_largest_anon_port"])
}
