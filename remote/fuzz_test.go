package remote

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

// FuzzKnownHosts: any file content either parses or fails with an error
// naming the file and a line; a parsed set answers lookups without panic,
// and every plain-name line it kept is found under its name.
func FuzzKnownHosts(f *testing.F) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFONnOascvjwp4uApwtaqgTBbHbdvCxmJeJM/uE6QyuK"
	for _, seed := range []string{
		"web01 " + key + "\n",
		"# comment\n\n[10.0.0.1]:2222,web02 " + key + " a comment\n",
		"|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g= " + key + "\n",
		"@cert-authority *.example.com,!db2.example.com " + key + "\n@revoked * " + key + "\n",
		"web01\n", "@bogus web01 " + key, "[web01:22 " + key, "\xff\x00 " + key,
	} {
		f.Add([]byte(seed), "web01")
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		db := &hostKeyDB{exact: map[string][]*khLine{}, revoked: map[string]*khLine{}, lines: map[string]int{}}
		if err := db.parse(data, "kh"); err != nil {
			if !regexp.MustCompile(`^known_hosts kh:[0-9]+: `).MatchString(err.Error()) {
				t.Fatalf("error %q does not name the file and line", err)
			}
			return
		}
		db.keyTypes(name)
		db.keyTypes(knownhosts.Normalize(name))
		for lookup, lines := range db.exact {
			found := db.find(lookup)
			for _, l := range lines {
				if !slices.Contains(found, l) {
					t.Fatalf("line %d kept under %q is not found by it", l.line, lookup)
				}
			}
		}
	})
}

// FuzzWildcardMatch holds the matcher to a regular expression built from
// the same pattern.
func FuzzWildcardMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"*.example.com", "db1.example.com"}, {"db?", "db1"}, {"a*b*c", "axxbyyc"},
		{"**", ""}, {"*a*a*a*b", "aaaaaaaa"}, {"?", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 64 || len(s) > 256 {
			return
		}
		var re strings.Builder
		re.WriteString(`^(?s:`)
		for i := 0; i < len(pat); i++ {
			switch pat[i] {
			case '*':
				re.WriteString(`[\x00-\xff]*`)
			case '?':
				re.WriteString(`[\x00-\xff]`)
			default:
				re.WriteString(`\x` + hex2(pat[i]))
			}
		}
		re.WriteString(`)$`)
		// Bytes, not runes: match against the Latin-1 view of s.
		latin1 := make([]rune, len(s))
		for i := 0; i < len(s); i++ {
			latin1[i] = rune(s[i])
		}
		want := regexp.MustCompile(re.String()).MatchString(string(latin1))
		if got := wildcardMatch(pat, s); got != want {
			t.Fatalf("wildcardMatch(%q, %q) = %v, the regexp %s says %v", pat, s, got, re.String(), want)
		}
	})
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// FuzzProxyCommandWords: words quoted with ShellQuote and joined come back
// from splitWords as they were, and nothing panics on any line.
func FuzzProxyCommandWords(f *testing.F) {
	f.Add("ssh", "-W", "%h:%p")
	f.Add("it's", `a "b" \c`, "")
	f.Add("\n", "\t", "$(x)")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		words := []string{a, b, c}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, ShellQuote(w))
		}
		line := strings.Join(quoted, " ")
		got, err := splitWords(line)
		if err != nil || !slices.Equal(got, words) {
			t.Fatalf("splitWords(%q) = %q, %v; want %q", line, got, err, words)
		}
		_, _ = splitWords(a + b + c)
		_, _ = proxyArgv(a+" "+b, "h", 22, "u")
	})
}
