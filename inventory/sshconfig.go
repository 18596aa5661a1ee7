package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// OpenSSH client configuration.
//
// Files are lexed by github.com/kevinburke/ssh_config, one file at a time,
// and evaluated here, because the library's own Get cannot do what `ssh
// NAME` does: it gives no file and line for a value found through Include,
// its "?" matches zero characters as well as one, it resolves relative
// Includes against the real home directory whatever file included them,
// and it refuses a whole file that has a Match block other than "Match
// host" or "Match all" (and guesses those as Host lines). Before lexing,
// Include lines are renamed so that they reach us as plain keywords with a
// position, and Match lines become a Host line that matches nothing, noted
// with its line so that it can be reported.

// SSHConfigNone, as ssh: {config: none}, turns the OpenSSH configuration off.
const SSHConfigNone = "none"

// Limits on what the OpenSSH configuration may hold.
const (
	maxSSHConfigBytes = 1 << 20 // per file
	maxSSHConfigDepth = 16      // Include nesting, as OpenSSH's READCONF_MAX_DEPTH
	maxSSHConfigFiles = 256     // files read per configuration
)

// DefaultSSHConfigFiles are the files `ssh NAME` reads, in order, for a
// user whose home directory is home: ~/.ssh/config, then
// /etc/ssh/ssh_config.
func DefaultSSHConfigFiles(home string) []string {
	var out []string
	if home != "" {
		out = append(out, filepath.Join(home, ".ssh", "config"))
	}
	return append(out, "/etc/ssh/ssh_config")
}

const (
	itemHost = iota
	itemMatch
	itemInclude
	itemKV
)

// sshItem is one meaningful line of an ssh_config file.
type sshItem struct {
	kind     int
	patterns []string // itemHost
	key      string   // lower case (itemKV)
	value    string   // as the library unquoted it
	line     int
	next     int // itemHost, itemMatch: index of the next block's line, so an inactive block is skipped at once
}

// sshFile is one parsed file.
type sshFile struct {
	path   string
	system bool // relative Includes are taken from /etc/ssh, not ~/.ssh
	items  []sshItem
	// An index of the Host blocks, so that a host is not matched against
	// every block of a big file: first is the first block's item; wild the
	// blocks with a wildcard or a negation; literal, by name, the blocks
	// that name a host literally. Match blocks apply to nothing and are in
	// neither.
	first   int
	wild    []int
	literal map[string][]int
}

// sshValue is one value the configuration gives a host, and where it is.
type sshValue struct {
	value string
	file  string
	line  int
	seq   int // order found, across files
}

func (v sshValue) source() string { return fmt.Sprintf("ssh_config %s:%d", v.file, v.line) }

// sshConfigs reads each ssh_config file once per load and evaluates it per
// host; warn receives what is reported rather than guessed (Match blocks).
type sshConfigs struct {
	home   string
	files  map[string]*sshFile // by path; nil for a file that does not exist
	warned map[string]bool
	warn   func(string)
	reads  int
	// globs are the expansions of Include patterns, by pattern: one
	// directory listing per pattern for the whole inventory, not one per
	// host (a 10,000-host inventory listed /etc/ssh/ssh_config.d 10,000
	// times), and every host sees the same files.
	globs map[string][]string
}

func newSSHConfigs(home string, warn func(string)) *sshConfigs {
	return &sshConfigs{home: home, files: map[string]*sshFile{}, warned: map[string]bool{}, warn: warn, globs: map[string][]string{}}
}

