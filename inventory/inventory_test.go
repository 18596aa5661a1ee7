package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/yamlx"
)

const tdir = "testdata"

// fakeHome points ~ at a temporary directory for the test.
func fakeHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

func mustLoad(t *testing.T, file string) *Inventory {
	t.Helper()
	inv, err := Load(filepath.Join(tdir, file))
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	return inv
}

func mustParse(t *testing.T, src string) *Inventory {
	t.Helper()
	inv, err := Parse("inv.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return inv
}

// plain is h without what the tests of settings do not spell out: where
// each value came from, and the ssh_config files consulted.
func plain(h Host) Host {
	h.Sources = nil
	h.SSH.ConfigFiles = nil
	return h
}

func names(hs []*Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func absTestdata(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(tdir)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// The contract's example (with its ranges quoted, see
// TestContractVerbatimNeedsQuotes) resolves to exactly these hosts.
func TestContractExample(t *testing.T) {
	home := fakeHome(t)
	inv := mustLoad(t, "contract.yaml")

	data, err := os.ReadFile(filepath.Join(tdir, "contract.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := "sha256:" + hex.EncodeToString(sum[:]); inv.Digest != want {
		t.Errorf("Digest = %s, want %s", inv.Digest, want)
	}
	if want := filepath.Join(tdir, "contract.yaml"); inv.File != want {
		t.Errorf("File = %q, want the path as given, %q", inv.File, want)
	}
	if got, want := inv.Groups(), []string{"all", "web", "db", "windows", "legacy"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Groups() = %v, want %v", got, want)
	}

	var wantNames []string
	for i := 1; i <= 20; i++ {
		wantNames = append(wantNames, fmt.Sprintf("web%02d.example.com", i))
	}
	wantNames = append(wantNames, "db1.example.com", "db2.example.com",
		"win1.corp.example.com", "win2.corp.example.com", "win3.corp.example.com", "win4.corp.example.com")
	if got := names(inv.Hosts); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("Hosts = %v\nwant %v", got, wantNames)
	}

	ssh := SSH{
		Port:            22,
		IdentityFiles:   []string{filepath.Join(home, ".ssh/id_ed25519")},
		KnownHosts:      filepath.Join(home, ".ssh/known_hosts"),
		HostKeyChecking: "strict",
		Become:          "none",
	}
	winrm := WinRM{Port: 5986, HTTPS: true, Auth: "ntlm", PasswordEnv: "FLEETTUNE_WINRM_PASSWORD"}
	dbSSH := ssh
	dbSSH.Become = "sudo"
	db2SSH := dbSSH
	db2SSH.Port = 2222

	want := map[string]Host{
		"web01.example.com": {Name: "web01.example.com", Groups: []string{"all", "web"},
			Transport: "ssh", User: "root", Timeout: 30 * time.Second, SSH: ssh, WinRM: winrm},
		"web20.example.com": {Name: "web20.example.com", Groups: []string{"all", "web"},
			Transport: "ssh", User: "root", Timeout: 30 * time.Second, SSH: ssh, WinRM: winrm},
		// db's partial ssh: block keeps port 22 from defaults.
		"db1.example.com": {Name: "db1.example.com", Groups: []string{"all", "db", "legacy"},
			Transport: "ssh", User: "ops", Timeout: 30 * time.Second, SSH: dbSSH, WinRM: winrm},
		// db's user and become, then the host's own address, os and port.
		"db2.example.com": {Name: "db2.example.com", Address: "10.0.0.12", OS: "solaris", Groups: []string{"all", "db", "legacy"},
			Transport: "ssh", User: "ops", Timeout: 30 * time.Second, SSH: db2SSH, WinRM: winrm},
		"win1.corp.example.com": {Name: "win1.corp.example.com", Groups: []string{"all", "windows", "legacy"},
			Transport: "winrm", User: "Administrator", Timeout: 30 * time.Second, SSH: ssh, WinRM: winrm},
		"win4.corp.example.com": {Name: "win4.corp.example.com", Groups: []string{"all", "windows", "legacy"},
			Transport: "winrm", User: "Administrator", Timeout: 30 * time.Second, SSH: ssh, WinRM: winrm},
	}
	for name, w := range want {
		h := inv.Host(name)
		if h == nil {
			t.Errorf("Host(%q) = nil", name)
			continue
		}
		if !reflect.DeepEqual(plain(*h), w) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, plain(*h), w)
		}
	}
	if got := inv.Host("db2.example.com").Addr(); got != "10.0.0.12" {
		t.Errorf("db2 Addr() = %q, want 10.0.0.12", got)
	}
	if got := inv.Host("db1.example.com").Addr(); got != "db1.example.com" {
		t.Errorf("db1 Addr() = %q, want its name", got)
	}
	if inv.Host("web21.example.com") != nil || inv.Host("web1.example.com") != nil {
		t.Errorf("Host() found a host the range does not produce")
	}
}

// The contract's example verbatim is not valid YAML: in a [ ] flow list an
// unquoted '[' opens a nested list. The error says so, at the range.
func TestContractVerbatimNeedsQuotes(t *testing.T) {
	_, err := Load(filepath.Join(tdir, "contract_verbatim.yaml"))
	want := filepath.Join(tdir, "contract_verbatim.yaml") + `:24:13: invalid YAML: did not find expected ',' or ']'; ` +
		`a host range inside [ ] must be quoted, as in ["web[01:20].example.com"], or written as a block list item (- web[01:20].example.com)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if _, ok := yamlx.AsError(err); !ok {
		t.Errorf("err is %T, want *yamlx.Error", err)
	}
}

// Defaults, then groups in the order the file lists them (through children
// too), then the host's own keys; ssh: merges key by key; lists replace.
func TestPrecedence(t *testing.T) {
	home := fakeHome(t)
	inv := mustLoad(t, "precedence.yaml")
	dir := absTestdata(t)

	if got, want := names(inv.Hosts), []string{"app1", "app2", "solo", "extra.example.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Hosts = %v, want %v (first appearance)", got, want)
	}
	if got, want := inv.Groups(), []string{"all", "early", "app", "late", "outer", "empty"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Groups() = %v, want %v", got, want)
	}
	fleetKey := []string{filepath.Join(home, ".ssh/fleet")}
	for _, tc := range []struct {
		host     string
		groups   []string
		user     string
		timeout  time.Duration
		os       string
		become   string
		identity []string
	}{
		// early (via children) < app < host.
		{"app1", []string{"all", "early", "app", "outer"}, "own", 5 * time.Second, "aix", "none", fleetKey},
		// early < app < late: the later group wins; late's ssh.become, defaults' port.
		{"app2", []string{"all", "early", "app", "late", "outer"}, "late", 5 * time.Second, "aix", "sudo", fleetKey},
		// the host's identity_files replace the defaults' list.
		{"solo", []string{"all", "late"}, "late", 30 * time.Second, "", "sudo", []string{filepath.Join(dir, "keys/solo")}},
		{"extra.example.com", []string{"all"}, "root", 30 * time.Second, "", "none", fleetKey},
	} {
		h := inv.Host(tc.host)
		if h == nil {
			t.Fatalf("no host %s", tc.host)
		}
		got := fmt.Sprint(h.Groups, h.User, h.Timeout, h.OS, h.SSH.Become, h.SSH.Port, h.SSH.IdentityFiles)
		want := fmt.Sprint(tc.groups, tc.user, tc.timeout, tc.os, tc.become, 2200, tc.identity)
		if got != want {
			t.Errorf("%s: got  %s\n      want %s", tc.host, got, want)
		}
	}
	// Hosts do not share the identity_files slice.
	inv.Host("app1").SSH.IdentityFiles[0] = "changed"
	if inv.Host("app2").SSH.IdentityFiles[0] == "changed" {
		t.Errorf("hosts share one identity_files slice")
	}
}

func TestWinRMServerName(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte(`
defaults:
  transport: winrm
  winrm: {server_name: win.corp.example.com}
hosts:
  w1: {address: 10.0.0.5}
  w2: {address: 10.0.0.6, winrm: {server_name: "10.0.0.6"}}
  w3: {winrm: {server_name: "::1"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"w1": "win.corp.example.com", "w2": "10.0.0.6", "w3": "::1"} {
		if got := inv.Host(host).WinRM.ServerName; got != want {
			t.Errorf("%s: server_name = %q, want %q", host, got, want)
		}
	}
}

func TestWinRM(t *testing.T) {
	fakeHome(t)
	inv := mustLoad(t, "winrm.yaml")
	dir := absTestdata(t)
	for _, tc := range []struct {
		host string
		want WinRM
	}{
		{"w1", WinRM{Port: 5985, HTTPS: false, Auth: "ntlm", PasswordEnv: "FLEETTUNE_WINRM_PASSWORD"}},
		{"w4", WinRM{Port: 15985, HTTPS: false, Auth: "ntlm", PasswordEnv: "FLEETTUNE_WINRM_PASSWORD"}},
		{"w2", WinRM{Port: 5986, HTTPS: false, Auth: "ntlm", PasswordEnv: "FLEETTUNE_WINRM_PASSWORD"}},
		{"w3", WinRM{Port: 5986, HTTPS: true, Auth: "basic", PasswordEnv: "WIN_PW",
			CAFile: filepath.Join(dir, "certs/corp-ca.pem"), InsecureSkipVerify: true}},
	} {
		h := inv.Host(tc.host)
		if h.Transport != "winrm" || !reflect.DeepEqual(h.WinRM, tc.want) {
			t.Errorf("%s: transport %s, winrm %+v; want winrm, %+v", tc.host, h.Transport, h.WinRM, tc.want)
		}
	}
}

// With no defaults in the file, a host gets what OpenSSH would use.
func TestBuiltinDefaults(t *testing.T) {
	home := fakeHome(t)
	inv := mustParse(t, "hosts:\n  h1:\n")
	h := inv.Host("h1")
	want := Host{
		Name: "h1", Groups: []string{"all"},
		Transport: "ssh", User: currentUser(), Timeout: 30 * time.Second,
		SSH: SSH{
			Port: 22,
			IdentityFiles: []string{filepath.Join(home, ".ssh/id_ed25519"), filepath.Join(home, ".ssh/id_ecdsa"),
				filepath.Join(home, ".ssh/id_rsa")},
			KnownHosts:      filepath.Join(home, ".ssh/known_hosts"),
			HostKeyChecking: "strict",
			Become:          "none",
		},
		WinRM: WinRM{Port: 5986, HTTPS: true, Auth: "ntlm", PasswordEnv: "FLEETTUNE_WINRM_PASSWORD"},
	}
	if h.User == "" {
		t.Errorf("no user from the OS or $USER")
	}
	if !reflect.DeepEqual(plain(*h), want) {
		t.Errorf("got  %+v\nwant %+v", plain(*h), want)
	}
}

// ~ and ~/ are the home directory; relative paths are taken from the
// inventory file's directory, even when that is given relative to the
// working directory; absolute paths stay.
func TestPaths(t *testing.T) {
	home := fakeHome(t)
	src := `
defaults:
  ssh:
    identity_files: ["~/.ssh/a", keys/b, /etc/fleet/c, "~", ../d]
    known_hosts: known_hosts
  winrm:
    ca_file: ~/ca.pem
`
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"inv.yaml", "site/prod/inv.yaml", "/srv/fleet/inv.yaml"} {
		inv, err := Parse(file, []byte(src+"hosts: {h: }\n"))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(file)
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(cwd, dir)
		}
		h := inv.Host("h")
		want := []string{filepath.Join(home, ".ssh/a"), filepath.Join(dir, "keys/b"), "/etc/fleet/c", home, filepath.Join(filepath.Dir(dir), "d")}
		if !reflect.DeepEqual(h.SSH.IdentityFiles, want) {
			t.Errorf("%s: identity_files = %v\nwant %v", file, h.SSH.IdentityFiles, want)
		}
		if want := filepath.Join(dir, "known_hosts"); h.SSH.KnownHosts != want {
			t.Errorf("%s: known_hosts = %s, want %s", file, h.SSH.KnownHosts, want)
		}
		if want := filepath.Join(home, "ca.pem"); h.WinRM.CAFile != want {
			t.Errorf("%s: ca_file = %s, want %s", file, h.WinRM.CAFile, want)
		}
	}
}

