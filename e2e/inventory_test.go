package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

// runStdin is run with stdin (for -i -).
func runStdin(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "FLEETTUNE_STATE_DIR="+stateDir(t), "NO_COLOR=1")
	if extra, ok := testEnv.Load(t.Name()); ok {
		cmd.Env = append(cmd.Env, extra.([]string)...)
	}
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run fleettune %v: %v", args, err)
	}
	return r
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// planHosts is the plan's hosts and their statuses, sorted by name.
func planHosts(t *testing.T, r result) []string {
	t.Helper()
	d := decodePlan(t, r)
	var out []string
	for _, h := range d.Hosts {
		out = append(out, h.Host+"="+h.Status)
	}
	slices.Sort(out)
	return out
}

// An inventory that lists only names; everything else (HostName,
// ProxyCommand, IdentityFile, UserKnownHostsFile, User) is in ~/.ssh/config,
// resolved as `ssh web-1` would.
func TestPlanFromSSHConfig(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	home := t.TempDir()
	setEnv(t, "HOME", home)
	writeFile(t, filepath.Join(home, ".ssh", "config"), `# Only names in the inventory; the rest is here.
Host web-*
    User root
    IdentityFile `+f.ClientKey+`
    IdentitiesOnly yes
    UserKnownHostsFile `+f.KnownHosts+`
    ProxyCommand `+f.Proxy+` %h
    ConnectTimeout 20

Host web-1
    HostName node01

Host web-2
    HostName node02
`)
	inv := writeFile(t, filepath.Join(t.TempDir(), "hosts"), "[web]\nweb-1\nweb-2\n")
	pb := writePlaybook(t, hygiene)
	r := run(t, "plan", "-i", inv, "-p", pb, "--format", "json")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := planHosts(t, r); !slices.Equal(got, []string{"web-1=changes", "web-2=changes"}) {
		t.Errorf("plan hosts = %q", got)
	}

	// The connection values came from ssh_config, and --list-hosts-style
	// provenance is on every host (checked in the inventory package).
}

// The same fleet from an Ansible INI inventory, a YAML one and the JSON of
// ansible-inventory --list (from standard input) gives the same plan hosts.
func TestPlanSameFleetFromAnsibleFormats(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 3})
	setEnv(t, "HOME", t.TempDir()) // no ~/.ssh/config of the machine's
	dir := t.TempDir()
	args := `-o ProxyCommand="` + f.Proxy + ` %h" -o UserKnownHostsFile=` + f.KnownHosts
	ini := writeFile(t, filepath.Join(dir, "hosts.ini"), `[canary]
node01

[rest]
node[02:03]

[linux:children]
canary
rest

[all:vars]
ansible_user=root
ansible_ssh_private_key_file=`+f.ClientKey+`
ansible_ssh_common_args='`+args+`'
`)
	yml := writeFile(t, filepath.Join(dir, "hosts.yml"), `all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: `+f.ClientKey+`
    ansible_ssh_common_args: '`+args+`'
  children:
    linux:
      children:
        canary:
          hosts:
            node01:
        rest:
          hosts:
            node[02:03]:
`)
	list := []byte(`{"_meta": {"hostvars": {` +
		`"node01": {"ansible_user": "root", "ansible_ssh_private_key_file": "` + f.ClientKey + `", "ansible_ssh_common_args": ` + jsonString(args) + `},` +
		`"node02": {"ansible_user": "root", "ansible_ssh_private_key_file": "` + f.ClientKey + `", "ansible_ssh_common_args": ` + jsonString(args) + `},` +
		`"node03": {"ansible_user": "root", "ansible_ssh_private_key_file": "` + f.ClientKey + `", "ansible_ssh_common_args": ` + jsonString(args) + `}}},` +
		`"all": {"children": ["ungrouped", "linux"]}, "linux": {"children": ["canary", "rest"]},` +
		`"canary": {"hosts": ["node01"]}, "rest": {"hosts": ["node02", "node03"]}}`)
	if path, err := exec.LookPath("ansible-inventory"); err == nil {
		cmd := exec.Command(path, "-i", ini, "--list")
		cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ansible-inventory --list: %v", err)
		}
		list = out // the real thing
	}
	pb := writePlaybook(t, hygiene)
	want := []string{"node01=changes", "node02=changes", "node03=changes"}
	for _, c := range []struct {
		name  string
		args  []string
		stdin []byte
	}{
		{"ini", []string{"-i", ini}, nil},
		{"yaml", []string{"-i", yml}, nil},
		{"--list json on stdin", []string{"-i", "-"}, list},
	} {
		r := runStdin(t, c.stdin, append([]string{"plan", "-p", pb, "--format", "json", "--limit", "linux"}, c.args...)...)
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2\nstderr:\n%s", c.name, r.code, r.stderr)
			continue
		}
		if got := planHosts(t, r); !slices.Equal(got, want) {
			t.Errorf("%s: plan hosts = %q, want %q", c.name, got, want)
		}
	}
	// Two -i merge: the canary from one file, the rest from another.
	other := writeFile(t, filepath.Join(dir, "more.ini"), "[more]\nnode03\n")
	r := run(t, "plan", "-i", ini, "-i", other, "-p", pb, "--format", "json", "--limit", "canary,more")
	if got := planHosts(t, r); r.code != 2 || !slices.Equal(got, []string{"node01=changes", "node03=changes"}) {
		t.Errorf("two -i, --limit canary,more: exit %d, hosts %q\n%s", r.code, got, r.stderr)
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}
