package remote

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/log"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Host key checking modes (inventory ssh.host_key_checking).
const (
	checkStrict    = "strict"
	checkAcceptNew = "accept-new"
	checkOff       = "off"
)

// hostKeyChecker checks the key one hop's server presents against one
// known_hosts file, the way OpenSSH's StrictHostKeyChecking does.
type hostKeyChecker struct {
	name   string // the hop's name, for messages
	lookup string // the known_hosts name: "host" for port 22, else "[host]:port"
	path   string // the known_hosts file ("" = none)
	mode   string // strict | accept-new | off
	log    *log.Logger

	cb    ssh.HostKeyCallback // from knownhosts.New; nil when the file does not exist
	algos []string            // HostKeyAlgorithms for this host, nil = library default
	known []string            // key types known_hosts holds for this host, for messages
}

// hostKeyError is what the callback returns; the dialer reports it as
// ErrHostKey and never retries it.
type hostKeyError struct{ msg string }

func (e *hostKeyError) Error() string { return e.msg }

// newHostKeyChecker reads the known_hosts file once for one hop. A missing
// file counts as empty; a file that does not parse is an error (OpenSSH
// would skip the bad line, but a corrupt trust store should not be trusted).
func newHostKeyChecker(name, addr string, port int, path, mode string, logger *log.Logger) (*hostKeyChecker, error) {
	switch mode {
	case "":
		mode = checkStrict
	case checkStrict, checkAcceptNew, checkOff:
	default:
		return nil, fmt.Errorf("unknown host_key_checking %q (want strict, accept-new or off)", mode)
	}
	c := &hostKeyChecker{
		name:   name,
		lookup: knownhosts.Normalize(net.JoinHostPort(addr, strconv.Itoa(port))),
		path:   path,
		mode:   mode,
		log:    logger,
	}
	if mode == checkOff {
		return c, nil
	}
	if path == "" {
		return nil, fmt.Errorf("host_key_checking is %s but no known_hosts file is set", mode)
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	types, ca, err := knownKeyTypes(data, c.lookup)
	if err != nil {
		return nil, fmt.Errorf("known_hosts %s: %w", path, err)
	}
	c.known = types
	if !ca {
		c.algos = algorithmsFor(types)
	}
	if c.cb, err = knownhosts.New(path); err != nil {
		return nil, err
	}
	return c, nil
}

// callback is the ssh.HostKeyCallback for this hop. seen is called first,
// so the dialer knows key exchange got as far as the host key.
func (c *hostKeyChecker) callback(seen func()) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		seen()
		if c.mode == checkOff {
			c.log.Warn("host key not checked (host_key_checking: off)", "hop", c.name, "key", describeKey(key))
			return nil
		}
		var err error
		if c.cb != nil {
			err = c.cb(hostname, remote, key)
		} else {
			err = &knownhosts.KeyError{}
		}
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			if c.mode == checkAcceptNew {
				if err := c.record(key); err != nil {
					return &hostKeyError{fmt.Sprintf("cannot record host key for %s in %s: %v", c.display(), c.path, err)}
				}
				c.log.Info("recorded new host key (host_key_checking: accept-new)", "hop", c.name, "known_hosts", c.path, "key", describeKey(key))
				return nil
			}
			return &hostKeyError{fmt.Sprintf("no host key is known for %s in known_hosts %s and host_key_checking is strict (server offered %s); add the key or use accept-new",
				c.display(), c.path, describeKey(key))}
		case errors.As(err, &ke):
			want := ke.Want[0]
			for _, w := range ke.Want {
				if w.Key.Type() == key.Type() {
					want = w
					break
				}
			}
			return &hostKeyError{fmt.Sprintf("host key for %s changed (known_hosts %s:%d has %s, server offered %s); possible man-in-the-middle, refusing",
				c.display(), want.Filename, want.Line, describeKey(want.Key), describeKey(key))}
		case errors.As(err, &re):
			return &hostKeyError{fmt.Sprintf("host key for %s is marked @revoked in known_hosts %s:%d (%s); refusing",
				c.display(), re.Revoked.Filename, re.Revoked.Line, describeKey(key))}
		default:
			return &hostKeyError{fmt.Sprintf("host key for %s rejected: %v", c.display(), err)}
		}
	}
}

// display names the hop and, when it differs, the known_hosts lookup name.
func (c *hostKeyChecker) display() string {
	if c.lookup == c.name {
		return c.name
	}
	return fmt.Sprintf("%s (%s)", c.name, c.lookup)
}

// record appends the key for this host to the known_hosts file, creating
// the file (0600) and its directory (0700) when needed. One O_APPEND write
// per line keeps concurrent dials from interleaving.
func (c *hostKeyChecker) record(key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{c.lookup}, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 && !endsWithNewline(c.path, st.Size()) {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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

// describeKey renders a key the way OpenSSH prints it: type and SHA256
// fingerprint.
func describeKey(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

// knownKeyTypes lists the key types that known_hosts data holds for lookup
// (a knownhosts.Normalize'd name), in file order without duplicates, and
// whether a @cert-authority line covers the host. It matches plain names,
// [host]:port, wildcards (* ?), negations (!) and hashed |1| entries.
func knownKeyTypes(data []byte, lookup string) (types []string, certAuthority bool, err error) {
	rest := data
	for {
		var marker string
		var hosts []string
		var key ssh.PublicKey
		marker, hosts, key, _, rest, err = ssh.ParseKnownHosts(rest)
		if errors.Is(err, io.EOF) {
			return types, certAuthority, nil
		}
		if err != nil {
			return nil, false, err
		}
		if marker == "revoked" || !hostsMatch(hosts, lookup) {
			continue
		}
		if marker == "cert-authority" {
			certAuthority = true
			continue
		}
		if !slices.Contains(types, key.Type()) {
			types = append(types, key.Type())
		}
	}
}

// hostsMatch applies OpenSSH's rule: some pattern matches and no negated
// pattern does.
func hostsMatch(patterns []string, lookup string) bool {
	lookup = strings.ToLower(lookup)
	matched := false
	for _, p := range patterns {
		if strings.HasPrefix(p, "|") {
			if hashedMatch(p, lookup) {
				matched = true
			}
			continue
		}
		negate := strings.HasPrefix(p, "!")
		p = strings.ToLower(strings.TrimPrefix(p, "!"))
		if wildcardMatch(knownhosts.Normalize(p), lookup) || wildcardMatch(p, lookup) {
			if negate {
				return false
			}
			matched = true
		}
	}
	return matched
}

// hashedMatch checks a |1|salt|hash entry (HMAC-SHA1 of the name).
func hashedMatch(entry, lookup string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 || parts[1] != "1" {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(lookup))
	return bytes.Equal(mac.Sum(nil), want)
}

// wildcardMatch matches s against a pattern of literal bytes, * and ?.
func wildcardMatch(pat, s string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcardMatch(pat[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
		default:
			if len(s) == 0 || s[0] != pat[0] {
				return false
			}
		}
		pat, s = pat[1:], s[1:]
	}
	return len(s) == 0
}

// algorithmsFor maps known key types to the host key algorithms to offer,
// so a server holding several keys shows the one we know (golang/go#29286).
// nil means: nothing known, use the library default.
func algorithmsFor(types []string) []string {
	var algos []string
	for _, t := range types {
		switch t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}
