package inventory

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const adir = "testdata/ansible"

func loadQuiet(t *testing.T, paths ...string) (*Inventory, []string) {
	t.Helper()
	inv, err := LoadAll(paths, nil, Options{NoSSHConfig: true})
	if err != nil {
		t.Fatalf("LoadAll(%q): %v", paths, err)
	}
	return inv, inv.Warnings
}

// shape is what must agree between formats: hosts, groups and members,
// and the connection values that matter.
func shape(inv *Inventory) map[string]string {
	out := map[string]string{}
	var hs []string
	for _, h := range inv.Hosts {
		hs = append(hs, h.Name)
		out["host "+h.Name] = strings.Join([]string{h.Transport, h.User, h.Addr(), strconv.Itoa(h.SSH.Port), strconv.Itoa(h.WinRM.Port),
			h.SSH.ProxyJump, h.SSH.ProxyCommand, h.SSH.Become, h.SSH.HostKeyChecking, strings.Join(h.SSH.IdentityFiles, ";")}, "|")
	}
	sort.Strings(hs)
	out["hosts"] = strings.Join(hs, ",")
	for _, g := range inv.Groups() {
		ms, _ := inv.members(g)
		var m []string
		for _, h := range ms {
			m = append(m, h.Name)
		}
		sort.Strings(m)
		out["group "+g] = strings.Join(m, ",")
	}
	return out
}

func diffShapes(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		if got[k] != want[k] {
			t.Errorf("%s: %s:\n got %q\nwant %q", what, k, got[k], want[k])
		}
	}
}

