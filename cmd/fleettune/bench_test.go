package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkListHosts1000 is the command layer's own cost on a big fleet:
// parse the flags, load a 1,000-host inventory, select with --limit and
// render --list-hosts, all in-process through run.
func BenchmarkListHosts1000(b *testing.B) {
	var inv strings.Builder
	inv.WriteString("groups:\n")
	for g := range 10 {
		fmt.Fprintf(&inv, "  g%d:\n    hosts: [\"h%d[001:100].example.com\"]\n", g, g)
	}
	path := filepath.Join(b.TempDir(), "inventory.yaml")
	if err := os.WriteFile(path, []byte(inv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	env := map[string]string{"HOME": b.TempDir(), "FLEETTUNE_STATE_DIR": b.TempDir()}
	b.ReportAllocs()
	for b.Loop() {
		g := &globals{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return env[k] }}
		if code := g.run(b.Context(), []string{"plan", "-i", path, "-p", "unused.yaml", "--list-hosts", "-l", "g*,!g9"}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
