package remote

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostsMatch reports whether a host list (as known_hosts writes it)
// matches lookup; for tests.
func hostsMatch(hosts []string, lookup string) bool {
	var pats []khPattern
	for _, h := range hosts {
		p, err := parsePattern(h)
		if err != nil {
			return false
		}
		pats = append(pats, p)
	}
	host, port := splitLookup(lookup)
	return matches(pats, host, port, lookup, newHasher())
}

// knownKeyTypes is keyTypes over data, one file's content; for tests.
func knownKeyTypes(data []byte, lookup string) ([]string, bool, error) {
	db := &hostKeyDB{exact: map[string][]*khLine{}, revoked: map[string]*khLine{}, lines: map[string]int{}}
	if err := db.parse(data, "known_hosts"); err != nil {
		return nil, false, err
	}
	types, ca := db.keyTypes(lookup)
	return types, ca, nil
}

// One KnownHosts for a run: the file is read by the first dial only, and
// accept-new's additions are seen by the later ones.
func TestKnownHostsParsedOncePerRun(t *testing.T) {
	f := newFixture(t, serverConfig{})
	kh := NewKnownHosts()
	o := f.opts()
	o.KnownHosts = kh
	s, err := f.dialOpts(context.Background(), f.host(), o)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A file that no longer parses: a dial that read it again would fail.
	writeFile(t, f.knownHosts, "this is not a known_hosts line")
	s, err = f.dialOpts(context.Background(), f.host(), o)
	if err != nil {
		t.Fatalf("second dial of the run read known_hosts again: %v", err)
	}
	s.Close()
	// A new run reads it afresh, and names the file and line.
	o.KnownHosts = NewKnownHosts()
	_, err = f.dialOpts(context.Background(), f.host(), o)
	wantKind(t, err, ErrHostKey, "known_hosts "+f.knownHosts+":1:")
}

func TestAcceptNewSharedByTheRun(t *testing.T) {
	f := newFixture(t, serverConfig{})
	h := f.host()
	h.SSH.KnownHosts = filepath.Join(f.dir, "fresh", "known_hosts")
	h.SSH.HostKeyChecking = "accept-new"
	kh := NewKnownHosts()
	o := f.opts()
	o.KnownHosts = kh
	// Eight dials at once to a host nobody knows yet: one line, one log.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s, err := Dial(context.Background(), h, o)
			if err != nil {
				t.Errorf("accept-new dial: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	key := f.srv.hostKeys[0].PublicKey()
	want := knownhosts.Line([]string{knownhosts.Normalize(f.srv.addr())}, key) + "\n"
	if got := readFile(t, h.SSH.KnownHosts); got != want {
		t.Errorf("known_hosts = %q, want the one line %q", got, want)
	}
	logs := string(f.logs.Bytes())
	if n := strings.Count(logs, "permanently added a new host key"); n != 1 {
		t.Errorf("%d logs of an added key, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "fingerprint="+ssh.FingerprintSHA256(key)) || !strings.Contains(logs, "type=ssh-ed25519") {
		t.Errorf("the added key's log does not show its SHA256 fingerprint %s:\n%s", ssh.FingerprintSHA256(key), logs)
	}
	// A strict dial of the same run trusts the recorded key without
	// reading the file again.
	h.SSH.HostKeyChecking = "strict"
	if err := os.Remove(h.SSH.KnownHosts); err != nil {
		t.Fatal(err)
	}
	s, err := Dial(context.Background(), h, o)
	if err != nil {
		t.Fatalf("strict dial after accept-new in the same run: %v", err)
	}
	s.Close()
}

func TestRecordRefusesAnotherKeyRecordedMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	db, err := NewKnownHosts().db(path)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := newEd25519(t).PublicKey(), newEd25519(t).PublicKey()
	if added, err := db.record("[10.0.0.1]:2222", k1); !added || err != nil {
		t.Fatalf("record k1 = %v, %v", added, err)
	}
	if added, err := db.record("[10.0.0.1]:2222", k1); added || err != nil {
		t.Fatalf("record k1 again = %v, %v; want nothing added", added, err)
	}
	_, err = db.record("[10.0.0.1]:2222", k2)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) != 1 || ke.Want[0].Line != 1 || ke.Want[0].Filename != path {
		t.Fatalf("record k2 = %v; want a KeyError naming %s:1", err, path)
	}
	if got := strings.Count(readFile(t, path), "\n"); got != 1 {
		t.Errorf("known_hosts has %d lines, want 1", got)
	}
}

func TestKnownHostsFileErrors(t *testing.T) {
	ed := newEd25519(t).PublicKey()
	good := knownhosts.Line([]string{"web01"}, ed)
	for _, tc := range []struct{ data, want string }{
		{"# c\n\n" + good + "\nweb02\n", ":4: want [@marker] hosts key-type key"},
		{good + "\n|2|abc|def " + strings.SplitN(good, " ", 2)[1] + "\n", ":2: hashed host"},
		{"@bogus " + good + "\n", ":1: unknown marker @bogus"},
		{"[web01:22 " + strings.SplitN(good, " ", 2)[1] + "\n", ":1: host \"[web01:22\""},
		{"[web01]:http " + strings.SplitN(good, " ", 2)[1] + "\n", ":1: host \"[web01]:http\": want [host]:port with a port from 1 to 65535"},
	} {
		path := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), tc.data)
		_, err := NewKnownHosts().db(path)
		if err == nil || !strings.Contains(err.Error(), "known_hosts "+path+tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.data, err, path+tc.want)
		}
	}
}

