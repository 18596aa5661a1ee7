package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

func newTru64Host(t *testing.T, release string) *Host {
	t.Helper()
	h, err := NewHost("alpha1", "tru64", release)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call runs one command through the emulator directly, as the shell would.
func tru64Call(h *Host, user string, argv ...string) Output {
	h.Lock()
	defer h.Unlock()
	out, handled := h.Emu.Command(&Call{Host: h, User: user, Argv: argv})
	if !handled {
		return Output{Stderr: "not handled", Code: -1}
	}
	return out
}

func tru64Fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "platform", "testdata", "tru64", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A default host answers every command the driver sends exactly as the
// driver's fixtures say.
func TestTru64MatchesFixtures(t *testing.T) {
	h := newTru64Host(t, "V5.1B")
	attrs := []string{"ipport_userreserved_min", "ipport_userreserved", "tcp_msl", "tcp_keepidle"}
	tests := []struct {
		fixture string
		user    string
		argv    []string
		stderr  bool
	}{
		{"sysconfig-q.txt", "root", append([]string{"sysconfig", "-q", "inet"}, attrs...), false},
		{"sysconfig-Q.txt", "root", append([]string{"sysconfig", "-Q", "inet"}, attrs...), false},
		{"sysconfig-q-unknown.txt", "root", []string{"sysconfig", "-q", "inet", "tcp_msl", "tcp_nosuch"}, false},
		{"netstat-an.txt", "root", []string{"netstat", "-an"}, false},
		{"who-b.txt", "ops", []string{"who", "-b"}, false},
		{"sysconfig-r-nonroot.txt", "ops", []string{"sysconfig", "-r", "inet", "tcp_msl=30"}, true},
		{"sysconfig-r-unknown.txt", "root", []string{"sysconfig", "-r", "inet", "tcp_nosuch=1"}, true},
		{"sysconfig-r-range.txt", "root", []string{"sysconfig", "-r", "inet", "ipport_userreserved=70000"}, true},
		{"sysconfig-r-ok.txt", "root", []string{"sysconfig", "-r", "inet", "tcp_keepidle=600"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			out := tru64Call(h, tc.user, tc.argv...)
			got := out.Stdout
			if tc.stderr {
				got = out.Stderr
				if out.Code == 0 || out.Stdout != "" {
					t.Errorf("an error must exit non-zero with nothing on stdout: %+v", out)
				}
			}
			if want := tru64Fixture(t, tc.fixture); got != want {
				t.Errorf("got\n%q\nfixture\n%q", got, want)
			}
		})
	}
	if got := h.Files["/etc/sysconfigtab"]; got != tru64Fixture(t, "sysconfigtab.txt") {
		t.Errorf("default sysconfigtab differs from the fixture:\n%s", got)
	}
	h51 := newTru64Host(t, "V5.1")
	if out := tru64Call(h51, "root", "sysconfig", "-r", "inet", "tcp_msl=30"); out.Code != 1 || out.Stderr != tru64Fixture(t, "sysconfig-r-bootonly.txt") {
		t.Errorf("boot-only -r: %+v", out)
	}
}

// The gather fixtures are what the driver's script prints on lab hosts.
func TestTru64GatherFixtures(t *testing.T) {
	for _, rel := range []string{"V4.0F", "V5.1", "V5.1B"} {
		h := newTru64Host(t, rel)
		out := h.Run("root", platform.Tru64GatherScript())
		if want := tru64Fixture(t, "gather-default-"+rel+".txt"); out.Code != 0 || out.Stdout != want {
			t.Errorf("%s: gather output differs from fixture (exit %d, stderr %q):\n%s", rel, out.Code, out.Stderr, out.Stdout)
		}
	}
}

func TestTru64PersistenceAndReboot(t *testing.T) {
	for _, tc := range []struct {
		release    string
		mslRuntime bool
	}{{"V4.0F", false}, {"V5.1", false}, {"V5.1B", true}} {
		t.Run(tc.release, func(t *testing.T) {
			h := newTru64Host(t, tc.release)
			q := func(attr string) string {
				return tru64Call(h, "root", "sysconfig", "-q", "inet", attr).Stdout
			}
			// sysconfig -r is live only: gone after a reboot.
			if out := tru64Call(h, "root", "sysconfig", "-r", "inet", "tcp_keepidle=600"); out.Code != 0 {
				t.Fatal(out)
			}
			if got := q("tcp_keepidle"); got != "inet:\ntcp_keepidle = 600\n" {
				t.Errorf("after -r: %q", got)
			}
			h.Reboot()
			if got := q("tcp_keepidle"); got != "inet:\ntcp_keepidle = 14400\n" {
				t.Errorf("after reboot: %q, want the default back", got)
			}

			// sysconfigdb -m keeps the stanza's other attributes and
			// changes nothing live until a reboot.
			h.Files["/tmp/s"] = "inet:\n\ttcp_msl = 30\n\ttcp_keepidle = 1200\n"
			if out := tru64Call(h, "root", "sysconfigdb", "-m", "-f", "/tmp/s", "inet"); out.Code != 0 {
				t.Fatal(out)
			}
			wantTab := strings.Replace(tru64DefaultSysconfigtab, "\ttcbhashsize = 1024\n", "\ttcbhashsize = 1024\n\ttcp_msl = 30\n\ttcp_keepidle = 1200\n", 1)
			if h.Files["/etc/sysconfigtab"] != wantTab {
				t.Errorf("merged sysconfigtab:\n%s", h.Files["/etc/sysconfigtab"])
			}
			if got := q("tcp_msl"); got != "inet:\ntcp_msl = 60\n" || h.Emu.TimeWait() != 60*time.Second {
				t.Errorf("sysconfigdb changed the live value: %q", got)
			}
			// tcp_msl can be changed live only where sysconfig -Q says R.
			out := tru64Call(h, "root", "sysconfig", "-r", "inet", "tcp_msl=30")
			if (out.Code == 0) != tc.mslRuntime {
				t.Errorf("sysconfig -r tcp_msl: %+v, run-time settable %t", out, tc.mslRuntime)
			}
			h.Reboot()
			if got := q("tcp_msl"); got != "inet:\ntcp_msl = 30\n" || h.Emu.TimeWait() != 30*time.Second {
				t.Errorf("after reboot tcp_msl %q, TimeWait %s", got, h.Emu.TimeWait())
			}
			if got := q("tcbhashsize"); got != "inet:\ntcbhashsize = 1024\n" {
				t.Errorf("the unrelated stanza attribute is not in force: %q", got)
			}

			// -u replaces the entry; -r removes it; -l lists it.
			h.Files["/tmp/s"] = "inet:\n\ttcbhashsize = 1024\n"
			if out := tru64Call(h, "root", "sysconfigdb", "-u", "-f", "/tmp/s", "inet"); out.Code != 0 || h.Files["/etc/sysconfigtab"] != tru64DefaultSysconfigtab {
				t.Errorf("-u: %+v\n%s", out, h.Files["/etc/sysconfigtab"])
			}
			if out := tru64Call(h, "root", "sysconfigdb", "-l", "inet"); out.Stdout != "inet:\n\ttcbhashsize = 1024\n\n" {
				t.Errorf("-l: %q", out.Stdout)
			}
			if out := tru64Call(h, "root", "sysconfigdb", "-r", "inet"); out.Code != 0 || strings.Contains(h.Files["/etc/sysconfigtab"], "inet:") {
				t.Errorf("-r: %+v\n%s", out, h.Files["/etc/sysconfigtab"])
			}
			if !strings.Contains(h.Files["/etc/sysconfigtab"], "ipc:\n\tshm_max = 4194304\n") {
				t.Error("-r removed more than the inet stanza")
			}
			h.Reboot()
			if got := q("tcp_msl"); got != "inet:\ntcp_msl = 60\n" {
				t.Errorf("without a stanza the default comes back: %q", got)
			}
		})
	}
}

func TestTru64Errors(t *testing.T) {
	h := newTru64Host(t, "V5.1B")
	tab := h.Files["/etc/sysconfigtab"]
	h.Files["/tmp/s"] = "inet:\n\ttcp_msl = 30\n"
	tests := []struct {
		user   string
		argv   []string
		stderr string
	}{
		{"ops", []string{"sysconfigdb", "-m", "-f", "/tmp/s", "inet"}, "sysconfigdb: /etc/sysconfigtab: Permission denied\n"},
		{"root", []string{"sysconfigdb", "-m", "-f", "/tmp/none", "inet"}, "sysconfigdb: cannot open /tmp/none: No such file or directory\n"},
		{"root", []string{"sysconfigdb", "-m", "-f", "/tmp/s", "vm"}, "sysconfigdb: /tmp/s: no entry for subsystem vm\n"},
		{"root", []string{"sysconfigdb", "-u", "-f", "/tmp/s", "net"}, "sysconfigdb: /tmp/s: no entry for subsystem net\n"},
		{"root", []string{"sysconfig", "-q", "nosuch"}, "sysconfig: Subsystem nosuch is not configured\n"},
		// one bad assignment changes nothing
		{"root", []string{"sysconfig", "-r", "inet", "tcp_keepidle=600", "tcp_msl=x"}, "tcp_msl: attribute value out of range (1-2147483647)\n"},
	}
	for _, tc := range tests {
		out := tru64Call(h, tc.user, tc.argv...)
		if out.Code == 0 || out.Stderr != tc.stderr {
			t.Errorf("%v: %+v, want stderr %q", tc.argv, out, tc.stderr)
		}
	}
	if h.Files["/etc/sysconfigtab"] != tab {
		t.Error("a failed sysconfigdb changed sysconfigtab")
	}
	if got := tru64Call(h, "root", "sysconfig", "-q", "inet", "tcp_keepidle").Stdout; got != "inet:\ntcp_keepidle = 14400\n" {
		t.Errorf("a failed sysconfig -r changed a value: %q", got)
	}
	if _, err := NewHost("x", "tru64", "V3.2"); err == nil {
		t.Error("an unknown release must be refused")
	}
	h40 := newTru64Host(t, "V4.0F")
	if h40.Uname != (Uname{Sysname: "OSF1", Nodename: "alpha1", Release: "V4.0", Version: "1229", Machine: "alpha"}) {
		t.Errorf("uname %+v", h40.Uname)
	}
}
