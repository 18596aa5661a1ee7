package remote

import (
	"errors"
	"fmt"
	"net"
	"strconv"

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

	db    *hostKeyDB // the parsed file; nil when mode is off
	algos []string   // HostKeyAlgorithms for this host, nil = library default
	known []string   // key types known_hosts holds for this host, for messages
}

// hostKeyError is what the callback returns; the dialer reports it as
// ErrHostKey and never retries it.
type hostKeyError struct{ msg string }

func (e *hostKeyError) Error() string { return e.msg }

// newHostKeyChecker prepares the check of one hop's host key against the
// known_hosts file at path, read through kh (once per run for every dial
// that shares kh). A missing file counts as empty; a file that does not
// parse is an error (OpenSSH would skip the bad line, but a corrupt trust
// store should not be trusted).
func newHostKeyChecker(kh *KnownHosts, name, addr string, port int, path, mode string, logger *log.Logger) (*hostKeyChecker, error) {
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
	db, err := kh.db(path)
	if err != nil {
		return nil, err
	}
	c.db = db
	types, ca := db.keyTypes(c.lookup)
	c.known = types
	if !ca {
		c.algos = algorithmsFor(types)
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
		err := c.db.callback(c.lookup)(hostname, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			if c.mode == checkAcceptNew {
				added, err := c.db.record(c.lookup, key)
				var ke *knownhosts.KeyError
				switch {
				case errors.As(err, &ke):
					// Another dial of this run recorded another key for
					// the host meanwhile: a change, as below.
					return c.changed(ke, key)
				case err != nil:
					return &hostKeyError{fmt.Sprintf("cannot record host key for %s in %s: %v", c.display(), c.path, err)}
				}
				if added {
					c.log.Warn("permanently added a new host key to known_hosts (host_key_checking: accept-new)",
						"hop", c.name, "known_hosts", c.path, "type", key.Type(), "fingerprint", ssh.FingerprintSHA256(key))
				}
				return nil
			}
			return &hostKeyError{fmt.Sprintf("no host key is known for %s in known_hosts %s and host_key_checking is strict (server offered %s); add the key or use accept-new",
				c.display(), c.path, describeKey(key))}
		case errors.As(err, &ke):
			return c.changed(ke, key)
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

// changed is the error for a host whose known key differs from key.
func (c *hostKeyChecker) changed(ke *knownhosts.KeyError, key ssh.PublicKey) error {
	want := ke.Want[0]
	for _, w := range ke.Want {
		if w.Key.Type() == key.Type() {
			want = w
			break
		}
	}
	return &hostKeyError{fmt.Sprintf("host key for %s changed (known_hosts %s:%d has %s, server offered %s); possible man-in-the-middle, refusing",
		c.display(), want.Filename, want.Line, describeKey(want.Key), describeKey(key))}
}

// describeKey renders a key the way OpenSSH prints it: type and SHA256
// fingerprint.
func describeKey(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
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
