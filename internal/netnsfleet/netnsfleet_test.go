package netnsfleet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

const rangeKnob = "net.ipv4.ip_local_port_range"

// rootRange is the test process's own ip_local_port_range, only ever read.
// /proc/sys/net resolves by the calling thread's namespace, and a thread
// running an unlocked goroutine is never one switched into a fleet's.
func rootRange(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMain also guards the rule for the whole run: the machine's own
// range is the same after every test as before.
func TestMain(m *testing.M) {
	before, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	code := m.Run()
	after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if !bytes.Equal(before, after) {
		fmt.Fprintf(os.Stderr, "FAIL: the root namespace's ip_local_port_range changed: %q -> %q\n", before, after)
		code = 1
	}
	os.Exit(code)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSysctlPerNamespace(t *testing.T) {
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := ctxT(t)
	before := rootRange(t)

	n1, n2, n3 := f.Host("node01"), f.Host("node02"), f.Host("node03")
	if err := n1.Sysctl(ctx, rangeKnob, "20000 30000"); err != nil {
		t.Fatal(err)
	}
	if err := n2.Sysctl(ctx, rangeKnob, "40000\t50000"); err != nil {
		t.Fatal(err)
	}
	if err := n1.Sysctl(ctx, "net.ipv4.tcp_fin_timeout", "17"); err != nil {
		t.Fatal(err)
	}
	want := map[*netnsfleet.Host]string{n1: "20000\t30000", n2: "40000\t50000"}
	for _, h := range f.Hosts {
		got, err := h.ReadSysctl(ctx, rangeKnob)
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := want[h]; ok && got != w {
			t.Errorf("%s: ReadSysctl = %q, want %q", h.Name, got, w)
		}
		if h == n3 && (got == want[n1] || got == want[n2]) {
			t.Errorf("node03 has another host's range %q", got)
		}
		// ReadSysctl (setns in-process) agrees with `ip netns exec cat`.
		out, err := h.Exec(ctx, "cat", "/proc/sys/net/ipv4/ip_local_port_range")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(out)) != got {
			t.Errorf("%s: ip netns exec cat says %q, ReadSysctl %q", h.Name, out, got)
		}
	}
	if got, err := n1.ReadSysctl(ctx, "net/ipv4/tcp_fin_timeout"); err != nil || got != "17" {
		t.Errorf("node01 tcp_fin_timeout = %q, %v; want 17", got, err)
	}
	if got, _ := n2.ReadSysctl(ctx, "net.ipv4.tcp_fin_timeout"); got == "17" {
		t.Errorf("node02 got node01's tcp_fin_timeout")
	}
	if after := rootRange(t); after != before {
		t.Fatalf("root namespace range changed: %q -> %q", before, after)
	}
	if err := n1.Sysctl(ctx, "net.ipv4.ip_local_port_range=1", "2"); err == nil {
		t.Error("Sysctl accepted a knob with '='")
	}
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := ctxT(t)
	name := "60-netnsfleet-" + strings.TrimPrefix(f.Hosts[0].Netns, "ft-") + ".conf"
	real := filepath.Join("/etc/sysctl.d", name)
	content := "net.ipv4.ip_local_port_range = 10240 65535\n"
	if err := f.Host("node01").WriteFile("sysctl.d/"+name, []byte(content)); err != nil {
		t.Fatal(err)
	}
	out, err := f.Host("node01").Exec(ctx, "cat", real)
	if err != nil || string(out) != content {
		t.Fatalf("node01 sees %s = %q, %v; want %q", real, out, err, content)
	}
	if out, err := f.Host("node02").Exec(ctx, "cat", real); err == nil {
		t.Errorf("node02 sees node01's file: %q", out)
	}
	if _, err := os.Stat(real); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the machine's real %s exists (%v)", real, err)
	}
	if out, err := f.Host("node01").Exec(ctx, "ls", "-A", "/etc/sysctl.d"); err != nil || strings.TrimSpace(string(out)) != name {
		t.Errorf("node01's /etc/sysctl.d holds %q, %v; want only %s", out, err, name)
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "sysctl.d/../../x", "."} {
		if err := f.Host("node01").WriteFile(bad, nil); err == nil {
			t.Errorf("WriteFile(%q) succeeded", bad)
		}
	}
}

