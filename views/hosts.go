package views

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fleettune/fleettune/internal/termsafe"
)

// HostsDoc is what --list-hosts reports: the hosts a command would work
// on, and how it would reach each. Nothing is contacted to make it.
type HostsDoc struct {
	Hosts []HostLine `json:"hosts"`
}

// HostLine is one selected host with its resolved connection values.
type HostLine struct {
	Name      string   `json:"name"`
	Address   string   `json:"address"`
	Port      int      `json:"port"`
	User      string   `json:"user"`
	Transport string   `json:"transport"`
	OS        string   `json:"os"` // "" when it will be detected
	Groups    []string `json:"groups"`
	// Source says where each value came from, by the JSON name of the
	// value ("port": "~/.ssh/config:12", "user": "inventory.yaml:30").
	// Empty when the inventory does not tell.
	Source map[string]string `json:"source,omitempty"`
}

// Hosts renders a HostsDoc.
type Hosts interface{ Hosts(*HostsDoc) error }

// NewHosts chooses the view for a format once.
func NewHosts(f Format, w io.Writer) Hosts {
	if f == JSON {
		return hostsJSON{w}
	}
	return hostsHuman{w}
}

var (
	_ Hosts = hostsJSON{}
	_ Hosts = hostsHuman{}
)

type hostsJSON struct{ w io.Writer }

func (v hostsJSON) Hosts(d *HostsDoc) error {
	c := HostsDoc{Hosts: make([]HostLine, 0, len(d.Hosts))}
	for _, h := range d.Hosts {
		if h.Groups == nil {
			h.Groups = []string{}
		}
		c.Hosts = append(c.Hosts, h)
	}
	return writeJSON(v.w, &c)
}

type hostsHuman struct{ w io.Writer }

// Hosts prints one line per host, as a table, then the count. Names and
// values come from files, so they are printed terminal-safe.
func (v hostsHuman) Hosts(d *HostsDoc) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tPORT\tUSER\tTRANSPORT\tOS")
	for _, h := range d.Hosts {
		os := h.OS
		if os == "" {
			os = "(detect)"
		}
		port := "-"
		if h.Port > 0 {
			port = strconv.Itoa(h.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", termsafe.String(h.Name), termsafe.String(h.Address), port,
			termsafe.String(h.User), termsafe.String(h.Transport), termsafe.String(os))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%s selected; nothing was contacted.\n", plural(len(d.Hosts), "host", "hosts"))
	_, err := io.WriteString(v.w, b.String())
	return err
}
