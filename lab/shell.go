package lab

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// The lab's shell runs the small subset of POSIX sh that fleettune's drivers
// send, and refuses anything else loudly (a syntax error, exit 2) so that a
// driver cannot come to depend on something only a real shell would do:
//
//   - a script is lines; a line is simple commands joined by ";", "&&"
//     and "||" (left to right, as sh does); "#" at a word start comments
//     to the end of the line;
//   - words are bare, '...' (literal, may span lines) or "..." (literal but
//     for \" \\ \$ \` escapes); no variables, globs, pipes, subshells,
//     command substitution, if/for/while;
//   - leading NAME=value assignments are accepted and ignored;
//   - redirections: >FILE, >>FILE, <FILE, 2>FILE, 2>>FILE, 2>&1, >&2;
//   - built-ins, when the host's emulator does not answer a command itself:
//     echo, printf, cat, mv, rm, mkdir [-m MODE], rmdir, true, false,
//     export, uname, hostname, id, sync, test and [, sleep, and the
//     handshake probe /usr/local/bin/check-app-handshakes.
//
// Files live in Host.Files, directories made by mkdir in Host.Dirs. A
// symbolic link (Host.Links, planted with Host.Symlink) is followed by
// redirections, cat and test as a real shell follows it: root writing
// through a link another user planted in /tmp overwrites the link's target.
// mkdir, like mkdir(2), refuses any existing path, a link included. A user
// other than root may write only under /tmp. Every command of one Run sees
// the host locked.

// HandshakeProbe is the lab's stand-in for an application's handshake
// check, for playbooks' health.probe.
const HandshakeProbe = "/usr/local/bin/check-app-handshakes"

// Run runs a script on the host as user, the way the host's sh would, and
// returns what it printed and the exit status of the last command run. It
// honours the command faults: FailCommand, RebootAfter.
func (h *Host) Run(user, script string) Output {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out Output
	if own, ok := h.Emu.(Shell); ok {
		out = own.Shell(h, user, script)
	} else {
		sh := &shell{h: h, user: user}
		out = sh.run(script)
	}
	h.Commands++
	if h.Faults.RebootAfter > 0 {
		h.Faults.RebootAfter--
		if h.Faults.RebootAfter == 0 {
			h.rebootLocked()
		}
	}
	return out
}

type shell struct {
	h            *Host
	user         string
	stdout, errb strings.Builder
}

func (sh *shell) run(script string) Output {
	cmds, err := parseScript(script)
	if err != nil {
		return Output{Stderr: "sh: syntax error: " + err.Error() + "\n", Code: 2}
	}
	status := 0
	for i, c := range cmds {
		if i > 0 {
			switch c.after {
			case opAnd:
				if status != 0 {
					continue
				}
			case opOr:
				if status == 0 {
					continue
				}
			}
		}
		status = sh.exec(c)
	}
	return Output{Stdout: sh.stdout.String(), Stderr: sh.errb.String(), Code: status}
}

// sink is where a file descriptor writes.
type sink struct {
	kind   int // sinkOut, sinkErr, sinkNull, sinkFile
	path   string
	append bool
}

const (
	sinkOut = iota
	sinkErr
	sinkNull
	sinkFile
)

