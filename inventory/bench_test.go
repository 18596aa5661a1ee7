package inventory

import (
	"fmt"
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
