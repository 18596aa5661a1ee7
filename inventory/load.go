package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fleettune/fleettune/internal/yamlx"
)

// Formats names what -i reads, for the message about a file it cannot.
const Formats = "a fleettune YAML inventory, an Ansible YAML or INI inventory, an Ansible inventory directory " +
	"(with group_vars/ and host_vars/), a comma-separated host list (\"host1,host2,\"), " +
	"or the JSON of `ansible-inventory -i SOURCE --list` (from a file, or -i - for standard input)"

// Options tune LoadAll. The zero value reads the user's OpenSSH
// configuration and refuses passwords written in Ansible inventories.
type Options struct {
	// SSHConfigFiles replaces the OpenSSH configuration files consulted
	// (default ~/.ssh/config, then /etc/ssh/ssh_config), as ssh -F does;
	// an inventory's ssh: {config: ...} still wins for its hosts.
	SSHConfigFiles []string
	// NoSSHConfig consults no OpenSSH configuration, unless an inventory
	// names one with ssh: {config: FILE}.
	NoSSHConfig bool
	// Warn receives each warning as it is found (they are also kept in
	// Inventory.Warnings); nil is fine.
	Warn func(msg string)
	// InventoryPasswords uses passwords written in clear in an Ansible
	// inventory (ansible_password and the like), which are otherwise only
	// warned about. The operator's explicit choice: the values stay in
	// memory, served by Inventory.Getenv under the name each host's
	// password_env records, and are never written anywhere.
	InventoryPasswords bool
}

// PasswordEnvPrefix starts the password_env name of a password taken from
// an inventory (Options.InventoryPasswords).
const PasswordEnvPrefix = "FLEETTUNE_INVENTORY_PASSWORD_"

// Getenv returns a lookup that serves the passwords taken from the
// inventory (see Options.InventoryPasswords) and otherwise asks next (nil:
// os.Getenv).
func (inv *Inventory) Getenv(next func(string) string) func(string) string {
	if next == nil {
		next = os.Getenv
	}
	if len(inv.secrets) == 0 {
		return next
	}
	secrets := inv.secrets
	return func(name string) string {
		if v, ok := secrets[name]; ok {
			return v
		}
		return next(name)
	}
}

// part is one inventory source, read but not resolved: its hosts in order,
// its groups with their members, and each host's settings in the order they
// apply.
type part struct {
	file    string
	data    [][]byte // what the digest covers
	hosts   []string
	hostAt  map[string]place
	groups  []partGroup
	groupAt map[string]int
	setters map[string][]setter
	ans     *ansible // an Ansible inventory, before its variables become setters
}

type partGroup struct {
	name    string
	at      place
	members []string // every host in it, directly or through children
	isIn    map[string]bool
}

func newPart(file string, data ...[]byte) *part {
	return &part{file: file, data: data, hostAt: map[string]place{}, groupAt: map[string]int{}, setters: map[string][]setter{}}
}

func (pt *part) addHost(name string, at place) {
	if _, ok := pt.hostAt[name]; ok {
		return
	}
	pt.hostAt[name] = at
	pt.hosts = append(pt.hosts, name)
}

func (pt *part) addGroup(name string, at place, members []string) {
	i, ok := pt.groupAt[name]
	if !ok {
		i = len(pt.groups)
		pt.groupAt[name] = i
		pt.groups = append(pt.groups, partGroup{name: name, at: at, isIn: map[string]bool{}})
	}
	g := &pt.groups[i]
	for _, m := range members {
		if !g.isIn[m] {
			g.isIn[m] = true
			g.members = append(g.members, m)
		}
	}
}

// LoadAll reads every source in paths, as several -i: each may be a file
// (fleettune YAML, Ansible YAML or INI, ansible-inventory --list JSON), an
// Ansible inventory directory, a comma-separated list of hosts, or "-" for
// stdin. Sources merge as Ansible merges them: hosts and groups are the
// union, and where two sources set the same value for a host the later
// one wins. Every SSH host is then resolved through the OpenSSH
// configuration for what the inventories leave unset.
func LoadAll(paths []string, stdin io.Reader, opts Options) (*Inventory, error) {
	if len(paths) == 0 {
		return nil, errors.New("no inventory given (-i FILE; " + Formats + ")")
	}
	var parts []*part
	var warnings []string
	warn := func(msg string) {
		warnings = append(warnings, msg)
		if opts.Warn != nil {
			opts.Warn(msg)
		}
	}
	stdinUsed := false
	for _, p := range paths {
		if p == "-" {
			if stdinUsed {
				return nil, errors.New("-i -: standard input can be read only once")
			}
			stdinUsed = true
			if stdin == nil {
				return nil, errors.New("-i -: no standard input")
			}
			data, err := io.ReadAll(io.LimitReader(stdin, MaxInventoryBytes+1))
			if err != nil {
				return nil, fmt.Errorf("-i -: reading standard input: %w", err)
			}
			if len(data) > MaxInventoryBytes {
				return nil, fmt.Errorf("-i -: standard input is larger than %d bytes", MaxInventoryBytes)
			}
			pt, err := parseData("<stdin>", "", data, warn)
			if err != nil {
				return nil, err
			}
			parts = append(parts, pt)
			continue
		}
		pt, err := loadSource(p, warn)
		if err != nil {
			return nil, err
		}
		parts = append(parts, pt...)
	}
	inv, err := merge(parts, opts, warn)
	if err != nil {
		return nil, err
	}
	inv.File = strings.Join(paths, ",")
	inv.Paths = slices.Clone(paths)
	inv.Warnings = warnings
	return inv, nil
}

