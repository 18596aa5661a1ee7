package lab

import "fmt"

// newWindows is a placeholder until the Windows emulator lands.
func newWindows(h *Host, release string) error {
	return fmt.Errorf("lab: Windows is not emulated yet")
}
