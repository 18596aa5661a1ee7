package arrows

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/fleettune/fleettune"

// forbidden are the arrows that must not exist: a package (or any package
// below it) must not depend on these, directly or through another package.
var forbidden = []struct {
	from string // an import path prefix inside the module; "" is every package
	// except exempts packages below these prefixes from the rule.
	except []string
	to     []string
	why    string
}{
	{
		from: module + "/platform",
		to:   []string{module + "/remote", module + "/inventory"},
		why:  "a driver needs a Runner, not an SSH client, and owns its Result (style.md, \"One driver interface\")",
	},
	{
		from: module + "/internal/record",
		to:   []string{module + "/playbooks", module + "/journal", module + "/platform", module + "/inventory", module + "/remote", module + "/views"},
		why:  "the engine and the journal share record's types, so record sits below both and imports neither",
	},
	{
		from: module + "/journal",
		to:   []string{module + "/playbooks"},
		why:  "the journal stores the engine's records (internal/record), it does not know the engine",
	},
	{
		from:   "",
		except: []string{module + "/cmd/"},
		to:     []string{"github.com/spf13/cobra", "github.com/spf13/pflag"},
		why:    "nothing below cmd/ reads flags (style.md, \"The flow\")",
	},
}

// knownExceptions are arrows that exist today and are being removed. The
// list must only shrink: an entry that no longer holds fails the test so
// that it is deleted, and an arrow not listed here fails it too.
// (platform -> remote is gone: platform.Result is internal/hostcmd's.)
var knownExceptions = map[string][]string{}

// pkg is as much of `go list -json` as the test reads.
type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
	Module     *struct{ Path string }
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages of %s", len(pkgs), module)
	}
	return pkgs
}

func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, strings.TrimSuffix(prefix, "/")+"/")
}

// TestForbiddenArrows fails when a package depends on what it must not.
func TestForbiddenArrows(t *testing.T) {
	pkgs := listPackages(t)
	seen := map[string]map[string]bool{} // known exceptions that still hold
	for _, p := range pkgs {
		for _, rule := range forbidden {
			if rule.from != "" && !under(p.ImportPath, rule.from) {
				continue
			}
			if slices.ContainsFunc(rule.except, func(e string) bool { return under(p.ImportPath, e) }) {
				continue
			}
			for _, to := range rule.to {
				if !slices.ContainsFunc(p.Deps, func(d string) bool { return under(d, to) }) {
					continue
				}
				how := "through " + strings.Join(via(p, to, pkgs), ", ")
				if slices.Contains(p.Imports, to) {
					how = "directly"
				}
				if slices.Contains(knownExceptions[p.ImportPath], to) {
					if seen[p.ImportPath] == nil {
						seen[p.ImportPath] = map[string]bool{}
					}
					seen[p.ImportPath][to] = true
					t.Logf("KNOWN EXCEPTION, being removed: %s imports %s (%s): %s", p.ImportPath, to, how, rule.why)
					continue
				}
				t.Errorf("%s imports %s (%s): %s", p.ImportPath, to, how, rule.why)
			}
		}
	}
	for from, tos := range knownExceptions {
		for _, to := range tos {
			if !seen[from][to] {
				t.Errorf("%s no longer imports %s: delete it from knownExceptions so that it cannot come back", from, to)
			}
		}
	}
}

// via names the packages of the module that p imports and that bring in to.
func via(p pkg, to string, pkgs []pkg) []string {
	byPath := map[string]pkg{}
	for _, q := range pkgs {
		byPath[q.ImportPath] = q
	}
	var out []string
	for _, imp := range p.Imports {
		if q, ok := byPath[imp]; ok && slices.ContainsFunc(q.Deps, func(d string) bool { return under(d, to) }) {
			out = append(out, imp)
		}
	}
	if len(out) == 0 {
		out = []string{"a third-party package"}
	}
	return out
}

// streams are the process-wide standard streams and environment that
// only a command's main may touch; below it they come as arguments.
var streams = []string{"Stdin", "Stdout", "Stderr"}

// TestNoStandardStreamsBelowCmd fails when a package outside cmd/ names
// os.Stdin, os.Stdout or os.Stderr, and when cmd/fleettune names them, or
// os.Getenv, anywhere but in main itself.
func TestNoStandardStreamsBelowCmd(t *testing.T) {
	for _, p := range listPackages(t) {
		inCmd := under(p.ImportPath, module+"/cmd")
		if inCmd && p.ImportPath != module+"/cmd/fleettune" {
			continue // other commands keep their own conventions
		}
		names := streams
		if inCmd {
			names = append(slices.Clone(streams), "Getenv", "Environ", "LookupEnv")
		}
		for _, f := range p.GoFiles {
			for _, use := range osUses(t, filepath.Join(p.Dir, f), names) {
				if inCmd && use.fn == "main" && f == "main.go" {
					continue
				}
				where := "package " + p.ImportPath
				if inCmd {
					where = "cmd/fleettune below main (func " + use.fn + ")"
				}
				t.Errorf("%s: os.%s in %s: take the stream or getenv as an argument (style.md, \"A thin, tested command layer\")", use.pos, use.name, where)
			}
		}
	}
}

type osUse struct {
	pos  token.Position
	name string
	fn   string // the enclosing top-level function, "" outside one
}

// osUses finds the selectors os.NAME in a file, whatever name the file
// imports os under.
func osUses(t *testing.T, path string, names []string) []osUse {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	local := ""
	for _, imp := range file.Imports {
		if imp.Path.Value == `"os"` {
			local = "os"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	if local == "" || local == "_" {
		return nil
	}
	var out []osUse
	for _, decl := range file.Decls {
		fn := ""
		if fd, ok := decl.(*ast.FuncDecl); ok {
			fn = fd.Name.Name
		}
		ast.Inspect(decl, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == local && slices.Contains(names, sel.Sel.Name) {
				out = append(out, osUse{pos: fset.Position(sel.Pos()), name: sel.Sel.Name, fn: fn})
			}
			return true
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos.Offset < out[j].pos.Offset })
	return out
}

// The scanner itself: it finds a use under an alias and inside a closure,
// and ignores a local variable that happens to be called os.
func TestOSUsesScanner(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import sys "os"

func f() {
	go func() { sys.Stdout.Write(nil) }()
}

func g() {
	type o struct{ Stdout int }
	os := o{}
	_ = os.Stdout
}
`
	path := filepath.Join(dir, "x.go")
	if err := writeFile(path, src); err != nil {
		t.Fatal(err)
	}
	uses := osUses(t, path, streams)
	if len(uses) != 1 || uses[0].name != "Stdout" || uses[0].fn != "f" || uses[0].pos.Line != 6 {
		t.Errorf("uses = %+v, want one os.Stdout in f at line 6", uses)
	}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }
