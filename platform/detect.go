package platform

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupportedOS is returned by Detect for an OS fleettune has no driver
// family for.
var ErrUnsupportedOS = errors.New("unsupported OS")

// DetectCommand is what Detect runs on a host. -v is needed for AIX, whose
// uname -r prints only the minor release ("2") and uname -v the major ("7").
const DetectCommand = "uname -srv"

// DetectWindowsCommand is what Detect runs when uname fails: cmd.exe's
// built-in ver ("Microsoft Windows [Version 10.0.17763.1234]").
const DetectWindowsCommand = "ver"

// Detect asks the host what it runs (uname -s, -r, -v) and returns the OS
// family and release. When uname fails, as it does under cmd.exe ("'uname'
// is not recognized as an internal or external command, ...", exit 1; the
// message is localised, so any failure counts), Detect runs ver: Windows
// gives the release as MAJOR.MINOR.BUILD ("10.0.17763", "5.2.3790").
// Otherwise uname's failure is the error.
func Detect(ctx context.Context, r Runner) (os, release string, err error) {
	res, err := r.Run(ctx, DetectCommand)
	if err != nil {
		return "", "", fmt.Errorf("detect OS: %w", err)
	}
	if res.ExitCode != 0 {
		unameErr := fmt.Errorf("detect OS: %q exited %d: %s (set os: in the inventory to skip detection)",
			DetectCommand, res.ExitCode, firstLine(string(res.Stderr)+string(res.Stdout)))
		ver, verErr := r.Run(ctx, DetectWindowsCommand)
		if verErr != nil {
			return "", "", fmt.Errorf("%w; then %s: %w", unameErr, DetectWindowsCommand, verErr)
		}
		if ver.ExitCode == 0 {
			if rel, _, perr := ParseVer(string(ver.Stdout)); perr == nil {
				return Windows, rel, nil
			}
		}
		return "", "", unameErr
	}
	return ParseUname(string(res.Stdout))
}

// ParseUname maps the output of `uname -srv` (or `uname -sr`) to an OS
// family and release. On AIX the release is "VERSION.RELEASE", e.g. "7.2"
// from "AIX 2 7".
func ParseUname(out string) (os, release string, err error) {
	fields := strings.Fields(firstLine(out))
	if len(fields) == 0 {
		return "", "", fmt.Errorf("detect OS: %w: uname printed nothing", ErrUnsupportedOS)
	}
	if len(fields) > 1 {
		release = fields[1]
	}
	switch fields[0] {
	case "Linux":
		return Linux, release, nil
	case "SunOS":
		return Solaris, release, nil
	case "HP-UX":
		return HPUX, release, nil
	case "AIX":
		if len(fields) > 2 && isDigits(fields[1]) && isDigits(fields[2]) {
			release = fields[2] + "." + fields[1]
		}
		return AIX, release, nil
	case "OSF1":
		return Tru64, release, nil
	}
	return "", release, fmt.Errorf("%w: uname -s says %q", ErrUnsupportedOS, fields[0])
}

func firstLine(s string) string {
	s = strings.TrimLeft(s, "\r\n")
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
