package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errCancelled is the answer to anything but "yes", and to an interrupt at
// the prompt.
var errCancelled = errors.New("cancelled; nothing was changed")

// confirm asks on the terminal, as terraform apply does, and accepts only
// "yes". Without a terminal on stdin it refuses: a script must say --yes.
// An interrupt while it waits cancels at once.
func (g *globals) confirm(ctx context.Context, question string) error {
	if !g.stdinTTY {
		return errors.New("refusing to change hosts without confirmation: no terminal to ask on; pass --yes")
	}
	fmt.Fprintf(g.stderr, "\n%s\n  Only 'yes' will be accepted: ", question)
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		// Left blocked on a terminal nobody answers when an interrupt
		// cancels the prompt; the process ends soon after.
		line, err := bufio.NewReader(g.stdin).ReadString('\n')
		got <- answer{line, err}
	}()
	select {
	case <-g.stop:
		fmt.Fprintln(g.stderr)
		return errCancelled
	case <-ctx.Done():
		fmt.Fprintln(g.stderr)
		return errCancelled
	case a := <-got:
		if a.err != nil && !errors.Is(a.err, io.EOF) {
			return fmt.Errorf("reading the answer: %w", a.err)
		}
		if strings.TrimSpace(a.line) != "yes" {
			return errCancelled
		}
		return nil
	}
}
