package inventory

import (
	"strings"
	"time"
)

// Host is one host of the inventory with its connection settings fully
// resolved (defaults, then groups in file order, then the host's own keys).
type Host struct {
	Name    string   // the inventory name, as --limit and output show it
	Address string   // where to connect; "" means Name
	OS      string   // one of platform.OSNames, or "" to detect
	Groups  []string // every group the host belongs to, "all" first, then file order

	Transport string        // "ssh" or "winrm"
	User      string        // login user
	Timeout   time.Duration // connect timeout and per-command timeout

	SSH   SSH
	WinRM WinRM

	// Sources says where each resolved connection value came from, by the
	// keys of SourceKeys ("user", "ssh.port"): "FILE:LINE (group db)",
	// "ssh_config FILE:LINE", "FILE:LINE (ansible var ansible_port)" or
	// "default". --list-hosts --format json shows it.
	Sources map[string]string
}

// Addr is the address to connect to: Address when set, else Name.
func (h *Host) Addr() string {
	if h.Address != "" {
		return h.Address
	}
	return h.Name
}

// AddressNote says how Addr was found, for an error about a name that does
// not resolve: whether the OpenSSH configuration was consulted, and where
// the address came from.
func (h *Host) AddressNote() string {
	src := h.Sources["address"]
	switch {
	case h.Address != "" && src != "" && src != "default":
		return "address " + h.Address + " from " + src
	case h.Transport != TransportSSH:
		return "no address set for " + h.Name + "; the name itself was used"
	case len(h.SSH.ConfigFiles) == 0:
		return "ssh_config not consulted (ssh: {config: none}); no address set for " + h.Name
	}
	return "ssh_config consulted (" + strings.Join(h.SSH.ConfigFiles, ", ") + ") and gives no HostName for " + h.Name + "; no address set in the inventory"
}

// InGroup reports whether the host is a member of group g.
func (h *Host) InGroup(g string) bool {
	for _, x := range h.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// SSH holds the resolved ssh: settings. Paths are absolute (~ expanded,
// relative paths taken from the inventory file's directory).
type SSH struct {
	Port            int
	IdentityFiles   []string
	KnownHosts      string
	HostKeyChecking string // "strict" | "accept-new" | "off"
	ProxyJump       string // [user@]host[:port], "" for none
	ProxyCommand    string // OpenSSH-style, %h %p %r expanded at dial time
	Become          string // "none" | "sudo"
	PasswordEnv     string // name of the environment variable holding a password

	// From OpenSSH's configuration (or the inventory):
	IdentitiesOnly      bool          // offer only IdentityFiles, not every key the agent holds
	ConnectTimeout      time.Duration // bound on connecting; 0 means Host.Timeout
	ServerAliveInterval time.Duration // keepalive interval; 0 means the transport's default
	// ConfigFiles are the ssh_config files the host was resolved through,
	// in order (whether or not each exists); empty when ssh: {config: none}.
	ConfigFiles []string
}

// WinRM holds the resolved winrm: settings.
type WinRM struct {
	Port        int
	HTTPS       bool
	Auth        string // "basic" | "ntlm"
	PasswordEnv string
	CAFile      string
	// ServerName is the name the host's HTTPS certificate must carry; ""
	// means the address connected to.
	ServerName         string
	InsecureSkipVerify bool
}
