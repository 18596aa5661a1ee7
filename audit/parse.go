package audit

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// sectionMarker starts a line that opens a section of a collector's output,
// as in the drivers' gather scripts.
const sectionMarker = "@@fleettune@@ "

// endSection is the last section every script prints: without it the
// output was cut short.
const endSection = "end"

// sections splits marker-delimited output into named bodies, in linear
// time: each body is a slice of out. A name seen twice keeps the first.
func sections(out string) map[string]string {
	s := map[string]string{}
	name, start := "", -1
	for pos := 0; pos < len(out); {
		next := len(out)
		if i := strings.IndexByte(out[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		if strings.HasPrefix(out[pos:next], sectionMarker) {
			if start >= 0 {
				if _, dup := s[name]; !dup {
					s[name] = out[start:pos]
				}
			}
			name = strings.TrimSpace(out[pos+len(sectionMarker) : next])
			start = next
		}
		pos = next
	}
	if start >= 0 {
		if _, dup := s[name]; !dup {
			s[name] = out[start:]
		}
	}
	return s
}

// nextLine returns the line at pos (without its end, \r\n or \n) and where
// the next one starts.
func nextLine(s string, pos int) (line string, next int) {
	i := strings.IndexByte(s[pos:], '\n')
	if i < 0 {
		line, next = s[pos:], len(s)
	} else {
		line, next = s[pos:pos+i], pos+i+1
	}
	return strings.TrimSuffix(line, "\r"), next
}

// fields splits line on blanks into out and returns how many it found; it
// stops at len(out) (the last holds the rest of the line) and allocates
// nothing.
func fields(line string, out []string) int {
	n := 0
	i := 0
	for n < len(out) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		if n == len(out)-1 {
			out[n] = strings.TrimRight(line[i:], " \t")
			return n + 1
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		out[n] = line[i:j]
		n++
		i = j
	}
	return n
}

// parsePort reads a decimal port; "*" is port 0.
func parsePort(s string) (uint16, bool) {
	if s == "*" {
		return 0, true
	}
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// parseHost reads an address as netstat and ss print it: "*", "0.0.0.0",
// "[::1]", "::1", "fe80::1%eth0"; "*" is the unspecified address of the
// given family (v6 when v6).
func parseHost(s string, v6 bool) (netip.Addr, bool) {
	if s == "*" || s == "" {
		if v6 {
			return netip.IPv6Unspecified(), true
		}
		return netip.IPv4Unspecified(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i] // the zone names an interface; pools are per address
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// splitLast splits "host<sep>port" on the last sep.
func splitLast(s string, sep byte) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// lineError names the section, the line and what was expected; the line is
// quoted and cut so that a huge or binary line stays readable.
func lineError(section string, n int, line, want string) error {
	return fmt.Errorf("%s: line %d: expected %s, got %s", section, n, want, quoteCut(line, 120))
}

// quoteCut quotes s, cut to max bytes on a rune boundary.
func quoteCut(s string, max int) string {
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// firstLine is the first non-empty line of s, trimmed.
func firstLine(s string) string {
	for pos := 0; pos < len(s); {
		l, next := nextLine(s, pos)
		if t := strings.TrimSpace(l); t != "" {
			return t
		}
		pos = next
	}
	return ""
}

// intValue reads a section holding one integer (a /proc/sys file, ndd -get).
func intValue(section, body string) (int, error) {
	v := firstLine(body)
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: expected an integer, got %s", section, quoteCut(v, 80))
	}
	return n, nil
}
