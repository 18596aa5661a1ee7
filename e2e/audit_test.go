package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

// auditDoc is the audit JSON, as much as the tests read.
type auditDoc struct {
	Kind  string `json:"kind"`
	Hosts []struct {
		Host         string `json:"host"`
		OS           string `json:"os"`
		Status       string `json:"status"`
		Error        string `json:"error"`
		Grade        string `json:"grade"`
		Range        string `json:"range"`
		Usable       int    `json:"usable"`
		SocketSource string `json:"socket_source"`
		Pools        []struct {
			Remote   string         `json:"remote"`
			Held     int            `json:"held"`
			TimeWait int            `json:"time_wait"`
			States   map[string]int `json:"states"`
			Util     float64        `json:"util"`
			Ceiling  float64        `json:"ceiling"`
			ReuseOn  bool           `json:"reuse_in_force"`
			ClosedBy string         `json:"closed_first_by"`
			Grade    string         `json:"grade"`
		} `json:"pools"`
		Advice []struct {
			Kind string `json:"kind"`
			Text string `json:"text"`
		} `json:"advice"`
	} `json:"hosts"`
	Fleet struct {
		Read    int            `json:"read"`
		Grades  map[string]int `json:"grades"`
		Hottest []struct {
			Remote   string `json:"remote"`
			Hosts    int    `json:"hosts"`
			TimeWait int    `json:"time_wait"`
		} `json:"hottest"`
	} `json:"fleet"`
}

// twgen starts cmd/twgen inside a host: a listener on the namespace's
// loopback and a client that closes first, so the client's ports go to
// TIME_WAIT for 60 s. It returns once the connections are made; the
// process ends with the test.
func twgen(t *testing.T, h *netnsfleet.Host, listen string, closeN, keep int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "twgen")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/twgen").CombinedOutput(); err != nil {
		t.Fatalf("build twgen: %v\n%s", err, out)
	}
	cmd := exec.Command("ip", "netns", "exec", h.Netns, bin, "-listen", listen, "-close", itoa(closeN), "-keep", itoa(keep))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // twgen ends when its stdin closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // by its pid: only the process this test started
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("twgen: %q %v: %s", line, err, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
}

func itoa(n int) string { return strconv.Itoa(n) }

// countSS counts the TIME_WAIT sockets towards dst inside the host, as ss
// sees them.
func countSS(t *testing.T, h *netnsfleet.Host, dst string) int {
	t.Helper()
	out, err := h.Exec(context.Background(), "ss", "-Htan", "state", "time-wait", "dst", dst)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), "\n")
}

