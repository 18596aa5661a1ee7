package lab

import (
	"strings"
	"testing"
	"time"
)

// testEmu answers "tw" (prints the live TIME_WAIT in seconds) and "tw-set N";
// everything else goes to the shell's built-ins.
type testEmu struct {
	tw    time.Duration
	boots int
}

func (e *testEmu) Command(c *Call) (Output, bool) {
	switch c.Argv[0] {
	case "tw":
		return Output{Stdout: e.tw.String() + "\n"}, true
	case "tw-set":
		if !c.Root() {
			return Output{Stderr: "tw-set: Permission denied\n", Code: 1}, true
		}
		d, _ := time.ParseDuration(c.Argv[1])
		e.tw = d
		return Output{}, true
	}
	return Output{}, false
}
func (e *testEmu) Boot(h *Host)            { e.boots++; e.tw = 60 * time.Second }
func (e *testEmu) TimeWait() time.Duration { return e.tw }

func newTestHost() (*Host, *testEmu) {
	e := &testEmu{}
	h := &Host{Name: "t1", OS: "test", Files: map[string]string{"/etc/motd": "hello\n"},
		Uname: Uname{Sysname: "SunOS", Nodename: "t1", Release: "5.10", Version: "Generic_150400-59", Machine: "sun4v"}, Emu: e}
	e.Boot(h)
	h.BaselineTimeWait = e.tw
	return h, e
}

