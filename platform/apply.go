package platform

import (
	"context"
	"strings"
)

// Snapshot is what a host had before fleettune changed it: enough to put it
// back exactly. The journal records it before any command runs.
type Snapshot struct {
	// Knobs holds, for every knob a change touches, its live and persisted
	// state before the change.
	Knobs map[string]KnobState `json:"knobs"`
	// Files holds the configuration files fleettune writes (on Linux
	// /etc/sysctl.d/90-fleettune.conf) with their content before the change;
	// a nil value means the file did not exist, and restoring removes it.
	Files map[string]*string `json:"files,omitempty"`
}

// KnobState is one knob's state at a moment.
type KnobState struct {
	Live      string `json:"live"`
	Missing   bool   `json:"missing,omitempty"`
	AtBoot    string `json:"at_boot,omitempty"`
	AtBootSet bool   `json:"at_boot_set,omitempty"`
}

// Counters are kernel TCP counters by name (e.g. "TcpExt.PAWSEstab",
// "Tcp.AttemptFails"); monotonic since boot.
type Counters map[string]int64

// Applier is the writing half of a driver. Every command it returns is built
// from typed values and known knob names only.
type Applier interface {
	// Snapshot takes from facts what RestoreCommands needs to undo changes.
	Snapshot(f *Facts, changes []Change) Snapshot
	// ApplyCommands makes changes live and persistent, in order: the runtime
	// commands, then the write of the persistent configuration, merged with
	// what fleettune persisted before and never touching other files.
	// Refused changes are an error.
	ApplyCommands(f *Facts, changes []Change) ([]string, error)
	// RestoreCommands bring a host whose current facts are f back to snap:
	// live values and persisted configuration (removing fleettune's file when
	// there was none). Nothing to do gives no commands.
	RestoreCommands(f *Facts, snap Snapshot) ([]string, error)
	// Differences lists how f differs from snap, for verifying a restore;
	// empty when the host is back where it was.
	Differences(f *Facts, snap Snapshot) []string
}

// HealthReader reads the counters that show handshake and protocol
// failures, for the rollout's health check.
type HealthReader interface {
	Counters(ctx context.Context, r Runner) (Counters, error)
	// Thresholds are the default per-watch-window increases above which a
	// host is unhealthy, by counter name.
	Thresholds() map[string]int64
}

// AwaitsReboot ends a Differences line that only the next boot clears: the
// knob cannot change at run time, and its persisted value is already back.
const AwaitsReboot = " (not run-time settable; the persisted value applies at the next boot)"

// SplitAwaitingReboot separates Differences lines that only a reboot clears
// (AwaitsReboot) from the others, which mean a restore did not take.
func SplitAwaitingReboot(diff []string) (pending, other []string) {
	for _, d := range diff {
		if strings.HasSuffix(d, AwaitsReboot) {
			pending = append(pending, d)
		} else {
			other = append(other, d)
		}
	}
	return pending, other
}

// stateOf is a knob's state as a Snapshot records it.
func stateOf(k Knob) KnobState {
	return KnobState{Live: k.Live, Missing: k.Missing, AtBoot: k.AtBoot, AtBootSet: k.AtBootSet}
}

// persistedFile records under path fleettune's persisted file from f: its
// content, or nil when there was none (restoring then removes it).
func (s *Snapshot) persistedFile(path string, f *Facts) {
	if s.Files == nil {
		s.Files = map[string]*string{}
	}
	if !f.PersistedExists {
		s.Files[path] = nil
		return
	}
	content := f.Persisted
	s.Files[path] = &content
}

// fileDifference says how fleettune's persisted file in f differs from
// what snap recorded under path; "" when it is as it was or not tracked.
func fileDifference(path string, f *Facts, snap Snapshot) string {
	content, tracked := snap.Files[path]
	switch {
	case !tracked:
		return ""
	case content == nil && f.PersistedExists:
		return path + " exists; there was none"
	case content != nil && !f.PersistedExists:
		return path + " is missing"
	case content != nil && f.Persisted != *content:
		return path + " differs from its previous content"
	}
	return ""
}
