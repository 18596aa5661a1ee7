package views

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestHostsViews(t *testing.T) {
	doc := &HostsDoc{Hosts: []HostLine{
		{Name: "web01", Address: "10.0.0.1", Port: 22, User: "root", Transport: "ssh", Groups: []string{"all", "web"}},
		{Name: "win1" + hostile, Address: "win1", Port: 5986, User: "Administrator", Transport: "winrm", OS: "windows",
			Source: map[string]string{"port": "inventory.yaml:12"}},
	}}
	var b bytes.Buffer
	if err := NewHosts(Text, &b).Hosts(doc); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"HOST", "ADDRESS", "PORT", "USER", "TRANSPORT", "OS", "web01", "10.0.0.1", "(detect)", "5986", "winrm", "2 hosts selected; nothing was contacted."} {
		if !strings.Contains(out, want) {
			t.Errorf("hosts text lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("hosts text carries raw control characters:\n%q", out)
	}

	b.Reset()
	if err := NewHosts(JSON, &b).Hosts(doc); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Hosts) != 2 || back.Hosts[1]["name"] != "win1"+hostile || back.Hosts[1]["port"] != float64(5986) {
		t.Fatalf("hosts JSON: %s", b.String())
	}
	if g, ok := back.Hosts[1]["groups"].([]any); !ok || len(g) != 0 {
		t.Errorf("groups should be [] when empty: %s", b.String())
	}
	if src, _ := back.Hosts[1]["source"].(map[string]any); src["port"] != "inventory.yaml:12" {
		t.Errorf("source per value lost: %s", b.String())
	}
	if _, ok := back.Hosts[0]["source"]; ok {
		t.Errorf("source shown where the inventory does not tell: %s", b.String())
	}
}
