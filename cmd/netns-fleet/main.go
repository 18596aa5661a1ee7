// Command netns-fleet starts and removes a fleet of real Linux hosts made of
// network namespaces, each reached over real OpenSSH sshd through a proxy
// command (see internal/netnsfleet), for trying fleettune and benchmarking.
//
//	netns-fleet up   --hosts N --dir DIR   # prints DIR/inventory.yaml; the fleet stays up
//	netns-fleet down --dir DIR             # removes exactly what DIR/fleet.json records
//
// Both need root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

const usage = `usage:
  netns-fleet up   --hosts N --dir DIR   start N namespace hosts; prints the inventory path
  netns-fleet down --dir DIR             remove the fleet recorded in DIR/fleet.json
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("netns-fleet "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "working directory of the fleet (keys, sshd_config, proxy.sh, inventory.yaml, fleet.json)")
	var hosts *int
	switch cmd {
	case "up":
		hosts = fs.Int("hosts", 3, "number of hosts (node01..nodeNN)")
	case "down":
	default:
		fmt.Fprintf(stderr, "netns-fleet: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "netns-fleet %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2
	}
	if *dir == "" {
		fmt.Fprintf(stderr, "netns-fleet %s: --dir is required\n", cmd)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(stderr, "netns-fleet %s: must run as root (it creates network namespaces and /etc/netns/NAME directories)\n", cmd)
		return 1
	}

	switch cmd {
	case "up":
		if err := netnsfleet.Available(); err != nil {
			fmt.Fprintf(stderr, "netns-fleet up: %v\n", err)
			return 1
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		start := time.Now()
		f, err := netnsfleet.Start(ctx, netnsfleet.Options{Hosts: *hosts, Dir: *dir})
		if err != nil {
			fmt.Fprintf(stderr, "netns-fleet up: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "netns-fleet: %d hosts up in %v (namespaces %s..%s); remove with: netns-fleet down --dir %s\n",
			len(f.Hosts), time.Since(start).Round(time.Millisecond), f.Hosts[0].Netns, f.Hosts[len(f.Hosts)-1].Netns, f.Dir)
		fmt.Fprintln(stdout, f.Inventory)
	case "down":
		f, err := netnsfleet.Load(*dir)
		if err != nil {
			fmt.Fprintf(stderr, "netns-fleet down: %v\n", err)
			return 1
		}
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "netns-fleet down: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "netns-fleet: removed %d hosts of %s\n", len(f.Hosts), f.Dir)
	}
	return 0
}
