package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/journal/pgstore"
	"github.com/fleettune/fleettune/playbooks"
)

// stateTarget is where runs are kept: --state (or FLEETTUNE_STATE), a
// postgres:// URL shared by a team, else the state directory.
func (g *globals) stateTarget() (dsn string, err error) {
	// A flag beats the environment: --state-dir given on the command line
	// wins over FLEETTUNE_STATE; --state and --state-dir together are an
	// error.
	s := g.state
	from := "--state"
	if s != "" && g.stateDirFlag != "" {
		return "", errors.New("--state and --state-dir both given: choose one place for the journal")
	}
	if s == "" && g.stateDirFlag == "" {
		s, from = g.getenv("FLEETTUNE_STATE"), "FLEETTUNE_STATE"
	}
	if s == "" {
		return "", nil
	}
	if !pgstore.IsDSN(s) {
		return "", fmt.Errorf("%s: expected a postgres:// URL (for a directory, use --state-dir)", from)
	}
	return s, nil
}

// openStore opens the journal the global flags name.
func (g *globals) openStore(ctx context.Context) (*journal.Store, error) {
	dsn, err := g.stateTarget()
	if err != nil {
		return nil, err
	}
	if dsn == "" {
		return journal.Open(g.stateDir)
	}
	st, err := pgstore.OpenStore(ctx, dsn, g.getenv)
	if err != nil {
		return nil, err
	}
	// Records the database refuses mid-run are kept on this machine, in
	// the state dir (a journal of its own, read with --state-dir).
	st.KeepUnsentIn(g.stateDir)
	return st, nil
}

// reportKept says where records the database refused were kept.
func reportKept(g *globals, w *journal.Writer) {
	if path, n := w.Kept(); n > 0 {
		g.log.Error("the database refused records of this run; they are kept on this machine", "records", n, "file", path,
			"read with", "fleettune --state-dir "+filepath.Dir(filepath.Dir(path))+" status")
	}
}

// lockHosts takes the host locks of a run (per host with a database, a
// no-op under the state dir's lock) and returns the hosts it got and, as
// failed outcomes, those another fleettune holds.
func lockHosts(ctx context.Context, lock journal.Lock, run string, hosts []*inventory.Host) ([]*inventory.Host, []playbooks.HostOutcome, error) {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	refused, err := lock.Hosts(ctx, run, names)
	if err != nil {
		return nil, nil, err
	}
	if len(refused) == 0 {
		return hosts, nil, nil
	}
	var keep []*inventory.Host
	var failed []playbooks.HostOutcome
	for _, h := range hosts {
		if e := refused[h.Name]; e != nil {
			failed = append(failed, playbooks.HostOutcome{Host: h.Name, OS: h.OS, Status: playbooks.StatusFailed, Error: e.Error() + "; not touched"})
			continue
		}
		keep = append(keep, h)
	}
	return keep, failed, nil
}

// stopOrLost is the engine's Stop: the first interrupt, or the run's host
// locks lost with its database session, whichever comes first. Either way
// the hosts in flight finish and no further host starts.
func stopOrLost(ctx context.Context, g *globals, lock journal.Lock) <-chan struct{} {
	lost := lock.Lost()
	if lost == nil {
		return g.stop
	}
	out := make(chan struct{})
	go func() {
		defer close(out)
		select {
		case <-g.stop:
		case <-lost:
			g.log.Error("the database session is lost, and this run's host locks with it; starting no further host")
		case <-ctx.Done():
		}
	}()
	return out
}

// journalRefused records the hosts refused for their locks as failed, so
// that the run's counts say so; without a before record, rollback leaves
// them alone.
func journalRefused(w *journal.Writer, refused []playbooks.HostOutcome) error {
	for _, h := range refused {
		if err := w.Append(journal.ResultRecord{Host: h.Host, Status: journal.StatusFailed, Error: h.Error}); err != nil {
			return err
		}
	}
	return nil
}

// addRefused puts hosts refused for their locks into an outcome, in name
// order among the others.
func addRefused(out *playbooks.Outcome, refused []playbooks.HostOutcome) {
	if len(refused) == 0 {
		return
	}
	out.Hosts = append(out.Hosts, refused...)
	sort.SliceStable(out.Hosts, func(i, j int) bool { return out.Hosts[i].Host < out.Hosts[j].Host })
	out.Summarize()
}

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Set up, move and export the journal (a state dir, or a database shared by a team)",
		Long: `The journal is kept in a state directory (--state-dir, the default) or in
a PostgreSQL database shared by a team (--state postgres://… or
FLEETTUNE_STATE), where runs from every machine are seen by every operator
and hosts are locked one by one, so that two operators may apply to
different hosts at once.

The password is never part of the URL: use PGPASSWORD, ~/.pgpass, a service
file (service=NAME), or password_env=NAME naming a variable that holds it.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Create or upgrade the database's fleettune tables (--state postgres://…)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn, err := g.stateTarget()
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if dsn == "" {
				return &exitError{code: 1, err: errors.New("state init is for a database: give --state postgres://… (or FLEETTUNE_STATE); a state dir needs no set-up")}
			}
			from, to, err := pgstore.Init(cmd.Context(), dsn, g.getenv)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if from == to {
				fmt.Fprintf(g.stdout, "schema already at version %d; nothing to do\n", to)
			} else {
				fmt.Fprintf(g.stdout, "schema at version %d (was %d)\n", to, from)
			}
			return nil
		},
	})
	var from, to string
	migrate := &cobra.Command{
		Use:   "migrate --from DIR --to postgres://…",
		Short: "Copy every run of a state dir into a database",
		Long: `migrate copies every run of the state directory DIR, record for record,
into the database (which state init has set up). Runs the database already
has are left as they are, so migrating twice is harmless. The state dir is
not changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrate(cmd.Context(), g, from, to)
		},
	}
	migrate.Flags().StringVar(&from, "from", "", "the state dir to copy")
	migrate.Flags().StringVar(&to, "to", "", "the postgres:// URL to copy into")
	cmd.AddCommand(migrate)
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: `Write every run as JSON lines: {"run": ID, "record": {...}}, oldest first`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := g.openStore(cmd.Context())
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer store.Close()
			runs, recs, err := store.Export(g.stdout)
			g.log.Info("exported", "runs", runs, "records", recs, "from", store.Dir())
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	})
	return cmd
}

func runMigrate(ctx context.Context, g *globals, from, to string) error {
	if from == "" || !pgstore.IsDSN(to) {
		return &exitError{code: 1, err: errors.New("state migrate needs --from DIR and --to postgres://…")}
	}
	if _, err := os.Stat(from); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--from: %w", err)}
	}
	src, err := journal.Open(from)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	dst, err := pgstore.OpenStore(ctx, to, g.getenv)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer dst.Close()
	runs, err := src.Runs()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	var copied, present int
	var bad []string
	for _, r := range runs {
		n, err := src.CopyRun(dst, r.ID())
		switch {
		case errors.Is(err, journal.ErrRunExists):
			present++
		case err != nil:
			bad = append(bad, err.Error())
		default:
			copied++
			fmt.Fprintf(g.stdout, "copied run %s (%s, %d records)\n", r.ID(), r.Header.Kind, n)
		}
	}
	fmt.Fprintf(g.stdout, "%d runs copied, %d already there, %d not copied, into %s\n", copied, present, len(bad), dst.Dir())
	if len(bad) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("runs not copied:\n  %s", strings.Join(bad, "\n  "))}
	}
	return nil
}
