package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/audit"
	"github.com/fleettune/fleettune/platform"
)

// busyLinux is a Linux host at 87% towards one PostgreSQL server, as in
// audit.md's sketch.
func busyLinux(tw, est int) string {
	var b strings.Builder
	b.WriteString("@@fleettune@@ uname\n5.15.0-91-generic\n@@fleettune@@ ip_local_port_range\n32768\t60999\n@@fleettune@@ ip_local_reserved_ports\n\n")
	b.WriteString("@@fleettune@@ tcp_tw_reuse\n2\n@@fleettune@@ tcp_timestamps\n1\n@@fleettune@@ tcp_max_tw_buckets\n262144\n")
	b.WriteString("@@fleettune@@ sockstat\nTCP: inuse 300 orphan 0 tw 24310 alloc 310 mem 40\n")
	b.WriteString("@@fleettune@@ netstat\nTcpExt: TW TWRecycled TCPTimeWaitOverflow\nTcpExt: 981234 1204 0\n@@fleettune@@ sockets\n")
	b.WriteString("LISTEN 0 4096 0.0.0.0:22 0.0.0.0:*\n")
	port := 32768
	for i := 0; i < tw; i++ {
		// Younger sockets outnumber older ones: churn is rising.
		left := 59 - (i*i/tw)*60/tw
		fmt.Fprintf(&b, "TIME-WAIT 0 0 10.0.1.7:%d 10.0.0.5:5432 timer:(timewait,%dsec,0)\n", port, max(0, left))
		port++
	}
	for i := 0; i < est; i++ {
		fmt.Fprintf(&b, "ESTAB 0 0 10.0.1.7:%d 10.0.0.5:5432\n", port)
		port++
	}
	b.WriteString("ESTAB 0 0 10.0.1.7:22 10.0.9.9:50000\n@@fleettune@@ end\n")
	return b.String()
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "audit", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sampleAudit(t *testing.T) *audit.Report {
	t.Helper()
	parse := map[string]func(string, audit.Limits) (*audit.Snapshot, error){
		"linux": audit.ParseLinux, "windows": audit.ParseWindows, "solaris": audit.ParseSolaris,
		"aix": audit.ParseAIX, "hpux": audit.ParseHPUX, "tru64": audit.ParseTru64,
	}
	wide := platform.PortRange{Low: 10240, High: 65535}
	tw := 30 * time.Second
	var hosts []audit.HostReport
	for _, c := range []struct{ name, os, out string }{
		{"app-07", "linux", busyLinux(24310, 251)},
		{"app-08", "linux", readFixture(t, "linux/script-ss.txt")},
		{"app-09", "linux", strings.Replace(readFixture(t, "linux/script-ss.txt"), "32768\t60999", "1024\t65535", 1)},
		{"win-iis-02", "windows", readFixture(t, "windows/script.txt")},
		{"sol-db-01", "solaris", readFixture(t, "solaris/script-11.txt")},
		{"hp-01\x1b[31m", "hpux", readFixture(t, "hpux/script.txt")},
	} {
		s, err := parse[c.os](c.out, audit.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		hosts = append(hosts, audit.Analyze(audit.Input{Host: c.name, Groups: []string{"all", c.os}, Snapshots: []*audit.Snapshot{s},
			Targets: &platform.Targets{EphemeralPorts: &wide, TimeWait: &tw}}, audit.DefaultThresholds()))
	}
	hosts = append(hosts, audit.HostReport{Host: "aix-02", Groups: []string{"all"}, Status: audit.StatusUnreachable,
		Error: "aix-02: host unreachable: dial tcp 127.0.0.1:2299: connect: connection refused"})
	r := &audit.Report{Kind: "audit", Playbook: "examples/playbook.yaml", Thresholds: audit.DefaultThresholds(), Hosts: hosts}
	r.Fleet = audit.Summarize(hosts)
	return r
}

func TestAuditHumanGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		color bool
	}{{"audit-mixed.txt", false}, {"audit-mixed-color.txt", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := NewAudit(Text, &b, tc.color).Audit(sampleAudit(t)); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
			if !tc.color && bytes.Contains(b.Bytes(), []byte("\x1b")) {
				t.Error("escape sequence in uncoloured output: a host-supplied string reached the terminal raw")
			}
		})
	}
}

func TestAuditJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := NewAudit(JSON, &b, false).Audit(sampleAudit(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit-mixed.json", b.Bytes())
	var doc struct {
		Hosts []struct {
			Host  string `json:"host"`
			Grade string `json:"grade"`
		} `json:"hosts"`
		Fleet struct {
			Grades map[string]int `json:"grades"`
		} `json:"fleet"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// JSON stays exact: the escape in the host name is kept.
	if doc.Hosts[5].Host != "hp-01\x1b[31m" || doc.Hosts[0].Grade != "CRIT" || doc.Hosts[3].Grade != "EXHAUSTED" || doc.Fleet.Grades["OK"] != 4 {
		t.Errorf("doc = %+v", doc)
	}
}
