// Command fleettune finds and fixes TCP ephemeral-port exhaustion across a
// fleet: it reads each host's port range, TIME_WAIT and keepalive settings
// over SSH, compares them with a playbook and changes them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"
	"golang.org/x/term"
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

// globals are the flags every command shares.
type globals struct {
	stop     <-chan struct{} // closed by the first interrupt
	stateDir string
	// state is --state: a postgres:// URL (state.go); stateDirSet says
	// --state-dir was given too.
	state       string
	stateDirSet bool
	logLevel    string
	noColor     bool
	log         *log.Logger
	// getenv reads the environment for remote sessions (password_env,
	// SSH_AUTH_SOCK); nil is os.Getenv. The demo lends its lab's password.
	getenv func(string) string
}

func main() {
	// The first Ctrl-C closes stop: apply and rollback finish the hosts in
	// flight and start no more. The second cancels ctx: abandon now (the
	// journal still allows a rollback). Commands that only read treat the
	// first as the second.
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "fleettune: interrupted: finishing hosts in flight, starting no more (interrupt again to abandon them)")
		close(stop)
		<-sigs
		fmt.Fprintln(os.Stderr, "fleettune: interrupted again: abandoning hosts in flight")
		cancel()
	}()
	err := newRoot(stop).ExecuteContext(ctx)
	cancel()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "fleettune: "+ee.err.Error())
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "fleettune: "+err.Error())
	return 1
}

func newRoot(stop <-chan struct{}) *cobra.Command {
	g := &globals{stop: stop}
	root := &cobra.Command{
		Use:   "fleettune",
		Short: "Find and fix TCP ephemeral-port exhaustion across a fleet",
		Long: `fleettune reads each host's ephemeral port range, TIME_WAIT and keepalive
settings over SSH, compares them with a playbook, and shows (plan) or makes
(apply) the per-OS changes, persisted the way each OS persists them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g.stateDirSet = cmd.Flags().Changed("state-dir")
			return g.setup()
		},
	}
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", "", "where runs are recorded (default $FLEETTUNE_STATE_DIR or $XDG_STATE_HOME/fleettune)")
	root.PersistentFlags().StringVar(&g.state, "state", "", "a postgres:// URL: a journal and per-host locks shared by a team (default $FLEETTUNE_STATE; see fleettune state)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")
	root.PersistentFlags().BoolVar(&g.noColor, "no-color", false, "never colour the output")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 1, err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(newPlanCmd(g), newApplyCmd(g), newRollbackCmd(g), newStatusCmd(g))
	root.AddCommand(newLabCmd(g), newDemoCmd(g), newStateCmd(g))
	return root
}

func (g *globals) setup() error {
	lvl, err := log.ParseLevel(g.logLevel)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--log-level %q: expected debug, info, warn or error", g.logLevel)}
	}
	g.log = log.NewWithOptions(os.Stderr, log.Options{Level: lvl, ReportTimestamp: true, TimeFormat: "15:04:05"})
	if g.stateDir == "" {
		g.stateDir = defaultStateDir()
	}
	return nil
}

func defaultStateDir() string {
	if d := os.Getenv("FLEETTUNE_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "fleettune")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".", ".fleettune-state")
	}
	return filepath.Join(home, ".local", "state", "fleettune")
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
	if g.noColor || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(os.Stdout.Fd()))
}
