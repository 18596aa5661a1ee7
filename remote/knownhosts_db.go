package remote

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KnownHosts holds the known_hosts files of one run, each parsed once and
// shared by every Dial given it (Options.KnownHosts): with a file of one
// line per host, parsing it for every connection made a 500-host plan spend
// most of its CPU there. Plain host names are looked up in a map, so a
// dial costs the same with 10 lines or 10,000; wildcard, negated and hashed
// entries are matched one by one, as OpenSSH does. Keys that accept-new
// records go into the file and into the parsed set, so later dials of the
// run see them. Safe for concurrent use; make one with NewKnownHosts.
type KnownHosts struct {
	mu  sync.Mutex
	dbs map[string]*knownHostsEntry // by file set
}

type knownHostsEntry struct {
	once sync.Once
	db   *hostKeyDB
	err  error
}

// NewKnownHosts returns an empty cache; files are read on first use.
func NewKnownHosts() *KnownHosts {
	return &KnownHosts{dbs: map[string]*knownHostsEntry{}}
}

// maxKnownHostsFile caps what is read of one known_hosts file (a line is
// under 1 KiB; 64 MiB is over 60,000 hosts).
const maxKnownHostsFile = 64 << 20

// db is the parsed set of files, read the first time it is asked for. A
// file that does not exist counts as empty (accept-new creates it).
func (k *KnownHosts) db(files ...string) (*hostKeyDB, error) {
	key := strings.Join(files, "\x00")
	k.mu.Lock()
	e := k.dbs[key]
	if e == nil {
		e = &knownHostsEntry{}
		k.dbs[key] = e
	}
	k.mu.Unlock()
	e.once.Do(func() { e.db, e.err = loadHostKeyDB(files) })
	return e.db, e.err
}

// hostKeyDB is a parsed set of known_hosts files.
type hostKeyDB struct {
	files []string

	mu          sync.RWMutex
	exact       map[string][]*khLine // lines whose patterns are all plain names, by lookup name
	general     []*khLine            // lines with a wildcard, a negation or a hashed name
	authorities []*khLine            // @cert-authority lines
	revoked     map[string]*khLine   // @revoked keys, by key blob
	lines       map[string]int       // lines in each file, for the numbers of appended lines
	seq         int                  // lines so far, for file order

	cacheMu     sync.Mutex
	generalHits map[string][]*khLine // matchGeneral's answers, by lookup
}

// khLine is one key line.
type khLine struct {
	seq  int
	file string
	line int
	key  ssh.PublicKey
	pats []khPattern // nil for a line kept only in exact
}

// khPattern is one entry of a line's host list.
type khPattern struct {
	negate     bool
	host, port string // lower case; host may hold * and ?
	// A hashed |1|salt|hash entry: hash is HMAC-SHA1(salt, name). inner
	// and outer are the SHA-1 states after the HMAC's key blocks, so a
	// match costs two SHA-1 blocks and no allocation.
	hash, inner, outer []byte
}

func loadHostKeyDB(files []string) (*hostKeyDB, error) {
	db := &hostKeyDB{files: files, exact: map[string][]*khLine{}, revoked: map[string]*khLine{}, lines: map[string]int{}}
	for _, f := range files {
		data, err := readCapped(f, maxKnownHostsFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("read known_hosts: %w", err)
		}
		if err := db.parse(data, f); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// readCapped reads a file of at most max bytes.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than %d MiB, the most read of it", path, max>>20)
	}
	return data, nil
}

// parse adds data, the content of file, line by line.
func (db *hostKeyDB) parse(data []byte, file string) error {
	n := 0
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		n++
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts(line)
		if errors.Is(err, io.EOF) {
			err = errors.New("want [@marker] hosts key-type key")
		}
		if err == nil {
			err = db.add(marker, hosts, key, file, n)
		}
		if err != nil {
			return fmt.Errorf("known_hosts %s:%d: %v", file, n, err)
		}
	}
	db.lines[file] = n
	return nil
}

// add files one parsed line.
func (db *hostKeyDB) add(marker string, hosts []string, key ssh.PublicKey, file string, n int) error {
	db.seq++
	l := &khLine{seq: db.seq, file: file, line: n, key: key}
	switch marker {
	case "revoked":
		db.revoked[string(key.Marshal())] = l
		return nil
	case "", "cert-authority":
	default:
		return fmt.Errorf("unknown marker @%s (want @cert-authority or @revoked)", marker)
	}
	plain := true
	for _, h := range hosts {
		p, err := parsePattern(h)
		if err != nil {
			return err
		}
		if p.negate || p.hash != nil || strings.ContainsAny(p.host+p.port, "*?") {
			plain = false
		}
		l.pats = append(l.pats, p)
	}
	switch {
	case marker == "cert-authority":
		db.authorities = append(db.authorities, l)
	case plain:
		for _, p := range l.pats {
			name := lookupName(p.host, p.port)
			if !slices.Contains(db.exact[name], l) {
				db.exact[name] = append(db.exact[name], l)
			}
		}
		l.pats = nil
	default:
		db.general = append(db.general, l)
	}
	return nil
}

