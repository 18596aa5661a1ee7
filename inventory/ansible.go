package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleettune/fleettune/internal/yamlx"
)

// Ansible inventories: the YAML and INI forms, directories with group_vars/
// and host_vars/, and the JSON of ansible-inventory --list. They are read
// into one model (groups with hosts, children and variables; hosts with
// variables) and the connection variables (ansible_host, ansible_port, ...)
// become the same settings a fleettune inventory has.

// ansVar is one Ansible variable and where it was set.
type ansVar struct {
	name  string
	value any // string, int64, float64, bool, nil, or a list/map (not a connection value)
	at    place
}

type ansGroup struct {
	name     string
	at       place
	hosts    []string
	hostSet  map[string]bool
	children []string
	vars     []ansVar // in the inventory file
	fileVars []ansVar // from group_vars/
}

// ansible is one Ansible inventory source.
type ansible struct {
	file     string
	groups   map[string]*ansGroup
	order    []string
	hosts    []string
	hostAt   map[string]place
	hostVars map[string][]ansVar // in the inventory file
	hostFile map[string][]ansVar // from host_vars/
	// listed: the JSON of ansible-inventory --list, whose hostvars are
	// already merged (group_vars and host_vars included).
	listed bool
	// dirs are where group_vars/ and host_vars/ are read from, once every
	// source is in (they apply to the groups and hosts of all of them).
	dirs []string
}

func newAnsible(file string) *ansible {
	a := &ansible{file: file, groups: map[string]*ansGroup{}, hostAt: map[string]place{},
		hostVars: map[string][]ansVar{}, hostFile: map[string][]ansVar{}}
	a.group(All, place{file: file})
	return a
}

func (a *ansible) group(name string, at place) *ansGroup {
	if g, ok := a.groups[name]; ok {
		return g
	}
	g := &ansGroup{name: name, at: at}
	a.groups[name] = g
	a.order = append(a.order, name)
	return g
}

func (a *ansible) host(name string, at place) {
	if _, ok := a.hostAt[name]; !ok {
		a.hostAt[name] = at
		a.hosts = append(a.hosts, name)
	}
}

func (g *ansGroup) addHost(name string) {
	if g.hostSet == nil {
		g.hostSet = map[string]bool{}
	}
	if !g.hostSet[name] {
		g.hostSet[name] = true
		g.hosts = append(g.hosts, name)
	}
}

func (g *ansGroup) addChild(name string) {
	if !slices.Contains(g.children, name) {
		g.children = append(g.children, name)
	}
}

func (a *ansible) part(data ...[]byte) *part {
	pt := newPart(a.file, data...)
	pt.ans = a
	return pt
}

// ---- YAML ----

var ansGroupKeys = []string{"hosts", "children", "vars"}

// parseAnsibleYAML reads Ansible's YAML inventory: top-level groups (all:,
// or any names), each with hosts: (a mapping of host to variables),
// children: (a mapping of groups) and vars:.
func parseAnsibleYAML(file string, data []byte, root *yaml.Node, warn func(string)) (*part, error) {
	a := newAnsible(file)
	kvs, err := yamlx.Mapping(file, root, "inventory", nil)
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		if err := a.yamlGroup(kv.Key, kv.KeyN, kv.Value, nil); err != nil {
			return nil, err
		}
	}
	return a.part(data), nil
}

func (a *ansible) yamlGroup(name string, keyN, body *yaml.Node, path []string) error {
	if slices.Contains(path, name) {
		return yamlx.Errorf(a.file, keyN, "group %s: children: cycle %s", name, strings.Join(append(path, name), " -> "))
	}
	if err := checkAnsibleGroup(name); err != nil {
		return yamlx.Errorf(a.file, keyN, "%v", err)
	}
	g := a.group(name, nodePlace(a.file, keyN, ""))
	if len(path) > 0 {
		a.groups[path[len(path)-1]].addChild(name)
	}
	kvs, err := yamlx.Mapping(a.file, body, "group "+name, nil)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if !slices.Contains(ansGroupKeys, kv.Key) {
			return yamlx.Errorf(a.file, kv.KeyN, "group %s: unknown key %q (an Ansible YAML group has: hosts, children, vars)%s",
				name, kv.Key, suggest(kv.Key, ansGroupKeys))
		}
		switch kv.Key {
		case "hosts":
			hs, err := yamlx.Mapping(a.file, kv.Value, "group "+name+": hosts", nil)
			if err != nil {
				return err
			}
			for _, h := range hs {
				names, port, err := ansibleHostPattern(h.Key)
				if err != nil {
					return yamlx.Errorf(a.file, h.KeyN, "group %s: %v", name, err)
				}
				vars, err := a.yamlVars(h.Value, "host "+h.Key)
				if err != nil {
					return err
				}
				if port != "" {
					vars = append([]ansVar{{"ansible_port", port, nodePlace(a.file, h.KeyN, "")}}, vars...)
				}
				for _, n := range names {
					a.host(n, nodePlace(a.file, h.KeyN, ""))
					g.addHost(n)
					a.hostVars[n] = append(a.hostVars[n], vars...)
				}
			}
		case "children":
			cs, err := yamlx.Mapping(a.file, kv.Value, "group "+name+": children", nil)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if err := a.yamlGroup(c.Key, c.KeyN, c.Value, append(slices.Clone(path), name)); err != nil {
					return err
				}
			}
		case "vars":
			vars, err := a.yamlVars(kv.Value, "group "+name)
			if err != nil {
				return err
			}
			g.vars = append(g.vars, vars...)
		}
	}
	return nil
}

