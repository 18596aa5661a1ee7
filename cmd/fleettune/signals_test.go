package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/lab"
)

// The signal policy: the first signal only closes stop; the second
// cancels, and if the command is still busy after the grace, exits with
// 128+signal whatever the command is doing.
func TestHandleSignals(t *testing.T) {
	for _, tc := range []struct {
		second os.Signal
		code   int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
		sigs := make(chan os.Signal, 2)
		stop := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		exited := make(chan int, 1)
		go handleSignals(sigs, stop, cancel, 10*time.Millisecond, func(code int) { exited <- code })

		sigs <- os.Interrupt
		<-stop
		if ctx.Err() != nil {
			t.Fatalf("the first signal cancelled the context; it must only stop new work")
		}
		select {
		case code := <-exited:
			t.Fatalf("the first signal ended the process (%d)", code)
		case <-time.After(50 * time.Millisecond):
		}
		sigs <- tc.second
		<-ctx.Done()
		// A command busy parsing never looks at ctx: only exit ends it.
		if code := <-exited; code != tc.code {
			t.Errorf("second signal %v: exit %d, want %d", tc.second, code, tc.code)
		}
	}
}

// The real binary against a host that hangs: the first Ctrl-C lets the
// host in flight finish (the process stays), and a second signal, Ctrl-C
// or a supervisor's SIGTERM, ends it promptly.
func TestSecondSignalEndsAHangingApply(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "fleettune")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, second := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(second.String(), func(t *testing.T) {
			f := newFleet(t, 1)
			planFile := filepath.Join(t.TempDir(), "plan.json")
			if r := f.run("plan", "-i", f.lab.Inventory, "-p", f.playbook, "--out", planFile); r.code != 2 {
				t.Fatalf("plan: %s", r)
			}
			// From now on the host takes an hour to answer each command.
			if err := f.lab.SetFaults("sol10-01", lab.Faults{Delay: time.Hour}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "apply", planFile, "--yes", "--state-dir", f.stateDir)
			cmd.Env = []string{"HOME=" + t.TempDir(), "NO_COLOR=1"}
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					<-done
				}
			})
			// In flight: the host has an open connection and its command hangs.
			waitFor(t, "apply to reach the host", func() bool {
				return strings.Contains(stderr.String(), "applying") && f.lab.OpenConnections("sol10-01") > 0
			})
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first interrupt's notice", func() bool {
				return strings.Contains(stderr.String(), "finishing the hosts in flight")
			})
			select {
			case err := <-done:
				t.Fatalf("the first interrupt ended apply (%v) with a host in flight:\n%s", err, stderr.String())
			case <-time.After(time.Second):
			}
			if err := cmd.Process.Signal(second); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(forceExitGrace + 20*time.Second): // a guard, far above the grace
				t.Fatalf("the second signal (%v) did not end apply:\n%s", second, stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Errorf("apply ended with %v after two signals; want a failure exit", err)
			}
			t.Logf("exit after two signals: %v\n%s", err, stderr.String())
			if !strings.Contains(stderr.String(), "abandoning the hosts in flight") {
				t.Errorf("no notice of the second signal:\n%s", stderr.String())
			}
			// The journal knows the run did not finish, so a rollback can
			// find it.
			runs := f.runs(journal.KindApply)
			if len(runs) != 1 || runs[0].End != nil && runs[0].End.Status == journal.EndDone {
				t.Errorf("the abandoned run is journalled as done")
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// What an interrupt says fits the command: the lab has no hosts in flight.
func TestInterruptNoticeFitsTheCommand(t *testing.T) {
	f := newFleet(t, 1)
	stop := make(chan struct{})
	stderr := &syncBuffer{}
	done := make(chan result, 1)
	go func() {
		done <- f.runOn(tty{interrupt: stop, stderr: stderr}, "lab", "--hosts", "1")
	}()
	waitFor(t, "the lab to serve", func() bool { return strings.Contains(stderr.String(), "lab serving") })
	close(stop)
	r := <-done
	if r.code != 0 || !strings.Contains(r.stderr, "fleettune: interrupted: stopping the lab") || strings.Contains(r.stderr, "in flight") {
		t.Errorf("lab interrupted: %s", r)
	}
	if !strings.Contains(r.stdout, "lnx-01") { // the lab's mix starts with a Linux host
		t.Errorf("the lab did not list its host: %s", r)
	}
}
