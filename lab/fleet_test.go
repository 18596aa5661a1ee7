package lab

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

func TestDefaultFleet(t *testing.T) {
	got := DefaultFleet(9)
	want := []Spec{
		{Name: "sol10-01", OS: "solaris", Release: "5.10"},
		{Name: "sol11-01", OS: "solaris", Release: "5.11"},
		{Name: "hpux-01", OS: "hpux", Release: "B.11.31"},
		{Name: "hpux-02", OS: "hpux", Release: "B.11.23"},
		{Name: "aix-01", OS: "aix", Release: "7.2"},
		{Name: "aix-02", OS: "aix", Release: "7.3"},
		{Name: "tru64-01", OS: "tru64", Release: "V5.1B"},
		{Name: "sol10-02", OS: "solaris", Release: "5.10"},
		{Name: "sol11-02", OS: "solaris", Release: "5.11"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultFleet(9) =\n%v\nwant\n%v", got, want)
	}
	if !reflect.DeepEqual(DefaultFleet(9), got) {
		t.Error("DefaultFleet is not stable")
	}
	big := DefaultFleet(200)
	seen := map[string]bool{}
	for _, s := range big {
		if seen[s.Name] || !hostNameRE.MatchString(s.Name) {
			t.Fatalf("bad or duplicate name %q", s.Name)
		}
		seen[s.Name] = true
	}
	if len(DefaultFleet(0)) != 0 {
		t.Error("DefaultFleet(0) is not empty")
	}
}

func TestFilesAndInventory(t *testing.T) {
	dir := t.TempDir()
	hosts := []*Host{newSrvHost("t1"), newSrvHost("t2"), newSrvHost("t3")}
	hosts[1].OS = "otheros"
	l, err := Start(context.Background(), Options{Hosts: hosts, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	if fi, err := os.Stat(l.ClientKey); err != nil || fi.Mode().Perm() != 0o600 || l.ClientKey != filepath.Join(dir, "id_ed25519") {
		t.Errorf("client key %s: %v %v", l.ClientKey, fi.Mode(), err)
	}
	data, _ := os.ReadFile(l.ClientKey)
	if key, err := ssh.ParsePrivateKey(data); err != nil || string(key.PublicKey().Marshal()) != string(l.ClientSigner().PublicKey().Marshal()) {
		t.Errorf("client key does not parse as the lab's key: %v", err)
	}

	kh, _ := os.ReadFile(l.KnownHosts)
	lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "# ") {
		t.Fatalf("known_hosts:\n%s", kh)
	}
	for i, h := range hosts {
		want := "[127.0.0.1]:" + strconv.Itoa(l.Port(h.Name)) + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(l.HostKey(h.Name))))
		if lines[i+1] != want {
			t.Errorf("known_hosts line %d = %q, want %q", i+2, lines[i+1], want)
		}
	}

	invAll, err := inventory.Load(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range invAll.Hosts {
		names = append(names, h.Name)
		if h.Addr() != "127.0.0.1" || h.SSH.Port != l.Port(h.Name) || h.User != "root" || h.OS != "" ||
			h.SSH.KnownHosts != l.KnownHosts || !slices.Equal(h.SSH.IdentityFiles, []string{l.ClientKey}) ||
			h.SSH.HostKeyChecking != "strict" || h.Transport != "ssh" {
			t.Errorf("inventory host %+v", h)
		}
	}
	if !slices.Equal(names, []string{"t1", "t2", "t3"}) {
		t.Errorf("inventory order %v", names)
	}
	if !invAll.Host("t2").InGroup("otheros") || invAll.Host("t2").InGroup("testos") || !invAll.Host("t3").InGroup("testos") {
		t.Errorf("groups: t2 %v, t3 %v", invAll.Host("t2").Groups, invAll.Host("t3").Groups)
	}

	rows := l.Table()
	if len(rows) != 3 || !slices.Equal(rows[1], []string{"t2", "otheros", "5.10", l.Addr("t2"), "", ""}) {
		t.Errorf("Table = %v", rows)
	}
	if l.Host("nope") != nil || l.Addr("nope") != "" || l.Connections("nope") != 0 {
		t.Error("an unknown host is found")
	}
	if err := l.SetFaults("nope", Faults{}); err == nil {
		t.Error("SetFaults on an unknown host")
	}
}

func TestInventoryPathAndRestart(t *testing.T) {
	dir := t.TempDir()
	invPath := filepath.Join(dir, "lab.yaml")
	l, err := Start(context.Background(), Options{Hosts: []*Host{newSrvHost("t1")}, Dir: dir, Inventory: invPath})
	if err != nil {
		t.Fatal(err)
	}
	if l.Inventory != invPath {
		t.Errorf("Inventory = %s", l.Inventory)
	}
	if _, err := os.Stat(filepath.Join(dir, "inventory.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Error("inventory.yaml written beside the chosen inventory path")
	}
	l.Close()
	// The lab's own files may be replaced by the next lab.
	l, err = Start(context.Background(), Options{Hosts: []*Host{newSrvHost("t1")}, Dir: dir, Inventory: invPath})
	if err != nil {
		t.Fatalf("restart in the same directory: %v", err)
	}
	l.Close()
}

func TestStartRefusesForeignFiles(t *testing.T) {
	for _, f := range []string{"id_ed25519", "known_hosts"} {
		dir := t.TempDir()
		p := filepath.Join(dir, f)
		os.WriteFile(p, []byte("precious\n"), 0o600)
		_, err := Start(context.Background(), Options{Hosts: []*Host{newSrvHost("t1")}, Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "not written by the lab") {
			t.Errorf("%s: err = %v", f, err)
		}
		if b, _ := os.ReadFile(p); string(b) != "precious\n" {
			t.Errorf("%s overwritten", f)
		}
	}
}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no hosts", Options{}, "no hosts"},
		{"unknown OS", Options{Specs: []Spec{{Name: "x-01", OS: "plan9", Release: "4"}}}, "x-01"},
		{"bad transport", Options{Specs: []Spec{{Name: "s-01", OS: "solaris", Release: "5.10", Transport: "telnet"}}}, "transport \"telnet\""},
		{"winrm for unix", Options{Specs: []Spec{{Name: "s-01", OS: "solaris", Release: "5.10", Transport: "winrm"}}}, "only Windows hosts"},
		{"duplicate", Options{Hosts: []*Host{newSrvHost("t1"), newSrvHost("t1")}}, "listed twice"},
		{"bad name", Options{Hosts: []*Host{newSrvHost("T 1")}}, "host name"},
		{"ports overflow", Options{Hosts: []*Host{newSrvHost("t1"), newSrvHost("t2")}, Listen: "127.0.0.1:65535"}, "do not fit"},
	} {
		_, err := Start(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	base := runtime.NumGoroutine()
	l, err := Start(context.Background(), Options{Hosts: []*Host{newSrvHost("t1"), newSrvHost("t2"), newSrvHost("t3")}})
	if err != nil {
		t.Fatal(err)
	}
	dir := l.Dir
	var addrs []string
	var clients []*ssh.Client
	for _, h := range l.Hosts() {
		addrs = append(addrs, l.Addr(h.Name))
		c, err := xdial(t, l, h.Name, "root")
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		if o, _, _ := xrun(t, c, "echo up"); o != "up\n" {
			t.Fatalf("%s: %q", h.Name, o)
		}
	}
	// A command in flight, waiting out a long delay, and a connection that
	// never finishes its handshake.
	l.SetFaults("t1", Faults{Delay: time.Hour})
	s, _ := clients[0].NewSession()
	if err := s.Start("echo never"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delayed command", func() bool { return l.running("t1") == 1 })
	raw, err := net.Dial("tcp", addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	eventually(t, "the raw connection", func() bool { return l.OpenConnections("t2") == 2 })

	closed := make(chan error)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	if err := s.Wait(); err == nil {
		t.Error("the delayed command finished cleanly after Close")
	}
	for _, c := range clients {
		c.Wait()
		c.Close()
	}
	raw.Close()
	for _, a := range addrs {
		if c, err := net.Dial("tcp", a); !errors.Is(err, syscall.ECONNREFUSED) {
			if c != nil {
				c.Close()
			}
			t.Errorf("%s still accepts after Close: %v", a, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary dir %s left behind", dir)
	}
	if l.Close() != nil {
		t.Error("second Close failed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d after Close, %d before\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDefaultFleetDetects serves the real emulators and checks that
// fleettune's OS detection, through remote and the lab shell, names each
// host's OS and release as its spec does. It skips while an emulator is
// missing.
func TestDefaultFleetDetects(t *testing.T) {
	specs := DefaultFleet(7)
	for _, sp := range specs {
		if _, err := NewHost(sp.Name, sp.OS, sp.Release); err != nil {
			t.Skipf("emulator not ready: %v", err)
		}
	}
	l, err := Start(context.Background(), Options{Specs: specs, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, sp := range specs {
		s, err := rdial(t, invHost(t, l, sp.Name))
		if err != nil {
			t.Fatalf("%s: %v", sp.Name, err)
		}
		os, rel, err := platform.Detect(context.Background(), s)
		if err != nil || os != sp.OS || !strings.HasPrefix(sp.Release, rel) || rel == "" {
			t.Errorf("%s: detected %q %q %v, want %s %s", sp.Name, os, rel, err, sp.OS, sp.Release)
		}
	}
}

func TestListenAddresses(t *testing.T) {
	t.Run("ipv6 loopback", func(t *testing.T) {
		if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
			t.Skipf("no IPv6 loopback here: %v", err)
		} else {
			ln.Close()
		}
		l := startTestLab(t, 1, Options{Listen: "::1"})
		kh, _ := os.ReadFile(l.KnownHosts)
		if !strings.Contains(string(kh), "\n[::1]:"+strconv.Itoa(l.Port("t1"))+" ssh-ed25519 ") {
			t.Errorf("known_hosts:\n%s", kh)
		}
		h := invHost(t, l, "t1")
		if h.Addr() != "::1" {
			t.Errorf("address %q", h.Addr())
		}
		s, err := rdial(t, h)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := s.Run(context.Background(), "uname -n"); err != nil || string(res.Stdout) != "t1\n" {
			t.Errorf("uname -n: %q %v", res.Stdout, err)
		}
	})
	t.Run("base port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base > 65000 {
			t.Skip("free port too high for three hosts")
		}
		var hosts []*Host
		for _, n := range []string{"t1", "t2", "t3"} {
			hosts = append(hosts, newSrvHost(n))
		}
		l, err := Start(context.Background(), Options{Hosts: hosts, Dir: t.TempDir(), Listen: "127.0.0.1:" + strconv.Itoa(base)})
		if errors.Is(err, syscall.EADDRINUSE) {
			t.Skipf("port taken meanwhile: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i, h := range hosts {
			if l.Port(h.Name) != base+i || invHost(t, l, h.Name).SSH.Port != base+i {
				t.Errorf("%s: port %d, want %d", h.Name, l.Port(h.Name), base+i)
			}
		}
	})
}

func TestWindowsHostsInInventory(t *testing.T) {
	win := &Host{Name: "win1", OS: "windows", Files: map[string]string{}, Boots: 1, Emu: fakeCmd{}}
	l, err := Start(context.Background(), Options{Hosts: []*Host{newSrvHost("t1"), win}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	inv, err := inventory.Load(l.Inventory)
	if err != nil {
		t.Fatalf("the lab's inventory does not load: %v", err)
	}
	h := inv.Host("win1")
	want := inventory.WinRM{Port: l.Port("win1"), HTTPS: true, Auth: "ntlm", PasswordEnv: PasswordEnv, CAFile: l.CAFile}
	if h == nil || h.Transport != "winrm" || h.OS != "windows" || h.User != WinRMUser || h.Address != "127.0.0.1" || !reflect.DeepEqual(h.WinRM, want) {
		t.Fatalf("win1 = %+v; want winrm as Administrator with %+v", h, want)
	}
	if u := inv.Host("t1"); u == nil || u.Transport != "ssh" || u.SSH.Port != l.Port("t1") {
		t.Errorf("t1 = %+v; want ssh on its port", u)
	}
	if l.CAFile != filepath.Join(l.Dir, CAFile) {
		t.Errorf("CAFile = %s", l.CAFile)
	}
	pemData, err := os.ReadFile(l.CAFile)
	if err != nil || !strings.HasPrefix(string(pemData), "-----BEGIN CERTIFICATE-----") {
		t.Errorf("ca.pem: %v %.40q", err, pemData)
	}
	kh, _ := os.ReadFile(l.KnownHosts)
	if strings.Contains(string(kh), ":"+strconv.Itoa(l.Port("win1"))+"]") {
		t.Errorf("known_hosts has a line for the Windows host:\n%s", kh)
	}
	if len(l.Password()) < 12 {
		t.Errorf("Password() = %q; want a random password", l.Password())
	}
	if l.HostKey("win1") != nil || l.Host("win1") != win || l.Addr("win1") == "" {
		t.Errorf("HostKey/Host/Addr wrong for a Windows host")
	}
	rows := l.Table()
	if len(rows) != 2 || rows[1][0] != "win1" || rows[1][1] != "windows" {
		t.Errorf("Table = %v", rows)
	}
	// Basic over HTTP is written as such, without a ca_file.
	l2, err := Start(context.Background(), Options{Hosts: []*Host{{Name: "win2", OS: "windows", Files: map[string]string{}, Boots: 1, Emu: fakeCmd{}}},
		Dir: t.TempDir(), WinRMAuth: "basic", WinRMHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	inv, err = inventory.Load(l2.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	if w := inv.Host("win2").WinRM; w.HTTPS || w.Auth != "basic" || w.CAFile != "" || w.Port != l2.Port("win2") {
		t.Errorf("win2 winrm = %+v; want basic over http on its port", w)
	}
	if _, err := Start(context.Background(), Options{Hosts: []*Host{newSrvHost("t9")}, WinRMAuth: "kerberos"}); err == nil {
		t.Error("WinRMAuth kerberos accepted")
	}
}
