package audit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// fakeHost answers uname and the Linux script, counting what it ran.
type fakeHost struct {
	mu     sync.Mutex
	out    string
	ran    []string
	closed bool
}

func (f *fakeHost) Run(_ context.Context, cmd string) (remote.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran = append(f.ran, cmd)
	if cmd == platform.DetectCommand {
		return remote.Result{Stdout: []byte("Linux 6.1.0-18-amd64 #1 SMP\n")}, nil
	}
	return remote.Result{Stdout: []byte(f.out)}, nil
}

func (f *fakeHost) Close() error { f.closed = true; return nil }

func TestAuditorRun(t *testing.T) {
	busy := &fakeHost{out: linuxHost{low: 32768, high: 60999, dests: []linuxDest{{addr: "10.0.0.5:5432", tw: 20000}}}.output()}
	quiet := &fakeHost{out: linuxHost{low: 32768, high: 60999}.output()}
	sessions := []Session{busy, quiet}
	wide := platform.PortRange{Low: 10240, High: 65535}
	var asked []string
	var mu sync.Mutex
	targets := []Target{
		{Name: "busy", Groups: []string{"all"}, WhatIf: func(os string) (*platform.Targets, error) {
			mu.Lock()
			asked = append(asked, os)
			mu.Unlock()
			return &platform.Targets{EphemeralPorts: &wide}, nil
		}},
		{Name: "quiet", OS: platform.Linux, Groups: []string{"all"}},
		{Name: "down", Groups: []string{"all"}},
	}
	a := &Auditor{
		Dial: func(_ context.Context, i int) (Session, error) {
			if i == 2 {
				return nil, &remote.Error{Host: "down", Kind: remote.ErrUnreachable, Err: fmt.Errorf("connection refused")}
			}
			return sessions[i], nil
		},
		Forks: 2, Sample: Sample{N: 2, Interval: 10 * time.Millisecond}, Thresholds: DefaultThresholds(),
	}
	rep := a.Run(context.Background(), targets)
	b, q, d := rep.Hosts[0], rep.Hosts[1], rep.Hosts[2]
	if b.Grade != Warn || b.Samples != 2 || len(b.WhatIf) != 1 || strings.Join(asked, ",") != "linux" {
		t.Errorf("busy = %s samples %d what-if %+v asked %v", b.Grade, b.Samples, b.WhatIf, asked)
	}
	// Detection, then the script twice, on one session that is closed.
	if len(busy.ran) != 3 || busy.ran[0] != platform.DetectCommand || !busy.closed {
		t.Errorf("busy ran %d commands, closed %v", len(busy.ran), busy.closed)
	}
	if len(quiet.ran) != 2 || q.Grade != OK {
		t.Errorf("quiet ran %d commands (the inventory's os: skips detection), grade %s", len(quiet.ran), q.Grade)
	}
	if d.Status != StatusUnreachable || !strings.Contains(d.Error, "connection refused") {
		t.Errorf("down = %+v", d)
	}
	if rep.ExitCode() != 1 || rep.Fleet.NotRead != 1 || rep.Sample != "2x10ms" {
		t.Errorf("exit %d fleet %+v sample %q", rep.ExitCode(), rep.Fleet, rep.Sample)
	}
}

// An interrupted audit reads no more hosts and says why.
func TestAuditorInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := &Auditor{Dial: func(context.Context, int) (Session, error) { t.Error("dialled after the interrupt"); return nil, nil },
		Forks: 1, Thresholds: DefaultThresholds()}
	rep := a.Run(ctx, []Target{{Name: "a"}, {Name: "b"}})
	for _, h := range rep.Hosts {
		if h.Status != StatusFailed || h.Error != "not read: interrupted" {
			t.Errorf("%+v", h)
		}
	}
}