// yamlVars reads a mapping of variables.
func (a *ansible) yamlVars(n *yaml.Node, what string) ([]ansVar, error) {
	return yamlVarsOf(a.file, n, what)
}

func yamlVarsOf(file string, n *yaml.Node, what string) ([]ansVar, error) {
	kvs, err := yamlx.Mapping(file, n, what+": vars", nil)
	if err != nil {
		return nil, err
	}
	var out []ansVar
	for _, kv := range kvs {
		out = append(out, ansVar{kv.Key, yamlValue(kv.Value), place{file: file, line: kv.KeyN.Line, column: kv.KeyN.Column}})
	}
	return out, nil
}

// yamlValue is a scalar's typed value; lists and maps are kept as a
// marker, since no connection variable takes one.
func yamlValue(n *yaml.Node) any {
	n = yamlx.Resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return complexValue{yamlx.Kind(n)}
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		_ = n.Decode(&b)
		return b
	case "!!int":
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return v
		}
	case "!!float":
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return v
		}
	}
	return n.Value
}

type complexValue struct{ kind string }

// ---- INI ----

var iniSection = regexp.MustCompile(`^\[([^\]:]+)(?::(\w+))?\]\s*$`)

// looksINI reports whether data starts like an INI inventory: its first
// meaningful line is a [section] or a host name (with variables).
func looksINI(data []byte) bool {
	for _, l := range bytes.Split(data, []byte("\n")) {
		t := strings.TrimSpace(string(l))
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if iniSection.MatchString(t) {
			return true
		}
		words, err := splitINI(t)
		if err != nil || len(words) == 0 {
			return false
		}
		_, _, err = ansibleHostPattern(words[0])
		return err == nil
	}
	return false
}

// parseAnsibleINI reads Ansible's INI inventory: host lines (name, then
// key=value variables), [group], [group:vars] and [group:children].
func parseAnsibleINI(file string, data []byte, warn func(string)) (*part, error) {
	a := newAnsible(file)
	section, kind := "ungrouped", "hosts"
	a.group("ungrouped", place{file: file})
	errAt := func(line int, format string, args ...any) error {
		return &yamlx.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	for i, raw := range strings.Split(string(data), "\n") {
		line := i + 1
		t := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if t[0] == '[' {
			m := iniSection.FindStringSubmatch(t)
			if m == nil {
				return nil, errAt(line, "%q: expected a section header: [group], [group:vars] or [group:children]", t)
			}
			section, kind = strings.TrimSpace(m[1]), m[2]
			switch kind {
			case "":
				kind = "hosts"
			case "vars", "children":
			default:
				return nil, errAt(line, "[%s:%s]: unknown section type %q (expected :vars or :children)", section, kind, kind)
			}
			if err := checkAnsibleGroup(section); err != nil {
				return nil, errAt(line, "%v", err)
			}
			a.group(section, place{file: file, line: line})
			continue
		}
		g := a.groups[section]
		switch kind {
		case "hosts":
			words, err := splitINI(t)
			if err != nil {
				return nil, errAt(line, "%v", err)
			}
			if len(words) == 0 {
				continue
			}
			names, port, err := ansibleHostPattern(words[0])
			if err != nil {
				return nil, errAt(line, "%v", err)
			}
			var vars []ansVar
			if port != "" {
				vars = append(vars, ansVar{"ansible_port", port, place{file: file, line: line}})
			}
			for _, w := range words[1:] {
				k, v, ok := strings.Cut(w, "=")
				if !ok || k == "" {
					return nil, errAt(line, "host %s: %q is not a variable (expected key=value)", words[0], w)
				}
				vars = append(vars, ansVar{k, iniLiteral(v), place{file: file, line: line}})
			}
			for _, n := range names {
				a.host(n, place{file: file, line: line})
				g.addHost(n)
				a.hostVars[n] = append(a.hostVars[n], vars...)
			}
		case "vars":
			k, v, ok := strings.Cut(t, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" || strings.ContainsAny(k, " \t") {
				return nil, errAt(line, "[%s:vars]: %q is not a variable (expected key=value)", section, t)
			}
			g.vars = append(g.vars, ansVar{k, unquoteINI(strings.TrimSpace(v)), place{file: file, line: line}})
		case "children":
			if err := checkAnsibleGroup(t); err != nil {
				return nil, errAt(line, "[%s:children]: %v", section, err)
			}
			a.group(t, place{file: file, line: line})
			g.addChild(t)
		}
	}
	return a.part(data), nil
}

// splitINI splits a host line as Ansible's shlex does: whitespace separates,
// quotes group, and # outside quotes starts a comment.
func splitINI(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		case c == '#' && !in:
			return out, nil
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", quote)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// iniLiteral reads a host-line value as Ansible does (a Python literal when
// it is one: numbers and True/False; otherwise the string).
func iniLiteral(v string) any {
	switch v {
	case "True":
		return true
	case "False":
		return false
	case "None":
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	return v
}

func unquoteINI(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// ansibleHostPattern expands a host entry: a range (web[01:20]) and an
// optional :port, as Ansible's inventory reads them.
func ansibleHostPattern(entry string) ([]string, string, error) {
	host, port, err := splitHostPort(entry)
	if err != nil {
		return nil, "", err
	}
	names, err := ExpandRange(host)
	if err != nil {
		return nil, "", err
	}
	for _, n := range names {
		if err := checkHostName(n); err != nil {
			return nil, "", err
		}
	}
	p := ""
	if port > 0 {
		p = strconv.Itoa(port)
	}
	return names, p, nil
}

// splitHostPort splits "name:port" (a colon outside any [range]); a bare
// IPv6 address has no port.
func splitHostPort(s string) (string, int, error) {
	colons, last, depth := 0, -1, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				colons++
				last = i
			}
		}
	}
	if colons != 1 {
		return s, 0, nil
	}
	host, port := s[:last], s[last+1:]
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("host %q: %q is not a port (expected 1-65535)", s, port)
	}
	return host, n, nil
}

