package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleettune/fleettune/internal/termsafe"
	"github.com/fleettune/fleettune/playbooks"
)

// exitError carries an exit status; err may be nil when the status is the
// result (plan's 2 means "changes pending", not a failure).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// badInput is exit status 1 with err.
func badInput(err error) error { return &exitError{code: 1, err: err} }

// globals are the streams, environment and flags every command shares.
// Nothing in cmd/fleettune reaches for os.Stdin, os.Stdout, os.Stderr or
// os.Getenv: they come from run's arguments, so tests run the whole
// command line in-process.
type globals struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// getenv reads the environment: FLEETTUNE_* defaults, NO_COLOR, and
	// for remote sessions password_env and SSH_AUTH_SOCK. The demo lends
	// its lab's password through it.
	getenv func(string) string
	// isTerminal reports whether a stream (stdin, stdout) is a terminal;
	// run asks it once, about the streams as given.
	isTerminal          func(stream any) bool
	stdinTTY, stdoutTTY bool
	// stderrTTY: stderr is a terminal, so apply draws its live progress.
	stderrTTY bool
	// dial reaches hosts; nil is remote.Dial.
	dial playbooks.Dialer

	stop <-chan struct{} // closed by the first interrupt
	// changing is set once apply or rollback starts on hosts: from then
	// on an interrupt has hosts in flight to finish.
	changing atomic.Bool
	stateDir string
	// stateDirFlag is --state-dir as given ("" when defaulted).
	stateDirFlag string
	// state is --state: a postgres:// URL (state.go).
	state    string
	logLevel string
	noColor  bool
	// detail is --detail of plan and apply: every host on its own.
	detail bool
	// planAudit is plan --audit: each host's audit grade in its header.
	planAudit bool
	log       *log.Logger
}

// run is the whole command line: it parses args, runs the command and
// returns the exit status. main gives it the process's streams and
// environment and a context carrying the first-interrupt channel.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, isTerminal: fileIsTerminal}
	return g.run(ctx, args)
}

// run runs one command line with g's streams.
func (g *globals) run(ctx context.Context, args []string) int {
	if g.getenv == nil {
		g.getenv = func(string) string { return "" }
	}
	if g.isTerminal == nil {
		g.isTerminal = func(any) bool { return false }
	}
	g.stdinTTY, g.stdoutTTY = g.isTerminal(g.stdin), g.isTerminal(g.stdout)
	g.stderrTTY = g.isTerminal(g.stderr)
	// The logger, the prompt and the interrupt notices share stderr from
	// several goroutines.
	g.stdout, g.stderr = &lockedWriter{w: g.stdout}, &lockedWriter{w: g.stderr}
	g.stop = interruptOf(ctx)
	g.log = log.New(io.Discard)

	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)

	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := g.setup(); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.noticeInterrupts(ctx, cmd.Name(), done)
		}()
		return nil
	}
	return g.exitCode(root.ExecuteContext(ctx))
}

// noticeInterrupts tells the operator what an interrupt does to the
// command that is running.
func (g *globals) noticeInterrupts(ctx context.Context, command string, done <-chan struct{}) {
	first, second := "interrupted: stopping", ""
	switch command {
	case "apply", "rollback":
		// Before any host is touched (planning, the prompt) the command
		// itself says that nothing was changed.
		first = ""
	case "lab":
		first = "interrupted: stopping the lab"
	case "demo":
		first = "interrupted: stopping the demo"
	}
	select {
	case <-done:
		return
	case <-g.stop:
	}
	if g.changing.Load() {
		first = "interrupted: finishing the hosts in flight, starting no more (interrupt again to abandon them)"
		second = "interrupted again: abandoning the hosts in flight; the journal allows a rollback"
	}
	if first != "" {
		fmt.Fprintln(g.stderr, "fleettune: "+first)
	}
	if second == "" {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
		fmt.Fprintln(g.stderr, "fleettune: "+second)
	}
}

func (g *globals) exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			g.printError(ee.err)
		}
		return ee.code
	}
	g.printError(err)
	return 1
}

