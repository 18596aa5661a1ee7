package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/remote"
)

// nativeFixtureKnobs are the native knobs gather-native.txt was captured with
// (see testdata/linux/README.md).
var nativeFixtureKnobs = []string{"net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_tw_recycle"}

const fixtureBootID = "9a236379-1f11-410e-b8a2-140c7320127a"

// fixtureVersion is the kernel the fixtures were captured on.
const fixtureVersion = "6.18.44-fc-v669"

func readLinuxFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "linux", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceOnce replaces old by new in s and fails if old is not there exactly
// once, so an edited fixture cannot silently stay unedited.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("fixture edit: %q occurs %d times, want 1", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

func linuxKnobList(native ...string) []string {
	return append(append([]string(nil), linuxBaseKnobs...), native...)
}

type wantKnob struct {
	live    string
	missing bool
	atBoot  string // "" with source "" means no persisted configuration sets it
	source  string
}

// The expectations below were read off the fixtures by hand, not copied from
// the parser's output.
func TestParseLinuxFacts(t *testing.T) {
	defaults := map[string]wantKnob{
		linuxPortRange:     {live: "32768\t60999"},
		linuxKeepalive:     {live: "7200"},
		linuxFinTimeout:    {live: "60"},
		linuxTwReuse:       {live: "2"},
		linuxUnprivStart:   {live: "1024"},
		linuxReservedPorts: {live: ""},
	}
	with := func(changes map[string]wantKnob) map[string]wantKnob {
		m := map[string]wantKnob{}
		for k, v := range defaults {
			m[k] = v
		}
		for k, v := range changes {
			m[k] = v
		}
		return m
	}
	const convergedFile = "# Managed by fleettune. Changes here are overwritten by fleettune apply.\n" +
		"net.ipv4.ip_local_port_range = 10240 65535\n" +
		"net.ipv4.tcp_keepalive_time = 300\n"

	tests := []struct {
		fixture         string
		native          []string
		edit            func(t *testing.T, s string) string
		knobs           map[string]wantKnob
		listening       []int
		timeWait        int
		persisted       string
		persistedExists bool
		version, bootID string // the capture's, when not fixtureVersion and fixtureBootID
	}{
		{
			fixture:  "gather-default.txt",
			knobs:    defaults,
			timeWait: 0,
		},
		{
			fixture: "gather-drift.txt",
			knobs: with(map[string]wantKnob{
				linuxPortRange: {live: "20000\t50001", atBoot: "20000 50001", source: "/etc/sysctl.d/60-local.conf:2"},
				// written as net/ipv4/tcp_keepalive_time=600
				linuxKeepalive: {live: "7200", atBoot: "600", source: "/etc/sysctl.d/60-local.conf:3"},
			}),
		},
		{
			fixture: "gather-listeners.txt",
			knobs: with(map[string]wantKnob{
				linuxReservedPorts: {live: "30080,40000-40010"},
			}),
			// ss: 127.0.0.1:22, 0.0.0.0:15000, [::1]:30080
			listening: []int{22, 15000, 30080},
		},
		{
			fixture: "gather-converged.txt",
			knobs: with(map[string]wantKnob{
				linuxPortRange: {live: "10240\t65535", atBoot: "10240 65535", source: LinuxPersistFile + ":2"},
				linuxKeepalive: {live: "300", atBoot: "300", source: LinuxPersistFile + ":3"},
			}),
			persisted:       convergedFile,
			persistedExists: true,
		},
		{
			fixture: "gather-later-override.txt",
			knobs: with(map[string]wantKnob{
				// 99-local.conf is read after 90-fleettune.conf and wins.
				linuxPortRange: {live: "10240\t65535", atBoot: "32768 60999", source: "/etc/sysctl.d/99-local.conf:1"},
			}),
			persisted:       "net.ipv4.ip_local_port_range = 10240 65535\n",
			persistedExists: true,
		},
		{
			fixture: "gather-native.txt",
			native:  nativeFixtureKnobs,
			knobs: with(map[string]wantKnob{
				linuxTwReuse:                  {live: "0"},
				"net.ipv4.tcp_max_tw_buckets": {live: "131072"},
				"net.ipv4.tcp_tw_recycle":     {missing: true},
			}),
		},
		{
			fixture: "gather-listeners.txt (CRLF, TIME_WAIT load)",
			edit: func(t *testing.T, s string) string {
				s = replaceOnce(t, s, "tw 0", "tw 1234")
				return strings.ReplaceAll(s, "\n", "\r\n")
			},
			knobs: with(map[string]wantKnob{
				linuxReservedPorts: {live: "30080,40000-40010"},
			}),
			listening: []int{22, 15000, 30080},
			timeWait:  1234,
		},
		{
			// The script before this one: a section per file, listeners
			// from /proc/net/tcp and tcp6 (what a host without ss still
			// prints for them).
			fixture: "gather-listeners-procnet.txt",
			version: "6.18.44-fc-v769", bootID: "8d7ef2d3-9313-42c2-9ac6-8afc6f15fc5d",
			knobs: with(map[string]wantKnob{
				linuxReservedPorts: {live: "30080,40000-40010"},
			}),
			// 0100007F:0016, 00000000:3A98, [::1]:7580
			listening: []int{22, 15000, 30080},
		},
		{
			fixture: "gather-default.txt (no TCP line in sockstat)",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "TCP: inuse 0 orphan 0 tw 0 alloc 7 mem 0\n", "")
			},
			knobs:    defaults,
			timeWait: -1,
		},
		{
			fixture: "gather-default.txt (/etc/sysctl.conf sets keepalive)",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "#kernel.sysrq=438\n", "net.ipv4.tcp_keepalive_time = 600\n")
			},
			knobs: with(map[string]wantKnob{
				linuxKeepalive: {live: "7200", atBoot: "600", source: "/etc/sysctl.conf:67"},
			}),
		},
		{
			fixture: "gather-converged.txt (/usr/lib and /lib copies of one file)",
			// Debian's /lib -> /usr/lib symlink makes every vendor file
			// appear twice. A vendor file that sorts before
			// 90-fleettune.conf must not be re-applied from /lib after it.
			edit: func(t *testing.T, s string) string {
				vendor := "net.ipv4.tcp_keepalive_time = 7200\n\n"
				s = replaceOnce(t, s, "@@fleettune@@ file /usr/lib/sysctl.d/99-protect-links.conf\n",
					"@@fleettune@@ file /usr/lib/sysctl.d/10-vendor.conf\n"+vendor+"@@fleettune@@ file /usr/lib/sysctl.d/99-protect-links.conf\n")
				return replaceOnce(t, s, "@@fleettune@@ file /lib/sysctl.d/99-protect-links.conf\n",
					"@@fleettune@@ file /lib/sysctl.d/10-vendor.conf\n"+vendor+"@@fleettune@@ file /lib/sysctl.d/99-protect-links.conf\n")
			},
			knobs: with(map[string]wantKnob{
				linuxPortRange: {live: "10240\t65535", atBoot: "10240 65535", source: LinuxPersistFile + ":2"},
				linuxKeepalive: {live: "300", atBoot: "300", source: LinuxPersistFile + ":3"},
			}),
			persisted:       convergedFile,
			persistedExists: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			name, _, _ := strings.Cut(tt.fixture, " ")
			out := readLinuxFixture(t, name)
			if tt.edit != nil {
				out = tt.edit(t, out)
			}
			f, err := ParseLinuxFacts(out, linuxKnobList(tt.native...))
			if err != nil {
				t.Fatalf("ParseLinuxFacts: %v", err)
			}
			version, bootID := fixtureVersion, fixtureBootID
			if tt.version != "" {
				version, bootID = tt.version, tt.bootID
			}
			if f.OS != Linux || f.Version != version || f.BootID != bootID {
				t.Errorf("OS, Version, BootID = %q, %q, %q; want linux, %s, %s", f.OS, f.Version, f.BootID, version, bootID)
			}
			if len(f.Knobs) != len(tt.knobs) {
				t.Errorf("got %d knobs, want %d: %v", len(f.Knobs), len(tt.knobs), f.Knobs)
			}
			for name, w := range tt.knobs {
				k, ok := f.Knobs[name]
				if !ok {
					t.Errorf("%s: not read", name)
					continue
				}
				want := Knob{Name: name, Live: w.live, Missing: w.missing, AtBoot: w.atBoot, AtBootSet: w.source != "", Source: w.source}
				if k != want {
					t.Errorf("%s:\n got  %+v\n want %+v", name, k, want)
				}
			}
			if !reflect.DeepEqual(f.Listening, tt.listening) {
				t.Errorf("Listening = %v, want %v", f.Listening, tt.listening)
			}
			if f.TimeWait != tt.timeWait {
				t.Errorf("TimeWait = %d, want %d", f.TimeWait, tt.timeWait)
			}
			if f.Persisted != tt.persisted || f.PersistedExists != tt.persistedExists {
				t.Errorf("Persisted, PersistedExists = %q, %v; want %q, %v", f.Persisted, f.PersistedExists, tt.persisted, tt.persistedExists)
			}
		})
	}
}

