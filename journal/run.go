package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

// Run is a journal replayed.
type Run struct {
	Header Header
	// Hosts in the order the journal first mentions them.
	Hosts  []*HostRun
	Health []HealthRecord
	// End is nil when the run never finished: it crashed, was killed, or is
	// still running (only the lock can tell which).
	End *EndRecord
	// Torn is set when the last line was cut short, by a crash while it was
	// written; that record is lost, every earlier one is there.
	Torn bool
	// Path is the journal file.
	Path string
	// Err is set, by Runs and Last only, on a run that could not be read;
	// the rest of the Run is what could be read before the error.
	Err error

	byName map[string]*HostRun
}

// HostRun is one host's part of a run.
type HostRun struct {
	Host string
	OS   string
	// BootID is the boot id before the change.
	BootID string
	// Conn is how to reach the host, as it was when the run touched it.
	Conn inventory.Host
	// Before is what the host had before the run changed it; nil when the
	// run never got as far as changing the host (no "before" record). A
	// host with Before set may have been changed, even without command
	// records (a crash while its first command ran): rollback must consider
	// it. When a run wrote several "before" records for a host, this is the
	// first, the state before the run touched it at all.
	Before  *platform.Snapshot
	Changes []platform.Change
	Targets platform.Targets
	// Commands in the order they ran.
	Commands []CommandRecord
	// Result is the last result recorded for the host; nil if none.
	Result *ResultRecord
	// RebootPending: the last result needs a reboot and no verified reboot
	// record came after it.
	RebootPending bool
	// RebootCleared is the verified reboot record that cleared the reboot.
	RebootCleared *RebootRecord
	// Reboots are every reboot record, verified or not, in order.
	Reboots []RebootRecord
}

// Status is the host's last result status, "" when it has none.
func (h *HostRun) Status() record.Status {
	if h.Result == nil {
		return ""
	}
	return h.Result.Status
}

// ID is the run id.
func (r *Run) ID() string { return r.Header.ID }

// Finished reports whether the run has an end record.
func (r *Run) Finished() bool { return r.End != nil }

// Host is the named host's part of the run, or nil.
func (r *Run) Host(name string) *HostRun {
	if r.byName == nil {
		return nil
	}
	return r.byName[name]
}

// Counts counts the run's hosts: "hosts" (all), one key per last result
// status ("applied", "failed", ...), "no_result" for hosts without a result,
// and "reboot_pending".
func (r *Run) Counts() map[string]int {
	c := map[string]int{"hosts": len(r.Hosts)}
	for _, h := range r.Hosts {
		if h.Result == nil {
			c["no_result"]++
		} else {
			c[string(h.Result.Status)]++
		}
		if h.RebootPending {
			c["reboot_pending"]++
		}
	}
	return c
}

// CorruptError is ErrCorrupt with the file and line.
type CorruptError struct {
	Path string
	Line int
	Msg  string

	partial *Run // what was read before the bad line
	// neverStarted: the run has no complete header line, so its Create
	// never returned and it never touched a host.
	neverStarted bool
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s:%d: %s; the journal is damaged: repair or move that file aside", e.Path, e.Line, e.Msg)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func (r *Run) host(name string) *HostRun {
	if h := r.byName[name]; h != nil {
		return h
	}
	h := &HostRun{Host: name, Conn: inventory.Host{Name: name}}
	r.byName[name] = h
	r.Hosts = append(r.Hosts, h)
	return h
}

// replay parses a journal. It returns the run and the length of the valid
// prefix of data: everything but a torn last line.
func replay(path string, data []byte) (*Run, int64, error) {
	r := &Run{Path: path, byName: map[string]*HostRun{}}
	type line struct {
		num        int
		start, end int // end excludes the newline
	}
	var lines []line
	for start, num := 0, 1; start < len(data); num++ {
		end := bytes.IndexByte(data[start:], '\n')
		next := start + end + 1
		if end < 0 {
			end, next = len(data)-start, len(data)
		}
		// Blank lines carry no record; a hand repair may leave one.
		if len(bytes.TrimSpace(data[start:start+end])) > 0 {
			lines = append(lines, line{num, start, start + end})
		}
		start = next
	}
	fail := func(l line, format string, a ...any) (*Run, int64, error) {
		return nil, 0, &CorruptError{Path: path, Line: l.num, Msg: fmt.Sprintf(format, a...), partial: r}
	}
	if len(lines) == 0 {
		return nil, 0, &CorruptError{Path: path, Line: 1, Msg: "empty: no run header (fleettune stopped while creating this run, before it touched any host)", neverStarted: true}
	}
	validEnd := int64(len(data))
	for i, l := range lines {
		text := data[l.start:l.end]
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(text, &head); err != nil {
			if i == len(lines)-1 {
				// A torn last line: the crash that cut it also means its
				// Append never returned.
				if i == 0 {
					return nil, 0, &CorruptError{Path: path, Line: l.num, Msg: "the run header is torn (fleettune stopped while creating this run, before it touched any host)", neverStarted: true}
				}
				r.Torn = true
				validEnd = int64(l.start)
				break
			}
			return fail(l, "not a JSON record: %v", err)
		}
		if i == 0 && head.Type != TypeRun {
			return fail(l, "the first record is %q, want the run header (\"run\")", head.Type)
		}
		if err := r.apply(head.Type, text); err != nil {
			return fail(l, "%s record: %v", quoteType(head.Type), err)
		}
	}
	return r, validEnd, nil
}