// Real TIME_WAIT sockets inside a namespace host with a narrowed range:
// audit counts them per destination within a few percent of ss, grades the
// host WARN, names the destination in its advice, and leaves a quiet host OK.
func TestAuditCountsRealTimeWait(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	ctx := context.Background()
	busy := f.Host("node01")
	must(t, busy.Sysctl(ctx, "net.ipv4.ip_local_port_range", "40000 40999"))
	must(t, busy.Sysctl(ctx, "net.ipv4.tcp_tw_reuse", "0"))
	twgen(t, busy, "127.0.0.1:5432", 700, 20)

	r := run(t, "audit", "-i", f.Inventory, "--format", "json")
	ssCount := countSS(t, busy, "127.0.0.1:5432")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (a host at WARN)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var d auditDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if d.Kind != "audit" || len(d.Hosts) != 2 || d.Fleet.Read != 2 {
		t.Fatalf("doc = %+v", d)
	}
	var b, q = d.Hosts[0], d.Hosts[1]
	if b.Host != "node01" {
		b, q = q, b
	}
	if b.Status != "ok" || b.OS != "linux" || b.Range != "40000-40999" || b.SocketSource != "ss -Htano" {
		t.Fatalf("node01 = %+v", b)
	}
	if len(b.Pools) == 0 || b.Pools[0].Remote != "127.0.0.1:5432" {
		t.Fatalf("node01 pools = %+v", b.Pools)
	}
	p := b.Pools[0]
	if ssCount < 690 || math.Abs(float64(p.TimeWait-ssCount)) > 0.03*float64(ssCount) {
		t.Errorf("audit counts %d TIME_WAIT towards 127.0.0.1:5432, ss %d", p.TimeWait, ssCount)
	}
	if p.States["ESTABLISHED"] != 20 || p.ClosedBy != "this host" || p.ReuseOn {
		t.Errorf("pool = %+v", p)
	}
	// 720 of 1,000 ports (less 5432? no: it is outside the range).
	if b.Usable != 1000 || p.Grade != "WARN" || b.Grade != "WARN" || math.Abs(p.Util-float64(p.Held)/1000) > 1e-9 {
		t.Errorf("usable %d util %.3f grade %s/%s", b.Usable, p.Util, p.Grade, b.Grade)
	}
	// The ceiling is the ports not held open by other states over TIME_WAIT:
	// twgen holds 20 established, and a connection it is closing may be
	// caught in FIN_WAIT_2 or the like.
	open := p.Held - p.TimeWait
	if open < 20 || open > 25 {
		t.Errorf("%d sockets held in states other than TIME_WAIT (%v), want twgen's 20 and at most a few closing", open, p.States)
	}
	if math.Abs(p.Ceiling-float64(1000-open)/60) > 0.01 {
		t.Errorf("ceiling %.2f, want (1000 - %d) / 60", p.Ceiling, open)
	}
	if len(b.Advice) == 0 || b.Advice[0].Kind != "pooling" || !strings.Contains(b.Advice[0].Text, "127.0.0.1:5432") {
		t.Errorf("advice = %+v", b.Advice)
	}
	if q.Status != "ok" || q.Grade != "OK" {
		t.Errorf("quiet node02 = %+v", q)
	}
	if d.Fleet.Grades["WARN"] != 1 || d.Fleet.Grades["OK"] != 1 || len(d.Fleet.Hottest) == 0 || d.Fleet.Hottest[0].Remote != "127.0.0.1:5432" {
		t.Errorf("fleet = %+v", d.Fleet)
	}

	// The text form an operator reads.
	txt := run(t, "audit", "-i", f.Inventory, "--limit", "node01")
	for _, want := range []string{"node01", "WARN", "127.0.0.1 → 127.0.0.1:5432 (postgresql)", "range 40000-40999 (1,000 usable)", "fix: 1) reuse connections to 127.0.0.1:5432", "Fleet: 1 host"} {
		if !strings.Contains(txt.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, txt.stdout)
		}
	}
	t.Logf("fleettune audit --limit node01:\n%s", txt.stdout)
	if txt.code != 2 {
		t.Errorf("text exit %d, want 2", txt.code)
	}

	// Two samples a second apart: no growth, so "stable", never an invented
	// time to exhaustion; the host's connection is reused for both reads.
	conns := f.Connections("node01")
	sm := run(t, "audit", "-i", f.Inventory, "--limit", "node01", "--sample", "2x1s", "--format", "json")
	if n := f.Connections("node01") - conns; n != 1 {
		t.Errorf("a sampled audit made %d connections to node01, want 1", n)
	}
	var sd struct {
		Hosts []struct {
			Samples int `json:"samples"`
			Pools   []struct {
				Trend string `json:"trend"`
				TTE   string `json:"time_to_exhaustion"`
			} `json:"pools"`
		} `json:"hosts"`
		Sample string `json:"sample"`
	}
	if err := json.Unmarshal([]byte(sm.stdout), &sd); err != nil {
		t.Fatalf("%v\n%s\n%s", err, sm.stdout, sm.stderr)
	}
	if sd.Sample != "2x1s" || sd.Hosts[0].Samples != 2 || !strings.HasPrefix(sd.Hosts[0].Pools[0].Trend, "stable at 7") || sd.Hosts[0].Pools[0].TTE != "" {
		t.Errorf("sampled = %+v", sd)
	}

	// A what-if with a wider range: the same sockets, a higher ceiling.
	pb := writePlaybook(t, "name: wide\ntargets: {ephemeral_ports: 20000-60999}\naudit: {warn: 80%, crit: 90%}\n")
	w := run(t, "audit", "-i", f.Inventory, "-p", pb, "--limit", "node01", "--format", "json")
	var wd struct {
		Hosts []struct {
			Grade  string `json:"grade"`
			WhatIf []struct {
				Before, After float64
				Range         string
			} `json:"what_if"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(w.stdout), &wd); err != nil {
		t.Fatalf("%v\n%s\n%s", err, w.stdout, w.stderr)
	}
	h := wd.Hosts[0]
	if h.Grade != "WATCH" || len(h.WhatIf) == 0 || h.WhatIf[0].Range != "20000-60999" || h.WhatIf[0].After < 10*h.WhatIf[0].Before {
		t.Errorf("what-if = %+v (the playbook's warn 80%% makes 72%% a WATCH)", h)
	}
	if w.code != 0 {
		t.Errorf("exit %d with the host at WATCH, want 0\n%s", w.code, w.stderr)
	}
}

// A host that cannot be reached is exit 1 and named; the others are read.
func TestAuditUnreachableHost(t *testing.T) {
	f := netnsfleet.StartT(t, netnsfleet.Options{Hosts: 2})
	must(t, f.Stop("node02"))
	r := run(t, "audit", "-i", f.Inventory)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "not read: node02") || !strings.Contains(r.stdout, "Fleet: 2 hosts") || !strings.Contains(r.stdout, "1 ok") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

// The demo's story starts with the audit, over all ten lab hosts, before
// the plan.
func TestDemoStartsWithAudit(t *testing.T) {
	r := run(t, "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	a, p := strings.Index(r.stdout, "━━ 1. audit ━━"), strings.Index(r.stdout, "━━ 2. plan ━━")
	if a < 0 || p < a {
		t.Fatalf("the demo does not start with the audit:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout[a:p], "fleettune audit · 12 hosts") || !strings.Contains(r.stdout[a:p], "Fleet: 12 hosts") {
		t.Errorf("audit step:\n%s", r.stdout[a:p])
	}
	// Every emulated host is read, and the demo's loads give every grade.
	step := r.stdout[a:p]
	for _, want := range []string{"EXHAUSTED", "WARN", "WATCH", " OK ", "(audit: exit status 2)"} {
		if !strings.Contains(step, want) {
			t.Errorf("the demo's audit has no %q:\n%s", want, step)
		}
	}
	if strings.Contains(step, "NOT READ") || strings.Contains(step, "not read") {
		t.Errorf("the demo's audit left a host unread:\n%s", step)
	}
}
