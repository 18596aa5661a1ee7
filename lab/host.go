// Package lab simulates a fleet of hosts of all six families fleettune
// drives (Linux, Windows, Solaris, HP-UX, AIX, Tru64) behind real SSH and
// WinRM servers on loopback. Each host is an emulated OS with its own state:
// live tunables, persisted configuration files, boot time, listening ports
// and a load profile that gives it a socket table. Commands answer in the
// real OS's formats, fail the way the real ones fail, and honour the real
// persistence and reboot semantics: a simulated reboot keeps only what was
// persisted and changes the boot time.
//
// The pieces:
//
//	host.go      Host, Emulator, Call, Output, Faults: the state model every OS shares
//	shell.go     the subset of POSIX sh the Unix and Linux drivers' commands use (awk.go: its awk)
//	server.go    the SSH server (x/crypto/ssh)
//	winrm.go     the WinRM server (WS-Management over HTTPS, NTLM or Basic)
//	fleet.go     Start, the fleet's files (client key, known_hosts, inventory, lab.env), faults on demand
//	scale.go     one listener for every host (told apart by loopback address), faults by rate, stats
//	mix.go       fleets in a mix of families and load profiles
//	sockets.go   load profiles and the socket tables they give, computed on read
//	<os>.go      one emulator per OS family
//
// README.md says where each command's output format comes from.
package lab

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Output is what a command printed and its exit status.
type Output struct {
	Stdout, Stderr string
	Code           int
}

// Call is one command as the lab's shell runs it on a host: argv after
// quote removal, the login user, and stdin (redirected input; usually "").
type Call struct {
	Host  *Host
	User  string
	Argv  []string
	Stdin string
}

// Root reports whether the call runs with root's rights.
func (c *Call) Root() bool { return c.User == "root" }

// Shell is implemented by an emulator whose OS has its own command
// interpreter (Windows: cmd.exe); Host.Run then hands it the whole command
// line instead of running the POSIX subset of shell.go. Called locked.
type Shell interface {
	Shell(h *Host, user, line string) Output
}

// Emulator is one OS's behaviour on one host. It keeps that OS's live state
// (e.g. ndd values) itself; files, boot time and sockets live in Host.
//
// Command answers argv as the real OS would, or returns handled=false to
// leave it to the shell's common built-ins (echo, printf, cat, mv, rm, true,
// false, uname, hostname, id). It is called with the host locked, so it may
// read and change Host fields freely.
type Emulator interface {
	Command(c *Call) (out Output, handled bool)
	// Boot sets the live state from what the persisted configuration (in
	// Host.Files) gives at boot. It is called when the host is created and
	// at every simulated reboot, with the host locked.
	Boot(h *Host)
	// TimeWait is the live TIME_WAIT interval, for the handshake-failure
	// fault (failures appear once it is lowered below BaselineTimeWait).
	TimeWait() time.Duration
}

// Uname is what uname -s, -n, -r, -v and -m print.
type Uname struct {
	Sysname, Nodename, Release, Version, Machine string
}

// Host is one simulated host.
type Host struct {
	Name  string
	OS    string // platform family: solaris, hpux, aix, tru64
	Uname Uname

	mu sync.Mutex
	// Files is the host's file system: path → content. It survives
	// reboots; only what is written here is persisted.
	Files map[string]string
	// Links are symbolic links, path → target, and Dirs the directories
	// made with mkdir (the lab's shell, shell.go): a link planted under
	// /tmp is followed as a real shell follows it.
	Links map[string]string
	Dirs  map[string]bool
	// BootTime changes at every simulated reboot.
	BootTime time.Time
	// Boots counts boots, 1 after creation.
	Boots int
	// Listening are the TCP ports services listen on.
	Listening []int
	// TimeWaitSockets is how many sockets netstat shows in TIME_WAIT.
	TimeWaitSockets int
	// BaselineTimeWait is the TIME_WAIT interval at creation, for the
	// handshake-failure fault.
	BaselineTimeWait time.Duration
	Emu              Emulator
	// Faults are switched on by tests and the demo; guarded by the lock.
	Faults Faults
	// Commands counts the commands run, for Faults.RebootAfter.
	Commands int
	// Load is what the host's applications do with TCP: its socket table
	// is computed from it on every read (sockets.go).
	Load Load
}

