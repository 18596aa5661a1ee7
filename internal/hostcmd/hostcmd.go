// Package hostcmd holds what the transports and the drivers share about
// one command run on a host: its Result, and POSIX shell quoting. It is a
// leaf, so that platform (the drivers) need not import remote (the
// transports) to speak of a command's result.
package hostcmd

import "strings"

// Result is what one remote command produced. A non-zero ExitCode is not a
// transport error: a runner returns it with a nil error.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// ShellQuote quotes s for a POSIX shell: in single quotes, each single
// quote inside closed, backslash-escaped and reopened.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
