package lab

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

var updateWindows = flag.Bool("update-windows", false, "rewrite platform/testdata/windows fixtures from the Windows emulator")

const winAdmin = "Administrator"

func newWindowsHost(t *testing.T, release string) *Host {
	t.Helper()
	h, err := NewHost("win1", "windows", release)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func windowsFixturePath(name string) string {
	return filepath.Join("..", "platform", "testdata", "windows", name)
}

// checkWindowsFixture compares got with a fixture, or rewrites the fixture
// under -update-windows.
func checkWindowsFixture(t *testing.T, name, got string) {
	t.Helper()
	p := windowsFixturePath(name)
	if *updateWindows {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s: the emulator printed\n%q\nthe fixture holds\n%q", name, got, want)
	}
}

// mustRun runs a line and fails the test unless it exits with code.
func mustRun(t *testing.T, h *Host, user, line string, code int) Output {
	t.Helper()
	out := h.Run(user, line)
	if out.Code != code {
		t.Fatalf("%q exited %d, want %d; stdout %q stderr %q", line, out.Code, code, out.Stdout, out.Stderr)
	}
	return out
}

// The fixed boot time the converged fixtures use (a reboot moves the boot
// time to the present otherwise).
var windowsFixtureBoot = time.Date(2026, 11, 2, 7, 30, 0, 0, time.UTC)

// One source of truth: a lab host answers every command the driver sends
// exactly as the driver's fixtures say, byte for byte.
func TestWindowsOutputsMatchDriverFixtures(t *testing.T) {
	type step struct {
		fixture, user, line string
		code                int
		stderr              bool // the fixture is stderr, not stdout
	}
	tcpip := `"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"`
	for _, tc := range []struct {
		release string
		steps   []step
	}{
		{"10.0", []step{
			{"ver-2019.txt", winAdmin, "ver", 0, false},
			{"wmic-lastbootuptime.txt", winAdmin, "wmic os get lastbootuptime", 0, false},
			{"netsh-show-dynamicport.txt", winAdmin, "netsh int ipv4 show dynamicport tcp", 0, false},
			{"netsh-set-ok.txt", winAdmin, "netsh int ipv6 set dynamicport udp start=10000 num=1000", 0, false},
			{"netsh-set-invalid.txt", winAdmin, "netsh int ipv4 set dynamicport tcp start=1024 num=1000", 1, false},
			{"netsh-set-nonadmin.txt", "ops", "netsh int ipv4 set dynamicport tcp start=10000 num=1000", 1, false},
			{"reg-query-missing.txt", winAdmin, "reg query " + tcpip + " /v TcpTimedWaitDelay", 1, true},
			{"reg-add-ok.txt", winAdmin, "reg add " + tcpip + " /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f", 0, false},
			{"reg-query-2019.txt", winAdmin, "reg query " + tcpip + " /v TcpTimedWaitDelay", 0, false},
			{"reg-denied.txt", "ops", "reg delete " + tcpip + " /v TcpTimedWaitDelay /f", 1, true},
			{"netstat-ano-2019.txt", winAdmin, "netstat -ano", 0, false},
			// The layout of the events the health check counts (three of the
			// exhausted load's; the driver asks for up to 1001 since the boot).
			{"wevtutil-tcpip.txt", winAdmin, strings.Replace(platform.WindowsEventsCommand(windowsFixtureBoot.Add(-time.Minute)), "/c:1001", "/c:3", 1), 0, false},
		}},
		{"5.2", []step{
			{"ver-2003.txt", winAdmin, "ver", 0, false},
			{"netsh-2003-not-found.txt", winAdmin, "netsh int ipv4 show dynamicport tcp", 1, false},
			{"reg-add-ok.txt", winAdmin, "reg add " + tcpip + " /v MaxUserPort /t REG_DWORD /d 65534 /f", 0, false},
			{"reg-query-2003.txt", winAdmin, "reg query " + tcpip + " /v MaxUserPort", 0, false},
			{"netstat-ano-2003.txt", winAdmin, "netstat -ano", 0, false},
		}},
	} {
		t.Run(tc.release, func(t *testing.T) {
			h := newWindowsHost(t, tc.release)
			for _, s := range tc.steps {
				if strings.HasPrefix(s.line, "wevtutil") {
					h.BootTime, h.Load.Profile = windowsFixtureBoot, ProfileExhausted
				}
				out := mustRun(t, h, s.user, s.line, s.code)
				got, other := out.Stdout, out.Stderr
				if s.stderr {
					got, other = other, got
				}
				if other != "" {
					t.Errorf("%q: unexpected output on the other stream: %q", s.line, other)
				}
				checkWindowsFixture(t, s.fixture, got)
			}
		})
	}
}

// windowsGather runs the driver's gather line and returns its stdout.
func windowsGather(t *testing.T, h *Host) string {
	t.Helper()
	return mustRun(t, h, winAdmin, platform.WindowsGatherCommand(), 0).Stdout
}

// The gather fixtures: fresh hosts, and hosts after fleettune's apply
// before and after the reboot. The driver's own tests parse these.
func TestWindowsGatherFixtures(t *testing.T) {
	for _, tc := range []struct{ release, gen, apply string }{
		{"10.0", "2019", strings.Join([]string{
			`netsh int ipv4 set dynamicport tcp start=20000 num=25000`,
			`netsh int ipv6 set dynamicport tcp start=20000 num=25000`,
			`reg add "HKLM\SOFTWARE\fleettune\PendingReboot" /v TcpTimedWaitDelay /t REG_SZ /d "20261101060000.000000+000 default" /f`,
			`reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f`,
			`reg add "HKLM\SOFTWARE\fleettune\PendingReboot" /v KeepAliveTime /t REG_SZ /d "20261101060000.000000+000 default" /f`,
			`reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v KeepAliveTime /t REG_DWORD /d 300000 /f`,
		}, " && ")},
		{"5.2", "2003", strings.Join([]string{
			`reg add "HKLM\SOFTWARE\fleettune\PendingReboot" /v MaxUserPort /t REG_SZ /d "20261101060000.000000+000 default" /f`,
			`reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v MaxUserPort /t REG_DWORD /d 5500 /f`,
			`reg add "HKLM\SOFTWARE\fleettune\PendingReboot" /v TcpTimedWaitDelay /t REG_SZ /d "20261101060000.000000+000 default" /f`,
			`reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f`,
		}, " && ")},
	} {
		t.Run(tc.gen, func(t *testing.T) {
			h := newWindowsHost(t, tc.release)
			checkWindowsFixture(t, "gather-"+tc.gen+"-default.txt", windowsGather(t, h))
			mustRun(t, h, winAdmin, tc.apply, 0)
			checkWindowsFixture(t, "gather-"+tc.gen+"-pending.txt", windowsGather(t, h))
			h.Reboot()
			h.BootTime = windowsFixtureBoot
			h.TimeWaitSockets = 1
			checkWindowsFixture(t, "gather-"+tc.gen+"-converged.txt", windowsGather(t, h))
		})
	}
}

func TestWindowsReleases(t *testing.T) {
	for _, tc := range []struct{ release, ver, sysname string }{
		{"5.2", "Microsoft Windows [Version 5.2.3790]", "Windows_NT"},
		{"5.2.3790", "Microsoft Windows [Version 5.2.3790]", "Windows_NT"},
		{"6.1", "Microsoft Windows [Version 6.1.7601]", "Windows_NT"},
		{"10.0", "Microsoft Windows [Version 10.0.17763.1234]", "Windows_NT"},
		{"10.0.17763", "Microsoft Windows [Version 10.0.17763.1234]", "Windows_NT"},
	} {
		h := newWindowsHost(t, tc.release)
		if out := h.Run(winAdmin, "ver"); out.Stdout != "\r\n"+tc.ver+"\r\n" {
			t.Errorf("%s: ver = %q", tc.release, out.Stdout)
		}
		if h.Uname.Sysname != tc.sysname || h.OS != "windows" {
			t.Errorf("%s: uname %+v, os %q", tc.release, h.Uname, h.OS)
		}
	}
	for _, bad := range []string{"11.0", "10.0.14393", "2019", ""} {
		if _, err := NewHost("w", "windows", bad); err == nil {
			t.Errorf("release %q accepted", bad)
		}
	}
	// 2008+ has an RPC listener inside the default dynamic range; 2003
	// has none there.
	if h := newWindowsHost(t, "10.0"); !containsInt(h.Listening, 49664) || !containsInt(h.Listening, 5985) {
		t.Errorf("2019 listeners %v", h.Listening)
	}
	if h := newWindowsHost(t, "5.2"); containsInt(h.Listening, 49664) || !containsInt(h.Listening, 3389) {
		t.Errorf("2003 listeners %v", h.Listening)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestWindowsCmdSubset(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	notRecognized := "'uname' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	for _, tc := range []struct {
		name, line     string
		stdout, stderr string
		code           int
	}{
		{"unknown command", "uname -srv", "", notRecognized, 1},
		{"echo is verbatim, trailing space and quotes included", `echo "a  b" c & echo d`, "\"a  b\" c \r\nd\r\n", "", 0},
		{"echo alone", "echo", "ECHO is on.\r\n", "", 0},
		{"& runs on after a failure", "uname & echo next", "next\r\n", "'uname' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 0},
		{"&& stops after a failure", "uname && echo no", "", "'uname' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1},
		{"|| runs after a failure", "uname 2>nul || echo fallback", "fallback\r\n", "", 0},
		{"|| skipped after success", "echo ok || echo no", "ok \r\n", "", 0},
		{"2>&1 folds stderr into stdout", "uname 2>&1", notRecognized, "", 1},
		{">nul drops stdout", "ver >nul", "", "", 0},
		{"quotes group words and are removed", `reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v "KeepAliveTime"`, "", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1},
		{"& inside quotes is not an operator", `echo "a & b"`, "\"a & b\"\r\n", "", 0},
		{"cmd /c runs a nested line", `cmd /c "echo x& echo y"`, "x\r\ny\r\n", "", 0},
		{"last status is the line's", "echo a & uname", "a \r\n", notRecognized, 1},
		{"a pipe feeds the next command", `echo LISTEN x| findstr /I /C:"listen"`, "LISTEN x\r\n", "", 0},
		{"findstr without a match exits 1", `echo abc| findstr /C:"x"`, "", "", 1},
		{"findstr /V keeps what matches none", `echo abc| findstr /I /V /C:"B" /C:"zz"`, "", "", 1},
		{"a pipe's status is its last command's", `uname | findstr /I /V /C:"x" || echo fell`, "fell\r\n", notRecognized, 0},
		{"2>&1 sends stderr into the pipe", `uname 2>&1 | findstr /C:"recognized"`, "'uname' is not recognized as an internal or external command,\r\n", "", 0},
		{"find /C prints the count alone", `echo a TIME_WAIT b| find /C "TIME_WAIT"`, "1\r\n", "", 0},
		{"find /C of nothing is 0, status 1", `echo a| find /C "TIME_WAIT"`, "0\r\n", "", 1},
		{"| inside quotes is text", `echo "a | b"| find /C "|"`, "1\r\n", "", 0},
		{"find wants its string quoted", "ver | find /C 10", "", "FIND: Parameter format not correct\r\n", 2},
		{"a pipe into nothing", "ver | ", "", "The syntax of the command is incorrect.\r\n", 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := h.Run(winAdmin, tc.line)
			if out.Stdout != tc.stdout || out.Stderr != tc.stderr || out.Code != tc.code {
				t.Errorf("%q = %q, %q, %d; want %q, %q, %d", tc.line, out.Stdout, out.Stderr, out.Code, tc.stdout, tc.stderr, tc.code)
			}
		})
	}
	// Outside the subset: loud failures, never a silent success.
	for _, line := range []string{"ver | find \"10\"", "netstat -ano | findstr LISTENING", `netstat -ano | findstr /C:"TIME_WAIT" /C:"ESTABLISHED"`, `findstr /I /C:"x"`, "echo %PATH%", "ver > out.txt", "(ver)", "echo a ^& b", "echo \"open", "ver &", "netstat -an", "wmic os get caption", "reg query HKCU\\Software"} {
		out := h.Run(winAdmin, line)
		if out.Code == 0 || !strings.Contains(out.Stderr, "lab:") && !strings.Contains(out.Stderr, "ERROR") {
			t.Errorf("%q = %q, %q, %d; want a loud failure", line, out.Stdout, out.Stderr, out.Code)
		}
	}
	// Command faults are honoured.
	h.Faults.FailCommand = "netstat"
	if out := h.Run(winAdmin, "echo a & netstat -ano"); out.Code != 1 || !strings.Contains(out.Stderr, "lab: injected failure") {
		t.Errorf("FailCommand: %+v", out)
	}
}

// netsh changes the active and persistent stores at once; the registry
// values change only what the next boot reads.
func TestWindowsLiveRegistryAndReboot(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	e := h.Emu.(*windows)
	if tw := e.TimeWait(); tw != 240*time.Second {
		t.Fatalf("default TIME_WAIT on 2019 = %s, want 240s", tw)
	}
	mustRun(t, h, winAdmin, `reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /t REG_DWORD /d 0x1e /f`, 0)
	if tw := e.TimeWait(); tw != 240*time.Second {
		t.Errorf("TIME_WAIT changed before a reboot: %s", tw)
	}
	out := mustRun(t, h, winAdmin, `reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay`, 0)
	if !strings.Contains(out.Stdout, "    TcpTimedWaitDelay    REG_DWORD    0x1e\r\n") {
		t.Errorf("reg query after add: %q", out.Stdout)
	}
	mustRun(t, h, winAdmin, "netsh int ipv4 set dynamicport tcp start=20000 num=10000", 0)
	out = mustRun(t, h, winAdmin, "netsh int ipv4 show dynamicport tcp", 0)
	if !strings.Contains(out.Stdout, "Start Port      : 20000\r\nNumber of Ports : 10000\r\n") {
		t.Errorf("netsh set is not in force at once: %q", out.Stdout)
	}
	// store=active lasts until the reboot.
	mustRun(t, h, winAdmin, "netsh int ipv6 set dynamicport tcp start=30000 num=1000 store=active", 0)
	boot := mustRun(t, h, winAdmin, "wmic os get lastbootuptime", 0).Stdout

	h.Reboot()
	if tw := e.TimeWait(); tw != 30*time.Second {
		t.Errorf("TIME_WAIT after the reboot = %s, want 30s", tw)
	}
	if again := mustRun(t, h, winAdmin, "wmic os get lastbootuptime", 0).Stdout; again == boot {
		t.Errorf("the boot time did not change: %q", again)
	}
	if out := mustRun(t, h, winAdmin, "netsh int ipv4 show dynamicport tcp", 0); !strings.Contains(out.Stdout, "Start Port      : 20000") {
		t.Errorf("netsh's persistent store was lost: %q", out.Stdout)
	}
	if out := mustRun(t, h, winAdmin, "netsh int ipv6 show dynamicport tcp", 0); !strings.Contains(out.Stdout, "Start Port      : 49152") {
		t.Errorf("store=active survived the reboot: %q", out.Stdout)
	}
	mustRun(t, h, winAdmin, `reg delete "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /f`, 0)
	if tw := e.TimeWait(); tw != 30*time.Second {
		t.Errorf("reg delete changed the value in force: %s", tw)
	}
	mustRun(t, h, winAdmin, `reg delete "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v TcpTimedWaitDelay /f`, 1)
	h.Reboot()
	if tw := e.TimeWait(); tw != 240*time.Second {
		t.Errorf("TIME_WAIT after deleting the value and a reboot = %s, want the default 240s", tw)
	}

	legacy := newWindowsHost(t, "5.2")
	if tw := legacy.Emu.TimeWait(); tw != 120*time.Second {
		t.Errorf("default TIME_WAIT on 2003 = %s, want 120s", tw)
	}
}

func TestWindowsRegistryKeys(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	pending := `"HKLM\SOFTWARE\fleettune\PendingReboot"`
	mustRun(t, h, winAdmin, "reg query "+pending, 1)
	mustRun(t, h, winAdmin, "reg add "+pending+` /v KeepAliveTime /t REG_SZ /d "20261101060000.000000+000 default" /f`, 0)
	mustRun(t, h, winAdmin, "reg add "+pending+` /v MaxUserPort /t REG_SZ /d "x y" /f`, 0)
	out := mustRun(t, h, winAdmin, "reg query "+pending, 0)
	want := "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\fleettune\\PendingReboot\r\n" +
		"    KeepAliveTime    REG_SZ    20261101060000.000000+000 default\r\n" +
		"    MaxUserPort    REG_SZ    x y\r\n\r\n"
	if out.Stdout != want {
		t.Errorf("reg query of the key = %q, want %q", out.Stdout, want)
	}
	// The parent lists the subkey; the registry survives a reboot.
	h.Reboot()
	out = mustRun(t, h, winAdmin, `reg query HKLM\SOFTWARE\fleettune`, 0)
	if !strings.HasSuffix(out.Stdout, "HKEY_LOCAL_MACHINE\\SOFTWARE\\fleettune\\PendingReboot\r\n") {
		t.Errorf("parent key listing: %q", out.Stdout)
	}
	// Overwriting needs /f; a bad DWORD is a syntax error.
	out = mustRun(t, h, winAdmin, "reg add "+pending+` /v MaxUserPort /d z`, 1)
	if !strings.Contains(out.Stdout, "overwrite(Yes/No)?") {
		t.Errorf("reg add without /f: %+v", out)
	}
	out = mustRun(t, h, winAdmin, `reg add HKLM\SOFTWARE\fleettune /v N /t REG_DWORD /d ten /f`, 1)
	if !strings.HasPrefix(out.Stderr, "ERROR: Invalid syntax.\r\n") {
		t.Errorf("bad DWORD: %+v", out)
	}
	// 2003's reg.exe prints its banner and tabs.
	legacy := newWindowsHost(t, "5.2")
	mustRun(t, legacy, winAdmin, `reg add "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v KeepAliveTime /t REG_DWORD /d 300000 /f`, 0)
	out = mustRun(t, legacy, winAdmin, `reg query "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" /v KeepAliveTime`, 0)
	if out.Stdout != "\r\n! REG.EXE VERSION 3.0\r\n\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n    KeepAliveTime\tREG_DWORD\t0x493e0\r\n\r\n" {
		t.Errorf("2003 reg query: %q", out.Stdout)
	}
}

func TestWindowsAccessDenied(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	tcpip := `"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"`
	for _, user := range []string{"ops", "WIN1\\ops", "root"} {
		out := mustRun(t, h, user, "reg add "+tcpip+" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f", 1)
		if out.Stderr != "ERROR: Access is denied.\r\n" {
			t.Errorf("%s: reg add = %+v", user, out)
		}
		out = mustRun(t, h, user, "netsh int ipv4 set dynamicport tcp start=20000 num=1000", 1)
		if !strings.Contains(out.Stdout, "requires elevation") {
			t.Errorf("%s: netsh set = %+v", user, out)
		}
		// Reading is allowed.
		mustRun(t, h, user, "netsh int ipv4 show dynamicport tcp", 0)
	}
	mustRun(t, h, winAdmin, "reg query "+tcpip+" /v TcpTimedWaitDelay", 1)
	// A domain-qualified administrator may write.
	mustRun(t, h, `WIN1\Administrator`, "reg add "+tcpip+" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f", 0)
	mustRun(t, h, `administrator@corp.example.com`, "reg add "+tcpip+" /v TcpTimedWaitDelay /t REG_DWORD /d 40 /f", 0)
}

func TestWindowsNetshValidation(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	for _, tc := range []struct {
		line string
		want string
	}{
		{"netsh int ipv4 set dynamicport tcp start=1024 num=1000", "The parameter is incorrect."},
		{"netsh int ipv4 set dynamicport tcp start=10000 num=254", "The parameter is incorrect."},
		{"netsh int ipv4 set dynamicport tcp start=65000 num=1000", "The parameter is incorrect."},
		{"netsh int ipv4 set dynamicport tcp start=10000", "The syntax supplied for this command is not valid."},
		{"netsh int ipv4 set dynamicport tcp start=x num=1000", "The syntax supplied for this command is not valid."},
		{"netsh int ipv5 show dynamicport tcp", "The following command was not found: int ipv5 show dynamicport tcp."},
	} {
		out := mustRun(t, h, winAdmin, tc.line, 1)
		if !strings.HasPrefix(out.Stdout, tc.want) {
			t.Errorf("%q = %q, want %q", tc.line, out.Stdout, tc.want)
		}
	}
	// The limits themselves are accepted: start 1025, 255 ports, end 65535.
	mustRun(t, h, winAdmin, "netsh int ipv4 set dynamicport tcp start=1025 num=255", 0)
	mustRun(t, h, winAdmin, "netsh interface ipv4 set dynamicportrange protocol=tcp startport=65281 numberofports=255", 0)
	out := mustRun(t, h, winAdmin, "netsh int ipv4 show dynamicport tcp", 0)
	if !strings.Contains(out.Stdout, "Start Port      : 65281\r\nNumber of Ports : 255\r\n") {
		t.Errorf("after startport=/numberofports=: %q", out.Stdout)
	}
	// udp is separate from tcp.
	out = mustRun(t, h, winAdmin, "netsh int ipv4 show dynamicport udp", 0)
	if !strings.Contains(out.Stdout, "Protocol udp Dynamic Port Range") || !strings.Contains(out.Stdout, "Start Port      : 49152") {
		t.Errorf("udp: %q", out.Stdout)
	}
}

// netstat -s -p tcp prints what the driver's fixture holds on a fresh host,
// moves on between reads, and shows failures only while the handshake
// fault does.
func TestWindowsNetstatStats(t *testing.T) {
	h := newWindowsHost(t, "10.0")
	first := mustRun(t, h, winAdmin, "netstat -s -p tcp", 0).Stdout
	checkWindowsFixture(t, "netstat-s-p-tcp.txt", first)
	second := mustRun(t, h, winAdmin, "netstat -s -p tcp", 0).Stdout
	if first == second || !strings.Contains(second, "Failed Connection Attempts          = 212\r\n") {
		t.Errorf("second read:\n%s", second)
	}
	h.Faults.HandshakeFailures = true
	h.BaselineTimeWait = 24 * time.Hour
	if got := mustRun(t, h, winAdmin, "netstat -s -p tcp", 0).Stdout; !strings.Contains(got, "Failed Connection Attempts          = 332\r\n") || !strings.Contains(got, "Reset Connections                   = 216\r\n") {
		t.Errorf("with the fault:\n%s", got)
	}
}

// The gather's two netstat pipes on a loaded host: findstr leaves every
// line of netstat -ano but the rows of a connection state other than
// LISTENING, and find /C counts the TIME_WAIT rows. The expected lines are
// worked out here from netstat's whole table by its fields.
func TestWindowsNetstatPipes(t *testing.T) {
	filter := `findstr /I /V /C:"TIME_WAIT" /C:"ESTABLISHED" /C:"CLOSE_WAIT" /C:"FIN_WAIT_1" /C:"FIN_WAIT_2" /C:"SYN_SENT" /C:"SYN_RECEIVED" /C:"LAST_ACK" /C:"CLOSING" /C:"CLOSED" /C:"DELETE_TCB" /C:"BOUND"`
	for _, p := range Profiles {
		h := loadedHost(t, "windows", "10.0", p)
		whole := mustRun(t, h, winAdmin, "netstat -ano", 0).Stdout
		var kept strings.Builder
		tw, listening := 0, 0
		for _, line := range strings.SplitAfter(whole, "\r\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 4 && f[0] == "TCP" && f[3] == "LISTENING":
				listening++
			case len(f) >= 4 && f[0] == "TCP":
				if f[3] == "TIME_WAIT" {
					tw++
				}
				continue
			}
			kept.WriteString(line)
		}
		got := mustRun(t, h, winAdmin, "netstat -ano 2>&1 | "+filter, 0).Stdout
		if got != kept.String() || listening == 0 {
			t.Errorf("%s: the filter printed\n%q\nwant\n%q", p, got, kept.String())
		}
		if p != ProfileIdle && len(got)*4 > len(whole) {
			t.Errorf("%s: the filter kept %d of %d bytes", p, len(got), len(whole))
		}
		c := h.Run(winAdmin, `netstat -ano | find /C "TIME_WAIT"`)
		if c.Stdout != strconv.Itoa(tw)+"\r\n" || (c.Code == 0) != (tw > 0) {
			t.Errorf("%s: find /C printed %q (status %d); the table has %d TIME_WAIT rows", p, c.Stdout, c.Code, tw)
		}
	}
}
