package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
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
//
// It holds the output in pooled chunks and makes one buffer of the exact
// size when the output is handed over (Bytes): a big output (an exhausted
// host's socket table is megabytes) is allocated once, not grown by
// doubling, and io.Copy reads into a pooled buffer (ReadFrom) rather than a
// fresh one per stream. Half of what a 1,000-host lab plan allocated was
// that growth.
type capBuffer struct {
	stream   string // "stdout" or "stderr"
	max      int
	overflow *overflow

	mu     sync.Mutex
	chunks []*[]byte // full chunks, then the one being filled
	n      int       // bytes held
	over   bool
}

// outputChunk is the size of capBuffer's chunks and ReadFrom's reads (the
// SSH channel's packets are at most 32 KiB).
const outputChunk = 64 << 10

// chunkPool recycles output chunks across commands and hosts: nothing in
// them outlives the command (Bytes copies out, then returns them).
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, outputChunk); return &b }}

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
	if b.n+len(p) > b.max {
		b.over = true
		b.release() // nothing of an output past the limit is used
		b.overflow.trip(b.stream)
		return 0, errPastCap
	}
	b.n += len(p)
	for rest := p; len(rest) > 0; {
		if len(b.chunks) == 0 || len(*b.chunks[len(b.chunks)-1]) == outputChunk {
			c := chunkPool.Get().(*[]byte)
			*c = (*c)[:0]
			b.chunks = append(b.chunks, c)
		}
		c := b.chunks[len(b.chunks)-1]
		k := min(len(rest), outputChunk-len(*c))
		*c = append(*c, rest[:k]...)
		rest = rest[k:]
	}
	return len(p), nil
}

// ReadFrom reads r to its end into the buffer, through a pooled buffer:
// io.Copy uses it instead of allocating one of its own per stream.
func (b *capBuffer) ReadFrom(r io.Reader) (int64, error) {
	buf := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(buf)
	p := (*buf)[:outputChunk]
	var total int64
	for {
		n, err := r.Read(p)
		if n > 0 {
			if _, werr := b.Write(p[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// release gives the chunks back; b.mu is held.
func (b *capBuffer) release() {
	for _, c := range b.chunks {
		chunkPool.Put(c)
	}
	b.chunks, b.n = nil, 0
}

// Bytes hands over what the buffer holds (nil once over), in one buffer of
// its size, and leaves it empty: the output is read once, when its command
// is done; a Write after Bytes starts anew.
func (b *capBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return nil
	}
	out := make([]byte, 0, b.n)
	for _, c := range b.chunks {
		out = append(out, *c...)
	}
	b.release()
	return out
}
