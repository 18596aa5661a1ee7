package main

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/lab"
)

// maxLabHosts keeps a lab within a process's file descriptors.
const maxLabHosts = 500

type labFlags struct {
	hosts     int
	inventory string
	listen    string
}

func newLabCmd(g *globals) *cobra.Command {
	f := &labFlags{}
	cmd := &cobra.Command{
		Use:   "lab [--hosts N] [--write-inventory FILE] [--listen 127.0.0.1]",
		Short: "Serve a simulated mixed fleet (Solaris, HP-UX, AIX, Tru64) on loopback",
		Long: `lab starts a fleet of simulated hosts (Solaris 10 and 11, HP-UX 11i v3 and
v2, AIX 7.2 and 7.3, Tru64 V5.1B, in that cycle), each behind its own SSH
server on a loopback port with its own host key, and serves them until
interrupted (Ctrl-C or SIGTERM). The hosts answer fleettune's commands in
their OS's formats and keep their state while the lab runs.

With --write-inventory FILE the inventory is written to FILE and the client
key (id_ed25519) and known_hosts beside it, ready for
  fleettune plan -i FILE -p PLAYBOOK
Without it they go to a temporary directory, removed when the lab stops.

--listen takes a loopback address only (127.0.0.0/8 or ::1). With a port
(127.0.0.1:2200) the hosts get that port and the ones after it, so an
inventory stays valid across restarts; without one each host gets a free
port.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.readCtx(cmd.Context())
			defer cancel()
			return runLab(ctx, g, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.hosts, "hosts", 8, "number of simulated hosts")
	fl.StringVar(&f.inventory, "write-inventory", "", "write the inventory to this file (and id_ed25519 and known_hosts beside it)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1", "loopback address to listen on, optionally with the first host's port")
	return cmd
}

func runLab(ctx context.Context, g *globals, f *labFlags) error {
	if f.hosts < 1 || f.hosts > maxLabHosts {
		return &exitError{code: 1, err: fmt.Errorf("--hosts %d: must be between 1 and %d", f.hosts, maxLabHosts)}
	}
	if _, _, err := lab.ParseListen(f.listen); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--listen: %w", err)}
	}
	opts := lab.Options{Specs: lab.DefaultFleet(f.hosts), Listen: f.listen, Logger: g.log}
	if f.inventory != "" {
		opts.Dir, opts.Inventory = filepath.Dir(f.inventory), f.inventory
	}
	l, err := lab.Start(ctx, opts)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer func() {
		if err := l.Close(); err != nil {
			g.log.Warn("lab: cleanup", "err", err)
		}
	}()

	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tOS\tRELEASE\tADDRESS")
	for _, row := range l.Table() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row[0], row[1], row[2], row[3])
	}
	if err := tw.Flush(); err != nil {
		return &exitError{code: 1, err: err}
	}
	g.log.Info("lab serving; interrupt (Ctrl-C) to stop", "hosts", len(l.Hosts()), "inventory", l.Inventory,
		"known_hosts", l.KnownHosts, "identity", l.ClientKey)
	if f.inventory == "" {
		g.log.Info("the inventory is in a temporary directory, removed when the lab stops; use --write-inventory to keep it")
	}

	<-ctx.Done()
	g.log.Info("lab stopping")
	if err := l.Close(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("lab: cleanup: %w", err)}
	}
	g.log.Info("lab stopped")
	return nil
}
