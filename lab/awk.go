package lab

import (
	"fmt"
	"strconv"
	"strings"
)

// awk is the lab's awk(1): one rule, `[PATTERN] { print ITEM[, ITEM...] }`,
// where PATTERN is `$N == "S"`, `$N != "S"`, `NR > N` or `FNR > N` and an
// ITEM is $N or "S", over the named files (or stdin), fields split on
// blanks, as mawk (Debian's awk) runs it. A file that cannot be opened
// stops it with mawk's message and exit 2. Any other program is refused
// with exit 2, so that a driver cannot depend on more awk than this.
func (sh *shell) awk(args []string, stdin string) Output {
	if len(args) == 0 {
		return Output{Stderr: "usage: awk [-F value] [-v var=value] [--] 'program text' [file ...]\n", Code: 2}
	}
	prog, err := parseAwk(args[0])
	if err != nil {
		return Output{Stderr: "awk: lab: " + err.Error() + "\n", Code: 2}
	}
	var b strings.Builder
	nr := 0
	run := func(text string) {
		fnr := 0
		for len(text) > 0 {
			line := text
			if i := strings.IndexByte(text, '\n'); i >= 0 {
				line, text = text[:i], text[i+1:]
			} else {
				text = ""
			}
			nr++
			fnr++
			field := func(n int) string { return awkField(line, n) }
			if !prog.match(field, nr, fnr) {
				continue
			}
			for i, it := range prog.items {
				if i > 0 {
					b.WriteByte(' ')
				}
				if it.field >= 0 {
					b.WriteString(field(it.field))
				} else {
					b.WriteString(it.text)
				}
			}
			b.WriteByte('\n')
		}
	}
	files := args[1:]
	if len(files) == 0 {
		run(stdin)
	}
	for _, name := range files {
		content, ok := sh.readFile(name)
		if !ok {
			return Output{Stdout: b.String(), Stderr: fmt.Sprintf("awk: cannot open %s (No such file or directory)\n", name), Code: 2}
		}
		run(content)
	}
	return Output{Stdout: b.String()}
}

// awkField is field n of line (blank-separated, $0 the line), found by
// scanning, so that a program reading one field of a 100,000-line file
// does not split every line.
func awkField(line string, n int) string {
	if n == 0 {
		return line
	}
	i := 0
	for k := 1; ; k++ {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			return ""
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if k == n {
			return line[i:j]
		}
		i = j
	}
}

type awkItem struct {
	field int // -1: a string
	text  string
}

type awkProg struct {
	kind  string // "", "==", "!=", "NR>", "FNR>"
	field int
	str   string
	num   int
	items []awkItem
}

func (p *awkProg) match(field func(int) string, nr, fnr int) bool {
	switch p.kind {
	case "==":
		return field(p.field) == p.str
	case "!=":
		return field(p.field) != p.str
	case "NR>":
		return nr > p.num
	case "FNR>":
		return fnr > p.num
	}
	return true
}

func parseAwk(src string) (*awkProg, error) {
	s := strings.TrimSpace(src)
	open := strings.IndexByte(s, '{')
	if open < 0 || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("program %q: only `[PATTERN] { print ... }` is emulated", src)
	}
	p := &awkProg{}
	pat := strings.Fields(s[:open])
	switch {
	case len(pat) == 0:
	case len(pat) == 3 && (pat[1] == "==" || pat[1] == "!=") && strings.HasPrefix(pat[0], "$"):
		n, err := strconv.Atoi(pat[0][1:])
		if err != nil || n < 0 || len(pat[2]) < 2 || pat[2][0] != '"' || pat[2][len(pat[2])-1] != '"' {
			return nil, fmt.Errorf("pattern %q: only $N == \"S\" and $N != \"S\" are emulated", s[:open])
		}
		p.kind, p.field, p.str = pat[1], n, pat[2][1:len(pat[2])-1]
	case len(pat) == 3 && (pat[0] == "NR" || pat[0] == "FNR") && pat[1] == ">":
		n, err := strconv.Atoi(pat[2])
		if err != nil {
			return nil, fmt.Errorf("pattern %q: want a number after >", s[:open])
		}
		p.kind, p.num = pat[0]+">", n
	default:
		return nil, fmt.Errorf("pattern %q is not emulated", s[:open])
	}
	body := strings.TrimSpace(s[open+1 : len(s)-1])
	rest, ok := strings.CutPrefix(body, "print")
	if !ok {
		return nil, fmt.Errorf("action %q: only print is emulated", body)
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		p.items = []awkItem{{field: 0}}
		return p, nil
	}
	for _, it := range strings.Split(rest, ",") {
		it = strings.TrimSpace(it)
		switch {
		case strings.HasPrefix(it, "$"):
			n, err := strconv.Atoi(it[1:])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("print item %q: want $N", it)
			}
			p.items = append(p.items, awkItem{field: n})
		case len(it) >= 2 && it[0] == '"' && it[len(it)-1] == '"' && !strings.Contains(it[1:len(it)-1], `"`):
			p.items = append(p.items, awkItem{field: -1, text: it[1 : len(it)-1]})
		default:
			return nil, fmt.Errorf("print item %q: want $N or \"string\"", it)
		}
	}
	return p, nil
}