// checkAnsibleGroup keeps group names usable in --limit.
func checkAnsibleGroup(name string) error {
	return checkGroupName(name)
}

// ---- JSON (ansible-inventory --list) ----

type listGroup struct {
	Hosts    []string       `json:"hosts"`
	Children []string       `json:"children"`
	Vars     map[string]any `json:"vars"`
}

// parseAnsibleJSON reads the output of ansible-inventory --list: groups at
// the top, and every host's merged variables under _meta.hostvars.
func parseAnsibleJSON(file string, data []byte, warn func(string)) (*part, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonError(file, data, err)
	}
	a := newAnsible(file)
	a.listed = true
	lineOf := func(key string) int {
		i := bytes.Index(data, []byte(strconv.Quote(key)+":"))
		if i < 0 {
			i = bytes.Index(data, []byte(strconv.Quote(key)))
		}
		if i < 0 {
			return 0
		}
		return bytes.Count(data[:i], []byte("\n")) + 1
	}
	names := make([]string, 0, len(top))
	for k := range top {
		if k != "_meta" {
			names = append(names, k)
		}
	}
	// "all" first, then the rest sorted: the order ansible-inventory prints.
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == All) != (names[j] == All) {
			return names[i] == All
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		var lg listGroup
		if err := json.Unmarshal(top[name], &lg); err != nil {
			return nil, &yamlx.Error{File: file, Line: lineOf(name), Msg: fmt.Sprintf("group %s: expected {\"hosts\": [...], \"children\": [...], \"vars\": {...}}: %v", name, err)}
		}
		if err := checkAnsibleGroup(name); err != nil {
			return nil, &yamlx.Error{File: file, Line: lineOf(name), Msg: err.Error()}
		}
		at := place{file: file, line: lineOf(name)}
		g := a.group(name, at)
		for _, h := range lg.Hosts {
			if err := checkHostName(h); err != nil {
				return nil, &yamlx.Error{File: file, Line: lineOf(name), Msg: fmt.Sprintf("group %s: %v", name, err)}
			}
			a.host(h, at)
			g.addHost(h)
		}
		for _, c := range lg.Children {
			if err := checkAnsibleGroup(c); err != nil {
				return nil, &yamlx.Error{File: file, Line: lineOf(name), Msg: fmt.Sprintf("group %s: children: %v", name, err)}
			}
			a.group(c, at)
			g.addChild(c)
		}
		for _, k := range sortedKeys(lg.Vars) {
			g.vars = append(g.vars, ansVar{k, jsonValue(lg.Vars[k]), at})
		}
	}
	if raw, ok := top["_meta"]; ok {
		var meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, &yamlx.Error{File: file, Line: lineOf("_meta"), Msg: fmt.Sprintf("_meta: expected {\"hostvars\": {HOST: {...}}}: %v", err)}
		}
		for _, h := range sortedKeys(meta.Hostvars) {
			if err := checkHostName(h); err != nil {
				return nil, &yamlx.Error{File: file, Line: lineOf("_meta"), Msg: fmt.Sprintf("_meta.hostvars: %v", err)}
			}
			at := place{file: file, line: lineOf(h)}
			a.host(h, at)
			vars := meta.Hostvars[h]
			for _, k := range sortedKeys(vars) {
				a.hostVars[h] = append(a.hostVars[h], ansVar{k, jsonValue(vars[k]), place{file: file, line: at.line, from: "_meta.hostvars"}})
			}
		}
	}
	return a.part(data), nil
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return x
	case map[string]any:
		return complexValue{"a mapping"}
	case []any:
		return complexValue{"a list"}
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonError names the line and column of a JSON syntax error.
func jsonError(file string, data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 {
		return &yamlx.Error{File: file, Msg: "invalid JSON: " + err.Error()}
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := bytes.Count(data[:off], []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return &yamlx.Error{File: file, Line: line, Column: col, Msg: "invalid JSON (expected the output of ansible-inventory --list): " + err.Error()}
}

// ---- directories, group_vars and host_vars ----

// ignoredExts are skipped in an inventory directory, as Ansible's
// inventory_ignore_extensions does by default.
var ignoredExts = []string{"~", ".orig", ".bak", ".ini", ".cfg", ".retry", ".pyc", ".pyo", ".md", ".txt", ".rst"}

// loadAnsibleDir reads every inventory file in dir (sorted, as Ansible
// does), then group_vars/ and host_vars/ beside them.
func loadAnsibleDir(dir string, warn func(string)) ([]*part, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading inventory directory: %w", err)
	}
	var parts []*part
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || slices.ContainsFunc(ignoredExts, func(x string) bool { return strings.HasSuffix(name, x) }) {
			continue
		}
		path := filepath.Join(dir, name)
		if info, err := e.Info(); err == nil && info.Mode()&0o111 != 0 {
			warn(fmt.Sprintf("%s: an executable inventory script, not run (fleettune does not run inventory scripts; give it the JSON of `ansible-inventory -i %s --list`)", path, path))
			continue
		}
		data, err := readCapped(path, MaxInventoryBytes)
		if err != nil {
			return nil, fmt.Errorf("reading inventory: %w", err)
		}
		pt, err := parseData(path, dir, data, warn)
		if err != nil {
			return nil, err
		}
		if pt.ans == nil && len(pt.hosts) > 0 {
			return nil, fmt.Errorf("%s: a fleettune inventory inside an Ansible inventory directory; pass it with its own -i", path)
		}
		if pt.ans != nil {
			parts = append(parts, pt)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%s: no inventory file in this directory; fleettune reads %s", dir, Formats)
	}
	// group_vars and host_vars apply to the hosts and groups of every file.
	combined := parts[0].ans
	for _, pt := range parts[1:] {
		combined.absorb(pt.ans)
	}
	combined.file = dir
	combined.dirs = []string{dir}
	var data [][]byte
	for _, pt := range parts {
		data = append(data, pt.data...)
	}
	return []*part{combined.part(data...)}, nil
}

// absorb merges b into a: a later file of the same directory, or a later
// -i. Groups, hosts and variables are the union; b's variables come after
// a's, so they win where both set one, as in Ansible.
func (a *ansible) absorb(b *ansible) {
	a.dirs = append(a.dirs, b.dirs...)
	for _, name := range b.order {
		bg := b.groups[name]
		g := a.group(name, bg.at)
		for _, h := range bg.hosts {
			g.addHost(h)
		}
		for _, c := range bg.children {
			g.addChild(c)
		}
		g.vars = append(g.vars, bg.vars...)
	}
	for _, h := range b.hosts {
		a.host(h, b.hostAt[h])
		a.hostVars[h] = append(a.hostVars[h], b.hostVars[h]...)
	}
}

// varsDirs reads group_vars/ and host_vars/ under dir: NAME, NAME.yml,
// NAME.yaml, NAME.json, or a directory NAME/ of such files (sorted).
func (a *ansible) varsDirs(dir string) error {
	for _, name := range a.order {
		vars, err := varsFor(filepath.Join(dir, "group_vars"), name)
		if err != nil {
			return err
		}
		a.groups[name].fileVars = append(a.groups[name].fileVars, vars...)
	}
	for _, h := range a.hosts {
		vars, err := varsFor(filepath.Join(dir, "host_vars"), h)
		if err != nil {
			return err
		}
		a.hostFile[h] = append(a.hostFile[h], vars...)
	}
	return nil
}

func varsFor(dir, name string) ([]ansVar, error) {
	var files []string
	for _, ext := range []string{"", ".yml", ".yaml", ".json"} {
		p := filepath.Join(dir, name+ext)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() && ext == "" {
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", p, err)
			}
			for _, e := range entries {
				n := e.Name()
				if !e.IsDir() && !strings.HasPrefix(n, ".") && (filepath.Ext(n) == "" || slices.Contains([]string{".yml", ".yaml", ".json"}, filepath.Ext(n))) {
					files = append(files, filepath.Join(p, n))
				}
			}
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
		}
	}
	var out []ansVar
	for _, f := range files {
		data, err := readCapped(f, MaxInventoryBytes)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		if err := checkText(f, data); err != nil {
			return nil, err
		}
		if err := singleDocument(f, data); err != nil {
			return nil, err
		}
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte("$ANSIBLE_VAULT")) {
			return nil, fmt.Errorf("%s: an Ansible Vault file; fleettune cannot decrypt it (connection settings belong in a plain file, passwords in environment variables)", f)
		}
		root, err := yamlx.Parse(f, data)
		if err != nil {
			return nil, err
		}
		vars, err := yamlVarsOf(f, root, "variables")
		if err != nil {
			return nil, err
		}
		out = append(out, vars...)
	}
	return out, nil
}

