package platformtest

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/fleettune/fleettune/lab"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// labRunner runs commands on an emulated host in process, as user.
type labRunner struct {
	h    *lab.Host
	user string
}

func (r labRunner) Run(ctx context.Context, cmd string) (remote.Result, error) {
	if err := ctx.Err(); err != nil {
		return remote.Result{}, err
	}
	out := r.h.Run(r.user, cmd)
	return remote.Result{Stdout: []byte(out.Stdout), Stderr: []byte(out.Stderr), ExitCode: out.Code}, nil
}

func labHost(os, release string, setup func(*lab.Host) error) func(t *testing.T) *Host {
	return func(t *testing.T) *Host {
		h, err := lab.NewHost("conformance", os, release)
		if err != nil {
			t.Fatal(err)
		}
		if setup != nil {
			if err := setup(h); err != nil {
				t.Fatal(err)
			}
		}
		root := "root"
		if os == platform.Windows {
			root = lab.WindowsAdmin
		}
		return &Host{
			Root:   labRunner{h, root},
			User:   labRunner{h, lab.NonRootUser},
			Reboot: func() error { h.Reboot(); return nil },
			Files: func() map[string]string {
				h.Lock()
				defer h.Unlock()
				return maps.Clone(h.Files)
			},
			// The lab's handshake fault shows while TIME_WAIT is below
			// the baseline: raising the baseline puts the host there.
			TimeWaitTooShort: func() {
				h.Lock()
				defer h.Unlock()
				h.Faults.HandshakeFailures = true
				h.BaselineTimeWait = 24 * time.Hour
			},
		}
	}
}

func ports(lo, hi int) *platform.PortRange { return &platform.PortRange{Low: lo, High: hi} }
func dur(d time.Duration) *time.Duration   { return &d }

// Every driver against every release the lab emulates.
func TestLabConformance(t *testing.T) {
	unix := platform.Targets{EphemeralPorts: ports(20000, 60999), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute)}
	refused := platform.Targets{EphemeralPorts: ports(1, 65535)}
	g := platform.Guardrails{}
	// AIX in the pre-5.2 compatibility mode persists through /etc/rc.net.
	compat := func(h *lab.Host) error { return lab.AIXCompatibilityMode(h, true) }
	for _, c := range []struct {
		os, release string
		targets     platform.Targets
		setup       func(*lab.Host) error
		name        string
	}{
		{platform.Solaris, "5.10", unix, nil, ""},
		{platform.Solaris, "5.11", unix, nil, ""},
		{platform.HPUX, "B.11.31", unix, nil, ""},
		{platform.HPUX, "B.11.23", unix, nil, ""},
		{platform.HPUX, "B.11.11", unix, nil, ""},
		{platform.AIX, "7.3", unix, nil, ""},
		{platform.AIX, "7.2", unix, nil, ""},
		{platform.AIX, "6.1", unix, nil, ""},
		{platform.AIX, "7.2", unix, compat, "-compat"},
		{platform.Tru64, "V5.1B", unix, nil, ""},
		{platform.Tru64, "V5.1", unix, nil, ""},
		{platform.Tru64, "V4.0F", unix, nil, ""},
		{platform.Windows, "10.0", platform.Targets{EphemeralPorts: ports(20000, 44999), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute)}, nil, ""},
		{platform.Windows, "6.1", platform.Targets{EphemeralPorts: ports(20000, 44999), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute)}, nil, ""},
		{platform.Windows, "5.2", platform.Targets{EphemeralPorts: ports(1025, 5500), TimeWait: dur(30 * time.Second), KeepaliveTime: dur(5 * time.Minute)}, nil, ""},
	} {
		t.Run(c.os+"-"+c.release+c.name, func(t *testing.T) {
			s := &Suite{OS: c.os, NewHost: labHost(c.os, c.release, c.setup), Targets: c.targets, Refused: refused, Guardrails: g}
			if c.os == platform.Windows && c.release == "5.2" {
				s.Absent = []string{"Tcpip.Event4227", "Tcpip.Event4231"} // no wevtutil before 2008
			}
			s.RunTests(t)
		})
	}
}
