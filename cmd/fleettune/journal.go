package main

import (
	"fmt"
	"time"

	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/playbooks"
)

// version is fleettune's own version, recorded in every run.
const version = "0.3.0-dev"

// journalSink writes the engine's records to a journal run.
type journalSink struct{ w *journal.Writer }

var _ playbooks.Journal = journalSink{}

func (j journalSink) Before(b playbooks.BeforeRecord) error {
	return j.w.Append(journal.BeforeRecord{Host: b.Host.Name, OS: b.OS, BootID: b.BootID, Conn: journal.Conn(*b.Host),
		Changes: b.Changes, Targets: b.Targets, Snapshot: b.Snapshot})
}

// Record stores the engine's command records as they are (one type,
// record.Command) and the results, in one durable write. A result keeps
// where the host ended up and, per host, what its batch's health check
// measured.
func (j journalSink) Record(cmds []playbooks.CommandRecord, results []playbooks.HostOutcome) error {
	recs := make([]journal.Record, 0, len(cmds)+len(results))
	for _, c := range cmds {
		recs = append(recs, c)
	}
	for _, r := range results {
		recs = append(recs, journal.ResultRecord{Host: r.Host, Status: r.Status, Error: r.Error, Batch: r.Batch,
			RebootRequired: r.RebootRequired, RebootReason: r.RebootReason, BootID: r.BootID, Health: r.Health})
	}
	return j.w.AppendAll(recs...)
}

func (j journalSink) Health(h playbooks.BatchOutcome) error {
	return j.w.Append(journal.HealthRecord{Batch: h.Number, Canary: h.Canary, Hosts: h.Hosts, Checked: h.Checked, Healthy: h.Healthy, Details: h.Details, Unchecked: h.Unchecked})
}

func parseWatch(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--watch %q: expected a Go duration such as 2m or 0s", s)
	}
	return d, nil
}
