package lab

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/platform"
)

// platform.DetectGather against every family's emulator: a Linux host
// answers in one command with the facts the plain gather reads; every
// other Unix parses the whole script and runs only uname (the lab's shell
// refuses $(...), $((...)), ${#...} and case, as the Bourne sh of Solaris
// 10 and Tru64 cannot parse them either); Windows refuses it as cmd.exe
// does and answers ver.
func TestDetectGatherEveryFamily(t *testing.T) {
	ctx := context.Background()
	for family, fr := range familyReleases {
		for _, rel := range fr.releases {
			t.Run(family+"-"+rel, func(t *testing.T) {
				h, err := NewHost(fr.prefix+"-01", family, rel)
				if err != nil {
					t.Fatal(err)
				}
				user := "root"
				if family == "windows" {
					user = WindowsAdmin
				}
				r := &tru64Runner{h: h, user: user}
				native := []string{"net.ipv4.tcp_max_tw_buckets"}
				osName, _, facts, err := platform.DetectGather(ctx, r, native)
				if err != nil {
					t.Fatalf("DetectGather: %v\nran %q", err, r.ran)
				}
				if osName != family {
					t.Errorf("os %q, want %q", osName, family)
				}
				wantCmds := 1
				if family == "windows" {
					wantCmds = 2
				}
				if len(r.ran) != wantCmds {
					t.Errorf("ran %d commands, want %d: %q", len(r.ran), wantCmds, r.ran)
				}
				if family != "linux" {
					if facts != nil {
						t.Errorf("facts on %s: %+v", family, facts)
					}
					return
				}
				if facts == nil {
					t.Fatal("no facts from a Linux host")
				}
				d, _ := platform.For(platform.Linux)
				plain, err := d.Gather(ctx, r, native)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(facts, plain) {
					t.Errorf("DetectGather's facts differ from Gather's:\n%+v\n%+v", facts, plain)
				}
				if facts.Version != h.Uname.Release || facts.Knobs["net.ipv4.tcp_max_tw_buckets"].Live == "" {
					t.Errorf("version %q, knobs %+v", facts.Version, facts.Knobs)
				}
			})
		}
	}
}

// The Linux gather reads listeners with ss -tn state listening; a host
// without ss (a minimal image) falls back to awk over /proc/net/tcp, with
// the same result.
func TestLinuxGatherListenersWithAndWithoutSS(t *testing.T) {
	ctx := context.Background()
	d, _ := platform.For(platform.Linux)
	for _, noSS := range []bool{false, true} {
		h := newLinuxHost(t, "6.1")
		h.Listening = []int{22, 5432, 30080}
		if noSS {
			NoSS(h)
		}
		r := &tru64Runner{h: h, user: "root"}
		f, err := d.Gather(ctx, r, nil)
		if err != nil {
			t.Fatalf("noSS=%v: %v", noSS, err)
		}
		if !reflect.DeepEqual(f.Listening, []int{22, 5432, 30080}) {
			t.Errorf("noSS=%v: listening %v", noSS, f.Listening)
		}
	}
	h := newLinuxHost(t, "6.1")
	h.Listening = []int{22, 5432}
	out := h.Run("root", "ss -tn state listening")
	lines := strings.Split(strings.TrimSuffix(out.Stdout, "\n"), "\n")
	if out.Code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[0], "Recv-Q ") || strings.Contains(out.Stdout, "LISTEN") {
		t.Errorf("ss -tn state listening: want a header without State and four rows (v4 and v6 for each port):\n%s%s", out.Stdout, out.Stderr)
	}
}

// sh's read of an integer sysctl gets its first byte, as dash's and
// busybox's do on a real kernel; a string sysctl and a regular file read
// whole.
func TestLabReadOfProcSys(t *testing.T) {
	h := newLinuxHost(t, "6.1")
	out := h.Run("root", `IFS= read -r a </proc/sys/net/ipv4/ip_local_port_range; IFS= read -r b </proc/sys/kernel/osrelease; IFS= read -r c </proc/sys/kernel/ostype; printf '%s|%s|%s\n' "$a" "$b" "$c"`)
	if want := "3|6.1.0-18-amd64|Linux\n"; out.Stdout != want || out.Code != 0 {
		t.Errorf("got %q (%s), want %q", out.Stdout, out.Stderr, want)
	}
}
