// Package termsafe makes text that came from a host or a file safe to print
// to a person's terminal: control characters, escape sequences and invalid
// UTF-8 are shown escaped instead of being interpreted. JSON output never
// goes through it; JSON is exact.
package termsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every control character (C0, DEL, C1), every
// bidirectional or invisible formatting character and every invalid UTF-8
// byte replaced by a visible escape (\x1b, \u202e, \xff). Tabs are kept.
// Newlines are escaped too: a value from a host never starts a line of its
// own. Use Text for multi-line text where line breaks are wanted.
func String(s string) string {
	if clean(s, false) {
		return s
	}
	return escape(s, false)
}

// Text is String for multi-line text: newlines are kept, everything else
// is escaped as String does.
func Text(s string) string {
	if clean(s, true) {
		return s
	}
	return escape(s, true)
}

// clean reports whether s needs no escaping (the common case: no copy).
func clean(s string, keepNewlines bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if unsafeASCII(c, keepNewlines) {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

func escape(s string, keepNewlines bool) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if unsafeASCII(c, keepNewlines) {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, c)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeASCII(c byte, keepNewlines bool) bool {
	switch {
	case c == '\t':
		return false
	case c == '\n':
		return !keepNewlines
	case c < 0x20 || c == 0x7f:
		return true
	}
	return false
}

// unsafeRune reports C1 controls and the formatting characters that can
// reorder or hide text on a terminal (bidi overrides, zero-width marks).
func unsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}
