package platform

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Action is what apply does about one change.
type Action string

const (
	// ActionUpdate changes the live value (and persists it).
	ActionUpdate Action = "update"
	// ActionPersistOnly writes the persisted configuration only: the live
	// value is already right, the next boot would lose it.
	ActionPersistOnly Action = "persist-only"
	// ActionAwaitReboot runs nothing: the target is persisted and only the
	// next boot brings it into force.
	ActionAwaitReboot Action = "await-reboot"
	// ActionRefused runs nothing: a guardrail or an OS limit refused it.
	ActionRefused Action = "refused"
)

// Value is a setting's value, typed. Exactly one field is set: a port
// range, a duration, or a native knob's value in the OS's own form.
type Value struct {
	Ports    *PortRange
	Duration *time.Duration
	Native   *string
}

type valueJSON struct {
	Type     string `json:"type"` // "port_range" | "duration" | "native"
	Low      int    `json:"low,omitempty"`
	High     int    `json:"high,omitempty"`
	Duration string `json:"duration,omitempty"` // Go form: 30s, 5m0s
	Seconds  *int64 `json:"seconds,omitempty"`
	Value    string `json:"value,omitempty"`
}

// String is the operator's form: 10240-65535, 30s, or the native value.
func (v Value) String() string {
	switch {
	case v.Ports != nil:
		return v.Ports.String()
	case v.Duration != nil:
		return v.Duration.String()
	case v.Native != nil:
		return *v.Native
	}
	return ""
}

