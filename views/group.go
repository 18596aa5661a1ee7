package views

import (
	"fmt"
	"strings"
)

// nameMark stands for the host's name in a rendered block until the block
// is known to be one host's or a group's.
const nameMark = "\x00host\x00"

// group is hosts whose blocks read the same.
type group struct {
	names []string
	body  string // with nameMark where the name goes
}

// groupBlocks collects hosts by key in the order each key first appears;
// a group's body is its first host's.
func groupBlocks(names, keys, bodies []string) []*group {
	var out []*group
	at := map[string]*group{}
	for i, k := range keys {
		g, ok := at[k]
		if !ok {
			g = &group{body: bodies[i]}
			at[k] = g
			out = append(out, g)
		}
		g.names = append(g.names, names[i])
	}
	return out
}

// groupName names a group's hosts: "web001", "2 hosts (web001, web002)",
// or "120 hosts (web001…web120)" with the first and the last host in the
// order they were listed.
func groupName(names []string) string {
	switch {
	case len(names) == 1:
		return names[0]
	case len(names) <= 3:
		return fmt.Sprintf("%d hosts (%s)", len(names), strings.Join(names, ", "))
	}
	return fmt.Sprintf("%d hosts (%s…%s)", len(names), names[0], names[len(names)-1])
}

// render puts each group's name in its body.
func (g *group) render(s style) string {
	return strings.ReplaceAll(g.body, nameMark, s.bold(groupName(g.names)))
}
