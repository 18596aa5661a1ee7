package platform

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The one-pass netstat parsers must mean exactly what the Split-and-Fields
// ones they replaced meant. Those are kept here, verbatim, as the oracle:
// the table tests and FuzzNetstatParsers compare the two on every input.

func splitFieldsParseBSD(out string) (listening []int, timeWait int, err error) {
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, "Active UNIX domain sockets") {
			break
		}
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "tcp") {
			continue
		}
		switch f[len(f)-1] {
		case "TIME_WAIT":
			timeWait++
		case "LISTEN":
			local := f[3]
			i := strings.LastIndexByte(local, '.')
			p, perr := strconv.Atoi(local[i+1:])
			if i < 0 || perr != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("netstat -an: unexpected local address %q in %q", local, strings.TrimSpace(line))
			}
			listening = append(listening, p)
		}
	}
	return uniqueSorted(listening), timeWait, nil
}

// splitTrailer is netstatTrailer by lines: the count line netstatFilter
// ends a filtered table with, when the last non-blank line is one.
func splitTrailer(out string) (string, int, bool, error) {
	lines := strings.Split(out, "\n")
	i := len(lines) - 1
	for i >= 0 && strings.Trim(lines[i], " \t\r") == "" {
		i--
	}
	if i < 0 {
		return out, 0, false, nil
	}
	last := strings.TrimRight(lines[i], " \t\r")
	if !strings.HasPrefix(last, "@@tw ") {
		return out, 0, false, nil
	}
	if !regexp.MustCompile(`^@@tw [0-9]{1,9}$`).MatchString(last) {
		return "", 0, false, fmt.Errorf("netstat: the filter's last line %q is not %q and a count", last, "@@tw")
	}
	n, _ := strconv.Atoi(last[len("@@tw "):])
	body := strings.Join(lines[:i], "\n")
	if i > 0 {
		body += "\n"
	}
	return body, n, true, nil
}

func splitFieldsParseAIX(out string) (listening []int, timeWait int, err error) {
	out, tw, _, err := splitTrailer(out)
	if err != nil {
		return nil, 0, fmt.Errorf("netstat -an: %w", err)
	}
	header := false
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "Proto" {
			header = true
			break
		}
	}
	if !header {
		return nil, 0, fmt.Errorf("netstat -an: no connection table in output: %s", firstLine(out))
	}
	listening, timeWait, err = splitFieldsParseBSD(out)
	return listening, timeWait + tw, err
}

func splitFieldsParseFilteredBSD(out string) (listening []int, timeWait int, err error) {
	body, tw, found, err := splitTrailer(out)
	if err != nil {
		return nil, 0, fmt.Errorf("netstat -an: %w", err)
	}
	if !found {
		return splitFieldsParseBSD(out)
	}
	header := false
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "Proto" {
			header = true
			break
		}
	}
	if !header {
		return nil, 0, fmt.Errorf("netstat -an: no connection table in output: %s", firstLine(body))
	}
	listening, timeWait, err = splitFieldsParseBSD(body)
	if err != nil {
		return nil, 0, err
	}
	return listening, timeWait + tw, nil
}

func splitFieldsParseSolaris(out string) (listening []int, timeWait int, err error) {
	out, timeWait, _, err = splitTrailer(out)
	if err != nil {
		return nil, 0, err
	}
	sawHeader := false
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if fs[0] == "TCP:" || fs[0] == "Local" || strings.Trim(line, "- ") == "" {
			sawHeader = sawHeader || fs[0] == "TCP:"
			continue
		}
		if !sawHeader {
			return nil, 0, fmt.Errorf("netstat: %s", strings.TrimSpace(line))
		}
		if len(fs) < 7 {
			return nil, 0, fmt.Errorf("netstat: unexpected line %q", line)
		}
		switch fs[6] {
		case "LISTEN":
			i := strings.LastIndexByte(fs[0], '.')
			p, perr := strconv.Atoi(fs[0][i+1:])
			if i < 0 || perr != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("netstat: unexpected local address %q", fs[0])
			}
			listening = append(listening, p)
		case "TIME_WAIT":
			timeWait++
		}
	}
	if !sawHeader {
		return nil, 0, fmt.Errorf("netstat printed no TCP table")
	}
	return uniqueSorted(listening), timeWait, nil
}

func splitFieldsParseWindows(out string) (listening []int, timeWait int, err error) {
	tcpRows := 0
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "TCP" {
			continue
		}
		tcpRows++
		switch f[3] {
		case "TIME_WAIT":
			timeWait++
		case "LISTENING":
			i := strings.LastIndexByte(f[1], ':')
			p, perr := strconv.Atoi(f[1][i+1:])
			if i < 0 || perr != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("netstat -ano: unexpected local address %q in %q", f[1], strings.TrimSpace(line))
			}
			listening = append(listening, p)
		}
	}
	if tcpRows == 0 || len(listening) == 0 {
		return nil, 0, fmt.Errorf("netstat -ano printed no TCP LISTENING rows (a non-English Windows?): %q", firstLine(out))
	}
	return uniqueSorted(listening), timeWait, nil
}

