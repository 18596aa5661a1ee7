package lab

import "fmt"

// newTru64 is a placeholder until the Tru64 emulator lands.
func newTru64(h *Host, release string) error {
	return fmt.Errorf("lab: Tru64 is not emulated yet")
}
