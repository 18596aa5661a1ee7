package platform

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixedRunner answers every command with the same output: the fuzzer's.
type fixedRunner struct{ out []byte }

func (r fixedRunner) Run(context.Context, string) (Result, error) {
	return Result{Stdout: r.out}, nil
}

// fuzzGather feeds a driver's gather parser arbitrary host output, seeded
// with the fixtures copied from real hosts: it must return facts or an
// error, never panic, and whatever it accepts must propose and snapshot.
func fuzzGather(f *testing.F, osName string) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", osName, "gather-*.txt"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	d, err := For(osName)
	if err != nil {
		f.Fatal(err)
	}
	r := PortRange{20000, 60999}
	tw, ka := 30*time.Second, 5*time.Minute
	targets := Targets{EphemeralPorts: &r, TimeWait: &tw, KeepaliveTime: &ka}
	f.Fuzz(func(t *testing.T, out []byte) {
		facts, err := d.Gather(context.Background(), fixedRunner{out}, nil)
		if err != nil {
			return
		}
		p, err := Propose(d, facts, targets, Guardrails{})
		if err != nil {
			return
		}
		snap := d.Snapshot(facts, p.Changes)
		_, _ = d.RestoreCommands(facts, snap)
	})
}

func FuzzGatherLinux(f *testing.F)   { fuzzGather(f, Linux) }
func FuzzGatherSolaris(f *testing.F) { fuzzGather(f, Solaris) }
func FuzzGatherHPUX(f *testing.F)    { fuzzGather(f, HPUX) }
func FuzzGatherAIX(f *testing.F)     { fuzzGather(f, AIX) }
func FuzzGatherTru64(f *testing.F)   { fuzzGather(f, Tru64) }
func FuzzGatherWindows(f *testing.F) { fuzzGather(f, Windows) }
