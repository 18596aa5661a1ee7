// Package platform holds one driver per OS family: what to run on a host to
// read and change its TCP port settings, how to parse the answers, the units
// each OS uses, how changes are persisted and when a reboot is needed.
package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleettune/fleettune/internal/hostcmd"
)

// Runner runs one command on a host. A remote.Session is a Runner. The
// bytes of a Result it returns are the caller's: nothing writes to them
// after Run returns (drivers read them in place, outputText).
type Runner interface {
	Run(ctx context.Context, cmd string) (Result, error)
}

// Result is what one command produced; a non-zero ExitCode is not an
// error. It is the transports' result too (Result), without platform
// importing remote.
type Result = hostcmd.Result

// Setting names an abstract, OS-neutral setting of a playbook.
type Setting string

const (
	EphemeralPorts Setting = "ephemeral_ports"
	TimeWait       Setting = "time_wait"
	KeepaliveTime  Setting = "keepalive_time"
)

// Settings lists the abstract settings in the order plans show them.
var Settings = []Setting{EphemeralPorts, TimeWait, KeepaliveTime}

// OS families fleettune knows.
const (
	Linux   = "linux"
	Windows = "windows"
	Solaris = "solaris"
	HPUX    = "hpux"
	AIX     = "aix"
	Tru64   = "tru64"
)

// OSNames lists the OS families accepted in inventories and playbooks.
var OSNames = []string{Linux, Windows, Solaris, HPUX, AIX, Tru64}

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	Low, High int
}

// ParsePortRange parses "LOW-HIGH". Both ends must be ports (1-65535) and
// LOW must be below HIGH.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return PortRange{}, fmt.Errorf("port range %q: expected LOW-HIGH, e.g. 10240-65535", s)
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("port range %q: expected two integers LOW-HIGH", s)
	}
	r := PortRange{l, h}
	return r, r.Validate()
}

// Validate checks that both ends are ports and Low < High.
func (r PortRange) Validate() error {
	if r.Low < 1 || r.Low > 65535 || r.High < 1 || r.High > 65535 {
		return fmt.Errorf("port range %s: ports must be between 1 and 65535", r)
	}
	if r.Low >= r.High {
		return fmt.Errorf("port range %s: low end must be below high end", r)
	}
	return nil
}

// Size is the number of ports in the range.
func (r PortRange) Size() int { return r.High - r.Low + 1 }

// Contains reports whether port p is inside the range.
func (r PortRange) Contains(p int) bool { return p >= r.Low && p <= r.High }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Low, r.High) }

// Targets are the desired values for one host, after a playbook's overrides
// have been resolved. A nil field means "leave alone".
type Targets struct {
	EphemeralPorts *PortRange
	TimeWait       *time.Duration
	KeepaliveTime  *time.Duration
	// Native knobs by their OS name (e.g. net.ipv4.tcp_tw_reuse), already
	// validated for the host's OS.
	Native map[string]string
}

// Empty reports whether the targets ask for nothing.
func (t Targets) Empty() bool {
	return t.EphemeralPorts == nil && t.TimeWait == nil && t.KeepaliveTime == nil && len(t.Native) == 0
}

// targetsJSON is Targets in the operator's form, as plan files and the
// journal store them: {"ephemeral_ports":"10240-65535","time_wait":"30s"}.
type targetsJSON struct {
	EphemeralPorts string            `json:"ephemeral_ports,omitempty"`
	TimeWait       string            `json:"time_wait,omitempty"`
	KeepaliveTime  string            `json:"keepalive_time,omitempty"`
	Native         map[string]string `json:"native,omitempty"`
}

// MarshalJSON writes targets in the operator's form.
func (t Targets) MarshalJSON() ([]byte, error) {
	var j targetsJSON
	if t.EphemeralPorts != nil {
		j.EphemeralPorts = t.EphemeralPorts.String()
	}
	if t.TimeWait != nil {
		j.TimeWait = t.TimeWait.String()
	}
	if t.KeepaliveTime != nil {
		j.KeepaliveTime = t.KeepaliveTime.String()
	}
	j.Native = t.Native
	return json.Marshal(j)
}

// UnmarshalJSON reads the operator's form, validating every value.
func (t *Targets) UnmarshalJSON(b []byte) error {
	var j targetsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Targets{Native: j.Native}
	if j.EphemeralPorts != "" {
		r, err := ParsePortRange(j.EphemeralPorts)
		if err != nil {
			return fmt.Errorf("targets: ephemeral_ports: %w", err)
		}
		out.EphemeralPorts = &r
	}
	for _, p := range []struct {
		name, s string
		dst     **time.Duration
	}{{"time_wait", j.TimeWait, &out.TimeWait}, {"keepalive_time", j.KeepaliveTime, &out.KeepaliveTime}} {
		if p.s == "" {
			continue
		}
		d, err := time.ParseDuration(p.s)
		if err != nil || d <= 0 {
			return fmt.Errorf("targets: %s: %q is not a positive duration like 30s", p.name, p.s)
		}
		*p.dst = &d
	}
	*t = out
	return nil
}
