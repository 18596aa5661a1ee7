// Package inventory loads the fleet: which hosts make it up, the groups they
// are in, and how to connect to each of them. It reads fleettune's own YAML
// inventory and Ansible's (YAML, INI, directories with group_vars/ and
// host_vars/, host lists, ansible-inventory --list JSON), merges several,
// and resolves every SSH host through the user's OpenSSH configuration as
// `ssh NAME` would, recording where each value came from (Host.Sources).
package inventory

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fleettune/fleettune/internal/yamlx"
)

// All is the implicit group every host belongs to.
const All = "all"

var (
	topKeys   = []string{"defaults", "groups", "hosts"}
	groupKeys = []string{"hosts", "children", "settings"}
)

// Inventory is a loaded inventory file.
type Inventory struct {
	File   string  // the path as given to Load or Parse; several -i are joined with ","
	Digest string  // "sha256:<hex>" of the file's bytes (of every source's, in order, for several)
	Hosts  []*Host // every host, in order of first appearance in the file

	// Paths are the sources as given (-i, in order); "-" is standard input.
	Paths []string
	// Warnings are what loading noticed but did not refuse (a Match block
	// in ssh_config, a password written in an Ansible inventory).
	Warnings []string

	secrets map[string]string // passwords from the inventory, by password_env name (Options.InventoryPasswords)

	groups  []*group // file order; "all" is not among them
	byGroup map[string]*group
	byHost  map[string]*Host
}

// group is one entry of groups:, with its members resolved.
type group struct {
	name     string
	keyN     *yaml.Node
	hosts    []string // direct members, in file order
	children []nameAt // child groups as written
	settings []setter // from settings:
	members  []*Host  // direct and through children, in inventory order
	isMember map[string]bool
}

// nameAt is a name and the node it was written at.
type nameAt struct {
	name string
	n    *yaml.Node
}

// Load reads the inventory at path, in any format LoadAll reads, with the
// user's OpenSSH configuration.
func Load(path string) (*Inventory, error) {
	return LoadAll([]string{path}, nil, Options{})
}

// Parse parses the fleettune YAML inventory in data; file names it in
// errors, and relative paths in it (identity_files, known_hosts, ca_file)
// are taken from file's directory. Every error is a *yamlx.Error naming the
// file, and the line and column where known.
func Parse(file string, data []byte) (*Inventory, error) {
	pt, err := parseNative(file, data)
	if err != nil {
		return nil, err
	}
	return merge([]*part{pt}, Options{})
}

// parseNative parses a fleettune YAML inventory into a part.
func parseNative(file string, data []byte) (*part, error) {
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	if err := singleDocument(file, data); err != nil {
		return nil, err
	}
	root, err := yamlx.Parse(file, data)
	if err != nil {
		return nil, rangeHint(err, data)
	}
	return parseNativeNode(file, data, root)
}

