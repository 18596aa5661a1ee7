package platform

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/fleettune/fleettune/internal/hostcmd"
)

// AIX's pre-5.2 compatibility mode (sys0 pre520tune=enable): tunrestore
// does not apply /etc/tunables/nextboot at boot, so no -p does not persist
// anything. Values persist the old way, as no -o commands in /etc/rc.net,
// which cfgmgr runs in the second phase of every boot, before rc.tcpip
// starts the daemons (IBM "AIX compatibility mode"; the rc.net file
// reference). fleettune owns one marked block at the end of rc.net and
// never touches a line outside it.

const (
	// AIXRcNet is the boot script fleettune persists to in compatibility
	// mode, and AIXRcTCPIP the one init runs after it (read only, for
	// no -o lines that would undo the block).
	AIXRcNet   = "/etc/rc.net"
	AIXRcTCPIP = "/etc/rc.tcpip"

	// aixBlockBegin and aixBlockEnd mark fleettune's block in rc.net.
	aixBlockBegin = "# BEGIN fleettune: managed by fleettune; do not edit between these markers"
	aixBlockEnd   = "# END fleettune"

	// aixRcNetDir is the private directory (mode 0700) the new rc.net is
	// written in before it is moved over the old one. It is in /etc, on
	// rc.net's file system, so the move is a rename: rc.net is replaced
	// whole or not at all. mkdir refuses an existing path, so a directory
	// left by a failed apply stops the next one until someone has looked.
	aixRcNetDir  = "/etc/fleettune-rc.net.d"
	aixRcNetFile = aixRcNetDir + "/rc.net"

	// aixMaxScript caps what the parser reads of a boot script.
	aixMaxScript = 1 << 20
)

// aixNoSetting is one tunable a no command in a boot script sets.
type aixNoSetting struct {
	File    string
	Line    int
	Tunable string
	// Value is the integer set; Default is true for no -d or -D (the
	// tunable's default); Unreadable is the word when the value is not an
	// integer (a variable, a command substitution).
	Value      int64
	Default    bool
	Unreadable string
	// InBlock: the line is inside fleettune's block.
	InBlock bool
}

func (s aixNoSetting) where() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// aixScript is what fleettune reads from rc.net or rc.tcpip.
type aixScript struct {
	Settings []aixNoSetting // in the order the script runs them
	// BlockBegin and BlockEnd are the 1-based lines of fleettune's
	// markers; 0 when there is no block.
	BlockBegin, BlockEnd int
	// Exit is the first line that ends the script unconditionally (an
	// unindented exit), 0 when there is none.
	Exit int
	// OpenAtEnd: the last line goes on (a final backslash, or a quote left
	// open), so a block appended after it would be part of it.
	OpenAtEnd bool
}

// ParseAIXBootScript reads the no commands of an AIX boot script (rc.net,
// rc.tcpip) for the tunables fleettune manages, in one pass: comments and
// other commands are skipped; a line may hold several commands (;, &&,
// ||), go on after a backslash, or hold a quoted string that goes on over
// the next lines. Only no -o NAME=VALUE, no -d NAME and no -D count: -r
// changes only nextboot, which compatibility mode does not apply. A block
// without its end marker, a second block, or a marker the shell would take
// as part of the line before it is an error naming the line.
func ParseAIXBootScript(file, content string) (aixScript, error) {
	var s aixScript
	if len(content) > aixMaxScript {
		return s, fmt.Errorf("%s: %d bytes, more than the %d fleettune reads of a boot script", file, len(content), aixMaxScript)
	}
	// No CRLF handling: an AIX script's lines end with LF, and a CR is a
	// character of its line to sh (the gather's output has none left).
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	if content == "" {
		lines = nil
	}
	var cont []byte // the command so far, when a line goes on
	inCont, contLine := false, 0
	quote := byte(0) // the quote left open by the lines so far
	run := func(line string) {
		if s.Exit == 0 && (line == "exit" || strings.HasPrefix(line, "exit ") || strings.HasPrefix(line, "exit\t")) {
			s.Exit = contLine
		}
		inBlock := s.BlockBegin != 0 && s.BlockEnd == 0
		for _, cmd := range aixSplitCommands(line) {
			s.Settings = append(s.Settings, aixNoCommand(file, contLine, cmd, inBlock)...)
		}
	}
	for i, raw := range lines {
		n := i + 1
		marker := strings.TrimRight(raw, " \t")
		if (marker == aixBlockBegin || marker == aixBlockEnd) && inCont {
			return s, fmt.Errorf("%s:%d: fleettune's marker is part of the line before it for the shell (a backslash at its end, or a quote left open)", file, n)
		}
		switch marker {
		case aixBlockBegin:
			if s.BlockBegin != 0 {
				return s, fmt.Errorf("%s:%d: a second fleettune block (the first begins at line %d)", file, n, s.BlockBegin)
			}
			s.BlockBegin = n
			continue
		case aixBlockEnd:
			if s.BlockBegin == 0 || s.BlockEnd != 0 {
				return s, fmt.Errorf("%s:%d: %q without the block's begin marker", file, n, aixBlockEnd)
			}
			s.BlockEnd = n
			continue
		}
		if !inCont {
			contLine = n
		}
		cont = append(cont, raw...)
		var continued bool
		quote, continued = aixLineEnd(quote, raw) // only the new line: linear
		switch {
		case quote != 0:
			cont = append(cont, '\n') // the quoted string goes on
			inCont = true
		case continued:
			cont = cont[:len(cont)-1] // sh drops backslash-newline
			inCont = true
		default:
			run(string(cont))
			cont, inCont = cont[:0], false
		}
	}
	if inCont {
		s.OpenAtEnd = true
		run(string(cont))
	}
	if s.BlockBegin != 0 && s.BlockEnd == 0 {
		return s, fmt.Errorf("%s:%d: fleettune's block has no end marker %q", file, s.BlockBegin, aixBlockEnd)
	}
	return s, nil
}

