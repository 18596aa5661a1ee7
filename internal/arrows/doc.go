// Package arrows holds the test that keeps fleettune's dependency arrows
// pointing the way docs/style.md draws them (Tailscale's tstest/deptest
// idea): platform knows neither remote nor inventory, nothing below cmd/
// imports cobra or pflag, and nothing below cmd/ touches the process's
// standard streams. It has no code of its own.
package arrows