func parseNativeNode(file string, data []byte, root *yaml.Node) (*part, error) {
	inv := &Inventory{File: file, byGroup: map[string]*group{}, byHost: map[string]*Host{}}
	kvs, err := mapping(file, root, "inventory", topKeys)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, yamlx.Errorf(file, nil, "cannot resolve the inventory's directory: %v", err)
	}
	p := &parser{file: file, dir: dir, home: homeDir(), inv: inv, hostAt: map[string]*yaml.Node{}, hostSettings: map[string][]setter{}}

	for _, kv := range kvs {
		var err error
		switch kv.Key {
		case "defaults":
			p.defaults, err = p.settings(kv.Value, scope{top: "defaults", prefix: "defaults."}, false)
		case "groups":
			err = p.groups(kv.Value)
		case "hosts":
			err = p.hosts(kv.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := p.link(); err != nil {
		return nil, err
	}
	pt := newPart(file, data)
	for _, h := range inv.Hosts {
		n := p.hostAt[h.Name]
		pt.addHost(h.Name, nodePlace(file, n, ""))
		ss := slices.Clone(p.defaults)
		for _, g := range inv.groups {
			if g.isMember[h.Name] {
				ss = append(ss, g.settings...)
			}
		}
		pt.setters[h.Name] = append(ss, p.hostSettings[h.Name]...)
	}
	for _, g := range inv.groups {
		var members []string
		for _, h := range g.members {
			members = append(members, h.Name)
		}
		pt.addGroup(g.name, nodePlace(file, g.keyN, ""), members)
	}
	return pt, nil
}

// flowRange finds an unquoted host range inside a [ ] flow list, which YAML
// cannot parse: in `hosts: [web[01:20].example.com]` the inner '[' opens a
// nested list.
var flowRange = regexp.MustCompile(`[\[,]\s*([^\s"'\[\]{},#]+\[[^\]\s"']*\][^\s,\]{}#]*)`)

// rangeHint adds a hint to a YAML syntax error caused by an unquoted range in
// a flow list, and points it at the range. The parser reports such errors at
// the line of the list's start or the line before, so both are looked at.
func rangeHint(err error, data []byte) error {
	e, ok := yamlx.AsError(err)
	if !ok || e.Line == 0 {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for _, l := range []int{e.Line, e.Line + 1} {
		if l > len(lines) {
			break
		}
		if m := flowRange.FindStringSubmatchIndex(lines[l-1]); m != nil {
			tok := lines[l-1][m[2]:m[3]]
			return &yamlx.Error{File: e.File, Line: l, Column: m[2] + 1, Msg: fmt.Sprintf(
				"%s; a host range inside [ ] must be quoted, as in [\"%s\"], or written as a block list item (- %s)", e.Msg, tok, tok)}
		}
	}
	return err
}

// Host returns the host named name, or nil.
func (inv *Inventory) Host(name string) *Host {
	return inv.byHost[name]
}

// Groups returns the group names: "all" first, then the groups in file order.
func (inv *Inventory) Groups() []string {
	out := []string{All}
	for _, g := range inv.groups {
		out = append(out, g.name)
	}
	return out
}

// members returns the hosts of group name in inventory order, and whether
// the group exists.
func (inv *Inventory) members(name string) ([]*Host, bool) {
	if name == All {
		return inv.Hosts, true
	}
	g, ok := inv.byGroup[name]
	if !ok {
		return nil, false
	}
	return g.members, true
}

// parser holds what Parse collects before hosts are resolved.
type parser struct {
	file, dir, home string
	inv             *Inventory

	defaults     []setter
	hostAt       map[string]*yaml.Node // where each host name first appeared
	hostSettings map[string][]setter   // from hosts:
	hostKeyAt    map[string]*yaml.Node // the hosts: key that declared each host
}

// addHost notes the first appearance of name.
func (p *parser) addHost(name string, n *yaml.Node) {
	if _, ok := p.hostAt[name]; ok {
		return
	}
	p.hostAt[name] = n
	h := &Host{Name: name}
	p.inv.Hosts = append(p.inv.Hosts, h)
	p.inv.byHost[name] = h
}

// groups reads the groups: mapping.
func (p *parser) groups(n *yaml.Node) error {
	entries, err := uniqueEntries(p.file, n, "groups", "group")
	if err != nil {
		return err
	}
	for _, kv := range entries {
		name := kv.Key
		if name == All {
			return yamlx.Errorf(p.file, kv.KeyN, "groups: %q is implicit (every host is in it) and cannot be defined", All)
		}
		if err := checkGroupName(name); err != nil {
			return yamlx.Errorf(p.file, kv.KeyN, "groups: %v", err)
		}
		g := &group{name: name, keyN: kv.KeyN}
		what := "group " + name
		body, err := mapping(p.file, kv.Value, what, groupKeys)
		if err != nil {
			return err
		}
		for _, f := range body {
			switch f.Key {
			case "hosts":
				if err := p.groupHosts(g, f.Value); err != nil {
					return err
				}
			case "children":
				seq, err := listOrOne(p.file, f.Value, what+": children")
				if err != nil {
					return err
				}
				seen := map[string]*yaml.Node{}
				for _, c := range seq {
					s, err := yamlx.String(p.file, c, what+": children")
					if err != nil {
						return err
					}
					if prev, dup := seen[s]; dup {
						return yamlx.Errorf(p.file, c, "%s: children: group %q is listed twice (first at line %d)", what, s, prev.Line)
					}
					seen[s] = c
					g.children = append(g.children, nameAt{s, c})
				}
			case "settings":
				g.settings, err = p.settings(f.Value, scope{top: what + ": settings", prefix: what + ": settings."}, false)
				if err != nil {
					return err
				}
			}
		}
		p.inv.groups = append(p.inv.groups, g)
		p.inv.byGroup[name] = g
	}
	return nil
}

// groupHosts reads a group's hosts: list, expanding ranges.
func (p *parser) groupHosts(g *group, n *yaml.Node) error {
	what := "group " + g.name
	seq, err := listOrOne(p.file, n, what+": hosts")
	if err != nil {
		return err
	}
	from := map[string]nameAt{} // host name -> the entry that listed it
	for _, e := range seq {
		pattern, err := yamlx.String(p.file, e, what+": hosts")
		if err != nil {
			return err
		}
		names, err := ExpandRange(pattern)
		if err != nil {
			return yamlx.Errorf(p.file, e, "%s: %v", what, err)
		}
		for _, name := range names {
			if err := checkHostName(name); err != nil {
				return yamlx.Errorf(p.file, e, "%s: %v", what, err)
			}
			if prev, dup := from[name]; dup {
				return yamlx.Errorf(p.file, e, "%s: duplicate host %q: %s at line %d and %s at line %d",
					what, name, entryDesc(prev.name, name), prev.n.Line, entryDesc(pattern, name), e.Line)
			}
			from[name] = nameAt{pattern, e}
			g.hosts = append(g.hosts, name)
			p.addHost(name, e)
		}
	}
	return nil
}

// entryDesc describes the entry a host name came from: the name itself, or
// the range that produced it.
func entryDesc(entry, name string) string {
	if entry == name {
		return "listed"
	}
	return fmt.Sprintf("from %q", entry)
}

// hosts reads the top-level hosts: mapping.
func (p *parser) hosts(n *yaml.Node) error {
	entries, err := uniqueEntries(p.file, n, "hosts", "host")
	if err != nil {
		return err
	}
	p.hostKeyAt = map[string]*yaml.Node{}
	for _, kv := range entries {
		names, err := ExpandRange(kv.Key)
		if err != nil {
			return yamlx.Errorf(p.file, kv.KeyN, "hosts: %v", err)
		}
		for _, name := range names {
			if err := checkHostName(name); err != nil {
				return yamlx.Errorf(p.file, kv.KeyN, "hosts: %v", err)
			}
			if prev, dup := p.hostKeyAt[name]; dup {
				return yamlx.Errorf(p.file, kv.KeyN, "hosts: duplicate host %q: %s at line %d and %s at line %d",
					name, entryDesc(prev.Value, name), prev.Line, entryDesc(kv.Key, name), kv.KeyN.Line)
			}
			p.hostKeyAt[name] = kv.KeyN
			p.addHost(name, kv.KeyN)
		}
		what := "host " + kv.Key
		set, err := p.settings(kv.Value, scope{top: what, prefix: what + ": "}, true)
		if err != nil {
			return err
		}
		for _, name := range names {
			p.hostSettings[name] = set
		}
	}
	return nil
}

// link checks children and names, then computes each group's members.
func (p *parser) link() error {
	inv := p.inv
	for _, g := range inv.groups {
		if h, clash := p.hostAt[g.name]; clash {
			return yamlx.Errorf(p.file, g.keyN, "group %q has the same name as a host (line %d); --limit could not tell them apart", g.name, h.Line)
		}
		for _, c := range g.children {
			if _, ok := inv.byGroup[c.name]; ok {
				continue
			}
			if c.name == All {
				return yamlx.Errorf(p.file, c.n, "group %s: children: %q is implicit and cannot be a child", g.name, All)
			}
			return yamlx.Errorf(p.file, c.n, "group %s: children: group %q is not defined%s", g.name, c.name, suggest(c.name, inv.Groups()[1:]))
		}
	}
	if h, clash := p.hostAt[All]; clash {
		return yamlx.Errorf(p.file, h, "host name %q is reserved for the group of every host", All)
	}
	// Cycles: depth-first, reporting the child entry that closes the loop.
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(g *group, path []string) error
	visit = func(g *group, path []string) error {
		state[g.name] = active
		path = append(path, g.name)
		for _, c := range g.children {
			switch state[c.name] {
			case active:
				i := slices.Index(path, c.name)
				loop := strings.Join(append(slices.Clone(path[i:]), c.name), " -> ")
				return yamlx.Errorf(p.file, c.n, "group %s: children: cycle %s", g.name, loop)
			case unseen:
				if err := visit(inv.byGroup[c.name], path); err != nil {
					return err
				}
			}
		}
		state[g.name] = done
		return nil
	}
	for _, g := range inv.groups {
		if state[g.name] == unseen {
			if err := visit(g, nil); err != nil {
				return err
			}
		}
	}
	// Members: direct hosts plus, transitively, the children's (no cycles now).
	var collect func(g *group, into map[string]bool)
	collect = func(g *group, into map[string]bool) {
		for _, h := range g.hosts {
			into[h] = true
		}
		for _, c := range g.children {
			collect(inv.byGroup[c.name], into)
		}
	}
	for _, g := range inv.groups {
		g.isMember = map[string]bool{}
		collect(g, g.isMember)
		for _, h := range inv.Hosts {
			if g.isMember[h.Name] {
				g.members = append(g.members, h)
			}
		}
	}
	return nil
}

// uniqueEntries returns the entries of mapping n, reporting a repeated key as
// a duplicate noun ("group", "host") with both lines.
func uniqueEntries(file string, n *yaml.Node, what, noun string) ([]yamlx.KV, error) {
	m := yamlx.Resolve(n)
	if m != nil && m.Kind == yaml.MappingNode {
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			if k.Kind != yaml.ScalarNode {
				continue // yamlx.Mapping reports it
			}
			if prev, dup := seen[k.Value]; dup {
				return nil, yamlx.Errorf(file, k, "%s: duplicate %s %q (first at line %d, again at line %d)", what, noun, k.Value, prev.Line, k.Line)
			}
			seen[k.Value] = k
		}
	}
	kvs, err := yamlx.Mapping(file, n, what, nil)
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		if kv.KeyN.Tag != "!!str" {
			return nil, yamlx.Errorf(file, kv.KeyN, "%s: a %s name must be a string, found %s", what, noun, yamlx.Kind(kv.KeyN))
		}
	}
	return kvs, nil
}

// mapping is yamlx.Mapping with a "did you mean" for unknown keys.
func mapping(file string, n *yaml.Node, what string, allowed []string) ([]yamlx.KV, error) {
	kvs, err := yamlx.Mapping(file, n, what, nil)
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		if !slices.Contains(allowed, kv.Key) {
			return nil, yamlx.Errorf(file, kv.KeyN, "%s: unknown key %q (expected one of: %s)%s",
				what, kv.Key, strings.Join(sorted(allowed), ", "), suggest(kv.Key, allowed))
		}
	}
	return kvs, nil
}