func (sh *shell) exec(c command) int {
	fd1, fd2 := sink{kind: sinkOut}, sink{kind: sinkErr}
	stdin := ""
	for _, r := range c.redirs {
		var s sink
		switch r.target {
		case "&1":
			s = fd1
		case "&2":
			s = fd2
		case "/dev/null":
			s = sink{kind: sinkNull}
		default:
			target := sh.h.resolve(r.target)
			if r.fd == 0 {
				content, ok := sh.h.Files[target]
				if !ok {
					fmt.Fprintf(&sh.errb, "sh: %s: cannot open\n", r.target)
					return 1
				}
				stdin = content
				continue
			}
			if !sh.mayWrite(target) {
				fmt.Fprintf(&sh.errb, "sh: %s: Permission denied\n", r.target)
				return 1
			}
			s = sink{kind: sinkFile, path: target, append: r.append}
			if !r.append {
				sh.h.Files[target] = "" // sh truncates before the command runs
			} else if _, ok := sh.h.Files[target]; !ok {
				sh.h.Files[target] = ""
			}
		}
		if r.fd == 2 {
			fd2 = s
		} else {
			fd1 = s
		}
	}
	if len(c.argv) == 0 {
		return 0
	}
	var out Output
	if f := sh.h.Faults.FailCommand; f != "" && strings.Contains(strings.Join(c.argv, " "), f) {
		out = Output{Stderr: "lab: injected failure\n", Code: 1}
	} else {
		call := &Call{Host: sh.h, User: sh.user, Argv: c.argv, Stdin: stdin}
		handled := false
		if sh.h.Emu != nil {
			out, handled = sh.h.Emu.Command(call)
		}
		if !handled {
			out = sh.builtin(call)
		}
	}
	sh.write(fd1, out.Stdout)
	sh.write(fd2, out.Stderr)
	return out.Code
}

func (sh *shell) write(s sink, text string) {
	if text == "" {
		return
	}
	switch s.kind {
	case sinkOut:
		sh.stdout.WriteString(text)
	case sinkErr:
		sh.errb.WriteString(text)
	case sinkFile:
		sh.h.Files[s.path] += text
	}
}

// mayWrite reports whether the user may create or replace path.
func (sh *shell) mayWrite(p string) bool {
	return sh.user == "root" || strings.HasPrefix(path.Clean(p), "/tmp/")
}

func (sh *shell) builtin(c *Call) Output {
	h, args := c.Host, c.Argv[1:]
	switch name := c.Argv[0]; name {
	case "true", "sync", "export", ":":
		return Output{}
	case "false":
		return Output{Code: 1}
	case "echo":
		return Output{Stdout: strings.Join(args, " ") + "\n"}
	case "printf":
		if len(args) == 0 {
			return Output{Stderr: "printf: usage: printf format [arguments]\n", Code: 2}
		}
		return Output{Stdout: shPrintf(args[0], args[1:])}
	case "cat":
		if len(args) == 0 {
			return Output{Stdout: c.Stdin}
		}
		var out Output
		var b strings.Builder
		for _, f := range args {
			content, ok := h.Files[h.resolve(f)]
			if !ok {
				out.Stderr += fmt.Sprintf("cat: cannot open %s: No such file or directory\n", f)
				out.Code = 2
				continue
			}
			b.WriteString(content)
		}
		out.Stdout = b.String()
		return out
	case "mv":
		if len(args) > 0 && args[0] == "-f" {
			args = args[1:]
		}
		if len(args) != 2 {
			return Output{Stderr: "mv: Insufficient arguments (1)\nUsage: mv [-f] [-i] f1 f2\n", Code: 2}
		}
		content, ok := h.Files[args[0]]
		if !ok {
			return Output{Stderr: fmt.Sprintf("mv: cannot access %s\n", args[0]), Code: 2}
		}
		if !sh.mayWrite(args[1]) || !sh.mayWrite(args[0]) {
			return Output{Stderr: fmt.Sprintf("mv: cannot rename %s to %s: Permission denied\n", args[0], args[1]), Code: 2}
		}
		h.Files[args[1]] = content
		delete(h.Files, args[0])
		return Output{}
	case "rm":
		force := false
		if len(args) > 0 && args[0] == "-f" {
			force, args = true, args[1:]
		}
		var out Output
		for _, f := range args {
			if _, ok := h.Links[f]; ok {
				if !sh.mayWrite(f) {
					out.Stderr += fmt.Sprintf("rm: %s not removed: Permission denied\n", f)
					out.Code = 2
					continue
				}
				delete(h.Links, f) // rm removes the link, not its target
				continue
			}
			if h.Dirs[f] {
				out.Stderr += fmt.Sprintf("rm: %s is a directory\n", f)
				out.Code = 2
				continue
			}
			if _, ok := h.Files[f]; !ok {
				if !force {
					out.Stderr += fmt.Sprintf("rm: %s: No such file or directory\n", f)
					out.Code = 2
				}
				continue
			}
			if !sh.mayWrite(f) {
				out.Stderr += fmt.Sprintf("rm: %s not removed: Permission denied\n", f)
				out.Code = 2
				continue
			}
			delete(h.Files, f)
		}
		return out
	case "mkdir":
		return sh.mkdir(args)
	case "rmdir":
		return sh.rmdir(args)
	case "uname":
		return sh.uname(args)
	case "hostname":
		return Output{Stdout: h.Uname.Nodename + "\n"}
	case "id":
		uid, gid := 0, 0
		if c.User != "root" {
			uid, gid = 1001, 100
		}
		if len(args) == 1 && args[0] == "-u" {
			return Output{Stdout: strconv.Itoa(uid) + "\n"}
		}
		group := "root"
		if c.User != "root" {
			group = "users"
		}
		return Output{Stdout: fmt.Sprintf("uid=%d(%s) gid=%d(%s)\n", uid, c.User, gid, group)}
	case "sleep":
		// A lab host answers at once; Faults.Delay makes a slow host.
		return Output{}
	case "test", "[":
		return sh.test(name, args)
	case HandshakeProbe, path.Base(HandshakeProbe):
		if h.Faults.HandshakeFailures && h.Emu != nil && h.Emu.TimeWait() < h.BaselineTimeWait {
			return Output{Stderr: "check-app-handshakes: 7 of 20 handshakes failed (connection reset by peer)\n", Code: 2}
		}
		return Output{Stdout: "check-app-handshakes: 20 of 20 handshakes ok\n"}
	}
	return Output{Stderr: fmt.Sprintf("sh: %s: not found\n", c.Argv[0]), Code: 127}
}

// Symlink plants a symbolic link at link pointing to target, as ln -s
// would (any user may, under /tmp).
func (h *Host) Symlink(target, link string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Links == nil {
		h.Links = map[string]string{}
	}
	h.Links[link] = target
}

// resolve follows symbolic links, the path itself and each of its
// directories, at most 8 times (then the path is returned as it stands, and
// opening it fails).
func (h *Host) resolve(p string) string {
	for hops := 0; hops < 8; hops++ {
		changed := false
		for dir := p; dir != "/" && dir != "." && dir != ""; dir = path.Dir(dir) {
			t, ok := h.Links[dir]
			if !ok {
				continue
			}
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(dir), t)
			}
			p, changed = path.Join(t, strings.TrimPrefix(p, dir)), true
			break
		}
		if !changed {
			return p
		}
	}
	return p
}

// exists reports whether anything (file, directory or link) is at p itself.
func (h *Host) exists(p string) bool {
	_, file := h.Files[p]
	_, link := h.Links[p]
	return file || link || h.Dirs[p]
}

// mkdir makes directories; like mkdir(2) it never follows a link at the
// path and fails on any existing path.
func (sh *shell) mkdir(args []string) Output {
	if len(args) > 1 && args[0] == "-m" {
		if _, err := strconv.ParseUint(args[1], 8, 32); err != nil {
			return Output{Stderr: fmt.Sprintf("mkdir: invalid mode %s\n", args[1]), Code: 2}
		}
		args = args[2:]
	}
	if len(args) == 0 {
		return Output{Stderr: "usage: mkdir [-m mode] [-p] dirname ...\n", Code: 2}
	}
	var out Output
	for _, d := range args {
		d = path.Clean(d)
		switch {
		case sh.h.exists(d):
			out.Stderr += fmt.Sprintf("mkdir: cannot create %s: File exists\n", d)
			out.Code = 2
		case !sh.mayWrite(d):
			out.Stderr += fmt.Sprintf("mkdir: cannot create %s: Permission denied\n", d)
			out.Code = 2
		default:
			if sh.h.Dirs == nil {
				sh.h.Dirs = map[string]bool{}
			}
			sh.h.Dirs[d] = true
		}
	}
	return out
}

