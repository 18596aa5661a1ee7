package playbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleettune/fleettune/internal/yamlx"
	"github.com/fleettune/fleettune/platform"
)

// Defaults and limits of the playbook format.
const (
	DefaultMinTimeWait   = 10 * time.Second
	DefaultWatch         = 2 * time.Minute
	DefaultBatchPercent  = 25
	DefaultRollback      = RollbackManual
	MinTimeWaitFloor     = time.Second // guardrails.min_time_wait may not go below this
	MinKeepaliveDuration = time.Second
	// Each OS's own limits (Windows' 255 dynamic ports at least and a
	// TcpTimedWaitDelay of at most 300s, Solaris' ndd bounds, ...) are its
	// driver's: it refuses, in the plan, what its OS cannot take.
)

var (
	topKeys         = []string{"name", "targets", "overrides", "guardrails", "rollout", "health", "audit"}
	targetKeys      = []string{"ephemeral_ports", "time_wait", "keepalive_time"}
	overrideKeys    = []string{"when", "targets", "native"}
	whenKeys        = []string{"os", "group", "host"}
	guardrailKeys   = []string{"min_time_wait", "protect_listening_ports"}
	rolloutKeys     = []string{"batch", "max_failures"}
	healthKeys      = []string{"watch", "counters", "probe", "rollback", "unchecked"}
	rollbackValues  = []string{RollbackAuto, RollbackManual}
	uncheckedValues = []string{UncheckedRefuse, UncheckedAllow}
)

// Load reads and validates the playbook at path.
func Load(path string) (*Playbook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading playbook: %w", err)
	}
	return Parse(path, data)
}

// Parse validates the playbook in data; file names it in errors. Every error
// is a *yamlx.Error naming the file, and the line and column where known.
func Parse(file string, data []byte) (*Playbook, error) {
	sum := sha256.Sum256(data)
	pb := &Playbook{
		File:   file,
		Digest: "sha256:" + hex.EncodeToString(sum[:]),
		Guardrails: Guardrails{
			MinTimeWait:           DefaultMinTimeWait,
			ProtectListeningPorts: true,
		},
		Rollout: Rollout{Batch: Ramp{{Percent: DefaultBatchPercent}}},
		Health: Health{
			Watch:     DefaultWatch,
			Counters:  true,
			Rollback:  DefaultRollback,
			Unchecked: UncheckedRefuse,
		},
	}
	root, err := yamlx.Parse(file, data)
	if err != nil {
		return nil, err
	}
	kvs, err := yamlx.Mapping(file, root, "playbook", topKeys)
	if err != nil {
		return nil, err
	}
	l := &loader{file: file}
	for _, kv := range kvs {
		switch kv.Key {
		case "name":
			pb.Name, err = yamlx.String(file, kv.Value, "name")
		case "targets":
			pb.Targets, err = l.targets(kv.Value, "targets")
		case "overrides":
			pb.Overrides, err = l.overrides(kv.Value)
		case "guardrails":
			err = l.guardrails(kv.Value, &pb.Guardrails)
		case "rollout":
			err = l.rollout(kv.Value, &pb.Rollout)
		case "health":
			err = l.health(kv.Value, &pb.Health)
		case "audit":
			err = l.audit(kv.Value, &pb.Audit)
		}
		if err != nil {
			return nil, err
		}
	}
	// Guardrails may come after the targets they guard: check once all is read.
	for _, tw := range l.timeWaits {
		if tw.d < pb.Guardrails.MinTimeWait {
			return nil, yamlx.Errorf(file, tw.n, "%s: %s is below guardrails.min_time_wait (%s)", tw.what, tw.text, pb.Guardrails.MinTimeWait)
		}
	}
	if !pb.tunesSomething() {
		return nil, &yamlx.Error{File: file, Msg: "nothing to tune: set targets.ephemeral_ports, targets.time_wait or targets.keepalive_time, or a native knob in an override"}
	}
	if strings.TrimSpace(pb.Name) == "" {
		base := filepath.Base(file)
		pb.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return pb, nil
}

func (p *Playbook) tunesSomething() bool {
	if !p.Targets.empty() {
		return true
	}
	for _, o := range p.Overrides {
		if !o.Targets.empty() {
			return true
		}
		for _, knobs := range o.Native {
			if len(knobs) > 0 {
				return true
			}
		}
	}
	return false
}

func (t Targets) empty() bool {
	return t.EphemeralPorts == nil && t.TimeWait == nil && t.KeepaliveTime == nil
}

// loader carries what is checked once the whole file is read.
type loader struct {
	file      string
	timeWaits []timeWaitRef
}

// timeWaitRef is a time_wait value, kept to check it against
// guardrails.min_time_wait wherever that appears in the file.
type timeWaitRef struct {
	what string // "targets.time_wait", "overrides[1].targets.time_wait"
	text string // as written
	d    time.Duration
	n    *yaml.Node
}

func (l *loader) targets(n *yaml.Node, what string) (Targets, error) {
	var t Targets
	kvs, err := yamlx.Mapping(l.file, n, what, targetKeys)
	if err != nil {
		return t, err
	}
	for _, kv := range kvs {
		key := what + "." + kv.Key
		switch kv.Key {
		case "ephemeral_ports":
			r, err := l.portRange(kv.Value, key)
			if err != nil {
				return t, err
			}
			t.EphemeralPorts = &r
		case "time_wait":
			d, err := yamlx.Duration(l.file, kv.Value, key)
			if err != nil {
				return t, err
			}
			l.timeWaits = append(l.timeWaits, timeWaitRef{what: key, text: strings.TrimSpace(yamlx.Resolve(kv.Value).Value), d: d, n: yamlx.Resolve(kv.Value)})
			t.TimeWait = &d
		case "keepalive_time":
			d, err := yamlx.Duration(l.file, kv.Value, key)
			if err != nil {
				return t, err
			}
			if d < MinKeepaliveDuration {
				return t, yamlx.Errorf(l.file, kv.Value, "%s: %s is below 1s", key, yamlx.Resolve(kv.Value).Value)
			}
			if d%time.Second != 0 {
				return t, yamlx.Errorf(l.file, kv.Value, "%s: %s is not a whole number of seconds (every OS counts keepalive time in seconds)", key, yamlx.Resolve(kv.Value).Value)
			}
			t.KeepaliveTime = &d
		}
	}
	return t, nil
}

// portRange reads "LOW-HIGH" and refuses ranges no OS should be given.
func (l *loader) portRange(n *yaml.Node, what string) (platform.PortRange, error) {
	n = yamlx.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return platform.PortRange{}, yamlx.Errorf(l.file, n, "%s: expected a port range LOW-HIGH such as 10240-65535, found %s", what, yamlx.Kind(n))
	}
	raw := n.Value
	lo, hi, ok := strings.Cut(strings.TrimSpace(raw), "-")
	low, err1 := strconv.Atoi(strings.TrimSpace(lo))
	high, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil {
		return platform.PortRange{}, yamlx.Errorf(l.file, n, "%s: port range %q: expected LOW-HIGH, e.g. 10240-65535", what, raw)
	}
	r := platform.PortRange{Low: low, High: high}
	switch {
	case low < 1 || low > 65535 || high < 1 || high > 65535:
		return r, yamlx.Errorf(l.file, n, "%s: port range %q: ports must be between 1 and 65535", what, raw)
	case low >= high:
		return r, yamlx.Errorf(l.file, n, "%s: port range %q: low end must be below high end", what, raw)
	}
	return r, nil
}

