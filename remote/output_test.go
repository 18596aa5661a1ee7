package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleettune/fleettune/lab"
)

func TestCapBuffer(t *testing.T) {
	out, errs, over := newCapBuffers(10)
	for _, w := range []string{"abc", "defg", "hij"} {
		if n, err := out.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	held := out.Bytes()
	if got := string(held); got != "abcdefghij" || cap(held) > 10 {
		t.Fatalf("at the limit: %q (cap %d), want all 10 bytes in a buffer of 10", got, cap(held))
	}
	// What Bytes handed over is the caller's: a late Write does not touch it.
	if _, err := out.Write([]byte("zz")); err != nil || string(held) != "abcdefghij" || string(out.Bytes()) != "zz" {
		t.Fatalf("after Bytes, a Write gave %v and the handed-over bytes are %q", err, held)
	}
	if got := out.Bytes(); got == nil || len(got) != 0 {
		t.Fatalf("Bytes of an empty buffer = %#v, want empty, not nil", got)
	}
	if over.stream() != "" {
		t.Fatal("overflow tripped at the limit")
	}
	if n, err := errs.Write([]byte("12345678901")); n != 0 || !errors.Is(err, errPastCap) {
		t.Fatalf("Write past the limit = %d, %v", n, err)
	}
	select {
	case <-over.c:
	default:
		t.Fatal("overflow channel not closed")
	}
	if over.stream() != "stderr" || errs.Bytes() != nil {
		t.Errorf("overflow says %q, stderr holds %q; want stderr, nothing", over.stream(), errs.Bytes())
	}
	if _, err := errs.Write([]byte("x")); !errors.Is(err, errPastCap) {
		t.Errorf("Write after the limit: %v", err)
	}
	// The other stream tripping later does not change what passed first.
	out.Write([]byte("more"))
	err := over.err("web01", "cat big")
	wantKind(t, err, ErrOutputTooLarge, `"cat big"`, "stderr passed the limit of 10 bytes", "the rest was not read")
}

// floodServer answers "flood N" with N bytes on stdout, 32 KiB at a time,
// and counts what it managed to write.
func floodServer(t testing.TB) (*fixture, *atomic.Int64) {
	var written atomic.Int64
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	f := newFixture(t, serverConfig{handler: func(ctx context.Context, cmd string, stdout, stderr io.Writer) int {
		var n int
		if _, err := fmt.Sscanf(cmd, "flood %d", &n); err != nil {
			return defaultHandler(ctx, cmd, stdout, stderr)
		}
		for n > 0 {
			k, err := stdout.Write(chunk[:min(n, len(chunk))])
			written.Add(int64(k))
			if err != nil {
				return 141
			}
			n -= k
		}
		return 0
	}})
	return f, &written
}

// A host answering 50 MB costs the client about what 4 MiB costs: the
// output is not buffered past MaxOutput, and the host is not even read
// that far (its writes block once the channel's window is full).
func TestOutputCapHoldsNoMoreThanTheLimit(t *testing.T) {
	f, written := floodServer(t)
	s := f.mustDial(f.host())
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	const flood = 50 << 20
	res, err := s.Run(context.Background(), fmt.Sprintf("flood %d", flood))
	close(stop)
	wg.Wait()
	wantKind(t, err, ErrOutputTooLarge, "stdout passed the limit of 4 MiB")
	if res.Stdout != nil || res.Stderr != nil || res.ExitCode != -1 {
		t.Errorf("Result = %d bytes, %d bytes, exit %d; want nothing and exit -1", len(res.Stdout), len(res.Stderr), res.ExitCode)
	}
	// Read: the cap, plus at most the channel window (2 MiB) and a packet.
	if w := written.Load(); w > MaxOutput+4<<20 {
		t.Errorf("the host got %d bytes out before the client stopped reading; want at most %d", w, MaxOutput+4<<20)
	}
	// Held: the cap's buffer, the channel's window and the SSH packet
	// buffers of both ends (the server runs in this process too).
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use grew by at most %.1f MiB for a %d MiB answer; the host wrote %.1f MiB",
		float64(grew)/(1<<20), flood>>20, float64(written.Load())/(1<<20))
	if grew > 20<<20 {
		t.Errorf("heap in use grew by %d bytes for a 50 MB answer; want under 20 MiB (the cap is 4 MiB)", grew)
	}
	// The session goes on.
	if res, err := s.Run(context.Background(), "echo after"); err != nil || string(res.Stdout) != "after\n" {
		t.Errorf("Run after the cap = %q, %v", res.Stdout, err)
	}
	// Exactly the limit passes.
	res, err = s.Run(context.Background(), fmt.Sprintf("flood %d", MaxOutput))
	if err != nil || len(res.Stdout) != MaxOutput || strings.Trim(string(res.Stdout), "x") != "" {
		t.Errorf("flood of exactly MaxOutput = %d bytes, %v", len(res.Stdout), err)
	}
}

