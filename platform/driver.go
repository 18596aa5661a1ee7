package platform

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Facts are what a driver read from a host in one remote command: the live
// and persisted value of every knob it manages, plus what the guardrails and
// reboot tracking need.
type Facts struct {
	OS        string          `json:"os"`      // family, one of OSNames
	Version   string          `json:"version"` // kernel or OS release, e.g. "6.1.0-18-amd64"
	BootID    string          `json:"boot_id"` // changes on every boot; "" when the OS has none
	Knobs     map[string]Knob `json:"knobs"`
	Listening []int           `json:"listening"` // TCP ports services listen on, sorted, unique
	// Exempt are listening ports the OS itself keeps out of ephemeral use,
	// with why: the planner's listening-port guardrail does not count them.
	// The driver reports them; it does not decide the guardrail.
	Exempt   []ExemptPorts `json:"exempt,omitempty"`
	TimeWait int           `json:"time_wait"` // TIME_WAIT sockets at the time of reading; -1 if unknown
	// Persisted is the content of the configuration fleettune owns on the
	// host (e.g. /etc/sysctl.d/90-fleettune.conf); "" with PersistedExists
	// false when there is none.
	Persisted       string `json:"persisted"`
	PersistedExists bool   `json:"persisted_exists"`
	// Files are the other persisted state a driver reads when one file is
	// not the whole story, by path (or by a name that is not a path, such
	// as an SMF service whose value is its state); a missing key means it
	// does not exist. Solaris 10: the SMF manifest and service, and the old
	// rc script fleettune migrates.
	Files map[string]string `json:"files,omitempty"`
}

// ExemptPorts are listening ports the OS never hands out as ephemeral
// ports, for one reason.
type ExemptPorts struct {
	Reason Exemption `json:"reason"`
	Ports  []int     `json:"ports"` // sorted, unique, a subset of Facts.Listening
	// Within is the range they are inside already, for ExemptInRange.
	Within *PortRange `json:"within,omitempty"`
}

// Exemption is why a listening port does not count against a range.
type Exemption string

const (
	// ExemptReserved: the port is reserved from ephemeral use (Linux
	// net.ipv4.ip_local_reserved_ports), whatever the range.
	ExemptReserved Exemption = "reserved"
	// ExemptInRange: the port is inside the current range already and the
	// OS does not hand out a port a listener holds (Windows Server 2003,
	// whose low end is fixed at 1025 and so always holds RDP's 3389).
	// Only listeners a change newly brings into the range count.
	ExemptInRange Exemption = "in-range"
)

// Detach copies every string f holds, so that f no longer keeps alive the
// whole command output its parser sliced them from. A plan keeps the facts
// of every host until it is written: without this, a 1,000-host plan held
// each host's entire gather output (about 230 MB in all).
func (f *Facts) Detach() {
	f.OS, f.Version, f.BootID = strings.Clone(f.OS), strings.Clone(f.Version), strings.Clone(f.BootID)
	f.Persisted = strings.Clone(f.Persisted)
	if f.Files != nil {
		files := make(map[string]string, len(f.Files))
		for p, c := range f.Files {
			files[strings.Clone(p)] = strings.Clone(c)
		}
		f.Files = files
	}
	knobs := make(map[string]Knob, len(f.Knobs))
	for name, k := range f.Knobs {
		k.Name, k.Live, k.AtBoot, k.Source = strings.Clone(k.Name), strings.Clone(k.Live), strings.Clone(k.AtBoot), strings.Clone(k.Source)
		knobs[strings.Clone(name)] = k
	}
	f.Knobs = knobs
}

// Knob is one OS knob's value, in the OS's own form.
type Knob struct {
	Name      string `json:"name"`
	Live      string `json:"live"`                  // the value in force now; "" when Missing
	Missing   bool   `json:"missing,omitempty"`     // the running system does not have this knob
	AtBoot    string `json:"at_boot,omitempty"`     // the value persisted configuration gives at next boot; "" if none sets it
	AtBootSet bool   `json:"at_boot_set,omitempty"` // some persisted configuration sets the knob
	Source    string `json:"source,omitempty"`      // where AtBoot comes from, e.g. "/etc/sysctl.d/99-local.conf:3"
}

// Change is one setting that differs from its target on a host, with what
// fleettune would run to fix it.
type Change struct {
	Setting        string   `json:"setting"` // ephemeral_ports, time_wait, keepalive_time, or "native"
	Knob           string   `json:"knob"`
	Current        string   `json:"current"`           // live value, operator form
	AtBoot         string   `json:"at_boot,omitempty"` // persisted value when it differs from live (drift)
	Target         string   `json:"target"`
	Commands       []string `json:"commands"`          // runtime commands, in order
	Persist        string   `json:"persist,omitempty"` // the persistent configuration edit
	RebootRequired bool     `json:"reboot_required"`
	RebootReason   string   `json:"reboot_reason,omitempty"`
	Refused        string   `json:"refused,omitempty"` // a guardrail refused this change; nothing will run
	// Action is what apply does about the change (set by Propose).
	Action Action `json:"action"`
	// Before is the live value, typed, where the driver reads it as one
	// (ranges on every OS; durations on Linux, Solaris, HP-UX and AIX).
	Before *Value `json:"before,omitempty"`
	// After is the target, typed (set by Propose from the targets).
	After *Value `json:"after,omitempty"`
}