// rmdir removes empty directories.
func (sh *shell) rmdir(args []string) Output {
	var out Output
	for _, d := range args {
		d = path.Clean(d)
		if !sh.h.Dirs[d] {
			out.Stderr += fmt.Sprintf("rmdir: %s: No such file or directory\n", d)
			out.Code = 2
			continue
		}
		empty := true
		for f := range sh.h.Files {
			if strings.HasPrefix(f, d+"/") {
				empty = false
				break
			}
		}
		if !empty {
			out.Stderr += fmt.Sprintf("rmdir: %s: Directory not empty\n", d)
			out.Code = 2
			continue
		}
		delete(sh.h.Dirs, d)
	}
	return out
}

func (sh *shell) uname(args []string) Output {
	u := sh.h.Uname
	want := map[byte]bool{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			return Output{Stderr: "usage: uname [-amnrsv]\n", Code: 2}
		}
		for i := 1; i < len(a); i++ {
			if !strings.ContainsRune("amnrsv", rune(a[i])) {
				return Output{Stderr: fmt.Sprintf("uname: illegal option -- %c\nusage: uname [-amnrsv]\n", a[i]), Code: 2}
			}
			want[a[i]] = true
		}
	}
	if len(want) == 0 {
		want['s'] = true
	}
	if want['a'] {
		want['s'], want['n'], want['r'], want['v'], want['m'] = true, true, true, true, true
	}
	var f []string
	for _, x := range []struct {
		c byte
		v string
	}{{'s', u.Sysname}, {'n', u.Nodename}, {'r', u.Release}, {'v', u.Version}, {'m', u.Machine}} {
		if want[x.c] {
			f = append(f, x.v)
		}
	}
	return Output{Stdout: strings.Join(f, " ") + "\n"}
}

func (sh *shell) test(name string, args []string) Output {
	if name == "[" {
		if len(args) == 0 || args[len(args)-1] != "]" {
			return Output{Stderr: "sh: [: ']' missing\n", Code: 2}
		}
		args = args[:len(args)-1]
	}
	if len(args) != 2 {
		return Output{Stderr: fmt.Sprintf("sh: %s: only -f, -r and -e FILE are supported by the lab\n", name), Code: 2}
	}
	p := sh.h.resolve(args[1])
	_, exists := sh.h.Files[p]
	exists = exists || sh.h.Dirs[p] || args[1] == HandshakeProbe // installed on every lab host
	switch args[0] {
	case "-f", "-e", "-r":
		if exists {
			return Output{}
		}
		return Output{Code: 1}
	}
	return Output{Stderr: fmt.Sprintf("sh: %s: unknown operator %s\n", name, args[0]), Code: 2}
}

