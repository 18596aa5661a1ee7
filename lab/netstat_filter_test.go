package lab

import (
	"context"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// The gathers filter netstat on the host (issue 11): on an exhausted host
// of each family whose gather does, the filtered table must give the plan
// exactly what the whole one gives, in a fraction of the bytes, and a
// failing netstat must still fail the gather.
func TestGatherNetstatFilterKeepsWhatThePlanReads(t *testing.T) {
	for _, tc := range []struct {
		os, release, raw, prefix string
		script                   func() string
		parse                    func(string) ([]int, int, error)
	}{
		{"solaris", "5.10", "/usr/bin/netstat -an -P tcp", "echo '@@fleettune@@ netstat'; ", platform.SolarisGatherScript, platform.ParseSolarisNetstat},
		{"solaris", "5.11", "/usr/bin/netstat -an -P tcp", "echo '@@fleettune@@ netstat'; ", platform.SolarisGatherScript, platform.ParseSolarisNetstat},
		{"aix", "7.2", "netstat -an", "echo '@@fleettune@@ netstat -an'; ", platform.AIXGatherScript, platform.ParseAIXNetstat},
		// HP-UX reads its section with the parser Tru64's is.
		{"hpux", "B.11.31", "LC_ALL=C netstat -an", "echo '@@fleettune@@ netstat'; ", platform.HPUXGatherScript, platform.ParseTru64Netstat},
		{"tru64", "V5.1B", "netstat -an", "echo '@@fleettune@@ netstat'; ", platform.Tru64GatherScript, platform.ParseTru64Netstat},
	} {
		t.Run(tc.os+" "+tc.release, func(t *testing.T) {
			h, err := NewHost("x-01", tc.os, tc.release)
			if err != nil {
				t.Fatal(err)
			}
			if err := SetProfile(h, ProfileExhausted, 0, 1); err != nil {
				t.Fatal(err)
			}
			cmd := gatherCommand(t, tc.script(), tc.prefix)
			if !strings.HasPrefix(cmd, tc.raw+" 2>&1 | awk ") {
				t.Fatalf("gather's netstat is %q, want %q piped through awk", cmd, tc.raw)
			}
			raw, filtered := h.Run("root", tc.raw), h.Run("root", cmd)
			if raw.Code != 0 || filtered.Code != 0 || filtered.Stderr != "" {
				t.Fatalf("raw %d %q, filtered %d %q", raw.Code, raw.Stderr, filtered.Code, filtered.Stderr)
			}
			wantL, wantTW, err := tc.parse(raw.Stdout)
			if err != nil {
				t.Fatal(err)
			}
			gotL, gotTW, err := tc.parse(filtered.Stdout)
			if err != nil {
				t.Fatal(err)
			}
			if wantTW < 1000 || len(wantL) == 0 {
				t.Fatalf("an exhausted host with %d TIME_WAIT and listeners %v: not the busy table this test needs", wantTW, wantL)
			}
			if gotTW != wantTW || !equalInts(gotL, wantL) {
				t.Errorf("filtered: listeners %v, TIME_WAIT %d; unfiltered: %v, %d", gotL, gotTW, wantL, wantTW)
			}
			if len(filtered.Stdout)*20 > len(raw.Stdout) {
				t.Errorf("filtered table is %d bytes of %d: the filter keeps too much", len(filtered.Stdout), len(raw.Stdout))
			}
			for _, line := range strings.Split(filtered.Stdout, "\n") {
				if strings.Contains(line, "ESTABLISHED") || strings.Contains(line, "TIME_WAIT") || strings.Contains(line, "CLOSE_WAIT") {
					t.Fatalf("filtered table kept %q", line)
				}
			}

			// A failing netstat: its message passes the filter and the
			// parser refuses the output, naming it.
			h.Faults.FailCommand = "netstat -an"
			failed := h.Run("root", cmd)
			if _, _, err := tc.parse(failed.Stdout); err == nil || !strings.Contains(err.Error(), "lab: injected failure") {
				t.Errorf("netstat failing: %q parsed with error %v, want its message", failed.Stdout, err)
			}
			// And the driver's gather fails, naming it (AIX's section
			// marker holds "netstat -an" too: the fault would hit it).
			if tc.os != "aix" {
				d, err := platform.For(tc.os)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := d.Gather(context.Background(), solarisRunner{h: h, user: "root"}, nil); err == nil || !strings.Contains(err.Error(), "lab: injected failure") {
					t.Errorf("gather with netstat failing: %v, want its message", err)
				}
			}
			// With nothing from netstat at all, only the count.
			if _, _, err := tc.parse("@@tw 0\n"); err == nil {
				t.Errorf("an output of only the count parsed")
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