func TestInventory(t *testing.T) {
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	b, err := os.ReadFile(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	var inv map[string]any
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"defaults": map[string]any{
			"user":    "root",
			"timeout": "30s",
			"ssh": map[string]any{
				"identity_files": []any{f.ClientKey},
				"known_hosts":    f.KnownHosts,
				"proxy_command":  f.Proxy + " %h",
			},
		},
		"groups": map[string]any{"nodes": map[string]any{"hosts": []any{"node[01:03]"}}},
	}
	if fmt.Sprint(inv) != fmt.Sprint(want) {
		t.Errorf("inventory:\n%s\nparsed %v\nwant   %v", b, inv, want)
	}
	for _, p := range []string{f.Dir, f.Inventory, f.KnownHosts, f.ClientKey, f.SSHDConfig, f.Proxy} {
		if !filepath.IsAbs(p) {
			t.Errorf("%q is not absolute", p)
		}
	}
	if fi, err := os.Stat(f.ClientKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client key mode: %v %v", fi, err)
	}
	if key, err := os.ReadFile(f.ClientKey); err != nil || !bytes.HasPrefix(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----")) {
		t.Errorf("client key is not an OpenSSH private key: %v", err)
	}
	kh, _ := os.ReadFile(f.KnownHosts)
	for _, h := range f.Hosts {
		if !bytes.Contains(kh, []byte(h.Name+" ssh-ed25519 AAAA")) {
			t.Errorf("known_hosts lacks %s:\n%s", h.Name, kh)
		}
		if h.EtcDir != "/etc/netns/"+h.Netns || !strings.HasSuffix(h.Netns, "-"+h.Name) || len(h.Netns) > 63 {
			t.Errorf("host %+v", h)
		}
	}
	// Zero padding grows with the count.
	if f.Hosts[0].Name != "node01" || f.Host("node03") == nil || f.Host("node3") != nil {
		t.Errorf("names: %v", f.Hosts)
	}
}

