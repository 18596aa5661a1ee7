package lab

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// The lab's shell runs the subset of POSIX sh that fleettune's drivers
// send, with sh's own semantics, and refuses anything else loudly (a syntax
// error, exit 2) so that a driver cannot come to depend on something only a
// real shell would do:
//
//   - a script is lists of and-or lists: commands joined by ";", newlines,
//     "&&" and "||" (left to right, as sh does); "#" at a word start
//     comments to the end of the line;
//   - pipes of simple commands, A | B (a newline may follow the |): A's
//     standard output, with what its own 2>&1 sends there, is B's input
//     (a <FILE of B's replaces it), A's stderr without 2>&1 is the
//     script's; the status is the last command's, as sh without pipefail;
//   - compound commands: if/then/elif/else/fi, for NAME in WORDS; do
//     LIST; done, and while LIST; do LIST; done, whose input may be
//     redirected from a file (done <FILE) for the read inside it;
//   - words are bare, '...' (literal, may span lines) or "..." (literal
//     but for \" \\ \$ \` escapes and $NAME, ${NAME}, $? expansion);
//     unquoted words also expand variables (then split on blanks) and
//     pathname patterns (*, ?, [...]) against the host's files, a pattern
//     that matches nothing staying as it is, as sh leaves it;
//   - NAME=value alone sets a shell variable; before a command it is
//     accepted and ignored (the environment of that command);
//   - redirections: >FILE, >>FILE, <FILE, 2>FILE, 2>>FILE, 2>&1, >&2;
//   - no background jobs, subshells, command substitution, until, case,
//     functions, or compound commands in a pipe;
//   - built-ins, when the host's emulator does not answer a command itself:
//     echo, printf, cat, mv, rm, mkdir [-m MODE], rmdir, true, false,
//     export, umask, uname, hostname, id, sync, test and [ (-f, -r, -e
//     FILE; -z, -n S; S = S, S != S), break (the innermost loop),
//     read [-r] NAME... (IFS empty or the default;
//     from its own <FILE or the enclosing while's; a read of an integer
//     sysctl under /proc/sys gets one byte, as dash's and busybox's read,
//     which read one byte per read(2), get from the kernel), command -v
//     NAME, sleep, awk (rules `[PATTERN] { ACTION; ... }`, PATTERN
//     `$N == "S"`, `$N != "S"` (N may be NF), those joined by ||, or
//     `NR > N`; ACTION print [$A, "S", ...], next or VAR++; a last
//     `END { print "S", VAR+0 }`: see awk.go),
//     and the handshake probe /usr/local/bin/check-app-handshakes.
//
// Files live in Host.Files, directories made by mkdir in Host.Dirs; an
// emulator that implements ProcFiles answers reads of the files its kernel
// computes (Linux's /proc). A symbolic link (Host.Links, planted with
// Host.Symlink) is followed by redirections, cat and test as a real shell
// follows it: root writing through a link another user planted in /tmp
// overwrites the link's target. mkdir, like mkdir(2), refuses any existing
// path, a link included. A user other than root may write only under /tmp.
// Every command of one Run sees the host locked.

// HandshakeProbe is the lab's stand-in for an application's handshake
// check, for playbooks' health.probe.
const HandshakeProbe = "/usr/local/bin/check-app-handshakes"

// ProcFiles is implemented by an emulator whose kernel computes files on
// read (Linux /proc): ReadProc answers a read of path, ok false when the
// emulator has no such file (the shell then looks in Host.Files);
// WriteProc takes a write (echo 1 > /proc/sys/...), handled false when
// the path is not the emulator's. Both are called with the host locked.
type ProcFiles interface {
	ReadProc(h *Host, path string) (content string, ok bool)
	WriteProc(h *Host, user, path, content string) (errText string, handled bool)
}

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
	h        *Host
	user     string
	vars     map[string]string
	status   int              // $?
	stdout   *strings.Builder // where fd 1 goes: the output, or the next command of a pipe
	errb     strings.Builder
	input    *shellInput // the enclosing while's redirected input, nil if none
	loops    int         // the for and while loops the running command is in
	breaking bool        // break ran: the innermost loop ends
}

// maxWhileIterations bounds a while loop: enough for a file of a million
// lines, and an end to one that would never stop.
const maxWhileIterations = 1 << 20

