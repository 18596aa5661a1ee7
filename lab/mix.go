package lab

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// A Mix says how much of a fleet each OS family is, in percent.
type Mix map[string]float64

// Families are the OS families in the order the lab lists them.
var Families = []string{"linux", "windows", "solaris", "aix", "hpux", "tru64"}

// DefaultMix is the fleet `fleettune lab` serves: half Linux, a fifth
// Windows, the rest the Unix systems.
var DefaultMix = Mix{"linux": 50, "windows": 20, "solaris": 10, "aix": 8, "hpux": 7, "tru64": 5}

// familyReleases are the releases each family cycles through, and the
// name prefix of its hosts.
var familyReleases = map[string]struct {
	prefix   string
	releases []string
}{
	"linux":   {"lnx", []string{"6.1", "5.10", "4.19"}},
	"windows": {"win", []string{"10.0", "6.1", "5.2"}},
	"solaris": {"sol", []string{"5.11", "5.10"}},
	"aix":     {"aix", []string{"7.3", "7.2"}},
	"hpux":    {"hpux", []string{"B.11.31", "B.11.23"}},
	"tru64":   {"tru64", []string{"V5.1B"}},
}

// profileWeights is how often each load profile comes up.
var profileWeights = []struct {
	p Profile
	w float64
}{{ProfileIdle, 55}, {ProfileBusy, 20}, {ProfileExhausted, 15}, {ProfileLeaking, 10}}

// profilePhase is where each family starts in the profile cycle (idle,
// busy, idle, exhausted, idle, leaking, ...).
var profilePhase = map[string]int{"linux": 0, "windows": 3, "solaris": 1, "aix": 5, "hpux": 3, "tru64": 1}

// nextProfile is one step of smooth weighted round robin over the profiles.
func nextProfile(cur map[Profile]float64) Profile {
	var best Profile
	for _, pw := range profileWeights {
		cur[pw.p] += pw.w
		if best == "" || cur[pw.p] > cur[best] {
			best = pw.p
		}
	}
	cur[best] -= 100
	return best
}

// ParseMix reads "linux=50%,windows=20%,solaris=30%": families named in
// Families, each with a share (the % is optional); the shares must add up
// to 100. Families left out get none.
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	total := 0.0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fam, share, ok := strings.Cut(part, "=")
		fam = strings.TrimSpace(strings.ToLower(fam))
		if !ok {
			return nil, fmt.Errorf("mix %q: %q: want FAMILY=PERCENT (e.g. linux=50%%)", s, part)
		}
		if _, known := familyReleases[fam]; !known {
			return nil, fmt.Errorf("mix %q: unknown OS family %q (want %s)", s, fam, strings.Join(Families, ", "))
		}
		if _, dup := m[fam]; dup {
			return nil, fmt.Errorf("mix %q: %s is given twice", s, fam)
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(share), "%"), 64)
		if err != nil || v < 0 || v > 100 {
			return nil, fmt.Errorf("mix %q: %s=%s: want a percentage from 0 to 100", s, fam, share)
		}
		m[fam] = v
		total += v
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("mix %q: name at least one family (e.g. linux=100%%)", s)
	}
	if total < 99.5 || total > 100.5 {
		return nil, fmt.Errorf("mix %q: the shares add up to %g%%, want 100%%", s, total)
	}
	return m, nil
}

// String is the mix as ParseMix reads it, in Families order.
func (m Mix) String() string {
	var parts []string
	for _, f := range Families {
		if v, ok := m[f]; ok && v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%g%%", f, v))
		}
	}
	return strings.Join(parts, ",")
}

// counts splits n hosts by the mix (largest remainder), in Families order.
func (m Mix) counts(n int) map[string]int {
	out := map[string]int{}
	type rem struct {
		fam string
		r   float64
	}
	var rems []rem
	left := n
	for _, f := range Families {
		exact := m[f] / 100 * float64(n)
		out[f] = int(exact)
		left -= out[f]
		rems = append(rems, rem{f, exact - float64(out[f])})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].r > rems[j].r })
	for i := 0; left > 0; i++ {
		out[rems[i%len(rems)].fam]++
		left--
	}
	return out
}

// MixFleet is a fleet of n hosts in the mix: the families interleaved
// (smooth weighted round robin, so any prefix of the fleet is mixed too),
// each cycling through its releases, and each host given a load profile
// (idle 55%, busy 20%, exhausted 15%, leaking 10%, interleaved the same
// way within each family, so every family soon has all four). Names are the family's
// prefix and its count, zero-padded to the width of n: lnx-0001, win-0001,
// sol-0001, aix-0001, hpux-0001, tru64-0001. The same n and mix always
// give the same fleet.
func MixFleet(n int, m Mix) []Spec {
	counts := m.counts(n)
	width := max(2, len(strconv.Itoa(n)))
	cur := map[string]float64{}
	made := map[string]int{}
	pcur := map[string]map[Profile]float64{} // per family, so every family gets every profile
	specs := make([]Spec, 0, max(n, 0))
	for range n {
		// The family with the largest current weight goes next.
		best := ""
		for _, f := range Families {
			if made[f] >= counts[f] {
				continue
			}
			cur[f] += float64(counts[f])
			if best == "" || cur[f] > cur[best] {
				best = f
			}
		}
		cur[best] -= float64(n)
		fr := familyReleases[best]
		rel := fr.releases[made[best]%len(fr.releases)]
		made[best]++
		if pcur[best] == nil {
			pcur[best] = map[Profile]float64{}
			// Each family starts at its own place in the cycle, so that
			// a small fleet already shows every profile.
			for range profilePhase[best] {
				nextProfile(pcur[best])
			}
		}
		bp := nextProfile(pcur[best])
		specs = append(specs, Spec{Name: fmt.Sprintf("%s-%0*d", fr.prefix, width, made[best]), OS: best, Release: rel, Profile: bp})
	}
	return specs
}
