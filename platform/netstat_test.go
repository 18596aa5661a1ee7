package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// netstat -p tcp as the AIX, HP-UX and Tru64 lab hosts print it: the
// counters the thresholds need, read off the files by hand.
func TestParseBSDTCPStatsFixtures(t *testing.T) {
	for _, osName := range []string{"aix", "hpux", "tru64"} {
		b, err := os.ReadFile(filepath.Join("testdata", osName, "netstat-p-tcp.txt"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := parseBSDTCPStats(string(b))
		if err != nil {
			t.Fatalf("%s: %v", osName, err)
		}
		want := Counters{"tcps_sndtotal": 2841669, "tcps_rcvtotal": 2920153, "tcps_connattempt": 48213,
			"tcps_accepts": 13378, "tcps_connects": 61173, "tcps_closed": 61458, "tcps_drops": 96,
			"tcps_conndrops": 212, "tcps_timeoutdrop": 4, "tcps_keepdrops": 9}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("%s: %s = %d, want %d", osName, k, c[k], v)
			}
		}
		if len(c) != len(want) {
			t.Errorf("%s: %d counters, want %d: %v", osName, len(c), len(want), c)
		}
	}
}

func TestParseBSDTCPStats(t *testing.T) {
	ok := "tcp:\n\t1 connection request\n\t1 connection closed (including 1 drop)\n\t1 embryonic connection dropped\n\t\t1 connection dropped by rexmit timeout\n"
	c, err := parseBSDTCPStats(ok)
	if err != nil || c["tcps_connattempt"] != 1 || c["tcps_drops"] != 1 || c["tcps_conndrops"] != 1 || c["tcps_timeoutdrop"] != 1 {
		t.Errorf("singular forms: %v, %v", c, err)
	}
	if c, err := parseBSDTCPStats(strings.ReplaceAll(ok, "\n", "\r\n")); err != nil || c["tcps_closed"] != 1 {
		t.Errorf("CRLF: %v, %v", c, err)
	}
	for _, tc := range []struct{ name, out, want string }{
		{"empty", "", `no "tcp:" report`},
		{"no header", "\t1 connection request\n", `line 1: expected "tcp:"`},
		{"udp", "udp:\n\t0 datagrams received\n", `line 1: expected "tcp:"`},
		{"not a count", "tcp:\n\tconnections: many\n", "line 2: expected a count"},
		{"missing drops", "tcp:\n\t1 embryonic connection dropped\n\t\t1 connection dropped by rexmit timeout\n", "no line for tcps_drops"},
		{"twice", ok + "\t5 embryonic connections dropped\n", "line 6: tcps_conndrops appears twice"},
		{"huge", "tcp:\n" + strings.Repeat("\t1 x\n", 300000), "more than"},
		{"overflow", "tcp:\n\t99999999999999999999 embryonic connections dropped\n", "is not a count"},
	} {
		_, err := parseBSDTCPStats(tc.out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	for _, name := range []string{AIX, HPUX, Tru64} {
		d, _ := For(name)
		if !d.Capabilities().Counters {
			t.Errorf("%s: no counters", name)
		}
		th := d.Thresholds()
		if th["tcps_conndrops"] != 50 || th["tcps_drops"] != 50 || th["tcps_timeoutdrop"] != 10 {
			t.Errorf("%s thresholds %v", name, th)
		}
		th["tcps_drops"] = 1
		if d.Thresholds()["tcps_drops"] != 50 {
			t.Errorf("%s: Thresholds returns shared state", name)
		}
	}
}

// What reading one host's counters costs fleettune, per report (the
// health check reads two per host per watch window).
func BenchmarkParseBSDTCPStats(b *testing.B) {
	out, err := os.ReadFile(filepath.Join("testdata", "aix", "netstat-p-tcp.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	for i := 0; i < b.N; i++ {
		if _, err := parseBSDTCPStats(string(out)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseWindowsTCPStats(b *testing.B) {
	out, err := os.ReadFile(filepath.Join("testdata", "windows", "netstat-s-p-tcp.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseWindowsTCPStats(string(out)); err != nil {
			b.Fatal(err)
		}
	}
}
