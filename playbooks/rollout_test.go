package playbooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/fleettune/fleettune/remote"
)

func TestLoadRamp(t *testing.T) {
	pb := mustLoad(t, "ramp.yaml")
	want := Rollout{Batch: Ramp{{Count: 1}, {Percent: 10}, {Percent: 25}}, MaxFailures: Budget{Percent: 10}}
	if !reflect.DeepEqual(pb.Rollout, want) {
		t.Fatalf("rollout %+v, want %+v", pb.Rollout, want)
	}
	s := pb.Settings()
	if s.Batch != "1,10%,25%" || s.MaxFailures != (Budget{Percent: 10}) {
		t.Errorf("settings batch %q max_failures %v", s.Batch, s.MaxFailures)
	}
}

func TestRampSizes(t *testing.T) {
	tests := []struct {
		ramp  string
		total int
		want  []int
	}{
		{"1,10%,25%", 100, []int{1, 10, 25, 25, 25, 14}}, // the last size repeats; the rest ends it
		{"1,10%,25%", 3, []int{1, 1, 1}},                 // 10% of 3 is at least one host
		{"1,50%", 4, []int{1, 2, 1}},
		{"5", 12, []int{5, 5, 2}},
		{"100%", 7, []int{7}},
		{"1,2,3", 2, []int{1, 1}},
		{"25%", 0, nil},
	}
	for _, tt := range tests {
		r, err := ParseRamp(tt.ramp)
		if err != nil {
			t.Fatalf("ParseRamp(%q): %v", tt.ramp, err)
		}
		if got := r.Sizes(tt.total); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s of %d hosts: %v, want %v", tt.ramp, tt.total, got, tt.want)
		}
		if r.String() != tt.ramp {
			t.Errorf("String() = %q, want %q", r.String(), tt.ramp)
		}
	}
	if got := (Ramp{}).Sizes(9); !reflect.DeepEqual(got, []int{9}) {
		t.Errorf("an empty ramp: %v, want every host at once", got)
	}
}

func TestParseRampErrors(t *testing.T) {
	for in, want := range map[string]string{
		"1,0,25%": `step 2 of "1,0,25%": "0": a batch must hold at least 1 host`,
		"1,,5":    `step 2 of "1,,5": "": expected a count such as 5 or a percentage such as 25%`,
		"x":       `"x": expected a count such as 5 or a percentage such as 25%`,
	} {
		if _, err := ParseRamp(in); err == nil || err.Error() != want {
			t.Errorf("ParseRamp(%q) = %v, want %s", in, err, want)
		}
	}
}