// loadSource reads one -i argument that is not "-".
func loadSource(path string, warn func(string)) ([]*part, error) {
	st, err := os.Stat(path)
	if err != nil {
		if strings.Contains(path, ",") { // not a file (missing, or a name too long to be one)
			pt, err := parseHostList(path)
			if err != nil {
				return nil, err
			}
			return []*part{pt}, nil
		}
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	if st.IsDir() {
		return loadAnsibleDir(path, warn)
	}
	data, err := readCapped(path, MaxInventoryBytes)
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	pt, err := parseData(path, filepath.Dir(path), data, warn)
	if err != nil {
		return nil, err
	}
	if pt.ans != nil && !pt.ans.listed {
		pt.ans.dirs = append(pt.ans.dirs, filepath.Dir(path))
	}
	return []*part{pt}, nil
}

// parseData detects the format of one file's bytes and parses it. dir, for
// an Ansible inventory, is where group_vars/ and host_vars/ are looked for
// ("" for none).
func parseData(file, dir string, data []byte, warn func(string)) (*part, error) {
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return newPart(file, data), nil
	}
	if trimmed[0] == '{' {
		return parseAnsibleJSON(file, data, warn)
	}
	if bytes.HasPrefix(trimmed, []byte("#!")) {
		return nil, fmt.Errorf("%s: an executable inventory script; fleettune does not run inventory scripts: "+
			"run `ansible-inventory -i %s --list > inventory.json` (or pipe it to -i -), and give fleettune that JSON", file, file)
	}
	ext := strings.ToLower(filepath.Ext(file))
	yamlExt := ext == ".yaml" || ext == ".yml" || ext == ".json"
	var root *yaml.Node
	var yerr error
	if yerr = singleDocument(file, data); yerr == nil {
		root, yerr = yamlx.Parse(file, data)
	}
	if yerr == nil && root.Kind == yaml.MappingNode {
		if isNative(root) {
			return parseNativeNode(file, data, root)
		}
		return parseAnsibleYAML(file, data, root, warn)
	}
	if yamlExt {
		if yerr != nil {
			return nil, rangeHint(yerr, data)
		}
		return nil, fmt.Errorf("%s: not an inventory: the YAML is %s; fleettune reads %s", file, yamlx.Kind(root), Formats)
	}
	if !looksINI(data) {
		return nil, fmt.Errorf("%s: not an inventory fleettune reads; fleettune reads %s", file, Formats)
	}
	return parseAnsibleINI(file, data, warn)
}

