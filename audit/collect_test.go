package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseFixture(t *testing.T, os, name string) *Snapshot {
	t.Helper()
	c, err := collectorFor(os)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.parse(fixture(t, name), Limits{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// poolOf finds a pool by its name's start.
func poolOf(t *testing.T, h HostReport, prefix string) Pool {
	t.Helper()
	for _, p := range h.Pools {
		if strings.HasPrefix(p.Name, prefix) {
			return p
		}
	}
	var names []string
	for _, p := range h.Pools {
		names = append(names, p.Name)
	}
	t.Fatalf("%s: no pool %q in %q", h.Host, prefix, names)
	return Pool{}
}

func analyze(t *testing.T, s *Snapshot) HostReport {
	t.Helper()
	return Analyze(Input{Host: "h", Groups: []string{"all"}, Snapshots: []*Snapshot{s}}, DefaultThresholds())
}

// The real ss capture: 6 TIME_WAIT and 2 ESTABLISHED from 127.0.0.1 to
// 127.0.0.1:5432, 3 TIME_WAIT and 1 ESTABLISHED from ::1 to [::1]:8080; the
// server side of those connections sits on the listening ports.
func TestLinuxSS(t *testing.T) {
	s := parseFixture(t, platform.Linux, "linux/script-ss.txt")
	if s.Range != (platform.PortRange{Low: 32768, High: 60999}) || s.TwReuse != 2 || s.Timestamps != 1 || s.MaxTwBuckets != 131072 {
		t.Fatalf("config = %+v", s)
	}
	if s.SocketSource != "ss -Htano" || len(s.Notes) != 0 {
		t.Errorf("source %q, notes %q", s.SocketSource, s.Notes)
	}
	if s.Counters["sockstat.tw"] != 9 {
		t.Errorf("sockstat tw = %d, want 9", s.Counters["sockstat.tw"])
	}
	if _, ok := s.Counters["TcpExt.TWRecycled"]; !ok {
		t.Errorf("no TWRecycled counter in %v", s.Counters)
	}
	h := analyze(t, s)
	p := poolOf(t, h, "127.0.0.1 → 127.0.0.1:5432")
	if p.TimeWait != 6 || p.Held != 8 || p.States["ESTABLISHED"] != 2 || p.Service != "postgresql" {
		t.Errorf("5432 pool = %+v", p)
	}
	if p.ClosedBy != "this host" || !p.ReuseOn {
		t.Errorf("closed by %q, reuse %v (tw_reuse 2 on loopback applies)", p.ClosedBy, p.ReuseOn)
	}
	// Timers of 58s left: 2 s old, in the first age bin.
	if len(p.Ages) != 6 || p.Ages[0].Count != 6 {
		t.Errorf("ages = %+v", p.Ages)
	}
	p6 := poolOf(t, h, "::1 → [::1]:8080")
	if p6.TimeWait != 3 || p6.Held != 4 {
		t.Errorf("8080 pool = %+v", p6)
	}
	if len(h.Services) != 2 {
		t.Errorf("services = %+v", h.Services)
	}
	if h.Grade != OK || h.Usable != 28232 {
		t.Errorf("grade %s usable %d", h.Grade, h.Usable)
	}
}

// The same host read from /proc/net/tcp and tcp6 gives the same pools, and
// says it fell back.
func TestLinuxProcFallback(t *testing.T) {
	s := parseFixture(t, platform.Linux, "linux/script-proc.txt")
	if !strings.Contains(s.SocketSource, "/proc/net/tcp") || len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "ss is missing") {
		t.Fatalf("source %q notes %q", s.SocketSource, s.Notes)
	}
	h := analyze(t, s)
	p := poolOf(t, h, "127.0.0.1 → 127.0.0.1:5432")
	if p.TimeWait != 6 || p.Held != 8 {
		t.Errorf("5432 pool = %+v", p)
	}
	if p.Ages[0].Count != 6 {
		t.Errorf("ages = %+v (tm->when 0x16A7 = 57.99s left)", p.Ages)
	}
	if p6 := poolOf(t, h, "::1 → [::1]:8080"); p6.TimeWait != 3 || p6.Held != 4 {
		t.Errorf("8080 pool = %+v", p6)
	}
}

func TestSSLine(t *testing.T) {
	for _, tc := range []struct {
		line  string
		local string
		st    State
		timer time.Duration
		err   string
	}{
		{"TIME-WAIT 0 0 10.0.1.7:40000 10.0.0.5:5432 timer:(timewait,52sec,0)", "10.0.1.7:40000", TimeWait, 52 * time.Second, ""},
		{"TIME-WAIT 0 0 10.0.1.7:40000 10.0.0.5:5432 timer:(timewait,5.123ms,0)", "10.0.1.7:40000", TimeWait, 5123 * time.Millisecond, ""},
		{"TIME-WAIT 0 0 10.0.1.7:40000 10.0.0.5:5432 timer:(timewait,830ms,0)", "10.0.1.7:40000", TimeWait, 830 * time.Millisecond, ""},
		{"LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:*", "127.0.0.53:53", Listen, -1, ""},
		{"ESTAB 0 0 [::ffff:10.0.0.1]:8080 [::ffff:10.0.0.2]:51000", "10.0.0.1:8080", Established, -1, ""},
		{"LISTEN 0 128 *:22 *:*", "0.0.0.0:22", Listen, -1, ""},
		{"ESTAB 0 0 ::1:22 ::1:51000", "[::1]:22", Established, -1, ""},
		{"BOGUS 0 0 1.2.3.4:5 1.2.3.4:6", "", 0, 0, "TCP state"},
		{"ESTAB 0 0 1.2.3.4:99999 1.2.3.4:6", "", 0, 0, "port"},
		{"ESTAB 0 0 1.2.3", "", 0, 0, "expected STATE"},
		{"ESTAB 0 0 nothost:22 1.2.3.4:6", "", 0, 0, "IP address"},
	} {
		s, ok, err := parseSSLine(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || !ok || s.Local.String() != tc.local || s.State != tc.st || s.Timer != tc.timer {
			t.Errorf("%q = %+v %v %v", tc.line, s, ok, err)
		}
	}
}

func TestWindows(t *testing.T) {
	s := parseFixture(t, platform.Windows, "windows/script.txt")
	if s.Version != "10.0.17763" || s.Range != (platform.PortRange{Low: 49152, High: 65535}) {
		t.Fatalf("version %q range %v", s.Version, s.Range)
	}
	if s.T != 240*time.Second || !s.Ambiguous {
		t.Errorf("T %s ambiguous %v: an absent TcpTimedWaitDelay on 2019 is the disputed default", s.T, s.Ambiguous)
	}
	if len(s.Excluded) != 2 || s.Excluded[0] != (platform.PortRange{Low: 50000, High: 50059}) {
		t.Errorf("excluded = %v", s.Excluded)
	}
	if s.Events[4231].Count != 2 || s.Events[4231].Last != "2026-11-30T21:14:07.412" || s.Events[4227].Count != 1 {
		t.Errorf("events = %+v", s.Events)
	}
	h := analyze(t, s)
	if h.Grade != Exhausted {
		t.Errorf("grade %s: 4231 events say the port space ran out", h.Grade)
	}
	// 16,384 ports, 160 excluded, listener 50010 inside an excluded range.
	if h.Usable != 16384-160 || h.Excluded != 160 || len(h.Listeners) != 0 {
		t.Errorf("usable %d excluded %d listeners %v", h.Usable, h.Excluded, h.Listeners)
	}
	p := poolOf(t, h, "10.0.2.2 (all destinations)")
	if p.Held != 5 || p.TimeWait != 2 || p.CloseWait != 1 {
		t.Errorf("pool = %+v", p)
	}
	if len(p.Top) != 2 || p.Top[0].Remote != "10.0.0.5:1433" || p.Top[0].Held != 3 || p.Top[0].Service != "sqlserver" {
		t.Errorf("destinations = %+v", p.Top)
	}
	if len(p.PIDs) != 1 || p.PIDs[0] != (PIDCount{3120, 3}) {
		t.Errorf("processes = %+v", p.PIDs)
	}
	// The TIME_WAIT towards WinRM's 5985 from the client 10.0.2.9 is inbound.
	found := false
	for _, in := range h.Services {
		if in.Port == 5985 && in.TimeWait == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("services = %+v", h.Services)
	}
	if poolOf(t, h, "fe80::1 ").Held != 1 {
		t.Errorf("IPv6 link-local pool missing")
	}

	s2 := parseFixture(t, platform.Windows, "windows/script-twdelay.txt")
	if s2.T != 30*time.Second || s2.Ambiguous || len(s2.Events) != 0 {
		t.Errorf("with TcpTimedWaitDelay 0x1e: T %s ambiguous %v events %v", s2.T, s2.Ambiguous, s2.Events)
	}
}

func TestUnix(t *testing.T) {
	for _, tc := range []struct {
		os, file  string
		rng       platform.PortRange
		t         time.Duration
		pool      string
		held, tw  int
		dest      string
		listeners int
	}{
		{platform.Solaris, "solaris/script-11.txt", platform.PortRange{Low: 32768, High: 65535}, 60 * time.Second, "10.0.3.1 (per address, assumed)", 3, 2, "10.0.0.5:5432", 0},
		{platform.Solaris, "solaris/script-10.txt", platform.PortRange{Low: 32768, High: 65535}, 240 * time.Second, "::1 (per address, assumed)", 1, 1, "[::1]:8080", 0},
		{platform.HPUX, "hpux/script.txt", platform.PortRange{Low: 49152, High: 65535}, 60 * time.Second, "10.0.4.1 (per address, assumed)", 3, 2, "10.0.0.5:1521", 0},
		{platform.AIX, "aix/script.txt", platform.PortRange{Low: 32768, High: 65535}, 15 * time.Second, "9.27.40.28 (per address, assumed)", 3, 1, "10.0.0.5:3306", 0},
		{platform.Tru64, "tru64/script.txt", platform.PortRange{Low: 1024, High: 5000}, 60 * time.Second, "10.0.6.1 (per address, assumed)", 2, 1, "10.0.0.5:5432", 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s := parseFixture(t, tc.os, tc.file)
			if s.Range != tc.rng || s.T != tc.t {
				t.Fatalf("range %v T %s", s.Range, s.T)
			}
			h := analyze(t, s)
			if !h.Assumed || h.PoolModel != "per-address" {
				t.Errorf("model %s assumed %v", h.PoolModel, h.Assumed)
			}
			p := poolOf(t, h, tc.pool)
			if p.Held != tc.held || p.TimeWait != tc.tw || p.Top[0].Remote != tc.dest {
				t.Errorf("pool = %+v", p)
			}
		})
	}
}

// Bad input: truncated, garbled or empty output is a clear error naming
// the section, the line and what was expected.
func TestBadInput(t *testing.T) {
	ss := fixture(t, "linux/script-ss.txt")
	win := fixture(t, "windows/script.txt")
	for _, tc := range []struct {
		name, os, out, want string
	}{
		{"truncated", platform.Linux, ss[:len(ss)/2], "ends before the script's end marker"},
		{"garbled ss", platform.Linux, strings.Replace(ss, "127.0.0.1:34460", "127.0.0.1:3x460", 1), `ss -Htano: line 4: local address: expected a port after the last colon, got "127.0.0.1:3x460"`},
		{"garbled state", platform.Linux, strings.Replace(ss, "TIME-WAIT", "TIME-WA\x1bIT", 1), `expected a TCP state (ESTAB, TIME-WAIT, LISTEN, ...), got "TIME-WA\x1bIT"`},
		{"bad range", platform.Linux, strings.Replace(ss, "32768\t60999", "60999", 1), "ip_local_port_range: expected two ports"},
		{"windows netstat", platform.Windows, strings.Replace(win, "0.0.0.0:135 ", "0.0.0.0-135 ", 1), "netstat -ano -p tcp: line 5: local address: expected ADDRESS:PORT"},
		{"windows netsh", platform.Windows, strings.Replace(win, "Number of Ports : 16384", "Number of Ports : lots", 1), "expected a start port and a number of ports"},
		{"solaris row", platform.Solaris, strings.Replace(fixture(t, "solaris/script-11.txt"), "ESTABLISHED\n", "ESTABLISHE\n", 1), "expected a TCP state"},
		{"hpux ndd", platform.HPUX, strings.Replace(fixture(t, "hpux/script.txt"), "60000", "name is non-existent for this module", 1), "ndd -get /dev/tcp tcp_time_wait_interval: expected an integer"},
		{"aix no", platform.AIX, strings.Replace(fixture(t, "aix/script.txt"), "tcp_timewait = 1", "tcp_timewait = one", 1), `no -o tcp_timewait: expected "tcp_timewait = N"`},
		{"tru64 row", platform.Tru64, strings.Replace(fixture(t, "tru64/script.txt"), "10.0.6.1.1100 ", "10.0.6.1.1100 extra ", 1), "expected PROTO RECV-Q SEND-Q LOCAL FOREIGN STATE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := collectorFor(tc.os)
			_, err := c.parse(tc.out, Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// A host with more rows than the cap is audited on the first ones and says so.
func TestCap(t *testing.T) {
	c, _ := collectorFor(platform.Linux)
	s, err := c.parse(fixture(t, "linux/script-ss.txt"), Limits{MaxLines: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Truncated || s.Table.Sockets != 5 || !strings.Contains(strings.Join(s.Notes, ";"), "cut at 5 lines") {
		t.Errorf("truncated %v sockets %d notes %q", s.Truncated, s.Table.Sockets, s.Notes)
	}
}

// Server 2003: no netsh dynamicport, no wevtutil, no tcpv6: the range is
// 1025 to MaxUserPort and TIME_WAIT defaults to 120 s.
func TestWindows2003(t *testing.T) {
	s := parseFixture(t, platform.Windows, "windows/script-2003.txt")
	if s.Version != "5.2.3790" || s.Range != (platform.PortRange{Low: 1025, High: 65534}) || s.T != 120*time.Second || s.Ambiguous {
		t.Fatalf("version %q range %v T %s ambiguous %v", s.Version, s.Range, s.T, s.Ambiguous)
	}
	if len(s.Events) != 0 || len(s.Excluded) != 0 {
		t.Errorf("events %v excluded %v", s.Events, s.Excluded)
	}
	h := analyze(t, s)
	if p := poolOf(t, h, "10.0.2.2"); p.Held != 5 {
		t.Errorf("pool %+v", p)
	}
}

// fakeRunner answers every command with one result.
type fakeRunner struct {
	res remote.Result
	err error
	cmd string
}

func (f *fakeRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	f.cmd = cmd
	return f.res, f.err
}

func TestCollect(t *testing.T) {
	ctx := context.Background()
	out := fixture(t, "linux/script-ss.txt")
	r := &fakeRunner{res: remote.Result{Stdout: []byte(out)}}
	s, err := Collect(ctx, r, platform.Linux, Limits{})
	if err != nil || r.cmd != LinuxScript() || s.Taken.IsZero() || s.Table.Sockets != 17 {
		t.Fatalf("collect: %v, ran %q", err, r.cmd)
	}
	for _, tc := range []struct {
		r    *fakeRunner
		lim  Limits
		want string
	}{
		{&fakeRunner{res: remote.Result{Stdout: []byte(out)}}, Limits{MaxBytes: 100}, "more than the 100 fleettune reads"},
		{&fakeRunner{res: remote.Result{Stderr: []byte("sh: 1: cannot open /dev/null\n"), ExitCode: 2}}, Limits{}, `exit status 2: "sh: 1: cannot open /dev/null"`},
		{&fakeRunner{err: errors.New("connection lost")}, Limits{}, "read socket table: connection lost"},
	} {
		if _, err := Collect(ctx, tc.r, platform.Linux, tc.lim); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
	if _, err := Collect(ctx, r, "plan9", Limits{}); err == nil || !strings.Contains(err.Error(), `unknown OS "plan9"`) {
		t.Errorf("plan9: %v", err)
	}
}
