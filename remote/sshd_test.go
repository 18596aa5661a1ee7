package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleettune/fleettune/inventory"
)

const sshdPath = "/usr/sbin/sshd"

// requireSSHD skips unless this machine can run a real sshd in inetd mode
// (root, OpenSSH installed); with FLEETTUNE_E2E_REQUIRED=1 it fails instead.
func requireSSHD(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := os.Stat(sshdPath); err != nil {
		why = sshdPath + " missing (apt-get install -y openssh-server)"
	}
	if why == "" {
		return
	}
	if os.Getenv("FLEETTUNE_E2E_REQUIRED") == "1" {
		t.Fatalf("real sshd test required (FLEETTUNE_E2E_REQUIRED=1) but cannot run: %s", why)
	}
	t.Skipf("skipping real sshd test: %s", why)
}

// realSSHD prepares a temp dir with a host key, a client key, authorized_keys
// and an sshd_config, checked with sshd -t. It returns a Host whose
// proxy_command starts "sshd -i" on that config, and the host public key.
func realSSHD(t *testing.T) (*inventory.Host, ssh.PublicKey) {
	t.Helper()
	requireSSHD(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation dir
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(hostPriv, "fleettune-test-host")
	if err != nil {
		t.Fatal(err)
	}
	hostKeyPath := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := os.WriteFile(hostKeyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	hostPub, err := ssh.NewPublicKey(hostPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	clientKey, client := newEd25519File(t, dir, "id_ed25519", "")
	authKeys := writeFile(t, filepath.Join(dir, "authorized_keys"), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(client.PublicKey()))))
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	config := writeFile(t, filepath.Join(dir, "sshd_config"),
		"HostKey "+hostKeyPath,
		"AuthorizedKeysFile "+authKeys,
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"LogLevel ERROR",
		// An empty home: the remote shell must not source the machine's own
		// ~/.bashrc (which can cost half a second per command).
		"SetEnv HOME="+home,
	)
	if out, err := exec.Command(sshdPath, "-t", "-f", config).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t -f %s: %v\n%s", config, err, out)
	}
	kh := writeFile(t, filepath.Join(dir, "known_hosts"), knownhosts.Line([]string{"web01"}, hostPub))
	t.Cleanup(func() { assertNoProcessUses(t, config) })
	return &inventory.Host{
		Name:      "web01",
		Transport: "ssh",
		User:      "root",
		Timeout:   10 * time.Second,
		SSH: inventory.SSH{
			Port:            22,
			IdentityFiles:   []string{clientKey},
			KnownHosts:      kh,
			HostKeyChecking: "strict",
			ProxyCommand:    sshdPath + " -i -f " + ShellQuote(config),
			Become:          "none",
		},
	}, hostPub
}

// assertNoProcessUses fails if a process still has path on its command line
// (an sshd that Close did not end).
func assertNoProcessUses(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var left []string
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && strings.Contains(string(cmdline), path) {
				left = append(left, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left behind: %q", left)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRealSSHD(t *testing.T) {
	h, _ := realSSHD(t)
	var connects atomic.Int32
	opts := Options{
		Getenv:    func(string) string { return "" },
		OnConnect: func(string) { connects.Add(1) },
	}
	s, err := Dial(context.Background(), h, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { s.Close() })

	tests := []struct {
		cmd            string
		stdout, stderr string
		code           int
	}{
		{"echo hello", "hello\n", "", 0},
		{"echo oops >&2; exit 3", "", "oops\n", 3},
		{"printf '%s\\n' \"$(id -u)\"", "0\n", "", 0},
		{"fleettune-no-such-command-xyz", "", "not found", 127},
		{"true", "", "", 0},
	}
	for _, tc := range tests {
		res, err := s.Run(context.Background(), tc.cmd)
		if err != nil {
			t.Fatalf("Run(%q): %v", tc.cmd, err)
		}
		if string(res.Stdout) != tc.stdout || !strings.Contains(string(res.Stderr), tc.stderr) || res.ExitCode != tc.code {
			t.Errorf("Run(%q) = stdout %q stderr %q exit %d; want %q, stderr containing %q, exit %d",
				tc.cmd, res.Stdout, res.Stderr, res.ExitCode, tc.stdout, tc.stderr, tc.code)
		}
	}
	res, err := s.Run(context.Background(), "cat /proc/sys/net/ipv4/ip_local_port_range")
	if err != nil || res.ExitCode != 0 || len(strings.Fields(string(res.Stdout))) != 2 {
		t.Errorf("port range: %q %q %d %v", res.Stdout, res.Stderr, res.ExitCode, err)
	}

	// Concurrent commands share the one connection (sshd's MaxSessions is 10).
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			res, err := s.Run(context.Background(), "echo parallel")
			if err != nil || string(res.Stdout) != "parallel\n" {
				t.Errorf("parallel Run = %q, %v", res.Stdout, err)
			}
		})
	}
	wg.Wait()
	if n := connects.Load(); n != 1 {
		t.Errorf("OnConnect fired %d times, want 1 (one sshd -i for the whole session)", n)
	}
}

func TestRealSSHDCommandTimeout(t *testing.T) {
	h, _ := realSSHD(t)
	h.Timeout = time.Second
	s, err := Dial(context.Background(), h, Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	start := time.Now()
	_, err = s.Run(context.Background(), "sleep 3")
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 2500*time.Millisecond {
		t.Fatalf("Run(sleep 3) = %v after %v, want ErrTimeout after ~1s", err, time.Since(start))
	}
	res, err := s.Run(context.Background(), "echo next")
	if err != nil || string(res.Stdout) != "next\n" {
		t.Fatalf("Run after timeout = %q, %v", res.Stdout, err)
	}
}

func TestRealSSHDHostKeyChanged(t *testing.T) {
	h, _ := realSSHD(t)
	writeFile(t, h.SSH.KnownHosts, knownhosts.Line([]string{"web01"}, newEd25519(t).PublicKey()))
	_, err := Dial(context.Background(), h, Options{Getenv: func(string) string { return "" }})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "host key for web01 changed") {
		t.Fatalf("Dial with a changed key = %v, want ErrHostKey naming web01", err)
	}
	h.SSH.IdentityFiles = []string{filepath.Join(t.TempDir(), "missing")}
	h.SSH.HostKeyChecking = "off"
	_, err = Dial(context.Background(), h, Options{Getenv: func(string) string { return "" }})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Dial without a key = %v, want ErrAuth", err)
	}
}
