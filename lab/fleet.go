package lab

// A lab fleet: many simulated hosts served at once on loopback, and the
// files a fleettune run needs to reach them (client key, known_hosts,
// inventory).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"
	"golang.org/x/crypto/ssh"
)

// Files Start writes into Options.Dir.
const (
	ClientKeyFile  = "id_ed25519"
	KnownHostsFile = "known_hosts"
	InventoryFile  = "inventory.yaml"
	// EnvFile (mode 0600) holds FLEETTUNE_LAB_PASSWORD and
	// FLEETTUNE_INVENTORY, so that `set -a; . ./lab.env` is all a shell
	// needs.
	EnvFile = "lab.env"
)

// knownHostsHeader starts every known_hosts the lab writes; Start
// overwrites a key or known_hosts only in a directory whose known_hosts
// starts with it.
const knownHostsHeader = "# fleettune lab:"

// Spec is one host to simulate: its inventory name, OS family and release
// as NewHost takes them.
type Spec struct {
	Name, OS, Release string
	// Transport is "ssh" or "winrm"; "" serves Windows hosts over WinRM
	// and the others over SSH. A Windows host over "ssh" plays Windows
	// reached through OpenSSH (its commands still run in cmd.exe).
	Transport string
	// Profile is the host's load (sockets.go); "" leaves the socket
	// table to the emulator's own few rows.
	Profile Profile
}

// defaultMix is the cycle DefaultFleet draws from: name prefix, OS, release.
var defaultMix = []struct{ prefix, os, release string }{
	{"sol10", "solaris", "5.10"},
	{"sol11", "solaris", "5.11"},
	{"hpux", "hpux", "B.11.31"},
	{"hpux", "hpux", "B.11.23"},
	{"aix", "aix", "7.2"},
	{"aix", "aix", "7.3"},
	{"tru64", "tru64", "V5.1B"},
}

// DefaultFleet is a mixed fleet of n hosts cycling through Solaris 10 and
// 11, HP-UX 11i v3 and v2, AIX 7.2 and 7.3 and Tru64 V5.1B: sol10-01,
// sol11-01, hpux-01 (B.11.31), hpux-02 (B.11.23), aix-01 (7.2), aix-02
// (7.3), tru64-01, sol10-02, ... The same n always gives the same fleet.
func DefaultFleet(n int) []Spec {
	count := map[string]int{}
	specs := make([]Spec, 0, max(n, 0))
	for i := range n {
		m := defaultMix[i%len(defaultMix)]
		count[m.prefix]++
		specs = append(specs, Spec{Name: fmt.Sprintf("%s-%02d", m.prefix, count[m.prefix]), OS: m.os, Release: m.release})
	}
	return specs
}

// Options configure Start.
type Options struct {
	// Specs are the hosts to create with NewHost, in order.
	Specs []Spec
	// Hosts are ready-made hosts (tests bring their own emulators), served
	// after those of Specs.
	Hosts []*Host
	// Listen is the loopback address to listen on (see ParseListen):
	// "" is 127.0.0.1 with a free port per host.
	Listen string
	// Dir receives the client key, known_hosts and the inventory. "" makes
	// a temporary directory that Close removes.
	Dir string
	// Inventory is the inventory's path; "" is Dir/inventory.yaml.
	Inventory string
	// Password, when set, is accepted for password authentication too
	// (public key authentication with the lab's key always works).
	Password string
	// Logger gets the server's debug detail and warnings; nil discards.
	Logger *log.Logger
	// WinRMAuth is how Windows hosts authenticate WinRM clients: "ntlm"
	// (the default, "") or "basic".
	WinRMAuth string
	// WinRMHTTP serves Windows hosts over plain HTTP instead of HTTPS.
	WinRMHTTP bool
	// Shared serves every host behind one SSH listener and one WinRM
	// listener, each host on its own loopback address (127.1.0.1,
	// 127.1.0.2, ...) told apart by the address a client connected to, so
	// that 10,000 hosts need two sockets, not 10,000. Linux only (the
	// listener is bound to the loopback device). Listen's port, if any,
	// is the SSH port and the next one WinRM's.
	Shared bool
	// Seed makes loads and faults deterministic: the same seed and specs
	// give the same fleet.
	Seed int64
	// FaultRate is the share of hosts (0 to 1) that misbehave, each in
	// one way chosen from the seed: refused, reset, slow, auth (every
	// login fails) or reboot (the host reboots after its second command:
	// in the middle of a run).
	FaultRate float64
}

