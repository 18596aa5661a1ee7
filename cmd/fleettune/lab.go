package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/internal/atomicfile"
	"github.com/fleettune/fleettune/lab"
)

const (
	// maxLabHosts bounds one lab: every host shares two listeners, so the
	// limit is memory (about 10 KB a host) and start-up time.
	maxLabHosts = 20000
	// maxPortHosts keeps a lab with a port per host (IPv6 loopback, or no
	// SO_BINDTODEVICE) within a process's file descriptors.
	maxPortHosts = 500
	// labTableMax is the largest fleet whose every host is listed.
	labTableMax = 200
	// labStatsFile is where SIGUSR1 writes the lab's counters.
	labStatsFile = "lab-stats.json"
)

type labFlags struct {
	hosts     int
	inventory string
	listen    string
	mix       string
	faults    string
	seed      int64
}

func newLabCmd(g *globals) *cobra.Command {
	f := &labFlags{}
	cmd := &cobra.Command{
		Use:   "lab [--hosts N] [--mix linux=50%,windows=20%,...] [--faults P%] [--write-inventory FILE] [--listen 127.0.0.1]",
		Short: "Serve a simulated fleet of all six OS families on loopback",
		Long: `lab starts a fleet of simulated hosts and serves them until interrupted
(Ctrl-C or SIGTERM): Linux (Debian 12, 11, 10), Windows over WinRM (2019,
2008 R2, 2003), Solaris 11 and 10, AIX 7.3 and 7.2, HP-UX 11i v3 and v2 and
Tru64 V5.1B. The hosts answer fleettune's commands in their OS's formats,
keep their state while the lab runs, and each has a load profile (idle,
busy towards one destination, exhausted, leaking CLOSE_WAIT) that gives it a
socket table for fleettune audit.

--mix sets the share of each family (default ` + lab.DefaultMix.String() + `);
the shares must add up to 100%.

--faults P% makes that share of the hosts misbehave, each in one way:
refused, reset, slow (2s per command), auth (every login fails) or reboot
(the host reboots after its second command). --seed picks which hosts and
the loads' figures; the same seed gives the same fleet.

Every host shares one SSH port and one WinRM port on its own loopback
address (127.1.0.1, 127.1.0.2, ...), so 10,000 hosts need two sockets. With
--listen 127.0.0.1:2200 the SSH port is 2200 and WinRM's 2201, so an
inventory stays valid across restarts. (--listen ::1, or a machine where the
listener cannot be bound to the loopback device, gives each host its own
port instead, up to 500 hosts.)

With --write-inventory FILE the inventory is written to FILE, with the
client key (id_ed25519), known_hosts, the WinRM CA (ca.pem) and lab.env
beside it:
  set -a; . ./lab.env; set +a     # FLEETTUNE_LAB_PASSWORD, FLEETTUNE_INVENTORY
  fleettune plan -p PLAYBOOK --limit 'linux,!exhausted'
The inventory has a group per OS family and one per load profile.
Without --write-inventory the files go to a temporary directory, removed when
the lab stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.readCtx(cmd.Context())
			defer cancel()
			return runLab(ctx, g, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.hosts, "hosts", 12, "number of simulated hosts")
	fl.StringVar(&f.inventory, "write-inventory", "", "write the inventory to this file (and id_ed25519, known_hosts, ca.pem and lab.env beside it)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1", "loopback address to listen on, optionally with the SSH port (WinRM gets the next one)")
	fl.StringVar(&f.mix, "mix", lab.DefaultMix.String(), "share of each OS family: linux, windows, solaris, aix, hpux, tru64")
	fl.StringVar(&f.faults, "faults", "0%", "share of hosts that misbehave (refused, reset, slow, auth, reboot)")
	fl.Int64Var(&f.seed, "seed", 1, "seed for the hosts' loads and faults")
	return cmd
}

// parsePercent reads "5%" or "5" as 0.05.
func parsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q: want a percentage from 0%% to 100%%", s)
	}
	return v / 100, nil
}

func runLab(ctx context.Context, g *globals, f *labFlags) error {
	if f.hosts < 1 || f.hosts > maxLabHosts {
		return &exitError{code: 1, err: fmt.Errorf("--hosts %d: must be between 1 and %d", f.hosts, maxLabHosts)}
	}
	ip, _, err := lab.ParseListen(f.listen)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--listen: %w", err)}
	}
	mix, err := lab.ParseMix(f.mix)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--mix: %w", err)}
	}
	rate, err := parsePercent(f.faults)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--faults: %w", err)}
	}
	if ip.To4() == nil && f.hosts > maxPortHosts {
		return &exitError{code: 1, err: fmt.Errorf("--hosts %d with --listen %s: on IPv6 loopback every host needs a port of its own, at most %d; use 127.0.0.1 for more", f.hosts, f.listen, maxPortHosts)}
	}
	start := time.Now()
	opts := lab.Options{Specs: lab.MixFleet(f.hosts, mix), Listen: f.listen, Logger: g.log,
		Shared: ip.To4() != nil, Seed: f.seed, FaultRate: rate}
	if f.inventory != "" {
		opts.Dir, opts.Inventory = filepath.Dir(f.inventory), f.inventory
	}
	l, err := lab.Start(ctx, opts)
	if err != nil && opts.Shared && f.hosts <= maxPortHosts {
		g.log.Warn("lab: cannot share one listener; giving each host its own port", "err", err)
		opts.Shared = false
		l, err = lab.Start(ctx, opts)
	}
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer func() {
		if err := l.Close(); err != nil {
			g.log.Warn("lab: cleanup", "err", err)
		}
	}()

	if err := printLabTable(g.stdout, l); err != nil {
		return &exitError{code: 1, err: err}
	}
	sshPort, winPort := l.SharedPorts()
	g.log.Info("lab serving; interrupt (Ctrl-C) to stop", "hosts", len(l.Hosts()), "started_in", time.Since(start).Round(time.Millisecond),
		"inventory", l.Inventory, "env", filepath.Join(l.Dir, lab.EnvFile), "ssh_port", sshPort, "winrm_port", winPort)
	if f.inventory == "" {
		g.log.Info("the inventory is in a temporary directory, removed when the lab stops; use --write-inventory to keep it")
	}

	// SIGUSR1 writes what the lab has served so far to lab-stats.json
	// beside the inventory (scripts/bench-scale reads it).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	statsFile := filepath.Join(l.Dir, labStatsFile)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-usr1:
			b, _ := json.Marshal(l.Stats())
			if err := atomicfile.Write(statsFile, append(b, '\n'), 0o644); err != nil {
				g.log.Warn("lab: stats", "err", err)
			}
		}
	}
	g.log.Info("lab stopping")
	if err := l.Close(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("lab: cleanup: %w", err)}
	}
	g.log.Info("lab stopped")
	return nil
}

// printLabTable lists every host of a small fleet, and a count per family
// and profile for a large one.
func printLabTable(w io.Writer, l *lab.Lab) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := l.Table()
	if len(rows) <= labTableMax {
		fmt.Fprintln(tw, "HOST\tOS\tRELEASE\tADDRESS\tPROFILE\tFAULT")
		for _, row := range rows {
			fault := row[5]
			if fault == "" {
				fault = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row[0], row[1], row[2], row[3], row[4], fault)
		}
		return tw.Flush()
	}
	type key struct{ os, profile string }
	count := map[key]int{}
	faults := map[string]int{}
	for _, row := range rows {
		count[key{row[1], row[4]}]++
		if row[5] != "" {
			faults[row[5]]++
		}
	}
	fmt.Fprintln(tw, "OS\tHOSTS\tIDLE\tBUSY\tEXHAUSTED\tLEAKING")
	for _, fam := range lab.Families {
		n := 0
		for _, p := range lab.Profiles {
			n += count[key{fam, string(p)}]
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d", fam, n)
		for _, p := range lab.Profiles {
			fmt.Fprintf(tw, "\t%d", count[key{fam, string(p)}])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(faults) > 0 {
		var kinds []string
		for k := range faults {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		var parts []string
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s %d", k, faults[k]))
		}
		fmt.Fprintf(w, "faults: %s\n", strings.Join(parts, ", "))
	}
	return nil
}
