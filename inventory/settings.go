package inventory

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleettune/fleettune/internal/yamlx"
)

// Built-in defaults, applied before the file's defaults.
const (
	DefaultTransport       = TransportSSH
	DefaultTimeout         = 30 * time.Second
	DefaultSSHPort         = 22
	DefaultHostKeyChecking = "strict"
	DefaultBecome          = "none"
	DefaultWinRMPortHTTPS  = 5986
	DefaultWinRMPortHTTP   = 5985 // when https is false and no port is set
	DefaultWinRMAuth       = "ntlm"
	DefaultWinRMPassEnv    = "FLEETTUNE_WINRM_PASSWORD"
)

// Transports.
const (
	TransportSSH   = "ssh"
	TransportWinRM = "winrm"
)

var (
	settingKeys      = []string{"transport", "user", "timeout", "os", "ssh", "winrm"}
	hostSettingKeys  = append(slices.Clone(settingKeys), "address")
	sshKeys          = []string{"port", "identity_files", "known_hosts", "host_key_checking", "proxy_jump", "proxy_command", "become", "password_env", "config"}
	winrmKeys        = []string{"port", "https", "auth", "password_env", "ca_file", "server_name", "insecure_skip_verify"}
	transports       = []string{TransportSSH, TransportWinRM}
	hostKeyCheckings = []string{"strict", "accept-new", "off"}
	becomes          = []string{"none", "sudo"}
	winrmAuths       = []string{"basic", "ntlm"}

	// osNames is platform.OSNames, which cannot be imported here (platform
	// imports remote, which imports inventory); a test keeps them equal.
	osNames = []string{"linux", "windows", "solaris", "hpux", "aix", "tru64"}

	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// defaultIdentityFiles are the keys OpenSSH tries, in its order, under ~/.ssh.
var defaultIdentityFiles = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// setter is one key of a settings mapping, ready to apply to a host.
type setter struct {
	key   string // "user", "ssh.port"
	at    place  // where the value was written, for messages and Host.Sources
	apply func(h *Host)
}

// place is where a value came from: a file position and what it belongs
// to ("group db", "ansible var ansible_port").
type place struct {
	file         string
	line, column int
	from         string
}

// source is the place as Host.Sources shows it: "inv.yaml:12 (group db)".
func (p place) source() string {
	s := p.file
	if p.line > 0 {
		s += ":" + strconv.Itoa(p.line)
	}
	if p.from != "" {
		s += " (" + p.from + ")"
	}
	return s
}

func nodePlace(file string, n *yaml.Node, from string) place {
	return place{file: file, line: n.Line, column: n.Column, from: from}
}

// scope names a settings mapping in messages: top is the mapping itself
// ("defaults", "group db: settings", "host db2"), prefix goes before a key
// path ("defaults.", "group db: settings.", "host db2: ").
type scope struct{ top, prefix string }

func (s scope) what(path string) string { return s.prefix + path }

// settings reads a settings mapping (defaults, a group's settings, a host).
func (p *parser) settings(n *yaml.Node, sc scope, perHost bool) ([]setter, error) {
	kvs, err := mapping(p.file, n, sc.top, hostSettingKeys)
	if err != nil {
		return nil, err
	}
	var out []setter
	add := func(key string, n *yaml.Node, f func(*Host)) {
		out = append(out, setter{key, nodePlace(p.file, n, sc.top), f})
	}
	for _, kv := range kvs {
		what, v := sc.what(kv.Key), kv.Value
		switch kv.Key {
		case "transport":
			s, err := enum(p.file, v, what, transports)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.Transport = s })
		case "user":
			s, err := yamlx.String(p.file, v, what)
			if err != nil {
				return nil, err
			}
			if err := checkUser(s); err != nil {
				return nil, yamlx.Errorf(p.file, v, "%s: %v", what, err)
			}
			add(kv.Key, v, func(h *Host) { h.User = s })
		case "timeout":
			d, err := yamlx.Duration(p.file, v, what)
			if err != nil {
				return nil, err
			}
			if d <= 0 {
				return nil, yamlx.Errorf(p.file, v, "%s: must be greater than 0", what)
			}
			add(kv.Key, v, func(h *Host) { h.Timeout = d })
		case "os":
			s, err := enum(p.file, v, what, osNames)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.OS = s })
		case "address":
			if !perHost {
				return nil, yamlx.Errorf(p.file, kv.KeyN, "%s: address is set per host, under hosts:", sc.top)
			}
			s, err := yamlx.String(p.file, v, what)
			if err != nil {
				return nil, err
			}
			if err := checkName("address", s); err != nil {
				return nil, yamlx.Errorf(p.file, v, "%s: %v", what, err)
			}
			add(kv.Key, v, func(h *Host) { h.Address = s })
		case "ssh":
			ss, err := p.sshSettings(v, what, sc.top)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
		case "winrm":
			ss, err := p.winrmSettings(v, what, sc.top)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
		}
	}
	return out, nil
}

