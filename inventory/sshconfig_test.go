package inventory

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sshG runs `ssh -G alias -F file` and returns its keywords (lower case),
// each with its values in order. ssh -G resolves without connecting and
// without DNS.
func sshG(t *testing.T, file, alias string) map[string][]string {
	t.Helper()
	out, err := exec.Command("ssh", "-G", "-F", file, alias).Output()
	if err != nil {
		t.Fatalf("ssh -G -F %s %s: %v", file, alias, err)
	}
	m := map[string][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(l, " ")
		if ok {
			k = strings.ToLower(k)
			m[k] = append(m[k], v)
		}
	}
	return m
}

// realHome makes $HOME the passwd home, which is what ssh expands ~ to.
func realHome(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		t.Skip("no passwd home directory")
	}
	t.Setenv("HOME", u.HomeDir)
	return u.HomeDir
}

// sshConfigFixture copies testdata/sshconfig to a temporary directory, with
// @DIR@ replaced by that directory (for absolute Includes).
func sshConfigFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(tdir, "sshconfig")
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), []byte(strings.ReplaceAll(string(data), "@DIR@", dir)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// The resolution of every alias equals what `ssh -G` prints for it.
func TestSSHConfigMatchesOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	home := realHome(t)
	dir := sshConfigFixture(t)
	local := currentUser()
	cases := map[string][]string{
		"jumphosts.conf": {"bastion", "db1.internal", "db9.internal", "dbx.internal", "db.internal", "web.internal", "legacy7", "LEGACY7", "web01", "other.example.com"},
		"includes.conf":  {"app1", "app2", "app3", "cache", "elsewhere"},
		"match.conf":     {"first", "second"},
	}
	for file, aliases := range cases {
		cfg := filepath.Join(dir, file)
		inv, err := LoadAll([]string{strings.Join(aliases, ",") + ","}, nil, Options{SSHConfigFiles: []string{cfg}})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, alias := range aliases {
			t.Run(file+"/"+alias, func(t *testing.T) {
				h := inv.Host(alias)
				g := sshG(t, cfg, alias)
				one := func(k string) string { return g[k][0] }
				if strings.ToLower(h.Addr()) != one("hostname") {
					t.Errorf("hostname: got %q, ssh -G %q", h.Addr(), one("hostname"))
				}
				if strconv.Itoa(h.SSH.Port) != one("port") {
					t.Errorf("port: got %d, ssh -G %s", h.SSH.Port, one("port"))
				}
				if h.User != one("user") {
					t.Errorf("user: got %q, ssh -G %q", h.User, one("user"))
				}
				if got := map[bool]string{true: "yes", false: "no"}[h.SSH.IdentitiesOnly]; got != one("identitiesonly") {
					t.Errorf("identitiesonly: got %s, ssh -G %s", got, one("identitiesonly"))
				}
				// ssh -G prints identity files unexpanded; expand them here
				// from the values it printed.
				rep := strings.NewReplacer("%%", "%", "%h", one("hostname"), "%r", one("user"), "%u", local, "%p", one("port"), "%n", alias, "%d", home)
				var want []string
				for _, f := range g["identityfile"] {
					if strings.HasPrefix(f, "~/") {
						f = home + f[1:]
					}
					want = append(want, rep.Replace(f))
				}
				defaults := []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa"}
				isDefault := len(want) == len(defaults)
				for i := range want {
					isDefault = isDefault && want[i] == filepath.Join(home, ".ssh", defaults[i])
				}
				if !isDefault && !slices.Equal(h.SSH.IdentityFiles, want) {
					t.Errorf("identityfile: got %q, ssh -G %q", h.SSH.IdentityFiles, want)
				}
				if kh := strings.Fields(one("userknownhostsfile"))[0]; kh != "none" && kh != home+"/.ssh/known_hosts" && h.SSH.KnownHosts != kh {
					t.Errorf("userknownhostsfile: got %q, ssh -G %q", h.SSH.KnownHosts, kh)
				}
				if kh := strings.Fields(one("userknownhostsfile"))[0]; kh == "none" && h.SSH.KnownHosts != os.DevNull {
					t.Errorf("userknownhostsfile none: got %q", h.SSH.KnownHosts)
				}
				shk := map[string]string{"true": "strict", "ask": "strict", "accept-new": "accept-new", "false": "off"}[one("stricthostkeychecking")]
				if h.SSH.HostKeyChecking != shk {
					t.Errorf("stricthostkeychecking: got %q, ssh -G %q", h.SSH.HostKeyChecking, one("stricthostkeychecking"))
				}
				ct := "none"
				if h.SSH.ConnectTimeout > 0 {
					ct = strconv.Itoa(int(h.SSH.ConnectTimeout / time.Second))
				}
				if ct != one("connecttimeout") {
					t.Errorf("connecttimeout: got %s, ssh -G %s", ct, one("connecttimeout"))
				}
				if got := strconv.Itoa(int(h.SSH.ServerAliveInterval / time.Second)); got != one("serveraliveinterval") {
					t.Errorf("serveraliveinterval: got %s, ssh -G %s", got, one("serveraliveinterval"))
				}
				// ProxyJump: each hop resolved by ssh -G itself.
				var hops []string
				if j, ok := g["proxyjump"]; ok {
					for _, hop := range strings.Split(j[0], ",") {
						u, rest, found := strings.Cut(hop, "@")
						if !found {
							u, rest = "", hop
						}
						name, port, _ := strings.Cut(rest, ":")
						hg := sshG(t, cfg, name)
						if u == "" {
							u = hg["user"][0]
						}
						if port == "" {
							port = hg["port"][0]
						}
						hops = append(hops, fmt.Sprintf("%s@%s:%s", u, hg["hostname"][0], port))
					}
				}
				if got := h.SSH.ProxyJump; got != strings.Join(hops, ",") {
					t.Errorf("proxyjump: got %q, ssh -G gives %q", got, strings.Join(hops, ","))
				}
				wantPC := ""
				if pc, ok := g["proxycommand"]; ok {
					wantPC = strings.ReplaceAll(pc[0], "%n", alias)
				}
				if h.SSH.ProxyCommand != wantPC {
					t.Errorf("proxycommand: got %q, ssh -G %q", h.SSH.ProxyCommand, wantPC)
				}
				if src := h.Sources["user"]; one("user") != local && !strings.Contains(src, filepath.Base(cfg)) && !strings.Contains(src, "config.d") {
					t.Errorf("Sources[user] = %q; want the ssh_config file and line", src)
				}
			})
		}
	}
}

