package platform

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr string
	}{
		{"10240-65535", PortRange{10240, 65535}, ""},
		{" 10240 - 65535 ", PortRange{10240, 65535}, ""},
		{"1-65535", PortRange{1, 65535}, ""},
		{"32768-60999", PortRange{32768, 60999}, ""},
		{"0-5", PortRange{}, "between 1 and 65535"},
		{"5-5", PortRange{}, "low end must be below high end"},
		{"70000-1", PortRange{}, "between 1 and 65535"},
		{"60999-32768", PortRange{}, "low end must be below high end"},
		{"1-65536", PortRange{}, "between 1 and 65535"},
		{"abc", PortRange{}, "expected LOW-HIGH"},
		{"a-b", PortRange{}, "expected two integers"},
		{"10240", PortRange{}, "expected LOW-HIGH"},
		{"10240 65535", PortRange{}, "expected LOW-HIGH"},
		{"", PortRange{}, "expected LOW-HIGH"},
		{"-5-10", PortRange{}, "expected two integers"},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParsePortRange(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParsePortRange(%q) error = %v, want one saying %q", tt.in, err, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), tt.in) {
			t.Errorf("ParsePortRange(%q) error %q does not quote the input", tt.in, err)
		}
	}
}

func TestPortRangeValidate(t *testing.T) {
	tests := []struct {
		r  PortRange
		ok bool
	}{
		{PortRange{1, 2}, true},
		{PortRange{1, 65535}, true},
		{PortRange{}, false},
		{PortRange{0, 10}, false},
		{PortRange{10, 65536}, false},
		{PortRange{-1, 10}, false},
		{PortRange{100, 100}, false},
		{PortRange{200, 100}, false},
	}
	for _, tt := range tests {
		if err := tt.r.Validate(); (err == nil) != tt.ok {
			t.Errorf("%v.Validate() = %v, want ok=%v", tt.r, err, tt.ok)
		}
	}
}

func TestPortRangeSizeContainsString(t *testing.T) {
	tests := []struct {
		r       PortRange
		size    int
		str     string
		in, out []int
	}{
		{PortRange{32768, 60999}, 28232, "32768-60999", []int{32768, 40000, 60999}, []int{32767, 61000, 0}},
		{PortRange{10240, 65535}, 55296, "10240-65535", []int{10240, 65535}, []int{10239, 65536, 22}},
		{PortRange{1, 2}, 2, "1-2", []int{1, 2}, []int{0, 3}},
	}
	for _, tt := range tests {
		if got := tt.r.Size(); got != tt.size {
			t.Errorf("%v.Size() = %d, want %d", tt.r, got, tt.size)
		}
		if got := tt.r.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if back, err := ParsePortRange(tt.r.String()); err != nil || back != tt.r {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v", tt.r.String(), back, err, tt.r)
		}
		for _, p := range tt.in {
			if !tt.r.Contains(p) {
				t.Errorf("%v.Contains(%d) = false", tt.r, p)
			}
		}
		for _, p := range tt.out {
			if tt.r.Contains(p) {
				t.Errorf("%v.Contains(%d) = true", tt.r, p)
			}
		}
	}
}

func TestTargetsEmpty(t *testing.T) {
	d := time.Minute
	tests := []struct {
		t     Targets
		empty bool
	}{
		{Targets{}, true},
		{Targets{Native: map[string]string{}}, true},
		{Targets{EphemeralPorts: &PortRange{1024, 65535}}, false},
		{Targets{TimeWait: &d}, false},
		{Targets{KeepaliveTime: &d}, false},
		{Targets{Native: map[string]string{"net.ipv4.tcp_tw_reuse": "1"}}, false},
	}
	for _, tt := range tests {
		if got := tt.t.Empty(); got != tt.empty {
			t.Errorf("%+v.Empty() = %v, want %v", tt.t, got, tt.empty)
		}
	}
}

// TestRegistryDriversAreTotal holds the registry's promise: every OS family
// has a driver, and a driver without counters says so in Capabilities and
// answers Counters with ErrNotSupported rather than pretending.
func TestRegistryDriversAreTotal(t *testing.T) {
	for _, os := range OSNames {
		d, err := For(os)
		if err != nil {
			t.Fatalf("For(%s): %v", os, err)
		}
		if d.OS() != os {
			t.Errorf("For(%s).OS() = %s", os, d.OS())
		}
		caps := d.Capabilities()
		if caps.Counters {
			if len(d.Thresholds()) == 0 {
				t.Errorf("%s declares counters but has no thresholds", os)
			}
			continue
		}
		_, err = d.Counters(context.Background(), nil)
		switch {
		case !errors.Is(err, ErrNotSupported):
			t.Errorf("%s has no counters, yet Counters returned %v, want ErrNotSupported", os, err)
		}
	}
	if _, err := For("plan9"); err == nil || !strings.Contains(err.Error(), "expected one of linux") {
		t.Errorf("For(plan9) = %v, want an error listing the families", err)
	}
}

// untyped drops the typed live values from changes, for tests that compare
// the operator's strings; the conformance suite checks the typed values.
func untyped(cs []Change) []Change {
	out := append([]Change(nil), cs...)
	for i := range out {
		out[i].Before, out[i].After = nil, nil
	}
	return out
}
