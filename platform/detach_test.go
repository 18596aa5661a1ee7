package platform

import (
	"strings"
	"testing"
	"unsafe"
)

// within reports whether s points into buf's memory.
func within(s, buf string) bool {
	if len(s) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(buf)))
	return p >= lo && p < lo+uintptr(len(buf))
}

func TestDetachLetsTheOutputGo(t *testing.T) {
	out := "6.1.0\nboot-1\n32768 60999\n10240 65535\n/etc/sysctl.d/x.conf:3\n" + strings.Repeat("padding\n", 1000)
	lines := strings.Split(out, "\n")
	f := &Facts{OS: Linux, Version: lines[0], BootID: lines[1], Persisted: out[:40], Knobs: map[string]Knob{
		"net.ipv4.ip_local_port_range": {Name: lines[2][:5], Live: lines[2], AtBoot: lines[3], AtBootSet: true, Source: lines[4]},
	}}
	f.Detach()
	k := f.Knobs["net.ipv4.ip_local_port_range"]
	for name, s := range map[string]string{"Version": f.Version, "BootID": f.BootID, "Persisted": f.Persisted,
		"Knob.Name": k.Name, "Knob.Live": k.Live, "Knob.AtBoot": k.AtBoot, "Knob.Source": k.Source} {
		if within(s, out) {
			t.Errorf("%s still points into the command output after Detach", name)
		}
	}
	if f.Version != "6.1.0" || k.Live != "32768 60999" || k.AtBoot != "10240 65535" || !k.AtBootSet || f.Persisted != out[:40] {
		t.Errorf("Detach changed values: %+v", f)
	}
}
