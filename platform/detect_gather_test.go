package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/remote"
)

// The shells a Linux host's login shell may be: the gather and the
// detection script must read the same values in each. dash and busybox
// read one byte per read(2), which truncates an integer sysctl to its
// first digit; the scripts must not depend on the shell's read for those.
func localShells(t *testing.T) map[string][]string {
	t.Helper()
	shells := map[string][]string{}
	for _, sh := range []string{"sh", "bash", "dash", "ksh", "mksh", "posh"} {
		if p, err := exec.LookPath(sh); err == nil {
			shells[sh] = []string{p, "-c"}
		}
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		shells["busybox"] = []string{p, "sh", "-c"}
	}
	if len(shells) == 0 {
		t.Skip("no shell here")
	}
	return shells
}

func procValue(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// DetectGather's script, run by every shell here (read-only: it only reads
// /proc and /etc), says Linux with this kernel's release, and its facts
// are the values the kernel gives, the same as the plain gather's.
func TestDetectGatherScriptRunsHere(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/ostype"); err != nil {
		t.Skip("no /proc/sys/kernel/ostype here")
	}
	knobs := linuxKnobList(nativeFixtureKnobs...)
	wantRange := procValue(t, "/proc/sys/net/ipv4/ip_local_port_range")
	wantKeepalive := procValue(t, "/proc/sys/net/ipv4/tcp_keepalive_time")
	for name, argv := range localShells(t) {
		t.Run(name, func(t *testing.T) {
			run := func(script string) string {
				out, err := exec.Command(argv[0], append(argv[1:], script)...).Output()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return string(out)
			}
			combined := run(detectGatherScript(knobs))
			osName, rel, err := ParseUname(combined)
			if err != nil || osName != Linux || rel != procValue(t, "/proc/sys/kernel/osrelease") {
				t.Fatalf("ParseUname = %q, %q, %v; want linux and this kernel's release\n%s", osName, rel, err, combined)
			}
			if first := firstLine(combined); !strings.HasPrefix(first, "Linux "+rel+" ") {
				t.Errorf("first line %q, want what uname -srv prints", first)
			}
			f, err := ParseLinuxFacts(combined, knobs)
			if err != nil {
				t.Fatalf("ParseLinuxFacts: %v\n%s", err, combined)
			}
			plain, err := ParseLinuxFacts(run(linuxGatherScript(knobs)), knobs)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Knobs[linuxPortRange].Live; got != wantRange {
				t.Errorf("port range %q, want %q (the kernel's)", got, wantRange)
			}
			if got := f.Knobs[linuxKeepalive].Live; got != wantKeepalive {
				t.Errorf("keepalive %q, want %q (the kernel's)", got, wantKeepalive)
			}
			if f.BootID != procValue(t, "/proc/sys/kernel/random/boot_id") || f.Version != rel {
				t.Errorf("BootID, Version = %q, %q", f.BootID, f.Version)
			}
			if !reflect.DeepEqual(f.Knobs, plain.Knobs) || f.Persisted != plain.Persisted || f.PersistedExists != plain.PersistedExists {
				t.Errorf("combined facts differ from the plain gather's:\n%+v\n%+v", f.Knobs, plain.Knobs)
			}
		})
	}
}

// Both scripts are sh: every shell here parses them (-n), the Bourne-like
// ones included, since DetectGather's runs on every Unix family.
func TestGatherScriptsParseInEveryShell(t *testing.T) {
	for name, argv := range localShells(t) {
		for _, script := range []string{detectGatherScript(linuxKnobList(nativeFixtureKnobs...)), linuxGatherScript(linuxKnobList())} {
			args := append([]string{}, argv[:len(argv)-1]...)
			args = append(args, "-n", "-c", script)
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v: %s", name, err, out)
			}
		}
	}
}