// printError shows an error on stderr. Errors quote files and hosts, so
// control characters in them are shown escaped, and the lines after the
// first are indented: a host's text never starts a line of its own.
func (g *globals) printError(err error) {
	msg := strings.ReplaceAll(termsafe.Text(strings.TrimRight(err.Error(), "\n")), "\n", "\n  ")
	fmt.Fprintln(g.stderr, "fleettune: "+msg)
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "fleettune",
		Short: "Find and fix TCP ephemeral-port exhaustion across a fleet",
		Long: `fleettune reads each host's ephemeral port range, TIME_WAIT and keepalive
settings over SSH, compares them with a playbook, and shows (plan) or makes
(apply) the per-OS changes, persisted the way each OS persists them.

Defaults for -i, -p and --state-dir come from FLEETTUNE_INVENTORY,
FLEETTUNE_PLAYBOOK and FLEETTUNE_STATE_DIR. Logs go to stderr, results to
stdout; with --format json stdout is one JSON document.`,
		Version:       buildVersion().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", "", "where runs are recorded (default $FLEETTUNE_STATE_DIR or $XDG_STATE_HOME/fleettune)")
	root.PersistentFlags().StringVar(&g.state, "state", "", "a postgres:// URL: a journal and per-host locks shared by a team (default $FLEETTUNE_STATE; see fleettune state)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")
	root.PersistentFlags().BoolVar(&g.noColor, "no-color", false, "never colour the output")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	root.AddCommand(newPlanCmd(g), newApplyCmd(g), newRollbackCmd(g), newStatusCmd(g))
	root.AddCommand(newLabCmd(g), newDemoCmd(g), newVersionCmd(g))
	root.AddCommand(newAuditCmd(g))
	root.AddCommand(newStateCmd(g))
	// Fixed choices complete the same on every command.
	_ = root.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	for _, c := range root.Commands() {
		if c.Flags().Lookup("format") != nil {
			_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	return root
}

func (g *globals) setup() error {
	lvl, err := log.ParseLevel(g.logLevel)
	if err != nil {
		return badInput(fmt.Errorf("--log-level %q: expected debug, info, warn or error", g.logLevel))
	}
	g.log = log.NewWithOptions(g.stderr, log.Options{Level: lvl, ReportTimestamp: true, TimeFormat: "15:04:05"})
	g.stateDirFlag = g.stateDir
	if g.stateDir == "" {
		g.stateDir = g.defaultStateDir()
	}
	return nil
}

func (g *globals) defaultStateDir() string {
	if d := g.getenv("FLEETTUNE_STATE_DIR"); d != "" {
		return d
	}
	if d := g.getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "fleettune")
	}
	if home := g.getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "fleettune")
	}
	return filepath.Join(".", ".fleettune-state")
}

// orEnv is flag when set, else the environment variable name.
func (g *globals) orEnv(flag, name string) string {
	if flag != "" {
		return flag
	}
	return g.getenv(name)
}

// readCtx is ctx cancelled also by the first interrupt, for commands that
// only read.
func (g *globals) readCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-g.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// color reports whether stdout should be coloured.
func (g *globals) color() bool {
	if g.noColor || g.getenv("NO_COLOR") != "" || g.getenv("TERM") == "dumb" {
		return false
	}
	return g.stdoutTTY
}

// stderrColor: colour for what goes to stderr (the progress display).
func (g *globals) stderrColor() bool {
	if g.noColor || g.getenv("NO_COLOR") != "" || g.getenv("TERM") == "dumb" {
		return false
	}
	return g.stderrTTY
}

// fileIsTerminal is the real terminal detection: a stream is a terminal
// when it is a file descriptor (an *os.File) open on one.
func fileIsTerminal(stream any) bool {
	f, ok := stream.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// through sends the writes to w, which wraps the writer l had (a live
// progress line that keeps log lines above it), until the returned func
// puts that writer back.
func (l *lockedWriter) through(wrap func(inner io.Writer) io.Writer) (restore func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	inner := l.w
	l.w = wrap(inner)
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.w = inner
	}
}

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}
