package lab

import "fmt"

// newHPUX is a placeholder until the HP-UX emulator lands.
func newHPUX(h *Host, release string) error {
	return fmt.Errorf("lab: HP-UX is not emulated yet")
}