func TestBudget(t *testing.T) {
	tests := []struct {
		in              string
		failures, sofar int
		exceeded        bool
	}{
		{"0", 0, 10, false},
		{"0", 1, 10, true},
		{"2", 2, 10, false},
		{"2", 3, 10, true},
		{"10%", 1, 10, false}, // 10% of 10 is 1: one failure is within it
		{"10%", 2, 10, true},
		{"10%", 1, 1, true}, // the canary alone failing is 100%
		{"0%", 1, 100, true},
	}
	for _, tt := range tests {
		b, err := ParseBudget(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Exceeded(tt.failures, tt.sofar); got != tt.exceeded {
			t.Errorf("%s: %d of %d exceeded = %v, want %v", tt.in, tt.failures, tt.sofar, got, tt.exceeded)
		}
	}
	for _, bad := range []string{"-1", "101%", "ten", "%"} {
		if _, err := ParseBudget(bad); err == nil {
			t.Errorf("ParseBudget(%q) succeeded", bad)
		}
	}
}

// A saved plan writes a count as a number (as plans always did) and a
// percentage as a string, and reads both back.
func TestBudgetJSON(t *testing.T) {
	for _, b := range []Budget{{Count: 3}, {Percent: 10}, {}} {
		data, err := json.Marshal(RunSettings{MaxFailures: b})
		if err != nil {
			t.Fatal(err)
		}
		var back RunSettings
		if err := json.Unmarshal(data, &back); err != nil || back.MaxFailures != b {
			t.Errorf("%s round trip: %s -> %+v, %v", b, data, back.MaxFailures, err)
		}
	}
	data, _ := json.Marshal(Budget{Percent: 10})
	if string(data) != `"10%"` {
		t.Errorf("10%% marshals as %s", data)
	}
	var b Budget
	if err := json.Unmarshal([]byte(`"abc"`), &b); err == nil {
		t.Error(`"abc" unmarshalled`)
	}
	if err := json.Unmarshal([]byte(`-2`), &b); err == nil {
		t.Error(`-2 unmarshalled`)
	}
}

func TestApplyRampBatches(t *testing.T) {
	f := newKVFleet(10, nil)
	o := rangeOptions("20000-60999", Batch{}, Health{})
	o.Batch = Ramp{{Count: 1}, {Count: 3}}
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	var got []int
	for _, h := range out.Hosts {
		got = append(got, h.Batch)
	}
	if want := []int{1, 2, 2, 2, 3, 3, 3, 4, 4, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	if len(out.Batches) != 4 || !out.Batches[0].Canary || out.Batches[1].Canary || out.Summary.Applied != 10 {
		t.Errorf("batches %+v summary %+v", out.Batches, out.Summary)
	}
}

// Unreachable hosts count as failed, and a percentage is of the hosts
// started so far.
func TestApplyPercentBudgetCountsUnreachable(t *testing.T) {
	f := newKVFleet(10, nil)
	f.names = append(f.names, "gone1", "gone2", "gone3") // in the inventory, not answering
	o := rangeOptions("20000-60999", Batch{}, Health{})
	o.Batch = Ramp{{Count: 10}, {Count: 3}}
	o.MaxFailures = Budget{Percent: 20}
	out := f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	// 3 of 13 is 23%: over the budget, but the last batch ends the run anyway.
	if out.Summary.Unreachable != 3 || out.Summary.Applied != 10 || out.Stopped != "" {
		t.Fatalf("summary %+v stopped %q", out.Summary, out.Stopped)
	}

	f = newKVFleet(10, nil)
	f.names = append([]string{"gone1"}, f.names...)
	o.Batch = Ramp{{Count: 1}, {Count: 5}}
	o.MaxFailures = Budget{Percent: 50}
	out = f.engine(&memJournal{}).Apply(context.Background(), "run", f.inventory(), o)
	if out.Summary.Unreachable != 1 || out.Summary.Applied != 0 || out.Summary.Skipped != 10 {
		t.Fatalf("an unreachable canary (100%% > 50%%) must stop the rollout: summary %+v", out.Summary)
	}
	if want := "1 of 1 host failed or unreachable, more than rollout.max_failures (50%) allows: rollout stopped"; out.Stopped != want {
		t.Errorf("stopped %q\n want %q", out.Stopped, want)
	}
	if !strings.Contains(out.Hosts[1].Error, "max_failures") {
		t.Errorf("a host not started says why: %q", out.Hosts[1].Error)
	}
}

// A saved plan carries the ramp and the failure budget: they survive the
// JSON round trip, apply runs with them, and Verify refuses a plan whose
// budget was edited.
func TestPlanRecordsRamp(t *testing.T) {
	f := newKVFleet(3, nil)
	pb, err := Parse("kv.yaml", []byte("name: kv\ntargets: {ephemeral_ports: 20000-60999}\nhealth: {probe: {linux: probe}}\nrollout: {batch: [1, 50%], max_failures: 10%}\n"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(planWith(t, f, pb))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"batch":"1,50%","max_failures":"10%"`) {
		t.Errorf("plan JSON does not record the ramp: %s", data)
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(pb, f.inventory(), kvDrivers); err != nil {
		t.Fatalf("the saved plan is refused: %v", err)
	}
	o, err := p.ApplyOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.Batch.String() != "1,50%" || o.MaxFailures != (Budget{Percent: 10}) {
		t.Errorf("apply options batch %s max_failures %s", o.Batch, o.MaxFailures)
	}
	p.Settings.MaxFailures = Budget{Percent: 90}
	if err := p.Verify(pb, f.inventory(), kvDrivers); err == nil || !strings.Contains(err.Error(), `settings.max_failures is "90%" in the plan, "10%" in the playbook`) {
		t.Errorf("an edited budget: Verify = %v", err)
	}
}

type recorder struct{ events []Event }

func (r *recorder) Progress(ev Event) { r.events = append(r.events, ev) }

// The engine tells a progress view every batch, host and watch, in order,
// with the reason of each failure.
func TestApplyProgressEvents(t *testing.T) {
	f := newKVFleet(3, nil)
	f.names = append(f.names, "gone")
	o := rangeOptions("20000-60999", Batch{}, Health{})
	o.Batch = Ramp{{Count: 1}, {Count: 3}}
	o.MaxFailures = Budget{Count: 1}
	rec := &recorder{}
	e := f.engine(&memJournal{})
	e.Progress = rec
	e.Apply(context.Background(), "run", f.inventory(), o)
	var got []string
	for _, ev := range rec.events {
		switch ev.Kind {
		case RolloutStarted:
			got = append(got, fmt.Sprintf("start %d/%d", ev.Total, ev.Batches))
		case BatchStarted:
			got = append(got, fmt.Sprintf("batch %d/%d canary=%v hosts=%d", ev.Batch, ev.Batches, ev.Canary, ev.Hosts))
		case HostDone:
			got = append(got, fmt.Sprintf("host %s %s %s", ev.Host, ev.Status, ev.Reason))
		case WatchStarted:
			got = append(got, fmt.Sprintf("watch %d %s", ev.Batch, ev.Watch))
		case BatchDone:
			got = append(got, fmt.Sprintf("done %d changed=%d", ev.Batch, ev.Changed))
		case RolloutDone:
			got = append(got, "end "+ev.Stopped)
		}
	}
	sort.Strings(got[6:9]) // the second batch's hosts run in parallel
	want := []string{
		"start 4/2",
		"batch 1/2 canary=true hosts=1", "host h01 applied ", "watch 1 1m0s", "done 1 changed=1",
		"batch 2/2 canary=false hosts=3", "host gone unreachable host unreachable", "host h02 applied ", "host h03 applied ",
	}
	if !reflect.DeepEqual(got[:len(want)], want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rest := got[len(want):]; len(rest) != 3 || rest[0] != "watch 2 1m0s" || rest[1] != "done 2 changed=2" || rest[2] != "end " {
		t.Errorf("then %q", rest)
	}
}

func TestReason(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&remote.Error{Host: "a", Kind: remote.ErrUnreachable, Err: refused}, "connection refused"},
		{&remote.Error{Host: "a", Kind: remote.ErrUnreachable, Err: os.ErrDeadlineExceeded}, "connection timed out"},
		{&remote.Error{Host: "a", Kind: remote.ErrUnreachable, Err: errors.New("proxy command exited 255")}, "host unreachable"},
		{&remote.Error{Host: "a", Kind: remote.ErrAuth}, "authentication failed"},
		{&remote.Error{Host: "a", Kind: remote.ErrHostKey}, "host key verification failed"},
		{fmt.Errorf("verify: %w", &remote.Error{Host: "a", Kind: remote.ErrOutputTooLarge}), "output too large"},
		{&remote.Error{Host: "a", Kind: remote.ErrTimeout}, "command timed out"},
		{errors.New("exit 1"), "command failed"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
