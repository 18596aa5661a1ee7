package lab

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func loadedHost(t *testing.T, os, release string, p Profile) *Host {
	t.Helper()
	h, err := NewHost(os+"-01", os, release)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetProfile(h, p, 0, 1); err != nil {
		t.Fatal(err)
	}
	return h
}

// count is the number of lines of out holding every one of subs.
func count(out string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// Every OS's socket command shows the load: TIME_WAIT is the rate times
// the live interval (Little's law), capped by the free ports; an
// exhausted host fills its range; a leaking one holds CLOSE_WAIT.
func TestLoadTables(t *testing.T) {
	for _, tc := range []struct {
		os, release, cmd string
		tw, cw, estab    string // the states as the command prints them
		user             string
	}{
		{"linux", "6.1", "ss -Htano", "TIME-WAIT", "CLOSE-WAIT", "ESTAB", "root"},
		{"linux", "6.1", "cat /proc/net/tcp", " 06 ", " 08 ", " 01 ", "root"},
		{"windows", "10.0", "netstat -ano -p tcp", "TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED", WindowsAdmin},
		{"windows", "6.1", "netstat -ano -p tcp", "TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED", WindowsAdmin},
		{"solaris", "5.11", "netstat -an -f inet -P tcp", "TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED", "root"},
		{"hpux", "B.11.31", "netstat -an -f inet", "TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED", "root"},
		{"aix", "7.3", "netstat -an -f inet", "TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED", "root"},
		{"tru64", "V5.1B", "netstat -an -f inet", "TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED", "root"},
	} {
		t.Run(tc.os+" "+tc.release+" "+tc.cmd, func(t *testing.T) {
			for _, p := range Profiles {
				h := loadedHost(t, tc.os, tc.release, p)
				out := h.Run(tc.user, tc.cmd)
				if out.Code != 0 {
					t.Fatalf("%s: %#v", p, out)
				}
				usable := usablePorts(h)
				// The load's rows are those from the host's own address.
				tw := count(out.Stdout, tc.tw, h.Load.Local.String()+".") + count(out.Stdout, tc.tw, h.Load.Local.String()+":") +
					count(out.Stdout, tc.tw, string(appendHex4(nil, h.Load.Local)))
				cw := count(out.Stdout, tc.cw)
				want := min(int(h.Load.Rate*h.Emu.TimeWait().Seconds()), usable-h.Load.Established-h.Load.CloseWait)
				switch p {
				case ProfileBusy:
					if tw != want || float64(tw) < 0.5*float64(usable) || float64(tw) > 0.85*float64(usable) {
						t.Errorf("busy: %d TIME_WAIT of %d usable, want %d (52-82%%)", tw, usable, want)
					}
				case ProfileExhausted:
					if held := tw + h.Load.Established; held != usable {
						t.Errorf("exhausted: %d held of %d usable", held, usable)
					}
				case ProfileLeaking:
					if cw != h.Load.CloseWait || cw < usable*3/10 {
						t.Errorf("leaking: %d CLOSE_WAIT, want %d (>= 30%% of %d)", cw, h.Load.CloseWait, usable)
					}
				case ProfileIdle:
					if tw != want || float64(tw) > 0.2*float64(usable) || cw != 0 {
						t.Errorf("idle: %d TIME_WAIT (want %d), %d CLOSE_WAIT", tw, want, cw)
					}
				}
			}
		})
	}
}

// The table follows the live configuration: widening a busy Linux host's
// range keeps its TIME_WAIT count (the rate did not change) and lowers its
// share; an exhausted Windows host whose TIME_WAIT delay shortens at boot
// holds fewer.
func TestLoadFollowsConfig(t *testing.T) {
	h := loadedHost(t, "linux", "6.1", ProfileBusy)
	before := count(h.Run("root", "ss -Htano").Stdout, "TIME-WAIT")
	if out := h.Run("root", "sysctl -w net.ipv4.ip_local_port_range='10240 65535'"); out.Code != 0 {
		t.Fatal(out)
	}
	if after := count(h.Run("root", "ss -Htano").Stdout, "TIME-WAIT"); after != before {
		t.Errorf("TIME-WAIT %d after widening, was %d", after, before)
	}
	if got := h.Run("root", "cat /proc/net/sockstat").Stdout; !strings.Contains(got, " tw "+strconv.Itoa(before)+" ") {
		t.Errorf("sockstat %q, want tw %d", got, before)
	}

	w := loadedHost(t, "windows", "10.0", ProfileExhausted)
	full := count(w.Run(WindowsAdmin, "netstat -ano -p tcp").Stdout, "TIME_WAIT", "10.0.0.12:1433")
	w.Run(WindowsAdmin, `reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f`)
	w.Reboot()
	if w.Emu.TimeWait() != 30*time.Second {
		t.Fatalf("TIME_WAIT %s after the reboot", w.Emu.TimeWait())
	}
	short := count(w.Run(WindowsAdmin, "netstat -ano -p tcp").Stdout, "TIME_WAIT", "10.0.0.12:1433")
	if want := int(w.Load.Rate * 30); short != want || short >= full {
		t.Errorf("TIME_WAIT %d with 30s (was %d at 240s), want %d", short, full, want)
	}
}

// Windows' excluded ranges, the Tcpip events of an exhausted host, and
// what an idle one and 2003 answer.
func TestWindowsAuditCommands(t *testing.T) {
	w := loadedHost(t, "windows", "10.0", ProfileExhausted)
	got := w.Run(WindowsAdmin, "netsh int ipv4 show excludedportrange protocol=tcp").Stdout
	want := "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n" +
		"      5357        5357\r\n     50000       50059     *\r\n\r\n* - Administered port exclusions.\r\n\r\n"
	if got != want {
		t.Errorf("excludedportrange:\n%q\nwant\n%q", got, want)
	}
	q := `wevtutil qe System /q:"*[System[Provider[@Name='Tcpip'] and (EventID=4227 or EventID=4231)]]" /c:50 /rd:true /f:text`
	ev := w.Run(WindowsAdmin, q)
	if ev.Code != 0 || strings.Count(ev.Stdout, "Event[") != 50 || strings.Count(ev.Stdout, "  Event ID: 4231\r\n") != 5 ||
		!strings.HasPrefix(ev.Stdout, "Event[0]:\r\n  Log Name: System\r\n  Source: Tcpip\r\n  Date: ") {
		t.Errorf("events: code %d, %d events, %d of 4231:\n%.600s", ev.Code, strings.Count(ev.Stdout, "Event["), strings.Count(ev.Stdout, "Event ID: 4231"), ev.Stdout)
	}
	if n := count(w.Run(WindowsAdmin, "netstat -ano -p tcpv6").Stdout, "TIME_WAIT"); n != 0 {
		t.Errorf("tcpv6 shows %d IPv4 TIME_WAIT rows", n)
	}
	idle := loadedHost(t, "windows", "10.0", ProfileIdle)
	if out := idle.Run(WindowsAdmin, q); out.Code != 0 || out.Stdout != "" {
		t.Errorf("idle host events: %#v", out)
	}
	old := loadedHost(t, "windows", "5.2", ProfileExhausted)
	if out := old.Run(WindowsAdmin, q); out.Code == 0 || !strings.Contains(out.Stderr, "'wevtutil' is not recognized") {
		t.Errorf("2003 wevtutil: %#v", out)
	}
}

// Solaris splits its table by family with -f.
func TestSolarisNetstatFamilies(t *testing.T) {
	h := loadedHost(t, "solaris", "5.11", ProfileBusy)
	v4 := h.Run("root", "netstat -an -f inet -P tcp").Stdout
	v6 := h.Run("root", "netstat -an -f inet6 -P tcp").Stdout
	all := h.Run("root", "netstat -an -P tcp").Stdout
	if !strings.HasPrefix(v4, "\nTCP: IPv4\n") || strings.Contains(v4, "IPv6") || !strings.HasPrefix(v6, "\nTCP: IPv6\n") || all != v4+v6 {
		t.Errorf("families:\n%.300s\n--\n%.300s", v4, v6)
	}
}
