package lab

import "fmt"

// newSolaris is a placeholder until the Solaris emulator lands.
func newSolaris(h *Host, release string) error {
	return fmt.Errorf("lab: Solaris is not emulated yet")
}
