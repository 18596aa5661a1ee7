// Package netnsfleet is a fleet of real Linux hosts made of network
// namespaces, for tests and benchmarks.
//
// Every host is a network namespace of its own (its own
// net.ipv4.ip_local_port_range, tcp_* sysctls, /proc/net counters and
// listening sockets) reached over real SSH: the inventory's proxy_command
// runs DIR/proxy.sh NAME, which starts a real OpenSSH sshd in inetd mode
// (sshd -i) inside that namespace for each connection. No addresses, no
// veth pairs, no network traffic at all: the SSH stream is a pipe.
//
// The recipe is /work/shared/docs/testing.md. Safety rules kept here: the
// machine's root namespace sysctls are never written (Sysctl runs
// `ip netns exec NS sysctl -w`, which fails rather than falling back when
// the namespace is missing), the real /etc/sysctl.d is never written (each
// host gets /etc/netns/NS/sysctl.d, which `ip netns exec` bind-mounts over
// /etc/sysctl.d), namespace names carry a prefix unique to the fleet
// ("ft-<pid>-<4 hex>-node01") and Close deletes exactly the namespaces and
// /etc/netns directories the fleet made. DIR/fleet.json records them so
// that a fleet left running (cmd/netns-fleet up) can be removed by another
// process (Load, then Close).
package netnsfleet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// SSHD is the OpenSSH server every connection starts.
const SSHD = "/usr/sbin/sshd"

// EnvRequired is the environment variable that turns StartT's skip into a
// failure (CI sets it where the fleet must run).
const EnvRequired = "FLEETTUNE_E2E_REQUIRED"

