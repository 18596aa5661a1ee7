package lab

import "fmt"

// newAIX is a placeholder until the AIX emulator lands.
func newAIX(h *Host, release string) error {
	return fmt.Errorf("lab: AIX is not emulated yet")
}