// shellInput is a redirected input being read line by line.
type shellInput struct {
	text     string
	byteWise bool // an integer sysctl read one byte at a time: only the first byte comes
}

// out is where the shell's fd 1 goes now.
func (sh *shell) out() *strings.Builder {
	if sh.stdout == nil {
		sh.stdout = new(strings.Builder)
	}
	return sh.stdout
}

func (sh *shell) run(script string) Output {
	prog, err := parseScript(script)
	if err != nil {
		return Output{Stderr: "sh: syntax error: " + err.Error() + "\n", Code: 2}
	}
	sh.runList(prog)
	return Output{Stdout: sh.out().String(), Stderr: sh.errb.String(), Code: sh.status}
}

func (sh *shell) runList(l list) {
	for _, ao := range l {
		for i, it := range ao {
			if sh.breaking {
				return
			}
			if i > 0 {
				if it.op == opAnd && sh.status != 0 || it.op == opOr && sh.status == 0 {
					continue
				}
			}
			sh.runNode(it.n)
		}
	}
}

func (sh *shell) runNode(n node) {
	switch n := n.(type) {
	case *simpleCmd:
		sh.status = sh.exec(n, nil)
	case *pipeCmd:
		// As sh: each command's standard output (and what 2>&1 sends
		// there) is the next one's input; the status is the last one's.
		// The commands run one after another, which nothing here can tell
		// from running them together.
		var in *string
		for i, c := range n.cmds {
			if i == len(n.cmds)-1 {
				sh.status = sh.exec(c, in)
				break
			}
			saved := sh.stdout
			sh.stdout = new(strings.Builder)
			sh.exec(c, in)
			text := sh.stdout.String()
			in, sh.stdout = &text, saved
		}
	case *ifCmd:
		for i, cond := range n.conds {
			sh.runList(cond)
			if sh.status == 0 {
				sh.runList(n.bodies[i])
				return
			}
		}
		sh.status = 0
		if n.els != nil {
			sh.runList(n.els)
		}
	case *whileCmd:
		saved := sh.input
		if n.input != nil {
			p := sh.word1(n.input)
			content, ok := sh.readFile(p)
			if !ok {
				fmt.Fprintf(&sh.errb, "sh: %s: cannot open\n", p)
				sh.status = 2
				return
			}
			sh.input = &shellInput{text: content, byteWise: sh.byteWise(p)}
		}
		sh.status = 0
		sh.loops++
		for i := 0; ; i++ {
			if i == maxWhileIterations {
				fmt.Fprintf(&sh.errb, "sh: lab: while ran %d times; a loop that does not end is a driver bug\n", i)
				sh.status = 2
				break
			}
			sh.runList(n.cond)
			if sh.breaking || sh.status != 0 {
				sh.status = 0
				break
			}
			sh.runList(n.body)
			if sh.breaking {
				break
			}
		}
		sh.loops--
		sh.breaking = false
		sh.input = saved
	case *forCmd:
		var items []string
		for _, w := range n.words {
			items = append(items, sh.expand(w)...)
		}
		sh.status = 0
		sh.loops++
		for _, it := range items {
			sh.setVar(n.name, it)
			sh.runList(n.body)
			if sh.breaking {
				break
			}
		}
		sh.loops--
		sh.breaking = false
	}
}

func (sh *shell) setVar(name, v string) {
	if sh.vars == nil {
		sh.vars = map[string]string{}
	}
	sh.vars[name] = v
}

func (sh *shell) getVar(name string) string {
	if name == "?" {
		return strconv.Itoa(sh.status)
	}
	return sh.vars[name]
}

