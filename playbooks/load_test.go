package playbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/yamlx"
	"github.com/fleettune/fleettune/platform"
)

const tdir = "testdata/playbooks"

func ports(lo, hi int) *platform.PortRange { return &platform.PortRange{Low: lo, High: hi} }
func dur(d time.Duration) *time.Duration   { return &d }

func mustLoad(t *testing.T, file string) *Playbook {
	t.Helper()
	pb, err := Load(filepath.Join(tdir, file))
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	return pb
}

// The contract's example playbook, verbatim, parses to exactly these values.
func TestParseContractExample(t *testing.T) {
	pb := mustLoad(t, "contract.yaml")
	data, err := os.ReadFile(filepath.Join(tdir, "contract.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := &Playbook{
		File:   filepath.Join(tdir, "contract.yaml"),
		Digest: "sha256:" + hex.EncodeToString(sum[:]),
		Name:   "port-hygiene",
		Targets: Targets{
			EphemeralPorts: ports(10240, 65535),
			TimeWait:       dur(30 * time.Second),
			KeepaliveTime:  dur(5 * time.Minute),
		},
		Overrides: []Override{
			{When: Match{OS: "linux"}, Targets: Targets{EphemeralPorts: ports(20000, 60999)}, Line: 7},
			{When: Match{Group: "db"}, Native: map[string]map[string]string{"linux": {"net.ipv4.tcp_tw_reuse": "1"}}, Line: 9},
		},
		Guardrails: Guardrails{MinTimeWait: 10 * time.Second, ProtectListeningPorts: true},
		Rollout:    Rollout{Batch: Ramp{{Percent: 25}}, MaxFailures: Budget{Count: 0}},
		Health: Health{
			Watch:     2 * time.Minute,
			Counters:  true,
			Probe:     map[string]string{"linux": "/usr/local/bin/check-app-handshakes"},
			Rollback:  "auto",
			Unchecked: "refuse",
		},
	}
	if !reflect.DeepEqual(pb, want) {
		t.Errorf("parsed:\n%#v\nwant:\n%#v", *pb, *want)
	}
	if len(pb.Digest) != len("sha256:")+64 {
		t.Errorf("digest %q: want sha256:<64 hex>", pb.Digest)
	}
}

// Blocks that are missing, and blocks that override every default.
func TestLoadDefaultsAndExplicit(t *testing.T) {
	tests := []struct {
		file string
		want Playbook // File and Digest are not compared
	}{
		{"minimal.yaml", Playbook{
			Name:       "minimal", // from the file name
			Targets:    Targets{EphemeralPorts: ports(10240, 65535)},
			Guardrails: Guardrails{MinTimeWait: 10 * time.Second, ProtectListeningPorts: true},
			Rollout:    Rollout{Batch: Ramp{{Percent: 25}}},
			Health:     Health{Watch: 2 * time.Minute, Counters: true, Rollback: "manual", Unchecked: "refuse"},
		}},
		{"explicit.yaml", Playbook{
			Name:       "explicit",
			Targets:    Targets{TimeWait: dur(300 * time.Second)}, // the maximum is allowed
			Guardrails: Guardrails{MinTimeWait: time.Second, ProtectListeningPorts: false},
			Rollout:    Rollout{Batch: Ramp{{Count: 3}}, MaxFailures: Budget{Count: 2}},
			Health:     Health{Watch: 0, Counters: false, Rollback: "manual", Unchecked: "refuse"},
		}},
		{"lowered-min.yaml", Playbook{
			Name:       "lowered-min",
			Targets:    Targets{TimeWait: dur(5 * time.Second)},
			Guardrails: Guardrails{MinTimeWait: 5 * time.Second, ProtectListeningPorts: true},
			Rollout:    Rollout{Batch: Ramp{{Percent: 25}}},
			Health:     Health{Watch: 2 * time.Minute, Counters: true, Rollback: "manual", Unchecked: "refuse"},
		}},
		{"native-only.yaml", Playbook{
			Name: "native-only",
			Overrides: []Override{{
				When: Match{Host: "db*"},
				Native: map[string]map[string]string{"linux": {
					"net.ipv4.tcp_tw_reuse":            "2",
					"net.ipv4.ip_local_reserved_ports": "8080,9000-9100",
				}},
				Line: 3,
			}},
			Guardrails: Guardrails{MinTimeWait: 10 * time.Second, ProtectListeningPorts: true},
			Rollout:    Rollout{Batch: Ramp{{Percent: 25}}},
			Health:     Health{Watch: 2 * time.Minute, Counters: true, Rollback: "manual", Unchecked: "refuse"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pb := mustLoad(t, tt.file)
			got := *pb
			got.File, got.Digest = "", ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parsed:\n%#v\nwant:\n%#v", got, tt.want)
			}
		})
	}
}

// Every bad input is refused with the file, line, column and what was
// expected.
func TestLoadErrors(t *testing.T) {
	const os = "linux, windows, solaris, hpux, aix, tru64"
	tests := []struct{ file, want string }{
		// structure and types
		{"unknown-top.yaml", `4:1: playbook: unknown key "rolout" (expected one of: audit, guardrails, health, name, overrides, rollout, targets)`},
		{"unknown-target.yaml", `3:3: targets: unknown key "time_wiat" (expected one of: ephemeral_ports, keepalive_time, time_wait)`},
		{"duplicate.yaml", `3:3: targets: duplicate key "time_wait" (first at line 2)`},
		{"wrong-type-targets.yaml", `1:10: targets: expected a mapping, found a list`},
		{"wrong-type-bool.yaml", `4:28: guardrails.protect_listening_ports: expected true or false, found the string "yes"`},
		{"duration-no-unit.yaml", `2:14: targets.time_wait: 30 has no unit; write a Go duration such as 30s`},
		{"syntax.yaml", `4: invalid YAML: mapping values are not allowed in this context`},
		// ephemeral_ports
		{"port-zero.yaml", `3:20: targets.ephemeral_ports: port range "0-5000": ports must be between 1 and 65535`},
		{"port-65536.yaml", `2:20: targets.ephemeral_ports: port range "10240-65536": ports must be between 1 and 65535`},
		{"port-reversed.yaml", `2:20: targets.ephemeral_ports: port range "60000-50000": low end must be below high end`},
		{"port-equal.yaml", `2:20: targets.ephemeral_ports: port range "40000-40000": low end must be below high end`},
		{"port-syntax.yaml", `2:20: targets.ephemeral_ports: port range "10240:65535": expected LOW-HIGH, e.g. 10240-65535`},
		{"port-int.yaml", `2:20: targets.ephemeral_ports: expected a port range LOW-HIGH such as 10240-65535, found an integer`},
		// time_wait, keepalive_time and guardrails
		{"time-wait-low.yaml", `4:14: targets.time_wait: 5s is below guardrails.min_time_wait (10s)`},
		// min_time_wait comes after the overrides; 20s (equal) passes, 15s does not
		{"time-wait-low-override.yaml", `7:26: overrides[1].targets.time_wait: 15s is below guardrails.min_time_wait (20s)`},
		{"min-time-wait-low.yaml", `4:18: guardrails.min_time_wait: 500ms is below 1s; TIME_WAIT must never be below the retransmission timeout`},
		{"keepalive-fraction.yaml", `2:19: targets.keepalive_time: 1500ms is not a whole number of seconds (every OS counts keepalive time in seconds)`},
		{"keepalive-low.yaml", `2:19: targets.keepalive_time: 0s is below 1s`},
		// rollout and health
		{"batch-zero.yaml", `4:10: rollout.batch: "0": a batch must hold at least 1 host`},
		{"batch-150.yaml", `4:10: rollout.batch: "150%": a percentage must be between 1% and 100%`},
		{"batch-x.yaml", `4:10: rollout.batch: "x%": expected a count such as 5 or a percentage such as 25%`},
		{"batch-list-zero.yaml", `4:19: rollout.batch[2]: "0": a batch must hold at least 1 host`},
		{"batch-list-empty.yaml", `4:10: rollout.batch: an empty list; expected sizes such as [1, 10%, 25%]`},
		{"batch-list-nested.yaml", `4:14: rollout.batch[1]: expected a count such as 5, a percentage such as 25%, or a list such as [1, 10%, 25%], found a list`},
		{"max-failures-150.yaml", `4:17: rollout.max_failures: "150%": a percentage must be between 0% and 100%`},
		{"max-failures-negative.yaml", `4:17: rollout.max_failures: -1 is negative; 0 stops at the first failure`},
		{"rollback-bad.yaml", `4:13: health.rollback: "sometimes" is not one of: auto, manual`},
		{"probe-bad-os.yaml", `6:5: health.probe: unknown OS family "macos" (expected one of: ` + os + `)`},
		{"probe-empty.yaml", `5:12: health.probe.linux: empty command`},
		{"probe-multiline.yaml", `5:12: health.probe.linux: the command must be a single line`},
		// overrides and native knobs
		{"native-unknown.yaml", `6:9: overrides[0].native.linux: unknown native knob net.core.somaxconn for linux (expected one of net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes, net.ipv4.tcp_max_tw_buckets, net.ipv4.tcp_timestamps, net.ipv4.tcp_tw_reuse)`},
		{"native-recycle.yaml", `4:15: overrides[0].native.linux: native knob net.ipv4.tcp_tw_recycle refused: tcp_tw_recycle breaks clients behind NAT and was removed in Linux 4.12; fleettune never sets it`},
		{"native-bad-value.yaml", `5:9: overrides[0].native.linux: native knob net.ipv4.tcp_tw_reuse = "7": expected 0, 1 or 2`},
		{"native-bad-os.yaml", `5:7: overrides[0].native: unknown OS family "freebsd" (expected one of: ` + os + `)`},
		{"native-unsupported-os.yaml", `6:7: overrides[0].native: native knobs for "solaris" are not supported (known: linux)`},
		{"native-wrong-os.yaml", `4:7: overrides[0].native: linux knobs can never apply: this override's when.os is "windows"`},
		{"when-bad-os.yaml", `4:16: overrides[0].when.os: unknown OS family "Linux" (expected one of: ` + os + `)`},
		{"when-os-glob-none.yaml", `4:16: overrides[0].when.os: "free*" matches no OS family (known: ` + os + `)`},
		{"when-bad-glob.yaml", `4:18: overrides[0].when.host: "web[01" is not a valid glob pattern`},
		{"when-empty.yaml", `4:11: overrides[0].when: empty; give at least one of os, group, host (globs allowed)`},
		{"when-missing.yaml", `4:5: overrides[0]: missing when (which hosts the override is for, e.g. when: {group: db})`},
		{"override-noop.yaml", `4:5: overrides[0]: has neither targets nor native; it would change nothing`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			file := filepath.Join(tdir, "bad", tt.file)
			pb, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", file, pb)
			}
			if got, want := err.Error(), file+":"+tt.want; got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			ye, ok := yamlx.AsError(err)
			if !ok || ye.File != file || ye.Line == 0 {
				t.Errorf("error %#v: want a *yamlx.Error with the file and a line", err)
			}
		})
	}
}

