package journal

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReplay feeds the journal reader anything: it must not panic, must
// return a run or an error that names a line, and never claim more valid
// bytes than it was given. Seeds: testdata/fuzz/FuzzReplay and the lines
// below (a real run, torn, damaged).
func FuzzReplay(f *testing.F) {
	good := []byte(`{"type":"run","id":"20261122T171500Z-3f2a","kind":"apply","started":"2026-11-22T17:15:00Z","user":"ops","operator_host":"b1","pid":7,"fleettune_version":"t"}
{"type":"before","host":"web01","os":"linux","conn":{"name":"web01","ssh":{"port":22}},"changes":null,"targets":{},"snapshot":{},"time":"2026-11-22T17:15:01Z"}
{"type":"command","host":"web01","phase":"apply","cmd":"sysctl -w x=1","exit":0,"time":"2026-11-22T17:15:02Z"}
{"type":"result","host":"web01","status":"applied","reboot_required":true,"time":"2026-11-22T17:15:03Z"}
{"type":"reboot","host":"web01","boot_id":"b2","verified":true,"time":"2026-11-22T17:15:04Z"}
{"type":"end","status":"done","time":"2026-11-22T17:15:05Z"}
`)
	f.Add(good)
	f.Add(good[:len(good)-20])
	f.Add(good[10:])
	f.Add([]byte{})
	f.Add([]byte("\n\n\n"))
	f.Add(bytes.Replace(good, []byte(`"before"`), []byte(`"bfore"`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, validEnd, err := replay("fuzz.jsonl", data)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Line < 1 || ce.Path != "fuzz.jsonl" {
				t.Fatalf("error %v is not a CorruptError naming the file and a line", err)
			}
			return
		}
		if validEnd < 0 || validEnd > int64(len(data)) {
			t.Fatalf("validEnd %d of %d bytes", validEnd, len(data))
		}
		if r.Header.ID == "" || r.Header.Kind == "" {
			t.Fatalf("a run without id or kind read fine: %+v", r.Header)
		}
		for _, h := range r.Hosts {
			if r.Host(h.Host) != h {
				t.Fatalf("host %q not found by name", h.Host)
			}
		}
		_ = r.Counts()
	})
}
