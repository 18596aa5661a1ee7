package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

func TestParseMix(t *testing.T) {
	m, err := ParseMix("linux=50%, windows=20%,solaris=10,aix=8%,hpux=7%,tru64=5%")
	if err != nil || m.String() != DefaultMix.String() {
		t.Fatalf("ParseMix = %v, %v", m, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"linux=60%,windows=20%", "the shares add up to 80%, want 100%"},
		{"linux=50%,beos=50%", `unknown OS family "beos"`},
		{"linux", `"linux": want FAMILY=PERCENT`},
		{"linux=x", "linux=x: want a percentage"},
		{"linux=50%,linux=50%", "linux is given twice"},
	} {
		if _, err := ParseMix(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseMix(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestMixFleet(t *testing.T) {
	specs := MixFleet(1000, DefaultMix)
	fam := map[string]int{}
	prof := map[string]map[Profile]int{}
	seen := map[string]bool{}
	for _, s := range specs {
		fam[s.OS]++
		if prof[s.OS] == nil {
			prof[s.OS] = map[Profile]int{}
		}
		prof[s.OS][s.Profile]++
		if seen[s.Name] {
			t.Fatalf("name %s twice", s.Name)
		}
		seen[s.Name] = true
		if _, err := NewHost(s.Name, s.OS, s.Release); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
	}
	want := map[string]int{"linux": 500, "windows": 200, "solaris": 100, "aix": 80, "hpux": 70, "tru64": 50}
	for f, n := range want {
		if fam[f] != n {
			t.Errorf("%s: %d hosts, want %d", f, fam[f], n)
		}
		if got := prof[f][ProfileExhausted]; got < n*15/100-1 || got > n*15/100+1 {
			t.Errorf("%s: %d exhausted, want %d", f, got, n*15/100)
		}
	}
	if specs[0].Name != "lnx-0001" || specs[1].OS != "windows" {
		t.Errorf("first hosts %+v %+v: the families are not interleaved", specs[0], specs[1])
	}
	// 12 hosts of the default mix hold all six families and all four
	// profiles.
	f12, p12 := map[string]bool{}, map[Profile]bool{}
	for _, s := range MixFleet(12, DefaultMix) {
		f12[s.OS], p12[s.Profile] = true, true
	}
	if len(f12) != 6 || len(p12) != 4 {
		t.Errorf("12 hosts hold %d families (%v) and %d profiles (%v)", len(f12), f12, len(p12), p12)
	}
}

// A shared-listener fleet: every family behind one SSH and one WinRM port,
// each host on its own loopback address with its own host key; the
// product's client reaches them from the written inventory.
func TestSharedFleet(t *testing.T) {
	dir := t.TempDir()
	l, err := Start(context.Background(), Options{Specs: MixFleet(24, DefaultMix), Shared: true, Dir: dir, Seed: 7})
	if err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("no SO_BINDTODEVICE here: %v", err)
		}
		t.Fatal(err)
	}
	defer l.Close()
	sshPort, winPort := l.SharedPorts()
	if sshPort == 0 || winPort == 0 || sshPort == winPort {
		t.Fatalf("ports %d %d", sshPort, winPort)
	}
	addrs := map[string]bool{}
	for _, h := range l.Hosts() {
		host, port, _ := net.SplitHostPort(l.Addr(h.Name))
		want := sshPort
		if h.OS == "windows" {
			want = winPort
		}
		if port != fmt.Sprint(want) || !strings.HasPrefix(host, "127.1.0.") || addrs[host] {
			t.Errorf("%s at %s", h.Name, l.Addr(h.Name))
		}
		addrs[host] = true
	}
	// Two Unix hosts and a Linux one over real SSH, by address: each
	// answers as itself, with its own host key (known_hosts is strict).
	for _, name := range []string{"lnx-01", "sol-01", "aix-01"} {
		c, err := xdial(t, l, name, "root")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if out, _, _ := xrun(t, c, "hostname"); out != name+"\n" {
			t.Errorf("%s answers as %q", name, out)
		}
		if n := l.Connections(name); n != 1 {
			t.Errorf("%s: %d connections, want 1", name, n)
		}
	}
	if l.Connections("lnx-02") != 0 {
		t.Error("a host nobody dialled counts a connection")
	}
	// WinRM through the shared port, with a certificate for the host's
	// address from the lab CA.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := remote.Dial(ctx, invHost(t, l, "win-01"), remote.Options{Getenv: func(n string) string {
		if n == PasswordEnv {
			return l.Password()
		}
		return ""
	}})
	if err != nil {
		t.Fatalf("winrm: %v", err)
	}
	defer s.Close()
	res, err := s.Run(context.Background(), "hostname")
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "win-01" {
		t.Errorf("winrm hostname: %q %v", res.Stdout, err)
	}

	// The inventory groups by family and by profile; lab.env is private.
	inv := invHost(t, l, "lnx-01")
	if !inv.InGroup("linux") || !inv.InGroup(string(l.Host("lnx-01").Load.Profile)) {
		t.Errorf("lnx-01 groups %v", inv.Groups)
	}
	st, err := os.Stat(filepath.Join(dir, EnvFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("lab.env: %v %v", st, err)
	}
	env, _ := os.ReadFile(filepath.Join(dir, EnvFile))
	if !strings.Contains(string(env), PasswordEnv+"='"+l.Password()+"'\n") {
		t.Errorf("lab.env: %s", env)
	}
}

// Faults by rate: the same seed picks the same hosts and kinds; a refused
// host's inventory port refuses for real.
func TestFaultRate(t *testing.T) {
	start := func() *Lab {
		l, err := Start(context.Background(), Options{Specs: MixFleet(40, DefaultMix), Shared: true, Dir: t.TempDir(), Seed: 3, FaultRate: 0.25})
		if err != nil {
			if errors.Is(err, syscall.EPERM) {
				t.Skipf("no SO_BINDTODEVICE here: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	a, b := start(), start()
	n := 0
	kinds := map[string]bool{}
	for _, h := range a.Hosts() {
		if a.Fault(h.Name) != b.Fault(h.Name) {
			t.Errorf("%s: fault %q then %q with the same seed", h.Name, a.Fault(h.Name), b.Fault(h.Name))
		}
		if f := a.Fault(h.Name); f != "" {
			n++
			kinds[f] = true
		}
	}
	if n != 10 {
		t.Errorf("%d faulty hosts, want 10 (25%% of 40)", n)
	}
	for _, h := range a.Hosts() {
		ih := invHost(t, a, h.Name)
		switch a.Fault(h.Name) {
		case "refused":
			port := ih.SSH.Port
			if ih.Transport == "winrm" {
				port = ih.WinRM.Port
			}
			_, err := net.DialTimeout("tcp", net.JoinHostPort(ih.Address, fmt.Sprint(port)), 2*time.Second)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s (refused): dial %s:%d: %v", h.Name, ih.Address, port, err)
			}
		case "auth":
			if h.OS != "windows" {
				if _, err := xdial(t, a, h.Name, "root"); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
					t.Errorf("%s (auth): %v", h.Name, err)
				}
			}
		}
	}
	if len(kinds) < 3 {
		t.Errorf("fault kinds %v: the seed should spread them", kinds)
	}
}