// FaultKinds are the misbehaviours FaultRate picks from.
var FaultKinds = []string{"refused", "reset", "slow", "auth", "reboot"}

// SlowDelay is how long a "slow" host takes before each command.
const SlowDelay = 2 * time.Second

// Lab is a running fleet of simulated hosts, each served on its own
// loopback port.
type Lab struct {
	Dir        string // holds the files below
	ClientKey  string // the client's private key (ed25519, mode 0600)
	KnownHosts string // one "[127.0.0.1]:PORT ssh-ed25519 ..." line per host
	Inventory  string // fleettune's inventory for the fleet
	// CAFile is the lab CA's certificate (PEM), which signs the HTTPS
	// certificate of every Windows host; "" when there are none.
	CAFile string

	hosts    []*Host
	releases map[string]string // from the specs, as NewHost took them
	// transports are the specs' transports; "" is the OS's usual one.
	transports map[string]string
	servers    map[string]*hostServer  // hosts served over SSH
	winrm      map[string]*winrmServer // Windows hosts, served over WinRM
	ownsDir    bool
	password   string
	log        *log.Logger

	winrmPassword string // Administrator's password on the Windows hosts
	winrmAuth     string // "ntlm" or "basic"
	winrmHTTPS    bool
	ca            *labCA
	badCAOnce     sync.Once
	badCA         *labCA
	badCAErr      error

	// Shared mode (Options.Shared): the two listeners, the hosts by the
	// address they answer on, and the port that refuses connections.
	shared           bool
	sshLn, winLn     net.Listener
	sshPort, winPort int
	byAddr           map[netip.Addr]*hostServer
	winByAddr        map[netip.Addr]*winrmServer
	deadPort         int
	releaseDead      func()
	// faults is the fault Options.FaultRate gave each faulty host.
	faults map[string]string

	clientKey ssh.Signer
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every server goroutine
	fileMu    sync.Mutex     // known_hosts
	closeOnce sync.Once
}

var hostNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Start creates the hosts, serves each on its own loopback port and writes
// the client key, known_hosts and inventory. ctx bounds the start only; the
// lab serves until Close.
//
// The inventory leaves os: unset so that fleettune detects each host's OS
// with `uname -srv` through the lab shell, as it would on a real fleet.
func Start(ctx context.Context, o Options) (lab *Lab, err error) {
	ip, basePort, err := ParseListen(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = log.New(io.Discard)
	}
	hosts := make([]*Host, 0, len(o.Specs)+len(o.Hosts))
	releases := map[string]string{}
	transports := map[string]string{}
	for _, sp := range o.Specs {
		switch sp.Transport {
		case "", "ssh", "winrm":
		default:
			return nil, fmt.Errorf("lab: host %s: transport %q: want ssh or winrm", sp.Name, sp.Transport)
		}
		if sp.Transport == "winrm" && sp.OS != "windows" {
			return nil, fmt.Errorf("lab: host %s: only Windows hosts are served over WinRM", sp.Name)
		}
		transports[sp.Name] = sp.Transport
		h, err := NewHost(sp.Name, sp.OS, sp.Release)
		if err != nil {
			return nil, fmt.Errorf("lab: host %s (%s %s): %w", sp.Name, sp.OS, sp.Release, err)
		}
		if sp.Profile != "" {
			if err := SetProfile(h, sp.Profile, len(hosts), o.Seed); err != nil {
				return nil, fmt.Errorf("lab: host %s: %w", sp.Name, err)
			}
		}
		hosts = append(hosts, h)
		releases[sp.Name] = sp.Release
	}
	hosts = append(hosts, o.Hosts...)
	if len(hosts) == 0 {
		return nil, errors.New("lab: no hosts to serve")
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == nil || h.Emu == nil {
			return nil, errors.New("lab: a host without an emulator")
		}
		if !hostNameRE.MatchString(h.Name) {
			return nil, fmt.Errorf("lab: host name %q: use lower-case letters, digits, '.', '-' and '_'", h.Name)
		}
		if seen[h.Name] {
			return nil, fmt.Errorf("lab: host %s is listed twice", h.Name)
		}
		seen[h.Name] = true
	}
	if o.FaultRate < 0 || o.FaultRate > 1 {
		return nil, fmt.Errorf("lab: fault rate %g: want 0 to 1", o.FaultRate)
	}
	if o.Shared && ip.To4() == nil {
		return nil, fmt.Errorf("lab: one listener for every host needs an IPv4 loopback address, not %s", ip)
	}
	if o.Shared && len(hosts) > 1<<20 {
		return nil, fmt.Errorf("lab: %d hosts: at most %d share one listener", len(hosts), 1<<20)
	}
	if !o.Shared && basePort != 0 && basePort+len(hosts)-1 > 65535 {
		return nil, fmt.Errorf("lab: ports %d and up: %d hosts do not fit below 65536", basePort, len(hosts))
	}

	switch o.WinRMAuth {
	case "", "ntlm", "basic":
	default:
		return nil, fmt.Errorf("lab: WinRM auth %q: want ntlm or basic", o.WinRMAuth)
	}
	l := &Lab{hosts: hosts, releases: releases, transports: transports, servers: map[string]*hostServer{}, winrm: map[string]*winrmServer{},
		password: o.Password, log: logger, winrmAuth: o.WinRMAuth, winrmHTTPS: !o.WinRMHTTP, winrmPassword: o.Password,
		shared: o.Shared, faults: map[string]string{}}
	if l.winrmAuth == "" {
		l.winrmAuth = "ntlm"
	}
	if l.winrmPassword == "" {
		l.winrmPassword = randomPassword()
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			l.Close()
			lab = nil
		}
	}()
	if err := l.setDir(o.Dir, o.Inventory); err != nil {
		return l, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return l, fmt.Errorf("lab: generate client key: %w", err)
	}
	if l.clientKey, err = ssh.NewSignerFromKey(priv); err != nil {
		return l, fmt.Errorf("lab: client key: %w", err)
	}
	if l.shared {
		if err := l.listenShared(basePort); err != nil {
			return l, err
		}
	}
	for i, h := range hosts {
		if err := ctx.Err(); err != nil {
			return l, fmt.Errorf("lab: start: %w", err)
		}
		addr := &net.TCPAddr{IP: ip}
		if l.shared {
			addr = &net.TCPAddr{IP: sharedAddr(i).AsSlice()}
		} else if basePort != 0 {
			addr.Port = basePort + i
		}
		if h.OS == "windows" && l.transports[h.Name] != "ssh" {
			if l.ca == nil {
				if l.ca, err = newLabCA("fleettune lab CA", ip); err != nil {
					return l, err
				}
				l.CAFile = filepath.Join(l.Dir, CAFile)
				if err := writeFile(l.CAFile, l.ca.pem, 0o644); err != nil {
					return l, err
				}
			}
			if l.shared {
				addr.Port = l.winPort
			}
			w, err := newWinRMServer(l, h, addr, l.winrmHTTPS, l.winrmAuth)
			if err != nil {
				return l, err
			}
			l.winrm[h.Name] = w
			if l.shared {
				l.winByAddr[sharedAddr(i)] = w
			}
			continue
		}
		if l.shared {
			addr.Port = l.sshPort
		}
		s, err := newHostServer(l, h, addr)
		if err != nil {
			return l, err
		}
		l.servers[h.Name] = s
		if l.shared {
			l.byAddr[sharedAddr(i)] = s
		}
	}
	if l.shared {
		l.serveShared()
	}
	if o.FaultRate > 0 {
		if err := l.assignFaults(o.FaultRate, o.Seed); err != nil {
			return l, err
		}
	}

	block, err := ssh.MarshalPrivateKey(priv, "fleettune-lab")
	if err != nil {
		return l, fmt.Errorf("lab: encode client key: %w", err)
	}
	if err := writeFile(l.ClientKey, pem.EncodeToMemory(block), 0o600); err != nil {
		return l, err
	}
	if err := l.WriteKnownHosts(); err != nil {
		return l, err
	}
	inv := l.inventoryYAML
	if l.shared {
		inv = l.inventorySharedYAML
	}
	if err := writeFile(l.Inventory, inv(), 0o644); err != nil {
		return l, err
	}
	env := fmt.Sprintf("# fleettune lab: set -a; . %s\n%s=%s\nFLEETTUNE_INVENTORY=%s\n",
		shellQuote(filepath.Join(l.Dir, EnvFile)), PasswordEnv, shellQuote(l.winrmPassword), shellQuote(l.Inventory))
	if err := writeFile(filepath.Join(l.Dir, EnvFile), []byte(env), 0o600); err != nil {
		return l, err
	}
	logger.Debug("lab: started", "hosts", len(hosts), "dir", l.Dir, "inventory", l.Inventory)
	return l, nil
}