func quoteType(t string) string {
	if t == "" {
		return "untyped"
	}
	return fmt.Sprintf("%q", t)
}

// apply replays one record.
func (r *Run) apply(typ string, text []byte) error {
	switch typ {
	case TypeRun:
		if r.Header.ID != "" {
			return fmt.Errorf("a second run header")
		}
		if err := json.Unmarshal(text, &r.Header); err != nil {
			return err
		}
		if r.Header.ID == "" || r.Header.Kind == "" {
			return fmt.Errorf("no id or kind")
		}
	case TypeBefore:
		var b BeforeRecord
		if err := json.Unmarshal(text, &b); err != nil {
			return err
		}
		if b.Host == "" {
			return fmt.Errorf("no host")
		}
		h := r.host(b.Host)
		if h.Before == nil {
			snap := b.Snapshot
			h.Before = &snap
			h.OS, h.BootID, h.Changes = b.OS, b.BootID, b.Changes
			h.Conn, h.Targets = inventory.Host(b.Conn), b.Targets
			if h.Conn.Name == "" {
				h.Conn.Name = b.Host
			}
		}
	case TypeCommand:
		var c CommandRecord
		if err := json.Unmarshal(text, &c); err != nil {
			return err
		}
		if c.Host == "" {
			return fmt.Errorf("no host")
		}
		h := r.host(c.Host)
		h.Commands = append(h.Commands, c)
	case TypeResult:
		var res ResultRecord
		if err := json.Unmarshal(text, &res); err != nil {
			return err
		}
		if res.Host == "" {
			return fmt.Errorf("no host")
		}
		h := r.host(res.Host)
		h.Result = &res
		h.RebootPending, h.RebootCleared = res.RebootRequired, nil
	case TypeHealth:
		var hr HealthRecord
		if err := json.Unmarshal(text, &hr); err != nil {
			return err
		}
		r.Health = append(r.Health, hr)
	case TypeReboot:
		var rb RebootRecord
		if err := json.Unmarshal(text, &rb); err != nil {
			return err
		}
		if rb.Host == "" {
			return fmt.Errorf("no host")
		}
		h := r.host(rb.Host)
		h.Reboots = append(h.Reboots, rb)
		if rb.Verified && h.RebootPending {
			h.RebootPending, h.RebootCleared = false, &rb
		}
	case TypeEnd:
		var e EndRecord
		if err := json.Unmarshal(text, &e); err != nil {
			return err
		}
		r.End = &e
	default:
		return fmt.Errorf("unknown record type (known: %s)", strings.Join([]string{TypeRun, TypeBefore, TypeCommand, TypeResult, TypeHealth, TypeReboot, TypeEnd}, ", "))
	}
	return nil
}

// PendingReboot is a host that a run left awaiting a reboot.
type PendingReboot struct {
	Run  *Run
	Host *HostRun
}

// PendingReboots lists the hosts awaiting a reboot across runs (given
// oldest first, as Runs returns them). For each host the newest run whose
// last result for it is applied, ok or rolled_back has the say: a later
// rollback or a fresh apply supersedes an older run's pending reboot. A
// failed, unreachable or skipped result does not: such a run either never
// changed the host or put it back as it was.
func PendingReboots(runs []*Run) []PendingReboot {
	latest := map[string]*HostRun{}
	for _, r := range runs {
		for _, h := range r.Hosts {
			switch h.Status() {
			case StatusApplied, StatusOK, StatusRolledBack:
			default:
				continue
			}
			latest[h.Host] = h
		}
	}
	var out []PendingReboot
	for _, r := range runs {
		for _, h := range r.Hosts {
			if latest[h.Host] == h && h.RebootPending {
				out = append(out, PendingReboot{Run: r, Host: h})
			}
		}
	}
	return out
}
