package lab

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// listenLoopbackAll listens on every loopback address at once: 0.0.0.0:port
// bound to the loopback device (SO_BINDTODEVICE lo), so one socket accepts
// connections to all of 127.0.0.0/8 and nothing arriving from a network
// reaches it. Accepted connections whose local address is not loopback
// (the machine's own address, also routed through lo) are closed by the
// caller.
func listenLoopbackAll(port int) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, "lo")
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("bind to the loopback device (SO_BINDTODEVICE lo, needs root or CAP_NET_RAW): %w", serr)
		}
		return nil
	}}
	return lc.Listen(context.Background(), "tcp4", fmt.Sprintf("0.0.0.0:%d", port))
}

// deadPort holds a TCP port that nothing listens on: bound on every
// address, never listening, so a connection to it on any loopback address
// is refused by the kernel (RST) and no other process can take the port.
// It returns the port and a function that releases it.
func deadPort() (int, func(), error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("lab: refusing port: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{}); err != nil {
		syscall.Close(fd)
		return 0, nil, fmt.Errorf("lab: refusing port: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return 0, nil, fmt.Errorf("lab: refusing port: %w", err)
	}
	return sa.(*syscall.SockaddrInet4).Port, func() { syscall.Close(fd) }, nil
}