func TestParseLinuxFactsErrors(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		edit    func(t *testing.T, s string) string
		native  []string
		want    []string // substrings of the error
	}{
		{
			name:    "empty output",
			fixture: "gather-default.txt",
			edit:    func(*testing.T, string) string { return "" },
			want:    []string{"no boot id"},
		},
		{
			name:    "boot id empty",
			fixture: "gather-default.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, fixtureBootID+"\n", "\n")
			},
			want: []string{"no boot id"},
		},
		{
			name:    "boot id not listed",
			fixture: "gather-default.txt",
			edit: func(t *testing.T, s string) string {
				s = replaceOnce(t, s, "proc uname boot_id ", "proc uname ")
				return replaceOnce(t, s, fixtureBootID+"\n", "")
			},
			want: []string{"no boot id"},
		},
		{
			name:    "boot id section gone (older script)",
			fixture: "gather-listeners-procnet.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "@@fleettune@@ boot_id\n8d7ef2d3-9313-42c2-9ac6-8afc6f15fc5d\n", "")
			},
			want: []string{"no boot id"},
		},
		{
			name:    "knob section missing",
			fixture: "gather-default.txt",
			native:  []string{"net.ipv4.tcp_max_tw_buckets"},
			want:    []string{"no section for net.ipv4.tcp_max_tw_buckets"},
		},
		{
			name:    "base knob not listed",
			fixture: "gather-default.txt",
			edit: func(t *testing.T, s string) string {
				s = replaceOnce(t, s, " net.ipv4.tcp_keepalive_time ", " ")
				return replaceOnce(t, s, "\n7200\n", "\n")
			},
			want: []string{"no section for net.ipv4.tcp_keepalive_time"},
		},
		{
			name:    "base knob section removed (older script)",
			fixture: "gather-listeners-procnet.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "@@fleettune@@ sysctl net.ipv4.tcp_keepalive_time\n7200\n", "")
			},
			want: []string{"no section for net.ipv4.tcp_keepalive_time"},
		},
		{
			name:    "proc section cut short",
			fixture: "gather-default.txt",
			edit: func(t *testing.T, s string) string {
				i := strings.Index(s, fixtureBootID)
				j := strings.Index(s, "@@fleettune@@ listen")
				return s[:i] + s[j:]
			},
			want: []string{"read sysctls", "the /proc section has 1 lines for 8 files"},
		},
		{
			name:    "cat of the proc files failed",
			fixture: "gather-default.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "FRAG: inuse 0 memory 0\n", "FRAG: inuse 0 memory 0\n!failed\n")
			},
			want: []string{"read sysctls", "cat of the /proc files failed"},
		},
		{
			name:    "ss failed",
			fixture: "gather-listeners.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "@@fleettune@@ listen ss\n", "@@fleettune@@ listen ss\n!failed\n")
			},
			want: []string{"read listeners", "ss -tn state listening failed"},
		},
		{
			name:    "ss line without an address",
			fixture: "gather-listeners.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "0.0.0.0:15000", "Cannot-open-netlink")
			},
			want: []string{"read listeners", "Cannot-open-netlink"},
		},
		{
			name:    "ss port that is not a number",
			fixture: "gather-listeners.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "0.0.0.0:15000", "0.0.0.0:http")
			},
			want: []string{"read listeners", "unexpected port", "0.0.0.0:http"},
		},
		{
			name:    "ss port wider than 16 bits",
			fixture: "gather-listeners.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "0.0.0.0:15000", "0.0.0.0:75000")
			},
			want: []string{"read listeners", "0.0.0.0:75000"},
		},
		{
			name:    "listen row that is not hex",
			fixture: "gather-listeners-procnet.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "00000000:3A98\n", "00000000:ZZZZ\n")
			},
			want: []string{"read listeners", `"00000000:ZZZZ"`},
		},
		{
			name:    "listen row without a port",
			fixture: "gather-listeners-procnet.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "00000000:3A98\n", "awk: cannot open /proc/net/tcp\n")
			},
			want: []string{"read listeners", `"awk: cannot open /proc/net/tcp"`},
		},
		{
			name:    "listen port wider than 16 bits",
			fixture: "gather-listeners-procnet.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "00000000:3A98\n", "00000000:13A98\n")
			},
			want: []string{"read listeners", "13A98"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := readLinuxFixture(t, tt.fixture)
			if tt.edit != nil {
				out = tt.edit(t, out)
			}
			f, err := ParseLinuxFacts(out, linuxKnobList(tt.native...))
			if err == nil {
				t.Fatalf("ParseLinuxFacts succeeded (%+v), want an error", f)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Values compare by meaning: the live range is tab-separated, the persisted
// one space-separated, and a live value written with spaces is the same.
func TestParseLinuxFactsValuesByMeaning(t *testing.T) {
	for _, live := range []string{"10240\t65535", "10240 65535", "  10240   65535  "} {
		out := readLinuxFixture(t, "gather-converged.txt")
		out = replaceOnce(t, out, "10240\t65535\n", live+"\n")
		f, err := ParseLinuxFacts(out, linuxKnobList())
		if err != nil {
			t.Fatal(err)
		}
		r := PortRange{10240, 65535}
		p := linuxDriver{}.Propose(f, Targets{EphemeralPorts: &r}, Guardrails{})
		if len(p.Changes) != 0 {
			t.Errorf("live %q: changes %+v, want none", live, p.Changes)
		}
	}
}

// The fixtures must stay the output of the current gather script: a
// "sysctl NAME" section for each knob the kernel lacks (!missing), one
// "proc" section listing uname, boot_id, every other knob in the script's
// order and sockstat, then the listeners from ss. File sections depend on
// the host and are not compared.
func TestLinuxFixturesMatchGatherScript(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		native  []string
	}{
		{"gather-default.txt", nil},
		{"gather-drift.txt", nil},
		{"gather-listeners.txt", nil},
		{"gather-converged.txt", nil},
		{"gather-later-override.txt", nil},
		{"gather-native.txt", nativeFixtureKnobs},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			got := fixtureSections(readLinuxFixture(t, tt.fixture))
			missing := map[string]bool{}
			for _, s := range got {
				if k, ok := strings.CutPrefix(s, sectionMarker+"sysctl "); ok {
					missing[k] = true
				}
			}
			var want []string
			proc := sectionMarker + "proc uname boot_id"
			for _, k := range linuxKnobs(tt.native) {
				if missing[k] {
					want = append(want, sectionMarker+"sysctl "+k)
				} else {
					proc += " " + k
				}
			}
			want = append(want, proc+" sockstat", sectionMarker+"listen ss")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fixture sections\n %q\nscript sections\n %q", got, want)
			}
			if !strings.Contains(LinuxGatherScript(tt.native), "ss -tn state listening") {
				t.Error("the script no longer reads listeners with ss -tn state listening")
			}
		})
	}
}

