package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleettune/fleettune/internal/netnsfleet"
)

func TestUpDown(t *testing.T) {
	if err := netnsfleet.Available(); err != nil {
		if os.Getenv(netnsfleet.EnvRequired) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := filepath.Join(t.TempDir(), "fleet")
	var out, errb bytes.Buffer
	if code := run([]string{"up", "--hosts", "2", "--dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("up: exit %d: %s", code, errb.String())
	}
	t.Cleanup(func() { run([]string{"down", "--dir", dir}, &bytes.Buffer{}, &bytes.Buffer{}) })
	if got := strings.TrimSpace(out.String()); got != filepath.Join(dir, "inventory.yaml") {
		t.Errorf("up printed %q", got)
	}
	f, err := netnsfleet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"up", "--hosts", "2", "--dir", dir}, &out, &errb); code != 1 {
		t.Errorf("second up into the same dir: exit %d", code)
	}
	if code := run([]string{"down", "--dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("down: exit %d: %s", code, errb.String())
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	for _, h := range f.Hosts {
		if bytes.Contains(list, []byte(h.Netns)) {
			t.Errorf("%s survived down", h.Netns)
		}
		if _, err := os.Stat(h.EtcDir); err == nil {
			t.Errorf("%s survived down", h.EtcDir)
		}
	}
	if code := run([]string{"down", "--dir", dir}, &out, &errb); code != 0 {
		t.Errorf("second down: exit %d: %s", code, errb.String())
	}
	for _, args := range [][]string{{}, {"sideways"}, {"up"}, {"down", "--dir", t.TempDir()}, {"up", "--hosts", "0", "--dir", t.TempDir()}} {
		if code := run(args, &out, &errb); code == 0 {
			t.Errorf("%q: exit 0", args)
		}
	}
}
