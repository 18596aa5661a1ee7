package platform

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTypedBefore holds that the live value of a change is typed where the
// contract work left it a string: Tru64's TIME_WAIT (tcp_msl seconds) and
// keepalive (tcp_keepidle half-seconds), and Linux native knobs. The
// values are read off the fixtures by hand.
func TestTypedBefore(t *testing.T) {
	sec := func(d time.Duration) Value { return Value{Duration: &d} }
	native := func(s string) Value { return Value{Native: &s} }

	tru := tru64Facts(t, "gather-default-V5.1B.txt")
	tp := tru64Driver{}.Propose(tru, tru64Targets(), Guardrails{})

	out, err := os.ReadFile(filepath.Join("testdata", "linux", "gather-native.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lin, err := ParseLinuxFacts(string(out), linuxKnobList(nativeFixtureKnobs...))
	if err != nil {
		t.Fatal(err)
	}
	lp := linuxDriver{}.Propose(lin, Targets{Native: map[string]string{
		"net.ipv4.tcp_max_tw_buckets": "262144", "net.ipv4.tcp_tw_reuse": "1",
	}}, Guardrails{})

	tests := []struct {
		name    string
		changes []Change
		setting string
		knob    string
		want    Value
	}{
		{"tru64 time_wait", tp.Changes, "time_wait", "tcp_msl", sec(time.Minute)},
		{"tru64 keepalive", tp.Changes, "keepalive_time", "tcp_keepidle", sec(2 * time.Hour)},
		{"linux native integer", lp.Changes, "native", "net.ipv4.tcp_max_tw_buckets", native("131072")},
		{"linux native flag", lp.Changes, "native", "net.ipv4.tcp_tw_reuse", native("0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range tt.changes {
				if c.Setting != tt.setting || c.Knob != tt.knob {
					continue
				}
				if c.Before == nil {
					t.Fatalf("%s: Before is nil; want %s", c.Knob, tt.want)
				}
				if !c.Before.Equal(tt.want) {
					t.Errorf("%s: Before = %s, want %s", c.Knob, c.Before, tt.want)
				}
				if c.Current != tt.want.String() {
					t.Errorf("%s: Current %q and Before %s disagree", c.Knob, c.Current, c.Before)
				}
				return
			}
			t.Fatalf("no %s change on %s in %+v", tt.setting, tt.knob, tt.changes)
		})
	}
}
