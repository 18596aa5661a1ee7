package inventory_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

// The inventory accepts exactly the OS families the drivers know.
func TestOSNamesMatchPlatform(t *testing.T) {
	if !reflect.DeepEqual(inventory.OSNames, platform.OSNames) {
		t.Errorf("inventory accepts os %v, platform knows %v", inventory.OSNames, platform.OSNames)
	}
}

// The example an operator copies loads, and says what its comments say.
func TestExampleInventory(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	inv, err := inventory.Load(filepath.Join("..", "examples", "inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) == 0 {
		t.Fatal("the example has no hosts")
	}
	hs, err := inv.Select("web,db*,!db2.example.com")
	if err != nil {
		t.Fatalf("the contract's --limit example: %v", err)
	}
	for _, h := range hs {
		if h.Name == "db2.example.com" {
			t.Errorf("db2.example.com selected despite !db2.example.com")
		}
	}
	db2 := inv.Host("db2.example.com")
	if db2 == nil || db2.Addr() != "10.0.0.12" || db2.OS != "solaris" || db2.User != "ops" ||
		db2.SSH.Become != "sudo" || db2.SSH.Port != 2222 {
		t.Errorf("db2.example.com = %+v; want address 10.0.0.12, solaris, ops, sudo, port 2222", db2)
	}
	for _, name := range []string{"win1.corp.example.com", "win4.corp.example.com"} {
		h := inv.Host(name)
		if h == nil || h.Transport != "winrm" || h.User != "Administrator" {
			t.Errorf("%s = %+v; want winrm as Administrator", name, h)
		}
	}
	if w := inv.Host("web01.example.com"); w == nil || w.Transport != "ssh" || w.SSH.Port != 22 {
		t.Errorf("web01.example.com = %+v; want ssh on port 22", w)
	}
}
