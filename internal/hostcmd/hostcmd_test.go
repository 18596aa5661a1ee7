package hostcmd

import (
	"os/exec"
	"testing"
)

// A real sh reads every quoted string back exactly.
func TestShellQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "'", "a b\tc\nd", `$HOME \ "x" %s`, "''''"} {
		out, err := exec.Command("sh", "-c", "printf '%s' "+ShellQuote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("%q came back as %q", s, out)
		}
	}
}