type netstatParser struct {
	name      string
	fast, old func(string) ([]int, int, error)
}

var netstatParsers = []netstatParser{
	{"bsd", parseBSDNetstat, splitFieldsParseBSD},
	{"aix", ParseAIXNetstat, splitFieldsParseAIX},
	{"solaris", ParseSolarisNetstat, splitFieldsParseSolaris},
	{"hpux/tru64", parseFilteredBSDNetstat, splitFieldsParseFilteredBSD},
	{"windows", parseWindowsNetstat, splitFieldsParseWindows},
}

// sameParse fails t when the two parsers disagree on out.
func sameParse(t *testing.T, p netstatParser, out string) {
	t.Helper()
	l1, tw1, err1 := p.fast(out)
	l2, tw2, err2 := p.old(out)
	if !reflect.DeepEqual(l1, l2) || tw1 != tw2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
		t.Errorf("%s(%q):\none pass:    %v, %d, %v\nsplit+fields: %v, %d, %v", p.name, clipped(out), l1, tw1, err1, l2, tw2, err2)
	}
}

func clipped(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// netstatSeeds are every netstat fixture and gather output from real hosts,
// and the edge cases of line ends and blanks.
func netstatSeeds(t testing.TB) []string {
	var seeds []string
	for _, glob := range []string{"*/netstat*.txt", "*/gather-*.txt"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", glob))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, string(b))
		}
	}
	return append(seeds,
		"", "\n", "\r\n", "\r", "tcp 0 0 *.22 *.* LISTEN",
		"Proto\r\ntcp 0 0 *.22 *.* LISTEN\r\ntcp4 0 0 1.2.3.4.5 1.2.3.4.6 TIME_WAIT\r",
		"Proto\ntcp\t0\v0\f*.22  *.*   LISTEN\r\r\ntcp 0 0 *.x *.* LISTEN\n",
		"Proto\ntcp 0 0 *.22\u00a0*.* 1 LISTEN\ntcp 0 0 *.23 *.*\u2003x LISTEN\n",
		"TCP: IPv4\n   Local\n-- --\n  *.22 *.* 0 0 1 0 LISTEN\n*.1 *.2 0 0 1 0 TIME_WAIT If\n  ::1.5 ::1.6 0 0 1 0 TIME_WAIT 0 lo0\r\n\r\nx y\n",
		"TCP: IPv4\n*.22 *.* 0 0 1 0\r LISTEN\n",
		"  TCP    0.0.0.0:135   0.0.0.0:0   LISTENING   912\r\n  TCP  [::]:445 [::]:0 LISTENING 4\r\n  TCP 1:2 3:4 TIME_WAIT 0\r\n  UDP 0.0.0.0:5 *:*  9\r\n",
		"  TC\rP    0.0.0.0:135   0.0.0.0:0   LISTENING   912\r\n  TCP 0.0.0.0:7 0:0 LISTEN\rING 1\n",
		"Proto\nActive UNIX domain sockets\ntcp 0 0 *.22 *.* LISTEN\n",
		"Proto\ntcp 0 0 *.22 *.* LISTEN\nActive UNIX domain sockets\n@@tw 4\r\n \n",
		"TCP: IPv4\n  *.22 *.* 0 0 1 0 LISTEN\n*.1 *.2 0 0 1 0 TIME_WAIT\n@@tw 3 \n\t\n",
		"TCP: IPv4\n@@tw 3\n*.1 *.2 0 0 1 0 TIME_WAIT\n", "@@tw 0", "@@tw -0\n", "Proto\n@@tw 1\n@@tw 2\n", "@@tw 1234567890\n", "Proto\n@@tw\n",
	)
}

func TestNetstatParsersMatchSplitFields(t *testing.T) {
	for _, out := range netstatSeeds(t) {
		for _, p := range netstatParsers {
			sameParse(t, p, out)
		}
	}
}

func TestSplitRow(t *testing.T) {
	for _, line := range []string{"", "   ", "a", " a  b\tc\r", "1 2 3 4 5 6 7 8 9 10", "a\u00a0b c", "é è\u2003ê", "\x80 \xff",
		"12345678", "1234567 ", " 2345678", "       x", "x       ", "1234567812345678", "abcdefgh ijklmnop\tqrstuvwx", "\t\n\v\f\r \x08\x0e\x1f!~\x7f",
		"tcp4       0      0  10.20.0.31.1024       10.20.0.40.80          TIME_WAIT", "aaaaaaa\u00a0", "aaaaaaaa\u0085b"} {
		var r netstatRow
		splitRow(line, &r)
		want := strings.Fields(line)
		got := r.f[:min(r.n, netstatFields)]
		if r.n != len(want) || !reflect.DeepEqual(got, want[:min(len(want), netstatFields)]) ||
			(len(want) > 0 && r.last != want[len(want)-1]) || (len(want) == 0 && r.last != "") {
			t.Errorf("splitRow(%q) = %q (n %d, last %q); want %q", line, got, r.n, r.last, want)
		}
	}
}