// setDir picks the directory and file names, refusing to overwrite a key
// or known_hosts the lab did not write.
func (l *Lab) setDir(dir, inv string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "fleettune-lab-")
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		dir, l.ownsDir = d, true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	l.Dir = abs
	l.ClientKey = filepath.Join(abs, ClientKeyFile)
	l.KnownHosts = filepath.Join(abs, KnownHostsFile)
	l.Inventory = filepath.Join(abs, InventoryFile)
	if inv != "" {
		if l.Inventory, err = filepath.Abs(inv); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	if l.ownsDir {
		return nil
	}
	ours, err := hasHeader(l.KnownHosts)
	if err != nil {
		return err
	}
	for _, p := range []string{l.ClientKey, l.KnownHosts, filepath.Join(abs, CAFile), filepath.Join(abs, EnvFile)} {
		if _, err := os.Lstat(p); err == nil && !ours {
			return fmt.Errorf("lab: %s exists and was not written by the lab; refusing to overwrite it (choose another directory)", p)
		}
	}
	return nil
}

// hasHeader reports whether the file at path starts with the lab's
// known_hosts header; a missing file does not.
func hasHeader(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return strings.HasPrefix(line, knownHostsHeader), nil
}

// writeFile writes through a temporary file and a rename, so a reader
// never sees half a file.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("lab: write %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	if err := tmp.Chmod(perm); werr == nil {
		werr = err
	}
	if err := tmp.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("lab: write %s: %w", path, werr)
	}
	return nil
}

// WriteKnownHosts (re)writes known_hosts with every host's current key:
// after ChangeHostKey, this is the operator accepting the new key.
func (l *Lab) WriteKnownHosts() error {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s host keys of %d simulated hosts\n", knownHostsHeader, len(l.hosts))
	for _, h := range l.hosts {
		if l.servers[h.Name] != nil {
			b.WriteString(l.knownHostsLine(h.Name))
		}
	}
	return writeFile(l.KnownHosts, b.Bytes(), 0o644)
}

// knownHostsLine is the host's known_hosts line with its current key.
func (l *Lab) knownHostsLine(name string) string {
	s := l.servers[name]
	return knownHostsPattern(s.Addr()) + " " + string(ssh.MarshalAuthorizedKey(s.hostKey()))
}

// knownHostsPattern is how OpenSSH names host:port in known_hosts:
// "[127.0.0.1]:2201" (plain "127.0.0.1" only for port 22).
func knownHostsPattern(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if port == "22" {
		return host
	}
	return "[" + host + "]:" + port
}