func (l *loader) overrides(n *yaml.Node) ([]Override, error) {
	n = yamlx.Resolve(n)
	if yamlx.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, yamlx.Errorf(l.file, n, "overrides: expected a list of {when, targets, native} entries, found %s", yamlx.Kind(n))
	}
	out := make([]Override, 0, len(n.Content))
	for i, e := range n.Content {
		o, err := l.override(yamlx.Resolve(e), fmt.Sprintf("overrides[%d]", i))
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func (l *loader) override(n *yaml.Node, what string) (Override, error) {
	o := Override{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return o, yamlx.Errorf(l.file, n, "%s: expected a mapping with when and targets or native, found %s", what, yamlx.Kind(n))
	}
	kvs, err := yamlx.Mapping(l.file, n, what, overrideKeys)
	if err != nil {
		return o, err
	}
	var hasWhen, hasAction bool
	var nativeKV yamlx.KV
	for _, kv := range kvs {
		switch kv.Key {
		case "when":
			hasWhen = true
			if o.When, err = l.when(kv.KeyN, kv.Value, what+".when"); err != nil {
				return o, err
			}
		case "targets":
			hasAction = true
			if o.Targets, err = l.targets(kv.Value, what+".targets"); err != nil {
				return o, err
			}
		case "native":
			hasAction = true
			nativeKV = kv
			if o.Native, err = l.native(kv.Value, what+".native"); err != nil {
				return o, err
			}
		}
	}
	if !hasWhen {
		return o, yamlx.Errorf(l.file, n, "%s: missing when (which hosts the override is for, e.g. when: {group: db})", what)
	}
	if !hasAction {
		return o, yamlx.Errorf(l.file, n, "%s: has neither targets nor native; it would change nothing", what)
	}
	// A native block for an OS the when.os pattern excludes could never apply.
	if o.When.OS != "" && nativeKV.Value != nil {
		nkvs, _ := yamlx.Mapping(l.file, nativeKV.Value, what+".native", nil)
		for _, kv := range nkvs {
			if ok, _ := path.Match(o.When.OS, kv.Key); !ok {
				return o, yamlx.Errorf(l.file, kv.KeyN, "%s.native: %s knobs can never apply: this override's when.os is %q", what, kv.Key, o.When.OS)
			}
		}
	}
	return o, nil
}

func (l *loader) when(keyN, n *yaml.Node, what string) (Match, error) {
	var m Match
	kvs, err := yamlx.Mapping(l.file, n, what, whenKeys)
	if err != nil {
		return m, err
	}
	if len(kvs) == 0 {
		at := yamlx.Resolve(n)
		if yamlx.IsNull(n) {
			at = keyN
		}
		return m, yamlx.Errorf(l.file, at, "%s: empty; give at least one of os, group, host (globs allowed)", what)
	}
	for _, kv := range kvs {
		key := what + "." + kv.Key
		s, err := yamlx.String(l.file, kv.Value, key)
		if err != nil {
			return m, err
		}
		if strings.TrimSpace(s) == "" {
			return m, yamlx.Errorf(l.file, kv.Value, "%s: empty pattern", key)
		}
		if _, err := path.Match(s, ""); err != nil {
			return m, yamlx.Errorf(l.file, kv.Value, "%s: %q is not a valid glob pattern", key, s)
		}
		switch kv.Key {
		case "os":
			if !slices.ContainsFunc(platform.OSNames, func(os string) bool { ok, _ := path.Match(s, os); return ok }) {
				if isGlob(s) {
					return m, yamlx.Errorf(l.file, kv.Value, "%s: %q matches no OS family (known: %s)", key, s, strings.Join(platform.OSNames, ", "))
				}
				return m, yamlx.Errorf(l.file, kv.Value, "%s: unknown OS family %q (expected one of: %s)", key, s, strings.Join(platform.OSNames, ", "))
			}
			m.OS = s
		case "group":
			m.Group = s
		case "host":
			m.Host = s
		}
	}
	return m, nil
}

func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// native reads {os: {knob: value}}; every knob is validated for its OS.
func (l *loader) native(n *yaml.Node, what string) (map[string]map[string]string, error) {
	oses, err := yamlx.Mapping(l.file, n, what, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, okv := range oses {
		osName := okv.Key
		if !slices.Contains(platform.OSNames, osName) {
			return nil, yamlx.Errorf(l.file, okv.KeyN, "%s: unknown OS family %q (expected one of: %s)", what, osName, strings.Join(platform.OSNames, ", "))
		}
		if len(platform.NativeKnobNames(osName)) == 0 {
			return nil, yamlx.Errorf(l.file, okv.KeyN, "%s: %v", what, platform.ValidateNative(osName, "", ""))
		}
		okey := what + "." + osName
		knobs, err := yamlx.Mapping(l.file, okv.Value, okey, nil)
		if err != nil {
			return nil, err
		}
		if len(knobs) == 0 {
			return nil, yamlx.Errorf(l.file, okv.KeyN, "%s: no knobs given (known: %s)", okey, strings.Join(platform.NativeKnobNames(osName), ", "))
		}
		set := make(map[string]string, len(knobs))
		for _, kv := range knobs {
			v := yamlx.Resolve(kv.Value)
			if v.Kind != yaml.ScalarNode || yamlx.IsNull(v) {
				return nil, yamlx.Errorf(l.file, v, "%s.%s: expected a value (a number or a string), found %s", okey, kv.Key, yamlx.Kind(v))
			}
			if err := platform.ValidateNative(osName, kv.Key, v.Value); err != nil {
				return nil, yamlx.Errorf(l.file, kv.KeyN, "%s: %v", okey, err)
			}
			set[kv.Key] = v.Value
		}
		out[osName] = set
	}
	return out, nil
}

func (l *loader) guardrails(n *yaml.Node, g *Guardrails) error {
	kvs, err := yamlx.Mapping(l.file, n, "guardrails", guardrailKeys)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		key := "guardrails." + kv.Key
		switch kv.Key {
		case "min_time_wait":
			d, err := yamlx.Duration(l.file, kv.Value, key)
			if err != nil {
				return err
			}
			if d < MinTimeWaitFloor {
				return yamlx.Errorf(l.file, kv.Value, "%s: %s is below %s; TIME_WAIT must never be below the retransmission timeout", key, yamlx.Resolve(kv.Value).Value, MinTimeWaitFloor)
			}
			g.MinTimeWait = d
		case "protect_listening_ports":
			if g.ProtectListeningPorts, err = yamlx.Bool(l.file, kv.Value, key); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *loader) rollout(n *yaml.Node, r *Rollout) error {
	kvs, err := yamlx.Mapping(l.file, n, "rollout", rolloutKeys)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		key := "rollout." + kv.Key
		switch kv.Key {
		case "batch":
			if r.Batch, err = l.ramp(kv.Value, key); err != nil {
				return err
			}
		case "max_failures":
			v := yamlx.Resolve(kv.Value)
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!str") {
				return yamlx.Errorf(l.file, v, "%s: expected a count such as 2 or a percentage such as 10%%, found %s", key, yamlx.Kind(v))
			}
			b, err := ParseBudget(v.Value)
			if err != nil {
				return yamlx.Errorf(l.file, v, "%s: %v", key, err)
			}
			r.MaxFailures = b
		}
	}
	return nil
}

// ramp reads rollout.batch: one size (5, 25%) or a list of them
// ([1, 10%, 25%]); each error names the entry's own line and column.
func (l *loader) ramp(n *yaml.Node, key string) (Ramp, error) {
	v := yamlx.Resolve(n)
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		if len(v.Content) == 0 {
			return nil, yamlx.Errorf(l.file, v, "%s: an empty list; expected sizes such as [1, 10%%, 25%%]", key)
		}
		items = v.Content
	}
	var r Ramp
	for i, it := range items {
		it = yamlx.Resolve(it)
		what := key
		if v.Kind == yaml.SequenceNode {
			what = fmt.Sprintf("%s[%d]", key, i)
		}
		if it.Kind != yaml.ScalarNode || (it.Tag != "!!int" && it.Tag != "!!str") {
			return nil, yamlx.Errorf(l.file, it, "%s: expected a count such as 5, a percentage such as 25%%, or a list such as [1, 10%%, 25%%], found %s", what, yamlx.Kind(it))
		}
		b, err := ParseBatch(it.Value)
		if err != nil {
			return nil, yamlx.Errorf(l.file, it, "%s: %v", what, err)
		}
		r = append(r, b)
	}
	return r, nil
}