// isNative tells a fleettune inventory from an Ansible YAML one: only the
// keys defaults, groups and hosts at the top, and no group body (hosts:,
// children:, vars:) under them, as Ansible's top-level groups have.
func isNative(root *yaml.Node) bool {
	if len(root.Content) == 0 {
		return true
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if !slices.Contains(topKeys, root.Content[i].Value) {
			return false
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "defaults" {
			return true
		}
		v := yamlx.Resolve(root.Content[i+1])
		if v == nil || v.Kind != yaml.MappingNode {
			continue
		}
		keys := map[string]bool{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			keys[v.Content[j].Value] = true
		}
		// Ansible: "hosts:" as a top-level group would hold hosts:/vars:.
		if root.Content[i].Value == "hosts" && (keys["hosts"] || keys["vars"] || keys["children"]) {
			return false
		}
	}
	return true
}

// parseHostList reads "host1,host2," as Ansible's host_list plugin does.
func parseHostList(list string) (*part, error) {
	file := "host list " + list
	pt := newPart(file, []byte(list))
	for _, raw := range strings.Split(list, ",") {
		name := strings.TrimSpace(raw)
		if name == "" {
			continue
		}
		var ss []setter
		host, port, err := splitHostPort(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if err := checkHostName(host); err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if port > 0 {
			at := place{file: file, from: "host list"}
			ss = append(ss, setter{"ssh.port", at, func(h *Host) { h.SSH.Port = port; h.WinRM.Port = port }})
		}
		pt.addHost(host, place{file: file})
		pt.setters[host] = append(pt.setters[host], ss...)
	}
	if len(pt.hosts) == 0 {
		return nil, fmt.Errorf("%s: no host names", file)
	}
	pt.addGroup("ungrouped", place{file: file}, pt.hosts)
	return pt, nil
}

// merge resolves the parts into an Inventory.
func merge(parts []*part, opts Options, warns ...func(string)) (*Inventory, error) {
	warn := func(string) {}
	if len(warns) > 0 {
		warn = warns[0]
	}
	inv := &Inventory{byGroup: map[string]*group{}, byHost: map[string]*Host{}}
	sum := sha256.New()
	for _, pt := range parts {
		for _, d := range pt.data {
			sum.Write(d)
		}
	}
	inv.Digest = "sha256:" + hex.EncodeToString(sum.Sum(nil))
	// Every Ansible source joins one inventory, as ansible -i a -i b builds
	// one: group variables from one source apply to the group's hosts from
	// another. It takes the place of the first.
	var combined *ansible
	kept := parts[:0:0]
	for _, pt := range parts {
		if pt.ans == nil {
			kept = append(kept, pt)
			continue
		}
		if combined == nil {
			combined = pt.ans
			kept = append(kept, pt)
			continue
		}
		combined.absorb(pt.ans)
	}
	parts = kept
	if combined != nil {
		for i, dir := range combined.dirs {
			if slices.Contains(combined.dirs[:i], dir) {
				continue
			}
			if err := combined.varsDirs(dir); err != nil {
				return nil, err
			}
		}
	}
	hostAt := map[string]place{}
	for i, pt := range parts {
		if pt.ans != nil {
			var secrets map[string]string
			if opts.InventoryPasswords {
				if inv.secrets == nil {
					inv.secrets = map[string]string{}
				}
				secrets = inv.secrets
			}
			if err := pt.finishAnsible(warn, secrets); err != nil {
				return nil, err
			}
		}
		if i == 0 {
			inv.File = pt.file
		}
		for _, name := range pt.hosts {
			if _, ok := inv.byHost[name]; ok {
				continue
			}
			h := &Host{Name: name}
			inv.Hosts = append(inv.Hosts, h)
			inv.byHost[name] = h
			hostAt[name] = pt.hostAt[name]
		}
		for _, g := range pt.groups {
			gr, ok := inv.byGroup[g.name]
			if !ok {
				gr = &group{name: g.name, isMember: map[string]bool{}}
				inv.byGroup[g.name] = gr
				inv.groups = append(inv.groups, gr)
			}
			for _, m := range g.members {
				gr.isMember[m] = true
			}
		}
	}
	for _, g := range inv.groups {
		if at, clash := hostAt[g.name]; clash {
			// Ansible allows it (fleettune's own format refuses it).
			warn(fmt.Sprintf("%s: group %q has the same name as a host; --limit %s selects the host", at.source(), g.name, g.name))
		}
		for _, h := range inv.Hosts {
			if g.isMember[h.Name] {
				g.members = append(g.members, h)
			}
		}
	}
	if at, clash := hostAt[All]; clash {
		return nil, &yamlx.Error{File: at.file, Line: at.line, Column: at.column, Msg: fmt.Sprintf("host name %q is reserved for the group of every host", All)}
	}

	home := homeDir()
	configs := newSSHConfigs(home, warn)
	defaultFiles := DefaultSSHConfigFiles(home)
	switch {
	case opts.NoSSHConfig:
		defaultFiles = []string{}
	case opts.SSHConfigFiles != nil:
		defaultFiles = opts.SSHConfigFiles
	}
	base := builtins(home)
	for _, h := range inv.Hosts {
		name := h.Name
		*h = base
		h.Name = name
		h.SSH.IdentityFiles = slices.Clone(base.SSH.IdentityFiles)
		h.SSH.ConfigFiles = slices.Clone(defaultFiles)
		h.Groups = []string{All}
		for _, g := range inv.groups {
			if g.isMember[name] {
				h.Groups = append(h.Groups, g.name)
			}
		}
		r := resolution{host: h, at: map[string]setAt{}}
		for _, pt := range parts {
			r.apply(pt.setters[name])
		}
		if err := configs.apply(&r); err != nil {
			return nil, err
		}
		if err := r.finish(); err != nil {
			if _, ok := yamlx.AsError(err); ok {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", hostAt[name].file, err)
		}
	}
	return inv, nil
}