// openssh runs OpenSSH's ssh against host the way the inventory says.
func openssh(ctx context.Context, f *netnsfleet.Fleet, host string, cmd ...string) (stdout, stderr string, err error) {
	args := []string{"-F", "/dev/null", "-i", f.ClientKey,
		"-o", "UserKnownHostsFile=" + f.KnownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "ProxyCommand=" + f.Proxy + " %h",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "root@" + host}
	c := exec.CommandContext(ctx, "ssh", append(args, cmd...)...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err = c.Run()
	return o.String(), e.String(), err
}

func needSSH(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		if os.Getenv(netnsfleet.EnvRequired) == "1" {
			t.Fatal("OpenSSH ssh client is not installed")
		}
		t.Skip("OpenSSH ssh client is not installed")
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func TestOpenSSHReachesTheRightNamespace(t *testing.T) {
	needSSH(t)
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := ctxT(t)
	set := map[string]string{"node01": "21000 31000", "node02": "41000 51000"}
	for h, v := range set {
		if err := f.Host(h).Sysctl(ctx, rangeKnob, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"node01", "node02"} {
		start := time.Now()
		out, stderr, err := openssh(ctx, f, h, "cat", "/proc/sys/net/ipv4/ip_local_port_range")
		if err != nil {
			t.Fatalf("ssh %s: %v: %s", h, err, stderr)
		}
		t.Logf("ssh %s through the proxy: %v", h, time.Since(start).Round(time.Millisecond))
		if got, want := strings.Join(strings.Fields(out), " "), set[h]; got != want {
			t.Errorf("ssh %s: range %q, want %q", h, got, want)
		}
		if n := f.Connections(h); n != 1 {
			t.Errorf("Connections(%s) = %d, want 1", h, n)
		}
	}
	if n := f.Connections("node03"); n != 0 {
		t.Errorf("Connections(node03) = %d, want 0", n)
	}
	// The passwd trick: root's home is the fleet's empty directory, and
	// the host sees its own /etc/sysctl.d.
	out, stderr, err := openssh(ctx, f, "node03", `echo "$HOME"; ls -A "$HOME" | wc -l; ls -A /etc/sysctl.d | wc -l; id -u`)
	if err != nil {
		t.Fatalf("ssh node03: %v: %s", err, stderr)
	}
	if want := filepath.Join(f.Dir, "home") + "\n0\n0\n0\n"; out != want {
		t.Errorf("ssh node03: %q, want %q", out, want)
	}
	if n := f.Connections("node03"); n != 1 {
		t.Errorf("Connections(node03) = %d, want 1", n)
	}
}

// pipeConn is a net.Conn over a proxy command's stdin and stdout, the way
// a Go client (x/crypto/ssh) uses a proxy_command.
type pipeConn struct {
	io.Reader
	io.WriteCloser
	cmd  *exec.Cmd
	once sync.Once
	err  error
}

// Close is called from two goroutines by x/crypto/ssh (the caller's Close
// and the mux loop's); exec.Cmd.Wait must run once only, or the second
// call blocks forever.
func (c *pipeConn) Close() error {
	c.once.Do(func() {
		c.WriteCloser.Close()
		c.err = c.cmd.Wait()
	})
	return c.err
}
func (c *pipeConn) LocalAddr() net.Addr { return &net.UnixAddr{Name: "proxy", Net: "unix"} }
func (c *pipeConn) RemoteAddr() net.Addr {
	// knownhosts wants host:port; no address means no IP line can match.
	return &net.TCPAddr{IP: net.IPv4zero, Port: 22}
}
func (c *pipeConn) SetDeadline(t time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return nil }

// goSSH runs cmd on host with golang.org/x/crypto/ssh over the proxy, with
// strict known_hosts checking, as fleettune's own transport does.
func goSSH(ctx context.Context, f *netnsfleet.Fleet, host, cmd string) (string, error) {
	keyPEM, err := os.ReadFile(f.ClientKey)
	if err != nil {
		return "", err
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		return "", err
	}
	hkcb, err := knownhosts.New(f.KnownHosts)
	if err != nil {
		return "", err
	}
	pc := exec.CommandContext(ctx, f.Proxy, host)
	stdin, err := pc.StdinPipe()
	if err != nil {
		return "", err
	}
	stdout, err := pc.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := pc.Start(); err != nil {
		return "", err
	}
	conn := &pipeConn{Reader: stdout, WriteCloser: stdin, cmd: pc}
	defer conn.Close()
	cc, chans, reqs, err := ssh.NewClientConn(conn, net.JoinHostPort(host, "22"), &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hkcb,
		Timeout:         30 * time.Second,
	})
	if err != nil {
		return "", err
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	s, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.Output(cmd)
	return string(out), err
}

func TestGoSSHClient(t *testing.T) {
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := ctxT(t)
	if err := f.Host("node02").Sysctl(ctx, rangeKnob, "42000 52000"); err != nil {
		t.Fatal(err)
	}
	out, err := goSSH(ctx, f, "node02", "cat /proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	if out != "42000\t52000\n" {
		t.Errorf("node02 over x/crypto/ssh: %q", out)
	}
	if n := f.Connections("node02"); n != 1 {
		t.Errorf("Connections(node02) = %d, want 1", n)
	}
	if err := f.ChangeHostKey("node02"); err != nil {
		t.Fatal(err)
	}
	_, err = goSSH(ctx, f, "node02", "true")
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		t.Errorf("after ChangeHostKey, x/crypto/ssh: %v; want a knownhosts.KeyError with a mismatch", err)
	}
}

// listening reports whether /proc/net/tcp text has a listener on
// 0.0.0.0:port.
func listening(tcp []byte, port int) bool {
	local := fmt.Sprintf("00000000:%04X", port)
	for _, line := range strings.Split(string(tcp), "\n") {
		fs := strings.Fields(line)
		if len(fs) > 3 && fs[1] == local && fs[3] == "0A" {
			return true
		}
	}
	return false
}

func TestListen(t *testing.T) {
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := ctxT(t)
	rootTCP := func() []byte {
		b, err := os.ReadFile("/proc/thread-self/net/tcp")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	port := 47000 + os.Getpid()%1000
	for listening(rootTCP(), port) {
		port++ // something of the machine's own listens there; it must not confuse the test
	}
	nsTCP := func(h string) []byte {
		out, err := f.Host(h).Exec(ctx, "cat", "/proc/net/tcp")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	l, err := f.Host("node01").Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	if !listening(nsTCP("node01"), port) {
		t.Errorf("port %d is not listening in node01", port)
	}
	if listening(nsTCP("node02"), port) {
		t.Errorf("port %d listens in node02 too", port)
	}
	if listening(rootTCP(), port) {
		t.Errorf("port %d listens in the root namespace", port)
	}
	// A connection inside the namespace reaches it; in another it does not.
	connect := "exec 3<>/dev/tcp/127.0.0.1/" + strconv.Itoa(port) + " && echo ok"
	if out, err := f.Host("node01").Exec(ctx, "bash", "-c", connect); err != nil || string(out) != "ok\n" {
		t.Errorf("connect inside node01: %q, %v", out, err)
	}
	if out, err := f.Host("node03").Exec(ctx, "bash", "-c", connect); err == nil {
		t.Errorf("connect inside node03 succeeded: %q", out)
	}
	// The same port is free in another namespace.
	l2, err := f.Host("node02").Listen(port)
	if err != nil {
		t.Fatalf("node02 cannot listen on %d: %v", port, err)
	}
	defer l2.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if listening(nsTCP("node01"), port) {
		t.Errorf("port %d still listening in node01 after Close", port)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestChangeHostKey(t *testing.T) {
	needSSH(t)
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := ctxT(t)
	if _, stderr, err := openssh(ctx, f, "node02", "true"); err != nil {
		t.Fatalf("before: %v: %s", err, stderr)
	}
	if err := f.ChangeHostKey("node02"); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := openssh(ctx, f, "node02", "true")
	if err == nil || exitCode(err) != 255 || !strings.Contains(stderr, "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("after ChangeHostKey: %v (exit %d), stderr %q; want a host key mismatch", err, exitCode(err), stderr)
	}
	if _, stderr, err := openssh(ctx, f, "node01", "true"); err != nil {
		t.Errorf("node01 broke too: %v: %s", err, stderr)
	}
	if err := f.ChangeHostKey("node99"); err == nil {
		t.Error("ChangeHostKey of an unknown host succeeded")
	}
}

func TestStop(t *testing.T) {
	needSSH(t)
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	ctx := ctxT(t)
	if err := f.Stop("node03"); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := openssh(ctx, f, "node03", "true")
	if exitCode(err) != 255 || !strings.Contains(stderr, "Connection closed by remote host") {
		t.Errorf("stopped node03: %v (exit %d), stderr %q", err, exitCode(err), stderr)
	}
	if n := f.Connections("node03"); n != 0 {
		t.Errorf("Connections(node03) = %d after a refusal, want 0", n)
	}
	if _, stderr, err := openssh(ctx, f, "node01", "true"); err != nil {
		t.Errorf("node01: %v: %s", err, stderr)
	}
	if err := f.Resume("node03"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := openssh(ctx, f, "node03", "true"); err != nil {
		t.Errorf("resumed node03: %v: %s", err, stderr)
	}
	// The proxy refuses names outside [a-z0-9-] and hosts not in the fleet.
	for _, bad := range []string{"Node01", "node01;id", "node99", ""} {
		out, err := exec.CommandContext(ctx, f.Proxy, bad).CombinedOutput()
		if exitCode(err) != 255 {
			t.Errorf("proxy.sh %q: %v: %s", bad, err, out)
		}
	}
}

func netnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	list := netnsList(t)
	for _, h := range f.Hosts {
		if !strings.Contains(list, h.Netns) {
			t.Fatalf("%s missing from ip netns list:\n%s", h.Netns, list)
		}
		if _, err := os.Stat(filepath.Join(h.EtcDir, "passwd")); err != nil {
			t.Fatal(err)
		}
	}
	l, err := f.Host("node02").Listen(8080)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	list = netnsList(t)
	for _, h := range f.Hosts {
		if strings.Contains(list, h.Netns) {
			t.Errorf("%s still in ip netns list after Close", h.Netns)
		}
		if _, err := os.Stat(h.EtcDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Close (%v)", h.EtcDir, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("listener Close after fleet Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Host("node01").Listen(8081); err == nil {
		t.Error("Listen on a closed fleet succeeded")
	}
	if err := f.Host("node01").Sysctl(ctxT(t), rangeKnob, "1024 2048"); err == nil {
		t.Error("Sysctl on a closed fleet's host succeeded") // must never fall back to another namespace
	}
}

// TestLoad is what `netns-fleet down` does: another process removes a
// fleet from its fleet.json, and refuses a record that names anything
// outside the fleet's naming scheme.
func TestLoad(t *testing.T) {
	if err := netnsfleet.Available(); err != nil {
		if os.Getenv(netnsfleet.EnvRequired) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Parallel()
	dir := t.TempDir()
	f, err := netnsfleet.Start(context.Background(), netnsfleet.Options{Hosts: 2, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := netnsfleet.Start(context.Background(), netnsfleet.Options{Hosts: 2, Dir: dir}); err == nil {
		t.Fatal("Start into a directory holding a fleet succeeded")
	}
	g, err := netnsfleet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Hosts) != 2 || g.Hosts[1].Netns != f.Hosts[1].Netns || g.Inventory != f.Inventory {
		t.Fatalf("Load: %+v", g)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	list := netnsList(t)
	for _, h := range f.Hosts {
		if strings.Contains(list, h.Netns) {
			t.Errorf("%s survived Load+Close", h.Netns)
		}
		if _, err := os.Stat(h.EtcDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Load+Close", h.EtcDir)
		}
	}
	if _, err := os.Stat(f.Inventory); err != nil {
		t.Errorf("Close removed a directory it did not make: %v", err)
	}

	bad := t.TempDir()
	for _, rec := range []string{
		`{"version":1,"dir":"%s","prefix":"ft-1-abcd","hosts":[{"name":"node01","netns":"ft-1-abcd-node01","etc_dir":"/etc"}]}`,
		`{"version":1,"dir":"%s","prefix":"ft-1-abcd","hosts":[{"name":"../x","netns":"ft-1-abcd-../x","etc_dir":"/etc/netns/ft-1-abcd-../x"}]}`,
		`{"version":1,"dir":"%s","prefix":"other","hosts":[{"name":"a","netns":"other-a","etc_dir":"/etc/netns/other-a"}]}`,
		`{"version":1,"dir":"/elsewhere","prefix":"ft-1-abcd","hosts":[]}%s`,
	} {
		if err := os.WriteFile(filepath.Join(bad, "fleet.json"), fmt.Appendf(nil, rec, bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := netnsfleet.Load(bad); err == nil {
			t.Errorf("Load accepted %s", rec)
		}
	}
}

// BenchmarkStart50 times setting up and tearing down 50 hosts.
func BenchmarkStart50(b *testing.B) {
	var up, down time.Duration
	for b.Loop() {
		t0 := time.Now()
		f := netnsfleet.StartT(b, netnsfleet.Options{Hosts: 50, Dir: b.TempDir()})
		t1 := time.Now()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		up, down = up+t1.Sub(t0), down+time.Since(t1)
	}
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms-up/op")
	b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms-down/op")
}

// TestSweepStale: a test binary that dies without its cleanups (here: a
// child process that exits in the middle of a test, as a -timeout panic
// does) leaves namespaces; the next StartT, or SweepStale, removes them.
func TestSweepStale(t *testing.T) {
	if dir := os.Getenv("NETNSFLEET_DIE_IN"); dir != "" {
		f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2, Dir: dir})
		for _, h := range f.Hosts {
			fmt.Println("NETNS", h.Netns)
		}
		os.Exit(3) // no t.Cleanup runs
	}
	if err := netnsfleet.Available(); err != nil {
		if os.Getenv(netnsfleet.EnvRequired) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSweepStale$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NETNSFLEET_DIE_IN="+dir)
	out, err := cmd.Output()
	if exitCode(err) != 3 {
		t.Fatalf("child: %v: %s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(line, "NETNS "); ok {
			names = append(names, n)
		}
	}
	t.Cleanup(func() { // should the sweep fail, still leave nothing behind
		if f, err := netnsfleet.Load(dir); err == nil {
			f.Close()
		}
	})
	if len(names) != 2 || !strings.Contains(netnsList(t), names[0]) {
		t.Fatalf("child left %q; ip netns list:\n%s", names, netnsList(t))
	}
	if _, err := netnsfleet.SweepStale(); err != nil {
		t.Fatal(err)
	}
	list := netnsList(t)
	for _, n := range names {
		if strings.Contains(list, n) {
			t.Errorf("%s survived SweepStale", n)
		}
		if _, err := os.Stat("/etc/netns/" + n); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/etc/netns/%s survived SweepStale", n)
		}
	}
}
