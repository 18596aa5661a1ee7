package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles adds every file under testdata matching the globs as seeds.
func seedFiles(f *testing.F, globs ...string) {
	f.Helper()
	for _, g := range globs {
		files, _ := filepath.Glob(filepath.Join(tdir, g))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
}

// FuzzLoad: any bytes given as an inventory either load or fail with an
// error naming the file; nothing panics, and a loaded inventory is
// consistent (every host resolved, in "all").
func FuzzLoad(f *testing.F) {
	seedFiles(f, "*.yaml", "ansible/*.ini", "ansible/*.yaml", "ansible/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		t.Setenv("HOME", "/nonexistent-fuzz-home")
		pt, err := parseData("fuzz.inv", "", data, func(string) {})
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.inv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		inv, err := merge([]*part{pt}, Options{NoSSHConfig: true}, func(string) {})
		if err != nil {
			return
		}
		for _, h := range inv.Hosts {
			if h.Groups[0] != All || h.Transport == "" || h.Sources == nil {
				t.Fatalf("host %q not resolved: %+v", h.Name, h)
			}
		}
	})
}

// FuzzINI: the INI reader alone.
func FuzzINI(f *testing.F) {
	seedFiles(f, "ansible/*.ini")
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := parseAnsibleINI("fuzz.ini", data, func(string) {})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.ini:") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		_ = pt.finishAnsible(func(string) {}, nil)
	})
}

// FuzzSSHConfig: parsing and evaluating an ssh_config file never panics,
// and errors name the file.
func FuzzSSHConfig(f *testing.F) {
	seedFiles(f, "sshconfig/*.conf", "sshconfig/config.d/*.conf")
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "config")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c := newSSHConfigs(dir, func(string) {})
		for _, alias := range []string{"web1", "bastion", "x.internal"} {
			if _, err := c.resolve([]string{p}, alias); err != nil && !strings.Contains(err.Error(), dir) && !strings.Contains(err.Error(), "ssh_config") {
				t.Fatalf("error does not name the file: %v", err)
			}
		}
	})
}
