package lab

import (
	"fmt"
	"strconv"
	"strings"
)

// awk is the lab's awk(1), as mawk (Debian's awk) runs it, over the named
// files (or stdin), fields split on blanks. A program is one or more rules,
// `[PATTERN] { ACTION[; ACTION...] }`, and at most one `END { print ... }`
// last:
//
//   - PATTERN is `$N == "S"`, `$N != "S"` (N a number or NF), several of
//     those joined by ||, or `NR > N` / `FNR > N`;
//   - an ACTION is `print [ITEM[, ITEM...]]` (ITEM $N, $NF or "S"),
//     `next` or `VAR++`;
//   - END's print items are "S" or `VAR+0` (a variable never incremented
//     is 0).
//
// A file that cannot be opened stops it with mawk's message and exit 2.
// Any other program is refused with exit 2, so that a driver cannot depend
// on more awk than this. The parser is the lab's own, not the driver's.
func (sh *shell) awk(args []string, stdin string) Output {
	if len(args) == 0 {
		return Output{Stderr: "usage: awk [-F value] [-v var=value] [--] 'program text' [file ...]\n", Code: 2}
	}
	prog, err := parseAwk(args[0])
	if err != nil {
		return Output{Stderr: "awk: lab: " + err.Error() + "\n", Code: 2}
	}
	var b strings.Builder
	vars := map[string]int{}
	nr := 0
	print := func(items []awkItem, field func(int) string) {
		for i, it := range items {
			if i > 0 {
				b.WriteByte(' ')
			}
			switch {
			case it.variable != "":
				b.WriteString(strconv.Itoa(vars[it.variable]))
			case it.field != awkNoField:
				b.WriteString(field(it.field))
			default:
				b.WriteString(it.text)
			}
		}
		b.WriteByte('\n')
	}
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
		rules:
			for _, r := range prog.rules {
				if !r.match(field, nr, fnr) {
					continue
				}
				for _, a := range r.actions {
					switch {
					case a.next:
						break rules
					case a.incr != "":
						vars[a.incr]++
					default:
						print(a.items, field)
					}
				}
			}
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
	if prog.end != nil {
		print(prog.end, nil)
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
	if n == awkNF {
		return awkLastField(line)
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

// awkLastField is $NF: the last blank-separated field, "" for a blank line.
func awkLastField(line string) string {
	j := len(line)
	for j > 0 && (line[j-1] == ' ' || line[j-1] == '\t') {
		j--
	}
	i := j
	for i > 0 && line[i-1] != ' ' && line[i-1] != '\t' {
		i--
	}
	return line[i:j]
}

const (
	awkNF      = -1 // $NF
	awkNoField = -2 // an item that is not a field
)

type awkItem struct {
	field    int // $N (awkNF for $NF), or awkNoField
	text     string
	variable string // END's VAR+0
}

type awkCond struct {
	kind  string // "==", "!=", "NR>", "FNR>"
	field int
	str   string
	num   int
}

type awkAction struct {
	next  bool
	incr  string // VAR++
	items []awkItem
}

type awkRule struct {
	conds   []awkCond // joined by ||; none: every line
	actions []awkAction
}

type awkProg struct {
	rules []awkRule
	end   []awkItem // END's print; nil when there is no END rule
}

func (r *awkRule) match(field func(int) string, nr, fnr int) bool {
	if len(r.conds) == 0 {
		return true
	}
	for _, c := range r.conds {
		var ok bool
		switch c.kind {
		case "==":
			ok = field(c.field) == c.str
		case "!=":
			ok = field(c.field) != c.str
		case "NR>":
			ok = nr > c.num
		case "FNR>":
			ok = fnr > c.num
		}
		if ok {
			return true
		}
	}
	return false
}

// awkSplit cuts s at every sep outside "..." strings.
func awkSplit(s, sep string) []string {
	var parts []string
	quoted, last := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case !quoted && strings.HasPrefix(s[i:], sep):
			parts = append(parts, s[last:i])
			last = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(parts, s[last:])
}

// awkIndex is the index of the first c in s outside "..." strings, or -1.
func awkIndex(s string, c byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == c:
			return i
		}
	}
	return -1
}

func isAwkName(s string) bool {
	if s == "" || s == "NF" || s == "NR" || s == "FNR" || s == "END" || s == "BEGIN" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func parseAwk(src string) (*awkProg, error) {
	p := &awkProg{}
	rest := strings.TrimSpace(src)
	if rest == "" {
		return nil, fmt.Errorf("empty program")
	}
	for rest != "" {
		if p.end != nil {
			return nil, fmt.Errorf("program %q: only END may be the last rule", src)
		}
		open := awkIndex(rest, '{')
		if open < 0 {
			return nil, fmt.Errorf("program %q: only `[PATTERN] { ACTION }` rules are emulated", src)
		}
		closing := awkIndex(rest[open:], '}')
		if closing < 0 {
			return nil, fmt.Errorf("program %q: a rule without its }", src)
		}
		closing += open
		pat := strings.TrimSpace(rest[:open])
		body := strings.TrimSpace(rest[open+1 : closing])
		rest = strings.TrimSpace(rest[closing+1:])
		if pat == "END" {
			items, err := parseAwkEnd(body)
			if err != nil {
				return nil, err
			}
			p.end = items
			continue
		}
		r := awkRule{}
		if pat != "" {
			for _, c := range awkSplit(pat, "||") {
				cond, err := parseAwkCond(strings.TrimSpace(c))
				if err != nil {
					return nil, err
				}
				r.conds = append(r.conds, cond)
			}
			if len(r.conds) > 1 {
				for _, c := range r.conds {
					if c.kind != "==" && c.kind != "!=" {
						return nil, fmt.Errorf("pattern %q: only $N == \"S\" tests may be joined by ||", pat)
					}
				}
			}
		}
		for _, a := range awkSplit(body, ";") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			act, err := parseAwkAction(a)
			if err != nil {
				return nil, err
			}
			r.actions = append(r.actions, act)
		}
		if len(r.actions) == 0 {
			return nil, fmt.Errorf("rule %q: an empty action is not emulated", body)
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func parseAwkField(s string) (int, bool) {
	t, ok := strings.CutPrefix(s, "$")
	if !ok {
		return 0, false
	}
	if t == "NF" {
		return awkNF, true
	}
	n, err := strconv.Atoi(t)
	return n, err == nil && n >= 0 && t[0] != '+'
}

func awkString(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.ContainsAny(s[1:len(s)-1], `"\\`) {
		return s[1 : len(s)-1], true
	}
	return "", false
}

func parseAwkCond(s string) (awkCond, error) {
	for _, op := range []string{"==", "!="} {
		l, r, found := strings.Cut(s, op)
		if !found || !strings.HasPrefix(s, "$") {
			continue
		}
		n, ok := parseAwkField(strings.TrimSpace(l))
		str, sok := awkString(strings.TrimSpace(r))
		if !ok || !sok {
			return awkCond{}, fmt.Errorf("pattern %q: only $N == \"S\" and $N != \"S\" are emulated", s)
		}
		return awkCond{kind: op, field: n, str: str}, nil
	}
	pat := strings.Fields(s)
	if len(pat) == 3 && (pat[0] == "NR" || pat[0] == "FNR") && pat[1] == ">" {
		n, err := strconv.Atoi(pat[2])
		if err != nil {
			return awkCond{}, fmt.Errorf("pattern %q: want a number after >", s)
		}
		return awkCond{kind: pat[0] + ">", num: n}, nil
	}
	return awkCond{}, fmt.Errorf("pattern %q is not emulated", s)
}

func parseAwkAction(a string) (awkAction, error) {
	if a == "next" {
		return awkAction{next: true}, nil
	}
	if v, ok := strings.CutSuffix(a, "++"); ok && isAwkName(v) {
		return awkAction{incr: v}, nil
	}
	rest, ok := strings.CutPrefix(a, "print")
	if !ok || rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return awkAction{}, fmt.Errorf("action %q: only print, next and VAR++ are emulated", a)
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return awkAction{items: []awkItem{{field: 0}}}, nil
	}
	var items []awkItem
	for _, it := range awkSplit(rest, ",") {
		it = strings.TrimSpace(it)
		if n, ok := parseAwkField(it); ok {
			items = append(items, awkItem{field: n})
		} else if str, ok := awkString(it); ok {
			items = append(items, awkItem{field: awkNoField, text: str})
		} else {
			return awkAction{}, fmt.Errorf("print item %q: want $N or \"string\"", it)
		}
	}
	return awkAction{items: items}, nil
}

// parseAwkEnd reads END's action: one print of "S" and VAR+0 items.
func parseAwkEnd(body string) ([]awkItem, error) {
	rest, ok := strings.CutPrefix(body, "print ")
	if !ok {
		return nil, fmt.Errorf("END action %q: only print \"S\", VAR+0 is emulated", body)
	}
	var items []awkItem
	for _, it := range awkSplit(rest, ",") {
		it = strings.TrimSpace(it)
		if str, ok := awkString(it); ok {
			items = append(items, awkItem{field: awkNoField, text: str})
		} else if v, ok := strings.CutSuffix(it, "+0"); ok && isAwkName(v) {
			items = append(items, awkItem{field: awkNoField, variable: v})
		} else {
			return nil, fmt.Errorf("END print item %q: want \"string\" or VAR+0", it)
		}
	}
	return items, nil
}