// parsePattern reads one host list entry: name, [name]:port, !negated,
// wildcards, or |1|salt|hash.
func parsePattern(s string) (khPattern, error) {
	var p khPattern
	if strings.HasPrefix(s, "!") {
		p.negate, s = true, s[1:]
	}
	if strings.HasPrefix(s, "|") {
		parts := strings.Split(s, "|")
		if len(parts) != 4 || parts[1] != "1" {
			return p, fmt.Errorf("hashed host %q: want |1|salt|hash", s)
		}
		salt, err1 := base64.StdEncoding.DecodeString(parts[2])
		hash, err2 := base64.StdEncoding.DecodeString(parts[3])
		if err := errors.Join(err1, err2); err != nil {
			return p, fmt.Errorf("hashed host %q: %v", s, err)
		}
		if len(hash) != sha1.Size {
			return p, fmt.Errorf("hashed host %q: the hash is %d bytes, want %d", s, len(hash), sha1.Size)
		}
		p.hash = hash
		p.inner, p.outer = hmacStates(salt)
		return p, nil
	}
	if s == "" {
		return p, errors.New("empty host name in the host list")
	}
	p.host, p.port = s, "22"
	if strings.HasPrefix(s, "[") {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return p, fmt.Errorf("host %q: %v", s, err)
		}
		if !validPort(port) || host == "" {
			return p, fmt.Errorf("host %q: want [host]:port with a port from 1 to 65535 (or a pattern of digits, * and ?)", s)
		}
		p.host, p.port = host, port
	}
	p.host = strings.ToLower(p.host)
	return p, nil
}

// validPort: a port number, or a pattern of digits, * and ?.
func validPort(port string) bool {
	if strings.ContainsAny(port, "*?") {
		return strings.Trim(port, "0123456789*?") == ""
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && strings.Trim(port, "0123456789") == ""
}

// lookupName is the known_hosts name of host at port: "host" for port 22,
// "[host]:port" otherwise, in lower case (knownhosts.Normalize's form).
func lookupName(host, port string) string {
	if port == "22" {
		return strings.ToLower(host)
	}
	return strings.ToLower("[" + host + "]:" + port)
}

// splitLookup is the host and port of a lookup name.
func splitLookup(lookup string) (host, port string) {
	if strings.HasPrefix(lookup, "[") {
		if h, p, err := net.SplitHostPort(lookup); err == nil {
			return strings.ToLower(h), p
		}
	}
	return strings.ToLower(lookup), "22"
}

// hmacStates are the SHA-1 states of HMAC-SHA1 with key after its inner
// and outer key blocks (RFC 2104), marshalled.
func hmacStates(key []byte) (inner, outer []byte) {
	if len(key) > sha1.BlockSize {
		sum := sha1.Sum(key)
		key = sum[:]
	}
	state := func(pad byte) []byte {
		block := make([]byte, sha1.BlockSize)
		copy(block, key)
		for i := range block {
			block[i] ^= pad
		}
		h := sha1.New()
		h.Write(block)
		b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(err) // crypto/sha1 always marshals
		}
		return b
	}
	return state(0x36), state(0x5c)
}

// hasher computes HMAC-SHA1 from precomputed states, reusing its buffers:
// one per lookup, not safe for concurrent use.
type hasher struct {
	in, out hash.Hash
	buf     [sha1.Size]byte
	sum     [sha1.Size]byte
}

func newHasher() *hasher { return &hasher{in: sha1.New(), out: sha1.New()} }

func (h *hasher) matches(p *khPattern, name string) bool {
	if h.in.(encoding.BinaryUnmarshaler).UnmarshalBinary(p.inner) != nil ||
		h.out.(encoding.BinaryUnmarshaler).UnmarshalBinary(p.outer) != nil {
		return false
	}
	io.WriteString(h.in, name)
	h.out.Write(h.in.Sum(h.buf[:0]))
	return hmac.Equal(h.out.Sum(h.sum[:0]), p.hash)
}

// matches applies OpenSSH's rule to a line's host list: some entry matches
// and no negated one does. hs hashes lookup for hashed entries.
func matches(pats []khPattern, host, port, lookup string, hs *hasher) bool {
	matched := false
	for i := range pats {
		p := &pats[i]
		var ok bool
		if p.hash != nil {
			ok = hs.matches(p, lookup)
		} else {
			ok = wildcardMatch(p.port, port) && wildcardMatch(p.host, host)
		}
		if !ok {
			continue
		}
		if p.negate {
			return false
		}
		matched = true
	}
	return matched
}

// find is every key line for lookup (a lookup name), in file order.
// The caller holds db.mu.
func (db *hostKeyDB) find(lookup string) []*khLine {
	lookup = strings.ToLower(lookup)
	found := slices.Clone(db.exact[lookup])
	if general := db.matchGeneral(lookup); len(general) > 0 {
		found = append(found, general...)
		slices.SortFunc(found, func(a, b *khLine) int { return a.seq - b.seq })
	}
	return found
}

