package record

import (
	"encoding/json"
	"testing"
)

func TestStatusValid(t *testing.T) {
	for _, s := range Statuses {
		if !s.Valid() {
			t.Errorf("%q is not valid", s)
		}
	}
	for _, s := range []Status{"", "changes", "Applied", "rolled-back"} {
		if s.Valid() {
			t.Errorf("%q is valid", s)
		}
	}
}

// TestCommandJSONNames pins the field names the journal has always
// written for a command record: journals on disk depend on them.
func TestCommandJSONNames(t *testing.T) {
	b, err := json.Marshal(Command{Host: "h", Phase: PhaseRestore, Cmd: "c", Exit: -1, Stderr: "e", Error: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"host":"h","phase":"restore","cmd":"c","exit":-1,"stderr":"e","error":"lost","time":"0001-01-01T00:00:00Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