func (p *parser) sshSettings(n *yaml.Node, block, from string) ([]setter, error) {
	kvs, err := mapping(p.file, n, block, sshKeys)
	if err != nil {
		return nil, err
	}
	var out []setter
	add := func(key string, n *yaml.Node, f func(*Host)) {
		out = append(out, setter{"ssh." + key, nodePlace(p.file, n, from), f})
	}
	for _, kv := range kvs {
		what, v := block+"."+kv.Key, kv.Value
		switch kv.Key {
		case "port":
			port, err := portNumber(p.file, v, what)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.SSH.Port = port })
		case "identity_files":
			items, err := listOrOne(p.file, v, what)
			if err != nil {
				return nil, err
			}
			files := []string{}
			for _, item := range items {
				f, err := p.path(item, what, false)
				if err != nil {
					return nil, err
				}
				files = append(files, f)
			}
			add(kv.Key, v, func(h *Host) { h.SSH.IdentityFiles = slices.Clone(files) })
		case "known_hosts":
			f, err := p.path(v, what, false)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.SSH.KnownHosts = f })
		case "host_key_checking":
			s, err := enum(p.file, v, what, hostKeyCheckings)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.SSH.HostKeyChecking = s })
		case "proxy_jump":
			s, err := yamlx.String(p.file, v, what)
			if err != nil {
				return nil, err
			}
			if err := checkProxyJump(s); err != nil {
				return nil, yamlx.Errorf(p.file, v, "%s: %v", what, err)
			}
			add(kv.Key, v, func(h *Host) { h.SSH.ProxyJump = s })
		case "proxy_command":
			s, err := yamlx.String(p.file, v, what)
			if err != nil {
				return nil, err
			}
			if err := checkProxyCommand(s); err != nil {
				return nil, yamlx.Errorf(p.file, v, "%s: %v", what, err)
			}
			add(kv.Key, v, func(h *Host) { h.SSH.ProxyCommand = s })
		case "become":
			s, err := enum(p.file, v, what, becomes)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.SSH.Become = s })
		case "password_env":
			s, err := passwordEnv(p.file, v, what)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.SSH.PasswordEnv = s })
		case "config":
			s, err := yamlx.String(p.file, v, what)
			if err != nil {
				return nil, err
			}
			files := []string{}
			if s != SSHConfigNone {
				f, err := p.path(v, what, false)
				if err != nil {
					return nil, err
				}
				files = append(files, f)
			}
			add(kv.Key, v, func(h *Host) { h.SSH.ConfigFiles = slices.Clone(files) })
		}
	}
	return out, nil
}

func (p *parser) winrmSettings(n *yaml.Node, block, from string) ([]setter, error) {
	kvs, err := mapping(p.file, n, block, winrmKeys)
	if err != nil {
		return nil, err
	}
	var out []setter
	add := func(key string, n *yaml.Node, f func(*Host)) {
		out = append(out, setter{"winrm." + key, nodePlace(p.file, n, from), f})
	}
	for _, kv := range kvs {
		what, v := block+"."+kv.Key, kv.Value
		switch kv.Key {
		case "port":
			port, err := portNumber(p.file, v, what)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.WinRM.Port = port })
		case "https":
			b, err := yamlx.Bool(p.file, v, what)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.WinRM.HTTPS = b })
		case "auth":
			s, err := enum(p.file, v, what, winrmAuths)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.WinRM.Auth = s })
		case "password_env":
			s, err := passwordEnv(p.file, v, what)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.WinRM.PasswordEnv = s })
		case "ca_file":
			f, err := p.path(v, what, true)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.WinRM.CAFile = f })
		case "server_name":
			name, err := yamlx.String(p.file, v, what)
			if err != nil {
				return nil, err
			}
			if strings.ContainsAny(name, " \t/@") || (strings.Contains(name, ":") && net.ParseIP(name) == nil) {
				return nil, yamlx.Errorf(p.file, v, "%s: %q is not a host name: give the name the host's certificate is issued to, without scheme or port", what, name)
			}
			add(kv.Key, v, func(h *Host) { h.WinRM.ServerName = name })
		case "insecure_skip_verify":
			b, err := yamlx.Bool(p.file, v, what)
			if err != nil {
				return nil, err
			}
			add(kv.Key, v, func(h *Host) { h.WinRM.InsecureSkipVerify = b })
		}
	}
	return out, nil
}

