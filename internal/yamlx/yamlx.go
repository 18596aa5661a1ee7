// Package yamlx reads YAML documents node by node so that every error names
// the file, line and column of the value that is wrong. The inventory and the
// playbook loaders share it.
package yamlx

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a problem at a place in a YAML file.
type Error struct {
	File         string
	Line, Column int // 1-based; 0 when unknown
	Msg          string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errorf makes an Error at node n (n may be nil).
func Errorf(file string, n *yaml.Node, format string, args ...any) *Error {
	e := &Error{File: file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse parses data and returns the top-level mapping node. An empty document
// gives an empty mapping.
func Parse(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
		}
		return nil, &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, Errorf(file, root, "expected a mapping at the top level, found %s", Kind(root))
	}
	return root, nil
}

// KV is one key and its value in a mapping.
type KV struct {
	Key   string
	KeyN  *yaml.Node
	Value *yaml.Node
}

// Mapping returns the entries of mapping n in file order. what names the
// mapping in messages ("defaults", "group web"). Keys must be unique and, when
// allowed is non-nil, one of allowed.
func Mapping(file string, n *yaml.Node, what string, allowed []string) ([]KV, error) {
	n = Resolve(n)
	if n.Kind != yaml.MappingNode {
		if IsNull(n) {
			return nil, nil
		}
		return nil, Errorf(file, n, "%s: expected a mapping, found %s", what, Kind(n))
	}
	seen := map[string]*yaml.Node{}
	out := make([]KV, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, Errorf(file, k, "%s: keys must be plain strings, found %s", what, Kind(k))
		}
		if prev, dup := seen[k.Value]; dup {
			return nil, Errorf(file, k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
		}
		seen[k.Value] = k
		if allowed != nil && !contains(allowed, k.Value) {
			return nil, Errorf(file, k, "%s: unknown key %q (expected one of: %s)", what, k.Value, strings.Join(sorted(allowed), ", "))
		}
		out = append(out, KV{Key: k.Value, KeyN: k, Value: v})
	}
	return out, nil
}

// Resolve follows aliases.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is an explicit or implicit null.
func IsNull(n *yaml.Node) bool {
	n = Resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// Kind describes a node for messages: "a mapping", "a list", "a string".
func Kind(n *yaml.Node) string {
	n = Resolve(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "a YAML node"
}

// String reads a scalar as a string. Numbers and booleans are refused, so
// that `user: 0` or `become: yes` do not pass silently.
func String(file string, n *yaml.Node, what string) (string, error) {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!null") {
		return "", Errorf(file, n, "%s: expected a string, found %s", what, Kind(n))
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

// Int reads an integer scalar.
func Int(file string, n *yaml.Node, what string) (int, error) {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, Errorf(file, n, "%s: expected an integer, found %s", what, Kind(n))
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v < -1<<31 || v > 1<<31-1 {
		return 0, Errorf(file, n, "%s: %q is not an integer in range", what, n.Value)
	}
	return int(v), nil
}

// Bool reads a boolean scalar (true/false).
func Bool(file string, n *yaml.Node, what string) (bool, error) {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, Errorf(file, n, "%s: expected true or false, found %s", what, Kind(n))
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return false, Errorf(file, n, "%s: %v", what, err)
	}
	return b, nil
}

// Duration reads a Go duration ("30s", "5m"). A bare integer is refused with
// a hint, because "30" could mean seconds or milliseconds.
func Duration(file string, n *yaml.Node, what string) (time.Duration, error) {
	n = Resolve(n)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		return 0, Errorf(file, n, "%s: %s has no unit; write a Go duration such as %ss", what, n.Value, n.Value)
	}
	s, err := String(file, n, what)
	if err != nil {
		return 0, err
	}
	d, perr := time.ParseDuration(strings.TrimSpace(s))
	if perr != nil {
		return 0, Errorf(file, n, "%s: %q is not a duration (expected e.g. 30s, 5m, 1h30m)", what, s)
	}
	if d < 0 {
		return 0, Errorf(file, n, "%s: %s is negative", what, s)
	}
	return d, nil
}

// StringList reads a list of strings; a single string is accepted as a list
// of one.
func StringList(file string, n *yaml.Node, what string) ([]string, error) {
	n = Resolve(n)
	if IsNull(n) {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode {
		s, err := String(file, n, what)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, Errorf(file, n, "%s: expected a list of strings, found %s", what, Kind(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s, err := String(file, c, what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}
