package platform

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// platform speaks to hosts through its own Runner and Result: it imports
// neither the transports (remote) nor the inventory, only leaf packages of
// its own module.
func TestPlatformImportsNoTransport(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/fleettune/fleettune/") && !strings.HasPrefix(path, "github.com/fleettune/fleettune/internal/") {
				t.Errorf("%s imports %s; platform may import only the module's internal leaf packages", f, path)
			}
		}
	}
}
