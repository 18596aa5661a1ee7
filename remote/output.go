package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// MaxOutput is the most a Session reads of one command's standard output,
// and again of its standard error: 4 MiB, far above anything fleettune's
// drivers read (a gather is a few KiB). A command that prints more fails
// with ErrOutputTooLarge, and what is past the limit is not read: the
// command is signalled and its channel (SSH) or its polling (WinRM)
// stopped, so a host that answers 50 MB costs no more memory than one that
// answers 4 MiB.
const MaxOutput = 4 << 20

// MaxOutputLimit is the most WithOutputLimit can raise the cap to.
const MaxOutputLimit = 64 << 20

type outputLimitKey struct{}

// WithOutputLimit returns ctx under which a Session reads up to n bytes of
// each stream of a command, instead of MaxOutput: for the few reads that are
// big by nature, such as the audit's socket table of a host with 100,000
// sockets. n is clamped to MaxOutputLimit; n <= 0 leaves MaxOutput.
func WithOutputLimit(ctx context.Context, n int) context.Context {
	if n <= 0 {
		return ctx
	}
	return context.WithValue(ctx, outputLimitKey{}, min(n, MaxOutputLimit))
}

// outputLimit is the cap a command run under ctx gets.
func outputLimit(ctx context.Context) int {
	if n, ok := ctx.Value(outputLimitKey{}).(int); ok {
		return n
	}
	return MaxOutput
}

// bytesText says n bytes as error messages do: "4 MiB", "64 MiB".
func bytesText(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// errPastCap is what a capBuffer's Write returns past its limit; the
// library that copies into it stops on it.
var errPastCap = errors.New("output past the limit")

// capBuffer keeps what a command wrote on one stream, up to max bytes.
// The first Write past max keeps nothing of it, marks the buffer over,
// closes the overflow channel it shares with the command's other stream,
// and fails (as does every later Write). It is safe for concurrent use.
type capBuffer struct {
	stream   string // "stdout" or "stderr"
	max      int
	overflow *overflow

	mu   sync.Mutex
	buf  []byte
	over bool
}

// overflow is closed when either stream of a command passes its limit.
type overflow struct {
	once sync.Once
	c    chan struct{}
	mu   sync.Mutex
	what string // the stream that passed first
	max  int    // the cap each stream had
}

func newOverflow(max int) *overflow { return &overflow{c: make(chan struct{}), max: max} }

func (o *overflow) trip(stream string) {
	o.once.Do(func() {
		o.mu.Lock()
		o.what = stream
		o.mu.Unlock()
		close(o.c)
	})
}

// stream is the stream that passed its limit, or "" when none did.
func (o *overflow) stream() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.what
}

// err is the error for a command that passed the limit on o.stream().
func (o *overflow) err(host, cmd string) error {
	name := "remote.MaxOutput"
	if o.max != MaxOutput {
		name = "remote.WithOutputLimit"
	}
	return &Error{Host: host, Kind: ErrOutputTooLarge, Err: fmt.Errorf("%s: %s passed the limit of %s (%s); the rest was not read",
		short(cmd), o.stream(), bytesText(o.max), name)}
}

// newCapBuffers are a command's stdout and stderr buffers, sharing one
// overflow.
func newCapBuffers(max int) (stdout, stderr *capBuffer, o *overflow) {
	o = newOverflow(max)
	return &capBuffer{stream: "stdout", max: max, overflow: o}, &capBuffer{stream: "stderr", max: max, overflow: o}, o
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return 0, errPastCap
	}
	need := len(b.buf) + len(p)
	if need > b.max {
		b.over = true
		b.buf = nil // nothing of an output past the limit is used
		b.overflow.trip(b.stream)
		return 0, errPastCap
	}
	if need > cap(b.buf) {
		// Grow as append does, but never past max: a buffer at the limit
		// holds max bytes, not twice that.
		grown := make([]byte, len(b.buf), min(max(need, 2*cap(b.buf), 512), b.max))
		copy(grown, b.buf)
		b.buf = grown
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Bytes hands over what the buffer holds (nil once over) and leaves it
// empty: the bytes are the caller's, not a copy (a command's output is
// read once, when it is done, and copying a big one cost as much as
// receiving it). A Write after Bytes goes to a new buffer, never into what
// was handed over.
func (b *capBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return nil
	}
	out := b.buf[:len(b.buf):len(b.buf)]
	if out == nil {
		out = []byte{}
	}
	b.buf = nil
	return out
}