// file returns the parsed file at path, or nil when it does not exist.
func (c *sshConfigs) file(path string, system bool) (*sshFile, error) {
	if f, ok := c.files[path]; ok {
		return f, nil
	}
	c.reads++
	if c.reads > maxSSHConfigFiles {
		return nil, fmt.Errorf("ssh_config: more than %d files included (an Include loop?) at %s", maxSSHConfigFiles, path)
	}
	data, err := readCapped(path, maxSSHConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		c.files[path] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ssh_config: %w", err)
	}
	f, err := parseSSHConfig(path, data, system)
	if err != nil {
		return nil, err
	}
	for _, it := range f.items {
		if it.kind == itemMatch {
			key := fmt.Sprintf("%s:%d", path, it.line)
			if !c.warned[key] && c.warn != nil {
				c.warn(fmt.Sprintf("%s: a Match block is not evaluated by fleettune; the settings under it are not applied to any host "+
					"(use a Host block, or set them in the inventory)", key))
			}
			c.warned[key] = true
		}
	}
	c.files[path] = f
	return f, nil
}

// readCapped reads at most limit bytes of path; a longer file is an error.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes; not read", path, limit)
	}
	return data, nil
}

// matchMarker is the Host pattern a Match line becomes before lexing; the
// line number follows it.
const matchMarker = "fleettune-match-line-"

// includeKey is the keyword an Include line becomes before lexing.
const includeKey = "FleettuneInclude"

// parseSSHConfig lexes one file. Errors name the file and line.
func parseSSHConfig(path string, data []byte, system bool) (*sshFile, error) {
	if err := checkText(path, data); err != nil {
		return nil, err
	}
	lines := bytes.Split(data, []byte("\n"))
	for i, l := range lines {
		trimmed := bytes.TrimLeft(l, " \t")
		kw := trimmed
		if j := bytes.IndexAny(trimmed, " \t="); j >= 0 {
			kw = trimmed[:j]
		}
		switch strings.ToLower(string(kw)) {
		case "match":
			lines[i] = []byte("Host " + matchMarker + strconv.Itoa(i+1))
		case "include":
			lines[i] = append([]byte(includeKey), trimmed[len(kw):]...)
		}
	}
	cfg, err := ssh_config.DecodeBytes(bytes.Join(lines, []byte("\n")))
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "ssh_config: "))
	}
	f := &sshFile{path: path, system: system}
	for hi, h := range cfg.Hosts {
		if hi > 0 { // the first is the file's implicit "Host *"
			var pats []string
			for _, p := range h.Patterns {
				pats = append(pats, strings.Fields(p.String())...)
			}
			if len(pats) == 1 && strings.HasPrefix(pats[0], matchMarker) {
				line, _ := strconv.Atoi(strings.TrimPrefix(pats[0], matchMarker))
				f.items = append(f.items, sshItem{kind: itemMatch, line: line})
			} else {
				line := 0
				if len(h.Nodes) > 0 {
					line = h.Nodes[0].Pos().Line
				}
				f.items = append(f.items, sshItem{kind: itemHost, patterns: pats, line: line})
			}
		}
		for _, n := range h.Nodes {
			kv, ok := n.(*ssh_config.KV)
			if !ok {
				continue
			}
			it := sshItem{kind: itemKV, key: strings.ToLower(kv.Key), value: kv.Value, line: kv.Pos().Line}
			if kv.Key == includeKey {
				it.kind = itemInclude
			}
			f.items = append(f.items, it)
		}
	}
	next := len(f.items)
	for i := len(f.items) - 1; i >= 0; i-- {
		if k := f.items[i].kind; k == itemHost || k == itemMatch {
			f.items[i].next = next
			next = i
		}
	}
	f.first = next
	f.literal = map[string][]int{}
	for i, it := range f.items {
		if it.kind != itemHost {
			continue
		}
		if slices.ContainsFunc(it.patterns, func(p string) bool { return strings.ContainsAny(p, "*?!") }) {
			f.wild = append(f.wild, i)
			continue
		}
		for _, p := range it.patterns {
			if l := f.literal[p]; len(l) == 0 || l[len(l)-1] != i {
				f.literal[p] = append(l, i)
			}
		}
	}
	return f, nil
}

