package platform

import (
	"reflect"
	"strings"
	"testing"
)

// listenerCase is a fixture whose host listens inside a target range: the
// driver must report the listeners (and the ones its OS exempts) and leave
// the decision to the planner.
type listenerCase struct {
	os, fixture string
	facts       func(t *testing.T) *Facts
	target      PortRange
	listening   []int // must be among Facts.Listening
	exempt      []ExemptPorts
}

// listenerCases name the fixtures the planner's test of the same rule
// (playbooks TestListeningPortGuardrailPerOS) reads too.
func listenerCases() []listenerCase {
	linux := func(t *testing.T) *Facts {
		t.Helper()
		f, err := ParseLinuxFacts(readLinuxFixture(t, "gather-listeners.txt"), linuxKnobList())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	return []listenerCase{
		{os: Linux, fixture: "gather-listeners.txt", facts: linux, target: PortRange{10240, 65535},
			listening: []int{15000, 30080}, exempt: []ExemptPorts{{Reason: ExemptReserved, Ports: []int{30080}}}},
		{os: Solaris, fixture: "gather-5.10-default.txt", facts: func(t *testing.T) *Facts { return solarisFacts(t, "gather-5.10-default.txt") },
			target: PortRange{2000, 65535}, listening: []int{2049, 4045}},
		{os: HPUX, fixture: "gather-drift.txt", facts: func(t *testing.T) *Facts { return hpuxFacts(t, "gather-drift.txt") },
			target: PortRange{8000, 60000}, listening: []int{8443, 50000}},
		{os: AIX, fixture: "gather-default.txt", facts: func(t *testing.T) *Facts { return parseAIXFixture(t, "gather-default.txt") },
			target: PortRange{1024, 65535}, listening: []int{1334}},
		{os: Tru64, fixture: "gather-default-V5.1B.txt", facts: func(t *testing.T) *Facts { return tru64Facts(t, "gather-default-V5.1B.txt") },
			target: PortRange{5000, 65535}, listening: []int{6112}},
		{os: Windows, fixture: "gather-2019-default.txt", facts: func(t *testing.T) *Facts { return windowsFacts(t, "gather-2019-default.txt") },
			target: PortRange{5000, 65535}, listening: []int{5985, 5986, 49664}},
		{os: Windows, fixture: "gather-2003-default.txt", facts: func(t *testing.T) *Facts { return windowsFacts(t, "gather-2003-default.txt") },
			target: PortRange{1025, 10000}, listening: []int{3389, 5985, 5986},
			exempt: []ExemptPorts{{Reason: ExemptInRange, Ports: []int{3389}, Within: &PortRange{1025, 5000}}}},
	}
}

// TestDriversReportListenersAndDoNotDecide holds "policy once": every
// driver reports the listening ports and its OS's exemptions as facts, and
// proposes a range over listeners without refusing it; the refusal is the
// planner's (playbooks TestListeningPortGuardrailPerOS).
func TestDriversReportListenersAndDoNotDecide(t *testing.T) {
	for _, tc := range listenerCases() {
		t.Run(tc.os+"/"+tc.fixture, func(t *testing.T) {
			f := tc.facts(t)
			have := map[int]bool{}
			for _, p := range f.Listening {
				have[p] = true
			}
			for _, p := range tc.listening {
				if !have[p] {
					t.Errorf("listening %v lacks %d", f.Listening, p)
				}
			}
			if !reflect.DeepEqual(f.Exempt, tc.exempt) {
				t.Errorf("exempt %+v, want %+v", f.Exempt, tc.exempt)
			}
			d, err := For(tc.os)
			if err != nil {
				t.Fatal(err)
			}
			r := tc.target
			p, err := Propose(d, f, Targets{EphemeralPorts: &r}, Guardrails{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Changes) != 1 {
				t.Fatalf("changes %+v", p.Changes)
			}
			c := p.Changes[0]
			if c.Refused != "" || c.Action == ActionRefused {
				t.Errorf("the driver decided the listening-port guardrail: refused %q", c.Refused)
			}
			if len(p.Steps) == 0 {
				t.Errorf("no steps for an unrefused range change: %+v", p)
			}
			for _, n := range p.Notes {
				if strings.Contains(n, "listening") {
					t.Errorf("the driver wrote a listener note: %q", n)
				}
			}
		})
	}
}
