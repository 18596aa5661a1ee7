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
		return detectWindows(ctx, r, fmt.Sprintf("%q", DetectCommand), res)
	}
	return ParseUname(string(res.Stdout))
}

// detectWindows runs ver after the detection command (what) failed with
// res.
func detectWindows(ctx context.Context, r Runner, what string, res Result) (os, release string, err error) {
	unameErr := fmt.Errorf("detect OS: %s exited %d: %s (set os: in the inventory to skip detection)",
		what, res.ExitCode, firstLine(string(res.Stderr)+string(res.Stdout)))
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

// DetectGather is Detect and, on a Linux host, the Linux driver's Gather
// for linuxNative, in one command: a Linux host costs one remote shell
// rather than two. The script reads /proc/sys/kernel/ostype with the
// shell's read (a string sysctl, which reads whole even one byte at a
// time); on Linux it prints what uname -srv would, from
// /proc/sys/kernel/{ostype,osrelease,version}, then the gather's sections;
// anywhere else it runs uname -srv, and where sh is not the shell (cmd.exe)
// it fails and ver follows, as in Detect. facts is nil when the host is not
// Linux, or is a Linux whose ostype could not be read (the caller then
// gathers as usual).
func DetectGather(ctx context.Context, r Runner, linuxNative []string) (os, release string, facts *Facts, err error) {
	knobs := linuxKnobs(linuxNative)
	res, err := r.Run(ctx, detectGatherScript(knobs))
	if err != nil {
		return "", "", nil, fmt.Errorf("detect OS: %w", err)
	}
	if res.ExitCode != 0 {
		os, release, err = detectWindows(ctx, r, "the detection script (uname -srv where sh runs it)", res)
		return os, release, nil, err
	}
	out := string(res.Stdout)
	if os, release, err = ParseUname(out); err != nil || os != Linux {
		return os, release, nil, err
	}
	if !strings.Contains(out, "\n"+sectionMarker) {
		return os, release, nil, nil // uname -srv ran: ostype was unreadable
	}
	if facts, err = parseLinuxOutput(res, knobs); err != nil {
		return os, release, nil, err
	}
	return os, release, facts, nil
}

// detectGatherScript is the command DetectGather runs. Only the Linux
// branch reads the gather's files; it is written for any POSIX sh, and the
// Bourne shells of Solaris 10 and Tru64 parse it too ([ -r ] is false
// there, so nothing but uname runs).
func detectGatherScript(knobs []string) string {
	return cachedScript("detect", knobs, func() string { return buildDetectGatherScript(knobs) })
}

func buildDetectGatherScript(knobs []string) string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	b.WriteString("if [ -r /proc/sys/kernel/ostype ] && IFS= read -r ft_s </proc/sys/kernel/ostype && [ \"$ft_s\" = Linux ]; then\n")
	b.WriteString("IFS= read -r ft_r </proc/sys/kernel/osrelease; IFS= read -r ft_v </proc/sys/kernel/version; printf '%s %s %s\\n' \"$ft_s\" \"$ft_r\" \"$ft_v\"\n")
	writeLinuxGather(&b, knobs)
	b.WriteString("else\n" + DetectCommand + "\nfi\n")
	return b.String()
}

// DetectGatherScript is the command DetectGather runs for the given Linux
// native knobs.
func DetectGatherScript(linuxNative []string) string {
	return detectGatherScript(linuxKnobs(linuxNative))
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
