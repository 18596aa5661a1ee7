package playbooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// ReadPlan reads a plan saved by plan --out. A file that is not JSON, or
// not a plan, is an error naming the file and, where JSON says, the line.
func ReadPlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return ParsePlan(path, data)
}

// maxPlanSize bounds a plan file: far above any real fleet's plan, far
// below what would hurt to hold in memory.
const maxPlanSize = 256 << 20

// ParsePlan reads a plan from data; path names it in errors.
func ParsePlan(path string, data []byte) (*Plan, error) {
	if len(data) > maxPlanSize {
		return nil, fmt.Errorf("%s: not a fleettune plan: %d bytes, more than the %d a plan may have", path, len(data), maxPlanSize)
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("%s:%d: not a fleettune plan: %v", path, lineAt(data, syn.Offset), err)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("%s:%d: not a fleettune plan: %s has %s, expected %s", path, lineAt(data, typ.Offset), typ.Field, typ.Value, typ.Type)
		}
		return nil, fmt.Errorf("%s: not a fleettune plan: %v", path, err)
	}
	if p.Kind != "plan" || p.RunID == "" {
		return nil, fmt.Errorf("%s: not a fleettune plan (kind %q); make one with fleettune plan --out", path, p.Kind)
	}
	return &p, nil
}

// lineAt is the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