// A pattern with many stars against a long name that does not match: the
// matcher must not backtrack exponentially (this returned only after
// minutes with the recursive matcher).
func TestWildcardMatchIsNotExponential(t *testing.T) {
	name := strings.Repeat("a", 250)
	pat := strings.Repeat("*a", 30) + "*b"
	if wildcardMatch(pat, name) {
		t.Error("matched a name without b")
	}
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"", "", true}, {"", "a", false}, {"a*", "a", true}, {"*a", "ba", true},
		{"*.example.com", "db1.example.com", true}, {"*.example.com", "example.com", false},
		{"db?.example.com", "db1.example.com", true}, {"db?.example.com", "db10.example.com", false},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"*?", "", false}, {"**x", "yx", true},
	} {
		if got := wildcardMatch(tc.pat, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}

// BenchmarkDialKnownHosts: CPU per dial (client and in-process server)
// with known_hosts files of 10 and 10,000 lines, the dialed host's line
// last. "shared" is one KnownHosts for the run, as cmd/fleettune uses it;
// "per-dial" reads the file at every dial (Options.KnownHosts nil), as
// every dial did before; "hashed" has HashKnownHosts-style entries, which
// can only be matched one by one.
func BenchmarkDialKnownHosts(b *testing.B) {
	for _, tc := range []struct {
		name   string
		lines  int
		hashed bool
		shared bool
	}{
		{"10/shared", 10, false, true},
		{"10000/shared", 10000, false, true},
		{"10000/per-dial", 10000, false, false},
		{"10000-hashed/shared", 10000, true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b, serverConfig{})
			other := newEd25519(b).PublicKey()
			var lines []string
			for i := range tc.lines - 1 {
				name := fmt.Sprintf("[10.%d.%d.%d]:22", i>>16, (i>>8)&255, i&255)
				if tc.hashed {
					name = knownhosts.HashHostname(name)
				}
				lines = append(lines, knownhosts.Line([]string{name}, other))
			}
			name := knownhosts.Normalize(f.srv.addr())
			if tc.hashed {
				name = knownhosts.HashHostname(name)
			}
			lines = append(lines, knownhosts.Line([]string{name}, f.srv.hostKeys[0].PublicKey()))
			writeFile(b, f.knownHosts, lines...)
			o := f.opts()
			o.KeepaliveInterval = -1
			if tc.shared {
				o.KnownHosts = NewKnownHosts()
			}
			h := f.host()
			cpu0 := cpuTime()
			for b.Loop() {
				if tc.hashed {
					// Each host of a run is dialed once: forget the
					// matches of the last dial, as a new host would.
					db, _ := o.KnownHosts.db(f.knownHosts)
					db.cacheMu.Lock()
					db.generalHits = nil
					db.cacheMu.Unlock()
				}
				s, err := Dial(context.Background(), h, o)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A host certificate signed by a CA that known_hosts trusts for the host
// (@cert-authority) passes strict checking with no key of the host's own
// in the file; the same CA @revoked, or trusted for other hosts only, does
// not.
func TestHostCertificateAuthority(t *testing.T) {
	ca := newEd25519(t)
	hostKey := newEd25519(t)
	cert := &ssh.Certificate{
		Key:             hostKey.PublicKey(),
		CertType:        ssh.HostCert,
		KeyId:           "web01",
		ValidPrincipals: []string{"127.0.0.1"},
		ValidBefore:     ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	certSigner, err := ssh.NewCertSigner(cert, hostKey)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, serverConfig{hostKeys: []ssh.Signer{hostKey, certSigner}})
	caLine := strings.TrimPrefix(knownhosts.Line([]string{"x"}, ca.PublicKey()), "x ")
	for _, tc := range []struct {
		name  string
		lines []string
		want  string // "" = success
	}{
		{"trusted CA", []string{"@cert-authority " + knownhosts.Normalize(f.srv.addr()) + " " + caLine}, ""},
		{"trusted CA by wildcard", []string{"@cert-authority [127.0.0.*]:" + strconv.Itoa(f.srv.port) + " " + caLine}, ""},
		{"CA for other hosts", []string{"@cert-authority *.example.com " + caLine}, "no authorities for hostname"},
		{"revoked CA", []string{"@cert-authority " + knownhosts.Normalize(f.srv.addr()) + " " + caLine, "@revoked * " + caLine}, "revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := f.host()
			h.SSH.KnownHosts = writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), tc.lines...)
			s, err := f.dial(context.Background(), h)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				s.Close()
				return
			}
			wantKind(t, err, ErrHostKey, tc.want)
		})
	}
}