// The same fleet from an INI inventory, a YAML one and the --list JSON
// (captured from ansible-inventory 2.14) gives the same hosts, groups and
// connection settings.
func TestSameFleetINIYAMLJSON(t *testing.T) {
	fakeHome(t)
	ini, _ := loadQuiet(t, filepath.Join(adir, "fleet.ini"))
	want := shape(ini)
	if want["hosts"] != "bastion.example.net,db1.example.com,db2.example.com,web01.example.com,web02.example.com,web03.example.com,web04.example.com,win1.corp.example.com" {
		t.Fatalf("fleet.ini hosts = %s", want["hosts"])
	}
	for key, w := range map[string]string{
		"group legacy":    "db1.example.com,db2.example.com,win1.corp.example.com",
		"group ungrouped": "bastion.example.net",
		"group web":       "web01.example.com,web02.example.com,web03.example.com,web04.example.com",
	} {
		if want[key] != w {
			t.Errorf("fleet.ini: %s = %q, want %q", key, want[key], w)
		}
	}
	db2 := ini.Host("db2.example.com")
	if db2.User != "postgres" || db2.Addr() != "10.0.0.22" || db2.SSH.Port != 2222 || db2.SSH.Become != "sudo" || db2.SSH.ProxyJump != "ops@bastion.example.net" {
		t.Errorf("db2 = %+v", *db2)
	}
	if b := ini.Host("bastion.example.net"); b.SSH.ProxyJump != "" || b.User != "ops" {
		t.Errorf("bastion: proxy_jump %q user %q; want none (its own empty ssh args win) and ops", b.SSH.ProxyJump, b.User)
	}
	if w := ini.Host("win1.corp.example.com"); w.Transport != "winrm" || w.WinRM.Port != 5986 || w.User != "deploy" {
		t.Errorf("win1 = %+v", *w)
	}
	for _, f := range []string{"fleet.yaml", "fleet.json"} {
		inv, _ := loadQuiet(t, filepath.Join(adir, f))
		diffShapes(t, f, shape(inv), want)
	}
	// And the JSON from standard input, as ansible-inventory --list | fleettune -i -.
	data, err := os.ReadFile(filepath.Join(adir, "fleet.json"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := LoadAll([]string{"-"}, bytes.NewReader(data), Options{NoSSHConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	diffShapes(t, "-i - (fleet.json)", shape(inv), want)
}

// Fixtures after real public inventories (testdata/ansible/README.md).
func TestAnsibleFixtures(t *testing.T) {
	home := fakeHome(t)
	k, _ := loadQuiet(t, filepath.Join(adir, "kubespray.ini"))
	got := shape(k)
	if got["group k8s-cluster"] != "node1,node2,node3,node4,node5,node6" || got["group calico-rr"] != "" || got["group etcd"] != "node1,node2,node3" {
		t.Errorf("kubespray groups: k8s-cluster %q calico-rr %q etcd %q", got["group k8s-cluster"], got["group calico-rr"], got["group etcd"])
	}
	if n := k.Host("node1"); n.Addr() != "95.54.0.12" {
		t.Errorf("node1 address %q (the # comment after it must be ignored)", n.Addr())
	}
	if b := k.Host("bastion"); b.User != "some_user" || b.Addr() != "95.54.0.10" {
		t.Errorf("bastion = %+v", *b)
	}
	if hs, err := k.Select("k8s-cluster,!node1"); err != nil || len(hs) != 5 {
		t.Errorf("--limit k8s-cluster,!node1: %d hosts, %v", len(hs), err)
	}

	tf, _ := loadQuiet(t, filepath.Join(adir, "terraform-hosts.ini"))
	w := tf.Host("webserver")
	if w.Addr() != "203.0.113.40" || w.User != "ubuntu" || w.SSH.HostKeyChecking != "accept-new" ||
		!slices.Equal(w.SSH.IdentityFiles, []string{filepath.Join(home, ".ssh/thomas_perso.pem")}) {
		t.Errorf("webserver = %+v", *w)
	}
	if src := w.Sources["ssh.host_key_checking"]; !strings.HasPrefix(src, filepath.Join(adir, "terraform-hosts.ini")+":7 (ansible var ansible_ssh_common_args") {
		t.Errorf("Sources[ssh.host_key_checking] = %q", src)
	}

	d, _ := loadQuiet(t, filepath.Join(adir, "docs-example.yaml"))
	got = shape(d)
	if got["group prod"] != "foo.example.com,one.example.com,two.example.com" || got["group ungrouped"] != "mail.example.com" || got["group test"] != "bar.example.com,three.example.com" {
		t.Errorf("docs example groups: prod %q ungrouped %q test %q", got["group prod"], got["group ungrouped"], got["group test"])
	}
	g, _ := loadQuiet(t, filepath.Join(adir, "gcp-ubuntu.yaml"))
	if u := g.Host("ubuntu-2"); u.Addr() != "198.51.100.12" || u.User != "ubuntu" {
		t.Errorf("ubuntu-2 = %+v", *u)
	}
}

// A directory: every inventory file in it, group_vars/ and host_vars/
// (files and directories of files), with Ansible's precedence.
func TestAnsibleDirectory(t *testing.T) {
	fakeHome(t)
	inv, warnings := loadQuiet(t, filepath.Join(adir, "labdir"))
	if got := shape(inv)["hosts"]; got != "db1,db2,web01,web02,web03,win1" {
		t.Fatalf("hosts = %s (README.ini must be skipped, as Ansible skips .ini in a directory)", got)
	}
	web := inv.Host("web02")
	if web.SSH.Port != 2201 || web.User != "deploy" || web.SSH.ProxyJump != "ops@bastion.example.net" {
		t.Errorf("web02 = %+v", *web)
	}
	if src := web.Sources["user"]; !strings.Contains(src, "group_vars/all/connection.yml:1") {
		t.Errorf("web02 Sources[user] = %q; want group_vars/all/connection.yml:1", src)
	}
	db2 := inv.Host("db2")
	if db2.User != "postgres" || db2.SSH.Become != "sudo" || db2.Addr() != "10.0.0.22" || db2.SSH.PasswordEnv != "" {
		t.Errorf("db2 = %+v", *db2)
	}
	win := inv.Host("win1")
	if win.Transport != "winrm" || win.WinRM.Port != 5986 || win.WinRM.Auth != "ntlm" || !win.WinRM.InsecureSkipVerify || win.WinRM.PasswordEnv != "WIN_PASSWORD" {
		t.Errorf("win1 = %+v", win.WinRM)
	}
	var pw []string
	for _, w := range warnings {
		if strings.Contains(w, "hunter2") {
			t.Errorf("a warning echoes the password: %s", w)
		}
		if strings.Contains(w, "ansible_ssh_pass holds a password in clear") {
			pw = append(pw, w)
		}
	}
	if len(pw) != 1 || !strings.Contains(pw[0], "host_vars/db2.yml:2") {
		t.Errorf("password warnings = %q; want one naming host_vars/db2.yml:2", pw)
	}
}

// ansible-inventory --list of each fixture, read back, resolves exactly as
// reading the fixture itself: Ansible's own merge of variables is the oracle.
func TestCrossCheckAnsibleInventory(t *testing.T) {
	if _, err := exec.LookPath("ansible-inventory"); err != nil {
		t.Skip("ansible-inventory not installed (Debian package ansible-core)")
	}
	fakeHome(t)
	for _, f := range []string{"fleet.ini", "fleet.yaml", "kubespray.ini", "terraform-hosts.ini", "docs-example.yaml", "gcp-ubuntu.yaml", "labdir"} {
		t.Run(f, func(t *testing.T) {
			src := filepath.Join(adir, f)
			cmd := exec.Command("ansible-inventory", "-i", src, "--list")
			cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir())
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ansible-inventory -i %s --list: %v", src, err)
			}
			direct, _ := loadQuiet(t, src)
			listed, err := LoadAll([]string{"-"}, bytes.NewReader(out), Options{NoSSHConfig: true})
			if err != nil {
				t.Fatalf("reading ansible-inventory's JSON: %v\n%s", err, out)
			}
			diffShapes(t, f, shape(listed), shape(direct))
		})
	}
}

// Several -i merge: hosts and groups are the union, the later source wins.
func TestSeveralInventoriesMerge(t *testing.T) {
	fakeHome(t)
	dir := t.TempDir()
	extra := filepath.Join(dir, "extra.ini")
	if err := os.WriteFile(extra, []byte("[web]\nweb05.example.com\nweb01.example.com ansible_user=other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, _ := loadQuiet(t, filepath.Join(adir, "fleet.ini"), extra, "adhoc1,adhoc2:2200,")
	got := shape(inv)
	if got["group web"] != "web01.example.com,web02.example.com,web03.example.com,web04.example.com,web05.example.com" {
		t.Errorf("group web = %q", got["group web"])
	}
	if u := inv.Host("web01.example.com").User; u != "other" {
		t.Errorf("web01 user = %q, want other (the later -i wins)", u)
	}
	// fleet.ini's [all:vars] reach a host that only extra.ini lists.
	if w := inv.Host("web05.example.com"); w.User != "deploy" || w.SSH.ProxyJump != "ops@bastion.example.net" {
		t.Errorf("web05 user %q proxy_jump %q; want fleet.ini's all:vars (deploy, ops@bastion.example.net)", w.User, w.SSH.ProxyJump)
	}
	if _, err := exec.LookPath("ansible-inventory"); err == nil {
		cmd := exec.Command("ansible-inventory", "-i", filepath.Join(adir, "fleet.ini"), "-i", extra, "--list")
		cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ansible-inventory with two -i: %v", err)
		}
		listed, err := LoadAll([]string{"-"}, bytes.NewReader(out), Options{NoSSHConfig: true})
		if err != nil {
			t.Fatal(err)
		}
		both, _ := loadQuiet(t, filepath.Join(adir, "fleet.ini"), extra)
		diffShapes(t, "two -i against ansible-inventory", shape(listed), shape(both))
	}
	if a := inv.Host("adhoc2"); a == nil || a.SSH.Port != 2200 || !a.InGroup("ungrouped") {
		t.Errorf("adhoc2 = %+v", a)
	}
	if inv.File != filepath.Join(adir, "fleet.ini")+","+extra+",adhoc1,adhoc2:2200," || len(inv.Paths) != 3 {
		t.Errorf("File %q Paths %q", inv.File, inv.Paths)
	}
}

func TestLoadErrors(t *testing.T) {
	fakeHome(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct{ name, content, want string }{
		{"two.yaml", "defaults: {user: a}\n---\nhosts: {b: {}}\n", "two.yaml:2: a second YAML document starts here"},
		{"two-ansible.yml", "all:\n  hosts:\n    a:\n---\nweb:\n  hosts: {b: }\n", "two-ansible.yml:4: a second YAML document"},
		{"latin1.ini", "[web]\nweb1\ncaf\xe9\n", "latin1.ini:3: byte offset 14: byte 0xe9 is not valid UTF-8"},
		{"nul.yaml", "hosts:\x00\n", "byte offset 6: a NUL byte"},
		{"page.html", "<html><body>not an inventory</body></html>\n", "page.html: not an inventory fleettune reads; fleettune reads a fleettune YAML inventory, an Ansible YAML or INI inventory"},
		{"bad.ini", "[web]\nweb1 port\n", `bad.ini:2: host web1: "port" is not a variable (expected key=value)`},
		{"local.ini", "localhost ansible_connection=local\n", `local.ini:1: host localhost: ansible_connection: connection "local" is not one fleettune can use`},
		{"script.py", "#!/usr/bin/env python3\nprint('{}')\n", "fleettune does not run inventory scripts"},
		{"badjson.json", "{\"all\": {\"hosts\": [\"a\",]}}\n", "badjson.json:1:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadAll([]string{write(c.name, c.content)}, nil, Options{NoSSHConfig: true})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// A password in clear is used only when the operator asks; it is served by
// Inventory.Getenv and appears nowhere else.
func TestInventoryPasswordsOptIn(t *testing.T) {
	fakeHome(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts")
	if err := os.WriteFile(p, []byte("[win]\nw1 ansible_connection=winrm ansible_password=S3cret!\n[lin]\nl1 ansible_ssh_pass=\"{{ vault_pw }}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := LoadAll([]string{p}, nil, Options{NoSSHConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	if w := inv.Host("w1"); w.WinRM.PasswordEnv != DefaultWinRMPassEnv {
		t.Errorf("without the opt-in, w1 password_env = %q, want the default %s", w.WinRM.PasswordEnv, DefaultWinRMPassEnv)
	}
	if got := inv.Getenv(func(string) string { return "" })(PasswordEnvPrefix + "W1"); got != "" {
		t.Errorf("without the opt-in the password is served: %q", got)
	}
	inv, err = LoadAll([]string{p}, nil, Options{NoSSHConfig: true, InventoryPasswords: true})
	if err != nil {
		t.Fatal(err)
	}
	w := inv.Host("w1")
	if w.WinRM.PasswordEnv != PasswordEnvPrefix+"W1" {
		t.Fatalf("w1 password_env = %q", w.WinRM.PasswordEnv)
	}
	if got := inv.Getenv(func(string) string { return "from-env" })(w.WinRM.PasswordEnv); got != "S3cret!" {
		t.Errorf("Getenv(%s) = %q", w.WinRM.PasswordEnv, got)
	}
	if got := inv.Getenv(func(string) string { return "from-env" })("OTHER"); got != "from-env" {
		t.Errorf("Getenv(OTHER) = %q, want the fallback", got)
	}
	if l := inv.Host("l1"); l.SSH.PasswordEnv != "" {
		t.Errorf("a template password was used: %q", l.SSH.PasswordEnv)
	}
	for _, m := range inv.Warnings {
		if strings.Contains(m, "S3cret") {
			t.Errorf("warning echoes the password: %s", m)
		}
	}
	if !slices.ContainsFunc(inv.Warnings, func(m string) bool {
		return strings.Contains(m, "ansible_ssh_pass is a template fleettune does not evaluate")
	}) {
		t.Errorf("warnings = %q; want one about the template", inv.Warnings)
	}
}