// shPrintf is printf(1) for %s, %d, %% and the escapes \n \t \\ \'; the
// format is reused while arguments remain.
func shPrintf(format string, args []string) string {
	var b strings.Builder
	for {
		used := 0
		for i := 0; i < len(format); i++ {
			c := format[i]
			switch {
			case c == '\\' && i+1 < len(format):
				i++
				switch format[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case '\\':
					b.WriteByte('\\')
				default:
					b.WriteByte('\\')
					b.WriteByte(format[i])
				}
			case c == '%' && i+1 < len(format):
				i++
				switch format[i] {
				case '%':
					b.WriteByte('%')
				case 's', 'd':
					arg := ""
					if used < len(args) {
						arg = args[used]
					}
					used++
					if format[i] == 'd' {
						n, _ := strconv.Atoi(arg)
						arg = strconv.Itoa(n)
					}
					b.WriteString(arg)
				default:
					b.WriteByte('%')
					b.WriteByte(format[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		if used == 0 || used >= len(args) {
			return b.String()
		}
		args = args[used:]
	}
}

// The parser.

type op int

const (
	opSeq op = iota // ; or newline
	opAnd           // &&
	opOr            // ||
)

type redir struct {
	fd     int // 0, 1 or 2
	target string
	append bool
}

type command struct {
	after  op // how this command joins the one before
	argv   []string
	redirs []redir
}

// parseScript splits a script into commands. Anything outside the subset
// is an error naming what was found.
func parseScript(s string) ([]command, error) {
	var cmds []command
	cur := command{}
	next := opSeq
	var word strings.Builder
	inWord := false // a word is being built (even an empty quoted one)
	assign := true  // the word so far could be NAME= (unquoted)
	pending := -1   // a redirection waiting for its target: fd
	pendingApp := false
	flushWord := func() error {
		if !inWord {
			return nil
		}
		w := word.String()
		word.Reset()
		inWord = false
		isAssign := assign && isAssignment(w)
		assign = true
		if pending >= 0 {
			cur.redirs = append(cur.redirs, redir{fd: pending, target: w, append: pendingApp})
			pending = -1
			return nil
		}
		if isAssign && len(cur.argv) == 0 {
			return nil // NAME=value before a command: accepted, ignored
		}
		cur.argv = append(cur.argv, w)
		return nil
	}
	endCommand := func(o op) error {
		if err := flushWord(); err != nil {
			return err
		}
		if pending >= 0 {
			return fmt.Errorf("redirection without a target")
		}
		if len(cur.argv) > 0 || len(cur.redirs) > 0 {
			cur.after = next
			cmds = append(cmds, cur)
		} else if o != opSeq {
			return fmt.Errorf("%s without a command before it", map[op]string{opAnd: "&&", opOr: "||"}[o])
		}
		cur = command{}
		next = o
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			if err := flushWord(); err != nil {
				return nil, err
			}
		case c == '\n' || c == ';':
			if err := endCommand(opSeq); err != nil {
				return nil, err
			}
		case c == '&' && i+1 < len(s) && s[i+1] == '&':
			if err := endCommand(opAnd); err != nil {
				return nil, err
			}
			i++
		case c == '|' && i+1 < len(s) && s[i+1] == '|':
			if err := endCommand(opOr); err != nil {
				return nil, err
			}
			i++
		case c == '#' && !inWord:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			i-- // let the newline end the command
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			word.WriteString(s[i+1 : i+1+j])
			inWord, assign = true, assign && strings.Contains(word.String(), "=")
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch s[i] {
				case '\\':
					if i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
						i++
					} else if i+1 < len(s) && s[i+1] == '\n' {
						i++
						continue
					}
				case '$', '`':
					return nil, fmt.Errorf("%c inside \"...\": expansions are not supported", s[i])
				}
				word.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \"")
			}
			inWord, assign = true, assign && strings.Contains(word.String(), "=")
		case c == '\\':
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					word.WriteByte(s[i])
					inWord = true
				}
			}
		case c == '>' || c == '<' || (c >= '0' && c <= '2' && !inWord && i+1 < len(s) && s[i+1] == '>'):
			if err := flushWord(); err != nil {
				return nil, err
			}
			if pending >= 0 {
				return nil, fmt.Errorf("redirection without a target")
			}
			fd := 1
			if c == '<' {
				fd = 0
			} else if c != '>' {
				fd = int(c - '0')
				i++
			}
			app := false
			if c != '<' && i+1 < len(s) && s[i+1] == '>' {
				app = true
				i++
			}
			if c != '<' && i+1 < len(s) && s[i+1] == '&' {
				// 2>&1 or >&2
				if i+2 >= len(s) || (s[i+2] != '1' && s[i+2] != '2') {
					return nil, fmt.Errorf("only 2>&1 and >&2 are supported")
				}
				cur.redirs = append(cur.redirs, redir{fd: fd, target: "&" + string(s[i+2])})
				i += 2
				continue
			}
			pending, pendingApp = fd, app
		case c == '|' || c == '&' || c == '(' || c == ')' || c == '`' || c == '$' || c == '*' || c == '?':
			return nil, fmt.Errorf("%q is not supported by the lab shell (no pipes, background jobs, subshells, expansions or globs)", c)
		default:
			if c == '=' && !inWord {
				assign = false
			}
			word.WriteByte(c)
			inWord = true
		}
	}
	if err := endCommand(opSeq); err != nil {
		return nil, err
	}
	return cmds, nil
}

// isAssignment reports whether w is NAME=value.
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
