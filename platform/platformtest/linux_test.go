package platformtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/netnsfleet"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// linuxHost is a real Linux network-namespace host behind a real OpenSSH
// sshd, reached over SSH as fleettune reaches it.
func linuxHost(t *testing.T) *Host {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 1})
	inv, err := inventory.Load(f.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	h := inv.Host("node01")
	if h == nil {
		t.Fatal("no node01 in the fleet's inventory")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := remote.Dial(ctx, h, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	nh := f.Host("node01")
	return &Host{
		Root: sess,
		// An unprivileged user inside the host's namespace: the kernel
		// itself refuses the writes. The namespace hosts cannot reboot.
		User: nobody{nh},
		Files: func() map[string]string {
			res, err := sess.Run(context.Background(), "cat "+platform.LinuxPersistFile+" 2>/dev/null && echo '#present'")
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.Stdout)
			if !strings.HasSuffix(out, "#present\n") {
				return map[string]string{}
			}
			return map[string]string{platform.LinuxPersistFile: strings.TrimSuffix(out, "#present\n")}
		},
	}
}

// nobody runs commands in a namespace host as uid 65534, through setpriv.
type nobody struct{ h *netnsfleet.Host }

func (n nobody) Run(ctx context.Context, cmd string) (remote.Result, error) {
	out, err := n.h.Exec(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", cmd)
	if err != nil {
		// Exec's error carries the command's stderr.
		return remote.Result{Stdout: out, Stderr: []byte(err.Error()), ExitCode: 1}, nil
	}
	return remote.Result{Stdout: out}, nil
}

// The Linux driver against real namespace hosts over real SSH.
func TestLinuxConformance(t *testing.T) {
	s := &Suite{
		OS:         platform.Linux,
		NewHost:    linuxHost,
		Targets:    platform.Targets{EphemeralPorts: ports(20000, 60999), KeepaliveTime: dur(5 * time.Minute)},
		Refused:    platform.Targets{EphemeralPorts: ports(1, 65535)},
		Guardrails: platform.Guardrails{},
	}
	s.RunTests(t)
}
