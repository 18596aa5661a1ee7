package main

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleettune/fleettune/internal/termsafe"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/views"
)

// The flags of every command that selects hosts.

func addLimitFlag(fl *pflag.FlagSet, limit *string) {
	fl.StringVarP(limit, "limit", "l", "", "hosts, groups and globs to select, comma-separated; !x excludes")
}

func addListHostsFlag(fl *pflag.FlagSet, list *bool) {
	fl.BoolVar(list, "list-hosts", false, "print the selected hosts and how each is reached; connect to nothing")
}

// addInventoryFlag binds -i: repeatable (several merge, as in Ansible), and
// "-" reads the inventory (e.g. ansible-inventory --list) from stdin.
func addInventoryFlag(fl *pflag.FlagSet, paths *[]string, help string) {
	fl.StringArrayVarP(paths, "inventory", "i", nil, help)
}

// inventoryHelp describes -i for the commands that select hosts.
const inventoryHelp = "inventory: fleettune or Ansible (YAML, INI, directory, host1,host2, or ansible-inventory --list JSON; - for stdin); repeatable, they merge (default $FLEETTUNE_INVENTORY)"

// inventoryPaths is what -i gave, or FLEETTUNE_INVENTORY when it gave none.
func (g *globals) inventoryPaths(flag []string) []string {
	if len(flag) == 0 {
		if env := g.orEnv("", "FLEETTUNE_INVENTORY"); env != "" {
			return []string{env}
		}
	}
	return flag
}

// loadInventory reads every -i (several merge; "-" is stdin), or
// FLEETTUNE_INVENTORY when -i is not given, and logs what loading warned
// about. FLEETTUNE_INVENTORY_PASSWORDS=use lets passwords written in an
// Ansible inventory be used (they are otherwise only warned about).
func (g *globals) loadInventory(paths []string) (*inventory.Inventory, error) {
	paths = g.inventoryPaths(paths)
	if len(paths) == 0 {
		return nil, badInput(errors.New("no inventory: give -i INVENTORY or set FLEETTUNE_INVENTORY"))
	}
	inv, err := inventory.LoadAll(paths, g.stdin, inventory.Options{
		Warn:               func(m string) { g.log.Warn(termsafe.String(m)) },
		InventoryPasswords: g.getenv("FLEETTUNE_INVENTORY_PASSWORDS") == "use",
	})
	if err != nil {
		return nil, badInput(err)
	}
	g.getenv = inv.Getenv(g.getenv)
	return inv, nil
}

// checkLimit catches what --limit is not before anything else runs. A
// colon is Ansible's old separator (web:db); fleettune, like current
// Ansible, wants commas.
func checkLimit(limit string) error {
	for _, p := range strings.Split(limit, ",") {
		bare := strings.TrimLeft(strings.TrimSpace(p), "!&")
		if strings.Contains(bare, ":") && net.ParseIP(bare) == nil {
			return badInput(fmt.Errorf("--limit %q: use commas (%s) to give several hosts or groups; ':' does not separate patterns",
				limit, strings.ReplaceAll(limit, ":", ",")))
		}
	}
	return nil
}

// listHosts prints the selection for --list-hosts.
func (g *globals) listHosts(format views.Format, hosts []*inventory.Host) error {
	doc := &views.HostsDoc{}
	for _, h := range hosts {
		doc.Hosts = append(doc.Hosts, hostLine(h))
	}
	if err := views.NewHosts(format, g.stdout).Hosts(doc); err != nil {
		return badInput(err)
	}
	return nil
}

func hostLine(h *inventory.Host) views.HostLine {
	l := views.HostLine{Name: h.Name, Address: h.Addr(), User: h.User, Transport: h.Transport, OS: h.OS, Groups: h.Groups}
	switch h.Transport {
	case "winrm":
		l.Port = h.WinRM.Port
	default:
		l.Port = h.SSH.Port
	}
	return l
}

// completeLimit completes --limit with the inventory's group and host
// names, after the last comma (and a leading ! or &).
func completeLimit(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		paths, _ := cmd.Flags().GetStringArray("inventory")
		paths = g.inventoryPaths(paths)
		if len(paths) == 0 || slices.Contains(paths, "-") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		inv, err := inventory.LoadAll(paths, nil, inventory.Options{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		head, word := "", toComplete
		if i := strings.LastIndex(toComplete, ","); i >= 0 {
			head, word = toComplete[:i+1], toComplete[i+1:]
		}
		if word != "" && (word[0] == '!' || word[0] == '&') {
			head, word = head+word[:1], word[1:]
		}
		var out []string
		for _, name := range inv.Groups() {
			if strings.HasPrefix(name, word) {
				out = append(out, head+name+"\tgroup")
			}
		}
		for _, h := range inv.Hosts {
			if strings.HasPrefix(h.Name, word) {
				out = append(out, head+h.Name+"\thost")
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// completeRuns completes --run with the run ids in the state directory,
// newest first.
func completeRuns(g *globals, kind string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		dir, _ := cmd.Flags().GetString("state-dir")
		if dir == "" {
			dir = g.defaultStateDir()
		}
		store, err := journal.Open(dir)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		runs, err := store.Runs()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		sort.SliceStable(runs, func(i, j int) bool { return runs[i].Header.Started.After(runs[j].Header.Started) })
		var out []string
		for _, r := range runs {
			if (kind == "" || r.Header.Kind == kind) && strings.HasPrefix(r.ID(), toComplete) {
				desc := r.Header.Kind + " " + r.Header.Started.Local().Format("2006-01-02 15:04")
				out = append(out, r.ID()+"\t"+desc)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