// Faults are misbehaviours switched on per host, for tests and the demo.
// The SSH server (server.go) honours the connection faults; the shell
// (shell.go) honours the command faults.
type Faults struct {
	Refuse      bool          // refuse TCP connections (the listener closes them at once)
	Reset       bool          // accept TCP, then reset it before the SSH handshake
	Delay       time.Duration // wait this long before answering each command
	RejectAuth  bool          // every authentication attempt fails
	FailCommand string        // a command line containing this exits 1 with "lab: injected failure"
	// RebootAfter reboots the host after this many more commands have run
	// (0: never): a host that reboots in the middle of a run.
	RebootAfter int
	// HandshakeFailures makes the handshake probe
	// (/usr/local/bin/check-app-handshakes) fail once the live TIME_WAIT
	// interval is below BaselineTimeWait: stray segments reaching new
	// connections.
	HandshakeFailures bool
	// DelayOnly, when set, limits Delay to the command lines that contain
	// it: a host with one slow command.
	DelayOnly string
	// EagerReceive answers a WinRM Receive at once, the command still
	// running and no output, instead of waiting for output or the
	// OperationTimeout as Windows does: a broken host or proxy.
	EagerReceive bool
	// WholeReceive answers a WinRM Receive with the command's whole output
	// in one message, however large, instead of in pieces the client's
	// MaxEnvelopeSize holds as Windows does: a broken host or proxy.
	WholeReceive bool
}

// delayFor is how long the command line cmd waits before it runs.
func (f Faults) delayFor(cmd string) time.Duration {
	if f.DelayOnly != "" && !strings.Contains(cmd, f.DelayOnly) {
		return 0
	}
	return f.Delay
}

// Lock and Unlock guard the host's state; Call handlers run locked.
func (h *Host) Lock()   { h.mu.Lock() }
func (h *Host) Unlock() { h.mu.Unlock() }

// Reboot simulates a reboot: the live state is rebuilt from the persisted
// files and the boot time moves on.
func (h *Host) Reboot() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rebootLocked()
}

func (h *Host) rebootLocked() {
	// Three hours and more on: an hour would read on Windows like a clock
	// set an hour on, which is the same boot (platform's windowsSameBoot).
	next := h.BootTime.Add(3*time.Hour + time.Duration(h.Boots)*time.Minute)
	if now := time.Now().Truncate(time.Minute); next.Before(now) {
		next = now
	}
	h.BootTime = next
	h.Boots++
	h.TimeWaitSockets = 0
	h.Emu.Boot(h)
}

// NewHost makes a booted host of an OS family ("linux", "solaris", "hpux",
// "aix", "tru64", "windows") and release as uname -r prints it ("5.10",
// "5.11", "B.11.31", "7.2" for AIX 7.2, "V5.1"; Linux takes "6.1", "5.10"
// or "4.19" for Debian 12, 11 and 10). The emulator sets the host's uname, its
// files as the OS installs them, and its listening ports.
func NewHost(name, os, release string) (*Host, error) {
	h := &Host{Name: name, OS: os, Files: map[string]string{},
		BootTime: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), Boots: 1}
	var err error
	switch os {
	case "linux":
		err = newLinux(h, release)
	case "solaris":
		err = newSolaris(h, release)
	case "hpux":
		err = newHPUX(h, release)
	case "aix":
		err = newAIX(h, release)
	case "tru64":
		err = newTru64(h, release)
	case "windows":
		err = newWindows(h, release)
	default:
		err = fmt.Errorf("lab: no emulator for OS %q (want linux, solaris, hpux, aix, tru64 or windows)", os)
	}
	if err != nil {
		return nil, err
	}
	if h.Uname.Nodename == "" {
		h.Uname.Nodename = name
	}
	h.Emu.Boot(h)
	h.BaselineTimeWait = h.Emu.TimeWait()
	return h, nil
}
