package lab

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateBSDStat = flag.Bool("update-netstat-p-tcp", false, "rewrite platform/testdata/{aix,hpux,tru64}/netstat-p-tcp.txt from the emulators")

// netstat -p tcp on AIX, HP-UX and Tru64 lab hosts prints exactly what the
// drivers' fixtures hold (the first read of a fresh host), the counters
// move on between reads, a reboot zeroes them, and the failure counters
// rise only while the handshake fault shows.
func TestNetstatPTCP(t *testing.T) {
	for _, tc := range []struct{ os, release string }{{"aix", "7.2"}, {"hpux", "B.11.31"}, {"tru64", "V5.1B"}} {
		t.Run(tc.os, func(t *testing.T) {
			h, err := NewHost("h", tc.os, tc.release)
			if err != nil {
				t.Fatal(err)
			}
			first := mustRunShell(t, h, "netstat -p tcp")
			p := filepath.Join("..", "platform", "testdata", tc.os, "netstat-p-tcp.txt")
			if *updateBSDStat {
				if err := os.WriteFile(p, []byte(first), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if first != string(want) {
				t.Errorf("netstat -p tcp printed\n%s\nthe fixture %s holds\n%s", first, p, want)
			}
			second := mustRunShell(t, h, "netstat -p tcp")
			if first == second {
				t.Error("the counters did not move between reads")
			}
			if !strings.Contains(second, "\t212 embryonic connections dropped\n") {
				t.Errorf("a healthy host's embryonic drops moved:\n%s", second)
			}
			h.Faults.HandshakeFailures = true
			h.BaselineTimeWait = h.Emu.TimeWait() + time.Second
			if got := mustRunShell(t, h, "netstat -p tcp"); !strings.Contains(got, "\t332 embryonic connections dropped\n") {
				t.Errorf("with TIME_WAIT below its baseline, embryonic drops did not rise by 120:\n%s", got)
			}
			h.Reboot()
			if got := mustRunShell(t, h, "netstat -p tcp"); !strings.Contains(got, "\t120 embryonic connections dropped\n") || !strings.Contains(got, "\t2 connection requests\n") {
				t.Errorf("after a reboot, with the fault on:\n%s", got)
			}
		})
	}
}

func mustRunShell(t *testing.T, h *Host, line string) string {
	t.Helper()
	out := h.Run("root", line)
	if out.Code != 0 {
		t.Fatalf("%s: exit %d: %s", line, out.Code, out.Stderr)
	}
	return out.Stdout
}