// matchGeneral is the general lines that match lookup, each lookup
// matched once (the list only changes when the files are read: record
// adds plain names). Safe under the read lock.
func (db *hostKeyDB) matchGeneral(lookup string) []*khLine {
	if len(db.general) == 0 {
		return nil
	}
	db.cacheMu.Lock()
	defer db.cacheMu.Unlock()
	if lines, ok := db.generalHits[lookup]; ok {
		return lines
	}
	host, port := splitLookup(lookup)
	hs := newHasher()
	var lines []*khLine
	for _, l := range db.general {
		if matches(l.pats, host, port, lookup, hs) {
			lines = append(lines, l)
		}
	}
	if db.generalHits == nil {
		db.generalHits = map[string][]*khLine{}
	}
	db.generalHits[lookup] = lines
	return lines
}

// keyTypes lists the key types the files hold for lookup, in file order
// without duplicates, and whether a @cert-authority line covers it.
func (db *hostKeyDB) keyTypes(lookup string) (types []string, certAuthority bool) {
	lookup = strings.ToLower(lookup)
	db.mu.RLock()
	defer db.mu.RUnlock()
	for _, l := range db.find(lookup) {
		if !slices.Contains(types, l.key.Type()) {
			types = append(types, l.key.Type())
		}
	}
	host, port := splitLookup(lookup)
	for _, l := range db.authorities {
		if matches(l.pats, host, port, lookup, newHasher()) {
			certAuthority = true
		}
	}
	return types, certAuthority
}

// callback checks a host key (or a host certificate) for lookup, with
// knownhosts' errors: *knownhosts.KeyError (Want empty: unknown host) and
// *knownhosts.RevokedError.
func (db *hostKeyDB) callback(lookup string) ssh.HostKeyCallback {
	lookup = strings.ToLower(lookup)
	cc := &ssh.CertChecker{
		IsHostAuthority: func(auth ssh.PublicKey, address string) bool {
			db.mu.RLock()
			defer db.mu.RUnlock()
			host, port := splitLookup(lookup)
			for _, l := range db.authorities {
				if bytes.Equal(l.key.Marshal(), auth.Marshal()) && matches(l.pats, host, port, lookup, newHasher()) {
					return true
				}
			}
			return false
		},
		IsRevoked: func(cert *ssh.Certificate) bool {
			db.mu.RLock()
			defer db.mu.RUnlock()
			return db.revoked[string(cert.Key.Marshal())] != nil || db.revoked[string(cert.SignatureKey.Marshal())] != nil
		},
		HostKeyFallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			db.mu.RLock()
			defer db.mu.RUnlock()
			return db.check(lookup, key)
		},
	}
	return cc.CheckHostKey
}

// check is the plain-key check; the caller holds db.mu.
func (db *hostKeyDB) check(lookup string, key ssh.PublicKey) error {
	blob := key.Marshal()
	if r := db.revoked[string(blob)]; r != nil {
		return &knownhosts.RevokedError{Revoked: r.known()}
	}
	ke := &knownhosts.KeyError{}
	for _, l := range db.find(lookup) {
		ke.Want = append(ke.Want, l.known())
		if bytes.Equal(l.key.Marshal(), blob) {
			return nil
		}
	}
	return ke
}

func (l *khLine) known() knownhosts.KnownKey {
	return knownhosts.KnownKey{Key: l.key, Filename: l.file, Line: l.line}
}

// record appends key for lookup to the first file (creating it 0600 and
// its directory 0700 when needed) and to the parsed set, so later dials
// of the run see it. If a dial of this run recorded a key for lookup
// meanwhile, nothing is written: the same key is fine (added false), any
// other is a *knownhosts.KeyError. One O_APPEND write per line keeps
// other processes' appends whole.
func (db *hostKeyDB) record(lookup string, key ssh.PublicKey) (added bool, err error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	switch err := db.check(lookup, key); {
	case err == nil:
		return false, nil
	case isKnownElse(err):
		return false, err
	}
	path := db.files[0]
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	line := knownhosts.Line([]string{lookup}, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 && !endsWithNewline(path, st.Size()) {
		line = "\n" + line
		db.lines[path]++
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	db.lines[path]++
	db.seq++
	l := &khLine{seq: db.seq, file: path, line: db.lines[path], key: key}
	name := strings.ToLower(lookup)
	db.exact[name] = append(db.exact[name], l)
	return true, nil
}

// isKnownElse reports a KeyError that names known keys: the host is known
// with another key (or the key is revoked).
func isKnownElse(err error) bool {
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return len(ke.Want) > 0
	}
	return true
}

func endsWithNewline(path string, size int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

// wildcardMatch matches s against a pattern of literal bytes, * (any run)
// and ? (one byte), in O(len(pat)·len(s)) at worst: a star that fails is
// retried from one byte further, never recursively.
func wildcardMatch(pat, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case p < len(pat) && (pat[p] == '?' || pat[p] == s[i]):
			p++
			i++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