// sshResolved is what the configuration gives one host alias: for each
// keyword (lower case), its values in the order OpenSSH would take them.
type sshResolved struct {
	files  []string
	values map[string][]sshValue
	seq    int
}

// first returns the value OpenSSH uses for key: the first one found.
func (r *sshResolved) first(key string) (sshValue, bool) {
	vs := r.values[key]
	if len(vs) == 0 {
		return sshValue{}, false
	}
	return vs[0], true
}

// resolve evaluates files (top-level, in order) for alias as `ssh alias`
// does: a keyword takes the first value found in the first block that
// matches, except IdentityFile, which accumulates.
func (c *sshConfigs) resolve(files []string, alias string) (*sshResolved, error) {
	r := &sshResolved{values: map[string][]sshValue{}}
	for i, path := range files {
		f, err := c.file(path, i > 0 || strings.HasPrefix(filepath.Clean(path), "/etc/ssh/"))
		if err != nil {
			return nil, err
		}
		if f == nil {
			continue
		}
		r.files = append(r.files, path)
		if err := c.walk(f, alias, 0, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// walk evaluates one file; an included file starts active (it is only
// reached from an active block) and the includer's state resumes after it.
func (c *sshConfigs) walk(f *sshFile, alias string, depth int, r *sshResolved) error {
	if err := c.walkRange(f, 0, f.first, alias, depth, r); err != nil { // the implicit "Host *"
		return err
	}
	// Only the blocks that can match: those with a wildcard or negation,
	// and those that name alias literally, in file order.
	lit := f.literal[alias] // disjoint from f.wild, each sorted
	wi, li := 0, 0
	for wi < len(f.wild) || li < len(lit) {
		var b int
		if li == len(lit) || (wi < len(f.wild) && f.wild[wi] < lit[li]) {
			b, wi = f.wild[wi], wi+1
		} else {
			b, li = lit[li], li+1
		}
		it := f.items[b]
		if !hostMatches(it.patterns, alias) {
			continue
		}
		if err := c.walkRange(f, b+1, it.next, alias, depth, r); err != nil {
			return err
		}
	}
	return nil
}

// walkRange takes the keywords and Includes of items [from, to), one
// active block.
func (c *sshConfigs) walkRange(f *sshFile, from, to int, alias string, depth int, r *sshResolved) error {
	for _, it := range f.items[from:to] {
		switch it.kind {
		case itemInclude:
			if depth+1 > maxSSHConfigDepth {
				return fmt.Errorf("%s:%d: Include nested more than %d deep (an Include loop?)", f.path, it.line, maxSSHConfigDepth)
			}
			for _, arg := range strings.Fields(it.value) {
				paths, err := c.includePaths(f, arg)
				if err != nil {
					return fmt.Errorf("%s:%d: Include %s: %v", f.path, it.line, arg, err)
				}
				for _, p := range paths {
					sub, err := c.file(p, f.system)
					if err != nil {
						return err
					}
					if sub == nil {
						continue
					}
					if !slices.Contains(r.files, p) {
						r.files = append(r.files, p)
					}
					if err := c.walk(sub, alias, depth+1, r); err != nil {
						return err
					}
				}
			}
		case itemKV:
			r.seq++
			r.values[it.key] = append(r.values[it.key], sshValue{it.value, f.path, it.line, r.seq})
		}
	}
	return nil
}

// includePaths expands one Include argument: ~ is the home directory, a
// relative path is taken from ~/.ssh (or /etc/ssh in the system file), and
// globs expand in sorted order, as glob(3) gives them.
func (c *sshConfigs) includePaths(f *sshFile, arg string) ([]string, error) {
	p := arg
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		if c.home == "" {
			return nil, errors.New("the home directory is unknown")
		}
		p = filepath.Join(c.home, p[1:])
	case filepath.IsAbs(p):
	case f.system:
		p = filepath.Join("/etc/ssh", p)
	default:
		if c.home == "" {
			return nil, errors.New("the home directory is unknown")
		}
		p = filepath.Join(c.home, ".ssh", p)
	}
	if m, ok := c.globs[p]; ok {
		return m, nil
	}
	matches, err := filepath.Glob(p)
	if err != nil {
		return nil, err
	}
	slices.Sort(matches)
	c.globs[p] = matches
	return matches, nil
}

// hostMatches is a Host line: any negated pattern that matches rules the
// block out; otherwise any pattern that matches selects it. Matching is
// case-sensitive, against the name as given (as ssh -G shows OpenSSH 9
// doing); only the host name to connect to is lower-cased.
func hostMatches(patterns []string, alias string) bool {
	found := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if globMatch(p, alias) {
			if neg {
				return false
			}
			found = true
		}
	}
	return found
}

// globMatch is OpenSSH's match_pattern: '*' any run, '?' exactly one
// character. It runs in O(len(p)*len(s)) at worst, with no backtracking
// blow-up.
func globMatch(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			px = starP + 1
			starS++
			sx = starS
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// sshTokens are the values % tokens expand to for one host.
type sshTokens struct {
	host, alias, user, localUser, home string
	port                               int
}

// expand replaces the % tokens allowed (a string of token letters) in s;
// %% is always allowed. ~ at the start is the home directory when tilde is
// set.
func (t sshTokens) expand(s, allowed string, tilde bool) (string, error) {
	if tilde && (s == "~" || strings.HasPrefix(s, "~/")) {
		if t.home == "" {
			return "", errors.New("cannot expand ~: the home directory is unknown")
		}
		s = t.home + s[1:]
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("a lone % at the end (write %% for a percent sign)")
		}
		i++
		c := s[i]
		if c != '%' && !strings.ContainsRune(allowed, rune(c)) {
			return "", fmt.Errorf("token %%%c is not supported here (fleettune expands %s)", c, tokenList(allowed))
		}
		switch c {
		case '%':
			b.WriteByte('%')
		case 'h':
			b.WriteString(t.host)
		case 'n':
			b.WriteString(t.alias)
		case 'p':
			b.WriteString(strconv.Itoa(t.port))
		case 'r':
			b.WriteString(t.user)
		case 'u':
			b.WriteString(t.localUser)
		case 'd':
			b.WriteString(t.home)
		}
	}
	return b.String(), nil
}

func tokenList(allowed string) string {
	var out []string
	for _, c := range allowed {
		out = append(out, "%"+string(c))
	}
	return strings.Join(append(out, "%%"), " ")
}

// sshBool reads yes/no as OpenSSH does (also true/false).
func sshBool(v sshValue) (bool, error) {
	switch strings.ToLower(v.value) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("%s:%d: expected yes or no, found %q", v.file, v.line, v.value)
}

// sshSeconds reads a time as OpenSSH's convtime does: a number of seconds,
// or a sequence of NUMBER[smhdw] ("1m30s"). "none" is 0.
func sshSeconds(v sshValue) (time.Duration, error) {
	s := strings.ToLower(v.value)
	if s == "none" {
		return 0, nil
	}
	bad := fmt.Errorf("%s:%d: %q is not a time (expected seconds, or e.g. 1m30s)", v.file, v.line, v.value)
	if s == "" {
		return 0, bad
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, bad
		}
		n, _ := strconv.Atoi(s[:i])
		unit := time.Second
		s = s[i:]
		if s != "" {
			switch s[0] {
			case 's':
			case 'm':
				unit = time.Minute
			case 'h':
				unit = time.Hour
			case 'd':
				unit = 24 * time.Hour
			case 'w':
				unit = 7 * 24 * time.Hour
			default:
				return 0, bad
			}
			s = s[1:]
		}
		total += time.Duration(n) * unit
		if total > 365*24*time.Hour {
			return 0, bad
		}
	}
	return total, nil
}

