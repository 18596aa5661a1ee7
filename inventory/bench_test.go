package inventory

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkLoadINI loads an INI inventory of N hosts in 10 groups; the cost
// per host must stay flat (linear parsing and merging).
func BenchmarkLoadINI(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		var sb strings.Builder
		for g := 0; g < 10; g++ {
			fmt.Fprintf(&sb, "[g%d]\n", g)
			for i := g; i < n; i += 10 {
				fmt.Fprintf(&sb, "h%06d ansible_host=10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
			}
			fmt.Fprintf(&sb, "[g%d:vars]\nansible_user=u%d\n", g, g)
		}
		data := []byte(sb.String())
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				pt, err := parseData("bench.ini", "", data, func(string) {})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := merge([]*part{pt}, Options{NoSSHConfig: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/host")
		})
	}
}

// BenchmarkSSHConfig resolves N hosts through an ssh_config with one Host
// block per host (a common layout for big fleets) plus wildcard blocks:
// each file is read once per load; the cost per host grows with the
// number of blocks, as in OpenSSH, which evaluates every block too.
func BenchmarkSSHConfig(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		dir := b.TempDir()
		var cfg, list strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&cfg, "Host h%05d\n    HostName 10.%d.%d.%d\n    User u%d\n", i, i>>16&255, i>>8&255, i&255, i%7)
			fmt.Fprintf(&list, "h%05d,", i)
		}
		cfg.WriteString("Host *.internal\n    ProxyJump bastion\nHost *\n    Port 2222\n    ServerAliveInterval 30\n")
		path := dir + "/config"
		if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				inv, err := LoadAll([]string{list.String()}, nil, Options{SSHConfigFiles: []string{path}})
				if err != nil {
					b.Fatal(err)
				}
				if inv.Hosts[n-1].SSH.Port != 2222 {
					b.Fatal("not resolved")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/host")
		})
	}
}