// ---- from variables to settings ----

// finishAnsible turns the inventory's groups and variables into the part's
// groups and per-host setters.
func (pt *part) finishAnsible(warn func(string), secrets map[string]string) error {
	a := pt.ans
	pt.ans = nil
	// Every group is reachable from all; groups nobody lists as a child are
	// children of all. Depth orders variables: all, then parents, then
	// children; ties by name, as Ansible sorts them.
	isChild := map[string]bool{}
	for _, name := range a.order {
		for _, c := range a.groups[name].children {
			isChild[c] = true
		}
	}
	for _, name := range a.order {
		if name != All && !isChild[name] {
			a.groups[All].addChild(name)
		}
	}
	depth := map[string]int{}
	var walk func(name string, d int, path []string) error
	walk = func(name string, d int, path []string) error {
		if slices.Contains(path, name) {
			return fmt.Errorf("%s: group %s: children: cycle %s", a.file, name, strings.Join(append(path, name), " -> "))
		}
		if cur, ok := depth[name]; ok && cur >= d {
			return nil
		}
		depth[name] = d
		for _, c := range a.groups[name].children {
			if err := walk(c, d+1, append(path, name)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(All, 0, nil); err != nil {
		return err
	}
	members := map[string]map[string]bool{}
	var collect func(name string) map[string]bool
	collect = func(name string) map[string]bool {
		if m, ok := members[name]; ok {
			return m
		}
		m := map[string]bool{}
		members[name] = m
		g := a.groups[name]
		for _, h := range g.hosts {
			m[h] = true
		}
		for _, c := range g.children {
			for h := range collect(c) {
				m[h] = true
			}
		}
		return m
	}
	// Hosts in no group but all are in ungrouped, as in Ansible.
	inSome := map[string]bool{}
	for _, name := range a.order {
		if name == All || name == "ungrouped" {
			continue
		}
		for h := range collect(name) {
			inSome[h] = true
		}
	}
	for _, h := range a.hosts {
		pt.addHost(h, a.hostAt[h])
	}
	ungrouped := a.group("ungrouped", place{file: a.file})
	for _, h := range a.hosts {
		if !inSome[h] {
			ungrouped.addHost(h)
		}
	}
	delete(members, "ungrouped")
	if _, ok := depth["ungrouped"]; !ok {
		depth["ungrouped"] = 1
	}
	for _, name := range a.order {
		if name == All {
			continue
		}
		m := collect(name)
		var list []string
		for _, h := range a.hosts {
			if m[h] {
				list = append(list, h)
			}
		}
		if name == "ungrouped" && len(list) == 0 {
			continue
		}
		pt.addGroup(name, a.groups[name].at, list)
	}
	sorted := slices.Clone(a.order)
	sort.SliceStable(sorted, func(i, j int) bool {
		if depth[sorted[i]] != depth[sorted[j]] {
			return depth[sorted[i]] < depth[sorted[j]]
		}
		return sorted[i] < sorted[j]
	})
	for _, h := range a.hosts {
		var vars []ansVar
		for _, name := range sorted {
			if name == All || collect(name)[h] {
				vars = append(vars, labelled(a.groups[name].vars, "group "+name)...)
			}
		}
		for _, name := range sorted {
			if name == All || collect(name)[h] {
				vars = append(vars, labelled(a.groups[name].fileVars, "group "+name)...)
			}
		}
		vars = append(vars, labelled(a.hostVars[h], "host "+h)...)
		vars = append(vars, labelled(a.hostFile[h], "host "+h)...)
		ss, err := ansibleSetters(h, vars, warn, secrets)
		if err != nil {
			return err
		}
		pt.setters[h] = ss
	}
	return nil
}

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }

func labelled(vars []ansVar, owner string) []ansVar {
	out := make([]ansVar, len(vars))
	for i, v := range vars {
		v.at.from = strings.TrimSpace("ansible var " + v.name + ", " + owner)
		if v.at.from == "" {
			v.at.from = "ansible var " + v.name
		}
		out[i] = v
	}
	return out
}

// envLookup is the Ansible idiom for a value from the environment.
var envLookup = regexp.MustCompile(`^\{\{\s*lookup\(\s*['"](?:ansible\.builtin\.)?env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}$`)

// passwordVars hold a password in Ansible.
var passwordVars = []string{"ansible_password", "ansible_ssh_pass", "ansible_ssh_password", "ansible_winrm_password",
	"ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"}

// ignoredSSHOptions are ssh -o options that change nothing fleettune does.
var ignoredSSHOptions = []string{"controlmaster", "controlpersist", "controlpath", "forwardagent", "compression",
	"serveralivecountmax", "preferredauthentications", "loglevel", "passwordauthentication", "kbdinteractiveauthentication",
	"gssapiauthentication", "pubkeyauthentication", "batchmode", "connectionattempts", "requesttty"}

// ansibleSetters maps a host's variables, lowest precedence first, to
// settings. The last value of each variable wins, as in Ansible.
func ansibleSetters(host string, vars []ansVar, warn func(string), secrets map[string]string) ([]setter, error) {
	final := map[string]ansVar{}
	var order []string
	for _, v := range vars {
		if _, ok := final[v.name]; !ok {
			order = append(order, v.name)
		}
		final[v.name] = v
	}
	str := func(v ansVar) (string, error) {
		switch x := v.value.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case bool:
			return strconv.FormatBool(x), nil
		case nil:
			return "", nil
		case complexValue:
			return "", fmt.Errorf("%s: %s: expected a single value, found %s", v.at.source(), v.name, x.kind)
		}
		return fmt.Sprint(v.value), nil
	}
	fail := func(v ansVar, format string, args ...any) error {
		return &yamlx.Error{File: v.at.file, Line: v.at.line, Column: v.at.column,
			Msg: fmt.Sprintf("host %s: %s: %s", host, v.name, fmt.Sprintf(format, args...))}
	}
	var out []setter
	add := func(key string, v ansVar, f func(*Host)) { out = append(out, setter{key, v.at, f}) }

	transport := TransportSSH
	if v, ok := final["ansible_connection"]; ok {
		s, err := str(v)
		if err != nil {
			return nil, err
		}
		switch s {
		case "ssh", "smart", "paramiko", "":
		case "winrm":
			transport = TransportWinRM
		default:
			return nil, fail(v, "connection %q is not one fleettune can use (ssh or winrm)", s)
		}
		add("transport", v, func(h *Host) { h.Transport = transport })
	}
	for _, name := range order {
		v := final[name]
		if v.value == nil {
			continue
		}
		if slices.Contains(passwordVars, name) {
			s, err := str(v)
			if err != nil {
				return nil, err
			}
			var env string
			if m := envLookup.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
				env = m[1]
			} else if strings.Contains(s, "{{") {
				warn(fmt.Sprintf("%s: host %s: %s is a template fleettune does not evaluate; not used "+
					"(fleettune understands \"{{ lookup('env', 'NAME') }}\")", v.at.source(), host, name))
				continue
			} else if secrets == nil {
				warn(fmt.Sprintf("%s: host %s: %s holds a password in clear in the inventory; fleettune does not use it "+
					"(set it to \"{{ lookup('env', 'NAME') }}\" and export NAME)", v.at.source(), host, name))
				continue
			} else {
				env = PasswordEnvPrefix + envSafe(host)
				secrets[env] = s
				warn(fmt.Sprintf("%s: host %s: %s holds a password in clear in the inventory; used, as asked", v.at.source(), host, name))
			}
			switch {
			case strings.Contains(name, "become") || name == "ansible_sudo_pass":
				warn(fmt.Sprintf("%s: host %s: %s is not used: fleettune's sudo runs without a password (sudo -n)", v.at.source(), host, name))
			case name == "ansible_winrm_password" || transport == TransportWinRM:
				add("winrm.password_env", v, func(h *Host) { h.WinRM.PasswordEnv = env })
			default:
				add("ssh.password_env", v, func(h *Host) { h.SSH.PasswordEnv = env })
			}
			continue
		}
		s, err := str(v)
		if err != nil {
			if strings.HasPrefix(name, "ansible_") || strings.HasPrefix(name, "fleettune_") {
				return nil, err
			}
			continue
		}
		switch name {
		case "ansible_host", "ansible_ssh_host":
			if err := checkName("address", s); err != nil {
				return nil, fail(v, "%v", err)
			}
			add("address", v, func(h *Host) { h.Address = s })
		case "ansible_port", "ansible_ssh_port":
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 65535 {
				return nil, fail(v, "%q is not a port (expected 1-65535)", s)
			}
			key := "ssh.port"
			if transport == TransportWinRM {
				key = "winrm.port"
			}
			add(key, v, func(h *Host) {
				if h.Transport == TransportWinRM {
					h.WinRM.Port = n
				} else {
					h.SSH.Port = n
				}
			})
		case "ansible_user", "ansible_ssh_user":
			if err := checkUser(s); err != nil {
				return nil, fail(v, "%v", err)
			}
			add("user", v, func(h *Host) { h.User = s })
		case "ansible_ssh_private_key_file", "ansible_private_key_file":
			f, err := ansiblePath(s)
			if err != nil {
				return nil, fail(v, "%v", err)
			}
			add("ssh.identity_files", v, func(h *Host) { h.SSH.IdentityFiles = []string{f} })
		case "ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args":
			ss, err := sshArgs(host, v, s, warn)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
		case "ansible_become", "ansible_sudo":
			b, err := ansibleBool(s)
			if err != nil {
				return nil, fail(v, "%v", err)
			}
			if b {
				if m, ok := final["ansible_become_method"]; ok {
					if ms, _ := str(m); ms != "" && ms != "sudo" {
						return nil, fail(m, "become method %q: fleettune becomes root with sudo only", ms)
					}
				}
				if u, ok := final["ansible_become_user"]; ok {
					if us, _ := str(u); us != "" && us != "root" {
						return nil, fail(u, "become user %q: fleettune becomes root only", us)
					}
				}
			}
			become := "none"
			if b {
				become = "sudo"
			}
			add("ssh.become", v, func(h *Host) { h.SSH.Become = become })
		case "ansible_host_key_checking", "ansible_ssh_host_key_checking":
			b, err := ansibleBool(s)
			if err != nil {
				return nil, fail(v, "%v", err)
			}
			if !b {
				add("ssh.host_key_checking", v, func(h *Host) { h.SSH.HostKeyChecking = "off" })
			}
		case "ansible_timeout", "ansible_ssh_timeout":
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, fail(v, "%q is not a number of seconds", s)
			}
			add("timeout", v, func(h *Host) { h.Timeout = secondsDuration(n) })
		case "ansible_winrm_transport":
			auth := ""
			for _, t := range strings.Split(s, ",") {
				t = strings.TrimSpace(t)
				if t == "ntlm" || t == "basic" {
					auth = t
					break
				}
			}
			if auth == "" {
				return nil, fail(v, "%q: fleettune's WinRM speaks ntlm or basic", s)
			}
			add("winrm.auth", v, func(h *Host) { h.WinRM.Auth = auth })
		case "ansible_winrm_scheme":
			if s != "http" && s != "https" {
				return nil, fail(v, "%q is not http or https", s)
			}
			https := s == "https"
			add("winrm.https", v, func(h *Host) { h.WinRM.HTTPS = https })
		case "ansible_winrm_server_cert_validation":
			if s != "ignore" && s != "validate" {
				return nil, fail(v, "%q is not ignore or validate", s)
			}
			skip := s == "ignore"
			add("winrm.insecure_skip_verify", v, func(h *Host) { h.WinRM.InsecureSkipVerify = skip })
		case "ansible_winrm_ca_trust_path":
			f, err := ansiblePath(s)
			if err != nil {
				return nil, fail(v, "%v", err)
			}
			add("winrm.ca_file", v, func(h *Host) { h.WinRM.CAFile = f })
		case "fleettune_os":
			if !slices.Contains(osNames, s) {
				return nil, fail(v, "%q is not one of: %s", s, strings.Join(osNames, ", "))
			}
			add("os", v, func(h *Host) { h.OS = s })
		}
	}
	return out, nil
}