func TestShellScripts(t *testing.T) {
	for _, tc := range []struct {
		name, user, script string
		want               Output
		files              map[string]string // files that must hold exactly this after
	}{
		{name: "echo and uname order", script: "echo a  b 'c  d'\nuname -vrs",
			want: Output{Stdout: "a b c  d\nSunOS 5.10 Generic_150400-59\n"}},
		{name: "assignments before a command are ignored", script: "LC_ALL=C; export LC_ALL\nLC_ALL=C uname -s",
			want: Output{Stdout: "SunOS\n"}},
		{name: "printf reuses its format and keeps quotes", script: `printf '%s=%d\n' a 1 b 2; printf '%s' 'it'\''s "q" $HOME'`,
			want: Output{Stdout: "a=1\nb=2\nit's \"q\" $HOME"}},
		{name: "multi-line single-quoted content written atomically",
			script: "printf '%s' '# header\nk = v\n' > /etc/x.tmp && sync && mv -f /etc/x.tmp /etc/x",
			files:  map[string]string{"/etc/x": "# header\nk = v\n"}},
		{name: "&& and || left to right, $? is the last status", script: "false && echo no || echo yes; true || echo no; false; echo $?x",
			want: Output{Stdout: "yes\n1x\n"}},
		{name: "if, elif, else", script: "if [ -r /etc/motd ]; then cat /etc/motd; else echo '!missing'; fi\nif [ -r /nope ]; then echo a; elif false; then echo b; else echo '!missing'; fi",
			want: Output{Stdout: "hello\n!missing\n"}},
		{name: "for over globs, in name order; an unmatched pattern stays as it is",
			script: "echo a > /tmp/d/2.conf; echo b > /tmp/d/1.conf; echo c > /tmp/d/x.txt\nfor f in /tmp/d/*.conf /none/*.conf /etc/motd; do if [ -f \"$f\" ] && [ -r \"$f\" ]; then echo \"@@ file $f\"; cat \"$f\"; echo; fi; done",
			want:   Output{Stdout: "@@ file /tmp/d/1.conf\nb\n\n@@ file /tmp/d/2.conf\na\n\n@@ file /etc/motd\nhello\n\n"}},
		{name: "a quoted pattern is not expanded", script: "echo x > /tmp/a; cat '/tmp/*'",
			want: Output{Stderr: "cat: cannot open /tmp/*: No such file or directory\n", Code: 2}},
		{name: "variables: assignment, ${NAME}, unquoted splitting", script: "X='a  b'; Y=${X}c; echo $X; echo \"$X\"; echo \"${Y}\"",
			want: Output{Stdout: "a b\na  b\na  bc\n"}},
		{name: "awk prints fields of matching lines across files", script: "printf 'a 0A x\\nb 01 y\\n' > /tmp/t1; printf 'c 0A z\\n' > /tmp/t2; awk '$2 == \"0A\" { print $1 }' /tmp/t1 /nope /tmp/t2 2>/dev/null; echo $?",
			want: Output{Stdout: "a\n2\n"}},
		{name: "awk refuses programs it does not emulate", script: "awk 'BEGIN { n = 1 }' /etc/motd",
			want: Output{Stderr: "awk: lab: pattern \"BEGIN\" is not emulated\n", Code: 2}},
		{name: "command substitution is refused", script: "echo $(id)",
			want: Output{Stderr: "sh: syntax error: '$(' is not supported by the lab shell (no command substitution)\n", Code: 2}},
		{name: "while read copies a file line by line, the last line without its newline too",
			script: "printf 'a\\\\b\\n  c d  \\nlast' > /tmp/f; l=; while IFS= read -r l; do printf '%s\\n' \"[$l]\"; done </tmp/f; printf '%s\\n' \"($l)\"",
			want:   Output{Stdout: "[a\\b]\n[  c d  ]\n(last)\n"}},
		{name: "read without -r and IFS: blanks trimmed, backslashes removed; the status says whether a newline came",
			script: "printf '  x\\\\y  \\n' > /tmp/f; read v </tmp/f; echo \"$? [$v]\"; printf 'z' > /tmp/g; read w </tmp/g; echo \"$? [$w]\"; read u </tmp/nope",
			want:   Output{Stdout: "0 [xy]\n1 [z]\n", Stderr: "sh: /tmp/nope: cannot open\n", Code: 1}},
		{name: "read splits fields over several names, the last takes the rest",
			script: "printf 'one two  three four\\n' > /tmp/f; read a b c </tmp/f; echo \"$a|$b|$c\"",
			want:   Output{Stdout: "one|two|three four\n"}},
		{name: "break ends the innermost loop; -z and -n test for empty strings",
			script: "for a in 1 2 3; do for b in x y z; do if [ $b = y ]; then break; fi; echo $a$b; done; [ $a = 2 ] && break; done; [ -z \"\" ] && [ -n x ] && echo ok; break; echo after",
			want:   Output{Stdout: "1x\n2x\nok\nafter\n"}},
		{name: "a while that does not end is cut off", script: "while true; do X=1; done; echo after",
			want: Output{Stdout: "after\n", Stderr: "sh: lab: while ran 1048576 times; a loop that does not end is a driver bug\n"}},
		{name: "test compares strings", script: "X=Linux; [ \"$X\" = Linux ] && echo same; [ \"$X\" != SunOS ] && echo differs; [ a = b ] || echo no",
			want: Output{Stdout: "same\ndiffers\nno\n"}},
		{name: "command -v: built-ins and commands the host has", script: "command -v printf; command -v awk; command -v ndd || echo $?",
			want: Output{Stdout: "printf\n/usr/bin/awk\n127\n"}},
		{name: "an if without fi is a syntax error", script: "if true; then echo x",
			want: Output{Stderr: "sh: syntax error: expected \"fi\", found \"end of script\"\n", Code: 2}},
		{name: "&& and || run as sh does", script: "false && echo no || echo yes\ntrue || echo no\ntrue && false || echo rescued",
			want: Output{Stdout: "yes\nrescued\n"}},
		{name: "exit status is the last command's", script: "echo x; cat /nonexistent",
			want: Output{Stdout: "x\n", Stderr: "cat: cannot open /nonexistent: No such file or directory\n", Code: 2}},
		{name: "2>&1 and 2>/dev/null", script: "cat /nonexistent 2>&1; cat /gone 2>/dev/null; echo end",
			want: Output{Stdout: "cat: cannot open /nonexistent: No such file or directory\nend\n"}},
		{name: "append and read back", script: "echo one > /tmp/f; echo two >> /tmp/f; cat /tmp/f /etc/motd",
			want: Output{Stdout: "one\ntwo\nhello\n"}},
		{name: "comments", script: "# a comment\necho a # trailing\necho b#c",
			want: Output{Stdout: "a\nb#c\n"}},
		{name: "unknown command", script: "ndd -get /dev/tcp x",
			want: Output{Stderr: "sh: ndd: not found\n", Code: 127}},
		{name: "emulator answers before built-ins", script: "tw-set 30s && tw",
			want: Output{Stdout: "30s\n"}},
		{name: "non-root cannot write outside /tmp", user: "ops", script: "echo x > /etc/motd; echo y > /tmp/ok; cat /tmp/ok",
			want:  Output{Stdout: "y\n", Stderr: "sh: /etc/motd: Permission denied\n"},
			files: map[string]string{"/etc/motd": "hello\n"}},
		{name: "non-root emulator command", user: "ops", script: "tw-set 1s",
			want: Output{Stderr: "tw-set: Permission denied\n", Code: 1}},
		{name: "test and [", script: "[ -f /etc/motd ] && echo yes; test -r /nope || echo no",
			want: Output{Stdout: "yes\nno\n"}},
		{name: "rm -f is quiet, rm is not", script: "rm -f /nope; rm /nope; rm /etc/motd; cat /etc/motd",
			want: Output{Stderr: "rm: /nope: No such file or directory\ncat: cannot open /etc/motd: No such file or directory\n", Code: 2}},
		{name: "a pipe feeds one command's output to the next; 2>&1 before it sends stderr down it too",
			script: "printf 'a b\\nc d\\n' > /tmp/f; cat /tmp/f | awk '{ print $2 }'; cat /nope 2>&1 | awk '{ print \"got\", $1 }'",
			want:   Output{Stdout: "b\nd\ngot cat:\n"}},
		{name: "without 2>&1 stderr does not enter the pipe; the status is the last command's",
			script: "cat /nope | awk '{ print \"got\", $1 }'; echo \"$?\"; cat /etc/motd | false; echo \"$?\"; false | cat /etc/motd",
			want:   Output{Stdout: "0\n1\nhello\n", Stderr: "cat: cannot open /nope: No such file or directory\n"}},
		{name: "a pipe in an and-or list, continued on the next line; <FILE replaces the pipe's input",
			script: "cat /etc/motd |\n awk '{ print \"x\", $1 }' && echo ok; echo zz | awk '{ print }' </etc/motd",
			want:   Output{Stdout: "x hello\nok\nhello\n"}},
		{name: "a compound command may not be piped", script: "for i in 1; do echo $i; done | cat",
			want: Output{Stderr: "sh: syntax error: only simple commands may be piped in the lab shell\n", Code: 2}},
		{name: "a pipe without a command after it", script: "echo a |",
			want: Output{Stderr: "sh: syntax error: unexpected \"end of script\"\n", Code: 2}},
		{name: "awk: several rules, || patterns, $NF, next, counters and END",
			script: "printf 'h x\\n1 TIME_WAIT\\n2 ESTABLISHED\\n3 LISTEN\\n4 TIME_WAIT\\n\\n5 CLOSE_WAIT\\n' > /tmp/t; " +
				"awk '$NF==\"TIME_WAIT\"{n++;next} $NF==\"ESTABLISHED\"||$2 == \"CLOSE_WAIT\"{next} {print} END{print \"@@tw\", n+0, m+0}' /tmp/t",
			want: Output{Stdout: "h x\n3 LISTEN\n\n@@tw 2 0\n"}},
		{name: "awk: END with nothing read prints 0; a rule may print and count",
			script: "printf '' > /tmp/e; awk '{ n++; print $1 } END { print n+0 }' /tmp/e; echo 'a b' | awk '$1 != \"z\" { n++; print $NF; n++ } END { print \"n\", n+0 }'",
			want:   Output{Stdout: "0\nb\nn 2\n"}},
		{name: "awk refuses END before another rule, other actions and END items",
			script: "awk 'END { print \"a\" } { print }' /etc/motd; awk '{ n += 2 }' /etc/motd; awk 'END { print $1 }' /etc/motd; awk 'NR > 1 || $1 == \"a\" { print }' /etc/motd",
			want: Output{Stderr: "awk: lab: program \"END { print \\\"a\\\" } { print }\": only END may be the last rule\n" +
				"awk: lab: action \"n += 2\": only print, next and VAR++ are emulated\n" +
				"awk: lab: END print item \"$1\": want \"string\" or VAR+0\n" +
				"awk: lab: pattern \"NR > 1 || $1 == \\\"a\\\"\": only $N == \"S\" tests may be joined by ||\n", Code: 2}},
		{name: "unterminated quote", script: "echo 'x",
			want: Output{Stderr: "sh: syntax error: unterminated '\n", Code: 2}},
		{name: "double quotes escape", script: `echo "a \"b\" \\ c"`,
			want: Output{Stdout: "a \"b\" \\ c\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHost()
			user := tc.user
			if user == "" {
				user = "root"
			}
			got := h.Run(user, tc.script)
			if got != tc.want {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
			for p, want := range tc.files {
				if h.Files[p] != want {
					t.Errorf("%s holds %q, want %q", p, h.Files[p], want)
				}
			}
			if strings.Contains(tc.script, "x.tmp") {
				if _, left := h.Files["/etc/x.tmp"]; left {
					t.Error("temporary file left behind")
				}
			}
		})
	}
}

func TestShellFaults(t *testing.T) {
	h, e := newTestHost()
	h.Faults.FailCommand = "tw-set"
	if got := h.Run("root", "tw-set 10s"); got.Code != 1 || got.Stderr != "lab: injected failure\n" || e.tw != 60*time.Second {
		t.Errorf("FailCommand: %#v, tw %v", got, e.tw)
	}
	h.Faults.FailCommand = ""

	// The probe passes until TIME_WAIT is lowered with the fault on.
	if got := h.Run("root", HandshakeProbe); got.Code != 0 {
		t.Errorf("probe before: %#v", got)
	}
	h.Run("root", "tw-set 10s")
	if got := h.Run("root", HandshakeProbe); got.Code != 0 {
		t.Errorf("probe without the fault: %#v", got)
	}
	h.Faults.HandshakeFailures = true
	if got := h.Run("root", HandshakeProbe); got.Code != 2 || !strings.Contains(got.Stderr, "handshakes failed") {
		t.Errorf("probe with the fault: %#v", got)
	}

	// RebootAfter: the second command from now reboots the host after it
	// ran; the boot resets the live value and moves the boot time.
	boot := h.BootTime
	h.Faults.RebootAfter = 2
	h.Run("root", "tw-set 20s")
	if e.boots != 1 || e.tw != 20*time.Second {
		t.Fatalf("rebooted too early: boots %d tw %v", e.boots, e.tw)
	}
	h.Run("root", "true")
	if e.boots != 2 || e.tw != 60*time.Second || !h.BootTime.After(boot) || h.Faults.RebootAfter != 0 {
		t.Errorf("after RebootAfter: boots %d tw %v boot %v→%v fault %d", e.boots, e.tw, boot, h.BootTime, h.Faults.RebootAfter)
	}
	if h.Commands != 7 {
		t.Errorf("Commands = %d, want 7", h.Commands)
	}
}

// Symbolic links are followed the way sh follows them, and mkdir refuses
// every existing path, a link included.
func TestShellSymlinks(t *testing.T) {
	h, _ := newTestHost()
	h.Files["/etc/passwd"] = "root\n"
	h.Symlink("/etc/passwd", "/tmp/x")
	h.Symlink("/etc", "/tmp/d")
	for _, tc := range []struct {
		user, script, stdout, stderr string
		code                         int
	}{
		{"root", "cat /tmp/x", "root\n", "", 0},
		{"root", "echo owned >> /tmp/x && cat /etc/passwd", "root\nowned\n", "", 0},
		{"root", "echo new > /tmp/d/f && cat /etc/f", "new\n", "", 0},
		{"ops", "echo no > /tmp/x", "", "sh: /tmp/x: Permission denied\n", 1},
		{"root", "mkdir -m 700 /tmp/x", "", "mkdir: cannot create /tmp/x: File exists\n", 2},
		{"ops", "mkdir -m 700 /tmp/p && echo a > /tmp/p/f && rmdir /tmp/p", "", "rmdir: /tmp/p: Directory not empty\n", 2},
		{"ops", "rm -f /tmp/p/f && rmdir /tmp/p && test -e /tmp/p", "", "", 1},
		{"ops", "mkdir /etc/q", "", "mkdir: cannot create /etc/q: Permission denied\n", 2},
		{"root", "rm /tmp/x && test -e /tmp/x", "", "", 1},
		{"root", "cat /etc/passwd", "root\nowned\n", "", 0},
	} {
		out := h.Run(tc.user, tc.script)
		if out.Stdout != tc.stdout || out.Stderr != tc.stderr || out.Code != tc.code {
			t.Errorf("%s: %q: got %q %q %d, want %q %q %d", tc.user, tc.script, out.Stdout, out.Stderr, out.Code, tc.stdout, tc.stderr, tc.code)
		}
	}
}