// FuzzSplitRow: splitRow is strings.Fields, on any line.
func FuzzSplitRow(f *testing.F) {
	for _, s := range []string{"", " a  b\tc\r", "tcp4       0      0  10.20.0.31.1024       10.20.0.40.80          TIME_WAIT",
		"1 2 3 4 5 6 7 8 9 10 11", "a\u00a0b c", "\x01\x08\x09\x0d\x0e\x1f \x20\x21\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var r netstatRow
		splitRow(line, &r)
		want := strings.Fields(line)
		got := r.f[:min(r.n, netstatFields)]
		if r.n != len(want) || !reflect.DeepEqual(got, want[:min(len(want), netstatFields)]) ||
			(len(want) > 0 && r.last != want[len(want)-1]) || (len(want) == 0 && r.last != "") {
			t.Errorf("splitRow(%q) = %q (n %d, last %q); want %q", line, got, r.n, r.last, want)
		}
	})
}

// FuzzNetstatParsers: the one-pass parsers and the Split-and-Fields ones
// agree on any output.
func FuzzNetstatParsers(f *testing.F) {
	for _, s := range netstatSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		for _, p := range netstatParsers {
			sameParse(t, p, out)
		}
	})
}

// busyNetstat is an exhausted host's table in each layout: a few listeners
// and 30,000 TIME_WAIT rows (what the lab's exhausted profile prints).
func busyNetstat(layout string) string {
	var b strings.Builder
	switch layout {
	case "solaris":
		b.WriteString("\nTCP: IPv4\n   Local Address        Remote Address    Swind Send-Q Rwind Recv-Q    State\n" +
			"-------------------- -------------------- ----- ------ ----- ------ -----------\n")
		for _, p := range []int{22, 111, 2049} {
			fmt.Fprintf(&b, "      *.%-5d                *.*                0      0 128000      0 LISTEN\n", p)
		}
		for i := range 30000 {
			fmt.Fprintf(&b, "10.20.0.31.%-5d     10.20.0.40.80        64128      0 128872      0 TIME_WAIT\n", 1024+i)
		}
	case "windows":
		b.WriteString("\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n")
		for _, p := range []int{135, 445, 5985} {
			fmt.Fprintf(&b, "  TCP    0.0.0.0:%-5d          0.0.0.0:0              LISTENING       912\r\n", p)
		}
		for i := range 30000 {
			fmt.Fprintf(&b, "  TCP    10.20.0.31:%-5d       10.20.0.40:80          TIME_WAIT       0\r\n", 1024+i)
		}
	default:
		b.WriteString("Active Internet connections (including servers)\nProto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n")
		for _, p := range []int{22, 111, 1334} {
			fmt.Fprintf(&b, "tcp4       0      0  *.%-5d                *.*                    LISTEN\n", p)
		}
		for i := range 30000 {
			fmt.Fprintf(&b, "tcp4       0      0  10.20.0.31.%-5d       10.20.0.40.80          TIME_WAIT\n", 1024+i)
		}
	}
	return b.String()
}

// BenchmarkNetstat: each parser, one pass and Split-and-Fields, on an
// exhausted host's table.
func BenchmarkNetstat(b *testing.B) {
	for _, p := range netstatParsers {
		layout := p.name
		if layout == "aix" {
			layout = "bsd"
		}
		out := busyNetstat(layout)
		for _, impl := range []struct {
			name  string
			parse func(string) ([]int, int, error)
		}{{"onepass", p.fast}, {"splitfields", p.old}} {
			b.Run(p.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(len(out)))
				b.ReportAllocs()
				for b.Loop() {
					if _, tw, err := impl.parse(out); err != nil || tw != 30000 {
						b.Fatalf("%d TIME_WAIT, %v", tw, err)
					}
				}
			})
		}
	}
}

// BenchmarkSplitRow: splitRow against strings.Fields on the rows of an
// exhausted host. (Eight bytes at a time, SWAR, measured slower than
// splitRow's one table lookup a byte.)
func BenchmarkSplitRow(b *testing.B) {
	var lines []string
	size := 0
	for _, layout := range []string{"bsd", "solaris", "windows"} {
		for line := range strings.SplitSeq(busyNetstat(layout), "\n") {
			lines = append(lines, line)
			size += len(line)
		}
	}
	for _, impl := range []struct {
		name  string
		split func(string, *netstatRow)
	}{{"splitRow", splitRow}, {"fields", splitRowSlow}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			var r netstatRow
			for b.Loop() {
				for _, l := range lines {
					impl.split(l, &r)
				}
			}
		})
	}
}
