package playbooks

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleettune/fleettune/internal/yamlx"
)

// Audit is the playbook's optional audit: section: the thresholds
// `fleettune audit` grades pools with. A nil field keeps the default.
//
//	audit:
//	  watch: 50%              # utilisation of the usable ports
//	  warn: 66%
//	  crit: 85%
//	  min_headroom: 1.25      # CRIT below this ceiling ÷ rate
//	  min_time_to_exhaustion: 1h
type Audit struct {
	Watch, Warn, Crit *float64 // fractions, 0.5 for 50%
	MinHeadroom       *float64
	MinTTE            *time.Duration
}

var auditKeys = []string{"watch", "warn", "crit", "min_headroom", "min_time_to_exhaustion"}

func (l *loader) audit(n *yaml.Node, a *Audit) error {
	kvs, err := yamlx.Mapping(l.file, n, "audit", auditKeys)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		key := "audit." + kv.Key
		switch kv.Key {
		case "watch", "warn", "crit":
			v, err := percent(l.file, kv.Value, key)
			if err != nil {
				return err
			}
			switch kv.Key {
			case "watch":
				a.Watch = &v
			case "warn":
				a.Warn = &v
			default:
				a.Crit = &v
			}
		case "min_headroom":
			s, err := scalar(l.file, kv.Value, key)
			if err != nil {
				return err
			}
			v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "x"), 64)
			if err != nil || v < 1 {
				return yamlx.Errorf(l.file, kv.Value, "%s: expected a factor of at least 1, such as 1.25, got %q", key, s)
			}
			a.MinHeadroom = &v
		case "min_time_to_exhaustion":
			d, err := yamlx.Duration(l.file, kv.Value, key)
			if err != nil {
				return err
			}
			a.MinTTE = &d
		}
	}
	if a.Watch != nil && a.Warn != nil && a.Crit != nil && !(*a.Watch < *a.Warn && *a.Warn < *a.Crit) {
		return yamlx.Errorf(l.file, n, "audit: expected watch < warn < crit")
	}
	return nil
}

// percent reads "66%" or 66 as 0.66.
func percent(file string, n *yaml.Node, what string) (float64, error) {
	s, err := scalar(file, n, what)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v <= 0 || v > 100 {
		return 0, yamlx.Errorf(file, n, "%s: expected a percentage between 0 and 100, such as 66%%, got %q", what, s)
	}
	return v / 100, nil
}

// scalar reads a number or string scalar as its text.
func scalar(file string, n *yaml.Node, what string) (string, error) {
	n = yamlx.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", yamlx.Errorf(file, n, "%s: expected a number, found %s", what, yamlx.Kind(n))
	}
	return n.Value, nil
}