// resolution is one host being resolved; at records where each key was
// last set, in which order.
type resolution struct {
	host *Host
	at   map[string]setAt
	seq  int
}

type setAt struct {
	at  place
	seq int
}

func (r *resolution) apply(ss []setter) {
	for _, s := range ss {
		s.apply(r.host)
		r.seq++
		r.at[s.key] = setAt{s.at, r.seq}
	}
}

// set reports whether the inventory set key.
func (r *resolution) set(key string) bool {
	_, ok := r.at[key]
	return ok
}

// finish fills in what depends on other keys, checks the combination and
// records Host.Sources.
func (r *resolution) finish() error {
	h := r.host
	if !r.set("winrm.port") {
		h.WinRM.Port = DefaultWinRMPortHTTPS
		if !h.WinRM.HTTPS {
			h.WinRM.Port = DefaultWinRMPortHTTP
		}
	}
	if h.SSH.ProxyJump != "" && h.SSH.ProxyCommand != "" {
		j, c := r.at["ssh.proxy_jump"], r.at["ssh.proxy_command"]
		later := c
		if j.seq > c.seq {
			later = j
		}
		return &yamlx.Error{File: later.at.file, Line: later.at.line, Column: later.at.column, Msg: fmt.Sprintf(
			"host %s: both ssh.proxy_jump (%s) and ssh.proxy_command (%s) apply; keep one, and where the other is inherited set it to \"\"",
			h.Name, j.at.short(later.at), c.at.short(later.at))}
	}
	if h.User == "" {
		return fmt.Errorf("host %s: no user: the current OS user is unknown; set user: in defaults", h.Name)
	}
	if h.Transport == TransportSSH && h.SSH.HostKeyChecking != "off" && h.SSH.KnownHosts == "" {
		return fmt.Errorf("host %s: no known_hosts file: the home directory is unknown; set ssh.known_hosts in defaults", h.Name)
	}
	h.Sources = map[string]string{}
	for _, k := range SourceKeys {
		h.Sources[k] = "default"
	}
	for k, a := range r.at {
		h.Sources[k] = a.at.source()
	}
	return nil
}

// short names p relative to ref: "line 7" in the same file, else file:line.
func (p place) short(ref place) string {
	if p.file == ref.file && p.line > 0 {
		return "line " + strconv.Itoa(p.line)
	}
	return p.source()
}

// SourceKeys are the keys of Host.Sources: every connection value the
// inventory, ssh_config or a default gives a host.
var SourceKeys = []string{
	"address", "os", "transport", "user", "timeout",
	"ssh.port", "ssh.identity_files", "ssh.identities_only", "ssh.known_hosts", "ssh.host_key_checking",
	"ssh.proxy_jump", "ssh.proxy_command", "ssh.become", "ssh.config", "ssh.password_env", "ssh.connect_timeout", "ssh.server_alive_interval",
	"winrm.port", "winrm.https", "winrm.auth", "winrm.password_env", "winrm.ca_file", "winrm.server_name", "winrm.insecure_skip_verify",
}

// builtins is the Host every host starts from.
func builtins(home string) Host {
	h := Host{
		Transport: DefaultTransport,
		User:      currentUser(),
		Timeout:   DefaultTimeout,
		SSH: SSH{
			Port:            DefaultSSHPort,
			IdentityFiles:   []string{},
			HostKeyChecking: DefaultHostKeyChecking,
			Become:          DefaultBecome,
		},
		WinRM: WinRM{
			HTTPS:       true,
			Auth:        DefaultWinRMAuth,
			PasswordEnv: DefaultWinRMPassEnv,
		},
	}
	if home != "" {
		for _, f := range defaultIdentityFiles {
			h.SSH.IdentityFiles = append(h.SSH.IdentityFiles, filepath.Join(home, ".ssh", f))
		}
		h.SSH.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	return h
}

// currentUser is the login name OpenSSH would use: the OS user, else $USER.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		name := u.Username
		if i := strings.LastIndexByte(name, '\\'); i >= 0 { // DOMAIN\user on Windows
			name = name[i+1:]
		}
		return name
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return os.Getenv("USERNAME")
}

// homeDir is the user's home directory, or "" when unknown.
func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return ""
}

// path reads a file path: ~ and ~/ are the home directory, a relative path
// is taken from the inventory's directory. The result is absolute.
func (p *parser) path(n *yaml.Node, what string, emptyOK bool) (string, error) {
	s, err := yamlx.String(p.file, n, what)
	if err != nil {
		return "", err
	}
	switch {
	case s == "" && emptyOK:
		return "", nil
	case strings.TrimSpace(s) == "":
		return "", yamlx.Errorf(p.file, n, "%s: expected a file path, found an empty string", what)
	case s == "~" || strings.HasPrefix(s, "~/"):
		if p.home == "" {
			return "", yamlx.Errorf(p.file, n, "%s: cannot expand %q: the home directory is unknown", what, s)
		}
		return filepath.Join(p.home, s[1:]), nil
	case strings.HasPrefix(s, "~"):
		return "", yamlx.Errorf(p.file, n, "%s: %q: only ~ and ~/ are expanded (to your home directory), not ~user", what, s)
	case filepath.IsAbs(s):
		return filepath.Clean(s), nil
	}
	return filepath.Join(p.dir, s), nil
}

func enum(file string, n *yaml.Node, what string, values []string) (string, error) {
	s, err := yamlx.String(file, n, what)
	if err != nil {
		return "", err
	}
	if !slices.Contains(values, s) {
		return "", yamlx.Errorf(file, n, "%s: %q is not one of: %s%s", what, s, strings.Join(values, ", "), suggest(s, values))
	}
	return s, nil
}

func portNumber(file string, n *yaml.Node, what string) (int, error) {
	port, err := yamlx.Int(file, n, what)
	if err != nil {
		return 0, err
	}
	if port < 1 || port > 65535 {
		return 0, yamlx.Errorf(file, n, "%s: %d is not a port (expected 1-65535)", what, port)
	}
	return port, nil
}

// passwordEnv reads the name of an environment variable. The value is not
// echoed in errors: it may be a password written where its name belongs.
func passwordEnv(file string, n *yaml.Node, what string) (string, error) {
	s, err := yamlx.String(file, n, what)
	if err != nil {
		return "", err
	}
	if s != "" && !envName.MatchString(s) {
		return "", yamlx.Errorf(file, n, "%s: this does not look like an environment variable name (letters, digits and _, not starting with a digit); "+
			"password_env takes the NAME of a variable that holds the password, never the password itself", what)
	}
	return s, nil
}

// checkUser refuses user names that cannot be a login: empty, with spaces or
// control characters, or starting with '-'.
func checkUser(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if strings.HasPrefix(s, "-") {
		return fmt.Errorf("%q must not start with '-'", s)
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("%q contains whitespace or a control character", s)
		}
	}
	return nil
}

// checkProxyJump checks [user@]host[:port], comma-separated for several
// hops, as OpenSSH's ProxyJump takes it ("" is none).
func checkProxyJump(s string) error {
	if s == "" {
		return nil
	}
	const form = "expected [user@]host[:port], comma-separated for several hops"
	for _, hop := range strings.Split(s, ",") {
		rest := strings.TrimPrefix(hop, "ssh://")
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			if err := checkUser(rest[:i]); err != nil {
				return fmt.Errorf("%q: user %v (%s)", s, err, form)
			}
			rest = rest[i+1:]
		}
		host, port := rest, ""
		switch {
		case strings.HasPrefix(rest, "["): // [v6]:port
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return fmt.Errorf("%q: unbalanced '[' (%s)", s, form)
			}
			host, port = rest[1:end], rest[end+1:]
			if port != "" {
				if !strings.HasPrefix(port, ":") {
					return fmt.Errorf("%q: unexpected %q after ']' (%s)", s, port, form)
				}
				port = port[1:]
				if port == "" {
					port = "-"
				}
			}
		case strings.Count(rest, ":") == 1:
			host, port, _ = strings.Cut(rest, ":")
			if port == "" {
				port = "-"
			}
		}
		if err := checkName("host", host); err != nil {
			return fmt.Errorf("%q: %v (%s)", s, err, form)
		}
		if port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("%q: port %q is not 1-65535 (%s)", s, strings.TrimPrefix(port, "-"), form)
			}
		}
	}
	return nil
}

// checkProxyCommand checks the %-tokens of a ProxyCommand ("" is none).
func checkProxyCommand(s string) error {
	if s == "" {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("expected a command, found only spaces")
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 == len(s) {
			return fmt.Errorf("%q ends with a lone %% (write %%%% for a literal %%)", s)
		}
		switch s[i+1] {
		case 'h', 'p', 'r', '%':
			i++
		default:
			return fmt.Errorf("%q: unknown token %%%c (known: %%h host, %%p port, %%r user, %%%% a literal %%)", s, s[i+1])
		}
	}
	return nil
}