func fixtureSections(out string) []string {
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, sectionMarker) && !strings.HasPrefix(line, sectionMarker+"file ") {
			got = append(got, line)
		}
	}
	return got
}

// effectiveSysctl follows systemd-sysctl: per file name the first directory
// of /etc, /run, /usr/local/lib, /usr/lib, /lib wins; files apply in name
// order whatever their directory; a later assignment wins; /etc/sysctl.conf
// comes last.
func TestEffectiveSysctl(t *testing.T) {
	type want struct{ value, source string }
	tests := []struct {
		name  string
		files []sysctlFile
		want  map[string]want
	}{
		{
			name: "same name: /etc masks /usr/lib whatever the input order",
			files: []sysctlFile{
				{"/usr/lib/sysctl.d/50-x.conf", "k = 1\n"},
				{"/etc/sysctl.d/50-x.conf", "k = 2\n"},
			},
			want: map[string]want{"k": {"2", "/etc/sysctl.d/50-x.conf:1"}},
		},
		{
			name: "same name: /run masks /usr/local/lib, which masks /usr/lib",
			files: []sysctlFile{
				{"/usr/local/lib/sysctl.d/50-x.conf", "k = local\nj = local\n"},
				{"/run/sysctl.d/50-x.conf", "k = run\n"},
				{"/usr/lib/sysctl.d/50-x.conf", "k = usr\nj = usr\nm = usr\n"},
			},
			// masking is per file: j and m from the masked files are gone
			want: map[string]want{"k": {"run", "/run/sysctl.d/50-x.conf:1"}},
		},
		{
			name: "/lib copy of a /usr/lib file does not re-apply after later names",
			files: []sysctlFile{
				{"/usr/lib/sysctl.d/10-vendor.conf", "k = vendor\n"},
				{"/usr/lib/sysctl.d/60-other.conf", "k = other\n"},
				{"/lib/sysctl.d/10-vendor.conf", "k = vendor\n"},
				{"/lib/sysctl.d/60-other.conf", "k = other\n"},
			},
			want: map[string]want{"k": {"other", "/usr/lib/sysctl.d/60-other.conf:1"}},
		},
		{
			name: "/usr/lib masks /lib",
			files: []sysctlFile{
				{"/lib/sysctl.d/50-x.conf", "k = lib\n"},
				{"/usr/lib/sysctl.d/50-x.conf", "k = usr\n"},
			},
			want: map[string]want{"k": {"usr", "/usr/lib/sysctl.d/50-x.conf:1"}},
		},
		{
			name: "name order across directories",
			files: []sysctlFile{
				{"/etc/sysctl.d/20-b.conf", "k = b\n"},
				{"/usr/lib/sysctl.d/30-c.conf", "k = c\nj = c\n"},
				{"/run/sysctl.d/10-a.conf", "k = a\nj = a\n"},
				{"/usr/lib/sysctl.d/05-z.conf", "j = z\n"},
			},
			want: map[string]want{
				"k": {"c", "/usr/lib/sysctl.d/30-c.conf:1"},
				"j": {"c", "/usr/lib/sysctl.d/30-c.conf:2"},
			},
		},
		{
			name: "later assignment in one file wins",
			files: []sysctlFile{
				{"/etc/sysctl.d/50-x.conf", "k = 1\n# k = 3\nk=2\n; k = 4\n"},
			},
			want: map[string]want{"k": {"2", "/etc/sysctl.d/50-x.conf:3"}},
		},
		{
			name: "/etc/sysctl.conf last, even after 99-*",
			files: []sysctlFile{
				{"/etc/sysctl.conf", "k = conf\n"},
				{"/etc/sysctl.d/99-z.conf", "k = z\nj = z\n"},
			},
			want: map[string]want{
				"k": {"conf", "/etc/sysctl.conf:1"},
				"j": {"z", "/etc/sysctl.d/99-z.conf:2"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := effectiveSysctl(tt.files)
			if len(got) != len(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for k, w := range tt.want {
				if g := got[k]; g.value != w.value || g.source != w.source {
					t.Errorf("%s = %q from %s, want %q from %s", k, g.value, g.source, w.value, w.source)
				}
			}
		})
	}
}

func TestEffectiveSysctlDefaultFixture(t *testing.T) {
	// The Debian vendor files appear under /usr/lib and again under /lib.
	var files []sysctlFile
	for _, s := range splitSections(readLinuxFixture(t, "gather-default.txt")).all("file ") {
		files = append(files, sysctlFile{Path: strings.TrimPrefix(s.name, "file "), Body: s.body})
	}
	if len(files) != 5 {
		t.Fatalf("read %d files, want 5", len(files))
	}
	got := effectiveSysctl(files)
	want := map[string]sysctlValue{
		"kernel.pid_max":         {"4194304", "/usr/lib/sysctl.d/50-pid-max.conf:16"},
		"fs.protected_fifos":     {"1", "/usr/lib/sysctl.d/99-protect-links.conf:7"},
		"fs.protected_hardlinks": {"1", "/usr/lib/sysctl.d/99-protect-links.conf:8"},
		"fs.protected_regular":   {"2", "/usr/lib/sysctl.d/99-protect-links.conf:9"},
		"fs.protected_symlinks":  {"1", "/usr/lib/sysctl.d/99-protect-links.conf:10"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestParseSysctlLine(t *testing.T) {
	tests := []struct {
		line       string
		key, value string
		ok         bool
	}{
		{"net.ipv4.tcp_keepalive_time = 300", "net.ipv4.tcp_keepalive_time", "300", true},
		{"net.ipv4.tcp_keepalive_time=300", "net.ipv4.tcp_keepalive_time", "300", true},
		{"  net.ipv4.ip_local_port_range =  20000\t50001 ", "net.ipv4.ip_local_port_range", "20000\t50001", true},
		{"net/ipv4/tcp_keepalive_time=600", "net.ipv4.tcp_keepalive_time", "600", true},
		// sysctl.d(5): with / as the first separator, / and . swap
		{"net/ipv4/conf/eth0.100/forwarding = 1", "net.ipv4.conf.eth0/100.forwarding", "1", true},
		{"net.ipv4.conf.eth0/100.forwarding = 1", "net.ipv4.conf.eth0/100.forwarding", "1", true},
		{"-net.ipv4.tcp_tw_recycle = 0", "net.ipv4.tcp_tw_recycle", "0", true},
		{"net.ipv4.ip_local_reserved_ports =", "net.ipv4.ip_local_reserved_ports", "", true},
		{"# net.ipv4.tcp_keepalive_time = 300", "", "", false},
		{"; net.ipv4.tcp_keepalive_time = 300", "", "", false},
		{"   ", "", "", false},
		{"net.ipv4.tcp_keepalive_time", "", "", false},
		{"= 5", "", "", false},
	}
	for _, tt := range tests {
		k, v, ok := parseSysctlLine(tt.line)
		if ok != tt.ok || ok && (k != tt.key || v != tt.value) {
			t.Errorf("parseSysctlLine(%q) = %q, %q, %v; want %q, %q, %v", tt.line, k, v, ok, tt.key, tt.value, tt.ok)
		}
	}
}

func dur(d time.Duration) *time.Duration { return &d }
func rng(lo, hi int) *PortRange          { return &PortRange{lo, hi} }

const (
	persistRange   = LinuxPersistFile + ": net.ipv4.ip_local_port_range = "
	persistKeep    = LinuxPersistFile + ": net.ipv4.tcp_keepalive_time = "
	timeWaitNote   = "time_wait: fixed at 60s by the Linux kernel; not changeable at runtime"
	twReuseNote    = "net.ipv4.tcp_tw_reuse is 0: outgoing connections cannot reuse TIME_WAIT ports (1 helps clients with timestamps on)"
	setRange10240  = "sysctl -w net.ipv4.ip_local_port_range='10240 65535'"
	setKeepalive30 = "sysctl -w net.ipv4.tcp_keepalive_time=300"
)

func TestLinuxPropose(t *testing.T) {
	protect := Guardrails{}
	rangeChange := func(current, atBoot, target string, cmds ...string) Change {
		lo, hi, _ := strings.Cut(target, "-")
		return Change{Setting: "ephemeral_ports", Knob: linuxPortRange, Current: current, AtBoot: atBoot,
			Target: target, Commands: cmds, Persist: persistRange + lo + " " + hi}
	}
	tests := []struct {
		name    string
		fixture string
		native  []string
		edit    func(t *testing.T, s string) string
		targets Targets
		guard   Guardrails
		changes []Change
		notes   []string
	}{
		{
			name:    "converged: nothing to do",
			fixture: "gather-converged.txt",
			targets: Targets{EphemeralPorts: rng(10240, 65535), KeepaliveTime: dur(5 * time.Minute)},
			guard:   protect,
		},
		{
			name:    "default: range and keepalive change, nothing persisted",
			fixture: "gather-default.txt",
			targets: Targets{EphemeralPorts: rng(10240, 65535), KeepaliveTime: dur(5 * time.Minute)},
			guard:   protect,
			changes: []Change{
				rangeChange("32768-60999", "kernel default", "10240-65535", setRange10240),
				{Setting: "keepalive_time", Knob: linuxKeepalive, Current: "2h0m0s", AtBoot: "kernel default", Target: "5m0s",
					Commands: []string{setKeepalive30}, Persist: persistKeep + "300"},
			},
		},
		{
			name:    "time_wait is reported as fixed, never changed",
			fixture: "gather-default.txt",
			targets: Targets{TimeWait: dur(30 * time.Second)},
			guard:   protect,
			notes:   []string{timeWaitNote},
		},
		{
			name:    "drift: at next boot shows the persisted keepalive",
			fixture: "gather-drift.txt",
			targets: Targets{EphemeralPorts: rng(10240, 65535), KeepaliveTime: dur(5 * time.Minute)},
			guard:   protect,
			changes: []Change{
				// range: live and persisted agree on 20000-50001, no drift shown
				rangeChange("20000-50001", "", "10240-65535", setRange10240),
				{Setting: "keepalive_time", Knob: linuxKeepalive, Current: "2h0m0s", AtBoot: "10m0s", Target: "5m0s",
					Commands: []string{setKeepalive30}, Persist: persistKeep + "300"},
			},
		},
		{
			name:    "drift: persisted value already the target, live is not",
			fixture: "gather-drift.txt",
			targets: Targets{EphemeralPorts: rng(20000, 50001), KeepaliveTime: dur(10 * time.Minute)},
			guard:   protect,
			changes: []Change{
				{Setting: "keepalive_time", Knob: linuxKeepalive, Current: "2h0m0s", AtBoot: "10m0s", Target: "10m0s",
					Commands: []string{"sysctl -w net.ipv4.tcp_keepalive_time=600"}, Persist: persistKeep + "600"},
			},
		},
		{
			name:    "live already right but not persisted: persist only",
			fixture: "gather-default.txt",
			targets: Targets{EphemeralPorts: rng(32768, 60999), KeepaliveTime: dur(2 * time.Hour)},
			guard:   protect,
			changes: []Change{
				rangeChange("32768-60999", "kernel default (not persisted)", "32768-60999"),
				{Setting: "keepalive_time", Knob: linuxKeepalive, Current: "2h0m0s", AtBoot: "kernel default (not persisted)",
					Target: "2h0m0s", Persist: persistKeep + "7200"},
			},
		},
		{
			name:    "a range over a listening port is the planner's to refuse, not the driver's",
			fixture: "gather-listeners.txt",
			targets: Targets{EphemeralPorts: rng(10240, 65535)},
			guard:   protect,
			changes: []Change{rangeChange("32768-60999", "kernel default", "10240-65535", setRange10240)},
		},
		{
			name:    "listener on a reserved port is no reason to refuse",
			fixture: "gather-listeners.txt",
			targets: Targets{EphemeralPorts: rng(20000, 65535)},
			guard:   protect,
			changes: []Change{rangeChange("32768-60999", "kernel default", "20000-65535", "sysctl -w net.ipv4.ip_local_port_range='20000 65535'")},
		},
		{
			name:    "protect_listening_ports off allows the range",
			fixture: "gather-listeners.txt",
			targets: Targets{EphemeralPorts: rng(10240, 65535)},
			guard:   Guardrails{},
			changes: []Change{rangeChange("32768-60999", "kernel default", "10240-65535", setRange10240)},
		},
		{
			name:    "low end below ip_unprivileged_port_start is refused",
			fixture: "gather-default.txt",
			targets: Targets{EphemeralPorts: rng(1000, 65535)},
			guard:   Guardrails{},
			changes: []Change{func() Change {
				c := rangeChange("32768-60999", "kernel default", "1000-65535", "sysctl -w net.ipv4.ip_local_port_range='1000 65535'")
				c.Refused = "low end 1000 is below net.ipv4.ip_unprivileged_port_start (1024); the kernel rejects it"
				return c
			}()},
		},
		{
			name:    "low end equal to ip_unprivileged_port_start is fine",
			fixture: "gather-default.txt",
			targets: Targets{EphemeralPorts: rng(1024, 65535)},
			guard:   protect,
			changes: []Change{rangeChange("32768-60999", "kernel default", "1024-65535", "sysctl -w net.ipv4.ip_local_port_range='1024 65535'")},
		},
		{
			name:    "same parity: warned, not refused",
			fixture: "gather-default.txt",
			targets: Targets{EphemeralPorts: rng(10240, 65534)},
			guard:   protect,
			changes: []Change{rangeChange("32768-60999", "kernel default", "10240-65534", "sysctl -w net.ipv4.ip_local_port_range='10240 65534'")},
			notes:   []string{"ephemeral_ports 10240-65534: start and end have the same parity; Linux prefers an even number of ports (e.g. 10240-65533)"},
		},
		{
			name:    "a later sysctl.d file wins at boot: note names it",
			fixture: "gather-later-override.txt",
			targets: Targets{EphemeralPorts: rng(10240, 65535)},
			guard:   protect,
			changes: []Change{rangeChange("10240-65535", "32768-60999", "10240-65535")},
			notes: []string{"net.ipv4.ip_local_port_range is also set in /etc/sysctl.d/99-local.conf:1, which is read after " +
				LinuxPersistFile + " and wins at boot; remove it there"},
		},
		{
			name:    "/etc/sysctl.conf wins at boot: note names it",
			fixture: "gather-default.txt",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "#kernel.sysrq=438\n", "net.ipv4.tcp_keepalive_time = 600\n")
			},
			targets: Targets{KeepaliveTime: dur(5 * time.Minute)},
			guard:   protect,
			changes: []Change{{Setting: "keepalive_time", Knob: linuxKeepalive, Current: "2h0m0s", AtBoot: "10m0s", Target: "5m0s",
				Commands: []string{setKeepalive30}, Persist: persistKeep + "300"}},
			notes: []string{"net.ipv4.tcp_keepalive_time is also set in /etc/sysctl.conf:67, which is read after " +
				LinuxPersistFile + " and wins at boot; remove it there"},
		},
		{
			name:    "an earlier sysctl.d file does not get the note",
			fixture: "gather-drift.txt",
			targets: Targets{KeepaliveTime: dur(5 * time.Minute)},
			guard:   protect,
			changes: []Change{{Setting: "keepalive_time", Knob: linuxKeepalive, Current: "2h0m0s", AtBoot: "10m0s", Target: "5m0s",
				Commands: []string{setKeepalive30}, Persist: persistKeep + "300"}},
		},
		{
			name:    "native: tcp_tw_reuse set",
			fixture: "gather-native.txt",
			native:  nativeFixtureKnobs,
			targets: Targets{Native: map[string]string{"net.ipv4.tcp_tw_reuse": "1"}},
			guard:   protect,
			changes: []Change{{Setting: "native", Knob: "net.ipv4.tcp_tw_reuse", Current: "0", AtBoot: "kernel default", Target: "1",
				Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse='1'"}, Persist: LinuxPersistFile + ": net.ipv4.tcp_tw_reuse = 1"}},
		},
		{
			name:    "native: tcp_tw_reuse 0 without a target gets a note",
			fixture: "gather-native.txt",
			native:  nativeFixtureKnobs,
			guard:   protect,
			notes:   []string{twReuseNote},
		},
		{
			name:    "native: lowering tcp_max_tw_buckets is refused",
			fixture: "gather-native.txt",
			native:  nativeFixtureKnobs,
			targets: Targets{Native: map[string]string{"net.ipv4.tcp_max_tw_buckets": "65536"}},
			guard:   protect,
			changes: []Change{{Setting: "native", Knob: "net.ipv4.tcp_max_tw_buckets", Current: "131072", AtBoot: "kernel default", Target: "65536",
				Commands: []string{"sysctl -w net.ipv4.tcp_max_tw_buckets='65536'"}, Persist: LinuxPersistFile + ": net.ipv4.tcp_max_tw_buckets = 65536",
				Refused: "lowering net.ipv4.tcp_max_tw_buckets (131072 to 65536) destroys TIME_WAIT sockets early; the kernel documentation says never to lower it"}},
			notes: []string{twReuseNote},
		},
		{
			name:    "native: raising tcp_max_tw_buckets is fine",
			fixture: "gather-native.txt",
			native:  nativeFixtureKnobs,
			targets: Targets{Native: map[string]string{"net.ipv4.tcp_max_tw_buckets": "262144", "net.ipv4.tcp_tw_reuse": "1"}},
			guard:   protect,
			changes: []Change{
				{Setting: "native", Knob: "net.ipv4.tcp_max_tw_buckets", Current: "131072", AtBoot: "kernel default", Target: "262144",
					Commands: []string{"sysctl -w net.ipv4.tcp_max_tw_buckets='262144'"}, Persist: LinuxPersistFile + ": net.ipv4.tcp_max_tw_buckets = 262144"},
				{Setting: "native", Knob: "net.ipv4.tcp_tw_reuse", Current: "0", AtBoot: "kernel default", Target: "1",
					Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse='1'"}, Persist: LinuxPersistFile + ": net.ipv4.tcp_tw_reuse = 1"},
			},
		},
		{
			name:    "native: tcp_tw_recycle is refused",
			fixture: "gather-native.txt",
			native:  nativeFixtureKnobs,
			targets: Targets{Native: map[string]string{"net.ipv4.tcp_tw_recycle": "1"}},
			guard:   protect,
			changes: []Change{{Setting: "native", Knob: "net.ipv4.tcp_tw_recycle", Target: "1",
				Refused: "native knob net.ipv4.tcp_tw_recycle refused: " + refusedKnobs[Linux]["net.ipv4.tcp_tw_recycle"]}},
			notes: []string{twReuseNote},
		},
		{
			name:    "native: a knob this kernel lacks is refused",
			fixture: "gather-native.txt",
			native:  nativeFixtureKnobs,
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "131072\n", "!missing\n")
			},
			targets: Targets{Native: map[string]string{"net.ipv4.tcp_max_tw_buckets": "262144"}},
			guard:   protect,
			changes: []Change{{Setting: "native", Knob: "net.ipv4.tcp_max_tw_buckets", Current: "(missing)", Target: "262144",
				Refused: "this kernel has no net.ipv4.tcp_max_tw_buckets"}},
			notes: []string{twReuseNote},
		},
		{
			name:    "native: reserved ports compare as sets",
			fixture: "gather-listeners.txt",
			targets: Targets{Native: map[string]string{"net.ipv4.ip_local_reserved_ports": "40000-40010, 30080"}},
			guard:   protect,
			changes: []Change{{Setting: "native", Knob: "net.ipv4.ip_local_reserved_ports", Current: "30080,40000-40010",
				AtBoot: "kernel default (not persisted)", Target: "40000-40010, 30080",
				Persist: LinuxPersistFile + ": net.ipv4.ip_local_reserved_ports = 40000-40010, 30080"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := readLinuxFixture(t, tt.fixture)
			if tt.edit != nil {
				out = tt.edit(t, out)
			}
			f, err := ParseLinuxFacts(out, linuxKnobList(tt.native...))
			if err != nil {
				t.Fatal(err)
			}
			p := linuxDriver{}.Propose(f, tt.targets, tt.guard)
			p.Changes = untyped(p.Changes)
			if len(p.Changes) != len(tt.changes) {
				t.Errorf("got %d changes, want %d", len(p.Changes), len(tt.changes))
			}
			for i := 0; i < len(p.Changes) || i < len(tt.changes); i++ {
				var got, want Change
				if i < len(p.Changes) {
					got = p.Changes[i]
				}
				if i < len(tt.changes) {
					want = tt.changes[i]
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("change %d:\n got  %#v\n want %#v", i, got, want)
				}
			}
			if !reflect.DeepEqual(p.Notes, tt.notes) {
				t.Errorf("notes:\n got  %q\n want %q", p.Notes, tt.notes)
			}
			for _, c := range p.Changes {
				if c.RebootRequired || c.RebootReason != "" {
					t.Errorf("%s: a sysctl change never needs a reboot: %+v", c.Knob, c)
				}
			}
		})
	}
}

// fakeRunner answers every command with one result and records the commands.
type fakeRunner struct {
	res  remote.Result
	err  error
	cmds []string
}

func (r *fakeRunner) Run(_ context.Context, cmd string) (remote.Result, error) {
	r.cmds = append(r.cmds, cmd)
	return r.res, r.err
}

func TestLinuxGather(t *testing.T) {
	errDown := errors.New("connection reset by peer")
	native := readLinuxFixture(t, "gather-native.txt")
	tests := []struct {
		name    string
		res     remote.Result
		err     error
		native  []string
		wantErr []string
		// knobs the script must read, and strings it must not contain
		reads    []string
		notReads []string
	}{
		{
			name:   "reads the base and the native knobs",
			res:    remote.Result{Stdout: []byte(native)},
			native: nativeFixtureKnobs,
			reads:  append(linuxKnobList(), nativeFixtureKnobs...),
		},
		{
			name: "a native name fleettune does not know never reaches the shell",
			res:  remote.Result{Stdout: []byte(native)},
			native: append([]string{"net.ipv4.tcp_max_tw_buckets'; reboot; echo '", "kernel.$(reboot)"},
				nativeFixtureKnobs...),
			reads:    append(linuxKnobList(), nativeFixtureKnobs...),
			notReads: []string{"reboot"},
		},
		{
			name:    "non-zero exit",
			res:     remote.Result{ExitCode: 126, Stderr: []byte("sh: 1: awk: Permission denied\nmore\n")},
			wantErr: []string{"read sysctls", "exit status 126", "awk: Permission denied"},
		},
		{
			name:    "transport error",
			err:     errDown,
			wantErr: []string{"read sysctls", "connection reset by peer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeRunner{res: tt.res, err: tt.err}
			f, err := linuxDriver{}.Gather(context.Background(), r, tt.native)
			if len(r.cmds) != 1 {
				t.Fatalf("ran %d commands, want one", len(r.cmds))
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Errorf("error %v does not wrap %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.reads {
				if !strings.Contains(r.cmds[0], "if [ -r /proc/sys/"+strings.ReplaceAll(k, ".", "/")+" ]") {
					t.Errorf("script does not read %s", k)
				}
				if _, ok := f.Knobs[k]; !ok {
					t.Errorf("facts lack %s", k)
				}
			}
			for _, s := range tt.notReads {
				if strings.Contains(r.cmds[0], s) {
					t.Errorf("script contains %q:\n%s", s, r.cmds[0])
				}
			}
		})
	}
}

func TestFor(t *testing.T) {
	for _, os := range OSNames {
		d, err := For(os)
		if err != nil || d.OS() != os {
			t.Fatalf("For(%s) = %v, %v", os, d, err)
		}
	}
	if _, err := For("beos"); err == nil || !strings.Contains(err.Error(), `unknown OS "beos"`) {
		t.Errorf("For(beos) error = %v, want unknown OS", err)
	}
}

// The gather script is valid sh and its output on this machine parses. It
// runs only where the script's inputs exist (a Linux host with /proc).
func TestLinuxGatherScriptRunsHere(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err != nil {
		t.Skip("no /proc/sys/kernel/random/boot_id here")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	knobs := linuxKnobList(nativeFixtureKnobs...)
	out, err := exec.Command(sh, "-c", linuxGatherScript(knobs)).Output()
	if err != nil {
		t.Fatalf("gather script: %v", err)
	}
	f, err := ParseLinuxFacts(string(out), knobs)
	if err != nil {
		t.Fatalf("ParseLinuxFacts on this host's output: %v\n%s", err, out)
	}
	if want, _ := os.ReadFile("/proc/sys/kernel/random/boot_id"); f.BootID != strings.TrimSpace(string(want)) {
		t.Errorf("BootID = %q, want %q", f.BootID, want)
	}
	if _, err := parseLinuxRange(f.Knobs[linuxPortRange].Live); err != nil {
		t.Errorf("live port range: %v", err)
	}
}

func TestSplitSectionsKeepsBodiesExactAndIsLinear(t *testing.T) {
	out := sectionMarker + "a\nx\ny\n" + sectionMarker + "b\r\nz\r\n" + sectionMarker + "c\nlast"
	s := splitSections(out)
	want := []section{{"a", "x\ny\n"}, {"b", "z\n"}, {"c", "last"}}
	if len(s) != len(want) {
		t.Fatalf("got %d sections, want %d: %q", len(s), len(want), s)
	}
	for i := range want {
		if s[i] != want[i] {
			t.Errorf("section %d = %q, want %q", i, s[i], want[i])
		}
	}
	// A body of 200,000 lines must be sliced, not built up line by line:
	// appending allocates once per line (and copies quadratically).
	big := sectionMarker + "file /etc/sysctl.d/huge.conf\n" + strings.Repeat("x\n", 200000)
	allocs := testing.AllocsPerRun(1, func() { _ = splitSections(big) })
	if allocs > 10 {
		t.Errorf("splitSections made %.0f allocations for one 200,000-line body; want a handful", allocs)
	}
}

// The kernel counts keepalive in whole seconds: a fractional or sub-second
// target is refused, never truncated to another value.
func TestLinuxKeepaliveWholeSeconds(t *testing.T) {
	f, err := ParseLinuxFacts(readLinuxFixture(t, "gather-default.txt"), linuxKnobList())
	if err != nil {
		t.Fatal(err)
	}
	d := linuxDriver{}
	for _, tc := range []struct {
		ka      time.Duration
		refused string
	}{
		{1500 * time.Millisecond, "1.5s is not a whole number of seconds (give e.g. 2s)"},
		{500 * time.Millisecond, "500ms is not a whole number of seconds (give e.g. 1s)"},
		{0, "0s is not a whole number of seconds (give e.g. 1s)"},
		{5*time.Minute + time.Millisecond, "5m0.001s is not a whole number of seconds (give e.g. 5m0s)"},
		{5 * time.Minute, ""},
		{time.Second, ""},
	} {
		p, err := Propose(d, f, Targets{KeepaliveTime: &tc.ka}, Guardrails{})
		if err != nil {
			t.Fatalf("%s: %v", tc.ka, err)
		}
		if len(p.Changes) != 1 {
			t.Fatalf("%s: %+v", tc.ka, p.Changes)
		}
		c := p.Changes[0]
		if tc.refused == "" {
			if c.Refused != "" || len(c.Commands) != 1 || c.Commands[0] != fmt.Sprintf("sysctl -w %s=%d", linuxKeepalive, tc.ka/time.Second) {
				t.Errorf("%s: %+v", tc.ka, c)
			}
			continue
		}
		if !strings.Contains(c.Refused, tc.refused) || len(c.Commands) != 0 || c.Persist != "" || len(p.Steps) != 0 {
			t.Errorf("%s: refused %q, commands %q, steps %q; want refused with %q and nothing to run", tc.ka, c.Refused, c.Commands, p.Steps, tc.refused)
		}
	}
}
