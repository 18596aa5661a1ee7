package termsafe

import "testing"

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain 10240-65535", "plain 10240-65535"},
		{"tab\tkept", "tab\tkept"},
		{"\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"line\nbreak", `line\x0abreak`},
		{"cr\rover", `cr\x0dover`},
		{"del\x7f", `del\x7f`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"bad \xff utf8", `bad \xff utf8`},
		{"ünïcödé ok", "ünïcödé ok"},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextKeepsNewlinesOnly(t *testing.T) {
	in := "a\nb\x1b[2J\n"
	want := "a\nb\\x1b[2J\n"
	if got := Text(in); got != want {
		t.Errorf("Text(%q) = %q, want %q", in, got, want)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "abc", "\x1b[31m", "\xff\xfe", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !clean(out, false) {
			t.Fatalf("String(%q) = %q still has unsafe characters", s, out)
		}
		if clean(s, false) && out != s {
			t.Fatalf("String changed clean input %q to %q", s, out)
		}
	})
}