// Pending reports whether c is already done as far as fleettune can do it:
// the target is persisted, and only a reboot brings it into force. Nothing
// would run and nothing would be written, so a plan does not count it as a
// change; the host is reported as awaiting a reboot instead.
func (c Change) Pending() bool {
	return c.RebootRequired && c.Refused == "" && len(c.Commands) == 0 && c.Persist == ""
}

// Proposal is a driver's answer for one host: the changes and the notes an
// operator should read.
type Proposal struct {
	Changes []Change
	Notes   []string
	// Steps are the exact commands apply runs, in order: the runtime
	// commands and the persistent edit. Set by Propose, once; empty when
	// nothing is to run or something was refused.
	Steps []string
}

// Driver knows one OS family, in full: reading, proposing, applying,
// restoring and health. Every driver implements every method; what an OS
// cannot do is declared by Capabilities and answered by an embedded
// "not supported" type (NoCounters) with an error wrapping ErrNotSupported,
// so callers never type-assert to find out what a driver can do.
type Driver interface {
	// OS is the family name, one of OSNames.
	OS() string
	// Capabilities says what the driver can do on its OS.
	Capabilities() Capabilities
	// Gather reads every managed knob, its persisted value and the facts the
	// guardrails need, in one remote command. native lists the native knobs
	// the playbook will ask about for this host.
	Gather(ctx context.Context, r Runner, native []string) (*Facts, error)
	// Propose compares facts with targets and proposes changes. It never
	// touches the host.
	Propose(f *Facts, t Targets, g Guardrails) Proposal
	Applier
	HealthReader
}

// Capabilities are what a driver can do on its OS.
type Capabilities struct {
	// Counters: Counters reads kernel TCP counters for the health check.
	// Without them a host is health-checked only by the playbook's probe,
	// or is "not checked".
	Counters bool `json:"counters"`
	// ReservedPortsKnob names the knob that reserves ports from ephemeral
	// use ("" when the OS has none), for the planner's advice when a range
	// covers a listener.
	ReservedPortsKnob string `json:"reserved_ports_knob,omitempty"`
}

// ErrNotSupported is wrapped by every error a driver returns for what its
// Capabilities say it cannot do.
var ErrNotSupported = errors.New("not supported")

// NoCounters is embedded by drivers whose OS has no counter reader (yet):
// Counters fails with ErrNotSupported and there are no thresholds.
type NoCounters struct{ OSName string }

// Counters always fails: the OS has no counter reader.
func (n NoCounters) Counters(context.Context, Runner) (Counters, error) {
	return nil, fmt.Errorf("reading TCP counters on %s: %w", n.OSName, ErrNotSupported)
}

// Thresholds is empty: there are no counters to compare.
func (NoCounters) Thresholds() map[string]int64 { return nil }

// Guardrails are the playbook's safety limits a driver must know of. There
// are none today: the OS-neutral guardrails (listening ports inside a range,
// minimum TIME_WAIT) are policy, applied once by the planner (playbooks)
// from the facts drivers report; drivers apply only their OS's limits.
type Guardrails struct{}

// registry holds one constructor per OS family. It is fixed at compile
// time: no package-level state changes after start.
var registry = map[string]func() Driver{
	Linux:   func() Driver { return linuxDriver{} },
	Solaris: func() Driver { return solarisDriver{} },
	HPUX:    func() Driver { return hpuxDriver{} },
	AIX:     func() Driver { return aixDriver{} },
	Tru64:   func() Driver { return tru64Driver{} },
	Windows: func() Driver { return windowsDriver{} },
}

// SameBoot reports whether two boot ids read from a host of family os name
// the same boot. On most OSes a boot id is fixed for the whole boot and this
// is equality; Windows' LastBootUpTime moves by a second between reads and
// with daylight saving, so there the two are compared in UTC with a
// tolerance.
func SameBoot(os, a, b string) bool {
	if os == Windows {
		return windowsSameBoot(a, b)
	}
	return a == b
}

// For returns the driver for an OS family.
func For(os string) (Driver, error) {
	if f, ok := registry[os]; ok {
		return f(), nil
	}
	return nil, fmt.Errorf("unknown OS %q (expected one of %s)", os, strings.Join(OSNames, ", "))
}

// exemptListeners returns the listening ports for which keep is true, as
// one exemption; nil when there are none.
func exemptListeners(listening []int, reason Exemption, within *PortRange, keep func(int) bool) []ExemptPorts {
	var in []int
	for _, p := range listening {
		if keep(p) {
			in = append(in, p)
		}
	}
	if len(in) == 0 {
		return nil
	}
	return []ExemptPorts{{Reason: reason, Ports: in, Within: within}}
}

func uniqueSorted(ports []int) []int {
	sort.Ints(ports)
	out := ports[:0]
	for i, p := range ports {
		if i == 0 || p != ports[i-1] {
			out = append(out, p)
		}
	}
	return out
}