// sequence returns the items of list n; null is an empty list.
func sequence(file string, n *yaml.Node, what string) ([]*yaml.Node, error) {
	n = yamlx.Resolve(n)
	if yamlx.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, yamlx.Errorf(file, n, "%s: expected a list, found %s", what, yamlx.Kind(n))
	}
	return n.Content, nil
}

// listOrOne is sequence, taking a single scalar as a list of one.
func listOrOne(file string, n *yaml.Node, what string) ([]*yaml.Node, error) {
	if r := yamlx.Resolve(n); r != nil && r.Kind == yaml.ScalarNode && !yamlx.IsNull(r) {
		return []*yaml.Node{n}, nil
	}
	return sequence(file, n, what)
}

func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}

// FromHosts builds an inventory of hosts already resolved (for example the
// connection settings a journal recorded), with groups taken from each
// host's Groups, so that --limit selects among them as it does in a file.
func FromHosts(file string, hosts []*Host) *Inventory {
	inv := &Inventory{File: file, byGroup: map[string]*group{}, byHost: map[string]*Host{}}
	for _, h := range hosts {
		if _, dup := inv.byHost[h.Name]; dup {
			continue
		}
		inv.Hosts = append(inv.Hosts, h)
		inv.byHost[h.Name] = h
		for _, g := range h.Groups {
			if g == All {
				continue
			}
			gr, ok := inv.byGroup[g]
			if !ok {
				gr = &group{name: g, isMember: map[string]bool{}}
				inv.byGroup[g] = gr
				inv.groups = append(inv.groups, gr)
			}
			if !gr.isMember[h.Name] {
				gr.isMember[h.Name] = true
				gr.members = append(gr.members, h)
			}
		}
	}
	return inv
}