// MarshalJSON writes {"type":"port_range","low":10240,"high":65535},
// {"type":"duration","duration":"30s","seconds":30} or
// {"type":"native","value":"1"}.
func (v Value) MarshalJSON() ([]byte, error) {
	var j valueJSON
	switch {
	case v.Ports != nil:
		j = valueJSON{Type: "port_range", Low: v.Ports.Low, High: v.Ports.High}
	case v.Duration != nil:
		s := int64(*v.Duration / time.Second)
		j = valueJSON{Type: "duration", Duration: v.Duration.String(), Seconds: &s}
	case v.Native != nil:
		j = valueJSON{Type: "native", Value: *v.Native}
	default:
		return []byte("null"), nil
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes, validating it.
func (v *Value) UnmarshalJSON(b []byte) error {
	var j valueJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = Value{}
	switch j.Type {
	case "port_range":
		r := PortRange{j.Low, j.High}
		if err := r.Validate(); err != nil {
			return err
		}
		v.Ports = &r
	case "duration":
		d, err := time.ParseDuration(j.Duration)
		if err != nil || d <= 0 {
			return fmt.Errorf("value: %q is not a positive duration like 30s", j.Duration)
		}
		v.Duration = &d
	case "native":
		s := j.Value
		v.Native = &s
	default:
		return fmt.Errorf("value: type %q: expected port_range, duration or native", j.Type)
	}
	return nil
}

// Equal reports whether two values are the same, by meaning.
func (v Value) Equal(o Value) bool {
	switch {
	case v.Ports != nil || o.Ports != nil:
		return v.Ports != nil && o.Ports != nil && *v.Ports == *o.Ports
	case v.Duration != nil || o.Duration != nil:
		return v.Duration != nil && o.Duration != nil && *v.Duration == *o.Duration
	case v.Native != nil || o.Native != nil:
		return v.Native != nil && o.Native != nil && *v.Native == *o.Native
	}
	return true
}

func portsValue(r PortRange) *Value        { return &Value{Ports: &r} }
func durationValue(d time.Duration) *Value { return &Value{Duration: &d} }

// targetValue is the typed target of a change, from the targets it was
// proposed for (never from the display string).
func targetValue(c Change, t Targets) *Value {
	switch Setting(c.Setting) {
	case EphemeralPorts:
		if t.EphemeralPorts != nil {
			r := *t.EphemeralPorts
			return &Value{Ports: &r}
		}
	case TimeWait:
		if t.TimeWait != nil {
			d := *t.TimeWait
			return &Value{Duration: &d}
		}
	case KeepaliveTime:
		if t.KeepaliveTime != nil {
			d := *t.KeepaliveTime
			return &Value{Duration: &d}
		}
	}
	if c.Setting == "native" {
		if s, ok := t.Native[c.Knob]; ok {
			return &Value{Native: &s}
		}
	}
	return nil
}

// typeTargets gives every change its typed target, from the targets it
// was proposed for. Every driver's Propose ends with it, so that the
// driver's ApplyCommands builds commands from typed values only.
func (p *Proposal) typeTargets(t Targets) {
	for i := range p.Changes {
		if p.Changes[i].After == nil {
			p.Changes[i].After = targetValue(p.Changes[i], t)
		}
	}
}

// targetPorts and targetDuration are a change's typed target, for the
// drivers' ApplyCommands: never parsed back from the display string.
func targetPorts(c Change) (PortRange, error) {
	if c.After == nil || c.After.Ports == nil {
		return PortRange{}, fmt.Errorf("%s: the change has no typed port range target (make changes with Propose)", c.Knob)
	}
	return *c.After.Ports, nil
}

func targetDuration(c Change) (time.Duration, error) {
	if c.After == nil || c.After.Duration == nil {
		return 0, fmt.Errorf("%s: the change has no typed duration target (make changes with Propose)", c.Knob)
	}
	return *c.After.Duration, nil
}

// actionOf classifies a change as the driver proposed it.
func actionOf(c Change) Action {
	switch {
	case c.Refused != "":
		return ActionRefused
	case c.Pending():
		return ActionAwaitReboot
	case len(c.Commands) == 0:
		return ActionPersistOnly
	}
	return ActionUpdate
}

// Propose is the one place a proposal is made, for plan, apply, rollback
// and status alike: the driver compares facts with targets, then every
// change gets its action and typed target, and the proposal gets its Steps,
// the exact commands apply will run, computed here once. A proposal with a
// refusal has no steps: nothing of it runs.
func Propose(d Driver, f *Facts, t Targets, g Guardrails) (Proposal, error) {
	p := d.Propose(f, t, g)
	refused, actionable := false, false
	for i := range p.Changes {
		c := &p.Changes[i]
		c.Action = actionOf(*c)
		if c.After == nil {
			c.After = targetValue(*c, t)
		}
		switch c.Action {
		case ActionRefused:
			refused = true
		case ActionUpdate, ActionPersistOnly:
			actionable = true
		}
	}
	if refused || !actionable {
		return p, nil
	}
	steps, err := d.ApplyCommands(f, p.Changes)
	if err != nil {
		return p, fmt.Errorf("%s driver: the steps for its own proposal: %w", d.OS(), err)
	}
	p.Steps = steps
	return p, nil
}

// SameChanges compares two proposals' changes field by field, in order,
// and says how b differs from a; "" when they are the same. It is how apply
// holds a saved plan to what the playbook gives.
func SameChanges(a, b []Change) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d changes, not %d", len(b), len(a))
	}
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case x.Setting != y.Setting || x.Knob != y.Knob:
			return fmt.Sprintf("change %d is %s (%s), not %s (%s)", i+1, y.Setting, y.Knob, x.Setting, x.Knob)
		case x.Target != y.Target:
			return fmt.Sprintf("%s: target %s, not %s", x.Knob, y.Target, x.Target)
		case (x.After == nil) != (y.After == nil) || (x.After != nil && !x.After.Equal(*y.After)):
			return fmt.Sprintf("%s: typed target differs", x.Knob)
		case (x.Before == nil) != (y.Before == nil) || (x.Before != nil && !x.Before.Equal(*y.Before)):
			return fmt.Sprintf("%s: typed live value differs", x.Knob)
		case x.Action != y.Action:
			return fmt.Sprintf("%s: action %s, not %s", x.Knob, y.Action, x.Action)
		case !slices.Equal(x.Commands, y.Commands):
			return fmt.Sprintf("%s: commands %q, not %q", x.Knob, y.Commands, x.Commands)
		case x.Persist != y.Persist:
			return fmt.Sprintf("%s: persistence %q, not %q", x.Knob, y.Persist, x.Persist)
		case x.Refused != y.Refused:
			return fmt.Sprintf("%s: refusal %q, not %q", x.Knob, y.Refused, x.Refused)
		case x.RebootRequired != y.RebootRequired || x.RebootReason != y.RebootReason:
			return fmt.Sprintf("%s: reboot %t (%s), not %t (%s)", x.Knob, y.RebootRequired, y.RebootReason, x.RebootRequired, x.RebootReason)
		}
	}
	return ""
}