// BenchmarkRunOutput: bytes allocated per Run for answers below, at and
// far past the cap (the last is the 50 MB host of issue 14).
func BenchmarkRunOutput(b *testing.B) {
	for _, n := range []int{64 << 10, MaxOutput, 50 << 20} {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			f, _ := floodServer(b)
			s, err := Dial(context.Background(), f.host(), f.opts())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			cmd := fmt.Sprintf("flood %d", n)
			b.ReportAllocs()
			for b.Loop() {
				_, err := s.Run(context.Background(), cmd)
				if (err != nil) != (n > MaxOutput) {
					b.Fatalf("Run(%s): %v", cmd, err)
				}
			}
		})
	}
}

// A Run whose ctx has ended already sends nothing to the host: it does not
// start the command only to signal it.
func TestDoneContextRunsNothing(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("ssh", func(t *testing.T) {
		f := newFixture(t, serverConfig{})
		s := f.mustDial(f.host())
		for range 20 {
			_, err := s.Run(cancelled, "echo no")
			wantKind(t, err, ErrTimeout, "context canceled")
		}
		if cmds := f.srv.commands(); len(cmds) != 0 {
			t.Errorf("the host ran %q", cmds)
		}
	})
	t.Run("winrm", func(t *testing.T) {
		f := newWinFixture(t, lab.Options{})
		s := f.dial(t, f.host(t))
		for range 20 {
			_, err := s.Run(cancelled, "echo no")
			wantKind(t, err, ErrTimeout, "context canceled")
		}
		if st, _ := f.lab.WinRMStats(winName); st.Commands != 0 {
			t.Errorf("the host ran %d commands", st.Commands)
		}
	})
}

// WithOutputLimit raises the cap for one read that is big by nature (the
// audit's socket table), up to MaxOutputLimit, and the error names the
// limit that applied.
func TestWithOutputLimitRaisesTheCapForOneRead(t *testing.T) {
	f, _ := floodServer(t)
	s := f.mustDial(f.host())
	const raised = 8 << 20
	ctx := WithOutputLimit(context.Background(), raised)
	res, err := s.Run(ctx, fmt.Sprintf("flood %d", MaxOutput+1<<20))
	if err != nil || len(res.Stdout) != MaxOutput+1<<20 {
		t.Fatalf("5 MiB under an 8 MiB limit = %d bytes, %v", len(res.Stdout), err)
	}
	_, err = s.Run(ctx, fmt.Sprintf("flood %d", raised+1))
	if !errors.Is(err, ErrOutputTooLarge) || !strings.Contains(err.Error(), "8 MiB (remote.WithOutputLimit)") {
		t.Errorf("past the raised limit: %v", err)
	}
	// The next read without it has the default cap again.
	_, err = s.Run(context.Background(), fmt.Sprintf("flood %d", MaxOutput+1))
	if !errors.Is(err, ErrOutputTooLarge) || !strings.Contains(err.Error(), "4 MiB (remote.MaxOutput)") {
		t.Errorf("past the default limit: %v", err)
	}
	if got := outputLimit(WithOutputLimit(context.Background(), 1<<30)); got != MaxOutputLimit {
		t.Errorf("a limit of 1 GiB is clamped to %d, want MaxOutputLimit", got)
	}
}

// BenchmarkCapBufferCopy: an exhausted host's 2.5 MB socket table copied
// into a capBuffer as ssh.Session does (io.Copy, which uses ReadFrom) and
// handed over. Allocation per op is the one buffer of the output's size.
func BenchmarkCapBufferCopy(b *testing.B) {
	table := bytes.Repeat([]byte("10.20.0.31.1024      10.20.0.40.80        64128      0 128872      0 TIME_WAIT\n"), 32000)
	b.SetBytes(int64(len(table)))
	b.ReportAllocs()
	for b.Loop() {
		out, _, _ := newCapBuffers(MaxOutput)
		if _, err := io.Copy(out, iotest32k{bytes.NewReader(table)}); err != nil {
			b.Fatal(err)
		}
		if got := out.Bytes(); len(got) != len(table) {
			b.Fatalf("%d bytes, want %d", len(got), len(table))
		}
	}
}

// iotest32k reads at most 32 KiB at a time, as an SSH channel hands over
// its packets, and hides the reader's WriteTo.
type iotest32k struct{ r io.Reader }

func (r iotest32k) Read(p []byte) (int, error) { return r.r.Read(p[:min(len(p), 32<<10)]) }
