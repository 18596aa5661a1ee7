package inventory

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Select returns the hosts that limit picks, in inventory order, each once.
//
// limit is a comma-separated list of patterns, as --limit takes it. A pattern
// is a host name, a group name (including "all"), or a glob (path.Match
// syntax: *, ?, [...]) over host names and group names; "all" is matched by
// name only, never by a glob. "!pattern" excludes, "&pattern" keeps only the
// hosts it also matches (Ansible's intersection); with only exclusions, the
// start is every host. An empty limit selects every host.
//
// A pattern, or an intersection, that matches no host is an error, as is a
// selection of no hosts at all: an operator must not act on fewer hosts than
// they think. An exclusion that matches nothing is fine.
func (inv *Inventory) Select(limit string) ([]*Host, error) {
	if len(inv.Hosts) == 0 {
		return nil, fmt.Errorf("inventory %s has no hosts", inv.File)
	}
	if strings.TrimSpace(limit) == "" {
		return slices.Clone(inv.Hosts), nil
	}
	var include, intersect, exclude []string
	for _, raw := range strings.Split(limit, ",") {
		p := strings.TrimSpace(raw)
		if p == "" {
			continue
		}
		list := &include
		switch p[0] {
		case '!':
			list = &exclude
		case '&':
			list = &intersect
		}
		if list != &include {
			op := p[:1]
			p = strings.TrimSpace(p[1:])
			if p == "" {
				return nil, fmt.Errorf("--limit %q: %q must be followed by a host, group or pattern", limit, op)
			}
		}
		*list = append(*list, p)
	}
	if len(include)+len(intersect)+len(exclude) == 0 {
		return nil, fmt.Errorf("--limit %q: no host, group or pattern given", limit)
	}

	picked := map[*Host]bool{}
	if len(include) == 0 {
		for _, h := range inv.Hosts {
			picked[h] = true
		}
	}
	for _, p := range include {
		hs, err := inv.matchSome(p)
		if err != nil {
			return nil, err
		}
		for h := range hs {
			picked[h] = true
		}
	}
	for _, p := range intersect {
		hs, err := inv.matchSome(p)
		if err != nil {
			return nil, err
		}
		for h := range picked {
			if !hs[h] {
				delete(picked, h)
			}
		}
	}
	for _, p := range exclude {
		hs, _, err := inv.match(p)
		if err != nil {
			return nil, err
		}
		for h := range hs {
			delete(picked, h)
		}
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if picked[h] {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--limit %q selects no hosts", limit)
	}
	return out, nil
}

// matchSome is match, with an error when the pattern selects no host.
func (inv *Inventory) matchSome(p string) (map[*Host]bool, error) {
	hs, groups, err := inv.match(p)
	if err != nil {
		return nil, err
	}
	if len(hs) > 0 {
		return hs, nil
	}
	if len(groups) > 0 {
		return nil, fmt.Errorf("--limit: %q matches no host (group %s has no hosts)", p, strings.Join(groups, ", "))
	}
	hint := ""
	if !isGlob(p) {
		names := inv.Groups()
		for _, h := range inv.Hosts {
			names = append(names, h.Name)
		}
		hint = suggest(p, names)
	}
	return nil, fmt.Errorf("--limit: %q matches no host or group%s", p, hint)
}

// match returns the hosts pattern p matches, and the groups it matched.
func (inv *Inventory) match(p string) (map[*Host]bool, []string, error) {
	hs := map[*Host]bool{}
	if h := inv.Host(p); h != nil {
		hs[h] = true
		return hs, nil, nil
	}
	if members, ok := inv.members(p); ok {
		for _, h := range members {
			hs[h] = true
		}
		return hs, []string{p}, nil
	}
	if !isGlob(p) {
		return hs, nil, nil
	}
	if _, err := path.Match(p, ""); err != nil {
		return nil, nil, fmt.Errorf("--limit: bad pattern %q: %v", p, err)
	}
	for _, h := range inv.Hosts {
		if ok, _ := path.Match(p, h.Name); ok {
			hs[h] = true
		}
	}
	var groups []string
	for _, g := range inv.groups {
		if ok, _ := path.Match(p, g.name); ok {
			groups = append(groups, g.name)
			for _, h := range g.members {
				hs[h] = true
			}
		}
	}
	return hs, groups, nil
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }
