package platform

import (
	"sort"
	"strings"
	"testing"
)

func TestValidateNative(t *testing.T) {
	tests := []struct {
		os, knob, value string
		wantErr         []string // nil: accepted
	}{
		{Linux, "net.ipv4.tcp_tw_reuse", "0", nil},
		{Linux, "net.ipv4.tcp_tw_reuse", "1", nil},
		{Linux, "net.ipv4.tcp_tw_reuse", "2", nil},
		{Linux, "net.ipv4.tcp_tw_reuse", " 1 ", nil},
		{Linux, "net.ipv4.tcp_tw_reuse", "3", []string{"net.ipv4.tcp_tw_reuse", `"3"`, "0, 1 or 2"}},
		{Linux, "net.ipv4.tcp_tw_reuse", "yes", []string{"0, 1 or 2"}},
		{Linux, "net.ipv4.tcp_fin_timeout", "30", nil},
		{Linux, "net.ipv4.tcp_fin_timeout", "0", []string{"1-600", "not TIME_WAIT"}},
		{Linux, "net.ipv4.tcp_fin_timeout", "601", []string{"1-600"}},
		{Linux, "net.ipv4.tcp_keepalive_intvl", "75", nil},
		{Linux, "net.ipv4.tcp_keepalive_intvl", "32768", []string{"1-32767"}},
		{Linux, "net.ipv4.tcp_keepalive_probes", "9", nil},
		{Linux, "net.ipv4.tcp_keepalive_probes", "128", []string{"1-127"}},
		{Linux, "net.ipv4.tcp_max_tw_buckets", "262144", nil},
		{Linux, "net.ipv4.tcp_max_tw_buckets", "1023", []string{">= 1024"}},
		{Linux, "net.ipv4.tcp_timestamps", "1", nil},
		{Linux, "net.ipv4.tcp_timestamps", "-1", []string{"0, 1 or 2"}},
		{Linux, "net.ipv4.ip_local_reserved_ports", "30080,40000-40010", nil},
		{Linux, "net.ipv4.ip_local_reserved_ports", "8080, 9148", nil},
		{Linux, "net.ipv4.ip_local_reserved_ports", "", nil},
		{Linux, "net.ipv4.ip_local_reserved_ports", "70000", []string{"comma-separated ports"}},
		{Linux, "net.ipv4.ip_local_reserved_ports", "0", []string{"comma-separated ports"}},
		{Linux, "net.ipv4.ip_local_reserved_ports", "40010-40000", []string{"comma-separated ports"}},
		{Linux, "net.ipv4.ip_local_reserved_ports", "1-65536", []string{"comma-separated ports"}},
		{Linux, "net.ipv4.ip_local_reserved_ports", "8080'; reboot", []string{"comma-separated ports"}},
		{Linux, "net.ipv4.tcp_tw_recycle", "0", []string{"refused", "NAT", "4.12"}},
		{Linux, "net.ipv4.tcp_tw_recycle", "1", []string{"refused", "NAT", "4.12"}},
		{Linux, "net.ipv4.tcp_nonexistent", "1", []string{"unknown native knob net.ipv4.tcp_nonexistent", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_tw_buckets"}},
		{Linux, "net.ipv4.ip_local_port_range", "10240 65535", []string{"unknown native knob", "net.ipv4.tcp_tw_reuse"}},
		{Windows, "TcpTimedWaitDelay", "30", []string{"not supported", "linux"}},
		{"beos", "x", "1", []string{"not supported"}},
	}
	for _, tt := range tests {
		err := ValidateNative(tt.os, tt.knob, tt.value)
		if tt.wantErr == nil {
			if err != nil {
				t.Errorf("ValidateNative(%s, %s, %q) = %v, want accepted", tt.os, tt.knob, tt.value, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateNative(%s, %s, %q) accepted, want refused", tt.os, tt.knob, tt.value)
			continue
		}
		for _, w := range tt.wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ValidateNative(%s, %s, %q) = %q, does not mention %q", tt.os, tt.knob, tt.value, err, w)
			}
		}
	}
}

func TestNativeKnobNames(t *testing.T) {
	names := NativeKnobNames(Linux)
	if !sort.StringsAreSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	for _, want := range []string{"net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_tw_buckets", "net.ipv4.ip_local_reserved_ports"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("%s missing from %v", want, names)
		}
	}
	for _, n := range names {
		if n == "net.ipv4.tcp_tw_recycle" {
			t.Errorf("the refused tcp_tw_recycle is listed as accepted")
		}
	}
	if got := NativeKnobNames(Windows); len(got) != 0 {
		t.Errorf("NativeKnobNames(windows) = %v, want none yet", got)
	}
}