// Keys the contract shows with their non-default values are all read.
func TestEveryKey(t *testing.T) {
	fakeHome(t)
	inv := mustParse(t, `
defaults:
  transport: winrm
  user: deploy
  timeout: 1m30s
  os: hpux
  ssh:
    port: 2022
    identity_files: []
    known_hosts: /etc/ssh/ssh_known_hosts
    host_key_checking: accept-new
    proxy_jump: jump@bastion.example.com:2200,[2001:db8::1]:22
    become: sudo
    password_env: SSH_PW
  winrm:
    port: 443
    https: true
    auth: basic
    password_env: _WIN_PW2
    ca_file: ""
    insecure_skip_verify: false
hosts:
  h:
    os: tru64
    ssh:
      proxy_jump: ""
      proxy_command: "/usr/bin/nc -X connect -x proxy:3128 %h %p # %r %%"
      host_key_checking: off
`)
	h := inv.Host("h")
	want := Host{
		Name: "h", OS: "tru64", Groups: []string{"all"},
		Transport: "winrm", User: "deploy", Timeout: 90 * time.Second,
		SSH: SSH{Port: 2022, IdentityFiles: []string{}, KnownHosts: "/etc/ssh/ssh_known_hosts", HostKeyChecking: "off",
			ProxyCommand: "/usr/bin/nc -X connect -x proxy:3128 %h %p # %r %%", Become: "sudo", PasswordEnv: "SSH_PW"},
		WinRM: WinRM{Port: 443, HTTPS: true, Auth: "basic", PasswordEnv: "_WIN_PW2"},
	}
	if !reflect.DeepEqual(plain(*h), want) {
		t.Errorf("got  %+v\nwant %+v", plain(*h), want)
	}
}

