package platform

import (
	"fmt"
	"strconv"
	"strings"
)

// parseBSDNetstat reads the TCP rows of `netstat -an` in the BSD layout
// HP-UX, AIX and Tru64 share: protocol first (tcp, tcp4, tcp6), local
// address fourth as host.port ("*.22", "10.0.0.5.1025", "::1.30080"), the
// state last. It returns the ports with a LISTEN socket and the number of
// TIME_WAIT sockets, and stops at the UNIX domain table. A LISTEN row whose
// port cannot be read is an error: a guardrail must not miss a listener.
func parseBSDNetstat(out string) (listening []int, timeWait int, err error) {
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, "Active UNIX domain sockets") {
			break
		}
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "tcp") {
			continue
		}
		switch f[len(f)-1] {
		case "TIME_WAIT":
			timeWait++
		case "LISTEN":
			local := f[3]
			i := strings.LastIndexByte(local, '.')
			p, perr := strconv.Atoi(local[i+1:])
			if i < 0 || perr != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("netstat -an: unexpected local address %q in %q", local, strings.TrimSpace(line))
			}
			listening = append(listening, p)
		}
	}
	return uniqueSorted(listening), timeWait, nil
}
