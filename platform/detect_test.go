package platform

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/remote"
)

func TestParseUname(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		os      string
		release string
		unsup   bool
	}{
		{"linux uname -srv", "Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n", Linux, "6.1.0-18-amd64", false},
		{"linux uname -sr", "Linux 4.18.0-348.7.1.el8_5.x86_64\n", Linux, "4.18.0-348.7.1.el8_5.x86_64", false},
		{"linux CRLF and a leading blank line", "\r\nLinux 6.18.44-fc-v769 #1 SMP\r\n", Linux, "6.18.44-fc-v769", false},
		{"solaris 10", "SunOS 5.10 Generic_150400-59\n", Solaris, "5.10", false},
		{"solaris 11", "SunOS 5.11 11.4.42.111.0\n", Solaris, "5.11", false},
		{"hp-ux 11i v3", "HP-UX B.11.31 U\n", HPUX, "B.11.31", false},
		{"hp-ux 11i v1", "HP-UX B.11.11 U\n", HPUX, "B.11.11", false},
		// AIX: uname -r is the minor release, uname -v the major version.
		{"aix 7.2", "AIX 2 7\n", AIX, "7.2", false},
		{"aix 7.3", "AIX 3 7\n", AIX, "7.3", false},
		{"aix 6.1", "AIX 1 6\n", AIX, "6.1", false},
		{"aix without -v: only the minor is known", "AIX 2\n", AIX, "2", false},
		{"tru64", "OSF1 V5.1 2650\n", Tru64, "V5.1", false},
		{"darwin", "Darwin 23.1.0 Darwin Kernel Version 23.1.0\n", "", "23.1.0", true},
		{"freebsd", "FreeBSD 14.0-RELEASE FreeBSD 14.0-RELEASE #0\n", "", "14.0-RELEASE", true},
		{"empty", "", "", "", true},
		{"blank lines", "\n \r\n", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os, rel, err := ParseUname(tt.out)
			if tt.unsup {
				if !errors.Is(err, ErrUnsupportedOS) {
					t.Fatalf("ParseUname(%q) error = %v, want ErrUnsupportedOS", tt.out, err)
				}
				if first := strings.Fields(tt.out); len(first) > 0 && !strings.Contains(err.Error(), first[0]) {
					t.Errorf("error %q does not name %q", err, first[0])
				}
				if os != "" {
					t.Errorf("os = %q, want none", os)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseUname(%q): %v", tt.out, err)
			}
			if os != tt.os || rel != tt.release {
				t.Errorf("ParseUname(%q) = %q, %q; want %q, %q", tt.out, os, rel, tt.os, tt.release)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	errDown := errors.New("ssh: unexpected EOF")
	tests := []struct {
		name    string
		res     remote.Result
		err     error
		os      string
		release string
		wantErr []string
		unsup   bool
	}{
		{
			name: "aix", res: remote.Result{Stdout: []byte("AIX 2 7\n")},
			os: AIX, release: "7.2",
		},
		{
			name: "linux", res: remote.Result{Stdout: []byte("Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n")},
			os: Linux, release: "6.1.0-18-amd64",
		},
		{
			name: "unsupported", res: remote.Result{Stdout: []byte("Darwin 23.1.0 Darwin Kernel Version 23.1.0\n")},
			wantErr: []string{"Darwin"}, unsup: true,
		},
		{
			name:    "non-zero exit",
			res:     remote.Result{ExitCode: 127, Stderr: []byte("sh: uname: not found\n")},
			wantErr: []string{"detect OS", "exited 127", "sh: uname: not found", "set os:"},
		},
		{
			name: "transport error", err: errDown,
			wantErr: []string{"detect OS", "ssh: unexpected EOF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptedRunner{answers: map[string]remote.Result{DetectCommand: tt.res,
				// what a POSIX shell says to ver
				DetectWindowsCommand: {ExitCode: 127, Stderr: []byte("sh: ver: not found\n")}}, err: tt.err}
			os, rel, err := Detect(context.Background(), r)
			if len(r.cmds) == 0 || r.cmds[0] != DetectCommand {
				t.Errorf("ran %q, want %q first", r.cmds, DetectCommand)
			}
			if tt.res.ExitCode == 0 && len(r.cmds) != 1 {
				t.Errorf("ran %q, want only %q when uname works", r.cmds, DetectCommand)
			}
			if tt.wantErr == nil {
				if err != nil || os != tt.os || rel != tt.release {
					t.Errorf("Detect = %q, %q, %v; want %q, %q", os, rel, err, tt.os, tt.release)
				}
				return
			}
			if err == nil {
				t.Fatalf("Detect = %q, %q; want an error", os, rel)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := errors.Is(err, ErrUnsupportedOS); got != tt.unsup {
				t.Errorf("errors.Is(%v, ErrUnsupportedOS) = %v, want %v", err, got, tt.unsup)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("error %v does not wrap %v", err, tt.err)
			}
		})
	}
}

func TestDetectCommandHasVersion(t *testing.T) {
	// uname -r alone gives "2" on AIX 7.2; the major version needs -v.
	if f := strings.Fields(DetectCommand); len(f) != 2 || f[0] != "uname" || !strings.ContainsAny(f[1], "v") || !strings.ContainsAny(f[1], "s") || !strings.ContainsAny(f[1], "r") {
		t.Errorf("DetectCommand = %q, want uname with -s, -r and -v", DetectCommand)
	}
}

// scriptedRunner answers each command with its own result.
type scriptedRunner struct {
	answers map[string]remote.Result
	err     error
	cmds    []string
}

func (r *scriptedRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.cmds = append(r.cmds, cmd)
	if r.err != nil {
		return remote.Result{}, r.err
	}
	res, ok := r.answers[cmd]
	if !ok {
		return remote.Result{ExitCode: 127, Stderr: []byte("unexpected command " + cmd)}, nil
	}
	return res, nil
}

// cmdNotRecognized is cmd.exe's answer to uname.
const cmdNotRecognized = "'uname' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"

func TestDetectWindows(t *testing.T) {
	tests := []struct {
		name    string
		ver     remote.Result
		release string
		wantErr []string
	}{
		{"server 2019", remote.Result{Stdout: []byte("\r\nMicrosoft Windows [Version 10.0.17763.1234]\r\n")}, "10.0.17763", nil},
		{"server 2003", remote.Result{Stdout: []byte("\r\nMicrosoft Windows [Version 5.2.3790]\r\n")}, "5.2.3790", nil},
		{"server 2008 R2", remote.Result{Stdout: []byte("\r\nMicrosoft Windows [Version 6.1.7601]\r\n")}, "6.1.7601", nil},
		{"localised label", remote.Result{Stdout: []byte("\r\nMicrosoft Windows [Versión 10.0.20348.2113]\r\n")}, "10.0.20348", nil},
		{"ver prints something else", remote.Result{Stdout: []byte("Version 1.0\r\n")}, "",
			[]string{"detect OS", "exited 1", "'uname' is not recognized", "set os:"}},
		{"ver fails too", remote.Result{ExitCode: 1, Stderr: []byte("'ver' is not recognized as an internal or external command,\r\n")}, "",
			[]string{"detect OS", "'uname' is not recognized"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptedRunner{answers: map[string]remote.Result{
				DetectCommand:        {ExitCode: 1, Stderr: []byte(cmdNotRecognized)},
				DetectWindowsCommand: tt.ver,
			}}
			os, rel, err := Detect(context.Background(), r)
			if len(r.cmds) != 2 || r.cmds[0] != DetectCommand || r.cmds[1] != DetectWindowsCommand {
				t.Errorf("ran %q, want %q then %q", r.cmds, DetectCommand, DetectWindowsCommand)
			}
			if tt.wantErr == nil {
				if err != nil || os != Windows || rel != tt.release {
					t.Fatalf("Detect = %q, %q, %v; want windows, %q", os, rel, err, tt.release)
				}
				return
			}
			if err == nil {
				t.Fatalf("Detect = %q, %q; want an error", os, rel)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseVer(t *testing.T) {
	for _, tt := range []struct {
		out, release string
		major        int
	}{
		{"\r\nMicrosoft Windows [Version 10.0.17763.1234]\r\n", "10.0.17763", 10},
		{"\r\nMicrosoft Windows [Version 5.2.3790]\r\n", "5.2.3790", 5},
		{"Microsoft Windows [version 6.3.9600]", "6.3.9600", 6},
	} {
		rel, major, err := ParseVer(tt.out)
		if err != nil || rel != tt.release || major != tt.major {
			t.Errorf("ParseVer(%q) = %q, %d, %v; want %q, %d", tt.out, rel, major, err, tt.release, tt.major)
		}
	}
	if _, _, err := ParseVer("Linux 6.1.0\n"); err == nil {
		t.Error("ParseVer accepted uname output")
	}
}
