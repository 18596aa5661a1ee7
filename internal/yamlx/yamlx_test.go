package yamlx

import (
	"reflect"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// field parses doc and returns the value of key in its top-level mapping.
func field(t *testing.T, doc, key string) *yaml.Node {
	t.Helper()
	root, err := Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := Mapping("f.yaml", root, "top", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value
		}
	}
	t.Fatalf("no key %s", key)
	return nil
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"a: 1\nb: [1, 2\n", "f.yaml:1: invalid YAML: did not find expected ',' or ']'"}, // yaml.v3 names the line the flow's mapping starts on
		{"- a\n- b\n", "f.yaml:1:1: expected a mapping at the top level, found a list"},
		{"a: 1\n\tb: 2\n", "f.yaml:2: invalid YAML: found a tab character that violates indentation"},
	} {
		_, err := Parse("f.yaml", []byte(tc.doc))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %s", tc.doc, err, tc.want)
		}
		if _, ok := AsError(err); !ok {
			t.Errorf("%q: not a *yamlx.Error", tc.doc)
		}
	}
	root, err := Parse("f.yaml", nil)
	if err != nil || root.Kind != yaml.MappingNode || len(root.Content) != 0 {
		t.Errorf("empty document: %v %v", root, err)
	}
}

func TestMapping(t *testing.T) {
	root, _ := Parse("f.yaml", []byte("b: 1\na: 2\n"))
	kvs, err := Mapping("f.yaml", root, "top", []string{"a", "b"})
	if err != nil || len(kvs) != 2 || kvs[0].Key != "b" || kvs[1].Key != "a" || kvs[1].KeyN.Line != 2 {
		t.Errorf("file order and positions: %+v %v", kvs, err)
	}
	for _, tc := range []struct {
		doc     string
		allowed []string
		want    string
	}{
		{"a: 1\nc: 2\n", []string{"b", "a"}, `f.yaml:2:1: top: unknown key "c" (expected one of: a, b)`},
		{"a: 1\na: 2\n", nil, `f.yaml:2:1: top: duplicate key "a" (first at line 1)`},
		{"? [x]\n: 1\n", nil, "f.yaml:1:3: top: keys must be plain strings, found a list"},
	} {
		root, err := Parse("f.yaml", []byte(tc.doc))
		if err == nil {
			_, err = Mapping("f.yaml", root, "top", tc.allowed)
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %s", tc.doc, err, tc.want)
		}
	}
	if kvs, err := Mapping("f.yaml", field(t, "x: ~\n", "x"), "x", nil); kvs != nil || err != nil {
		t.Errorf("null mapping: %v %v", kvs, err)
	}
	if _, err := Mapping("f.yaml", field(t, "x: 3\n", "x"), "x", nil); err == nil || err.Error() != "f.yaml:1:4: x: expected a mapping, found an integer" {
		t.Errorf("scalar as mapping: %v", err)
	}
}

func TestScalars(t *testing.T) {
	doc := "s: web01\nn: 0x10\nb: true\nd: 1h30m\nbare: 30\nneg: -5s\nyes: yes\nlist: [a, b]\none: a\nanchor: &x hello\nalias: *x\nbig: 99999999999\n"
	if s, err := String("f.yaml", field(t, doc, "s"), "s"); s != "web01" || err != nil {
		t.Errorf("String: %q %v", s, err)
	}
	if s, err := String("f.yaml", field(t, doc, "alias"), "alias"); s != "hello" || err != nil {
		t.Errorf("String through an alias: %q %v", s, err)
	}
	if _, err := String("f.yaml", field(t, doc, "n"), "user"); err == nil || err.Error() != "f.yaml:2:4: user: expected a string, found an integer" {
		t.Errorf("String of an integer: %v", err)
	}
	if n, err := Int("f.yaml", field(t, doc, "n"), "n"); n != 16 || err != nil {
		t.Errorf("Int: %d %v", n, err)
	}
	if _, err := Int("f.yaml", field(t, doc, "big"), "port"); err == nil || err.Error() != `f.yaml:12:6: port: "99999999999" is not an integer in range` {
		t.Errorf("Int out of range: %v", err)
	}
	if b, err := Bool("f.yaml", field(t, doc, "b"), "b"); !b || err != nil {
		t.Errorf("Bool: %v %v", b, err)
	}
	// YAML 1.2 (yaml.v3): "yes" is a string, not a boolean.
	if _, err := Bool("f.yaml", field(t, doc, "yes"), "become"); err == nil || err.Error() != `f.yaml:7:6: become: expected true or false, found the string "yes"` {
		t.Errorf("Bool of yes: %v", err)
	}
	if d, err := Duration("f.yaml", field(t, doc, "d"), "d"); d != 90*time.Minute || err != nil {
		t.Errorf("Duration: %v %v", d, err)
	}
	if _, err := Duration("f.yaml", field(t, doc, "bare"), "watch"); err == nil || err.Error() != "f.yaml:5:7: watch: 30 has no unit; write a Go duration such as 30s" {
		t.Errorf("Duration without a unit: %v", err)
	}
	if _, err := Duration("f.yaml", field(t, doc, "neg"), "watch"); err == nil || err.Error() != "f.yaml:6:6: watch: -5s is negative" {
		t.Errorf("negative Duration: %v", err)
	}
	if l, err := StringList("f.yaml", field(t, doc, "list"), "l"); !reflect.DeepEqual(l, []string{"a", "b"}) || err != nil {
		t.Errorf("StringList: %v %v", l, err)
	}
	if l, err := StringList("f.yaml", field(t, doc, "one"), "l"); !reflect.DeepEqual(l, []string{"a"}) || err != nil {
		t.Errorf("StringList of one string: %v %v", l, err)
	}
	if _, err := StringList("f.yaml", field(t, doc, "b"), "groups"); err == nil || err.Error() != "f.yaml:3:4: groups: expected a string, found a boolean" {
		t.Errorf("StringList of a boolean: %v", err)
	}
}
