// Command fleettune finds and fixes TCP ephemeral-port exhaustion across a
// fleet: it reads each host's port range, TIME_WAIT and keepalive settings
// over SSH, compares them with a playbook and changes them.
//
// main only turns signals into a context and calls run; everything else
// takes its streams, environment and terminal detection from run's
// arguments, so the whole command line is tested in-process.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// forceExitGrace is how long the process waits, after the interrupt that
// cancels everything, for the command to write its journal end record and
// output before it exits regardless (code busy parsing does not watch ctx).
const forceExitGrace = 3 * time.Second

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go handleSignals(sigs, stop, cancel, forceExitGrace, func(code int) {
		fmt.Fprintln(os.Stderr, "fleettune: still busy after the second interrupt; exiting now (the journal allows a rollback)")
		os.Exit(code)
	})
	stopProfile := startCPUProfile(os.Getenv("FLEETTUNE_CPUPROFILE"), os.Stderr)
	code := run(withInterrupt(ctx, stop), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	cancel()
	stopProfile()
	writeAllocsProfile(os.Getenv("FLEETTUNE_ALLOCSPROFILE"), os.Stderr)
	os.Exit(code)
}

// writeAllocsProfile writes what the run allocated, by call site, to path
// when it is set (FLEETTUNE_ALLOCSPROFILE, undocumented like the CPU one).
func writeAllocsProfile(path string, stderr io.Writer) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleettune: FLEETTUNE_ALLOCSPROFILE: %v\n", err)
	}
}

// startCPUProfile writes a CPU profile of the whole run to path when it is
// set (FLEETTUNE_CPUPROFILE, undocumented: for `go tool pprof`), and
// returns what stops it. A profile that cannot be started is reported and
// the command runs without one.
func startCPUProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "fleettune: FLEETTUNE_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(stderr, "fleettune: FLEETTUNE_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "fleettune: FLEETTUNE_CPUPROFILE: %v\n", err)
		}
	}
}

// handleSignals is main's signal policy. The first signal (Ctrl-C or a
// supervisor's SIGTERM) closes stop: apply and rollback finish the hosts in
// flight and start no more; commands that only read stop at once. The
// second signal of either kind cancels the context, and if the command has
// not ended grace later, exit ends the process with 128+signal, as a shell
// reports a process killed by that signal.
func handleSignals(sigs <-chan os.Signal, stop chan<- struct{}, cancel context.CancelFunc, grace time.Duration, exit func(code int)) {
	<-sigs
	close(stop)
	s := <-sigs
	cancel()
	time.Sleep(grace)
	exit(128 + signalNumber(s))
}

func signalNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return int(syscall.SIGINT)
}

// interruptKey carries the first-interrupt channel in a context.
type interruptKey struct{}

// withInterrupt returns ctx carrying stop, closed by the first interrupt.
func withInterrupt(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, interruptKey{}, stop)
}

// interruptOf is the first-interrupt channel of ctx; nil (never closed)
// when there is none.
func interruptOf(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(interruptKey{}).(<-chan struct{})
	return c
}
