package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleettune/fleettune/platform"
	"github.com/fleettune/fleettune/remote"
)

// DefaultMaxLines caps the socket table lines read per host; a host with
// more is audited on the first ones, and says so.
const DefaultMaxLines = 250_000

// DefaultMaxBytes is the most output a collector parses: far above what a
// 250,000-socket table prints, so only a broken host reaches it.
const DefaultMaxBytes = 64 << 20

// Snapshot is one read of one host: its configuration, its signals and its
// socket table grouped into pools.
type Snapshot struct {
	OS      string
	Version string
	Taken   time.Time

	Range    platform.PortRange
	Excluded []platform.PortRange // reserved (Linux) or excluded (Windows) ranges
	// T is the TIME_WAIT length, with where it came from; Ambiguous when
	// the sources disagree about the default in force.
	T         time.Duration
	TSource   string
	Ambiguous bool

	TwReuse      int // Linux net.ipv4.tcp_tw_reuse; -1 elsewhere or unknown
	Timestamps   int // Linux net.ipv4.tcp_timestamps; -1 elsewhere or unknown
	MaxTwBuckets int // Linux net.ipv4.tcp_max_tw_buckets; -1 elsewhere or unknown

	// Counters are the kernel counters read (Linux "TcpExt.TWRecycled",
	// "TcpExt.TCPTimeWaitOverflow"; "sockstat.tw").
	Counters map[string]int64
	// Events are the Windows Tcpip events 4227 and 4231 found.
	Events map[int]EventCount

	SocketSource string   // the command the socket table came from
	Notes        []string // what the reader had to do (fallbacks, caps)
	Truncated    bool     // the socket table had more rows than the cap

	Table *Table
}

// EventCount is how often a Windows event was found, and when last.
type EventCount struct {
	Count int    `json:"count"`
	Last  string `json:"last,omitempty"` // as the host printed it
}

// Limits bound what one host costs fleettune.
type Limits struct {
	MaxLines int // socket table lines per host; <= 0 means DefaultMaxLines
	MaxBytes int // output bytes per read; <= 0 means DefaultMaxBytes
}

func (l Limits) maxBytes() int {
	if l.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return l.MaxBytes
}

func (l Limits) maxLines() int {
	if l.MaxLines <= 0 {
		return DefaultMaxLines
	}
	return l.MaxLines
}

// sockSource is one section of socket rows and its line parser. parse
// returns ok false for a line that is not a socket row (a header, a blank)
// and an error for a line that should be one and cannot be read. listen,
// when set, is a word every listener row contains: the first pass skips
// the other lines without parsing them.
type sockSource struct {
	name   string
	body   string
	parse  func(line string) (s Socket, ok bool, err error)
	listen string
}

// buildTable reads every source twice, listeners first, with at most max
// lines in all; it reports whether lines were left unread.
func buildTable(model PoolModel, r platform.PortRange, t time.Duration, max int, srcs ...sockSource) (*Table, bool, error) {
	tab := newTable(model, rangeT{r.Low, r.High}, t)
	truncated := false
	for pass := 0; pass < 2; pass++ {
		lines := 0
	sources:
		for _, src := range srcs {
			n := 0
			for pos := 0; pos < len(src.body); {
				if lines == max {
					truncated = true
					break sources
				}
				line, next := nextLine(src.body, pos)
				pos = next
				n++
				lines++
				if pass == 0 && src.listen != "" && !strings.Contains(line, src.listen) {
					continue
				}
				s, ok, err := src.parse(line)
				if errors.Is(err, errStopTable) {
					break
				}
				if err != nil {
					return nil, false, fmt.Errorf("%s: line %d: %w", src.name, n, err)
				}
				if !ok {
					continue
				}
				if pass == 0 {
					tab.addListener(s)
				} else {
					tab.add(s)
				}
			}
		}
	}
	return tab, truncated, nil
}

// collector reads one OS family.
type collector struct {
	script string
	parse  func(out string, lim Limits) (*Snapshot, error)
}

func collectorFor(os string) (collector, error) {
	switch os {
	case platform.Linux:
		return collector{LinuxScript(), ParseLinux}, nil
	case platform.Windows:
		return collector{WindowsScript(), ParseWindows}, nil
	case platform.Solaris:
		return collector{SolarisScript(), ParseSolaris}, nil
	case platform.HPUX:
		return collector{HPUXScript(), ParseHPUX}, nil
	case platform.AIX:
		return collector{AIXScript(), ParseAIX}, nil
	case platform.Tru64:
		return collector{Tru64Script(), ParseTru64}, nil
	}
	return collector{}, fmt.Errorf("audit: unknown OS %q (expected one of %s)", os, strings.Join(platform.OSNames, ", "))
}

// Script is the one read-only command the audit runs on a host of the OS.
func Script(os string) (string, error) {
	c, err := collectorFor(os)
	return c.script, err
}

// Collect reads one snapshot of a host of the given OS family in one remote
// command.
func Collect(ctx context.Context, r platform.Runner, os string, lim Limits) (*Snapshot, error) {
	c, err := collectorFor(os)
	if err != nil {
		return nil, err
	}
	// A busy host's socket table is big by nature (about 100 bytes a
	// socket): the transport may read up to what the parsers accept.
	res, err := r.Run(remote.WithOutputLimit(ctx, lim.maxBytes()), c.script)
	if err != nil {
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	out := string(res.Stdout)
	if len(out) > lim.maxBytes() {
		return nil, fmt.Errorf("read socket table: the host printed %d bytes, more than the %d fleettune reads", len(out), lim.maxBytes())
	}
	if !strings.Contains(out, sectionMarker) {
		return nil, fmt.Errorf("read socket table: exit status %d: %s", res.ExitCode, quoteCut(firstLine(string(res.Stderr)+out), 200))
	}
	snap, err := c.parse(out, lim)
	if err != nil {
		return nil, err
	}
	snap.Taken = time.Now()
	snap.detach()
	return snap, nil
}

// detach copies every string the parsers sliced out of the host's output,
// so that the report kept for each host does not pin that whole output (a
// busy host's socket table is megabytes; 10,000 hosts of it ran a machine
// out of memory).
func (s *Snapshot) detach() {
	s.OS, s.Version, s.TSource, s.SocketSource = strings.Clone(s.OS), strings.Clone(s.Version), strings.Clone(s.TSource), strings.Clone(s.SocketSource)
	for i, n := range s.Notes {
		s.Notes[i] = strings.Clone(n)
	}
	if s.Counters != nil {
		c := make(map[string]int64, len(s.Counters))
		for k, v := range s.Counters {
			c[strings.Clone(k)] = v
		}
		s.Counters = c
	}
	for k, e := range s.Events {
		e.Last = strings.Clone(e.Last)
		s.Events[k] = e
	}
}

// requireEnd fails when the output was cut before the script's last marker.
func requireEnd(s map[string]string, what string) error {
	if _, ok := s[endSection]; !ok {
		return fmt.Errorf("%s: the output ends before the script's end marker (cut short?)", what)
	}
	return nil
}

// truncNote is the note of a capped table.
func truncNote(max int) string {
	return fmt.Sprintf("socket table cut at %d lines: the figures are lower bounds", max)
}