// expand performs parameter expansion, field splitting and pathname
// expansion on a word, as sh does, and removes the quotes.
func (sh *shell) expand(w word) []string {
	var fields []string
	var cur strings.Builder
	var pat strings.Builder // cur with unquoted glob characters kept, quoted ones escaped
	have, glob := false, false
	flush := func() {
		if !have {
			return
		}
		if glob {
			if m := sh.glob(pat.String()); len(m) > 0 {
				fields = append(fields, m...)
			} else {
				fields = append(fields, cur.String())
			}
		} else {
			fields = append(fields, cur.String())
		}
		cur.Reset()
		pat.Reset()
		have, glob = false, false
	}
	lit := func(s string, quoted bool) {
		cur.WriteString(s)
		for i := 0; i < len(s); i++ {
			c := s[i]
			if strings.IndexByte("*?[\\", c) >= 0 {
				if quoted || c == '\\' {
					pat.WriteByte('\\')
				} else {
					glob = true
				}
			}
			pat.WriteByte(c)
		}
	}
	for _, p := range w {
		switch p.kind {
		case partLit:
			lit(p.text, false)
			have = true
		case partQuoted:
			lit(p.text, true)
			have = true
		case partVar:
			v := sh.getVar(p.text)
			if p.quoted {
				lit(v, true)
				have = true
				continue
			}
			// Unquoted: split on blanks (IFS unset: space, tab, newline).
			for i, f := range splitBlanks(v) {
				if i > 0 || (len(v) > 0 && strings.IndexByte(" \t\n", v[0]) >= 0) {
					flush()
				}
				lit(f, false)
				have = true
			}
			if len(v) > 0 && strings.IndexByte(" \t\n", v[len(v)-1]) >= 0 {
				flush()
			}
		}
	}
	flush()
	return fields
}

func splitBlanks(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
}

