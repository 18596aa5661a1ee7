package platform

import "unsafe"

// outputText is a command's output as a string, read in place rather than
// copied: a gather's output is megabytes on a busy host, and converting it
// was a tenth of a 1,000-host lab plan's CPU. It is safe because nothing
// writes to a Result's bytes once Run has returned them (the transports
// hand over a buffer of their own), and what a driver keeps of the output
// is detached from it (Facts.Detach) before the planner holds on to facts.
func outputText(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