// Errors that have no place in the file.
func TestLoadErrorsWithoutPosition(t *testing.T) {
	const nothing = "nothing to tune: set targets.ephemeral_ports, targets.time_wait or targets.keepalive_time, or a native knob in an override"
	tests := []struct {
		name string
		run  func() (*Playbook, error)
		want string
	}{
		{"nothing to tune", func() (*Playbook, error) { return Load(filepath.Join(tdir, "bad", "nothing.yaml")) },
			filepath.Join(tdir, "bad", "nothing.yaml") + ": " + nothing},
		{"empty file", func() (*Playbook, error) { return Parse("empty.yaml", nil) }, "empty.yaml: " + nothing},
		{"not a mapping", func() (*Playbook, error) { return Parse("list.yaml", []byte("- a\n- b\n")) },
			"list.yaml:1:1: expected a mapping at the top level, found a list"},
		{"missing file", func() (*Playbook, error) { return Load(filepath.Join(tdir, "no-such.yaml")) },
			"reading playbook: open " + filepath.Join(tdir, "no-such.yaml") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb, err := tt.run()
			if err == nil {
				t.Fatalf("got %+v, want an error", pb)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

// The digest is of the exact bytes: any change, even a comment, changes it.
func TestParseDigest(t *testing.T) {
	src := "targets:\n  time_wait: 30s\n"
	a, err := Parse("a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte(src+"# comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(src))
	if want := "sha256:" + hex.EncodeToString(sum[:]); a.Digest != want {
		t.Errorf("digest %s, want %s", a.Digest, want)
	}
	if a.Digest == b.Digest {
		t.Errorf("a comment did not change the digest %s", a.Digest)
	}
	if a.Name != "a" || a.File != "a.yaml" {
		t.Errorf("name %q file %q, want a and a.yaml", a.Name, a.File)
	}
}

func TestParseBatch(t *testing.T) {
	tests := []struct {
		in      string
		want    Batch
		wantErr string
		size    [2]int // hosts selected -> batch size
	}{
		{in: "25%", want: Batch{Percent: 25}, size: [2]int{10, 3}}, // rounded up
		{in: "100%", want: Batch{Percent: 100}, size: [2]int{7, 7}},
		{in: "1%", want: Batch{Percent: 1}, size: [2]int{3, 1}}, // at least one host
		{in: " 5 ", want: Batch{Count: 5}, size: [2]int{3, 3}},  // never more than selected
		{in: "1", want: Batch{Count: 1}, size: [2]int{40, 1}},
		{in: "0", wantErr: `"0": a batch must hold at least 1 host`},
		{in: "-2", wantErr: `"-2": a batch must hold at least 1 host`},
		{in: "0%", wantErr: `"0%": a percentage must be between 1% and 100%`},
		{in: "150%", wantErr: `"150%": a percentage must be between 1% and 100%`},
		{in: "x%", wantErr: `"x%": expected a count such as 5 or a percentage such as 25%`},
		{in: "", wantErr: `"": expected a count such as 5 or a percentage such as 25%`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, err := ParseBatch(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseBatch(%q) = %v, %v; want error %s", tt.in, b, err, tt.wantErr)
				}
				return
			}
			if err != nil || b != tt.want {
				t.Fatalf("ParseBatch(%q) = %v, %v; want %v", tt.in, b, err, tt.want)
			}
			if b.String() != strings.TrimSpace(tt.in) {
				t.Errorf("String() = %q, want %q", b.String(), strings.TrimSpace(tt.in))
			}
			if got := b.Size(tt.size[0]); got != tt.size[1] {
				t.Errorf("Size(%d) = %d, want %d", tt.size[0], got, tt.size[1])
			}
		})
	}
	if got := (Batch{}).Size(9); got != 9 {
		t.Errorf("zero Batch: Size(9) = %d, want all 9", got)
	}
	if got := (Batch{Percent: 25}).Size(0); got != 0 {
		t.Errorf("Size(0) = %d, want 0", got)
	}
}

// The shipped example loads, and says what its comments say.
func TestExamplePlaybook(t *testing.T) {
	pb, err := Load(filepath.Join("..", "examples", "playbook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if pb.Name != "port-hygiene" || pb.Rollout.Batch.String() != "25%" || pb.Health.Rollback != RollbackAuto {
		t.Errorf("name %q batch %v rollback %q", pb.Name, pb.Rollout.Batch, pb.Health.Rollback)
	}
	got, err := pb.Resolve("linux", []string{"all", "db"}, "db1.example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := platform.Targets{
		EphemeralPorts: ports(20000, 60999),
		TimeWait:       dur(30 * time.Second),
		KeepaliveTime:  dur(5 * time.Minute),
		Native:         map[string]string{"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "30"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("db1 targets %+v, want %+v", got, want)
	}
}