// inventoryYAML is fleettune's inventory for the lab: every host by name
// with its address and port, in start order, and a group per OS family.
func (l *Lab) inventoryYAML() []byte {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a JSON string is a YAML string
	var b bytes.Buffer
	fmt.Fprintf(&b, "# fleettune lab: %d simulated hosts on loopback, served until the lab stops.\n", len(l.hosts))
	b.WriteString("# os: is left unset: fleettune detects each host with uname, as on a real fleet.\n")
	b.WriteString("# Windows hosts are reached over WinRM as " + WinRMUser + "; set " + PasswordEnv + " to the lab's password.\n")
	b.WriteString("defaults:\n  transport: ssh\n  user: root\n  timeout: 30s\n  ssh:\n")
	fmt.Fprintf(&b, "    identity_files: [%s]\n", q(l.ClientKey))
	fmt.Fprintf(&b, "    known_hosts: %s\n", q(l.KnownHosts))
	b.WriteString("    host_key_checking: strict\n")
	b.WriteString("hosts:\n")
	var families []string
	members := map[string][]string{}
	for _, h := range l.hosts {
		if w := l.winrm[h.Name]; w != nil {
			host, _, _ := net.SplitHostPort(w.Addr())
			fmt.Fprintf(&b, "  %s:\n    address: %s\n    transport: winrm\n    os: windows\n    user: %s\n", h.Name, q(host), WinRMUser)
			fmt.Fprintf(&b, "    winrm: {port: %d, https: %t, auth: %s, password_env: %s", w.port(), w.https, w.auth, PasswordEnv)
			if w.https {
				fmt.Fprintf(&b, ", ca_file: %s", q(l.CAFile))
			}
			b.WriteString("}\n")
		} else {
			s := l.servers[h.Name]
			host, _, _ := net.SplitHostPort(s.Addr())
			fmt.Fprintf(&b, "  %s:\n    address: %s\n    ssh: {port: %d}\n", h.Name, q(host), s.port())
			if h.OS == "windows" {
				// OpenSSH on Windows: os left unset, so fleettune's
				// detection falls back from uname to ver.
				fmt.Fprintf(&b, "    user: %s\n", WindowsAdmin)
			}
		}
		if _, ok := members[h.OS]; !ok {
			families = append(families, h.OS)
		}
		members[h.OS] = append(members[h.OS], h.Name)
	}
	b.WriteString("groups:\n")
	for _, f := range families {
		fmt.Fprintf(&b, "  %s:\n    hosts: [%s]\n", f, strings.Join(members[f], ", "))
	}
	return b.Bytes()
}

// Hosts are the lab's hosts in start order.
func (l *Lab) Hosts() []*Host { return l.hosts }

// Host is the host called name, or nil.
func (l *Lab) Host(name string) *Host {
	if s := l.servers[name]; s != nil {
		return s.host
	}
	if w := l.winrm[name]; w != nil {
		return w.host
	}
	return nil
}

// Addr is the host's "127.0.0.1:PORT", or "" for an unknown host.
func (l *Lab) Addr(name string) string {
	if s := l.servers[name]; s != nil {
		return s.Addr()
	}
	if w := l.winrm[name]; w != nil {
		return w.Addr()
	}
	return ""
}

// Port is the host's TCP port, or 0 for an unknown host.
func (l *Lab) Port(name string) int {
	if s := l.servers[name]; s != nil {
		return s.port()
	}
	if w := l.winrm[name]; w != nil {
		return w.port()
	}
	return 0
}

// Connections is how many TCP connections the host has accepted since the
// lab started, those closed or reset by a fault included; refused ones
// (SetFaults with Refuse) never reach it.
func (l *Lab) Connections(name string) int {
	if w := l.winrm[name]; w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.accepted
	}
	s := l.servers[name]
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// OpenConnections is how many of the host's connections are open now.
func (l *Lab) OpenConnections(name string) int {
	if w := l.winrm[name]; w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.conns)
	}
	s := l.servers[name]
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// HostKey is the public host key the host presents now.
func (l *Lab) HostKey(name string) ssh.PublicKey {
	if s := l.servers[name]; s != nil {
		return s.hostKey()
	}
	return nil
}

// ClientSigner is the key the lab's hosts accept, for clients in tests.
func (l *Lab) ClientSigner() ssh.Signer { return l.clientKey }

// ChangeHostKey gives the host a new host key from its next connection on,
// as a reinstalled host would have; known_hosts is left as it was, so
// strict checking fails until WriteKnownHosts. It returns the new key.
func (l *Lab) ChangeHostKey(name string) (ssh.PublicKey, error) {
	s := l.servers[name]
	if s == nil {
		return nil, fmt.Errorf("lab: no host %q", name)
	}
	signer, err := newHostKey()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.signer = signer
	s.mu.Unlock()
	l.log.Debug("lab: host key changed", "host", name, "key", ssh.FingerprintSHA256(signer.PublicKey()))
	return signer.PublicKey(), nil
}

