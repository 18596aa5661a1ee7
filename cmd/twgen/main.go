// Command twgen makes real TIME_WAIT sockets for the audit end-to-end test
// (e2e/audit_test.go):
// it listens on ADDR, opens N connections to it and closes each one from the
// client side first (so the client's ephemeral port goes to TIME_WAIT), keeps
// K more connections open (ESTABLISHED), prints "ready" and then waits for
// stdin to close. Run it inside a namespace host with ip netns exec; every
// connection stays on that namespace's loopback.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:5432", "address to listen on and connect to (loopback)")
	n := flag.Int("close", 100, "connections the client closes first")
	keep := flag.Int("keep", 0, "connections kept open")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "twgen:", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Read until the client closes, then close: the client closed
			// first, so the TIME_WAIT is on its side.
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	for i := 0; i < *n; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, "twgen: dial:", err)
			os.Exit(1)
		}
		c.Close()
	}
	var open []net.Conn
	for i := 0; i < *keep; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, "twgen: dial:", err)
			os.Exit(1)
		}
		open = append(open, c)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	for _, c := range open {
		c.Close()
	}
	ln.Close()
}
