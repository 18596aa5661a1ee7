package audit

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fleettune/fleettune/platform"
)

// checkSnapshot holds what any parsed snapshot must satisfy, whatever the
// input: a valid range, a positive T, counts that add up, and a report
// that can be made from it.
func checkSnapshot(t *testing.T, s *Snapshot, err error) {
	if err != nil {
		if strings.Contains(err.Error(), "\n") || !utf8.ValidString(err.Error()) {
			t.Errorf("error is not one readable line: %q", err)
		}
		return
	}
	if s.Range.Validate() != nil || s.T <= 0 {
		t.Fatalf("range %v T %s accepted", s.Range, s.T)
	}
	held := 0
	for _, p := range s.Table.pools {
		held += p.held()
	}
	if held > s.Table.Sockets {
		t.Fatalf("%d ports held by %d sockets", held, s.Table.Sockets)
	}
	h := Analyze(Input{Host: "h", Snapshots: []*Snapshot{s}}, DefaultThresholds())
	if h.Usable > h.RangeSize || h.Grade < OK || h.Grade > Exhausted {
		t.Fatalf("usable %d of %d, grade %d", h.Usable, h.RangeSize, h.Grade)
	}
}

func fuzzCollector(f *testing.F, os string, seeds ...string) {
	for _, s := range seeds {
		f.Add(fixture(f, s))
	}
	c, err := collectorFor(os)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, out string) {
		s, err := c.parse(out, Limits{MaxLines: 10_000})
		checkSnapshot(t, s, err)
	})
}

func FuzzParseLinux(f *testing.F) {
	fuzzCollector(f, platform.Linux, "linux/script-ss.txt", "linux/script-proc.txt")
}

func FuzzParseWindows(f *testing.F) {
	fuzzCollector(f, platform.Windows, "windows/script.txt", "windows/script-twdelay.txt")
}

func FuzzParseSolaris(f *testing.F) {
	fuzzCollector(f, platform.Solaris, "solaris/script-10.txt", "solaris/script-11.txt")
}

func FuzzParseHPUX(f *testing.F) { fuzzCollector(f, platform.HPUX, "hpux/script.txt") }

func FuzzParseAIX(f *testing.F) { fuzzCollector(f, platform.AIX, "aix/script.txt") }

func FuzzParseTru64(f *testing.F) { fuzzCollector(f, platform.Tru64, "tru64/script.txt") }

// The line parsers on their own: never a panic; a row they accept has
// addresses that print back.
func FuzzSocketLines(f *testing.F) {
	for _, l := range []string{
		"TIME-WAIT 0 0 127.0.0.1:34460 127.0.0.1:5432 timer:(timewait,58sec,0)",
		"   3: 0100007F:869C 0100007F:1538 06 00000000:00000000 03:000016A7 00000000     0        0 0 3 0000000000000000",
		"  TCP    [fe80::1%4]:49707      [fe80::9%4]:445        ESTABLISHED     4",
		"10.0.3.1.33000       10.0.0.5.5432        64128      0 128872      0 TIME_WAIT",
		"tcp4       0      0  9.27.40.28.32775       10.0.0.5.3306          TIME_WAIT",
	} {
		f.Add(l)
	}
	parsers := []func(string) (Socket, bool, error){parseSSLine, parseProcTCPLine, parseWinNetstatLine, parseSolarisLine, parseBSDLine}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range parsers {
			s, ok, err := p(line)
			if ok && err == nil && (!s.Local.IsValid() || !s.Remote.IsValid() || s.State >= nStates) {
				t.Fatalf("accepted %q as %+v", line, s)
			}
		}
	})
}
