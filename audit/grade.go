package audit

import (
	"encoding/json"
	"fmt"
	"time"
)

// Grade is how close a pool or host is to running out.
type Grade int

const (
	OK Grade = iota
	Watch
	Warn
	Crit
	Exhausted
)

var gradeNames = [...]string{"OK", "WATCH", "WARN", "CRIT", "EXHAUSTED"}

// Grades lists every grade, best first.
var Grades = []Grade{OK, Watch, Warn, Crit, Exhausted}

func (g Grade) String() string {
	if g >= 0 && int(g) < len(gradeNames) {
		return gradeNames[g]
	}
	return "UNKNOWN"
}

func (g Grade) MarshalJSON() ([]byte, error) { return json.Marshal(g.String()) }

func (g *Grade) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for i, n := range gradeNames {
		if n == s {
			*g = Grade(i)
			return nil
		}
	}
	return fmt.Errorf("unknown grade %q", s)
}

// Thresholds grade a pool: utilisation (held ÷ usable) at or above Watch,
// Warn and Crit; CRIT also below MinHeadroom or with less than MinTTE to
// exhaustion. The zero value is not useful: start from DefaultThresholds.
type Thresholds struct {
	Watch       float64       `json:"watch"`
	Warn        float64       `json:"warn"`
	Crit        float64       `json:"crit"`
	MinHeadroom float64       `json:"min_headroom"`
	MinTTE      time.Duration `json:"-"`
	MinTTEText  string        `json:"min_time_to_exhaustion"`
}

// DefaultThresholds are audit.md's: 50% (the Linux connect() knee), 66%
// (Pusher's warning), 85%, headroom 1.25×, one hour.
func DefaultThresholds() Thresholds {
	return Thresholds{Watch: 0.50, Warn: 0.66, Crit: 0.85, MinHeadroom: 1.25, MinTTE: time.Hour, MinTTEText: "1h0m0s"}
}

// Validate checks the thresholds are in order.
func (t Thresholds) Validate() error {
	if !(0 < t.Watch && t.Watch < t.Warn && t.Warn < t.Crit && t.Crit <= 1) {
		return fmt.Errorf("audit thresholds: expected 0 < watch < warn < crit <= 100%%, got watch %.0f%%, warn %.0f%%, crit %.0f%%", t.Watch*100, t.Warn*100, t.Crit*100)
	}
	if t.MinHeadroom < 1 {
		return fmt.Errorf("audit thresholds: min_headroom %.2f must be at least 1", t.MinHeadroom)
	}
	if t.MinTTE < 0 {
		return fmt.Errorf("audit thresholds: min_time_to_exhaustion must not be negative")
	}
	return nil
}

// grade grades one pool's figures; headroom <= 0 means no churn, tte <= 0
// means no growth measured.
func (t Thresholds) grade(util, headroom float64, tte time.Duration) Grade {
	switch {
	case util >= 1:
		return Exhausted
	case util >= t.Crit, headroom > 0 && headroom < t.MinHeadroom, tte > 0 && tte < t.MinTTE:
		return Crit
	case util >= t.Warn:
		return Warn
	case util >= t.Watch:
		return Watch
	}
	return OK
}
