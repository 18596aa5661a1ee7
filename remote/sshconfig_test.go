package remote

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// IdentitiesOnly (from ssh_config): the agent's keys are offered only when
// they are the identity files named, as OpenSSH does.
func TestIdentitiesOnly(t *testing.T) {
	f, pub, sock, _ := agentFixture(t)
	f.env["SSH_AUTH_SOCK"] = sock

	// The identity file named is not the agent's key and cannot log in:
	// with IdentitiesOnly the agent's key is not offered.
	other := writeFile(t, filepath.Join(t.TempDir(), "other"), "not a key")
	writeFile(t, other+".pub", string(ssh.MarshalAuthorizedKey(newEd25519(t).PublicKey())))
	h := f.host()
	h.SSH.IdentityFiles = []string{other}
	h.SSH.IdentitiesOnly = true
	_, err := f.dial(context.Background(), h)
	wantKind(t, err, ErrAuth)

	// Without IdentitiesOnly the agent's key logs in.
	h.SSH.IdentitiesOnly = false
	s := f.mustDial(h)
	s.Close()

	// With IdentitiesOnly and the agent key's own .pub named, it is offered.
	mine := writeFile(t, filepath.Join(t.TempDir(), "mine"), "private key held by the agent")
	writeFile(t, mine+".pub", string(ssh.MarshalAuthorizedKey(pub)))
	h.SSH.IdentityFiles = []string{mine}
	h.SSH.IdentitiesOnly = true
	s = f.mustDial(h)
	if _, err := s.Run(context.Background(), "echo ok"); err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// ConnectTimeout (from ssh_config) bounds connecting instead of the host's
// timeout, which stays the per-command bound.
func TestConnectTimeout(t *testing.T) {
	f := newFixture(t, serverConfig{})
	f.srv.stall.Store(true)
	h := f.host()
	h.Timeout = 30 * time.Second
	h.SSH.ConnectTimeout = 250 * time.Millisecond
	start := time.Now()
	_, err := f.dial(context.Background(), h)
	wantKind(t, err, ErrUnreachable, "did not complete within 250ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; ConnectTimeout 250ms was not applied", d)
	}
}

// ServerAliveInterval (from ssh_config) sets the keepalive interval for the
// host: a dead server is noticed after a few of its intervals, not the
// default 15s ones.
func TestServerAliveInterval(t *testing.T) {
	f := newFixture(t, serverConfig{})
	h := f.host()
	h.Timeout = 20 * time.Second
	h.SSH.ServerAliveInterval = 50 * time.Millisecond
	s := f.mustDial(h) // default Options: a 15s keepalive
	defer s.Close()
	if _, err := s.Run(context.Background(), "echo alive"); err != nil {
		t.Fatal(err)
	}
	f.srv.frozen.Store(true)
	start := time.Now()
	_, err := s.Run(context.Background(), "echo anyone")
	wantKind(t, err, ErrConnLost)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to notice the dead server; ServerAliveInterval 50ms was not applied", d)
	}
}
