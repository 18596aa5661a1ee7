package platform

import (
	"strings"
	"testing"
)

func TestNetstatTrailer(t *testing.T) {
	for _, tc := range []struct {
		in, body string
		tw       int
		ok       bool
		err      string
	}{
		{in: "a\nb\n", body: "a\nb\n"},
		{in: "", body: ""},
		{in: "a\n@@tw 12\n", body: "a\n", tw: 12, ok: true},
		{in: "a\n@@tw 0\n\n  \n", body: "a\n", ok: true},
		{in: "@@tw 3", body: "", tw: 3, ok: true},
		{in: "a\n@@tw 3\nb\n", body: "a\n@@tw 3\nb\n"}, // not last: netstat's own text
		{in: "a\n@@tw x\n", err: `"@@tw x" is not`},
		{in: "a\n@@tw -1\n", err: "is not"},
		{in: "a\n@@tw 1 2\n", err: "is not"},
		{in: "a\n@@tw +1\n", err: "is not"},
	} {
		body, tw, ok, err := netstatTrailer(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || body != tc.body || tw != tc.tw || ok != tc.ok {
			t.Errorf("%q: %q %d %v %v, want %q %d %v", tc.in, body, tw, ok, err, tc.body, tc.tw, tc.ok)
		}
	}
}

// The filtered form and the whole table read the same; counted rows and
// the trailer's count add up (a table the filter did not reach).
func TestNetstatParsersReadTheFilteredForm(t *testing.T) {
	sol := "\nTCP: IPv4\n   Local Address        Remote Address    Swind Send-Q Rwind Recv-Q    State\n" +
		"-------------------- -------------------- ----- ------ ----- ------ -----------\n" +
		"      *.22                 *.*                0      0 49152      0 LISTEN\n"
	tw := "10.0.0.1.40000       10.0.0.2.80          64436      0 128872      0 TIME_WAIT\n"
	for in, want := range map[string]int{sol + tw + tw: 2, sol + "@@tw 2\n": 2, sol + tw + "@@tw 5\n": 6} {
		l, n, err := ParseSolarisNetstat(in)
		if err != nil || n != want || len(l) != 1 || l[0] != 22 {
			t.Errorf("solaris %q: %v %d %v, want [22] %d", in, l, n, err, want)
		}
	}
	if _, _, err := ParseSolarisNetstat("netstat: cannot open /dev/tcp\n@@tw 0\n"); err == nil || !strings.Contains(err.Error(), "cannot open /dev/tcp") {
		t.Errorf("solaris failing netstat: %v", err)
	}
	aix := "Active Internet connections (including servers)\nProto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n" +
		"tcp4       0      0  *.22                   *.*                    LISTEN\n"
	atw := "tcp4       0      0  10.0.0.1.40000         10.0.0.2.80            TIME_WAIT\n"
	unix := "Active UNIX domain sockets\nSADR/PCB  Type   Recv-Q Send-Q  Inode  Conn  Refs  Nextref Addr\n"
	for in, want := range map[string]int{aix + atw + unix: 1, aix + unix + "@@tw 7\n": 7} {
		l, n, err := ParseAIXNetstat(in)
		if err != nil || n != want || len(l) != 1 || l[0] != 22 {
			t.Errorf("aix %q: %v %d %v, want [22] %d", in, l, n, err, want)
		}
	}
	if _, _, err := ParseAIXNetstat("netstat: not found\n@@tw 0\n"); err == nil || !strings.Contains(err.Error(), "netstat: not found") {
		t.Errorf("aix failing netstat: %v", err)
	}
}

// HP-UX's and Tru64's sections mark a failing command with a line of their
// own, which a pipe's status no longer gives for netstat: the message
// without a table must fail the gather, naming it.
func TestFilteredBSDNetstatFailsWithoutTable(t *testing.T) {
	msg := "netstat: /dev/kmem: Permission denied\n@@tw 0\n"
	for name, parse := range map[string]func(string) (*Facts, error){
		"gather-default.txt":       ParseHPUXFacts,
		"gather-default-V5.1B.txt": ParseTru64Facts,
	} {
		var fixture string
		if strings.HasSuffix(name, "V5.1B.txt") {
			fixture = readTru64Fixture(t, name)
		} else {
			fixture = readHPUXFixture(t, name)
		}
		start := strings.Index(fixture, "@@fleettune@@ netstat\n")
		end := strings.Index(fixture, "@@tw ")
		if start < 0 || end < start {
			t.Fatalf("%s: no filtered netstat section", name)
		}
		f, err := parse(fixture)
		if err != nil || len(f.Listening) == 0 {
			t.Fatalf("%s: %v %+v", name, err, f)
		}
		bad := fixture[:start] + "@@fleettune@@ netstat\n" + msg + fixture[strings.Index(fixture[end:], "\n")+end+1:]
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), "no connection table in output: netstat: /dev/kmem: Permission denied") {
			t.Errorf("%s with netstat failing: %v", name, err)
		}
	}
}
