package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxRange is the most names one host pattern may expand to.
const MaxRange = 100000

// ExpandRange expands the ranges in a host pattern, as Ansible does:
// "web[01:20].example.com" is web01 ... web20 (a zero-padded start keeps its
// width), "[1:4]" is 1 ... 4, "[01:20:5]" takes every fifth, "[a:f]" is a
// letter range, and several ranges in one pattern expand as a product, the
// leftmost varying slowest. A pattern without brackets is itself.
func ExpandRange(pattern string) ([]string, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("bad host range %q: %s", pattern, fmt.Sprintf(format, args...))
	}
	out := []string{""}
	rest := pattern
	for rest != "" {
		open := strings.IndexAny(rest, "[]")
		if open < 0 {
			for i := range out {
				out[i] += rest
			}
			break
		}
		if rest[open] == ']' {
			return nil, fail("unbalanced ']'")
		}
		closing := strings.IndexAny(rest[open+1:], "[]")
		if closing < 0 || rest[open+1+closing] == '[' {
			return nil, fail("unbalanced '['")
		}
		lit, body := rest[:open], rest[open+1:open+1+closing]
		rest = rest[open+1+closing+1:]
		items, err := rangeItems(body, MaxRange/len(out))
		if err != nil {
			return nil, fail("%v", err)
		}
		next := make([]string, 0, len(out)*len(items))
		for _, prefix := range out {
			for _, it := range items {
				next = append(next, prefix+lit+it)
			}
		}
		out = next
	}
	return out, nil
}

// rangeItems expands the inside of one [START:END[:STRIDE]], refusing more
// than limit items.
func rangeItems(body string, limit int) ([]string, error) {
	parts := strings.Split(body, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("[%s]: expected [START:END] or [START:END:STRIDE]", body)
	}
	start, end := parts[0], parts[1]
	if start == "" || end == "" {
		return nil, fmt.Errorf("[%s]: expected [START:END] or [START:END:STRIDE], with both ends given", body)
	}
	stride := 1
	if len(parts) == 3 {
		s, err := strconv.Atoi(parts[2])
		if err != nil || !digits(parts[2]) {
			return nil, fmt.Errorf("stride %q is not a positive integer", parts[2])
		}
		if s < 1 {
			return nil, fmt.Errorf("stride must be at least 1, found %s", parts[2])
		}
		stride = s
	}
	tooMany := fmt.Errorf("expands to more than %d names", MaxRange)
	switch {
	case digits(start) && digits(end):
		if len(start) > 9 || len(end) > 9 {
			return nil, fmt.Errorf("[%s]: numbers longer than 9 digits", body)
		}
		a, _ := strconv.Atoi(start)
		b, _ := strconv.Atoi(end)
		if a > b {
			return nil, fmt.Errorf("start %s is after end %s", start, end)
		}
		width := 0
		if len(start) > 1 && start[0] == '0' {
			width = len(start)
			if len(end) != width {
				return nil, fmt.Errorf("zero-padded start %s and end %s differ in width", start, end)
			}
		}
		if (b-a)/stride+1 > limit {
			return nil, tooMany
		}
		var out []string
		for i := a; i <= b; i += stride {
			out = append(out, fmt.Sprintf("%0*d", width, i))
		}
		return out, nil
	case letter(start) && letter(end):
		a, b := start[0], end[0]
		if isLower(a) != isLower(b) {
			return nil, fmt.Errorf("[%s]: start and end must be letters of the same case", body)
		}
		if a > b {
			return nil, fmt.Errorf("start %s is after end %s", start, end)
		}
		var out []string
		for c := int(a); c <= int(b); c += stride {
			out = append(out, string(rune(c)))
		}
		if len(out) > limit {
			return nil, tooMany
		}
		return out, nil
	case (digits(start) && letter(end)) || (letter(start) && digits(end)):
		return nil, fmt.Errorf("[%s]: mixes a number and a letter; both ends must be numbers or both single letters", body)
	}
	return nil, fmt.Errorf("[%s]: ends must be numbers or single letters", body)
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func letter(s string) bool {
	return len(s) == 1 && (isLower(s[0]) || ('A' <= s[0] && s[0] <= 'Z'))
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

// checkHostName refuses names that are not safe to hand to a command line
// or a proxy command.
func checkHostName(s string) error { return checkName("host name", s) }

// checkName checks a host name or address: letters, digits, '.', '-', '_'
// and ':' (IPv6), not starting with '-', and no "host:port".
func checkName(kind, s string) error {
	if s == "" {
		return fmt.Errorf("%s must not be empty", kind)
	}
	if s[0] == '-' {
		return fmt.Errorf("%s %q must not start with '-'", kind, s)
	}
	for _, c := range s {
		if !nameChar(c) {
			return fmt.Errorf("%s %q contains %q; use letters, digits, '.', '-', '_' and ':' only", kind, s, c)
		}
	}
	if strings.Count(s, ":") == 1 {
		return fmt.Errorf("%s %q: a port does not belong in the name; set ssh: {port: N} or winrm: {port: N}", kind, s)
	}
	return nil
}

func nameChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':'
}

// checkGroupName keeps group names usable in --limit: no commas, globs, '!'
// or '&'.
func checkGroupName(s string) error {
	if s == "" {
		return fmt.Errorf("a group name must not be empty")
	}
	for i, c := range s {
		if !(nameChar(c) && c != ':') || (i == 0 && (c == '-' || c == '.')) {
			return fmt.Errorf("group name %q: use letters, digits, '_', '-' and '.', starting with a letter, digit or '_'", s)
		}
	}
	return nil
}

// suggest returns "; did you mean "x"?" when one of candidates is close to
// word, else "".
func suggest(word string, candidates []string) string {
	best, bestD := "", -1
	w := strings.ToLower(word)
	for _, c := range candidates {
		d := distance(w, strings.ToLower(c))
		if d <= 2 && d < len(word)/2+1 && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	if bestD < 0 || best == word {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein distance between a and b (in bytes).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
