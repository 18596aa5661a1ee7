package playbooks

import (
	"reflect"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
)

func TestResolve(t *testing.T) {
	pb := mustLoad(t, "resolve.yaml")
	base := platform.Targets{
		EphemeralPorts: ports(10240, 65535),
		TimeWait:       dur(30 * time.Second),
		KeepaliveTime:  dur(5 * time.Minute),
	}
	with := func(f func(*platform.Targets)) platform.Targets {
		t := base
		f(&t)
		return t
	}
	tests := []struct {
		name   string
		os     string
		groups []string
		host   string
		want   platform.Targets
	}{
		{"linux db host gets the linux range and the db native knobs", "linux", []string{"all", "db"}, "db1.example.com",
			with(func(t *platform.Targets) {
				t.EphemeralPorts = ports(20000, 60999)
				t.TimeWait = dur(60 * time.Second) // os AND group both match
				t.Native = map[string]string{"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "30"}
			})},
		{"solaris db host gets base targets and no linux knobs", "solaris", []string{"all", "db"}, "db9.example.com",
			base},
		{"windows host outside every override gets base targets", "windows", []string{"all"}, "win1.corp.example.com",
			base},
		{"linux host not in db: range only", "linux", []string{"all", "cache"}, "cache1.example.com",
			with(func(t *platform.Targets) { t.EphemeralPorts = ports(20000, 60999) })},
		{"host glob web* matches", "windows", []string{"all", "web"}, "web01.example.com",
			with(func(t *platform.Targets) { t.KeepaliveTime = dur(10 * time.Minute) })},
		{"host glob ignores case", "windows", []string{"all"}, "WEB02.example.com",
			with(func(t *platform.Targets) { t.KeepaliveTime = dur(10 * time.Minute) })},
		{"later override wins per setting and per knob", "linux", []string{"all", "db"}, "web07.example.com",
			with(func(t *platform.Targets) {
				t.EphemeralPorts = ports(20000, 60999)
				t.TimeWait = dur(60 * time.Second)
				t.KeepaliveTime = dur(2 * time.Minute) // web* said 10m, web07 says 2m
				t.Native = map[string]string{"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "15"}
			})},
		{"group glob matches any of the host's groups; last range wins over linux's", "linux", []string{"all", "batch-nightly"}, "b1",
			with(func(t *platform.Targets) { t.EphemeralPorts = ports(30000, 39999) })},
		{"no groups at all", "aix", nil, "aix1",
			base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pb.Resolve(tt.os, tt.groups, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve(%s, %v, %s):\n got %s\nwant %s", tt.os, tt.groups, tt.host, show(got), show(tt.want))
			}
		})
	}
}

func show(t platform.Targets) string {
	s := "{"
	if t.EphemeralPorts != nil {
		s += " ports=" + t.EphemeralPorts.String()
	}
	if t.TimeWait != nil {
		s += " time_wait=" + t.TimeWait.String()
	}
	if t.KeepaliveTime != nil {
		s += " keepalive=" + t.KeepaliveTime.String()
	}
	for k, v := range t.Native {
		s += " " + k + "=" + v
	}
	return s + " }"
}

// Changing what Resolve returned changes neither the playbook nor the next
// host's targets.
func TestResolveReturnsCopies(t *testing.T) {
	pb := mustLoad(t, "resolve.yaml")
	a, err := pb.Resolve("linux", []string{"db"}, "db1")
	if err != nil {
		t.Fatal(err)
	}
	a.EphemeralPorts.Low = 1
	*a.TimeWait = time.Hour
	*a.KeepaliveTime = time.Hour
	a.Native["net.ipv4.tcp_tw_reuse"] = "0"
	a.Native["extra"] = "x"

	b, err := pb.Resolve("linux", []string{"db"}, "db1")
	if err != nil {
		t.Fatal(err)
	}
	if b.EphemeralPorts.Low != 20000 || *b.TimeWait != 60*time.Second || *b.KeepaliveTime != 5*time.Minute ||
		b.Native["net.ipv4.tcp_tw_reuse"] != "1" || len(b.Native) != 2 {
		t.Errorf("second Resolve saw the first one's changes: %s", show(b))
	}
	if pb.Targets.EphemeralPorts.Low != 10240 || pb.Overrides[0].Targets.EphemeralPorts.Low != 20000 ||
		pb.Overrides[1].Native["linux"]["net.ipv4.tcp_tw_reuse"] != "1" || len(pb.Overrides[1].Native["linux"]) != 2 {
		t.Errorf("playbook changed through Resolve's result")
	}
	// A host no override matches must not share the base targets either.
	c, _ := pb.Resolve("aix", nil, "aix1")
	c.EphemeralPorts.High = 2
	if pb.Targets.EphemeralPorts.High != 65535 {
		t.Errorf("base targets changed through Resolve's result")
	}
}

func TestResolveUnknownOS(t *testing.T) {
	pb := mustLoad(t, "resolve.yaml")
	for _, os := range []string{"", "freebsd", "Linux"} {
		if _, err := pb.Resolve(os, []string{"all"}, "h"); err == nil {
			t.Errorf("Resolve(%q) succeeded, want an unknown OS error", os)
		}
	}
}