const (
	stateFile  = "fleet.json"
	netnsRun   = "/run/netns"
	netnsEtc   = "/etc/netns"
	privsepDir = "/run/sshd"
	registry   = "/run/netnsfleet" // records of StartT fleets, for SweepStale
	maxNetns   = 63                // netns names are file names; keep them short
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9-]+$`)
	netnsRE  = regexp.MustCompile(`^ft-[0-9]+-[0-9a-f]{4}-[a-z0-9-]+$`)
	prefixRE = regexp.MustCompile(`^ft-[0-9]+-[0-9a-f]{4}$`)
)

// Options configures Start.
type Options struct {
	Hosts int    // number of hosts, named node01..nodeNN (zero-padded to at least 2 digits)
	Dir   string // working dir; "" = os.MkdirTemp (then removed by Close)
}

// Fleet is a running set of namespace hosts. All paths are absolute.
type Fleet struct {
	Dir        string // working directory holding everything below
	Inventory  string // DIR/inventory.yaml, in the contract's format
	KnownHosts string // DIR/known_hosts, one line per host name
	ClientKey  string // DIR/client_key, OpenSSH private key (ed25519, 0600)
	SSHDConfig string // DIR/sshd_config
	Proxy      string // DIR/proxy.sh; "DIR/proxy.sh %h" is the proxy_command
	Hosts      []*Host

	prefix  string // ft-<pid>-<hex>; host NAME lives in namespace prefix-NAME
	ownsDir bool   // Dir came from os.MkdirTemp: Close removes it
	record  string // registry record of a StartT fleet, removed by Close

	mu        sync.Mutex // guards the fields below and known_hosts
	closed    bool
	listeners map[*listener]struct{}
}

// Host is one host of the fleet.
type Host struct {
	Name   string // inventory name, e.g. node01
	Netns  string // namespace name
	EtcDir string // /etc/netns/<Netns>

	fleet      *Fleet
	madeNetns  bool // this process created the namespace
	madeEtcDir bool // this process created EtcDir
}

// state is DIR/fleet.json.
type state struct {
	Version int         `json:"version"`
	Dir     string      `json:"dir"`
	Prefix  string      `json:"prefix"`
	OwnsDir bool        `json:"owns_dir"`
	PID     int         `json:"pid"`
	PIDNS   string      `json:"pidns,omitempty"`      // the pid's namespace, /proc/self/ns/pid
	AutoRm  bool        `json:"auto_clean,omitempty"` // a test fleet: SweepStale may remove it once PID is dead
	Hosts   []stateHost `json:"hosts"`
}

type stateHost struct {
	Name   string `json:"name"`
	Netns  string `json:"netns"`
	EtcDir string `json:"etc_dir"`
}

// Available reports why a fleet cannot be started here, or nil when it can:
// it needs root (with CAP_SYS_ADMIN, for namespaces and bind mounts), the
// `ip` command and /usr/sbin/sshd.
func Available() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("netnsfleet: needs Linux network namespaces, this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("netnsfleet: needs root (network namespaces and /etc/netns)")
	}
	if !hasCapSysAdmin() {
		return errors.New("netnsfleet: root lacks CAP_SYS_ADMIN (a restricted container?); network namespaces cannot be made")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("netnsfleet: the ip command (iproute2) is not installed")
	}
	if fi, err := os.Stat(SSHD); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("netnsfleet: %s is missing (apt-get install -y openssh-server)", SSHD)
	}
	return nil
}

func hasCapSysAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_ADMIN) != 0
		}
	}
	return false
}

// StartT starts a fleet for a test or benchmark and closes it in
// t.Cleanup, also when the test fails. When Available reports a reason the
// test is skipped with it, unless FLEETTUNE_E2E_REQUIRED=1, which makes it
// a failure. With o.Dir empty the fleet lives in t.TempDir().
func StartT(t testing.TB, o Options) *Fleet {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv(EnvRequired) == "1" {
			t.Fatalf("%v (%s=1, so this is a failure, not a skip)", err, EnvRequired)
		}
		t.Skip(err)
	}
	// Fleets of test binaries that died without cleaning up (a -timeout
	// panic, a kill) are removed first, so they cannot pile up.
	if removed, err := SweepStale(); err != nil {
		t.Logf("netnsfleet: removing stale test fleets: %v", err)
	} else if len(removed) > 0 {
		t.Logf("netnsfleet: removed %d namespaces of dead test processes", len(removed))
	}
	if o.Dir == "" {
		o.Dir = t.TempDir() // removed after our Close (cleanups run last-in first-out)
	}
	f, err := start(context.Background(), o, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("netnsfleet: close: %v", err)
		}
	})
	return f
}

// Start makes a fleet of o.Hosts namespace hosts. On error it removes what
// it made.
func Start(ctx context.Context, o Options) (*Fleet, error) {
	return start(ctx, o, false)
}

func start(ctx context.Context, o Options, autoClean bool) (f *Fleet, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Hosts < 1 {
		return nil, fmt.Errorf("netnsfleet: Hosts must be at least 1, not %d", o.Hosts)
	}
	var rnd [2]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("ft-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	width := max(2, len(strconv.Itoa(o.Hosts)))
	if len(prefix)+len("-node")+width > maxNetns {
		return nil, fmt.Errorf("netnsfleet: namespace names would exceed %d characters", maxNetns)
	}

	f = &Fleet{prefix: prefix, listeners: map[*listener]struct{}{}}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "netnsfleet-")
		if err != nil {
			return nil, err
		}
		f.Dir, f.ownsDir = d, true
	} else {
		d, err := filepath.Abs(o.Dir)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(d, stateFile)); err == nil {
			return nil, fmt.Errorf("netnsfleet: %s already holds a fleet (%s); remove it first (netns-fleet down --dir %s)", d, stateFile, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		f.Dir = d
	}
	defer func() {
		if err != nil {
			if cerr := f.Close(); cerr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
			} else if !f.ownsDir {
				os.Remove(filepath.Join(f.Dir, stateFile)) // nothing left to record
			}
			f = nil
		}
	}()
	// The proxy command is split on blanks without a shell, and the paths go
	// into sshd_config and a shell script: keep them plain.
	if strings.ContainsAny(f.Dir, " \t\n\"'\\%$`") {
		return nil, fmt.Errorf("netnsfleet: directory %q has blanks, quotes or %%; pick a plain path", f.Dir)
	}
	f.Inventory = filepath.Join(f.Dir, "inventory.yaml")
	f.KnownHosts = filepath.Join(f.Dir, "known_hosts")
	f.ClientKey = filepath.Join(f.Dir, "client_key")
	f.SSHDConfig = filepath.Join(f.Dir, "sshd_config")
	f.Proxy = filepath.Join(f.Dir, "proxy.sh")
	for i := 1; i <= o.Hosts; i++ {
		name := fmt.Sprintf("node%0*d", width, i)
		ns := prefix + "-" + name
		f.Hosts = append(f.Hosts, &Host{Name: name, Netns: ns, EtcDir: filepath.Join(netnsEtc, ns), fleet: f})
	}
	// Record what is about to be made before making any of it, so that a
	// crash half-way still leaves `netns-fleet down` a complete list.
	if err := f.writeState(); err != nil {
		return nil, err
	}
	if autoClean {
		if err := f.writeRecord(); err != nil {
			return nil, err
		}
	}
	if err := f.writeFiles(); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, SSHD, "-t", "-f", f.SSHDConfig).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("netnsfleet: sshd -t -f %s: %v: %s", f.SSHDConfig, err, bytes.TrimSpace(out))
	}
	passwd, err := homelessPasswd(filepath.Join(f.Dir, "home"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(netnsEtc, 0o755); err != nil {
		return nil, err
	}

	for _, h := range f.Hosts {
		if err := h.makeEtcDir(passwd); err != nil {
			return nil, err
		}
	}
	// All namespaces in one `ip -batch` (about 0.6 ms each rather than
	// 6 ms per `ip` process). `ip netns add` fails on an existing name, so
	// nothing is ever adopted: whatever was there before is refused here.
	for _, h := range f.Hosts {
		if _, err := os.Lstat(filepath.Join(netnsRun, h.Netns)); err == nil {
			return nil, fmt.Errorf("netnsfleet: namespace %s exists already", h.Netns)
		}
	}
	var batch strings.Builder
	for _, h := range f.Hosts {
		fmt.Fprintf(&batch, "netns add %s\n", h.Netns)
	}
	berr := ipBatch(ctx, batch.String(), false)
	for _, h := range f.Hosts {
		if _, err := os.Lstat(filepath.Join(netnsRun, h.Netns)); err == nil {
			h.madeNetns = true
		}
	}
	if berr != nil {
		return nil, berr
	}
	for _, h := range f.Hosts {
		if err := h.inNetns(loUp); err != nil {
			return nil, fmt.Errorf("netnsfleet: %s: set lo up: %w", h.Name, err)
		}
	}
	return f, nil
}

// makeEtcDir makes /etc/netns/NS with an empty sysctl.d and the passwd copy.
func (h *Host) makeEtcDir(passwd []byte) error {
	// Mkdir, not MkdirAll: never adopt a directory someone else made.
	if err := os.Mkdir(h.EtcDir, 0o755); err != nil {
		return fmt.Errorf("netnsfleet: %s: %w", h.Name, err)
	}
	h.madeEtcDir = true
	if err := os.Mkdir(filepath.Join(h.EtcDir, "sysctl.d"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(h.EtcDir, "passwd"), passwd, 0o644)
}

// loUp is `ip link set lo up`, run inside the namespace (see inNetns).
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// ipBatch runs `ip -batch -` with the given lines; force goes on past
// failing lines.
func ipBatch(ctx context.Context, lines string, force bool) error {
	args := []string{"-batch", "-"}
	if force {
		args = append([]string{"-force"}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(lines)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netnsfleet: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// homelessPasswd is /etc/passwd with root's home set to home (an empty
// directory), so a remote shell does not source the machine's ~/.bashrc.
func homelessPasswd(home string) ([]byte, error) {
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	found := false
	for i, l := range lines {
		fields := strings.Split(strings.TrimRight(l, "\n"), ":")
		if len(fields) == 7 && fields[0] == "root" {
			fields[5] = home
			lines[i] = strings.Join(fields, ":") + "\n"
			found = true
		}
	}
	if !found {
		return nil, errors.New("netnsfleet: no root entry in /etc/passwd")
	}
	return []byte(strings.Join(lines, "")), nil
}

func (f *Fleet) writeFiles() error {
	for _, d := range []string{"connections", "down", "home"} {
		if err := os.MkdirAll(filepath.Join(f.Dir, d), 0o755); err != nil {
			return err
		}
	}
	// Host key: one for all hosts.
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	hostKeyPEM, err := ssh.MarshalPrivateKey(hostPriv, "netnsfleet host key")
	if err != nil {
		return err
	}
	hostKeyFile := filepath.Join(f.Dir, "ssh_host_ed25519_key")
	if err := os.WriteFile(hostKeyFile, pem.EncodeToMemory(hostKeyPEM), 0o600); err != nil {
		return err
	}
	hostPub, err := ssh.NewPublicKey(hostPriv.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(hostKeyFile+".pub", ssh.MarshalAuthorizedKey(hostPub), 0o644); err != nil {
		return err
	}
	// Client key.
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	clientPEM, err := ssh.MarshalPrivateKey(clientPriv, "netnsfleet client key")
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.ClientKey, pem.EncodeToMemory(clientPEM), 0o600); err != nil {
		return err
	}
	clientPub, err := ssh.NewPublicKey(clientPriv.Public())
	if err != nil {
		return err
	}
	authKeys := filepath.Join(f.Dir, "authorized_keys")
	if err := os.WriteFile(f.ClientKey+".pub", ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		return err
	}
	// sshd_config.
	cfg := fmt.Sprintf(`# netnsfleet: sshd -i per connection, started by %s inside the host's namespace
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
UseDNS no
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
`, f.Proxy, hostKeyFile, authKeys)
	if err := os.WriteFile(f.SSHDConfig, []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(privsepDir, 0o755); err != nil {
		return err
	}
	// known_hosts.
	var kh bytes.Buffer
	for _, h := range f.Hosts {
		kh.WriteString(knownHostsLine(h.Name, hostPub))
	}
	if err := os.WriteFile(f.KnownHosts, kh.Bytes(), 0o644); err != nil {
		return err
	}
	// proxy.sh.
	if err := os.WriteFile(f.Proxy, []byte(proxyScript(f.Dir, f.prefix)), 0o755); err != nil {
		return err
	}
	// inventory.yaml.
	inv, err := inventoryYAML(f)
	if err != nil {
		return err
	}
	return os.WriteFile(f.Inventory, inv, 0o644)
}

func knownHostsLine(name string, key ssh.PublicKey) string {
	return name + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n"
}

func proxyScript(dir, prefix string) string {
	return `#!/bin/sh
# netnsfleet proxy: the ProxyCommand of host NAME ("` + dir + `/proxy.sh %h").
# Starts a real OpenSSH sshd in inetd mode inside the host's network
# namespace; the SSH stream is this process's stdin and stdout.
dir='` + dir + `'
prefix='` + prefix + `'
name=${1-}
case $name in
'' | *[!a-z0-9-]*)
	echo "proxy.sh: bad host name '$name' (want [a-z0-9-])" >&2
	exit 255
	;;
esac
if [ -e "$dir/down/$name" ]; then
	echo "ssh_exchange_identification: Connection closed by remote host (netnsfleet: $name is stopped)" >&2
	exit 255
fi
if [ ! -e "/run/netns/$prefix-$name" ]; then
	echo "ssh: Could not resolve hostname $name: no such host in this fleet" >&2
	exit 255
fi
echo "$$" >>"$dir/connections/$name.log"
exec ip netns exec "$prefix-$name" /usr/sbin/sshd -i -f "$dir/sshd_config"
`
}

// inventoryYAML writes the contract's format: defaults and one group
// "nodes" holding every host as a range, so that range syntax is exercised.
func inventoryYAML(f *Fleet) ([]byte, error) {
	type sshT struct {
		IdentityFiles []string `yaml:"identity_files,flow"`
		KnownHosts    string   `yaml:"known_hosts"`
		ProxyCommand  string   `yaml:"proxy_command"`
	}
	type defaultsT struct {
		User    string `yaml:"user"`
		Timeout string `yaml:"timeout"`
		SSH     sshT   `yaml:"ssh"`
	}
	type groupT struct {
		Hosts []string `yaml:"hosts,flow"`
	}
	type invT struct {
		Defaults defaultsT         `yaml:"defaults"`
		Groups   map[string]groupT `yaml:"groups"`
	}
	pattern := f.Hosts[0].Name
	if n := len(f.Hosts); n > 1 {
		first, last := f.Hosts[0].Name, f.Hosts[n-1].Name
		pattern = "node[" + strings.TrimPrefix(first, "node") + ":" + strings.TrimPrefix(last, "node") + "]"
	}
	inv := invT{
		Defaults: defaultsT{User: "root", Timeout: "30s", SSH: sshT{
			IdentityFiles: []string{f.ClientKey},
			KnownHosts:    f.KnownHosts,
			ProxyCommand:  f.Proxy + " %h",
		}},
		Groups: map[string]groupT{"nodes": {Hosts: []string{pattern}}},
	}
	var buf bytes.Buffer
	buf.WriteString("# netnsfleet: " + strconv.Itoa(len(f.Hosts)) + " namespace hosts in " + f.Dir + "\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(inv); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (f *Fleet) state() state {
	st := state{Version: 1, Dir: f.Dir, Prefix: f.prefix, OwnsDir: f.ownsDir, PID: os.Getpid()}
	for _, h := range f.Hosts {
		st.Hosts = append(st.Hosts, stateHost{Name: h.Name, Netns: h.Netns, EtcDir: h.EtcDir})
	}
	return st
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (f *Fleet) writeState() error {
	return writeJSON(filepath.Join(f.Dir, stateFile), f.state())
}

// writeRecord registers a test fleet in /run/netnsfleet, so that
// SweepStale can remove it should this process die before Close.
func (f *Fleet) writeRecord() error {
	pidns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return err
	}
	st := f.state()
	st.PIDNS, st.AutoRm = pidns, true
	if err := os.MkdirAll(registry, 0o755); err != nil {
		return err
	}
	f.record = filepath.Join(registry, f.prefix+".json")
	return writeJSON(f.record, st)
}

// SweepStale removes the namespaces and /etc/netns directories of test
// fleets (StartT) whose process is gone: a test binary killed by a
// -timeout panic or a signal runs no t.Cleanup. Only fleets recorded in
// /run/netnsfleet by StartT, from this pid namespace, with a dead pid, are
// touched; fleets of `netns-fleet up` (and of Start) never are. It returns
// the namespaces it removed.
func SweepStale() ([]string, error) {
	ents, err := os.ReadDir(registry)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pidns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || !prefixRE.MatchString(strings.TrimSuffix(e.Name(), ".json")) {
			continue
		}
		path := filepath.Join(registry, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue // another process swept it
		}
		var st state
		if json.Unmarshal(b, &st) != nil || !st.AutoRm || st.PIDNS != pidns || st.PID <= 0 ||
			st.Prefix+".json" != e.Name() || !errors.Is(unix.Kill(st.PID, 0), unix.ESRCH) {
			continue
		}
		f, err := fromState(st)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		f.ownsDir = false // leave the dead process's files alone
		if err := f.Close(); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, h := range f.Hosts {
			removed = append(removed, h.Netns)
		}
		os.Remove(path)
	}
	return removed, errors.Join(errs...)
}

// Load reads DIR/fleet.json of a fleet started by another process (for
// example `netns-fleet up`), so that Close can remove exactly what it made.
// Every recorded name is checked against the naming scheme before anything
// is trusted.
func Load(dir string) (*Fleet, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("netnsfleet: no fleet in %s: %w", dir, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("netnsfleet: %s: %w", filepath.Join(dir, stateFile), err)
	}
	if st.Dir != dir {
		return nil, fmt.Errorf("netnsfleet: %s: records directory %q, not this one", filepath.Join(dir, stateFile), st.Dir)
	}
	f, err := fromState(st)
	if err != nil {
		return nil, fmt.Errorf("netnsfleet: %s: %w", filepath.Join(dir, stateFile), err)
	}
	return f, nil
}

// fromState checks a fleet record against the naming scheme before any of
// it is trusted.
func fromState(st state) (*Fleet, error) {
	dir := st.Dir
	if st.Version != 1 || !prefixRE.MatchString(st.Prefix) || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("not a fleet record (version %d, prefix %q, dir %q)", st.Version, st.Prefix, st.Dir)
	}
	f := &Fleet{
		Dir:        dir,
		Inventory:  filepath.Join(dir, "inventory.yaml"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
		ClientKey:  filepath.Join(dir, "client_key"),
		SSHDConfig: filepath.Join(dir, "sshd_config"),
		Proxy:      filepath.Join(dir, "proxy.sh"),
		prefix:     st.Prefix,
		ownsDir:    st.OwnsDir,
		listeners:  map[*listener]struct{}{},
	}
	for _, sh := range st.Hosts {
		if !nameRE.MatchString(sh.Name) || sh.Netns != st.Prefix+"-"+sh.Name || !netnsRE.MatchString(sh.Netns) ||
			len(sh.Netns) > maxNetns || sh.EtcDir != filepath.Join(netnsEtc, sh.Netns) {
			return nil, fmt.Errorf("host record %+v does not follow the fleet's naming; refusing to touch it", sh)
		}
		// Loaded: whatever exists under these names is the fleet's.
		f.Hosts = append(f.Hosts, &Host{Name: sh.Name, Netns: sh.Netns, EtcDir: sh.EtcDir, fleet: f, madeNetns: true, madeEtcDir: true})
	}
	return f, nil
}

// Close closes the listeners, deletes the namespaces and /etc/netns
// directories the fleet made (and Dir, when Start made it with
// os.MkdirTemp). It is idempotent; a later call retries anything that
// failed. sshd processes of connections still open end with their client.
func (f *Fleet) Close() error {
	f.mu.Lock()
	ls := f.listeners
	f.listeners = map[*listener]struct{}{}
	f.closed = true
	f.mu.Unlock()
	var errs []error
	for l := range ls {
		l.Close()
	}
	var batch strings.Builder
	for _, h := range f.Hosts {
		if h.madeNetns && nameOK(h.Netns) {
			if _, err := os.Lstat(filepath.Join(netnsRun, h.Netns)); err == nil {
				fmt.Fprintf(&batch, "netns del %s\n", h.Netns)
			}
		}
	}
	if batch.Len() > 0 {
		if err := ipBatch(context.Background(), batch.String(), true); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range f.Hosts {
		if h.madeEtcDir && nameOK(h.Netns) && h.EtcDir == filepath.Join(netnsEtc, h.Netns) {
			if err := os.RemoveAll(h.EtcDir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if f.record != "" {
		if err := os.Remove(f.record); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if f.ownsDir && f.Dir != "" {
		return os.RemoveAll(f.Dir)
	}
	return nil
}

func nameOK(ns string) bool { return netnsRE.MatchString(ns) && len(ns) <= maxNetns }

// Host returns the host named name (e.g. "node01"), or nil.
func (f *Fleet) Host(name string) *Host {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (f *Fleet) mustHost(name string) (*Host, error) {
	if h := f.Host(name); h != nil {
		return h, nil
	}
	return nil, fmt.Errorf("netnsfleet: no host %q in this fleet", name)
}

// Connections is how many times the proxy started sshd for the host (the
// lines of DIR/connections/NAME.log). A stopped host's refusals do not count.
func (f *Fleet) Connections(host string) int {
	b, err := os.ReadFile(filepath.Join(f.Dir, "connections", host+".log"))
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// ChangeHostKey rewrites the host's known_hosts line with a different,
// freshly generated key, as if the host had been reinstalled: strict host
// key checking then fails for it (and only for it).
func (f *Fleet) ChangeHostKey(host string) error {
	if _, err := f.mustHost(host); err != nil {
		return err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.KnownHosts)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(b), "\n")
	found := false
	for i, l := range lines {
		if name, _, ok := strings.Cut(l, " "); ok && name == host {
			lines[i] = knownHostsLine(host, pub)
			found = true
		}
	}
	if !found {
		lines = append(lines, knownHostsLine(host, pub))
	}
	tmp := f.KnownHosts + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "")), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.KnownHosts)
}

// Stop makes the host unreachable: the proxy refuses it (exit 255, an
// OpenSSH-like "Connection closed by remote host" on stderr) until Resume.
// Connections already open are not affected.
func (f *Fleet) Stop(host string) error {
	if _, err := f.mustHost(host); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(f.Dir, "down", host), nil, 0o644)
}

// Resume undoes Stop.
func (f *Fleet) Resume(host string) error {
	if _, err := f.mustHost(host); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(f.Dir, "down", host))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Exec runs argv inside the host's namespace (`ip netns exec NS argv...`,
// which also bind-mounts EtcDir's entries over /etc) and returns its
// stdout; on failure the error carries stderr.
func (h *Host) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("netnsfleet: Exec needs a command")
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Netns}, argv...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("netnsfleet: %s: %s: %v: %s", h.Name, strings.Join(argv, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Sysctl sets knob (e.g. net.ipv4.ip_local_port_range) to value (which may
// hold blanks or tabs) inside the host's namespace only, with
// `ip netns exec NS sysctl -w knob=value`.
func (h *Host) Sysctl(ctx context.Context, knob, value string) error {
	if err := checkKnob(knob); err != nil {
		return err
	}
	_, err := h.Exec(ctx, "sysctl", "-q", "-w", knob+"="+value)
	return err
}

// ReadSysctl reads knob from /proc/sys as seen inside the host's namespace,
// with surrounding white space trimmed (inner tabs are kept, as the kernel
// writes them).
func (h *Host) ReadSysctl(ctx context.Context, knob string) (string, error) {
	if err := checkKnob(knob); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	path := "/proc/sys/" + strings.ReplaceAll(knob, ".", "/")
	if strings.Contains(knob, "/") {
		path = "/proc/sys/" + strings.TrimPrefix(knob, "/")
	}
	var b []byte
	err := h.inNetns(func() error {
		var err error
		b, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("netnsfleet: %s: read %s: %w", h.Name, knob, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func checkKnob(knob string) error {
	if knob == "" || strings.Contains(knob, "..") || strings.ContainsAny(knob, "= \t\n") {
		return fmt.Errorf("netnsfleet: bad sysctl name %q", knob)
	}
	return nil
}

// WriteFile writes data under EtcDir; rel "sysctl.d/60-local.conf" is seen
// by the host (its commands, its sshd sessions) as
// /etc/sysctl.d/60-local.conf. `ip netns exec` bind-mounts only the
// top-level entries of EtcDir, each over an existing /etc entry, so rel
// should start with one that /etc has (sysctl.d is made by Start).
func (h *Host) WriteFile(rel string, data []byte) error {
	clean := filepath.Clean(rel)
	if rel == "" || filepath.IsAbs(rel) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("netnsfleet: WriteFile: %q is not a path inside %s", rel, h.EtcDir)
	}
	p := filepath.Join(h.EtcDir, clean)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

type listener struct {
	net.Listener
	f    *Fleet
	once sync.Once
}

func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		l.f.mu.Lock()
		delete(l.f.listeners, l)
		l.f.mu.Unlock()
		err = l.Listener.Close()
	})
	return err
}

// Listen opens a TCP listener on 0.0.0.0:port inside the host's namespace
// (it shows in that namespace's /proc/net/tcp only), for tests of
// protect_listening_ports and the like. Connections are accepted and
// closed at once. Close it, or the fleet's Close does.
func (h *Host) Listen(port int) (io.Closer, error) {
	f := h.fleet
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return nil, errors.New("netnsfleet: fleet is closed")
	}
	var tl *net.TCPListener
	err := h.inNetns(func() error {
		var err error
		tl, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4zero, Port: port})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netnsfleet: %s: listen on port %d: %w", h.Name, port, err)
	}
	l := &listener{Listener: tl, f: f}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		tl.Close()
		return nil, errors.New("netnsfleet: fleet is closed")
	}
	f.listeners[l] = struct{}{}
	f.mu.Unlock()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, nil
}

// inNetns runs fn on an OS thread switched into the host's network
// namespace. The thread is switched back afterwards; should that fail, the
// goroutine exits still locked, so the Go runtime ends the thread instead
// of reusing it in the wrong namespace.
func (h *Host) inNetns(fn func() error) error {
	if !nameOK(h.Netns) {
		return fmt.Errorf("netnsfleet: bad namespace name %q", h.Netns)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(filepath.Join(netnsRun, h.Netns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", h.Netns, err)
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", h.Netns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("switching the thread back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