// A Match block is reported with its file and line, and not applied.
func TestSSHConfigMatchReported(t *testing.T) {
	fakeHome(t)
	dir := sshConfigFixture(t)
	cfg := filepath.Join(dir, "match.conf")
	var warned []string
	inv, err := LoadAll([]string{"second,"}, nil, Options{SSHConfigFiles: []string{cfg}, Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], cfg+":5: a Match block is not evaluated") {
		t.Errorf("warnings = %q; want one naming %s:5", warned, cfg)
	}
	if !slices.Equal(inv.Warnings, warned) {
		t.Errorf("Inventory.Warnings = %q, want %q", inv.Warnings, warned)
	}
	if h := inv.Host("second"); h.User == "matched" || h.SSH.Port != 2022 {
		t.Errorf("second: user %q port %d; want the Match block skipped and Port 2022 from Host *", h.User, h.SSH.Port)
	}
}

// What the inventory says wins over ssh_config; config: none opts out;
// config: FILE points at another file; Sources say which was used.
func TestSSHConfigInventoryWins(t *testing.T) {
	home := fakeHome(t)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	userCfg := filepath.Join(home, ".ssh", "config")
	if err := os.WriteFile(userCfg, []byte("Host *\n  User fromconfig\n  Port 2200\n  HostName real.example.net\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(home, "other.conf")
	if err := os.WriteFile(other, []byte("Host b\n  Port 2300\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := mustParse(t, `
defaults: {user: ops}
hosts:
  a: {ssh: {port: 22}}
  b: {ssh: {config: `+other+`}}
  c: {ssh: {config: none}}
`)
	a, b, c := inv.Host("a"), inv.Host("b"), inv.Host("c")
	if a.User != "ops" || a.SSH.Port != 22 || a.Addr() != "real.example.net" {
		t.Errorf("a: user %q port %d addr %q; want ops, 22 (inventory) and real.example.net (ssh_config)", a.User, a.SSH.Port, a.Addr())
	}
	if want := userCfg + ":4 (ssh_config)"; a.Sources["address"] != want {
		t.Errorf("a: Sources[address] = %q, want %q", a.Sources["address"], want)
	}
	if want := "inv.yaml:2 (defaults)"; a.Sources["user"] != want {
		t.Errorf("a: Sources[user] = %q, want %q", a.Sources["user"], want)
	}
	if b.SSH.Port != 2300 || b.Addr() != "b" || !slices.Equal(b.SSH.ConfigFiles, []string{other}) {
		t.Errorf("b: port %d addr %q files %q; want only %s consulted", b.SSH.Port, b.Addr(), b.SSH.ConfigFiles, other)
	}
	if c.SSH.Port != 22 || c.Addr() != "c" || len(c.SSH.ConfigFiles) != 0 || c.Sources["ssh.port"] != "default" {
		t.Errorf("c: port %d addr %q files %q sources %q; want no ssh_config at all", c.SSH.Port, c.Addr(), c.SSH.ConfigFiles, c.Sources["ssh.port"])
	}
}

// A name that does not resolve is reported with whether ssh_config was
// consulted (remote adds this note to a DNS failure).
func TestAddressNote(t *testing.T) {
	home := fakeHome(t)
	inv := mustParse(t, "hosts:\n  a: {}\n  b: {ssh: {config: none}}\n  c: {address: 10.1.1.1}\n")
	if n := inv.Host("a").AddressNote(); !strings.Contains(n, "ssh_config consulted ("+filepath.Join(home, ".ssh", "config")+", /etc/ssh/ssh_config) and gives no HostName for a") {
		t.Errorf("a: %s", n)
	}
	if n := inv.Host("b").AddressNote(); !strings.HasPrefix(n, "ssh_config not consulted (ssh: {config: none})") {
		t.Errorf("b: %s", n)
	}
	if n := inv.Host("c").AddressNote(); n != "address 10.1.1.1 from inv.yaml:4 (host c)" {
		t.Errorf("c: %s", n)
	}
}

// An Include glob is listed once for the whole inventory, not per host:
// a file that appears after the first host was resolved is not seen by
// the next ones (all hosts see one snapshot of the directory).
func TestSSHConfigIncludeGlobListedOnce(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte("Include "+filepath.Join(dir, "conf.d", "*")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "a"), []byte("Host *\n    Port 2201\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newSSHConfigs(dir, func(string) {})
	first, err := c.resolve([]string{cfg}, "web1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "0"), []byte("Host *\n    Port 2202\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	second, err := c.resolve([]string{cfg}, "web2")
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := first.values["port"], second.values["port"]
	if len(p1) != 1 || len(p2) != 1 || p1[0].value != "2201" || p2[0].value != "2201" || len(c.globs) != 1 {
		t.Errorf("ports %v then %v, %d globs kept; want 2201 from conf.d/a for both, from one listing", p1, p2, len(c.globs))
	}
}

// ~/.ssh/config as ssh reads it by default: a relative Include is taken
// from ~/.ssh, the first value wins across files, "none" turns a proxy off,
// and /etc/ssh/ssh_config comes after the user's file.
func TestSSHConfigDefaultFiles(t *testing.T) {
	home := fakeHome(t)
	dir := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "config"), "Include conf.d/*\nHost direct\n    ProxyJump none\nHost *\n    ProxyJump jump.example.net\n    User fallback\n")
	write(filepath.Join(dir, "conf.d", "b"), "Host web\n    Port 2202\n")
	write(filepath.Join(dir, "conf.d", "a"), "Host web\n    Port 2201\n    User webops\n")
	inv, err := LoadAll([]string{"web,direct,"}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	web, direct := inv.Host("web"), inv.Host("direct")
	if web.SSH.Port != 2201 || web.User != "webops" || web.SSH.ProxyJump != "fallback@jump.example.net:22" {
		t.Errorf("web: port %d user %q jump %q; want 2201 (conf.d/a sorts first), webops, and the jump host resolved through the same config (Host * gives it User fallback)", web.SSH.Port, web.User, web.SSH.ProxyJump)
	}
	if want := filepath.Join(dir, "conf.d", "a") + ":2 (ssh_config)"; web.Sources["ssh.port"] != want {
		t.Errorf("web: Sources[ssh.port] = %q, want %q", web.Sources["ssh.port"], want)
	}
	if direct.SSH.ProxyJump != "" || direct.User != "fallback" {
		t.Errorf("direct: jump %q user %q; want ProxyJump none to win over Host *", direct.SSH.ProxyJump, direct.User)
	}
	if !slices.Equal(web.SSH.ConfigFiles, []string{filepath.Join(dir, "config"), "/etc/ssh/ssh_config"}) {
		t.Errorf("ConfigFiles = %q", web.SSH.ConfigFiles)
	}
}
