package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// labHost is one host's part of a real apply journal: its before record,
// its three commands and its result, as `fleettune apply` wrote them for
// lnx-0141 of `fleettune lab --hosts 1000 --seed 1` (testdata/lab-host.jsonl,
// the lab's temporary paths renamed). A before record is about 3 KB, the
// commands with their result about 1 KB.
type labHost struct {
	before BeforeRecord
	rest   []Record // the commands, then the result: one AppendAll
}

func loadLabHost(tb testing.TB) labHost {
	tb.Helper()
	data, err := os.ReadFile("testdata/lab-host.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	var h labHost
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var typ struct{ Type string }
		if err := json.Unmarshal(line, &typ); err != nil {
			tb.Fatalf("testdata/lab-host.jsonl:%d: %v", i+1, err)
		}
		switch typ.Type {
		case TypeBefore:
			err = json.Unmarshal(line, &h.before)
		case TypeCommand:
			var c CommandRecord
			err = json.Unmarshal(line, &c)
			h.rest = append(h.rest, c)
		case TypeResult:
			var r ResultRecord
			err = json.Unmarshal(line, &r)
			if len(h.rest) > 0 {
				if _, ok := h.rest[len(h.rest)-1].(ResultRecord); ok {
					continue // the second result (after the health check) is a write of its own
				}
			}
			h.rest = append(h.rest, r)
		default:
			tb.Fatalf("testdata/lab-host.jsonl:%d: record type %q", i+1, typ.Type)
		}
		if err != nil {
			tb.Fatalf("testdata/lab-host.jsonl:%d: %v", i+1, err)
		}
	}
	if h.before.Host == "" || len(h.rest) != 4 {
		tb.Fatalf("testdata/lab-host.jsonl: want a before record, 3 commands and a result; got %+v", h)
	}
	return h
}

// as is the host's records under another host name.
func (h labHost) as(name string) (BeforeRecord, []Record) {
	b := h.before
	b.Host, b.Conn.Name = name, name
	rest := make([]Record, len(h.rest))
	for i, r := range h.rest {
		switch r := r.(type) {
		case CommandRecord:
			r.Host = name
			rest[i] = r
		case ResultRecord:
			r.Host = name
			rest[i] = r
		}
	}
	return b, rest
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGroupCommit journals hosts the way apply does with --forks N:
// N goroutines, each host a before record (one Append) and then its
// commands with their result (one AppendAll). One op is one host, two
// appends. It reports per append the wall time (ns/append, the run's time
// over its appends: with N forks, a fork waits N times that for each of
// its own), the fsyncs (fsyncs/append: 1 without group commit) and the
// process's CPU, fsync's system time included (cpu-ns/append).
func BenchmarkGroupCommit(b *testing.B) {
	h := loadLabHost(b)
	for _, forks := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("forks=%d", forks), func(b *testing.B) {
			s := newStore(b)
			w, err := s.Create(Header{ID: "20261201T221349Z-be0c", Kind: KindApply, Version: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			fa := w.a.(*fileAppender)
			syncs0 := fa.syncs.Load()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, t0 := processCPU(), time.Now()
			for range forks {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						before, rest := h.as(fmt.Sprintf("lnx-%06d", i))
						if err := w.Append(before); err != nil {
							b.Error(err)
							return
						}
						if err := w.AppendAll(rest...); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed, cpu := time.Since(t0), processCPU()-cpu0
			b.StopTimer()
			appends := float64(2 * b.N)
			b.ReportMetric(float64(fa.syncs.Load()-syncs0)/appends, "fsyncs/append")
			b.ReportMetric(float64(elapsed.Nanoseconds())/appends, "ns/append")
			b.ReportMetric(float64(cpu.Nanoseconds())/appends, "cpu-ns/append")
		})
	}
}