// Aliases resolve; ranges work as hosts: keys; null groups and hosts are empty.
func TestShapes(t *testing.T) {
	fakeHome(t)
	inv := mustParse(t, `
defaults: &base
  user: base
groups:
  racks:
    hosts:
      - r[1:2]-[a:b]
  nothing:
hosts:
  "r[1:2]-a":
    user: rack-a
  solo: *base
`)
	if got, want := names(inv.Hosts), []string{"r1-a", "r1-b", "r2-a", "r2-b", "solo"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Hosts = %v, want %v", got, want)
	}
	for name, user := range map[string]string{"r1-a": "rack-a", "r1-b": "base", "r2-a": "rack-a", "solo": "base"} {
		if got := inv.Host(name).User; got != user {
			t.Errorf("%s: user %q, want %q", name, got, user)
		}
	}
}

func TestEmptyInventory(t *testing.T) {
	for _, src := range []string{"", "# nothing yet\n", "defaults:\n  user: x\n"} {
		inv := mustParse(t, src)
		if len(inv.Hosts) != 0 || !reflect.DeepEqual(inv.Groups(), []string{"all"}) {
			t.Errorf("%q: hosts %v, groups %v", src, names(inv.Hosts), inv.Groups())
		}
		if _, err := inv.Select(""); err == nil || err.Error() != "inventory inv.yaml has no hosts" {
			t.Errorf("%q: Select on an empty inventory: %v", src, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Load(missing) = %v; want an error naming %s that is os.ErrNotExist", err, path)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// Every kind of bad input is a *yamlx.Error with the file, line and column
// of the offending value and a message that says what was expected.
func TestParseErrors(t *testing.T) {
	fakeHome(t)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"top-level list", "- a\n",
			`inv.yaml:1:1: expected a mapping at the top level, found a list`},
		{"unknown top-level key", "hostz:\n  a:\n",
			`inv.yaml:1:1: inventory: unknown key "hostz" (expected one of: defaults, groups, hosts); did you mean "hosts"?`},
		{"unknown ssh key", "defaults:\n  user: root\n  ssh:\n    becom: sudo\n",
			`inv.yaml:4:5: defaults.ssh: unknown key "becom" (expected one of: become, config, host_key_checking, identity_files, known_hosts, password_env, port, proxy_command, proxy_jump); did you mean "become"?`},
		{"unknown winrm key", "defaults:\n  winrm: {http: false}\n",
			`inv.yaml:2:11: defaults.winrm: unknown key "http" (expected one of: auth, ca_file, https, insecure_skip_verify, password_env, port, server_name); did you mean "https"?`},
		{"unknown defaults key", "defaults:\n  vars: {}\n",
			`inv.yaml:2:3: defaults: unknown key "vars" (expected one of: address, os, ssh, timeout, transport, user, winrm)`},
		{"address in defaults", "defaults:\n  address: 10.0.0.1\n",
			`inv.yaml:2:3: defaults: address is set per host, under hosts:`},
		{"unknown group key", "groups:\n  web:\n    vars: {}\n",
			`inv.yaml:3:5: group web: unknown key "vars" (expected one of: children, hosts, settings)`},
		{"unknown group settings key", "groups:\n  web:\n    settings: {usr: x}\n",
			`inv.yaml:3:16: group web: settings: unknown key "usr" (expected one of: address, os, ssh, timeout, transport, user, winrm); did you mean "user"?`},
		{"unknown host key", "hosts:\n  h1:\n    adress: 10.0.0.1\n",
			`inv.yaml:3:5: host h1: unknown key "adress" (expected one of: address, os, ssh, timeout, transport, user, winrm); did you mean "address"?`},
		{"duplicate settings key", "defaults:\n  user: a\n  user: b\n",
			`inv.yaml:3:3: defaults: duplicate key "user" (first at line 2)`},
		{"user is a number", "defaults:\n  user: 0\n",
			`inv.yaml:2:9: defaults.user: expected a string, found an integer`},
		{"user empty", "defaults:\n  user: \"\"\n",
			`inv.yaml:2:9: defaults.user: must not be empty`},
		{"user with a space", "hosts:\n  h:\n    user: \"a b\"\n",
			`inv.yaml:3:11: host h: user: "a b" contains whitespace or a control character`},
		{"timeout without unit", "defaults:\n  timeout: 30\n",
			`inv.yaml:2:12: defaults.timeout: 30 has no unit; write a Go duration such as 30s`},
		{"timeout zero", "defaults:\n  timeout: 0s\n",
			`inv.yaml:2:12: defaults.timeout: must be greater than 0`},
		{"timeout garbage", "defaults:\n  timeout: soon\n",
			`inv.yaml:2:12: defaults.timeout: "soon" is not a duration (expected e.g. 30s, 5m, 1h30m)`},
		{"bad transport", "defaults:\n  transport: ssh2\n",
			`inv.yaml:2:14: defaults.transport: "ssh2" is not one of: ssh, winrm; did you mean "ssh"?`},
		{"bad os", "hosts:\n  h:\n    os: sunos\n",
			`inv.yaml:3:9: host h: os: "sunos" is not one of: linux, windows, solaris, hpux, aix, tru64`},
		{"os in group settings", "groups:\n  g:\n    settings: {os: Linux}\n",
			`inv.yaml:3:20: group g: settings.os: "Linux" is not one of: linux, windows, solaris, hpux, aix, tru64; did you mean "linux"?`},
		{"ssh port zero", "defaults:\n  ssh: {port: 0}\n",
			`inv.yaml:2:15: defaults.ssh.port: 0 is not a port (expected 1-65535)`},
		{"winrm port too big", "hosts:\n  h:\n    winrm:\n      port: 65536\n",
			`inv.yaml:4:13: host h: winrm.port: 65536 is not a port (expected 1-65535)`},
		{"port as a string", "defaults:\n  ssh: {port: \"22\"}\n",
			`inv.yaml:2:15: defaults.ssh.port: expected an integer, found the string "22"`},
		{"host_key_checking no", "defaults:\n  ssh: {host_key_checking: no}\n",
			`inv.yaml:2:28: defaults.ssh.host_key_checking: "no" is not one of: strict, accept-new, off`},
		{"become yes", "defaults:\n  ssh: {become: yes}\n",
			`inv.yaml:2:17: defaults.ssh.become: "yes" is not one of: none, sudo`},
		{"become true", "defaults:\n  ssh: {become: true}\n",
			`inv.yaml:2:17: defaults.ssh.become: expected a string, found a boolean`},
		{"https as a string", "defaults:\n  winrm: {https: \"yes\"}\n",
			`inv.yaml:2:18: defaults.winrm.https: expected true or false, found the string "yes"`},
		{"server_name with a port", "defaults:\n  winrm: {server_name: \"win1.corp:5986\"}\n",
			`inv.yaml:2:24: defaults.winrm.server_name: "win1.corp:5986" is not a host name: give the name the host's certificate is issued to, without scheme or port`},
		{"server_name as a URL", "defaults:\n  winrm: {server_name: \"https://win1\"}\n",
			`inv.yaml:2:24: defaults.winrm.server_name: "https://win1" is not a host name: give the name the host's certificate is issued to, without scheme or port`},
		{"bad winrm auth", "defaults:\n  winrm: {auth: kerberos}\n",
			`inv.yaml:2:17: defaults.winrm.auth: "kerberos" is not one of: basic, ntlm`},
		{"password in password_env", "defaults:\n  ssh: {password_env: \"hunter2!\"}\n",
			`inv.yaml:2:23: defaults.ssh.password_env: this does not look like an environment variable name (letters, digits and _, not starting with a digit); password_env takes the NAME of a variable that holds the password, never the password itself`},
		{"winrm password_env starting with a digit", "defaults:\n  winrm: {password_env: 1PW}\n",
			`inv.yaml:2:25: defaults.winrm.password_env: this does not look like an environment variable name (letters, digits and _, not starting with a digit); password_env takes the NAME of a variable that holds the password, never the password itself`},
		{"identity_files not a list", "defaults:\n  ssh: {identity_files: {a: b}}\n",
			`inv.yaml:2:25: defaults.ssh.identity_files: expected a list, found a mapping`},
		{"identity_files ~user", "defaults:\n  ssh: {identity_files: [\"~bob/.ssh/id\"]}\n",
			`inv.yaml:2:26: defaults.ssh.identity_files: "~bob/.ssh/id": only ~ and ~/ are expanded (to your home directory), not ~user`},
		{"empty known_hosts", "defaults:\n  ssh: {known_hosts: \"\"}\n",
			`inv.yaml:2:22: defaults.ssh.known_hosts: expected a file path, found an empty string`},
		{"proxy_jump bad port", "defaults:\n  ssh: {proxy_jump: \"bastion:99999\"}\n",
			`inv.yaml:2:21: defaults.ssh.proxy_jump: "bastion:99999": port "99999" is not 1-65535 (expected [user@]host[:port], comma-separated for several hops)`},
		{"proxy_jump with a space", "defaults:\n  ssh: {proxy_jump: \"bas tion\"}\n",
			`inv.yaml:2:21: defaults.ssh.proxy_jump: "bas tion": host "bas tion" contains ' '; use letters, digits, '.', '-', '_' and ':' only (expected [user@]host[:port], comma-separated for several hops)`},
		{"proxy_command unknown token", "defaults:\n  ssh: {proxy_command: \"nc %h %n\"}\n",
			`inv.yaml:2:24: defaults.ssh.proxy_command: "nc %h %n": unknown token %n (known: %h host, %p port, %r user, %% a literal %)`},
		{"proxy_jump and proxy_command inherited", "defaults:\n  ssh: {proxy_jump: bastion}\ngroups:\n  g:\n    hosts: [h]\n    settings:\n      ssh: {proxy_command: \"nc %h %p\"}\n",
			`inv.yaml:7:28: host h: both ssh.proxy_jump (line 2) and ssh.proxy_command (line 7) apply; keep one, and where the other is inherited set it to ""`},
		{"settings not a mapping", "groups:\n  web:\n    settings: [user]\n",
			`inv.yaml:3:15: group web: settings: expected a mapping, found a list`},
		{"group hosts not a list", "groups:\n  web:\n    hosts: {a: b}\n",
			`inv.yaml:3:12: group web: hosts: expected a list, found a mapping`},
		{"group host a number", "groups:\n  web:\n    hosts: [10]\n",
			`inv.yaml:3:13: group web: hosts: expected a string, found an integer`},
		{"bad range start after end", "groups:\n  web:\n    hosts:\n      - web[20:01]\n",
			`inv.yaml:4:9: group web: bad host range "web[20:01]": start 20 is after end 01`},
		{"bad range mixed", "groups:\n  web:\n    hosts: [\"web[1:c]\"]\n",
			`inv.yaml:3:13: group web: bad host range "web[1:c]": [1:c]: mixes a number and a letter; both ends must be numbers or both single letters`},
		{"bad range unbalanced", "groups:\n  web:\n    hosts:\n      - a\n      - web[1:3\n",
			`inv.yaml:5:9: group web: bad host range "web[1:3": unbalanced '['`},
		{"bad range stride zero", "groups:\n  web:\n    hosts: [\"web[01:20:0]\"]\n",
			`inv.yaml:3:13: group web: bad host range "web[01:20:0]": stride must be at least 1, found 0`},
		{"bad range in hosts key", "hosts:\n  \"db[b:a]\":\n",
			`inv.yaml:2:3: hosts: bad host range "db[b:a]": start b is after end a`},
		{"range in a flow list", "groups:\n  web:\n    hosts: [a, web[1:2]]\n",
			`inv.yaml:3:16: invalid YAML: did not find expected ',' or ']'; a host range inside [ ] must be quoted, as in ["web[1:2]"], or written as a block list item (- web[1:2])`},
		{"children undefined", "groups:\n  db: {}\n  legacy:\n    children: [windows, dbs]\n  windows: {}\n",
			`inv.yaml:4:25: group legacy: children: group "dbs" is not defined; did you mean "db"?`},
		{"children all", "groups:\n  g:\n    children: [all]\n",
			`inv.yaml:3:16: group g: children: "all" is implicit and cannot be a child`},
		{"children twice", "groups:\n  a: {}\n  g:\n    children: [a, a]\n",
			`inv.yaml:4:19: group g: children: group "a" is listed twice (first at line 4)`},
		{"children cycle", "groups:\n  a:\n    children: [b]\n  b:\n    children: [c]\n  c:\n    children: [a]\n",
			`inv.yaml:7:16: group c: children: cycle a -> b -> c -> a`},
		{"children self", "groups:\n  a:\n    hosts: [h]\n    children: [a]\n",
			`inv.yaml:4:16: group a: children: cycle a -> a`},
		{"define all", "groups:\n  all:\n    hosts: [h]\n",
			`inv.yaml:2:3: groups: "all" is implicit (every host is in it) and cannot be defined`},
		{"bad group name", "groups:\n  \"db*\":\n    hosts: [h]\n",
			`inv.yaml:2:3: groups: group name "db*": use letters, digits, '_', '-' and '.', starting with a letter, digit or '_'`},
		{"duplicate group", "groups:\n  web: {}\n  db: {}\n  web: {}\n",
			`inv.yaml:4:3: groups: duplicate group "web" (first at line 2, again at line 4)`},
		{"group named like a host", "groups:\n  db1:\n    hosts: [db1]\n",
			`inv.yaml:2:3: group "db1" has the same name as a host (line 3); --limit could not tell them apart`},
		{"duplicate host in a group", "groups:\n  web:\n    hosts:\n      - web1\n      - web2\n      - web1\n",
			`inv.yaml:6:9: group web: duplicate host "web1": listed at line 4 and listed at line 6`},
		{"duplicate host through a range", "groups:\n  web:\n    hosts:\n      - web[01:10]\n      - web05\n",
			`inv.yaml:5:9: group web: duplicate host "web05": from "web[01:10]" at line 4 and listed at line 5`},
		{"duplicate hosts key", "hosts:\n  db1:\n    user: a\n  db2: {}\n  db1:\n    user: b\n",
			`inv.yaml:5:3: hosts: duplicate host "db1" (first at line 2, again at line 5)`},
		{"duplicate hosts key through a range", "hosts:\n  db2: {}\n  \"db[1:3]\": {}\n",
			`inv.yaml:3:3: hosts: duplicate host "db2": listed at line 2 and from "db[1:3]" at line 3`},
		{"hosts key a number", "hosts:\n  1234: {}\n",
			`inv.yaml:2:3: hosts: a host name must be a string, found an integer`},
		{"host name with a space", "groups:\n  g:\n    hosts: [\"web 1\"]\n",
			`inv.yaml:3:13: group g: host name "web 1" contains ' '; use letters, digits, '.', '-', '_' and ':' only`},
		{"host name an option", "hosts:\n  -oProxyCommand=sh: {}\n",
			`inv.yaml:2:3: hosts: host name "-oProxyCommand=sh" must not start with '-'`},
		{"host name with a shell metacharacter", "hosts:\n  \"a;reboot\": {}\n",
			`inv.yaml:2:3: hosts: host name "a;reboot" contains ';'; use letters, digits, '.', '-', '_' and ':' only`},
		{"host name with a port", "groups:\n  g:\n    hosts: [\"db1:2222\"]\n",
			`inv.yaml:3:13: group g: host name "db1:2222": a port does not belong in the name; set ssh: {port: N} or winrm: {port: N}`},
		{"empty host name", "groups:\n  g:\n    hosts: [\"\"]\n",
			`inv.yaml:3:13: group g: host name must not be empty`},
		{"host named all", "hosts:\n  all: {}\n",
			`inv.yaml:2:3: host name "all" is reserved for the group of every host`},
		{"bad address", "hosts:\n  h:\n    address: \"10.0.0.1; reboot\"\n",
			`inv.yaml:3:14: host h: address: address "10.0.0.1; reboot" contains ';'; use letters, digits, '.', '-', '_' and ':' only`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse("inv.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded with hosts %v; want error\n%s", names(inv.Hosts), tc.want)
			}
			if _, ok := yamlx.AsError(err); !ok {
				t.Errorf("error is %T, want *yamlx.Error", err)
			}
			if err.Error() != tc.want {
				t.Errorf("\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

// A password written where its variable's name belongs is not echoed.
func TestPasswordNotEchoed(t *testing.T) {
	_, err := Parse("inv.yaml", []byte("hosts:\n  h:\n    winrm: {password_env: \"S3cr3t!pass\"}\n"))
	if err == nil || strings.Contains(err.Error(), "S3cr3t") {
		t.Errorf("err = %v; want an error that does not show the value", err)
	}
}

func TestExpandRange(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"db1.example.com", []string{"db1.example.com"}},
		{"web[01:03].example.com", []string{"web01.example.com", "web02.example.com", "web03.example.com"}},
		{"web[08:11]", []string{"web08", "web09", "web10", "web11"}},
		{"n[1:4]", []string{"n1", "n2", "n3", "n4"}},
		{"n[9:11]", []string{"n9", "n10", "n11"}},
		{"n[0:2]", []string{"n0", "n1", "n2"}},
		{"n[001:003]", []string{"n001", "n002", "n003"}},
		{"web[01:20:5]", []string{"web01", "web06", "web11", "web16"}},
		{"web[1:20:5]", []string{"web1", "web6", "web11", "web16"}},
		{"n[3:3]", []string{"n3"}},
		{"rack-[a:d]", []string{"rack-a", "rack-b", "rack-c", "rack-d"}},
		{"[A:C]x", []string{"Ax", "Bx", "Cx"}},
		{"[a:g:3]", []string{"a", "d", "g"}},
		{"r[1:2]n[a:b].dc[01:02]", []string{
			"r1na.dc01", "r1na.dc02", "r1nb.dc01", "r1nb.dc02",
			"r2na.dc01", "r2na.dc02", "r2nb.dc01", "r2nb.dc02"}},
	} {
		got, err := ExpandRange(tc.pattern)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ExpandRange(%q) = %v, %v; want %v", tc.pattern, got, err, tc.want)
		}
	}
}

func TestExpandRangeErrors(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{"web[20:01]", `bad host range "web[20:01]": start 20 is after end 01`},
		{"web[f:a]", `bad host range "web[f:a]": start f is after end a`},
		{"web[1:c]", `bad host range "web[1:c]": [1:c]: mixes a number and a letter; both ends must be numbers or both single letters`},
		{"web[a:Z]", `bad host range "web[a:Z]": [a:Z]: start and end must be letters of the same case`},
		{"web[aa:zz]", `bad host range "web[aa:zz]": [aa:zz]: ends must be numbers or single letters`},
		{"web[1:3", `bad host range "web[1:3": unbalanced '['`},
		{"web[1:[3]]", `bad host range "web[1:[3]]": unbalanced '['`},
		{"web1:3]", `bad host range "web1:3]": unbalanced ']'`},
		{"web[1:3]]", `bad host range "web[1:3]]": unbalanced ']'`},
		{"web[1:9:0]", `bad host range "web[1:9:0]": stride must be at least 1, found 0`},
		{"web[1:9:-1]", `bad host range "web[1:9:-1]": stride "-1" is not a positive integer`},
		{"web[1]", `bad host range "web[1]": [1]: expected [START:END] or [START:END:STRIDE]`},
		{"web[]", `bad host range "web[]": []: expected [START:END] or [START:END:STRIDE]`},
		{"web[:5]", `bad host range "web[:5]": [:5]: expected [START:END] or [START:END:STRIDE], with both ends given`},
		{"web[1:2:3:4]", `bad host range "web[1:2:3:4]": [1:2:3:4]: expected [START:END] or [START:END:STRIDE]`},
		{"web[01:100]", `bad host range "web[01:100]": zero-padded start 01 and end 100 differ in width`},
		{"web[0:1000000]", `bad host range "web[0:1000000]": expands to more than 100000 names`},
		{"a[1:1000]b[1:1000]", `bad host range "a[1:1000]b[1:1000]": expands to more than 100000 names`},
		{"web[1:9999999999]", `bad host range "web[1:9999999999]": [1:9999999999]: numbers longer than 9 digits`},
	} {
		got, err := ExpandRange(tc.pattern)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ExpandRange(%q) = %v, %v\nwant error %s", tc.pattern, got, err, tc.want)
		}
	}
}

func TestSelect(t *testing.T) {
	fakeHome(t)
	inv := mustLoad(t, "contract.yaml")
	webs := func(nums ...int) []string {
		var out []string
		for _, n := range nums {
			out = append(out, fmt.Sprintf("web%02d.example.com", n))
		}
		return out
	}
	allWeb := webs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	dbs := []string{"db1.example.com", "db2.example.com"}
	wins := []string{"win1.corp.example.com", "win2.corp.example.com", "win3.corp.example.com", "win4.corp.example.com"}
	cat := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	for _, tc := range []struct {
		limit string
		want  []string
	}{
		{"", cat(allWeb, dbs, wins)},
		{"all", cat(allWeb, dbs, wins)},
		{"*", cat(allWeb, dbs, wins)},
		{"db2.example.com", []string{"db2.example.com"}},
		{"db", dbs},
		{"legacy", cat(dbs, wins)}, // through children
		// inventory order, not the order of the patterns, and each host once
		{"windows,db2.example.com,db,web03.example.com", cat(webs(3), dbs, wins)},
		{"db*", dbs}, // the group db and the hosts db1, db2
		{"web0?.example.com", webs(1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{"web1[5-9]*", webs(15, 16, 17, 18, 19)},
		{"w*", cat(allWeb, wins)},                                              // groups web and windows
		{"web,db*,!db2.example.com", cat(allWeb, []string{"db1.example.com"})}, // the contract's example
		{"legacy,!windows", dbs},
		{"!web", cat(dbs, wins)}, // only exclusions: start from every host
		{"!web,!windows", dbs},
		{"db,!nosuchhost", dbs}, // an exclusion that matches nothing is fine
		{"legacy,&db", dbs},
		{"all,&legacy,!db1*", cat([]string{"db2.example.com"}, wins)},
		{" db , windows ,", cat(dbs, wins)}, // spaces and an empty item are ignored
	} {
		hs, err := inv.Select(tc.limit)
		if err != nil {
			t.Errorf("Select(%q): %v", tc.limit, err)
			continue
		}
		if got := names(hs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Select(%q) = %v\nwant %v", tc.limit, got, tc.want)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	fakeHome(t)
	inv := mustLoad(t, "precedence.yaml")
	for _, tc := range []struct{ limit, want string }{
		{"apps", `--limit: "apps" matches no host or group; did you mean "app"?`},
		{"app,dbx", `--limit: "dbx" matches no host or group`},
		{"slo", `--limit: "slo" matches no host or group; did you mean "solo"?`},
		{"web*", `--limit: "web*" matches no host or group`},
		{"al*", `--limit: "al*" matches no host or group`}, // "all" is matched by name only
		{"empty", `--limit: "empty" matches no host (group empty has no hosts)`},
		{"em*", `--limit: "em*" matches no host (group empty has no hosts)`},
		{"app,&nosuch", `--limit: "nosuch" matches no host or group`},
		{"app,!app", `--limit "app,!app" selects no hosts`},
		{"app,&late,!app2", `--limit "app,&late,!app2" selects no hosts`},
		{"!all", `--limit "!all" selects no hosts`},
		{"app,!", `--limit "app,!": "!" must be followed by a host, group or pattern`},
		{",", `--limit ",": no host, group or pattern given`},
		{"app[", `--limit: bad pattern "app[": syntax error in pattern`},
		{"app,!app[", `--limit: bad pattern "app[": syntax error in pattern`},
	} {
		hs, err := inv.Select(tc.limit)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Select(%q) = %v, %v\nwant error %s", tc.limit, names(hs), err, tc.want)
		}
	}
}

// Select returns a fresh slice: a caller may reorder or cut it.
func TestSelectCopies(t *testing.T) {
	inv := mustParse(t, "hosts: {a: , b: }\n")
	hs, _ := inv.Select("")
	hs[0] = nil
	if inv.Hosts[0] == nil {
		t.Errorf("Select(\"\") returned inv.Hosts itself")
	}
}

func TestFromHostsSelect(t *testing.T) {
	hs := []*Host{
		{Name: "web01", Groups: []string{"all", "web"}},
		{Name: "web02", Groups: []string{"all", "web"}},
		{Name: "db1", Groups: []string{"all", "db"}},
	}
	inv := FromHosts("journal", hs)
	for _, tc := range []struct{ limit, want string }{
		{"", "web01,web02,db1"},
		{"web", "web01,web02"},
		{"web*,!web02", "web01"},
		{"db1", "db1"},
	} {
		got, err := inv.Select(tc.limit)
		if err != nil {
			t.Fatalf("Select(%q): %v", tc.limit, err)
		}
		var names []string
		for _, h := range got {
			names = append(names, h.Name)
		}
		if strings.Join(names, ",") != tc.want {
			t.Errorf("Select(%q) = %v, want %s", tc.limit, names, tc.want)
		}
	}
	if _, err := inv.Select("cache"); err == nil {
		t.Error("a pattern matching nothing must be an error")
	}
}