// aixLineEnd scans a line as sh does for its end, from the quote the lines
// before it left open (0: none): the quote left open at its end, or whether
// it goes on after a final backslash. A # at a word's start outside quotes
// ends the line.
func aixLineEnd(quote byte, line string) (byte, bool) {
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case quote == '"':
			switch c {
			case '\\':
				i++
			case '"':
				quote = 0
			}
		case c == '\\':
			if i == len(line)-1 {
				return 0, true
			}
			i++
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || strings.IndexByte(" \t;&|", line[i-1]) >= 0):
			return 0, false
		}
	}
	return quote, false
}

// aixSplitCommands cuts a command line (which may hold newlines, inside
// quotes or not) at an unquoted # (a comment, to the end of its line), then
// into commands at newlines, ;, && and ||, each as its words, quotes and
// backslashes taken off.
func aixSplitCommands(line string) [][]string {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord, quote, comment := false, byte(0), false
	flushWord := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	flushCmd := func() {
		flushWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case comment:
			if c == '\n' {
				comment = false
				flushCmd()
			}
		case quote == '\'':
			if c == quote {
				quote = 0
			} else {
				w.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(line):
				i++
				w.WriteByte(line[i])
			default:
				w.WriteByte(c)
			}
		case c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			inWord = true
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '#' && !inWord:
			comment = true
		case c == ';' || c == '|' || c == '&' || c == '\n':
			flushCmd()
		case c == ' ' || c == '\t':
			flushWord()
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flushCmd()
	return cmds
}

// aixShellKeywords may come before a command on its line.
var aixShellKeywords = map[string]bool{"then": true, "else": true, "do": true, "!": true, "{": true}

// aixNoCommand returns what one command sets, when it is no.
func aixNoCommand(file string, line int, words []string, inBlock bool) []aixNoSetting {
	for len(words) > 0 && aixShellKeywords[words[0]] {
		words = words[1:]
	}
	if len(words) == 0 || path.Base(words[0]) != "no" {
		return nil
	}
	var out []aixNoSetting
	add := func(s aixNoSetting) {
		if contains(aixTunables, s.Tunable) {
			s.File, s.Line, s.InBlock = file, line, inBlock
			out = append(out, s)
		}
	}
	reboot := false
	var pending []aixNoSetting
	for i := 1; i < len(words); i++ {
		w := words[i]
		if w == "" {
			continue
		}
		if strings.ContainsAny(w[:1], "<>") || (len(w) > 1 && w[0] >= '0' && w[0] <= '9' && strings.ContainsAny(w[1:2], "<>")) {
			break // a redirection: the rest is not no's
		}
		switch {
		case w == "-r":
			reboot = true
		case w == "-p" || w == "-F":
		case w == "-D":
			for _, t := range aixTunables {
				pending = append(pending, aixNoSetting{Tunable: t, Default: true})
			}
		case (w == "-o" || w == "-d") && i+1 < len(words):
			i++
			if w == "-d" {
				pending = append(pending, aixNoSetting{Tunable: words[i], Default: true})
				continue
			}
			name, value, ok := strings.Cut(words[i], "=")
			if !ok {
				continue // a read, not a change
			}
			st := aixNoSetting{Tunable: name}
			if v, err := strconv.ParseInt(value, 10, 64); err == nil {
				st.Value = v
			} else {
				st.Unreadable = value
			}
			pending = append(pending, st)
		}
	}
	if reboot {
		return nil // no -r changes only nextboot, not applied in this mode
	}
	for _, s := range pending {
		add(s)
	}
	return out
}

// aixBoot is what the boot scripts give one tunable in compatibility mode.
type aixBoot struct {
	value      int64
	set        bool   // some script line sets it
	source     string // file:line of the line that wins
	unreadable string // the winning line's value is not an integer
	block      *aixNoSetting
	// before are other rc.net lines that set it before the block; after
	// are lines that run after the block (later in rc.net, or rc.tcpip).
	before, after []aixNoSetting
}

// aixBootValues runs the settings of rc.net, then rc.tcpip, from the
// defaults: what each tunable is after the boot scripts.
func aixBootValues(rcnet, rctcpip aixScript, def map[string]int64) map[string]*aixBoot {
	out := map[string]*aixBoot{}
	for _, t := range aixTunables {
		out[t] = &aixBoot{value: def[t]}
	}
	for _, sc := range []aixScript{rcnet, rctcpip} {
		for _, s := range sc.Settings {
			b := out[s.Tunable]
			b.set, b.source, b.unreadable = true, s.where(), s.Unreadable
			switch {
			case s.Default:
				b.value = def[s.Tunable]
			case s.Unreadable == "":
				b.value = s.Value
			}
			switch {
			case s.InBlock:
				c := s
				b.block = &c
			case s.File == AIXRcNet && (rcnet.BlockEnd == 0 || s.Line < rcnet.BlockBegin):
				b.before = append(b.before, s)
			default:
				b.after = append(b.after, s)
			}
		}
	}
	return out
}

// aixBlockLines are the no -o lines of fleettune's block for these values,
// in aixTunables order, but for the ephemeral range: no checks low < high
// as each is set, so when the new low end lies above the high end the
// scripts give before the block (highBefore), the high end goes first.
func aixBlockLines(vals map[string]int64, highBefore int64) []string {
	order := aixTunables
	if lo, ok := vals[aixEphemLow]; ok && lo >= highBefore {
		order = []string{aixEphemHigh, aixEphemLow, aixTimeWait, aixKeepIdle}
	}
	var lines []string
	for _, t := range order {
		if v, ok := vals[t]; ok {
			lines = append(lines, fmt.Sprintf("/usr/sbin/no -o %s=%d", t, v))
		}
	}
	return lines
}

// aixMergeBlock returns rc.net with fleettune's block holding lines: the
// old block's lines replaced in place, or a new block appended at the end
// (after a newline when the file does not end with one). Every byte outside
// the block stays as it was.
func aixMergeBlock(content string, sc aixScript, lines []string) string {
	block := aixBlockBegin + "\n" + strings.Join(lines, "\n") + "\n" + aixBlockEnd + "\n"
	if len(lines) == 0 {
		block = ""
	}
	if sc.BlockBegin == 0 {
		if block == "" {
			return content
		}
		if content != "" && !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		return content + block
	}
	all := strings.SplitAfter(content, "\n")
	var b strings.Builder
	for i, l := range all {
		n := i + 1
		switch {
		case n == sc.BlockBegin:
			b.WriteString(block)
		case n > sc.BlockBegin && n <= sc.BlockEnd:
		default:
			b.WriteString(l)
		}
	}
	return b.String()
}

// aixBlockText is fleettune's block in rc.net, markers included; "" when
// there is none.
func aixBlockText(content string) (string, error) {
	sc, err := ParseAIXBootScript(AIXRcNet, content)
	if err != nil || sc.BlockBegin == 0 {
		return "", err
	}
	lines := strings.Split(content, "\n")
	return strings.Join(lines[sc.BlockBegin-1:sc.BlockEnd], "\n"), nil
}

// aixOutsideBlock is rc.net without fleettune's block, for telling whether
// anything else in the file changed.
func aixOutsideBlock(content string) (string, error) {
	sc, err := ParseAIXBootScript(AIXRcNet, content)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(aixMergeBlock(content, sc, nil), "\n"), nil
}

// aixWriteRcNet replaces rc.net with content, keeping its mode and owner:
// a copy with cp -p in the private directory takes the new content (the
// truncating write keeps the copy's mode and owner), then is renamed over
// rc.net, and the directory removed. The content goes as one single-quoted
// printf argument.
func aixWriteRcNet(content string) string {
	return fmt.Sprintf("mkdir -m 700 %s && cp -p %s %s && printf '%%s' %s > %s && mv -f %s %s && rmdir %s",
		aixRcNetDir, AIXRcNet, aixRcNetFile, hostcmd.ShellQuote(content), aixRcNetFile, aixRcNetFile, AIXRcNet, aixRcNetDir)
}