// word1 expands a word that must stay one word (a redirection target).
func (sh *shell) word1(w word) string {
	var b strings.Builder
	for _, p := range w {
		if p.kind == partVar {
			b.WriteString(sh.getVar(p.text))
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// glob matches pattern against the host's file names, sorted; nil when
// nothing matches or the pattern is malformed.
func (sh *shell) glob(pattern string) []string {
	var m []string
	for p := range sh.h.Files {
		if ok, err := path.Match(pattern, p); err == nil && ok {
			m = append(m, p)
		}
	}
	sort.Strings(m)
	return m
}

// readFile reads a file as the host's kernel would: the emulator's
// computed files first, then Host.Files.
func (sh *shell) readFile(p string) (string, bool) {
	return readHostFile(sh.h, p)
}

func readHostFile(h *Host, p string) (string, bool) {
	p = h.resolve(p)
	if pf, ok := h.Emu.(ProcFiles); ok {
		if s, ok := pf.ReadProc(h, p); ok {
			return s, true
		}
	}
	s, ok := h.Files[p]
	return s, ok
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

// exec runs one simple command; pipe, when not nil, is its standard input
// (what the command before it in a pipe wrote), which a <FILE replaces.
func (sh *shell) exec(c *simpleCmd, pipe *string) int {
	var argv []string
	for _, w := range c.argv {
		argv = append(argv, sh.expand(w)...)
	}
	if len(argv) == 0 {
		// Assignments alone set shell variables.
		for _, a := range c.assigns {
			sh.setVar(a.name, sh.word1(a.value))
		}
	}
	fd1, fd2 := sink{kind: sinkOut}, sink{kind: sinkErr}
	stdin, stdinPath := "", ""
	if pipe != nil {
		stdin = *pipe
	}
	for _, r := range c.redirs {
		var s sink
		target := r.dup
		if target == "" {
			target = sh.word1(r.target)
		}
		switch target {
		case "&1":
			s = fd1
		case "&2":
			s = fd2
		case "/dev/null":
			s = sink{kind: sinkNull}
		default:
			if r.fd == 0 {
				content, ok := sh.readFile(target)
				if !ok {
					fmt.Fprintf(&sh.errb, "sh: %s: cannot open\n", target)
					return 1
				}
				stdin, stdinPath = content, target
				continue
			}
			if strings.HasPrefix(path.Clean(target), "/proc/") {
				s = sink{kind: sinkFile, path: path.Clean(target), append: r.append}
				break
			}
			named := target
			target = sh.h.resolve(target)
			if !sh.mayWrite(target) {
				fmt.Fprintf(&sh.errb, "sh: %s: Permission denied\n", named)
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
	if len(argv) == 0 {
		return 0
	}
	if argv[0] == "read" {
		return sh.read(c, argv[1:], stdin, stdinPath, fd2)
	}
	if argv[0] == "break" {
		if len(argv) > 1 {
			sh.write(fd2, "sh: break: only a plain break is supported by the lab\n")
			return 2
		}
		sh.breaking = sh.loops > 0 // outside a loop, as sh: nothing to break
		return 0
	}
	var out Output
	if f := sh.h.Faults.FailCommand; f != "" && strings.Contains(strings.Join(argv, " "), f) {
		out = Output{Stderr: "lab: injected failure\n", Code: 1}
	} else {
		call := &Call{Host: sh.h, User: sh.user, Argv: argv, Stdin: stdin}
		handled := false
		if sh.h.Emu != nil {
			out, handled = sh.h.Emu.Command(call)
		}
		if !handled {
			out = sh.builtin(call)
		}
	}
	if msg := sh.write(fd1, out.Stdout); msg != "" {
		sh.errb.WriteString(msg)
		if out.Code == 0 {
			out.Code = 1
		}
	}
	sh.write(fd2, out.Stderr)
	return out.Code
}

// read is sh's read [-r] NAME...: one line from the command's own <FILE
// (stdin, read from path), else from the enclosing while's input. It sets the names (the last takes
// the rest of the line) and returns 0 for a line that ended in a newline,
// 1 at the end of the input (the names then hold what came before it).
// Only an empty IFS or the default one is emulated.
func (sh *shell) read(c *simpleCmd, args []string, stdin, path string, fd2 sink) int {
	raw := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if args[0] != "-r" {
			sh.write(fd2, fmt.Sprintf("sh: read: %s: only -r is supported by the lab\n", args[0]))
			return 2
		}
		raw, args = true, args[1:]
	}
	if len(args) == 0 {
		sh.write(fd2, "sh: read: arg count\n")
		return 2
	}
	for _, a := range args {
		if !isName(a) {
			sh.write(fd2, fmt.Sprintf("sh: read: %s: bad variable name\n", a))
			return 2
		}
	}
	ifs, ifsSet := " \t\n", false
	for _, a := range c.assigns {
		if a.name == "IFS" {
			ifs, ifsSet = sh.word1(a.value), true
		}
	}
	if ifsSet && ifs != "" && ifs != " \t\n" {
		sh.write(fd2, fmt.Sprintf("sh: read: IFS=%q is not supported by the lab (only empty or the default)\n", ifs))
		return 2
	}
	in := sh.input
	if path != "" {
		in = &shellInput{text: stdin, byteWise: sh.byteWise(path)}
	}
	if in == nil {
		in = &shellInput{}
	}
	if in.byteWise && len(in.text) > 1 {
		in.text = in.text[:1] // the kernel's end of file at offset 1
	}
	var line strings.Builder
	status := 1
	for len(in.text) > 0 {
		ch := in.text[0]
		in.text = in.text[1:]
		if ch == '\\' && !raw && len(in.text) > 0 {
			next := in.text[0]
			in.text = in.text[1:]
			if next != '\n' {
				line.WriteByte(next)
			}
			continue
		}
		if ch == '\n' {
			status = 0
			break
		}
		line.WriteByte(ch)
	}
	text := line.String()
	if ifs == "" {
		for i, a := range args {
			if i == 0 {
				sh.setVar(a, text)
			} else {
				sh.setVar(a, "")
			}
		}
		return status
	}
	text = strings.Trim(text, " \t\n")
	for i, a := range args {
		if i == len(args)-1 {
			sh.setVar(a, strings.TrimRight(text, " \t\n"))
			break
		}
		var field, rest string
		if j := strings.IndexAny(text, " \t"); j >= 0 {
			field, rest = text[:j], text[j+1:]
		} else {
			field, rest = text, ""
		}
		sh.setVar(a, field)
		text = strings.TrimLeft(rest, " \t")
	}
	return status
}

// byteWise reports whether a read of p by sh's read, one byte per
// read(2), gets only the first byte (an integer sysctl).
func (sh *shell) byteWise(p string) bool {
	b, ok := sh.h.Emu.(interface{ ByteWiseRead(path string) bool })
	return ok && b.ByteWiseRead(sh.h.resolve(p))
}

// commandV is command -v NAME: the path of an external command, the name
// of a built-in, nothing and 127 (dash) for a command the host lacks.
func (sh *shell) commandV(args []string) Output {
	if len(args) != 2 || args[0] != "-v" {
		return Output{Stderr: "sh: command: only command -v NAME is supported by the lab\n", Code: 2}
	}
	name := args[1]
	switch name {
	case "echo", "printf", "read", "test", "[", "true", "false", "export", "umask", "command", "cd", ":":
		return Output{Stdout: name + "\n"}
	}
	if w, ok := sh.h.Emu.(interface {
		Which(name string) (string, bool)
	}); ok {
		if p, found := w.Which(name); found {
			return Output{Stdout: p + "\n"}
		}
		return Output{Code: 127}
	}
	switch name {
	case "cat", "mv", "rm", "mkdir", "rmdir", "uname", "hostname", "id", "sync", "sleep", "awk":
		return Output{Stdout: "/usr/bin/" + name + "\n"}
	}
	return Output{Code: 127}
}

// write sends text to a sink; for a file under /proc it is the
// emulator's kernel that takes the write, and the returned message is the
// shell's complaint when it refuses.
func (sh *shell) write(s sink, text string) string {
	switch s.kind {
	case sinkOut:
		sh.out().WriteString(text)
	case sinkErr:
		sh.errb.WriteString(text)
	case sinkFile:
		if strings.HasPrefix(s.path, "/proc/") {
			if pf, ok := sh.h.Emu.(ProcFiles); ok {
				if msg, handled := pf.WriteProc(sh.h, sh.user, s.path, text); handled {
					if msg != "" {
						return "sh: " + msg + "\n"
					}
					return ""
				}
			}
			return fmt.Sprintf("sh: %s: Permission denied\n", s.path)
		}
		sh.h.Files[s.path] += text
	}
	return ""
}

// mayWrite reports whether the user may create or replace path.
func (sh *shell) mayWrite(p string) bool {
	return sh.user == "root" || strings.HasPrefix(path.Clean(p), "/tmp/")
}

func (sh *shell) builtin(c *Call) Output {
	h, args := c.Host, c.Argv[1:]
	switch name := c.Argv[0]; name {
	case "true", "sync", "export", ":", "umask":
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
			content, ok := sh.readFile(f)
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
	case "command":
		return sh.commandV(args)
	case "awk":
		return sh.awk(args, c.Stdin)
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
	if len(args) == 3 && (args[1] == "=" || args[1] == "!=") {
		if (args[0] == args[2]) == (args[1] == "=") {
			return Output{}
		}
		return Output{Code: 1}
	}
	if len(args) == 2 && (args[0] == "-z" || args[0] == "-n") {
		if (args[1] == "") == (args[0] == "-z") {
			return Output{}
		}
		return Output{Code: 1}
	}
	if len(args) != 2 {
		return Output{Stderr: fmt.Sprintf("sh: %s: only -f, -r and -e FILE, -z and -n S, S = S and S != S are supported by the lab\n", name), Code: 2}
	}
	_, exists := sh.readFile(args[1])
	exists = exists || sh.h.Dirs[sh.h.resolve(args[1])] || args[1] == HandshakeProbe // installed on every lab host
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

// The parser: a tokenizer for words, operators and redirections, then a
// recursive-descent parser for lists, and-or lists and the compound
// commands.

type op int

const (
	opSeq op = iota // ; or newline
	opAnd           // &&
	opOr            // ||
)

type partKind int

const (
	partLit    partKind = iota // unquoted text
	partQuoted                 // '...' or the literal text of "..."
	partVar                    // $NAME, ${NAME}, $?
)

type wordPart struct {
	kind   partKind
	text   string
	quoted bool // a partVar inside "..."
}

type word []wordPart

// bare is the word's text when it is one unquoted literal (a reserved
// word or an assignment candidate), else "".
func (w word) bare() string {
	if len(w) == 1 && w[0].kind == partLit {
		return w[0].text
	}
	return ""
}

type redir struct {
	fd     int // 0, 1 or 2
	target word
	dup    string // "&1" or "&2" for 2>&1 and >&2
	append bool
}

type assignment struct {
	name  string
	value word
}

type node interface{}

type simpleCmd struct {
	assigns []assignment
	argv    []word
	redirs  []redir
}

type ifCmd struct {
	conds, bodies []list
	els           list
}

type whileCmd struct {
	cond, body list
	input      word // done <FILE; nil when not redirected
}

type forCmd struct {
	name  string
	words []word
	body  list
}

// pipeCmd is A | B | ...: simple commands only, each reading what the one
// before it wrote on its standard output.
type pipeCmd struct {
	cmds []*simpleCmd
}

type andOrItem struct {
	op op // how this command joins the one before
	n  node
}

type andOr []andOrItem

type list []andOr

type tokKind int

const (
	tWord tokKind = iota
	tOp           // ";", "\n", "&&", "||", "|"
	tRedir
	tEOF
)

type token struct {
	kind tokKind
	w    word
	op   string
	r    redir // tRedir: fd, dup, append (target is the next word)
}

// tokenize splits a script into tokens. Anything outside the subset is an
// error naming what was found.
func tokenize(s string) ([]token, error) {
	var toks []token
	var w word
	var lit strings.Builder
	inWord := false
	flushLit := func() {
		if lit.Len() > 0 {
			w = append(w, wordPart{kind: partLit, text: lit.String()})
			lit.Reset()
		}
	}
	endWord := func() {
		flushLit()
		if inWord {
			toks = append(toks, token{kind: tWord, w: w})
		}
		w, inWord = nil, false
	}
	readVar := func(i int, quoted bool) (int, error) {
		// s[i] == '$'
		if i+1 >= len(s) {
			return i, fmt.Errorf("'$' at the end of the script")
		}
		switch c := s[i+1]; {
		case c == '?':
			w = append(w, wordPart{kind: partVar, text: "?", quoted: quoted})
			return i + 1, nil
		case c == '{':
			j := strings.IndexByte(s[i+2:], '}')
			if j < 0 || !isName(s[i+2:i+2+j]) {
				return i, fmt.Errorf("'${' without a plain NAME}: only ${NAME} is supported by the lab shell")
			}
			w = append(w, wordPart{kind: partVar, text: s[i+2 : i+2+j], quoted: quoted})
			return i + 2 + j, nil
		case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			w = append(w, wordPart{kind: partVar, text: s[i+1 : j], quoted: quoted})
			return j - 1, nil
		case c == '(':
			return i, fmt.Errorf("'$(' is not supported by the lab shell (no command substitution)")
		}
		return i, fmt.Errorf("'$%c' is not supported by the lab shell", s[i+1])
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			endWord()
		case c == '\n' || c == ';':
			endWord()
			if c == ';' && i+1 < len(s) && s[i+1] == ';' {
				return nil, fmt.Errorf("';;' is not supported by the lab shell (no case)")
			}
			toks = append(toks, token{kind: tOp, op: string(c)})
		case c == '&' && i+1 < len(s) && s[i+1] == '&':
			endWord()
			toks = append(toks, token{kind: tOp, op: "&&"})
			i++
		case c == '|' && i+1 < len(s) && s[i+1] == '|':
			endWord()
			toks = append(toks, token{kind: tOp, op: "||"})
			i++
		case c == '|':
			endWord()
			toks = append(toks, token{kind: tOp, op: "|"})
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
			flushLit()
			w = append(w, wordPart{kind: partQuoted, text: s[i+1 : i+1+j]})
			inWord = true
			i += j + 1
		case c == '"':
			flushLit()
			inWord = true
			var q strings.Builder
			flushQ := func() {
				w = append(w, wordPart{kind: partQuoted, text: q.String()})
				q.Reset()
			}
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
				case '$':
					flushQ()
					j, err := readVar(i, true)
					if err != nil {
						return nil, err
					}
					i = j
					continue
				case '`':
					return nil, fmt.Errorf("'`' is not supported by the lab shell (no command substitution)")
				}
				q.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \"")
			}
			flushQ()
		case c == '\\':
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					flushLit()
					w = append(w, wordPart{kind: partQuoted, text: string(s[i])})
					inWord = true
				}
			}
		case c == '$':
			flushLit()
			j, err := readVar(i, false)
			if err != nil {
				return nil, err
			}
			i = j
			inWord = true
		case c == '>' || c == '<' || (c >= '0' && c <= '2' && !inWord && i+1 < len(s) && s[i+1] == '>'):
			endWord()
			fd := 1
			if c == '<' {
				fd = 0
			} else if c != '>' {
				fd = int(c - '0')
				i++
			}
			r := redir{fd: fd}
			if c != '<' && i+1 < len(s) && s[i+1] == '>' {
				r.append = true
				i++
			}
			if c != '<' && i+1 < len(s) && s[i+1] == '&' {
				// 2>&1 or >&2
				if i+2 >= len(s) || (s[i+2] != '1' && s[i+2] != '2') {
					return nil, fmt.Errorf("only 2>&1 and >&2 are supported")
				}
				r.dup = "&" + string(s[i+2])
				i += 2
			}
			toks = append(toks, token{kind: tRedir, r: r})
		case c == '&' || c == '(' || c == ')' || c == '`':
			return nil, fmt.Errorf("%q is not supported by the lab shell (no background jobs, subshells or command substitution)", c)
		default:
			lit.WriteByte(c)
			inWord = true
		}
	}
	endWord()
	return append(toks, token{kind: tEOF}), nil
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

// reserved reports whether the next token is the reserved word r.
func (p *parser) reserved(r string) bool {
	t := p.peek()
	return t.kind == tWord && t.w.bare() == r
}

func (p *parser) skipNewlines() {
	for t := p.peek(); t.kind == tOp && (t.op == "\n" || t.op == ";"); t = p.peek() {
		p.next()
	}
}

// parseScript parses a whole script.
func parseScript(s string) (list, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	l, err := p.list()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("unexpected %q", t.describe())
	}
	return l, nil
}

func (t token) describe() string {
	switch t.kind {
	case tWord:
		if b := t.w.bare(); b != "" {
			return b
		}
		return "word"
	case tOp:
		if t.op == "\n" {
			return "newline"
		}
		return t.op
	case tRedir:
		return "redirection"
	}
	return "end of script"
}

// terminators end a list inside a compound command.
var terminators = map[string]bool{"then": true, "elif": true, "else": true, "fi": true, "do": true, "done": true}

// list parses and-or lists separated by ; and newlines, up to the end or a
// reserved word that closes a compound command.
func (p *parser) list() (list, error) {
	var l list
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tEOF || t.kind == tWord && terminators[t.w.bare()] {
			return l, nil
		}
		ao, err := p.andOr()
		if err != nil {
			return nil, err
		}
		l = append(l, ao)
		t = p.peek()
		if t.kind == tOp && (t.op == ";" || t.op == "\n") {
			continue
		}
		if t.kind == tEOF || t.kind == tWord && terminators[t.w.bare()] {
			return l, nil
		}
		return nil, fmt.Errorf("unexpected %q", t.describe())
	}
}

func (p *parser) andOr() (andOr, error) {
	var ao andOr
	o := opSeq
	for {
		n, err := p.pipeline()
		if err != nil {
			return nil, err
		}
		ao = append(ao, andOrItem{op: o, n: n})
		t := p.peek()
		if t.kind != tOp || (t.op != "&&" && t.op != "||") {
			return ao, nil
		}
		p.next()
		o = opAnd
		if t.op == "||" {
			o = opOr
		}
		for p.peek().kind == tOp && p.peek().op == "\n" {
			p.next() // a newline may follow && and ||
		}
	}
}

// pipeline is a command, or simple commands joined by "|" (a newline may
// follow the "|", as in sh).
func (p *parser) pipeline() (node, error) {
	n, err := p.command()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tOp || t.op != "|" {
		return n, nil
	}
	pc := &pipeCmd{}
	for {
		c, ok := n.(*simpleCmd)
		if !ok {
			return nil, fmt.Errorf("only simple commands may be piped in the lab shell")
		}
		pc.cmds = append(pc.cmds, c)
		if t := p.peek(); t.kind != tOp || t.op != "|" {
			return pc, nil
		}
		p.next()
		p.skipNewlines()
		if n, err = p.command(); err != nil {
			return nil, err
		}
	}
}

func (p *parser) command() (node, error) {
	t := p.peek()
	if t.kind == tWord {
		switch t.w.bare() {
		case "if":
			return p.ifClause()
		case "for":
			return p.forClause()
		case "while":
			return p.whileClause()
		case "until", "case", "function", "{", "}", "!":
			return nil, fmt.Errorf("%q is not supported by the lab shell", t.w.bare())
		}
	}
	c := &simpleCmd{}
	for {
		t := p.peek()
		switch t.kind {
		case tWord:
			if len(c.argv) == 0 && len(c.assigns) == 0 && terminators[t.w.bare()] {
				return nil, fmt.Errorf("unexpected %q", t.w.bare())
			}
			p.next()
			if len(c.argv) == 0 && len(t.w) > 0 && t.w[0].kind == partLit {
				if name, rest, ok := strings.Cut(t.w[0].text, "="); ok && isName(name) {
					val := append(word{}, t.w[1:]...)
					if rest != "" {
						val = append(word{{kind: partLit, text: rest}}, val...)
					}
					c.assigns = append(c.assigns, assignment{name: name, value: val})
					continue
				}
			}
			c.argv = append(c.argv, t.w)
		case tRedir:
			p.next()
			r := t.r
			if r.dup == "" {
				tt := p.next()
				if tt.kind != tWord {
					return nil, fmt.Errorf("redirection without a target")
				}
				r.target = tt.w
			}
			c.redirs = append(c.redirs, r)
		default:
			if len(c.argv) == 0 && len(c.assigns) == 0 && len(c.redirs) == 0 {
				if t.kind == tOp && (t.op == "&&" || t.op == "||" || t.op == "|") {
					return nil, fmt.Errorf("%s without a command before it", t.op)
				}
				return nil, fmt.Errorf("unexpected %q", t.describe())
			}
			return c, nil
		}
	}
}

func (p *parser) expect(r string) error {
	if !p.reserved(r) {
		return fmt.Errorf("expected %q, found %q", r, p.peek().describe())
	}
	p.next()
	return nil
}

// condBody parses the condition list, the keyword kw (then, do) and the
// body list of an if or while (what, for the error); neither may be empty.
func (p *parser) condBody(kw, what string) (cond, body list, err error) {
	if cond, err = p.list(); err != nil {
		return nil, nil, err
	}
	if err = p.expect(kw); err != nil {
		return nil, nil, err
	}
	if body, err = p.list(); err != nil {
		return nil, nil, err
	}
	if len(cond) == 0 || len(body) == 0 {
		return nil, nil, fmt.Errorf("empty list in %s", what)
	}
	return cond, body, nil
}

func (p *parser) ifClause() (node, error) {
	p.next() // if
	n := &ifCmd{}
	for {
		cond, body, err := p.condBody("then", "if")
		if err != nil {
			return nil, err
		}
		n.conds, n.bodies = append(n.conds, cond), append(n.bodies, body)
		if p.reserved("elif") {
			p.next()
			continue
		}
		break
	}
	if p.reserved("else") {
		p.next()
		els, err := p.list()
		if err != nil {
			return nil, err
		}
		n.els = append(list{}, els...)
	}
	if err := p.expect("fi"); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) whileClause() (node, error) {
	p.next() // while
	cond, body, err := p.condBody("do", "while")
	if err != nil {
		return nil, err
	}
	if err := p.expect("done"); err != nil {
		return nil, err
	}
	n := &whileCmd{cond: cond, body: body}
	if t := p.peek(); t.kind == tRedir {
		if t.r.fd != 0 || t.r.dup != "" {
			return nil, fmt.Errorf("only done <FILE is supported after a while loop by the lab shell")
		}
		p.next()
		tt := p.next()
		if tt.kind != tWord {
			return nil, fmt.Errorf("redirection without a target")
		}
		n.input = tt.w
	}
	return n, nil
}

func (p *parser) forClause() (node, error) {
	p.next() // for
	t := p.next()
	if t.kind != tWord || !isName(t.w.bare()) {
		return nil, fmt.Errorf("for: expected a variable name")
	}
	n := &forCmd{name: t.w.bare()}
	for p.peek().kind == tOp && p.peek().op == "\n" {
		p.next()
	}
	if p.reserved("in") {
		p.next()
		for p.peek().kind == tWord {
			n.words = append(n.words, p.next().w)
		}
	} else {
		return nil, fmt.Errorf("for without in: the lab shell has no positional parameters")
	}
	p.skipNewlines()
	if err := p.expect("do"); err != nil {
		return nil, err
	}
	body, err := p.list()
	if err != nil {
		return nil, err
	}
	if err := p.expect("done"); err != nil {
		return nil, err
	}
	n.body = body
	return n, nil
}