// SetFaults sets the host's faults. Refuse is applied as a real refusal:
// the host's listener is closed until a later SetFaults clears Refuse,
// which reopens it on the same port.
func (l *Lab) SetFaults(name string, f Faults) error {
	if w := l.winrm[name]; w != nil {
		w.host.Lock()
		w.host.Faults = f
		w.host.Unlock()
		return w.setRefusing(f.Refuse)
	}
	s := l.servers[name]
	if s == nil {
		return fmt.Errorf("lab: no host %q", name)
	}
	s.host.Lock()
	s.host.Faults = f
	s.host.Unlock()
	return s.setRefusing(f.Refuse)
}

// Close stops every listener, closes every connection (commands waiting
// out a delay end at once), waits for the server's goroutines and removes
// the directory if Start made it. It is safe to call more than once.
func (l *Lab) Close() error {
	var err error
	l.closeOnce.Do(func() {
		for _, ln := range []net.Listener{l.sshLn, l.winLn} {
			if ln != nil {
				ln.Close()
			}
		}
		if l.releaseDead != nil {
			l.releaseDead()
		}
		for _, s := range l.servers {
			s.close()
		}
		for _, w := range l.winrm {
			w.close()
		}
		l.cancel()
		l.wg.Wait()
		if l.ownsDir && l.Dir != "" {
			err = os.RemoveAll(l.Dir)
		}
	})
	return err
}

// Table summarises the fleet: one row per host in start order with its
// name, OS family, release (as its Spec gave it; uname -r for hosts
// brought in Options.Hosts), address, load profile and the fault
// Options.FaultRate gave it ("" for none).
func (l *Lab) Table() [][]string {
	rows := make([][]string, 0, len(l.hosts))
	for _, h := range l.hosts {
		rel, ok := l.releases[h.Name]
		if !ok {
			h.Lock()
			rel = h.Uname.Release
			h.Unlock()
		}
		h.Lock()
		prof := string(h.Load.Profile)
		h.Unlock()
		rows = append(rows, []string{h.Name, h.OS, rel, l.Addr(h.Name), prof, l.faults[h.Name]})
	}
	return rows
}

// Password is Administrator's password on the lab's Windows hosts
// (Options.Password, or a random one): set PasswordEnv to it.
func (l *Lab) Password() string { return l.winrmPassword }

// WinRMStats is what the Windows host's WinRM endpoint has served so far;
// ok is false for a host that is not served over WinRM.
func (l *Lab) WinRMStats(name string) (st WinRMStats, ok bool) {
	w := l.winrm[name]
	if w == nil {
		return WinRMStats{}, false
	}
	return w.snapshot(), true
}

// SetBadCertificate makes the Windows host present (on) a certificate
// signed by another CA than the lab's, as a host reinstalled with a
// self-signed certificate would; off restores the lab CA's.
func (l *Lab) SetBadCertificate(name string, on bool) error {
	w := l.winrm[name]
	if w == nil {
		return fmt.Errorf("lab: no Windows host %q", name)
	}
	if on {
		if _, err := l.badServerCert(); err != nil {
			return err
		}
	}
	w.mu.Lock()
	w.badCert = on
	w.mu.Unlock()
	return nil
}

// badServerCert is a server certificate for the lab's addresses from a CA
// nobody trusts, made on first use.
func (l *Lab) badServerCert() (*tls.Certificate, error) {
	l.badCAOnce.Do(func() {
		l.badCA, l.badCAErr = newLabCA("not the fleettune lab CA", nil)
	})
	if l.badCAErr != nil {
		return nil, l.badCAErr
	}
	return &l.badCA.server, nil
}

// randomPassword is a password Windows' default complexity rules accept.
func randomPassword() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "Lab-" + base64.RawURLEncoding.EncodeToString(b[:]) + "9a"
}
