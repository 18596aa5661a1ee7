package remote

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/ssh"
)

// countingConn is the server's end of a pipe, counting the reads that
// reach it.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// The library reads the version line a byte at a time: through
// versionConn that is one read of the conn, and every byte still arrives,
// in order, whatever the sizes of the reads that follow.
func TestVersionConnBuffersTheVersionLine(t *testing.T) {
	banner := "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
	payload := bytes.Repeat([]byte("0123456789abcdef"), 600) // past one buffer
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		// One write, as a server's banner and first packet may come in one
		// segment: the buffered read takes part of the payload too.
		_, _ = server.Write(append([]byte(banner), payload...))
	}()
	cc := &countingConn{Conn: client}
	vc := &versionConn{Conn: cc}
	var line []byte
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\n")) {
		if _, err := io.ReadFull(vc, b[:]); err != nil {
			t.Fatal(err)
		}
		line = append(line, b[0])
	}
	if string(line) != banner || cc.reads != 1 {
		t.Fatalf("version line %q in %d reads of the conn; want %q in 1", line, cc.reads, banner)
	}
	got, err := io.ReadAll(io.LimitReader(vc, int64(len(payload))))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("after the version line: %d bytes (%v), want the %d written", len(got), err, len(payload))
	}
	if vc.buf != nil || vc.rest != nil {
		t.Error("the buffer is kept after it was drained")
	}
}

// An error that comes with data is held until the data is handed out.
func TestVersionConnHoldsTheErrorBehindTheData(t *testing.T) {
	boom := errors.New("boom")
	vc := &versionConn{Conn: &onceConn{data: []byte("SSH-2.0-x\r\n"), err: boom}}
	var out []byte
	var b [1]byte
	var err error
	for err == nil {
		var n int
		n, err = vc.Read(b[:])
		out = append(out, b[:n]...)
	}
	if string(out) != "SSH-2.0-x\r\n" || !errors.Is(err, boom) {
		t.Fatalf("read %q then %v; want the whole line, then boom", out, err)
	}
}

// onceConn answers its first Read with data and err together.
type onceConn struct {
	net.Conn
	data []byte
	err  error
	done bool
}

func (c *onceConn) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	c.done = true
	return copy(p, c.data), c.err
}

// The library really does read the version line a byte at a time from
// the conn it is given: if a release stops doing so, versionConn is dead
// weight and can go.
func TestSSHLibraryReadsVersionBytewise(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		buf := make([]byte, 256)
		_, _ = server.Read(buf) // the client's version line
		_, _ = server.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
		_, _ = server.Read(buf) // its KEXINIT; then hang up
	}()
	cc := &countingConn{Conn: client}
	_, _, _, err := ssh.NewClientConn(cc, "x:22", &ssh.ClientConfig{HostKeyCallback: ssh.InsecureIgnoreHostKey()}) //nolint:gosec // no host is reached: a pipe
	if err == nil {
		t.Fatal("handshake with a server that hangs up succeeded")
	}
	if cc.reads < len("SSH-2.0-OpenSSH_9.6\r\n") {
		t.Errorf("the library read the version line in %d reads; versionConn assumes one per byte", cc.reads)
	}
}