// apply fills in, from the OpenSSH configuration, every SSH setting the
// inventory left unset for the host r resolves: what the inventory says
// wins. Tokens expand with the host's final name, port and users.
func (c *sshConfigs) apply(r *resolution) error {
	h := r.host
	if h.Transport != TransportSSH || len(h.SSH.ConfigFiles) == 0 {
		return nil
	}
	res, err := c.resolve(h.SSH.ConfigFiles, h.Name)
	if err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	alias := h.Name
	mark := func(key string, v sshValue) {
		r.seq++
		r.at[key] = setAt{place{file: v.file, line: v.line, from: "ssh_config"}, r.seq}
	}
	bad := func(v sshValue, key, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s (for host %s): %s", v.file, v.line, key, h.Name, fmt.Sprintf(format, args...))
	}
	tok := sshTokens{host: strings.ToLower(h.Addr()), alias: alias, user: h.User, localUser: currentUser(), home: c.home, port: h.SSH.Port}

	if v, ok := res.first("hostname"); ok && !r.set("address") {
		name, err := tok.expand(v.value, "h", false)
		if err != nil {
			return bad(v, "HostName", "%v", err)
		}
		name = strings.ToLower(name)
		if err := checkName("HostName", name); err != nil {
			return bad(v, "HostName", "%v", err)
		}
		h.Address = name
		mark("address", v)
	}
	if v, ok := res.first("port"); ok && !r.set("ssh.port") {
		n, err := strconv.Atoi(v.value)
		if err != nil || n < 1 || n > 65535 {
			return bad(v, "Port", "%q is not a port (expected 1-65535)", v.value)
		}
		h.SSH.Port = n
		mark("ssh.port", v)
	}
	if v, ok := res.first("user"); ok && !r.set("user") {
		if err := checkUser(v.value); err != nil {
			return bad(v, "User", "%v", err)
		}
		h.User = v.value
		mark("user", v)
	}
	tok.host, tok.user, tok.port = strings.ToLower(h.Addr()), h.User, h.SSH.Port
	if vs := res.values["identityfile"]; len(vs) > 0 && !r.set("ssh.identity_files") {
		var files []string
		for _, v := range vs {
			f, err := tok.expand(v.value, "dhnpru", true)
			if err != nil {
				return bad(v, "IdentityFile", "%v", err)
			}
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		h.SSH.IdentityFiles = files
		mark("ssh.identity_files", vs[0])
	}
	if v, ok := res.first("identitiesonly"); ok && !r.set("ssh.identities_only") {
		b, err := sshBool(v)
		if err != nil {
			return err
		}
		h.SSH.IdentitiesOnly = b
		mark("ssh.identities_only", v)
	}
	if v, ok := res.first("userknownhostsfile"); ok && !r.set("ssh.known_hosts") {
		fields := strings.Fields(v.value)
		if len(fields) == 0 {
			return bad(v, "UserKnownHostsFile", "no file given")
		}
		f := fields[0]
		if strings.EqualFold(f, "none") {
			f = os.DevNull
		} else if f, err = tok.expand(f, "dhnpru", true); err != nil {
			return bad(v, "UserKnownHostsFile", "%v", err)
		}
		h.SSH.KnownHosts = f
		mark("ssh.known_hosts", v)
	}
	if v, ok := res.first("stricthostkeychecking"); ok && !r.set("ssh.host_key_checking") {
		switch strings.ToLower(v.value) {
		case "yes", "true", "ask": // fleettune cannot ask: ask is strict
			h.SSH.HostKeyChecking = "strict"
		case "accept-new":
			h.SSH.HostKeyChecking = "accept-new"
		case "no", "off", "false":
			h.SSH.HostKeyChecking = "off"
		default:
			return bad(v, "StrictHostKeyChecking", "%q is not one of yes, ask, accept-new, no", v.value)
		}
		mark("ssh.host_key_checking", v)
	}
	if !r.set("ssh.proxy_jump") && !r.set("ssh.proxy_command") {
		j, jok := res.first("proxyjump")
		pc, cok := res.first("proxycommand")
		switch {
		case jok && (!cok || j.seq < pc.seq):
			if !strings.EqualFold(j.value, "none") {
				spec, err := c.jumpSpec(h.SSH.ConfigFiles, j)
				if err != nil {
					return err
				}
				h.SSH.ProxyJump = spec
			}
			mark("ssh.proxy_jump", j)
			mark("ssh.proxy_command", j)
		case cok:
			if !strings.EqualFold(pc.value, "none") {
				cmd := expandAlias(pc.value, alias)
				if err := checkProxyCommand(cmd); err != nil {
					return bad(pc, "ProxyCommand", "%v", err)
				}
				h.SSH.ProxyCommand = cmd
			}
			mark("ssh.proxy_command", pc)
			mark("ssh.proxy_jump", pc)
		}
	}
	if v, ok := res.first("connecttimeout"); ok && !r.set("ssh.connect_timeout") {
		d, err := sshSeconds(v)
		if err != nil {
			return err
		}
		h.SSH.ConnectTimeout = d
		mark("ssh.connect_timeout", v)
	}
	if v, ok := res.first("serveraliveinterval"); ok && !r.set("ssh.server_alive_interval") {
		d, err := sshSeconds(v)
		if err != nil {
			return err
		}
		h.SSH.ServerAliveInterval = d
		mark("ssh.server_alive_interval", v)
	}
	return nil
}

// jumpSpec resolves each hop of a ProxyJump through the same configuration,
// as `ssh -J` does when it connects to the jump host: its HostName, Port
// and User apply unless the hop gives them. The result has every part
// explicit: user@host:port.
func (c *sshConfigs) jumpSpec(files []string, v sshValue) (string, error) {
	if err := checkProxyJump(v.value); err != nil {
		return "", fmt.Errorf("%s:%d: ProxyJump: %v", v.file, v.line, err)
	}
	var hops []string
	for _, part := range strings.Split(v.value, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "ssh://")
		user, rest := "", part
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			user, rest = rest[:i], rest[i+1:]
		}
		host, port := rest, ""
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			host, port = rest[1:end], strings.TrimPrefix(rest[end+1:], ":")
		} else if strings.Count(rest, ":") == 1 {
			host, port, _ = strings.Cut(rest, ":")
		}
		res, err := c.resolve(files, host)
		if err != nil {
			return "", err
		}
		addr := strings.ToLower(host)
		if hv, ok := res.first("hostname"); ok {
			tok := sshTokens{host: addr}
			if addr, err = tok.expand(hv.value, "h", false); err != nil {
				return "", fmt.Errorf("%s:%d: HostName: %v", hv.file, hv.line, err)
			}
		}
		if port == "" {
			port = "22"
			if pv, ok := res.first("port"); ok {
				port = pv.value
			}
		}
		if user == "" {
			user = currentUser()
			if uv, ok := res.first("user"); ok {
				user = uv.value
			}
		}
		if strings.Contains(addr, ":") {
			addr = "[" + addr + "]"
		}
		hops = append(hops, user+"@"+addr+":"+port)
	}
	spec := strings.Join(hops, ",")
	if err := checkProxyJump(spec); err != nil {
		return "", fmt.Errorf("%s:%d: ProxyJump: %v", v.file, v.line, err)
	}
	return spec, nil
}

// expandAlias expands %n (the name as given) in a ProxyCommand, leaving
// %h, %p, %r and %% for the transport to expand when it connects.
func expandAlias(s, alias string) string {
	if !strings.Contains(s, "%n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			if s[i+1] == 'n' {
				b.WriteString(alias)
			} else {
				b.WriteByte('%')
				b.WriteByte(s[i+1])
			}
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