func (l *loader) health(n *yaml.Node, h *Health) error {
	kvs, err := yamlx.Mapping(l.file, n, "health", healthKeys)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		key := "health." + kv.Key
		switch kv.Key {
		case "watch":
			if h.Watch, err = yamlx.Duration(l.file, kv.Value, key); err != nil {
				return err
			}
		case "counters":
			if h.Counters, err = yamlx.Bool(l.file, kv.Value, key); err != nil {
				return err
			}
		case "probe":
			if h.Probe, err = l.probe(kv.Value, key); err != nil {
				return err
			}
		case "unchecked":
			s, err := yamlx.String(l.file, kv.Value, key)
			if err != nil {
				return err
			}
			if !slices.Contains(uncheckedValues, s) {
				return yamlx.Errorf(l.file, kv.Value, "%s: %q is not one of: %s", key, s, strings.Join(uncheckedValues, ", "))
			}
			h.Unchecked = s
		case "rollback":
			s, err := yamlx.String(l.file, kv.Value, key)
			if err != nil {
				return err
			}
			if !slices.Contains(rollbackValues, s) {
				return yamlx.Errorf(l.file, kv.Value, "%s: %q is not one of: %s", key, s, strings.Join(rollbackValues, ", "))
			}
			h.Rollback = s
		}
	}
	return nil
}

// probe reads {os: command}. The command runs on the host exactly as given.
func (l *loader) probe(n *yaml.Node, what string) (map[string]string, error) {
	kvs, err := yamlx.Mapping(l.file, n, what, nil)
	if err != nil {
		return nil, err
	}
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if !slices.Contains(platform.OSNames, kv.Key) {
			return nil, yamlx.Errorf(l.file, kv.KeyN, "%s: unknown OS family %q (expected one of: %s)", what, kv.Key, strings.Join(platform.OSNames, ", "))
		}
		key := what + "." + kv.Key
		cmd, err := yamlx.String(l.file, kv.Value, key)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(cmd) == "" {
			return nil, yamlx.Errorf(l.file, kv.Value, "%s: empty command", key)
		}
		if strings.ContainsAny(strings.TrimRight(cmd, "\n"), "\r\n") {
			return nil, yamlx.Errorf(l.file, kv.Value, "%s: the command must be a single line", key)
		}
		out[kv.Key] = strings.TrimSpace(cmd)
	}
	return out, nil
}
