package playbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// platformFacts parses one of the drivers' fixtures (real captures, see
// platform/testdata/*/README.md) with the driver's own parser.
func platformFacts(t *testing.T, osName, fixture string) *platform.Facts {
	t.Helper()
	dir := map[string]string{platform.HPUX: "hpux"}[osName]
	if dir == "" {
		dir = osName
	}
	b, err := os.ReadFile(filepath.Join("..", "platform", "testdata", dir, fixture))
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	var f *platform.Facts
	switch osName {
	case platform.Linux:
		f, err = platform.ParseLinuxFacts(out, []string{"net.ipv4.ip_local_port_range", "net.ipv4.tcp_keepalive_time",
			"net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports"})
	case platform.Solaris:
		f, err = platform.ParseSolarisFacts(out)
	case platform.HPUX:
		f, err = platform.ParseHPUXFacts(out)
	case platform.AIX:
		f, err = platform.ParseAIXFacts(out)
	case platform.Tru64:
		f, err = platform.ParseTru64Facts(out)
	case platform.Windows:
		f, err = platform.ParseWindowsFacts(out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", osName, fixture, err)
	}
	return f
}

// TestListeningPortGuardrailPerOS holds "policy once": the planner refuses a
// range over a listening port on every OS, from the facts the driver
// reported (the drivers themselves no longer decide it: platform
// TestDriversReportListenersAndDoNotDecide), counts no port the OS reported
// exempt, leaves a refused proposal without steps, and refuses nothing
// with protect_listening_ports off.
func TestListeningPortGuardrailPerOS(t *testing.T) {
	tests := []struct {
		os, fixture string
		target      platform.PortRange
		refused     string // the whole refusal
		note        string // a planner note that must appear, if any
	}{
		{platform.Linux, "gather-listeners.txt", platform.PortRange{Low: 10240, High: 65535},
			// 22 is outside; 30080 is in ip_local_reserved_ports
			"range 10240-65535 covers listening port(s) 15000; move the range or reserve them in net.ipv4.ip_local_reserved_ports", ""},
		{platform.Solaris, "gather-5.10-default.txt", platform.PortRange{Low: 2000, High: 65535},
			"range 2000-65535 covers listening port(s) 2049, 4045; move the range or the services", ""},
		{platform.HPUX, "gather-drift.txt", platform.PortRange{Low: 8000, High: 60000},
			"range 8000-60000 covers listening port(s) 8443, 50000; move the range or the services", ""},
		{platform.AIX, "gather-default.txt", platform.PortRange{Low: 1024, High: 65535},
			"range 1024-65535 covers listening port(s) 1334; move the range or the services", ""},
		{platform.Tru64, "gather-default-V5.1B.txt", platform.PortRange{Low: 5000, High: 65535},
			"range 5000-65535 covers listening port(s) 6112; move the range or the services", ""},
		{platform.Windows, "gather-2019-default.txt", platform.PortRange{Low: 5000, High: 20000},
			"range 5000-20000 covers listening port(s) 5985, 5986; move the range or the services", ""},
		// 2003: 3389 is inside the fixed-low-end range already; only the
		// listeners the change newly brings in count.
		{platform.Windows, "gather-2003-default.txt", platform.PortRange{Low: 1025, High: 10000},
			"range 1025-10000 covers listening port(s) 5985, 5986; move the range or the services", ""},
		{platform.Windows, "gather-2003-default.txt", platform.PortRange{Low: 1025, High: 5500}, "",
			"ephemeral_ports 1025-5500: listening port(s) 3389 are inside the current range 1025-5000 already; the OS does not hand them out"},
	}
	for _, tt := range tests {
		t.Run(tt.os+"/"+tt.fixture+"/"+tt.target.String(), func(t *testing.T) {
			d, err := platform.For(tt.os)
			if err != nil {
				t.Fatal(err)
			}
			r := tt.target
			targets := platform.Targets{EphemeralPorts: &r}
			p, err := propose(d, platformFacts(t, tt.os, tt.fixture), targets, Guardrails{ProtectListeningPorts: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Changes) != 1 {
				t.Fatalf("changes %+v", p.Changes)
			}
			c := p.Changes[0]
			if c.Refused != tt.refused {
				t.Errorf("refused %q\nwant    %q", c.Refused, tt.refused)
			}
			if tt.refused != "" && (c.Action != platform.ActionRefused || len(p.Steps) != 0) {
				t.Errorf("refused yet action %s and steps %q", c.Action, p.Steps)
			}
			if tt.note != "" && !strings.Contains(strings.Join(p.Notes, "\n"), tt.note) {
				t.Errorf("notes %q lack %q", p.Notes, tt.note)
			}

			off, err := propose(d, platformFacts(t, tt.os, tt.fixture), targets, Guardrails{})
			if err != nil {
				t.Fatal(err)
			}
			if c := off.Changes[0]; c.Refused != "" || len(off.Steps) == 0 {
				t.Errorf("protect_listening_ports off: refused %q, steps %q", c.Refused, off.Steps)
			}
		})
	}
}
