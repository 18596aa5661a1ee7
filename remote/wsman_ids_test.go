package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/masterzen/winrm"
)

func readWsman(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wsman", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The ids fleettune reads from Create's and Command's answers are the
// library's, on Windows' own answers and on variations of them.
func TestParseCreateAndCommandResponses(t *testing.T) {
	create, command := readWsman(t, "create.xml"), readWsman(t, "command.xml")
	id, err := parseCreateResponse(create)
	lib, lerr := winrm.ParseOpenShellResponse(create)
	if err != nil || lerr != nil || id != lib || id != "67A74734-DD32-4F10-89DE-49A060483810" {
		t.Errorf("Create: %q, %v; the library %q, %v", id, err, lib, lerr)
	}
	cid, err := parseCommandResponse(command)
	lcid, lerr := winrm.ParseExecuteCommandResponse(command)
	if err != nil || lerr != nil || cid != lcid || cid != "1A6DEE6B-EC68-4DD6-87E9-030C0048ECC4" {
		t.Errorf("Command: %q, %v; the library %q, %v", cid, err, lcid, lerr)
	}
	// Other prefixes for the same namespaces: names are matched by URI.
	renamed := strings.NewReplacer("xmlns:w=", "xmlns:q=", "<w:", "<q:", "</w:", "</q:").Replace(create)
	if id, err := parseCreateResponse(renamed); err != nil || id != lib {
		t.Errorf("Create with the wsman prefix renamed: %q, %v", id, err)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no ShellId", strings.ReplaceAll(create, `Name="ShellId"`, `Name="Other"`), "names no ShellId"},
		{"ShellId in another namespace", strings.ReplaceAll(create, `<w:Selector Name="ShellId">`, `<rsp:Selector Name="ShellId">`), ""},
		{"not XML", "<html>502 Bad Gateway", "the answer to Create"},
		{"a DTD", `<!DOCTYPE x [<!ENTITY a "b">]>` + create, "document type declaration"},
	} {
		_, err := parseCreateResponse(tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create, %s: %v; want an error with %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"another action", strings.Replace(command, "shell/CommandResponse</a:Action>", "shell/ReceiveResponse</a:Action>", 1), "unsupported action"},
		{"no CommandId", strings.NewReplacer("<rsp:CommandId>", "<rsp:Other>", "</rsp:CommandId>", "</rsp:Other>").Replace(command), "names no CommandId"},
		{"cut short", command[:len(command)/2], "the answer to Command"},
	} {
		_, err := parseCommandResponse(tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Command, %s: %v; want an error with %q", tc.name, err, tc.want)
		}
		if _, lerr := winrm.ParseExecuteCommandResponse(tc.body); lerr == nil && tc.name != "no CommandId" {
			t.Errorf("Command, %s: the library accepts it", tc.name)
		}
	}
}

// Whatever the answer, an id read is the library's.
func FuzzParseCreateResponse(f *testing.F) {
	f.Add(readWsman(f, "create.xml"))
	f.Add(readWsman(f, "command.xml"))
	f.Fuzz(func(t *testing.T, body string) {
		id, err := parseCreateResponse(body)
		if err != nil {
			return
		}
		lib, lerr := winrm.ParseOpenShellResponse(body)
		if lerr == nil && lib != id {
			t.Errorf("parseCreateResponse = %q; the library %q", id, lib)
		}
	})
}

func BenchmarkParseCreateResponse(b *testing.B) {
	body := readWsman(b, "create.xml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseCreateResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLibraryCreateResponse(b *testing.B) {
	body := readWsman(b, "create.xml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := winrm.ParseOpenShellResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}