// envSafe makes a host name part of an environment variable name.
func envSafe(host string) string {
	b := []byte(strings.ToUpper(host))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ansibleBool is Ansible's boolean(): yes/no, true/false, on/off, 1/0.
func ansibleBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "true", "t", "on", "1":
		return true, nil
	case "no", "n", "false", "f", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (yes/no, true/false)", s)
}

// ansiblePath expands ~ and makes a path absolute (from the working
// directory, as Ansible takes it).
func ansiblePath(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("expected a file path, found an empty string")
	}
	if s == "~" || strings.HasPrefix(s, "~/") {
		home := homeDir()
		if home == "" {
			return "", fmt.Errorf("cannot expand %q: the home directory is unknown", s)
		}
		return filepath.Join(home, s[1:]), nil
	}
	return filepath.Abs(s)
}

// sshArgs reads the ssh options Ansible passes on the command line
// (-o Key=Value, -J, -p, -l, -i, -F), the way ssh itself would take them.
func sshArgs(host string, v ansVar, s string, warn func(string)) ([]setter, error) {
	words, err := splitINI(s)
	if err != nil {
		return nil, fmt.Errorf("%s: host %s: %s: %v", v.at.source(), host, v.name, err)
	}
	var out []setter
	opt := func(key, val string) error {
		ss, err := sshOption(host, v, key, val, warn)
		out = append(out, ss...)
		return err
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		next := func() (string, error) {
			if len(w) > 2 {
				return w[2:], nil
			}
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s: host %s: %s: %s needs a value", v.at.source(), host, v.name, w)
			}
			i++
			return words[i], nil
		}
		if len(w) < 2 || w[0] != '-' {
			warn(fmt.Sprintf("%s: host %s: %s: %q is not an ssh option; ignored", v.at.source(), host, v.name, w))
			continue
		}
		var key, val string
		switch w[1] {
		case 'o':
			arg, err := next()
			if err != nil {
				return nil, err
			}
			k, val2, ok := strings.Cut(arg, "=")
			if !ok {
				k, val2, _ = strings.Cut(strings.TrimSpace(arg), " ")
			}
			key, val = strings.TrimSpace(k), strings.TrimSpace(val2)
		case 'J':
			key = "proxyjump"
		case 'p':
			key = "port"
		case 'l':
			key = "user"
		case 'i':
			key = "identityfile"
		default:
			warn(fmt.Sprintf("%s: host %s: %s: ssh option %s is not used by fleettune; ignored", v.at.source(), host, v.name, w))
			continue
		}
		if w[1] != 'o' {
			if val, err = next(); err != nil {
				return nil, err
			}
		}
		if err := opt(key, val); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sshOption is one ssh -o Key=Value from an Ansible variable.
func sshOption(host string, v ansVar, key, val string, warn func(string)) ([]setter, error) {
	at := v.at
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: host %s: %s: -o %s=%s: %s", at.source(), host, v.name, key, val, fmt.Sprintf(format, args...))
	}
	sv := sshValue{value: val, file: at.file, line: at.line}
	one := func(k string, f func(*Host)) ([]setter, error) { return []setter{{k, at, f}}, nil }
	switch strings.ToLower(key) {
	case "proxyjump":
		if strings.EqualFold(val, "none") {
			return []setter{{"ssh.proxy_jump", at, func(h *Host) { h.SSH.ProxyJump = "" }}, {"ssh.proxy_command", at, func(h *Host) { h.SSH.ProxyCommand = "" }}}, nil
		}
		if err := checkProxyJump(val); err != nil {
			return nil, bad("%v", err)
		}
		return []setter{{"ssh.proxy_jump", at, func(h *Host) { h.SSH.ProxyJump = val }}, {"ssh.proxy_command", at, func(h *Host) { h.SSH.ProxyCommand = "" }}}, nil
	case "proxycommand":
		cmd := val
		if strings.EqualFold(cmd, "none") {
			cmd = ""
		}
		if err := checkProxyCommand(strings.ReplaceAll(cmd, "%n", "")); err != nil {
			return nil, bad("%v", err)
		}
		return []setter{{"ssh.proxy_command", at, func(h *Host) { h.SSH.ProxyCommand = expandAlias(cmd, h.Name) }},
			{"ssh.proxy_jump", at, func(h *Host) { h.SSH.ProxyJump = "" }}}, nil
	case "port":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("not a port (expected 1-65535)")
		}
		return one("ssh.port", func(h *Host) { h.SSH.Port = n })
	case "user":
		if err := checkUser(val); err != nil {
			return nil, bad("%v", err)
		}
		return one("user", func(h *Host) { h.User = val })
	case "hostname":
		if err := checkName("HostName", val); err != nil {
			return nil, bad("%v", err)
		}
		return one("address", func(h *Host) { h.Address = val })
	case "identityfile":
		f, err := ansiblePath(val)
		if err != nil {
			return nil, bad("%v", err)
		}
		return one("ssh.identity_files", func(h *Host) { h.SSH.IdentityFiles = []string{f} })
	case "identitiesonly":
		b, err := sshBool(sv)
		if err != nil {
			return nil, bad("expected yes or no")
		}
		return one("ssh.identities_only", func(h *Host) { h.SSH.IdentitiesOnly = b })
	case "userknownhostsfile":
		f := strings.Fields(val)
		if len(f) == 0 {
			return nil, bad("no file given")
		}
		path := os.DevNull
		if !strings.EqualFold(f[0], "none") {
			p, err := ansiblePath(f[0])
			if err != nil {
				return nil, bad("%v", err)
			}
			path = p
		}
		return one("ssh.known_hosts", func(h *Host) { h.SSH.KnownHosts = path })
	case "stricthostkeychecking":
		var mode string
		switch strings.ToLower(val) {
		case "yes", "true", "ask":
			mode = "strict"
		case "accept-new":
			mode = "accept-new"
		case "no", "off", "false":
			mode = "off"
		default:
			return nil, bad("expected yes, ask, accept-new or no")
		}
		return one("ssh.host_key_checking", func(h *Host) { h.SSH.HostKeyChecking = mode })
	case "connecttimeout":
		d, err := sshSeconds(sv)
		if err != nil {
			return nil, bad("not a time")
		}
		return one("ssh.connect_timeout", func(h *Host) { h.SSH.ConnectTimeout = d })
	case "serveraliveinterval":
		d, err := sshSeconds(sv)
		if err != nil {
			return nil, bad("not a time")
		}
		return one("ssh.server_alive_interval", func(h *Host) { h.SSH.ServerAliveInterval = d })
	}
	if !slices.Contains(ignoredSSHOptions, strings.ToLower(key)) {
		warn(fmt.Sprintf("%s: host %s: %s: ssh option %s is not used by fleettune; ignored", at.source(), host, v.name, key))
	}
	return nil, nil
}