func TestDetectGather(t *testing.T) {
	script := DetectGatherScript(nil)
	gather := readLinuxFixture(t, "gather-listeners.txt")
	errDown := errors.New("ssh: unexpected EOF")
	tests := []struct {
		name      string
		res       remote.Result
		err       error
		ver       remote.Result
		cmds      []string
		os, rel   string
		facts     bool
		wantErr   []string
		listening []int
	}{
		{
			name: "linux: one command", res: remote.Result{Stdout: []byte("Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0\n" + gather)},
			cmds: []string{script}, os: Linux, rel: "6.18.44-fc-v669", facts: true, listening: []int{22, 15000, 30080},
		},
		{
			name: "solaris: uname -srv ran", res: remote.Result{Stdout: []byte("SunOS 5.10 Generic_150400-59\n")},
			cmds: []string{script}, os: Solaris, rel: "5.10",
		},
		{
			name: "linux whose ostype is unreadable: uname -srv ran", res: remote.Result{Stdout: []byte("Linux 5.10.0-28-amd64 #1 SMP Debian\n")},
			cmds: []string{script}, os: Linux, rel: "5.10.0-28-amd64",
		},
		{
			name: "windows: the script fails under cmd.exe, ver follows",
			res:  remote.Result{ExitCode: 1, Stderr: []byte("'LC_ALL' is not recognized as an internal or external command,\r\n")},
			ver:  remote.Result{Stdout: []byte("\r\nMicrosoft Windows [Version 10.0.17763.1234]\r\n")},
			cmds: []string{script, DetectWindowsCommand}, os: Windows, rel: "10.0.17763",
		},
		{
			name: "neither sh nor cmd.exe",
			res:  remote.Result{ExitCode: 127, Stderr: []byte("rbash: LC_ALL: readonly variable\n")},
			ver:  remote.Result{ExitCode: 127, Stderr: []byte("rbash: ver: command not found\n")},
			cmds: []string{script, DetectWindowsCommand}, wantErr: []string{"detect OS", "detection script", "exited 127", "readonly variable", "set os:"},
		},
		{
			name: "linux whose gather output is broken", res: remote.Result{Stdout: []byte("Linux 6.1.0 #1\n@@fleettune@@ proc uname boot_id\n6.1.0\n")},
			cmds: []string{script}, wantErr: []string{"read sysctls", "no boot id"},
		},
		{
			name: "linux whose ss failed: its stderr goes with the error",
			res: remote.Result{Stdout: []byte("Linux 6.18.44-fc-v669 #1\n" + strings.Replace(gather, "@@fleettune@@ listen ss\n", "@@fleettune@@ listen ss\n!failed\n", 1)),
				Stderr: []byte("Cannot open netlink socket: Protocol not supported\n")},
			cmds: []string{script}, wantErr: []string{"read listeners", "ss -tn state listening failed", "stderr: Cannot open netlink socket"},
		},
		{
			name: "transport error", err: errDown, cmds: []string{script}, wantErr: []string{"detect OS", "unexpected EOF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptedRunner{answers: map[string]remote.Result{script: tt.res, DetectWindowsCommand: tt.ver}, err: tt.err}
			osName, rel, facts, err := DetectGather(context.Background(), r, nil)
			if !reflect.DeepEqual(r.cmds, tt.cmds) {
				t.Errorf("ran %q, want %q", r.cmds, tt.cmds)
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("DetectGather = %q, %q, %v; want an error", osName, rel, facts)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Errorf("error %v does not wrap %v", err, tt.err)
				}
				return
			}
			if err != nil || osName != tt.os || rel != tt.rel || (facts != nil) != tt.facts {
				t.Fatalf("DetectGather = %q, %q, facts %v, %v; want %q, %q, facts %v", osName, rel, facts != nil, err, tt.os, tt.rel, tt.facts)
			}
			if facts != nil && (!reflect.DeepEqual(facts.Listening, tt.listening) || facts.BootID != fixtureBootID) {
				t.Errorf("facts: listening %v, boot id %q", facts.Listening, facts.BootID)
			}
		})
	}
}

// The gather copies each sysctl.d file exactly, in every shell: a body is
// the file's bytes and one newline, whatever its lines hold (backslashes,
// blanks at either end, CRLF, more lines than one printf carries) and
// whether or not its last line ends in a newline; an empty file is an
// empty line.
func TestLinuxGatherCopiesFilesExactly(t *testing.T) {
	dir := t.TempDir()
	var long strings.Builder
	for i := 0; i < 70; i++ {
		fmt.Fprintf(&long, "net.ipv4.x%d = %d\n", i, i)
	}
	files := map[string]string{
		"a.conf":     "net.ipv4.tcp_keepalive_time = 600\n",
		"b.conf":     "no final newline = 1",
		"c.conf":     "  leading and trailing  \n\\back\\slash\\n %s %% $HOME `x`\n\n\n",
		"d.conf":     "crlf = 1\r\nnext = 2\r\n",
		"e.conf":     "",
		"long.conf":  long.String(),
		"long2.conf": strings.TrimSuffix(long.String(), "\n"),
	}
	var names []string
	for n, body := range files {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, p)
	}
	sort.Strings(names)
	script := linuxGatherScript(linuxKnobList())
	i := strings.Index(script, "for f in ")
	j := strings.Index(script, "/etc/sysctl.conf; do")
	if i < 0 || j < i {
		t.Fatal("the gather script has no for loop over the sysctl.d files")
	}
	script = script[:i] + "for f in " + strings.Join(names, " ") + script[j+len("/etc/sysctl.conf"):]
	for name, argv := range localShells(t) {
		out, err := exec.Command(argv[0], append(argv[1:], script)...).Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]string{}
		for _, s := range splitSections(string(out)) {
			if p, ok := strings.CutPrefix(s.name, "file "); ok {
				got[filepath.Base(p)] = s.body
			}
		}
		for n, body := range files {
			want := strings.ReplaceAll(body, "\r\n", "\n") + "\n" // splitSections folds CRLF
			if got[n] != want {
				t.Errorf("%s: %s copied as %q, want %q", name, n, got[n], want)
			}
		}
	}
}
